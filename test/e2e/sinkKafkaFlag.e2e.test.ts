/**
 * `tributary run --sink kafka --brokers …` on a pipeline whose file writes elsewhere, and
 * `tributary offsets` with the same flags finding the checkpoints where that run keeps them (the
 * offsets topic), over the real broker.
 */
import { expect } from 'chai';
import { startStubServer, type StubServer } from '../../core/src/testing/stubServer.js';
import { ensureKafka, randomTopic, topicSize, type KafkaEnv } from '../support/kafka.js';
import { makeFaultProject, runCli, type Project } from '../faults/helpers.js';

describe('tributary run and offsets with --sink kafka --brokers (real broker)', function () {
  let kafka: KafkaEnv;
  let stub: StubServer | undefined;
  let project: Project | undefined;

  before(async function () {
    kafka = await ensureKafka(this);
  });

  after(async () => {
    await stub?.close();
    await project?.cleanup();
  });

  it('offsets --sink kafka --brokers reads the checkpoints of a run given the same flags; without them it looks in the state directory', async function () {
    this.timeout(60_000);
    const topic = randomTopic('sink-flag');
    stub = await startStubServer({
      routes: [{ path: '/items', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ items: [{ station: 'S1', value: 1, cycle: 1, page: 1, window: null }] }) }],
    });
    const name = `sink-flag-${topic.slice(-8)}`;
    project = await makeFaultProject({
      'pipeline.yaml': `
name: ${name}
metrics: { enabled: false }
sources:
  hist:
    plugin: ./items.js
    config: { baseUrl: "${stub.url}" }
    topic: ${topic}
    schedule: { backfill: { from: 2024-01-01, to: 2024-01-03, chunk: 1d } }
sink: { type: file, dir: ./out }
`,
    });
    const brokers = kafka.brokers.join(',');
    const env = { KAFKA_BROKERS: '' };
    const run = await runCli(['run', project.path('pipeline.yaml'), '--once', '--sink', 'kafka', '--brokers', brokers, '--summary', 'none', '--log-level', 'warn', '--no-progress'], { cwd: project.dir, env });
    expect(run.code, run.stderr).to.equal(0);
    expect(await topicSize(topic)).to.equal(2);

    const viaKafka = await runCli(['offsets', project.path('pipeline.yaml'), '--sink', 'kafka', '--brokers', brokers, '--json'], { cwd: project.dir, env });
    expect(viaKafka.code, viaKafka.stderr).to.equal(0);
    const listed = JSON.parse(viaKafka.stdout) as { checkpoints: Array<{ id: string; location: string; values: Record<string, unknown> }> };
    const hist = listed.checkpoints.find((c) => c.id === 'hist')!;
    expect(hist.location).to.equal(`kafka:_tributary_offsets/${name}/hist`);
    expect((hist.values['@tributary/backfill'] as { done: string[] }).done).to.have.length(2);

    const viaFile = await runCli(['offsets', project.path('pipeline.yaml'), '--json'], { cwd: project.dir, env });
    expect(viaFile.code, viaFile.stderr).to.equal(0);
    const local = JSON.parse(viaFile.stdout) as { checkpoints: Array<{ id: string; location: string; values: Record<string, unknown> }> };
    expect(local.checkpoints.find((c) => c.id === 'hist')!.values).to.deep.equal({});
  });
});
