/**
 * Exactly-once with real processes, against the real broker of test/support/kafka.ts: `kill -9`
 * of a runner writing with `exactlyOnce: true` in the middle of a backfill, and two runner
 * processes on the same pipeline and source. `tributary run` runs as a child process (Kafka sink,
 * single-object wire format); the topic is read afterwards with `isolation.level=read_committed`
 * and every record must be there exactly once.
 */
import { expect } from 'chai';
import { startStubServer, type StubRequest, type StubServer } from '../../core/src/testing/stubServer.js';
import { ensureKafka, randomTopic, readCommitted, topicSize, type KafkaEnv } from '../support/kafka.js';
import { makeFaultProject, runCli, startCli, stopChild, until, type CliRun, type Project } from './helpers.js';

const DAY = 24 * 60 * 60 * 1000;
const FROM = Date.UTC(2024, 0, 1);
const json = { 'content-type': 'application/json' };

/** How often each identity occurs. */
function counts(ids: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const id of ids) m.set(id, (m.get(id) ?? 0) + 1);
  return m;
}

describe('fault injection: exactly-once with runner processes (real broker)', function () {
  let kafka: KafkaEnv;
  let stub: StubServer | undefined;
  const projects: Project[] = [];
  const runs: CliRun[] = [];

  before(async function () {
    kafka = await ensureKafka(this);
  });

  afterEach(async function () {
    this.timeout(30_000);
    await Promise.all(runs.splice(0).map((r) => stopChild(r)));
    await stub?.close();
    await Promise.all(projects.splice(0).map((p) => p.cleanup()));
    stub = undefined;
  });

  const env = () => ({ KAFKA_BROKERS: kafka.brokers.join(',') });

  /**
   * A backfill pipeline of `chunks` days with the exactly-once Kafka sink. Its name must be new
   * (the topic's): checkpoints live in the broker's shared offsets topic, keyed by pipeline.
   */
  function backfillPipeline(name: string, topic: string, chunks: number, pages: number): string {
    const to = new Date(FROM + chunks * DAY).toISOString().slice(0, 10);
    return `
name: ${name}
metrics: { enabled: false }
sources:
  hist:
    plugin: ./items.js
    config: { baseUrl: "${stub!.url}", pages: ${pages} }
    topic: ${topic}
    schedule: { backfill: { from: 2024-01-01, to: ${to}, chunk: 1d } }
    resilience: { retry: false }
sink:
  type: kafka
  brokers: "\${KAFKA_BROKERS}"
  wireFormat: single-object
  exactlyOnce: true
  batch: { maxRecords: 20, linger: 5ms }
  topics:
    ${topic}: { partitions: 2 }
`;
  }

  /** The identity of a record: `<chunk>/<page>/<station>`; each chunk has `pages` pages of `perPage` stations. */
  const idOf = (v: Record<string, unknown>): string => `${v.window as string}/${v.page as number}/${v.station as string}`;
  function allIds(chunks: number, pages: number, perPage: number): string[] {
    const ids: string[] = [];
    for (let c = 0; c < chunks; c++) {
      const window = `${FROM + c * DAY}-${FROM + (c + 1) * DAY}`;
      for (let p = 1; p <= pages; p++) for (let i = 0; i < perPage; i++) ids.push(`${window}/${p}/S${i}`);
    }
    return ids.sort();
  }

  /** The stub API of the backfill: `perPage` stations per page of a chunk, after `latency()` ms. */
  async function backfillStub(perPage: number, latency: () => number, gate?: (req: StubRequest) => Promise<void>): Promise<StubServer> {
    stub = await startStubServer({
      routes: [
        {
          path: '/items',
          headers: json,
          latencyMs: () => latency(),
          body: async (req: StubRequest) => {
            await gate?.(req);
            const window = `${req.query.start}-${req.query.end}`;
            const p = Number(req.query.page);
            return JSON.stringify({ items: Array.from({ length: perPage }, (_, i) => ({ station: `S${i}`, value: p * 10 + i, cycle: Number(req.query.cycle), page: p, window })) });
          },
        },
      ],
    });
    return stub;
  }

  it('kill -9 of an exactly-once runner mid-backfill, then a restart: no gap in the range and no duplicate (read_committed)', async function () {
    this.timeout(60_000);
    const CHUNKS = 12;
    const PAGES = 3;
    const PER_PAGE = 3;
    const topic = randomTopic('faults-eos-kill9');
    let latency = 60;
    await backfillStub(PER_PAGE, () => latency);
    const project = await makeFaultProject({ 'pipeline.yaml': backfillPipeline(topic, topic, CHUNKS, PAGES) });
    projects.push(project);
    const pipeline = project.path('pipeline.yaml');

    const first = startCli(['run', pipeline, '--log-format', 'json', '--summary', 'none', '--no-progress'], { cwd: project.dir, env: env() });
    runs.push(first);
    // kill -9 in the middle of a chunk (its first pages already written into the open transaction),
    // once a few chunks were committed
    await until(
      'the 5th chunk half fetched',
      () => {
        if (first.child.exitCode !== null) throw new Error(`the run ended (${first.child.exitCode}) before the kill:\n${first.stderr().slice(-3000)}`);
        return stub!.requests.length >= 4 * PAGES + 2;
      },
      30_000,
      5,
    );
    first.child.kill('SIGKILL');
    expect(await first.exited).to.equal(137);
    const firstRequests = stub!.requests.length;

    // the killed runner's open transaction: its records are in the log, never committed
    const committedBefore = await readCommitted(kafka.brokers, topic, 0, 1_000, 10_000);
    expect(await topicSize(topic), 'records of the cut transaction are in the log').to.be.above(committedBefore.length);
    const chunksBefore = new Set(committedBefore.map((v) => v.window as string));
    expect(chunksBefore.size, 'chunks committed before the kill').to.be.within(1, CHUNKS - 1);
    for (const id of chunksBefore) expect(committedBefore.filter((v) => v.window === id), `committed chunk ${id} is whole`).to.have.length(PAGES * PER_PAGE);

    // the restart finds the stale run lock of the killed process, resumes after the committed chunks and finishes
    latency = 5;
    const second = await runCli(['run', pipeline, '--log-format', 'json', '--summary', 'none', '--no-progress'], { cwd: project.dir, env: env() });
    expect(second.code, second.stderr.slice(-3000)).to.equal(0);
    const refetched = new Set(stub!.requests.slice(firstRequests).map((r) => `${r.query.start}-${r.query.end}`));
    expect([...refetched].filter((id) => chunksBefore.has(id)), 'committed chunks fetched again').to.deep.equal([]);

    const expected = allIds(CHUNKS, PAGES, PER_PAGE);
    const got = await readCommitted(kafka.brokers, topic, expected.length);
    const c = counts(got.map(idOf));
    expect([...c.keys()].sort(), 'no gap: every record of the range is in the topic').to.deep.equal(expected);
    expect([...c].filter(([, n]) => n > 1), 'no duplicate').to.deep.equal([]);
    expect(got).to.have.length(expected.length);
  });

  it('two runner processes on the same pipeline and source: one is fenced and exits non-zero, the other finishes; each record is in the topic once', async function () {
    this.timeout(60_000);
    const CHUNKS = 6;
    const PAGES = 3;
    const PER_PAGE = 3;
    const topic = randomTopic('faults-eos-fence');
    // the first page of the first chunk waits until both runners asked for it, so that they write
    // the same chunk at the same time: the second producer to start fences the first one
    const firstChunk = `${FROM}-${FROM + DAY}`;
    let arrived = 0;
    let bothThere: () => void = () => undefined;
    const together = new Promise<void>((resolve) => (bothThere = resolve));
    const timeout = setTimeout(bothThere, 15_000);
    await backfillStub(PER_PAGE, () => 100, async (req) => {
      if (`${req.query.start}-${req.query.end}` !== firstChunk || req.query.page !== '1') return;
      if (++arrived >= 2) bothThere();
      await together;
    });
    // two checkouts of the same pipeline (each with its own state directory and run lock), as on two machines
    const args = (p: Project) => ['run', p.path('pipeline.yaml'), '--log-format', 'json', '--summary', 'json', '--no-progress'];
    const a = await makeFaultProject({ 'pipeline.yaml': backfillPipeline(topic, topic, CHUNKS, PAGES) });
    const b = await makeFaultProject({ 'pipeline.yaml': backfillPipeline(topic, topic, CHUNKS, PAGES) });
    projects.push(a, b);
    const runA = startCli(args(a), { cwd: a.dir, env: env() });
    const runB = startCli(args(b), { cwd: b.dir, env: env() });
    runs.push(runA, runB);
    const [codeA, codeB] = await Promise.all([runA.exited, runB.exited]);
    clearTimeout(timeout);
    expect(arrived, `both runners fetched the first chunk\n--- A:\n${runA.stderr().slice(-2500)}\n--- B:\n${runB.stderr().slice(-2500)}`).to.be.at.least(2);

    const codes = [codeA, codeB].sort();
    expect(codes, `exit codes\n--- A:\n${runA.stderr().slice(-2500)}\n--- B:\n${runB.stderr().slice(-2500)}`).to.deep.equal([0, 1]);
    const fenced = codeA === 1 ? runA : runB;
    expect(fenced.stderr()).to.contain('ERR_PRODUCER_FENCED');
    // fenced while writing ("took over", through the sink's failure) or while committing ("taken over", through the runner)
    expect(fenced.stderr()).to.match(new RegExp(`transactional id \\\\"${topic}\\.hist\\\\" was fenced: another runner of the same pipeline and source took over|source \\\\"hist\\\\" was taken over by another runner`));
    const summary = JSON.parse(fenced.stderr().slice(fenced.stderr().lastIndexOf('\n{\n') + 1)) as { outcome: string };
    expect(summary.outcome).to.equal('failed');

    const expected = allIds(CHUNKS, PAGES, PER_PAGE);
    const got = await readCommitted(kafka.brokers, topic, expected.length);
    const c = counts(got.map(idOf));
    expect([...c.keys()].sort(), 'every record of the range is in the topic').to.deep.equal(expected);
    expect([...c].filter(([, n]) => n > 1), 'no duplicate').to.deep.equal([]);
    expect(got).to.have.length(expected.length);
  });

  it('a second runner started while the first is mid-backfill fences it before reading the cursors: the first exits non-zero, nothing is written twice', async function () {
    this.timeout(60_000);
    const CHUNKS = 10;
    const PAGES = 3;
    const PER_PAGE = 2;
    const topic = randomTopic('faults-eos-late');
    await backfillStub(PER_PAGE, () => 120);
    const args = (p: Project) => ['run', p.path('pipeline.yaml'), '--log-format', 'json', '--summary', 'json', '--no-progress'];
    const a = await makeFaultProject({ 'pipeline.yaml': backfillPipeline(topic, topic, CHUNKS, PAGES) });
    const b = await makeFaultProject({ 'pipeline.yaml': backfillPipeline(topic, topic, CHUNKS, PAGES) });
    projects.push(a, b);
    const runA = startCli(args(a), { cwd: a.dir, env: env() });
    runs.push(runA);
    // the first runner has committed a couple of chunks when the second one starts
    await until('the first runner to fetch two chunks', () => {
      if (runA.child.exitCode !== null) throw new Error(`the first runner ended early (${runA.child.exitCode}):\n${runA.stderr().slice(-2500)}`);
      return stub!.requests.length >= 2 * PAGES + 1;
    }, 30_000, 10);
    const runB = startCli(args(b), { cwd: b.dir, env: env() });
    runs.push(runB);
    const [codeA, codeB] = await Promise.all([runA.exited, runB.exited]);
    const logs = `\n--- A:\n${runA.stderr().slice(-2500)}\n--- B:\n${runB.stderr().slice(-2500)}`;
    expect(codeB, `the second runner finishes${logs}`).to.equal(0);
    expect(codeA, `the first runner is fenced${logs}`).to.equal(1);
    expect(runA.stderr()).to.contain('ERR_PRODUCER_FENCED');

    const expected = allIds(CHUNKS, PAGES, PER_PAGE);
    const got = await readCommitted(kafka.brokers, topic, expected.length);
    const c = counts(got.map(idOf));
    expect([...c.keys()].sort(), 'every record of the range is in the topic').to.deep.equal(expected);
    expect([...c].filter(([, n]) => n > 1), 'no duplicate').to.deep.equal([]);
  });
});
