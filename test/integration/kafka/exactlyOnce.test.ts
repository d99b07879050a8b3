import { expect } from 'chai';
import { from, throwError, concat } from 'rxjs';
import { PipelineRunner } from '../../../core/src/pipeline/runtime/runner.js';
import { silentLogger } from '../../../core/src/observability/logger.js';
import type { CycleInfo } from '../../../core/src/plugin/types.js';
import { pipeline, reading, source, testPlugin } from '../../../core/test/runtime/helpers.js';
import type { KafkaSink } from '../../../core/src/sinks/kafka.js';
import { KafkaCheckpointStore } from '../../../core/src/state/kafka.js';
import type { CheckpointStore } from '../../../core/src/state/types.js';
import { ensureKafka, randomTopic, testTransport, waitForMessages } from '../../support/kafka.js';
import { confluentAvailability } from '../../../core/src/kafka/confluent.js';
import { readingV1, readings, spec, testSink } from './fixtures.js';

/**
 * Exactly-once on every Kafka transport: kafkajs always, confluent (librdkafka) when
 * `@confluentinc/kafka-javascript` loads; with `TRIBUTARY_EXPECT_CONFLUENT=1` a missing package
 * fails the run instead of leaving the confluent cases out. Readers (the oracle) are kafkajs.
 */
const clients: Array<'kafkajs' | 'confluent'> = ['kafkajs'];
const confluent = confluentAvailability();
if (confluent.available) clients.push('confluent');
else if (process.env.TRIBUTARY_EXPECT_CONFLUENT === '1') {
  describe('exactly-once: confluent', () => {
    it('loads @confluentinc/kafka-javascript (TRIBUTARY_EXPECT_CONFLUENT=1)', () => {
      expect.fail(confluent.reason);
    });
  });
} else {
  console.warn(`[exactly-once] confluent transport not tested: ${confluent.reason}`);
}

for (const client of clients) exactlyOnceSuite(client);

function exactlyOnceSuite(client: 'kafkajs' | 'confluent'): void {
  describe(`exactly-once (${client}): records of a cycle and their cursor in one Kafka transaction (real broker)`, function () {
    this.timeout(90_000);
    const sinks: KafkaSink[] = [];
    const stores: CheckpointStore[] = [];

    before(async function () {
      await ensureKafka(this);
    });

    afterEach(async () => {
      await Promise.allSettled(stores.splice(0).map((s) => s.close?.()));
      await Promise.allSettled(sinks.splice(0).map((s) => s.close()));
    });

    async function eosSink(topic: string, offsetsTopic: string): Promise<{ sink: KafkaSink; store: CheckpointStore }> {
      const { sink } = testSink({ client, exactlyOnce: true, offsetsTopic, wireFormat: 'single-object' });
      sinks.push(sink);
      await sink.start([spec(topic, readingV1)]);
      const store = sink.checkpointStore(`eos-${topic}`);
      stores.push(store);
      return { sink, store };
    }

    async function cursorAfterRestart(offsetsTopic: string, topic: string): Promise<Record<string, unknown>> {
      const reader = new KafkaCheckpointStore({ transport: testTransport('tributary-eos-reader'), pipeline: `eos-${topic}`, topic: offsetsTopic });
      try {
        return await reader.load('air');
      } finally {
        await reader.close();
      }
    }

    it('a committed cycle: its records and its cursor are both visible to read_committed readers', async () => {
      const topic = randomTopic('eos');
      const offsets = randomTopic('eos-offsets');
      const { sink, store } = await eosSink(topic, offsets);
      expect(store.name).to.equal('kafka-transactional');
      await store.load('air');
      await sink.write(readings(topic, 30));
      await store.commit('air', { set: { cursor: 30 }, delete: [] });
      const records = await waitForMessages(topic, 30, { settleMs: 500 });
      expect(records).to.have.length(30);
      expect(await cursorAfterRestart(offsets, topic)).to.deep.equal({ cursor: 30 });
    });

    it('an aborted cycle leaves neither its records nor its cursor; the next committed cycle is all that is visible', async () => {
      const topic = randomTopic('eos');
      const offsets = randomTopic('eos-offsets');
      const { sink, store } = await eosSink(topic, offsets);
      await store.load('air');
      await sink.write(readings(topic, 20));
      await sink.abortCycle('air');
      // The aborted records occupy offsets, but read_committed readers never see them.
      await sink.write(readings(topic, 3, () => ({ station: 'AFTER' })).map((e) => ({ ...e, key: 'AFTER' })));
      await sink.commitCycle('air');
      const records = await waitForMessages(topic, 3, { settleMs: 1000 });
      expect(records).to.have.length(3);
      expect(records.every((m) => m.key?.toString() === 'AFTER')).to.equal(true);
      const uncommitted = await waitForMessages(topic, 23, { isolationLevel: 'read_uncommitted' });
      expect(uncommitted).to.have.length(23);
      expect(await cursorAfterRestart(offsets, topic)).to.deep.equal({});
    });

    it('a second runner with the same transactional id fences the first: its commit fails clearly, the topic holds each record once', async () => {
      const topic = randomTopic('eos');
      const offsets = randomTopic('eos-offsets');
      const first = await eosSink(topic, offsets);
      const second = await eosSink(topic, offsets);
      await first.store.load('air');
      await second.store.load('air');
      const batch = readings(topic, 25);
      await first.sink.write(batch); // the first runner's cycle is open...
      await second.sink.write(batch); // ...when the second one starts the same source (same pipeline, same source)
      await second.store.commit('air', { set: { cursor: 25 }, delete: [] });
      let failure: unknown;
      try {
        await first.store.commit('air', { set: { cursor: 25 }, delete: [] });
      } catch (err) {
        failure = err;
      }
      expect(failure, 'the fenced runner must not commit').to.be.instanceOf(Error);
      expect((failure as { code?: string }).code).to.equal('ERR_PRODUCER_FENCED');
      expect((failure as Error).message).to.match(/transactional id "eos-.*\.air" was fenced: another runner/);
      const records = await waitForMessages(topic, 25, { settleMs: 1500 });
      expect(records).to.have.length(25);
      expect(new Set(records.map((m) => m.headers['x-index']?.toString())).size).to.equal(25);
      expect(await cursorAfterRestart(offsets, topic)).to.deep.equal({ cursor: 25 });
    });

    it('a pipeline run: each backfill chunk commits its records with its cursor; a failed chunk leaves nothing, and the restart writes it once', async () => {
      const topic = randomTopic('eos-run');
      const offsets = randomTopic('eos-offsets');
      const DAY = 86_400_000;
      let failChunk2 = true;
      const plugin = testPlugin(() => ({
        collect: (info: CycleInfo) => {
          const day = Math.round(info.window!.start / DAY);
          const records = from([reading(`D${day}-a`, day), reading(`D${day}-b`, day)]);
          // chunk 2 emits its records, then fails: its transaction must be aborted
          return day === 2 && failChunk2 ? concat(records, throwError(() => new Error('API broke'))) : records;
        },
      }));
      const run = async (): Promise<void> => {
        const { sink } = testSink({ client, exactlyOnce: true, offsetsTopic: offsets, wireFormat: 'single-object' });
        const runner = new PipelineRunner({
          pipeline: pipeline([source('air', { schedule: { kind: 'backfill', from: 0, to: 4 * DAY, chunkMs: DAY, concurrency: 2 }, streams: { readings: { topic } } })], { name: `eos-${topic}` }),
          plugins: { air: { plugin } },
          sink,
          logger: silentLogger(),
          once: true,
          metrics: false,
        });
        await runner.run();
      };
      await run();
      const firstRun = await waitForMessages(topic, 6, { settleMs: 1000 });
      expect(firstRun.map((m) => m.key?.toString()).sort()).to.deep.equal(['D0-a', 'D0-b', 'D1-a', 'D1-b', 'D3-a', 'D3-b']);
      // chunk 2's records did reach the log, in the aborted transaction
      const raw = await waitForMessages(topic, 7, { isolationLevel: 'read_uncommitted' });
      expect(raw.some((m) => m.key?.toString().startsWith('D2-'))).to.equal(true);
      const cursor = (await cursorAfterRestart(offsets, topic))['@tributary/backfill'] as { done: string[] };
      expect(cursor.done).to.have.length(3);
      failChunk2 = false;
      await run();
      const all = await waitForMessages(topic, 8, { settleMs: 1500 });
      expect(all.map((m) => m.key?.toString()).sort()).to.deep.equal(['D0-a', 'D0-b', 'D1-a', 'D1-b', 'D2-a', 'D2-b', 'D3-a', 'D3-b']);
      expect(((await cursorAfterRestart(offsets, topic))['@tributary/backfill'] as { done: string[] }).done).to.have.length(4);
    });

    it('without exactlyOnce the sink has no transactions to commit', async () => {
      const topic = randomTopic('eos');
      const { sink } = testSink({ client });
      sinks.push(sink);
      await sink.start([spec(topic, readingV1)]);
      expect(sink.exactlyOnce).to.equal(false);
      expect(() => sink.commitCycle('air')).to.throw(/exactlyOnce: true/);
      expect(sink.checkpointStore('p').name).to.equal('kafka');
    });
  });
}
