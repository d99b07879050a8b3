import { expect } from 'chai';
import { startStubServer, type StubServer, type StubRequest } from '../../../core/src/testing/stubServer.js';
import { consume } from '../../../core/src/source/consume.js';
import { makeProject, runCli, type Project } from '../../e2e/helpers.js';
import { collect, ensureKafka, randomGroup, randomTopic, requireRegistry, waitForMessages, withAdmin, type KafkaEnv } from '../../support/kafka.js';

/** A reading per station; from the second run on, values grow by 10 and NL03 sends a value the schema rejects. */
let runNumber = 1;
function items(req: StubRequest): string {
  const base = Number(req.query.cycle ?? 0) + (runNumber - 1) * 10;
  return JSON.stringify({
    items: [
      { station: 'NL01', value: base + 0.25 },
      { station: 'NL02', value: base + 0.5 },
      { station: 'NL03', value: runNumber > 1 ? 'n/a' : base + 0.75 },
    ],
  });
}

describe('pipeline → Kafka → consume: `tributary run` with the Kafka sink (real broker and registry)', function () {
  let kafka: KafkaEnv;
  let stub: StubServer | undefined;
  let project: Project | undefined;

  before(async function () {
    kafka = await ensureKafka(this);
  });

  afterEach(async () => {
    await stub?.close();
    await project?.cleanup();
    stub = undefined;
    project = undefined;
  });

  it('runs a pipeline whose records arrive keyed, in order per key, with provenance headers; the bad record lands in the DLQ', async function () {
    this.timeout(120_000);
    const registryUrl = requireRegistry(this, kafka);
    const topic = randomTopic('pipeline');
    stub = await startStubServer({ routes: [{ path: '/readings', headers: { 'content-type': 'application/json' }, body: items }] });
    project = await makeProject({
      'pipeline.yaml': `
name: kafka-e2e
metrics: { enabled: false }
sources:
  air:
    plugin: ./plugin.js
    config: { baseUrl: "${stub.url}" }
    topic: ${topic}
    schedule: { every: 20ms }
sink:
  type: kafka
  brokers: "\${KAFKA_BROKERS}"
  schemaRegistry: { url: "\${SCHEMA_REGISTRY_URL}" }
  batch: { maxRecords: 50, linger: 5ms }
  topics:
    ${topic}: { partitions: 2 }
`,
    });
    const env = { KAFKA_BROKERS: kafka.brokers.join(','), SCHEMA_REGISTRY_URL: registryUrl };
    runNumber = 1;
    const first = await runCli(['run', project.path('pipeline.yaml'), '--once', '--log-format', 'json'], { cwd: project.dir, env });
    expect(first.code, first.stderr).to.equal(0);
    runNumber = 2;
    const second = await runCli(['run', project.path('pipeline.yaml'), '--once', '--log-format', 'json'], { cwd: project.dir, env });
    expect(second.code, second.stderr).to.equal(0);

    expect(await withAdmin((a) => a.partitions(topic))).to.equal(2);
    const got = await collect(
      (onClose) => consume({ brokers: kafka.brokers, topic, groupId: randomGroup(), from: 'earliest', registryUrl, onClose }),
      5,
    );
    expect(got.map((r) => r.key).sort()).to.deep.equal(['NL01', 'NL01', 'NL02', 'NL02', 'NL03']);
    const byKey = new Map<string, number[]>();
    for (const r of got) {
      expect(r.format).to.equal('confluent');
      expect(r.schemaId).to.be.a('number');
      expect(r.headers).to.include({ 'tributary-source': 'air', 'tributary-plugin': 'e2e-readings', 'tributary-origin': 'live' });
      const v = r.value as { station: string; value: number; cycle: number };
      expect(v.station).to.equal(r.key);
      byKey.set(r.key!, [...(byKey.get(r.key!) ?? []), v.value]);
    }
    expect(Object.fromEntries(byKey)).to.deep.equal({ NL01: [1.25, 11.25], NL02: [1.5, 11.5], NL03: [1.75] }); // per-key order

    const [letter] = await waitForMessages(`${topic}.dlq`, 1);
    const headers = Object.fromEntries(Object.entries(letter!.headers).map(([k, v]) => [k, v?.toString()]));
    expect(headers).to.include({ 'tributary-source': 'air', 'tributary-error-code': 'ERR_SCHEMA', 'tributary-error-field': 'value' });
    expect(JSON.parse(letter!.value!.toString())).to.deep.include({ topic, source: 'air', code: 'ERR_SCHEMA', field: 'value' });
  });
});
