/**
 * One contract for every Kafka transport, run against a real broker: the kafkajs adapter always,
 * the confluent (librdkafka) adapter when `@confluentinc/kafka-javascript` loads. With
 * `TRIBUTARY_EXPECT_CONFLUENT=1` a missing package fails the run instead of leaving it out.
 *
 * The broker comes from the shared fixture test/support/kafka.ts (`KAFKA_BROKERS`, a running
 * `npm run kafka:start` stack, or one it starts and stops).
 * A plain kafkajs client serves as the independent oracle for topic configs and committed offsets.
 */
import { expect } from 'chai';
import kafkajs from 'kafkajs';
import { createKafkajsTransport } from '../../../core/src/kafka/kafkajs.js';
import { confluentAvailability, createConfluentTransport } from '../../../core/src/kafka/confluent.js';
import type { IncomingMessage, KafkaAdmin, KafkaTransport, OutgoingMessage } from '../../../core/src/kafka/transport.js';
import { ensureKafka, randomGroup, randomTopic } from '../../support/kafka.js';
import { collectInto, javaPartition, murmur2, MURMUR2_VECTORS, sleep, waitFor, waitForCount } from './helpers.js';

type TransportFactory = (brokers: string[]) => KafkaTransport;

const factories: [string, TransportFactory][] = [['kafkajs', (brokers) => createKafkajsTransport({ brokers, clientId: 'contract-kafkajs', logLevel: 'nothing' })]];

const confluent = confluentAvailability();
if (confluent.available) {
  factories.push(['confluent', (brokers) => createConfluentTransport({ brokers, clientId: 'contract-confluent', logLevel: 'nothing' })]);
} else if (process.env.TRIBUTARY_EXPECT_CONFLUENT === '1') {
  describe('transport contract: confluent', () => {
    it('loads @confluentinc/kafka-javascript (TRIBUTARY_EXPECT_CONFLUENT=1)', () => {
      expect.fail(confluent.reason);
    });
  });
} else {
  console.warn(`[transport contract] confluent adapter not tested: ${confluent.reason}`);
}

const keyOf = (m: IncomingMessage): string => m.key?.toString() ?? '<null>';
const valueOf = (m: IncomingMessage): string => m.value?.toString() ?? '<null>';
const msg = (topic: string, key: string | null, value: string | null, extra: Partial<OutgoingMessage> = {}): OutgoingMessage => ({
  topic,
  key: key === null ? null : Buffer.from(key),
  value: value === null ? null : Buffer.from(value),
  ...extra,
});

describe('transport contract (real broker)', function () {
  this.timeout(60_000);
  let brokers: string[] = [];

  /** Runs `fn` with a fresh plain kafkajs admin (the oracle), disconnected afterwards. */
  async function oracle<T>(fn: (admin: kafkajs.Admin) => Promise<T>): Promise<T> {
    const admin = new kafkajs.Kafka({ brokers, clientId: 'contract-oracle', logLevel: kafkajs.logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      return await fn(admin);
    } finally {
      await admin.disconnect();
    }
  }

  // The shared fixture: KAFKA_BROKERS, a running stack, or one it starts (and stops after all files).
  before(async function () {
    brokers = (await ensureKafka(this)).brokers;
  });

  it('the reference murmur2 matches the vectors of Kafka UtilsTest.testMurmur2', () => {
    for (const [key, hash] of MURMUR2_VECTORS) expect(murmur2(Buffer.from(key)), key).to.equal(hash);
  });

  for (const [name, factory] of factories) transportContract(name, factory);

  if (factories.length > 1) {
    it('every adapter puts the same key on the same partition', async () => {
      const admin = factories[0]![1](brokers).admin();
      await admin.connect();
      const topic = randomTopic('contract-cross');
      await admin.ensureTopics([{ topic, partitions: 5, replicationFactor: 1 }]);
      const keys = Array.from({ length: 30 }, (_, i) => `cross-key-${i}`);
      const placements: Record<string, number>[] = [];
      for (const [, factory] of factories) {
        const producer = factory(brokers).producer();
        await producer.connect();
        const placed: Record<string, number> = {};
        for (const key of keys) placed[key] = (await producer.send([msg(topic, key, 'v')]))[0]!.partition;
        await producer.disconnect();
        placements.push(placed);
      }
      await admin.deleteTopics([topic]);
      await admin.disconnect();
      for (const placed of placements.slice(1)) expect(placed).to.deep.equal(placements[0]);
      // Not all on one partition, or the comparison would prove little.
      expect(new Set(Object.values(placements[0]!)).size).to.be.greaterThan(2);
    });
  }

  /** The contract every transport must meet. */
  function transportContract(name: string, factory: TransportFactory): void {
    describe(`transport: ${name}`, () => {
      let transport: KafkaTransport;
      let admin: KafkaAdmin;
      const topics: string[] = [];

      before(async () => {
        transport = factory(brokers);
        expect(transport.name).to.equal(name);
        admin = transport.admin();
        await admin.connect();
      });

      after(async () => {
        const existing = new Set(await admin.listTopics());
        const mine = topics.filter((t) => existing.has(t));
        if (mine.length > 0) await admin.deleteTopics(mine);
        await admin.disconnect();
      });

      async function topic(partitions: number, config?: Record<string, string>): Promise<string> {
        const t = randomTopic(`contract-${name}`);
        topics.push(t);
        expect(await admin.ensureTopics([{ topic: t, partitions, replicationFactor: 1, ...(config ? { config } : {}) }])).to.deep.equal([t]);
        return t;
      }

      it('admin: ensureTopics creates only the missing topics, with their partitions and configs', async () => {
        const compacted = randomTopic(`contract-${name}-compact`);
        const plain = randomTopic(`contract-${name}-plain`);
        const later = randomTopic(`contract-${name}-later`);
        topics.push(compacted, plain, later);
        expect(await admin.partitions(compacted)).to.equal(undefined);

        const created = await admin.ensureTopics([
          { topic: compacted, partitions: 3, replicationFactor: 1, config: { 'cleanup.policy': 'compact', 'min.compaction.lag.ms': '1000' } },
          { topic: plain, partitions: 2, replicationFactor: 1 },
        ]);
        expect(created.sort()).to.deep.equal([compacted, plain].sort());
        const again = await admin.ensureTopics([
          { topic: compacted, partitions: 3, replicationFactor: 1 },
          { topic: plain, partitions: 2, replicationFactor: 1 },
          { topic: later, partitions: 4, replicationFactor: 1 },
        ]);
        expect(again).to.deep.equal([later]);

        // The broker has auto-creation off and creates 1 partition by default: these came from ensureTopics.
        expect(await admin.partitions(compacted)).to.equal(3);
        expect(await admin.partitions(plain)).to.equal(2);
        expect(await admin.partitions(later)).to.equal(4);
        expect(await admin.listTopics()).to.include.members([compacted, plain, later]);
        const described = await oracle((o) => o.describeConfigs({ includeSynonyms: false, resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: compacted }] }));
        const entries = Object.fromEntries(described.resources[0]!.configEntries.map((e) => [e.configName, e.configValue]));
        expect(entries['cleanup.policy']).to.equal('compact');
        expect(entries['min.compaction.lag.ms']).to.equal('1000');
        // Every partition has a leader once ensureTopics resolves.
        const meta = await oracle((o) => o.fetchTopicMetadata({ topics: [compacted, plain, later] }));
        for (const t of meta.topics) for (const p of t.partitions) expect(p.leader, `${t.name}/${p.partitionId}`).to.be.at.least(0);

        await admin.deleteTopics([later]);
        await waitFor('deleted topic to disappear', async () => ((await admin.listTopics()).includes(later) ? undefined : true));
        expect(await admin.partitions(later)).to.equal(undefined);
      });

      it('producer: send resolves with the partitions and base offsets acknowledged (acks=all)', async () => {
        const t = await topic(3);
        const producer = transport.producer();
        await producer.connect();
        try {
          const first = await producer.send([msg(t, null, 'a', { partition: 1 }), msg(t, null, 'b', { partition: 1 }), msg(t, null, 'c', { partition: 2 })]);
          expect(sortAcks(first)).to.deep.equal([
            { topic: t, partition: 1, offset: '0' },
            { topic: t, partition: 2, offset: '0' },
          ]);
          const second = await producer.send([msg(t, null, 'd', { partition: 1 }), msg(t, null, 'e', { partition: 1 })]);
          expect(second).to.deep.equal([{ topic: t, partition: 1, offset: '2' }]);
          expect(await producer.send([])).to.deep.equal([]);
          await producer.flush();
          expect(sortAcks(await admin.endOffsets(t))).to.deep.equal([
            { partition: 0, offset: '0' },
            { partition: 1, offset: '4' },
            { partition: 2, offset: '1' },
          ]);
        } finally {
          await producer.disconnect();
        }
      });

      it("producer: keyed records land on the Java client's murmur2 partition", async () => {
        const partitions = 7;
        const t = await topic(partitions);
        const keys = [...MURMUR2_VECTORS.map(([k]) => k), ...Array.from({ length: 20 }, (_, i) => `station-${i}`)];
        const producer = transport.producer();
        await producer.connect();
        try {
          for (const key of keys) {
            const [ack] = await producer.send([msg(t, key, `value of ${key}`)]);
            expect(ack!.partition, key).to.equal(javaPartition(Buffer.from(key), partitions));
          }
          // The same in one batch, checked on the consumed side.
          await producer.send(keys.map((key) => msg(t, key, 'batched')));
        } finally {
          await producer.disconnect();
        }
        const consumer = transport.consumer({ groupId: randomGroup('g-murmur'), from: 'earliest' });
        const received = await collectInto(consumer, [t]);
        try {
          await waitForCount(received, keys.length * 2);
          for (const m of received) expect(m.partition, keyOf(m)).to.equal(javaPartition(m.key!, partitions));
          expect(new Set(received.map((m) => m.partition)).size).to.be.greaterThan(3);
        } finally {
          await consumer.disconnect();
        }
      });

      it('headers, timestamps, null keys and null values round-trip', async () => {
        const t = await topic(1);
        const producer = transport.producer();
        await producer.connect();
        const ts = 1_600_000_000_123;
        const binary = Buffer.from([0, 1, 2, 255]);
        const before = Date.now();
        try {
          await producer.send([
            msg(t, 'k1', 'v1', { headers: { 'trace-id': 'abc-123', bin: binary }, timestamp: ts }),
            msg(t, 'tombstone', null, { timestamp: ts + 1 }),
            msg(t, null, 'no key'),
          ]);
        } finally {
          await producer.disconnect();
        }
        const consumer = transport.consumer({ groupId: randomGroup('g-headers'), from: 'earliest' });
        const received = await collectInto(consumer, [t]);
        try {
          await waitForCount(received, 3);
        } finally {
          await consumer.disconnect();
        }
        const [a, b, c] = received.sort((x, y) => Number(x.offset) - Number(y.offset));
        expect(keyOf(a!)).to.equal('k1');
        expect(valueOf(a!)).to.equal('v1');
        expect(a!.timestamp).to.equal(ts);
        expect(a!.headers['trace-id']).to.deep.equal(Buffer.from('abc-123'));
        expect(a!.headers['bin']).to.deep.equal(binary);
        expect(b!.value).to.equal(null);
        expect(b!.timestamp).to.equal(ts + 1);
        expect(c!.key).to.equal(null);
        expect(valueOf(c!)).to.equal('no key');
        // Without an explicit timestamp the record carries the time it was produced.
        expect(c!.timestamp).to.be.within(before - 1_000, Date.now() + 1_000);
        expect(c!.headers).to.deep.equal({});
      });

      it('producer: gzip-compressed batches are written and read back intact', async () => {
        const t = await topic(2);
        const producer = transport.producer({ compression: 'gzip' });
        await producer.connect();
        const values = Array.from({ length: 200 }, (_, i) => `reading ${i} `.repeat(20));
        try {
          await producer.send(values.map((v, i) => msg(t, `k${i % 10}`, v)));
        } finally {
          await producer.disconnect();
        }
        const consumer = transport.consumer({ groupId: randomGroup('g-gzip'), from: 'earliest' });
        const received = await collectInto(consumer, [t]);
        try {
          await waitForCount(received, values.length);
        } finally {
          await consumer.disconnect();
        }
        expect(received.map(valueOf).sort()).to.deep.equal([...values].sort());
      });

      it('consumer group: reads from earliest, commits, and a new member resumes after the committed offset', async () => {
        const t = await topic(1);
        const group = randomGroup('g-resume');
        const producer = transport.producer();
        await producer.connect();
        try {
          await producer.send(Array.from({ length: 10 }, (_, i) => msg(t, `k${i}`, `first-${i}`)));
          const first = transport.consumer({ groupId: group, from: 'earliest' });
          const got1 = await collectInto(first, [t]);
          try {
            await waitForCount(got1, 10);
            // Offsets are committed after the handler resolves; the oracle reads them from the broker.
            await waitFor('committed offset 10', async () => ((await committed(group, t))[0] === '10' ? true : undefined));
          } finally {
            await first.disconnect();
          }
          expect(got1.map(valueOf)).to.deep.equal(Array.from({ length: 10 }, (_, i) => `first-${i}`));

          await producer.send(Array.from({ length: 5 }, (_, i) => msg(t, `k${i}`, `second-${i}`)));
          const second = transport.consumer({ groupId: group, from: 'earliest' });
          const got2 = await collectInto(second, [t]);
          try {
            await waitForCount(got2, 5);
            await sleep(500);
          } finally {
            await second.disconnect();
          }
          expect(got2.map(valueOf)).to.deep.equal(Array.from({ length: 5 }, (_, i) => `second-${i}`));
          expect(got2[0]!.offset).to.equal('10');
        } finally {
          await producer.disconnect();
        }
      });

      it("consumer: 'latest' skips what was there before the group started; explicit commit() moves the group", async () => {
        const t = await topic(1);
        const producer = transport.producer();
        await producer.connect();
        const group = randomGroup('g-latest');
        try {
          await producer.send([msg(t, 'old', 'old')]);
          const consumer = transport.consumer({ groupId: group, from: 'latest' });
          const got = await collectInto(consumer, [t]);
          try {
            // Produce until the consumer, which starts at the end, sees something (its assignment takes a moment).
            await waitFor('a message produced after the consumer started', async () => {
              await producer.send([msg(t, 'new', 'new')]);
              await sleep(300);
              return got.length > 0 ? true : undefined;
            });
            expect(got.map(valueOf)).to.not.include('old');
            await consumer.commit([{ topic: t, partition: 0, offset: '100' }]);
            expect((await committed(group, t))[0]).to.equal('100');
          } finally {
            await consumer.disconnect();
          }
        } finally {
          await producer.disconnect();
        }
      });

      it('consumer: pause stops delivery of a topic, resume continues where it stopped', async () => {
        const t = await topic(2);
        const producer = transport.producer();
        await producer.connect();
        const consumer = transport.consumer({ groupId: randomGroup('g-pause'), from: 'earliest' });
        try {
          await producer.send([msg(t, null, 'before-0', { partition: 0 }), msg(t, null, 'before-1', { partition: 1 })]);
          const got = await collectInto(consumer, [t]);
          await waitForCount(got, 2);
          consumer.pause([{ topic: t }]);
          await sleep(300);
          await producer.send([msg(t, null, 'paused-0', { partition: 0 }), msg(t, null, 'paused-1', { partition: 1 })]);
          await sleep(2_500);
          expect(got.map(valueOf).sort()).to.deep.equal(['before-0', 'before-1']);
          consumer.resume([{ topic: t }]);
          await waitForCount(got, 4);
          expect(got.map(valueOf).slice(2).sort()).to.deep.equal(['paused-0', 'paused-1']);
        } finally {
          await consumer.disconnect();
          await producer.disconnect();
        }
      });

      it('consumer: seek re-reads a partition from the given offset', async () => {
        const t = await topic(1);
        const producer = transport.producer();
        await producer.connect();
        const consumer = transport.consumer({ groupId: randomGroup('g-seek'), from: 'earliest' });
        try {
          await producer.send([0, 1, 2, 3, 4].map((i) => msg(t, null, `v${i}`)));
          const got = await collectInto(consumer, [t]);
          await waitForCount(got, 5);
          consumer.seek(t, 0, '2');
          await waitForCount(got, 8);
          await sleep(500);
          expect(got.map(valueOf)).to.deep.equal(['v0', 'v1', 'v2', 'v3', 'v4', 'v2', 'v3', 'v4']);
          expect(got.slice(5).map((m) => m.offset)).to.deep.equal(['2', '3', '4']);
        } finally {
          await consumer.disconnect();
          await producer.disconnect();
        }
      });

      it('transactions: a commit is visible to read_committed consumers, an abort is not', async () => {
        const t = await topic(2);
        const producer = transport.producer({ transactionalId: randomGroup(`tx-${name}`) });
        await producer.connect();
        try {
          const tx1 = await producer.transaction();
          await tx1.send([msg(t, 'a', 'committed-1'), msg(t, 'b', 'committed-2')]);
          await tx1.commit();
          const tx2 = await producer.transaction();
          await tx2.send([msg(t, 'a', 'aborted-1'), msg(t, 'b', 'aborted-2')]);
          await tx2.abort();
          const tx3 = await producer.transaction();
          await tx3.send([msg(t, 'a', 'committed-3'), msg(t, 'b', 'committed-4')]);
          await tx3.commit();
        } finally {
          await producer.disconnect();
        }
        const committedReader = transport.consumer({ groupId: randomGroup('g-rc'), from: 'earliest', isolationLevel: 'read_committed' });
        const uncommittedReader = transport.consumer({ groupId: randomGroup('g-ru'), from: 'earliest', isolationLevel: 'read_uncommitted' });
        const rc = await collectInto(committedReader, [t]);
        const ru = await collectInto(uncommittedReader, [t]);
        try {
          await waitForCount(rc, 4);
          await waitForCount(ru, 6);
          await sleep(1_000);
        } finally {
          await committedReader.disconnect();
          await uncommittedReader.disconnect();
        }
        expect(rc.map(valueOf).sort()).to.deep.equal(['committed-1', 'committed-2', 'committed-3', 'committed-4']);
        expect(ru.map(valueOf).sort()).to.deep.equal(['aborted-1', 'aborted-2', 'committed-1', 'committed-2', 'committed-3', 'committed-4']);
      });

      it("transactions: sendOffsets commits a group's offsets with the transaction", async () => {
        const source = await topic(1);
        const sink = await topic(1);
        const group = randomGroup('g-txoffsets');
        const producer = transport.producer({ transactionalId: randomGroup(`tx-offsets-${name}`) });
        await producer.connect();
        try {
          await producer.transaction().then(async (tx) => {
            await tx.send([0, 1, 2, 3].map((i) => msg(source, null, `src-${i}`)));
            await tx.commit();
          });
          const tx = await producer.transaction();
          expect(tx.sendOffsets).to.be.a('function');
          await tx.send([msg(sink, null, 'derived from src-0 and src-1')]);
          await tx.sendOffsets!(group, [{ topic: source, partition: 0, offset: '2' }]);
          await tx.commit();
        } finally {
          await producer.disconnect();
        }
        expect((await committed(group, source))[0]).to.equal('2');
        const consumer = transport.consumer({ groupId: group, from: 'earliest' });
        const got = await collectInto(consumer, [source]);
        try {
          await waitForCount(got, 2);
          await sleep(500);
        } finally {
          await consumer.disconnect();
        }
        expect(got.map(valueOf)).to.deep.equal(['src-2', 'src-3']);
      });

      it('disconnect: a disconnected producer rejects sends, and disconnecting twice is harmless', async () => {
        const t = await topic(1);
        const producer = transport.producer();
        await producer.connect();
        await producer.send([msg(t, null, 'x')]);
        await producer.disconnect();
        let error: unknown;
        try {
          await producer.send([msg(t, null, 'after disconnect')]);
        } catch (err) {
          error = err;
        }
        expect(error).to.be.instanceOf(Error);
        await producer.disconnect();
        expect(await admin.endOffsets(t)).to.deep.equal([{ partition: 0, offset: '1' }]);
      });
    });
  }

  /** Committed offsets of a group for each partition of a topic, read by the oracle. */
  async function committed(group: string, topic: string): Promise<string[]> {
    const res = await oracle((o) => o.fetchOffsets({ groupId: group, topics: [topic] }));
    return res[0]!.partitions.sort((a, b) => a.partition - b.partition).map((p) => p.offset);
  }
});

function sortAcks<T extends { partition: number }>(acks: T[]): T[] {
  return [...acks].sort((a, b) => a.partition - b.partition);
}
