import { expect } from 'chai';
import type { DeadLetter } from '../../../core/src/pipeline/types.js';
import type { KafkaSink } from '../../../core/src/sinks/kafka.js';
import { ensureKafka, randomTopic, waitForMessages, withAdmin, type KafkaEnv } from '../../support/kafka.js';
import { readingV1, spec, testSink } from './fixtures.js';

describe('Kafka sink dead letters (real broker)', function () {
  let kafka: KafkaEnv;
  let sink: KafkaSink | undefined;

  before(async function () {
    kafka = await ensureKafka(this);
  });

  afterEach(async () => {
    await sink?.close().catch(() => undefined);
    sink = undefined;
  });

  it('sends dead letters as JSON to <topic>.dlq with source, code, field and reason headers', async function () {
    this.timeout(60_000);
    expect(kafka.brokers.length).to.be.greaterThan(0);
    const topic = randomTopic('dlq');
    const unannounced = randomTopic('dlq-unrouted'); // a letter for a topic start() never heard of
    sink = testSink({ wireFormat: 'single-object', deadLetterSuffix: '.dead' }).sink;
    await sink.start([spec(topic, readingV1)]);
    // created at start, next to the data topic
    expect(await withAdmin((a) => a.partitions(`${topic}.dead`))).to.equal(1);

    const letters: DeadLetter[] = [
      {
        topic,
        source: 'air',
        code: 'ERR_SCHEMA',
        field: 'readings[3].pm25',
        reason: 'expected null | double, got string "n/a"',
        value: { station: 'NL01', readings: [{ pm25: 'n/a' }], counter: '1152921504606846976' },
        timestamp: Date.UTC(2025, 5, 1),
      },
      { topic: unannounced, source: 'weather', code: 'ERR_UNKNOWN_STREAM', reason: 'record of unknown stream "x"', value: { a: 1 }, timestamp: Date.UTC(2025, 5, 2) },
    ];
    await sink.writeDeadLetters(letters);

    const [first] = await waitForMessages(`${topic}.dead`, 1);
    expect(first!.key?.toString()).to.equal('air');
    expect(first!.timestamp).to.equal(letters[0]!.timestamp);
    expect(JSON.parse(first!.value!.toString('utf8'))).to.deep.equal(letters[0]);
    const headers = Object.fromEntries(Object.entries(first!.headers).map(([k, v]) => [k, v?.toString('utf8')]));
    expect(headers).to.deep.equal({
      'content-type': 'application/json',
      'tributary-source': 'air',
      'tributary-error-code': 'ERR_SCHEMA',
      'tributary-error-field': 'readings[3].pm25',
      'tributary-error-reason': 'expected null | double, got string "n/a"',
    });

    const [second] = await waitForMessages(`${unannounced}.dead`, 1);
    expect(JSON.parse(second!.value!.toString('utf8'))).to.deep.equal(letters[1]);
    expect(second!.headers['tributary-error-field']).to.equal(undefined); // no field known
    expect(second!.headers['tributary-error-code']?.toString()).to.equal('ERR_UNKNOWN_STREAM');
  });
});
