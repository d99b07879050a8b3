import { expect } from 'chai';
import kafkajs from 'kafkajs';
import { KafkaCheckpointStore } from '../../../core/src/state/kafka.js';
import { ensureKafka, kafkaEnv, randomTopic, testTransport, waitForMessages, withAdmin } from '../../support/kafka.js';

describe('KafkaCheckpointStore: source checkpoints in a compacted topic (real broker)', function () {
  this.timeout(60_000);
  const stores: KafkaCheckpointStore[] = [];

  before(async function () {
    await ensureKafka(this);
  });

  afterEach(async () => {
    await Promise.allSettled(stores.splice(0).map((s) => s.close()));
  });

  function store(topic: string, pipeline = 'energy'): KafkaCheckpointStore {
    const s = new KafkaCheckpointStore({ transport: testTransport('tributary-offsets-it'), pipeline, topic });
    stores.push(s);
    return s;
  }

  it('creates the topic compacted, writes <pipeline>/<source> as JSON, and a new instance reads the latest value back', async () => {
    const topic = randomTopic('offsets');
    const first = store(topic);
    expect(await first.load('entsoe')).to.deep.equal({});
    await first.commit('entsoe', { set: { lastSeen: 1, page: 'a' }, delete: [] });
    await first.commit('entsoe', { set: { lastSeen: 2 }, delete: ['page'] });
    await first.commit('eia', { set: { backfill: { done: ['0-1'] } }, delete: [] });
    await first.close();

    const second = store(topic);
    expect(await second.load('entsoe')).to.deep.equal({ lastSeen: 2 });
    expect(await second.load('eia')).to.deep.equal({ backfill: { done: ['0-1'] } });
    // Another pipeline on the same topic sees none of them.
    expect(await store(topic, 'other').load('entsoe')).to.deep.equal({});

    expect(await withAdmin(async (admin) => admin.partitions(topic))).to.equal(1);
    expect(await cleanupPolicy(topic)).to.equal('compact');
    const messages = await waitForMessages(topic, 3);
    const data = messages.filter((m) => m.key?.toString() === 'energy/entsoe');
    expect(data).to.have.length(2);
    const last = JSON.parse(data[1]!.value!.toString()) as { version: number; pipeline: string; source: string; values: unknown };
    expect(last).to.include({ version: 1, pipeline: 'energy', source: 'entsoe' });
    expect(last.values).to.deep.equal({ lastSeen: 2 });
  });

  it('refresh() takes what another instance wrote since, for the sources asked only; refreshes asked together share one read', async () => {
    const topic = randomTopic('offsets');
    const reader = store(topic);
    const writer = store(topic);
    await writer.commit('air', { set: { n: 1 }, delete: [] });
    await writer.commit('water', { set: { n: 1 }, delete: [] });
    expect(await reader.load('air')).to.deep.equal({ n: 1 });
    await writer.commit('air', { set: { n: 2 }, delete: [] });
    await writer.commit('water', { set: { n: 2 }, delete: [] });
    await writer.commit('soil', { set: { n: 2 }, delete: [] });
    expect(await reader.load('air'), 'before refresh: the value read at start').to.deep.equal({ n: 1 });
    await Promise.all([reader.refresh(['air']), reader.refresh(['soil'])]);
    expect(await reader.load('air')).to.deep.equal({ n: 2 });
    expect(await reader.load('soil')).to.deep.equal({ n: 2 });
    expect(await reader.load('water'), 'a source not asked for keeps its value').to.deep.equal({ n: 1 });
    // each read writes one sync marker per partition: the initial load and one shared refresh
    const markers = (await waitForMessages(topic, 8)).filter((m) => m.key?.toString().startsWith('@sync/'));
    expect(markers, "the writer's load, the reader's load, one shared refresh").to.have.length(3);
    await writer.commit('air', { set: {}, delete: ['n'] });
    await reader.refresh(['air']);
    expect(await reader.load('air'), 'a deleted checkpoint').to.deep.equal({});
  });

  it('deletes a checkpoint with a tombstone: a new instance finds nothing', async () => {
    const topic = randomTopic('offsets');
    const first = store(topic);
    await first.commit('air', { set: { cursor: 'x' }, delete: [] });
    await first.commit('air', { set: {}, delete: ['cursor'] });
    expect(await first.load('air')).to.deep.equal({});
    await first.close();
    const messages = await waitForMessages(topic, 2);
    const air = messages.filter((m) => m.key?.toString() === 'energy/air');
    expect(air.map((m) => m.value === null)).to.deep.equal([false, true]);
    expect(await store(topic).load('air')).to.deep.equal({});
  });

  it('reads past an aborted transaction and its markers, and sees a committed one', async () => {
    const topic = randomTopic('offsets');
    const setup = store(topic);
    await setup.commit('air', { set: { n: 1 }, delete: [] });
    const producer = testTransport('tributary-offsets-tx').producer({ transactionalId: `offsets-it-${topic}` });
    await producer.connect();
    try {
      const { message } = await setup.message('air', { set: { n: 2 }, delete: [] });
      const aborted = await producer.transaction();
      await aborted.send([message]);
      await aborted.abort();
      expect(await store(topic).load('air')).to.deep.equal({ n: 1 });
      const { message: m3 } = await setup.message('air', { set: { n: 3 }, delete: [] });
      const committed = await producer.transaction();
      await committed.send([m3]);
      await committed.commit();
    } finally {
      await producer.disconnect();
    }
    expect(await store(topic).load('air')).to.deep.equal({ n: 3 });
  });

  it('rejects a missing pipeline name', () => {
    expect(() => new KafkaCheckpointStore({ transport: testTransport(), pipeline: '' })).to.throw(/pipeline/);
  });
});

async function cleanupPolicy(topic: string): Promise<string | undefined> {
  const admin = new kafkajs.Kafka({ brokers: kafkaEnv().brokers, clientId: 'tributary-tests-configs', logLevel: kafkajs.logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const { resources } = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: topic, configNames: ['cleanup.policy'] }] });
    return resources[0]?.configEntries.find((e) => e.configName === 'cleanup.policy')?.configValue;
  } finally {
    await admin.disconnect();
  }
}
