import { expect } from 'chai';
import { isSchemaCompatibilityError } from '../../../core/src/errors/SchemaCompatibilityError.js';
import { consume } from '../../../core/src/source/consume.js';
import type { KafkaSink } from '../../../core/src/sinks/kafka.js';
import { collect, ensureKafka, randomGroup, randomTopic, requireRegistry, topicSize, withAdmin, type KafkaEnv } from '../../support/kafka.js';
import { readingV1, readingV2, readingV3Breaking, readings, spec, testSink } from './fixtures.js';

type V2 = { station: string; seq: number; unit?: string };

describe('Kafka sink schemas: evolution and compatibility (real broker and registry)', function () {
  let kafka: KafkaEnv;
  const sinks: KafkaSink[] = [];

  before(async function () {
    kafka = await ensureKafka(this);
  });

  afterEach(async () => {
    await Promise.all(sinks.splice(0).map((s) => s.close().catch(() => undefined)));
  });

  for (const mode of ['registry', 'single-object'] as const) {
    it(`${mode} mode: v1 and v2 (a field added with a default) are both read by an old and a new reader`, async function () {
      this.timeout(60_000);
      const registryUrl = mode === 'registry' ? requireRegistry(this, kafka) : undefined;
      const topic = randomTopic(`evolution-${mode}`);
      const settings = registryUrl ? { schemaRegistry: { url: registryUrl, compatibility: 'BACKWARD' } } : { wireFormat: 'single-object' as const };

      const v1 = testSink(settings).sink;
      sinks.push(v1);
      await v1.start([spec(topic, readingV1)]);
      await v1.write(readings(topic, 4));
      await v1.close();

      const v2 = testSink(settings).sink;
      sinks.push(v2);
      await v2.start([spec(topic, readingV2)]);
      await v2.write(readings(topic, 4, (i) => ({ unit: `unit-${i}` })).map((e, i) => ({ ...e, headers: { ...e.headers, 'x-index': String(4 + i) } })));
      await v2.close();

      const read = (readerSchema: typeof readingV1 | typeof readingV2) =>
        collect(
          (onClose) =>
            consume({
              brokers: kafka.brokers,
              topic,
              groupId: randomGroup(),
              from: 'earliest',
              readerSchema,
              ...(registryUrl ? { registryUrl } : {}),
              onClose,
            }),
          8,
        );
      const [oldReader, newReader] = await Promise.all([read(readingV1), read(readingV2)]);
      // the old reader sees v1's fields only, for every record
      expect(oldReader.map((r) => Object.keys(r.value as object).sort())).to.deep.equal(Array(8).fill(['at', 'counter', 'pm25', 'seq', 'station']));
      // the new reader gets the default for v1 records and the written unit for v2 records
      expect(newReader.map((r) => (r.value as V2).unit)).to.deep.equal(['ug/m3', 'ug/m3', 'ug/m3', 'ug/m3', 'unit-0', 'unit-1', 'unit-2', 'unit-3']);
      expect(newReader.map((r) => (r.value as V2).station)).to.deep.equal(oldReader.map((r) => (r.value as V2).station));
      // two writer schemas were used
      const writers = new Set(newReader.map((r) => r.schemaId ?? r.fingerprint));
      expect(writers.size).to.equal(2);
    });
  }

  it('rejects an incompatible schema (a required field added) at start(), naming the field, before anything is sent', async function () {
    this.timeout(60_000);
    const registryUrl = requireRegistry(this, kafka);
    const topic = randomTopic('incompatible');
    const settings = { schemaRegistry: { url: registryUrl, compatibility: 'BACKWARD' } };
    const v1 = testSink(settings).sink;
    sinks.push(v1);
    await v1.start([spec(topic, readingV1)]);
    await v1.write(readings(topic, 3));
    await v1.close();
    const before = await topicSize(topic);
    expect(before).to.equal(3);

    const other = randomTopic('incompatible-new'); // announced too: must not be created
    const broken = testSink(settings).sink;
    sinks.push(broken);
    const err = await broken.start([spec(other, readingV1), spec(topic, readingV3Breaking)]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isSchemaCompatibilityError(err), String(err)).to.equal(true);
    const message = (err as Error).message;
    expect(message).to.contain(`${topic}-value`);
    expect(message).to.contain('operator');
    expect(message).to.match(/BACKWARD/);
    // nothing was written and nothing was created
    expect(await topicSize(topic)).to.equal(before);
    expect(await withAdmin((a) => a.partitions(other))).to.equal(undefined);
    let writeError: unknown;
    await broken.write(readings(topic, 1)).catch((e: unknown) => (writeError = e));
    expect((writeError as { code?: string }).code).to.equal('ERR_SINK_STATE');
  });
});
