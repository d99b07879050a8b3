import { PassThrough } from 'node:stream';
import { EventEmitter } from 'node:events';
import { expect } from 'chai';
import { Command } from 'commander';
import { registerTailCommand, runTail } from '../../../core/src/cli/tail.js';
import type { CliIo } from '../../../core/src/cli/io.js';
import type { KafkaSink } from '../../../core/src/sinks/kafka.js';
import { ensureKafka, randomTopic, requireRegistry, type KafkaEnv } from '../../support/kafka.js';
import { readingV1, readings, spec, testSink } from './fixtures.js';

function capture(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (c: Buffer) => (text += c.toString('utf8')));
  return { stream, text: () => text };
}

describe('tributary tail (real broker)', function () {
  let kafka: KafkaEnv;
  let registryUrl: string;
  let topic: string;
  let sink: KafkaSink | undefined;

  before(async function () {
    this.timeout(300_000);
    kafka = await ensureKafka(this);
    registryUrl = requireRegistry(this, kafka);
    topic = randomTopic('tail');
    sink = testSink({ schemaRegistry: { url: registryUrl, compatibility: 'BACKWARD' } }).sink;
    await sink.start([spec(topic, readingV1)]);
    await sink.write(readings(topic, 6));
    await sink.writeDeadLetters([{ topic, source: 'air', code: 'ERR_SCHEMA', field: 'pm25', reason: 'expected double', value: { pm25: 'x' }, timestamp: 1 }]);
    await sink.close();
  });

  it('prints decoded records as JSON lines (longs beyond 2^53 as strings) and stops after --max', async function () {
    this.timeout(60_000);
    const out = capture();
    const err = capture();
    const code = await runTail({ topic, fromBeginning: true, max: 4, brokers: kafka.brokers, registry: registryUrl, stdout: out.stream, stderr: err.stream, env: {} });
    expect(err.text()).to.equal('');
    expect(code).to.equal(0);
    const lines = out.text().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).to.have.length(4);
    const sent = readings(topic, 4);
    lines.forEach((line, i) => {
      expect(line).to.include({ topic, partition: 0, offset: String(i), key: sent[i]!.key, timestamp: sent[i]!.timestamp });
      expect(line.schemaId).to.be.a('number');
      expect(line.headers).to.deep.equal(sent[i]!.headers);
      const v = sent[i]!.value as Record<string, unknown>;
      expect(line.value).to.deep.equal({ ...v, counter: String(v.counter) });
    });
  });

  it('prints dead letters as JSON and is wired as `tail <topic>` with its options on the command line', async function () {
    this.timeout(60_000);
    const out = capture();
    const err = capture();
    const signals = new EventEmitter();
    const io: CliIo = {
      stdout: out.stream,
      stderr: { write: (t: string) => err.stream.write(t) },
      env: { KAFKA_BROKERS: kafka.brokers.join(',') },
      cwd: process.cwd(),
      exit: () => undefined,
      process: signals as unknown as CliIo['process'],
    };
    let code: number | undefined;
    const program = new Command('tributary').exitOverride();
    registerTailCommand(program, io, (c) => (code = c));
    await program.parseAsync(['tail', `${topic}.dlq`, '--from-beginning', '--max', '1'], { from: 'user' });
    expect(err.text()).to.equal('');
    expect(code).to.equal(0);
    const line = JSON.parse(out.text().trim()) as { key: string; value: Record<string, unknown>; headers: Record<string, string> };
    expect(line.key).to.equal('air');
    expect(line.value).to.deep.include({ topic, source: 'air', code: 'ERR_SCHEMA', field: 'pm25', reason: 'expected double' });
    expect(line.headers['tributary-error-code']).to.equal('ERR_SCHEMA');
    expect(signals.listenerCount('SIGINT')).to.equal(0); // handlers removed after the command
  });

  it('stops on SIGINT with exit code 0 when --max is not reached', async function () {
    this.timeout(60_000);
    const out = capture();
    const controller = new AbortController();
    const running = runTail({ topic, fromBeginning: true, brokers: kafka.brokers, registry: registryUrl, stdout: out.stream, stderr: { write: () => true }, env: {}, signal: controller.signal });
    while (out.text().split('\n').length < 7) await new Promise((r) => setTimeout(r, 50));
    controller.abort();
    expect(await running).to.equal(0);
    expect(out.text().trim().split('\n')).to.have.length(6);
  });

  it('reports a bad --max and an unreachable registry as errors with a non-zero exit code', async function () {
    this.timeout(60_000);
    const err = capture();
    expect(await runTail({ topic, max: 0, brokers: kafka.brokers, stdout: new PassThrough(), stderr: err.stream, env: {} })).to.equal(2);
    expect(err.text()).to.contain('--max must be a positive integer');
    const err2 = capture();
    const code = await runTail({ topic, fromBeginning: true, max: 1, brokers: kafka.brokers, registry: 'http://127.0.0.1:1/apis/ccompat/v7', stdout: new PassThrough(), stderr: err2.stream, env: {} });
    expect(code).to.equal(1);
    expect(err2.text()).to.match(/error: cannot decode the value at .*schema registry unreachable/);
  });
});
