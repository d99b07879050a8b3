import { expect } from 'chai';
import { consume, type ConsumedRecord } from '../../../core/src/source/consume.js';
import { fingerprint64 } from '../../../core/src/serde/avro.js';
import { fingerprintKey } from '../../../core/src/kafka/schemaTopic.js';
import { DEFAULT_SCHEMA_TOPIC } from '../../../core/src/kafka/topics.js';
import type { KafkaSink } from '../../../core/src/sinks/kafka.js';
import { collect, committedOffsets, ensureKafka, randomGroup, randomTopic, requireRegistry, waitForMessages, withAdmin, type KafkaEnv } from '../../support/kafka.js';
import { counterValue, readingV1, readings, spec, testSink } from './fixtures.js';

type Reading = { station: string; seq: number; pm25: number | null; at: number; counter: number | bigint };

function checkRoundTrip(sent: ReturnType<typeof readings>, got: ConsumedRecord<unknown>[]): void {
  expect(got).to.have.length(sent.length);
  // every record once, with its key, value and headers
  const byIndex = new Map(got.map((r) => [r.headers['x-index'], r]));
  expect(byIndex.size).to.equal(sent.length);
  for (const e of sent) {
    const r = byIndex.get(e.headers['x-index']!);
    expect(r, `record ${e.headers['x-index']}`).to.not.equal(undefined);
    expect(r!.key).to.equal(e.key);
    expect(r!.timestamp).to.equal(e.timestamp);
    expect(r!.headers).to.deep.equal(e.headers);
    const v = r!.value as Reading;
    const want = e.value as Reading;
    expect(v.station).to.equal(want.station);
    expect(v.seq).to.equal(want.seq);
    expect(v.pm25).to.equal(want.pm25);
    expect(v.at).to.equal(want.at);
    expect(BigInt(v.counter)).to.equal(want.counter); // beyond 2^53: decoded as bigint, exactly
  }
  // per-key order: the sequence numbers of each key arrive in order
  const lastSeq = new Map<string, number>();
  for (const r of got) {
    const v = r.value as Reading;
    expect(v.seq, `order of key ${r.key}`).to.equal((lastSeq.get(r.key!) ?? 0) + 1);
    lastSeq.set(r.key!, v.seq);
  }
}

describe('Kafka sink → topic → consume (real broker)', function () {
  let kafka: KafkaEnv;
  let sink: KafkaSink | undefined;

  before(async function () {
    kafka = await ensureKafka(this);
  });

  afterEach(async () => {
    await sink?.close().catch(() => undefined);
    sink = undefined;
  });

  it('round-trips records in registry mode (Confluent framing): counts, keys, per-key order, headers, values', async function () {
    this.timeout(60_000);
    const registryUrl = requireRegistry(this, kafka);
    const topic = randomTopic('roundtrip-registry');
    const built = testSink({ schemaRegistry: { url: registryUrl, compatibility: 'BACKWARD' }, topics: { [topic]: { partitions: 3 } } });
    sink = built.sink;
    await sink.start([spec(topic, readingV1)]);
    const sent = readings(topic, 240);
    // several writes in flight at once, as well as one after the other
    await Promise.all([sink.write(sent.slice(0, 60)), sink.write(sent.slice(60, 130)), sink.write(sent.slice(130, 200))]);
    await sink.write(sent.slice(200));
    await sink.close();
    expect(await counterValue(built.metrics, 'tributary_kafka_records_sent_total', { topic })).to.equal(240);
    expect(await counterValue(built.metrics, 'tributary_kafka_send_errors_total', { topic })).to.equal(0);
    expect(await withAdmin((a) => a.partitions(topic))).to.equal(3);

    const got = await collect(
      (onClose) => consume({ brokers: kafka.brokers, topic, groupId: randomGroup(), from: 'earliest', registryUrl, onClose }),
      sent.length,
    );
    checkRoundTrip(sent, got);
    expect(new Set(got.map((r) => r.format))).to.deep.equal(new Set(['confluent']));
    expect(got[0]!.schemaId).to.be.a('number');
    // the raw bytes carry the Confluent header: magic 0 + the 4-byte id
    const [raw] = await waitForMessages(topic, 1);
    expect(raw!.value![0]).to.equal(0);
    expect(raw!.value!.readUInt32BE(1)).to.equal(got[0]!.schemaId);
  });

  it('round-trips records in single-object mode, resolving the writer schema from the compacted schema topic', async function () {
    this.timeout(60_000);
    const topic = randomTopic('roundtrip-single');
    const built = testSink({ wireFormat: 'single-object', topics: { [topic]: { partitions: 2 } } });
    sink = built.sink;
    await sink.start([spec(topic, readingV1)]);
    const sent = readings(topic, 120);
    await sink.write(sent.slice(0, 50));
    await sink.write(sent.slice(50));
    await sink.close();

    // a reader process that knows no schema: everything comes from the schema topic
    const got = await collect(
      (onClose) => consume({ brokers: kafka.brokers, topic, groupId: randomGroup(), from: 'earliest', onClose }),
      sent.length,
    );
    checkRoundTrip(sent, got);
    const fp = fingerprintKey(fingerprint64(readingV1));
    expect(new Set(got.map((r) => r.format))).to.deep.equal(new Set(['single-object']));
    expect(new Set(got.map((r) => r.fingerprint))).to.deep.equal(new Set([fp]));

    // the schema topic holds the full writer schema under its fingerprint
    const schemaRecords = await waitForMessages(DEFAULT_SCHEMA_TOPIC, 1);
    const mine = schemaRecords.filter((m) => m.key?.toString() === fp);
    expect(mine.length).to.be.greaterThan(0);
    expect(JSON.parse(mine[0]!.value!.toString('utf8'))).to.deep.equal(readingV1);
  });

  it('round-trips through the librdkafka client (client: confluent) as well', async function () {
    this.timeout(60_000);
    const { confluentAvailability } = await import('../../../core/src/kafka/confluent.js');
    const availability = confluentAvailability();
    if (!availability.available) {
      process.stderr.write(`[kafka-tests] client: confluent is pending: ${availability.reason}\n`);
      this.skip();
    }
    const topic = randomTopic('roundtrip-confluent');
    const built = testSink({ client: 'confluent', wireFormat: 'single-object', topics: { [topic]: { partitions: 3 } } });
    sink = built.sink;
    await sink.start([spec(topic, readingV1)]);
    const sent = readings(topic, 90);
    await Promise.all([sink.write(sent.slice(0, 45)), sink.write(sent.slice(45))]);
    await sink.close();
    expect(await counterValue(built.metrics, 'tributary_kafka_records_sent_total', { topic })).to.equal(90);
    const got = await collect((onClose) => consume({ brokers: kafka.brokers, topic, groupId: randomGroup(), from: 'earliest', onClose }), sent.length);
    checkRoundTrip(sent, got);
  });

  it('commits only what was delivered: a second consumer of the same group continues where take(n) stopped', async function () {
    this.timeout(90_000);
    const topic = randomTopic('commit');
    const built = testSink({ wireFormat: 'single-object' });
    sink = built.sink;
    await sink.start([spec(topic, readingV1)]);
    const sent = readings(topic, 30);
    await sink.write(sent);
    await sink.close();
    const groupId = randomGroup('commit');
    const first = await collect((onClose) => consume({ brokers: kafka.brokers, topic, groupId, from: 'earliest', onClose }), 12);
    expect(await committedOffsets(groupId, topic)).to.deep.equal(new Map([[0, 12]]));
    // a new member of the group joins once the first has left; allow for a slow rebalance on a busy machine
    const second = await collect((onClose) => consume({ brokers: kafka.brokers, topic, groupId, from: 'earliest', onClose }), 18, 45_000);
    const indexes = [...first, ...second].map((r) => Number(r.headers['x-index']));
    expect(indexes).to.deep.equal(sent.map((_, i) => i));
  });

  it('waits for an async handler before committing, and errors the Observable when the handler fails', async function () {
    this.timeout(60_000);
    const topic = randomTopic('handler');
    const built = testSink({ wireFormat: 'single-object' });
    sink = built.sink;
    await sink.start([spec(topic, readingV1)]);
    await sink.write(readings(topic, 10));
    await sink.close();
    const groupId = randomGroup('handler');
    const handled: number[] = [];
    const failing = collect(
      (onClose) =>
        consume({
          brokers: kafka.brokers,
          topic,
          groupId,
          from: 'earliest',
          onClose,
          handle: async (r) => {
            await new Promise((res) => setTimeout(res, 5));
            const i = Number(r.headers['x-index']);
            if (i === 4) throw new Error('downstream database is down');
            handled.push(i);
          },
        }),
      10,
    );
    const err = await failing.then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).to.equal('downstream database is down');
    expect(handled).to.deep.equal([0, 1, 2, 3]);
    // records 0..3 were handled and committed; 4 was not: the group resumes at 4
    expect(await committedOffsets(groupId, topic)).to.deep.equal(new Map([[0, 4]]));
  });
});
