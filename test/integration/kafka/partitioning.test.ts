import { expect } from 'chai';
import { murmur2, partitionForKey, toPositive } from '../../../core/src/sinks/kafka/murmur2.js';
import type { KafkaSink } from '../../../core/src/sinks/kafka.js';
import { ensureKafka, randomTopic, waitForMessages, type KafkaEnv } from '../../support/kafka.js';
import { readingV1, readings, spec, testSink, STATIONS } from './fixtures.js';

// murmur2 itself is checked against Kafka's Java test vectors in core/test/sinks/kafka/murmur2.test.ts.

describe('Kafka key partitioning: murmur2 as in the Java client (real broker)', function () {
  let kafka: KafkaEnv;
  let sink: KafkaSink | undefined;

  before(async function () {
    kafka = await ensureKafka(this);
  });

  after(async () => {
    await sink?.close().catch(() => undefined);
  });

  it('puts each keyed record on toPositive(murmur2(key)) % partitions, and keys with null on some partition', async function () {
    this.timeout(60_000);
    const topic = randomTopic('partitioning');
    const PARTITIONS = 6;
    sink = testSink({ wireFormat: 'single-object', topics: { [topic]: { partitions: PARTITIONS } } }).sink;
    await sink.start([spec(topic, readingV1)]);
    const keyed = readings(topic, 48);
    const unkeyed = readings(topic, 6).map((e, i) => ({ ...e, key: null, headers: { ...e.headers, 'x-index': `null-${i}` } }));
    await sink.write([...keyed, ...unkeyed]);
    await sink.close();
    const got = await waitForMessages(topic, keyed.length + unkeyed.length);
    const expected = new Map(STATIONS.map((s) => [s, toPositive(murmur2(Buffer.from(s))) % PARTITIONS]));
    // the stations hash to more than one partition, so this checks something
    expect(new Set(expected.values()).size).to.be.greaterThan(2);
    for (const m of got) {
      if (m.key === null) continue;
      expect(m.partition, `key ${m.key.toString()}`).to.equal(expected.get(m.key.toString()));
      expect(m.partition).to.equal(partitionForKey(m.key, PARTITIONS));
    }
    const nullKeyed = got.filter((m) => m.key === null);
    expect(nullKeyed).to.have.length(6);
    for (const m of nullKeyed) expect(m.partition).to.be.within(0, PARTITIONS - 1);
    expect(kafka.brokers.length).to.be.greaterThan(0);
  });
});
