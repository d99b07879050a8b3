import { expect } from 'chai';
import { readdir, readFile } from 'node:fs/promises';
import { startStubServer, type StubServer, type StubRequest } from '../../core/src/testing/stubServer.js';
import { allFiles, makeProject, readTopic, runCli, startCli, type Project } from './helpers.js';

const API_KEY = 'e2e-SECRET-key-8c41f';

function items(req: StubRequest): string {
  const cycle = Number(req.query.cycle ?? 0);
  return JSON.stringify({ items: [{ station: 'NL01', value: cycle + 0.25 }, { station: 'NL02', value: cycle + 0.5 }, { station: 'NL03', value: cycle + 0.75 }] });
}

const JSON_HEADERS = { 'content-type': 'application/json' };

describe('tributary CLI end to end', function () {
  this.timeout(60_000);
  let stub: StubServer | undefined;
  let project: Project | undefined;
  afterEach(async () => {
    await stub?.close();
    await project?.cleanup();
    stub = undefined;
    project = undefined;
  });

  it('runs a pipeline against a flaky stub API (latency, 503s, 429s) and writes Avro files that decode to the records', async () => {
    stub = await startStubServer({
      routes: [
        {
          path: '/readings',
          headers: JSON_HEADERS,
          body: items,
          latencyMs: 20,
          faults: [
            { kind: 'status', status: 503, times: 2 },
            { kind: 'rateLimit', retryAfterSeconds: 0, after: 2, times: 1 },
          ],
        },
      ],
    });
    project = await makeProject({
      'pipeline.yaml': `
name: e2e
metrics: { enabled: false }
sources:
  air:
    plugin: ./plugin.js
    config: { baseUrl: "${stub.url}", apiKey: "\${E2E_API_KEY}" }
    topic: air.readings
    schedule: { every: 50ms }
    resilience:
      retry: { maxRetries: 4, initialDelay: 10ms, maxDelay: 50ms, jitter: none }
      throttle: { initialDelay: 5ms, minDelay: 1ms }
      timeout: 5s
`,
    });
    const run = await runCli(['run', project.path('pipeline.yaml'), '--once', '--log-format', 'json'], { cwd: project.dir, env: { E2E_API_KEY: API_KEY } });
    expect(run.code, run.stderr).to.equal(0);
    const records = await readTopic(project.path('out/air.readings'));
    expect(records).to.deep.equal([
      { station: 'NL01', value: 1.25, cycle: 1, window: null },
      { station: 'NL02', value: 1.5, cycle: 1, window: null },
      { station: 'NL03', value: 1.75, cycle: 1, window: null },
    ]);
    expect(stub.count('/readings')).to.equal(4); // 2 × 503, 1 × 429, 1 × 200
    expect(run.stderr).to.match(/Run summary: pipeline "e2e" completed/);
    expect(run.stderr).to.match(/retries 3/);
    expect(stub.requests.every((r) => r.query.api_key === API_KEY)).to.equal(true);
  });

  it('a backfill records finished chunks: after a failed chunk, the next run only fetches what is missing; plain progress lines off a terminal', async () => {
    let failWindow: string | undefined = String(Date.UTC(2024, 0, 3));
    stub = await startStubServer({
      routes: [
        {
          path: '/readings',
          headers: JSON_HEADERS,
          body: items,
          faults: (req) => (req.query.start === failWindow ? { kind: 'status', status: 500 } : undefined),
        },
      ],
    });
    project = await makeProject({
      'pipeline.yaml': `
name: e2e-backfill
metrics: { enabled: false }
sources:
  hist:
    plugin: ./plugin.js
    config: { baseUrl: "${stub.url}" }
    topic: hist
    schedule: { backfill: { from: 2024-01-01, to: 2024-01-05, chunk: 1d, concurrency: 2 } }
    resilience: { retry: false, circuitBreaker: false }
`,
    });
    const first = await runCli(['run', project.path('pipeline.yaml'), '--log-level', 'warn'], { cwd: project.dir });
    expect(first.code, first.stderr).to.equal(1); // a finite run with a failed chunk
    expect(first.stderr).to.match(/backfill hist: 0\/4 chunks \(0%\)/);
    expect(first.stderr).to.match(/backfill hist: 3\/4 chunks \(75%\), 1 failed/);
    expect(await readTopic(project.path('out/hist'))).to.have.length(9);

    failWindow = undefined;
    const before = stub.count('/readings');
    const second = await runCli(['run', project.path('pipeline.yaml'), '--log-level', 'warn'], { cwd: project.dir });
    expect(second.code, second.stderr).to.equal(0);
    expect(stub.count('/readings') - before).to.equal(1);
    expect(stub.requests.at(-1)!.query.start).to.equal(String(Date.UTC(2024, 0, 3)));
    expect(second.stderr).to.match(/backfill hist: 4\/4 chunks \(100%\)/);
    const all = await readTopic(project.path('out/hist'));
    expect(all).to.have.length(12);
    expect(new Set(all.map((r) => r.window)).size).to.equal(4);
  });

  it('SIGTERM: stops scheduling, lets the running cycle finish, writes all records of finished cycles, exits 0', async () => {
    stub = await startStubServer({ routes: [{ path: '/readings', headers: JSON_HEADERS, body: items, latencyMs: 150 }] });
    project = await makeProject({
      'pipeline.yaml': `
name: e2e-shutdown
metrics: { enabled: false }
shutdown: { timeout: 10s }
sources:
  air:
    plugin: ./plugin.js
    config: { baseUrl: "${stub.url}" }
    topic: air
    schedule: { every: 100ms }
`,
    });
    const run = startCli(['run', project.path('pipeline.yaml'), '--log-level', 'debug', '--log-format', 'json', '--summary', 'json'], { cwd: project.dir });
    await run.waitFor(/"msg":"cycle done"[\s\S]*"msg":"cycle done"/);
    await stub.until(() => stub!.stats().inFlight === 1, 5_000); // a cycle is in the middle of its request
    run.child.kill('SIGTERM');
    const code = await run.exited;
    expect(code, run.stderr()).to.equal(0);
    const summaryText = run.stderr().slice(run.stderr().lastIndexOf('\n{\n'));
    const summary = JSON.parse(summaryText) as { outcome: string; sources: { air: { cycles: { success: number; cancelled: number } } } };
    expect(summary.outcome).to.equal('interrupted');
    expect(summary.sources.air.cycles.cancelled).to.equal(0);
    const records = await readTopic(project.path('out/air'));
    const cycles = summary.sources.air.cycles.success;
    expect(cycles).to.be.at.least(3); // the cycle running at SIGTERM finished too
    expect(records).to.have.length(3 * cycles);
    const perCycle = new Map<number, number>();
    for (const r of records) perCycle.set(r.cycle as number, (perCycle.get(r.cycle as number) ?? 0) + 1);
    expect([...perCycle.values()].every((n) => n === 3)).to.equal(true);
    expect(stub.count('/readings')).to.equal(cycles);
  });

  it('a second signal exits at once with code 130', async () => {
    stub = await startStubServer({ routes: [{ path: '/readings', headers: JSON_HEADERS, body: items, latencyMs: 30_000 }] });
    project = await makeProject({
      'pipeline.yaml': `
name: e2e-kill
metrics: { enabled: false }
shutdown: { timeout: 60s }
sources:
  air:
    plugin: ./plugin.js
    config: { baseUrl: "${stub.url}" }
    topic: air
    schedule: { every: 1s }
    resilience: { timeout: 60s }
`,
    });
    const run = startCli(['run', project.path('pipeline.yaml'), '--log-format', 'json'], { cwd: project.dir });
    await run.waitFor(/pipeline started/);
    await stub.until(() => stub!.stats().inFlight === 1, 5_000);
    const started = Date.now();
    run.child.kill('SIGTERM');
    await run.waitFor(/stopping gracefully/);
    run.child.kill('SIGTERM');
    expect(await run.exited).to.equal(130);
    expect(Date.now() - started).to.be.below(5_000);
    expect(run.stderr()).to.match(/received again: exiting at once/);
  });

  it('cycles of a source never overlap: a request slower than the interval delays the next cycle', async () => {
    stub = await startStubServer({ routes: [{ path: '/readings', headers: JSON_HEADERS, body: items, latencyMs: 300 }] });
    project = await makeProject({
      'pipeline.yaml': `
name: e2e-overlap
metrics: { enabled: false }
sources:
  air:
    plugin: ./plugin.js
    config: { baseUrl: "${stub.url}" }
    topic: air
    schedule: { every: 50ms }
`,
    });
    const run = startCli(['run', project.path('pipeline.yaml'), '--log-format', 'json'], { cwd: project.dir });
    await run.waitFor(/pipeline started/);
    await new Promise((r) => setTimeout(r, 1_600));
    run.child.kill('SIGINT');
    expect(await run.exited, run.stderr()).to.equal(0);
    expect(stub.stats().peakInFlight).to.equal(1);
    const n = stub.count('/readings');
    expect(n).to.be.within(3, 7); // ~1.6 s / 300 ms, never 1.6 s / 50 ms
    const starts = stub.requests.map((r) => r.at);
    for (let i = 1; i < starts.length; i++) expect(starts[i]! - starts[i - 1]!).to.be.at.least(290);
  });

  it('an API key given through ${VAR} never appears in logs, errors, summaries or output files', async () => {
    stub = await startStubServer({
      routes: [
        {
          path: '/readings',
          headers: JSON_HEADERS,
          body: items,
          faults: [
            { kind: 'status', status: 401, times: 1, body: `{"error":"invalid api key ${API_KEY}"}` },
            { kind: 'status', status: 500, after: 1, times: 2, body: `upstream said: key=${API_KEY}` },
          ],
        },
      ],
    });
    project = await makeProject({
      'pipeline.yaml': `
name: e2e-secret
metrics: { enabled: false }
sources:
  air:
    plugin: ./plugin.js
    config: { baseUrl: "${stub.url}", apiKey: "\${E2E_API_KEY}" }
    topic: air
    schedule: { every: 10ms }
    resilience: { retry: { maxRetries: 0 }, circuitBreaker: false }
`,
      'bad.yaml': `
name: e2e-secret-bad
sources:
  air:
    plugin: ./plugin.js
    config: { baseUrl: "${stub.url}", apiKey: "\${E2E_API_KEY}", delayMs: "\${E2E_API_KEY}" }
    topic: air
    schedule: once
`,
    });
    const env = { E2E_API_KEY: API_KEY };
    const cycles: string[] = [];
    // four cycles: 401, 500, 500, then data
    const run = startCli(['run', project.path('pipeline.yaml'), '--log-level', 'trace', '--log-format', 'json', '--summary', 'json'], { cwd: project.dir, env });
    await stub.until(() => stub!.count('/readings') >= 5, 10_000);
    run.child.kill('SIGTERM');
    expect(await run.exited, run.stderr()).to.equal(0);
    cycles.push(run.stderr(), run.stdout());
    expect(run.stderr()).to.match(/HTTP 401/);
    expect(run.stderr()).to.match(/api_key=\*\*\*/);
    expect(stub.requests.some((r) => r.query.api_key === API_KEY)).to.equal(true);

    const stdoutRun = await runCli(['run', project.path('pipeline.yaml'), '--once', '--sink', 'stdout', '--log-level', 'debug'], { cwd: project.dir, env });
    cycles.push(stdoutRun.stderr, stdoutRun.stdout);
    const invalid = await runCli(['validate', project.path('bad.yaml')], { cwd: project.dir, env });
    expect(invalid.code).to.equal(2);
    expect(invalid.stderr).to.match(/sources\.air\.config\.delayMs/);
    cycles.push(invalid.stderr, invalid.stdout);

    for (const text of cycles) expect(text).to.not.include(API_KEY);
    for (const file of await allFiles(project.dir)) {
      expect(file.content.includes(API_KEY), `${file.path} contains the key`).to.equal(false);
    }
    expect(await readdir(project.path('out/air'))).to.not.be.empty;
    expect((await readFile(project.path('pipeline.yaml'), 'utf8')).includes('${E2E_API_KEY}')).to.equal(true);
  });

  it('validate exits 2 on a bad pipeline and 0 on a good one', async () => {
    project = await makeProject({
      'good.yaml': 'name: ok\nsources:\n  air:\n    plugin: ./plugin.js\n    config: { baseUrl: "http://127.0.0.1:9" }\n    topic: air\n    schedule: once\n',
      'bad.yaml': 'name: bad\nsources:\n  air:\n    plugin: ./plugin.js\n    config: { baseUrl: "http://127.0.0.1:9" }\n    topic: air\n    schedule: once\n    resilience: { retry: { maxRetries: -1 } }\n',
    });
    const good = await runCli(['validate', project.path('good.yaml')], { cwd: project.dir });
    expect(good.code, good.stderr).to.equal(0);
    expect(good.stdout).to.match(/valid/);
    const bad = await runCli(['validate', project.path('bad.yaml')], { cwd: project.dir });
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.match(/sources\.air\.resilience\.retry\.maxRetries/);
    expect(bad.stdout).to.equal('');
  });
});
