import { expect } from 'chai';
import { isConfigError } from '../../src/errors/ConfigError.js';
import { deadLetterTopic, ensureTopics, isValidTopicName, planTopics } from '../../src/kafka/topics.js';
import { MemoryKafka } from '../../../test/support/memoryKafka.js';

const NO_LIMIT = '9223372036854775807';

describe('Kafka topic planning', () => {
  it('lets data topics take event times in the future (Kafka 4 rejects more than 1 h by default), unless the pipeline says otherwise', () => {
    const [data, dlq] = planTopics({ topics: ['forecast'] });
    expect(data!.config).to.deep.equal({ 'message.timestamp.after.max.ms': NO_LIMIT });
    expect(dlq!.config).to.deep.equal({});
    const [own] = planTopics({ topics: ['f'], settings: { f: { config: { 'message.timestamp.after.max.ms': '86400000' } } } });
    expect(own!.config).to.deep.equal({ 'message.timestamp.after.max.ms': '86400000' });
  });

  it('plans data topics, their dead-letter topics and the compacted schema topic with defaults and overrides', () => {
    const plan = planTopics({
      topics: ['a', 'b', 'a'],
      settings: { a: { partitions: 6, replicationFactor: 3, config: { 'retention.ms': '86400000' } }, 'b.dead': { partitions: 2 } },
      deadLetterSuffix: '.dead',
      schemaTopic: '_schemas',
    });
    expect(plan).to.deep.equal([
      { topic: 'a', partitions: 6, replicationFactor: 3, config: { 'message.timestamp.after.max.ms': NO_LIMIT, 'retention.ms': '86400000' } },
      { topic: 'a.dead', partitions: 1, replicationFactor: 3, config: {} },
      { topic: 'b', partitions: 1, replicationFactor: 1, config: { 'message.timestamp.after.max.ms': NO_LIMIT } },
      { topic: 'b.dead', partitions: 2, replicationFactor: 1, config: {} },
      { topic: '_schemas', partitions: 1, replicationFactor: 3, config: { 'cleanup.policy': 'compact' } },
    ]);
  });

  it('keeps the schema topic compacted even when its settings say otherwise', () => {
    const [, , schemas] = planTopics({ topics: ['a'], settings: { _s: { config: { 'cleanup.policy': 'delete', 'min.compaction.lag.ms': '0' } } }, schemaTopic: '_s' });
    expect(schemas!.config).to.deep.equal({ 'cleanup.policy': 'compact', 'min.compaction.lag.ms': '0' });
  });

  it('names every bad topic and setting in one ConfigError', () => {
    let err: unknown;
    try {
      planTopics({ topics: ['ok', 'bad topic'], settings: { ok: { partitions: 0 } } });
    } catch (e) {
      err = e;
    }
    expect(isConfigError(err)).to.equal(true);
    expect((err as Error).message).to.contain('sink.topics.bad topic').and.contain('sink.topics.ok.partitions');
  });

  it('validates names and builds dead-letter names', () => {
    expect(isValidTopicName('energy.prices_v2-x')).to.equal(true);
    expect(isValidTopicName('..')).to.equal(false);
    expect(isValidTopicName('a'.repeat(250))).to.equal(false);
    expect(deadLetterTopic('p')).to.equal('p.dlq');
  });

  it('ensureTopics creates only what is missing and reports partition counts and mismatches', async () => {
    const kafka = new MemoryKafka();
    kafka.createTopic('old', 2);
    const admin = kafka.admin();
    await admin.connect();
    const result = await ensureTopics(admin, planTopics({ topics: ['old', 'new'], settings: { old: { partitions: 4 }, new: { partitions: 3 } } }));
    expect(result.created).to.deep.equal(['old.dlq', 'new', 'new.dlq']);
    expect([...result.partitions]).to.deep.equal([['old', 2], ['old.dlq', 1], ['new', 3], ['new.dlq', 1]]);
    expect(result.mismatched).to.deep.equal([{ topic: 'old', planned: 4, actual: 2 }]);
    await admin.disconnect();
  });
});
