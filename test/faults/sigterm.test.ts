import { expect } from 'chai';
import { startStubServer, type StubRequest, type StubServer } from '../../core/src/testing/stubServer.js';
import { doneChunks, makeFaultProject, readTopic, runCli, startCli, stopChild, type CliRun, type Project } from './helpers.js';

const DAY = 24 * 60 * 60 * 1000;
const FROM = Date.UTC(2024, 0, 1);
const CHUNKS = 20;
const PAGES = 3;
const PER_PAGE = 2;
/** Every chunk id of the backfill, `"<start>-<end>"`, oldest first. */
const ALL_CHUNKS = Array.from({ length: CHUNKS }, (_, i) => `${FROM + i * DAY}-${FROM + (i + 1) * DAY}`);

/** One page of a chunk: two readings tagged with the chunk (`window`), the page and the cycle. */
function page(req: StubRequest): string {
  const window = `${req.query.start}-${req.query.end}`;
  const p = Number(req.query.page);
  return JSON.stringify({
    items: Array.from({ length: PER_PAGE }, (_, i) => ({ station: `S${i}`, value: p * 10 + i, cycle: Number(req.query.cycle), page: p, window })),
  });
}

function pipeline(stubUrl: string, shutdownTimeout: string): string {
  return `
name: faults-sigterm
metrics: { enabled: false }
shutdown: { timeout: ${shutdownTimeout} }
sources:
  hist:
    plugin: ./items.js
    config: { baseUrl: "${stubUrl}", pages: ${PAGES} }
    topic: hist.readings
    schedule: { backfill: { from: 2024-01-01, to: 2024-01-21, chunk: 1d, concurrency: 2 } }
    resilience: { retry: false }
`;
}

/** Records of the topic grouped by chunk: chunk id → list of `page/station`. */
function byChunk(records: Record<string, unknown>[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const r of records) {
    const id = r.window as string;
    let list = out.get(id);
    if (!list) out.set(id, (list = []));
    list.push(`${r.page as number}/${r.station as string}`);
  }
  return out;
}

/** The `page/station` entries of one complete chunk, sorted. */
const COMPLETE = Array.from({ length: PAGES }, (_, p) => Array.from({ length: PER_PAGE }, (_, i) => `${p + 1}/S${i}`)).flat().sort();

interface Summary {
  outcome: string;
  sources: { hist: { cycles: { success: number; error: number; cancelled: number } } };
}

function summaryOf(stderr: string): Summary {
  return JSON.parse(stderr.slice(stderr.lastIndexOf('\n{\n'))) as Summary;
}

describe('fault injection: SIGTERM in the middle of a backfill (file sink)', function () {
  this.timeout(60_000);
  let stub: StubServer | undefined;
  let project: Project | undefined;
  let run: CliRun | undefined;
  afterEach(async () => {
    await stopChild(run);
    await stub?.close();
    await project?.cleanup();
    run = undefined;
    stub = undefined;
    project = undefined;
  });

  it('at-least-once, graceful stop: the running chunks finish, their records are flushed, exit 0, and the checkpoint records exactly the chunks whose records are in the files', async () => {
    let onRequest: (req: StubRequest) => void = () => undefined;
    stub = await startStubServer({
      routes: [{ path: '/items', headers: { 'content-type': 'application/json' }, body: page, latencyMs: (req) => (onRequest(req), 60) }],
    });
    project = await makeFaultProject({ 'pipeline.yaml': pipeline(stub.url, '10s') });
    const started = new Set<string>();
    let signalled = false;
    onRequest = (req) => {
      started.add(`${req.query.start}-${req.query.end}`);
      // SIGTERM as the fifth chunk makes its first request: two chunks are in the middle of their pages
      if (!signalled && started.size === 5) {
        signalled = true;
        run!.child.kill('SIGTERM');
      }
    };
    run = startCli(['run', project.path('pipeline.yaml'), '--log-format', 'json', '--summary', 'json', '--no-progress'], { cwd: project.dir });
    const code = await run.exited;
    expect(signalled).to.equal(true);
    expect(code, run.stderr().slice(-3000)).to.equal(0);
    const summary = summaryOf(run.stderr());
    expect(summary.outcome).to.equal('interrupted');
    expect(summary.sources.hist.cycles.cancelled).to.equal(0);
    expect(summary.sources.hist.cycles.error).to.equal(0);

    const done = await doneChunks(project.path('.tributary/state'), 'hist');
    const files = byChunk(await readTopic(project.path('out/hist.readings')));
    expect(done.length, 'chunks done').to.be.within(4, CHUNKS - 1);
    expect(summary.sources.hist.cycles.success).to.equal(done.length);
    // the checkpoint matches the files: every recorded chunk is there in full, once; nothing else is
    expect([...files.keys()].sort()).to.deep.equal([...done].sort());
    for (const id of done) expect([...files.get(id)!].sort(), `records of chunk ${id}`).to.deep.equal(COMPLETE);
    // no chunk started after the signal
    expect([...started].sort()).to.deep.equal([...done].sort());
    expect(done.every((id) => ALL_CHUNKS.includes(id))).to.equal(true);
  });

  it('at-least-once, cut at the shutdown timeout: cut chunks are not recorded, recorded chunks are complete, and a restart fills exactly the gap (duplicates only within cut chunks)', async () => {
    let onRequest: (req: StubRequest) => void = () => undefined;
    let latency = 150;
    stub = await startStubServer({
      routes: [{ path: '/items', headers: { 'content-type': 'application/json' }, body: page, latencyMs: (req) => (onRequest(req), latency) }],
    });
    // a chunk takes 3 × 150 ms, more than the 200 ms the shutdown waits
    project = await makeFaultProject({ 'pipeline.yaml': pipeline(stub.url, '200ms') });
    const started = new Set<string>();
    let signalled = false;
    onRequest = (req) => {
      started.add(`${req.query.start}-${req.query.end}`);
      if (!signalled && started.size === 5) {
        signalled = true;
        run!.child.kill('SIGTERM');
      }
    };
    run = startCli(['run', project.path('pipeline.yaml'), '--log-format', 'json', '--summary', 'json', '--no-progress'], { cwd: project.dir });
    const code = await run.exited;
    expect(code, run.stderr().slice(-3000)).to.equal(0);
    const summary = summaryOf(run.stderr());
    expect(summary.outcome).to.equal('interrupted');
    expect(summary.sources.hist.cycles.cancelled, 'chunks cut by the shutdown timeout').to.be.within(1, 2);

    const stateDir = project.path('.tributary/state');
    const done1 = await doneChunks(stateDir, 'hist');
    const files1 = byChunk(await readTopic(project.path('out/hist.readings')));
    expect(done1).to.have.length(summary.sources.hist.cycles.success);
    for (const id of done1) expect([...files1.get(id)!].sort(), `records of recorded chunk ${id}`).to.deep.equal(COMPLETE);
    const cut = [...started].filter((id) => !done1.includes(id));
    expect(cut.length).to.equal(summary.sources.hist.cycles.cancelled);
    // records of a cut chunk may have reached the files (at-least-once), but never more than one copy of a page
    for (const id of cut) {
      const got = files1.get(id) ?? [];
      expect(new Set(got).size, `chunk ${id} has no duplicates`).to.equal(got.length);
    }

    // restart: only the chunks that are not recorded are fetched again
    if (process.env.FAULTS_DEBUG) console.log({ done1, cut: cut.map((id) => [id, files1.get(id)]) });
    latency = 20;
    const before = stub.requests.length;
    const second = await runCli(['run', project.path('pipeline.yaml'), '--log-format', 'json', '--summary', 'json', '--no-progress'], { cwd: project.dir });
    expect(second.code, second.stderr.slice(-3000)).to.equal(0);
    const refetched = new Set(stub.requests.slice(before).map((r) => `${r.query.start}-${r.query.end}`));
    expect([...refetched].filter((id) => done1.includes(id)), 'recorded chunks fetched again').to.deep.equal([]);
    expect([...refetched].sort()).to.deep.equal(ALL_CHUNKS.filter((id) => !done1.includes(id)).sort());

    // no gap: every chunk complete; duplicates only in the chunks that were cut
    expect([...(await doneChunks(stateDir, 'hist'))].sort()).to.deep.equal([...ALL_CHUNKS].sort());
    const files2 = byChunk(await readTopic(project.path('out/hist.readings')));
    expect([...files2.keys()].sort()).to.deep.equal([...ALL_CHUNKS].sort());
    for (const id of ALL_CHUNKS) {
      const got = files2.get(id)!;
      expect([...new Set(got)].sort(), `chunk ${id} complete`).to.deep.equal(COMPLETE);
      if (!cut.includes(id)) expect(got, `chunk ${id} exactly once`).to.have.length(COMPLETE.length);
    }
  });
});
