/**
 * The run lock end to end: `tributary run` (as a child process, without a metrics endpoint) holds
 * `<stateDir>/<pipeline>.run.lock` while it runs; `tributary offsets --reset/--set` and a second
 * `tributary run` see it and refuse; SIGTERM removes it; the lock a `kill -9` leaves behind is
 * stale and does not stand in the way.
 */
import { expect } from 'chai';
import { access, readFile } from 'node:fs/promises';
import { startStubServer, type StubServer } from '../../core/src/testing/stubServer.js';
import { makeProject, runCli, startCli, type CliRun, type Project } from './helpers.js';

const JSON_HEADERS = { 'content-type': 'application/json' };

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

async function waitForFile(file: string, run: CliRun, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await exists(file))) {
    if (run.child.exitCode !== null) throw new Error(`the run ended before its lock appeared:\n${run.stderr()}`);
    if (Date.now() > deadline) throw new Error(`no ${file} after ${timeoutMs} ms:\n${run.stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('run lock end to end (tributary run / offsets as child processes)', function () {
  this.timeout(60_000);
  let stub: StubServer | undefined;
  let project: Project | undefined;
  let run: CliRun | undefined;
  afterEach(async () => {
    if (run && run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL');
    await run?.exited;
    await stub?.close();
    await project?.cleanup();
    run = undefined;
    stub = undefined;
    project = undefined;
  });

  async function setup(): Promise<{ pipeline: string; lockFile: string }> {
    stub = await startStubServer({ routes: [{ path: '/readings', headers: JSON_HEADERS, body: JSON.stringify({ items: [{ station: 'NL01', value: 1 }] }) }] });
    project = await makeProject({
      'pipeline.yaml': `
name: lock-e2e
metrics: { enabled: false }
sources:
  air:
    plugin: ./plugin.js
    config: { baseUrl: "${stub.url}" }
    topic: air.readings
    schedule: { every: 100ms }
`,
    });
    return { pipeline: project.path('pipeline.yaml'), lockFile: project.path('.tributary/state/lock-e2e.run.lock') };
  }

  it('offsets --reset/--set and a second run refuse while a runner without a metrics endpoint holds the lock; --force overrides; SIGTERM removes the lock', async () => {
    const { pipeline, lockFile } = await setup();
    const cwd = project!.dir;
    run = startCli(['run', pipeline, '--log-format', 'json', '--summary', 'none', '--no-progress'], { cwd });
    await waitForFile(lockFile, run);
    const lock = JSON.parse(await readFile(lockFile, 'utf8')) as { pid: number; pipeline: string; hostname: string; startedAt: string; info: Record<string, unknown> };
    expect(lock).to.include({ pid: run.child.pid, pipeline: 'lock-e2e' });
    expect(lock.info).to.deep.equal({ sink: 'file' });
    while (stub!.requests.length < 2) await new Promise((r) => setTimeout(r, 50)); // it is running cycles

    const reset = await runCli(['offsets', pipeline, '--reset', 'air'], { cwd });
    expect(reset.code, reset.stderr).to.equal(2);
    expect(reset.stderr).to.contain('pipeline "lock-e2e" is running').and.contain(`process ${run.child.pid}`).and.contain(lockFile);
    const set = await runCli(['offsets', pipeline, '--set', 'air', 'lastCycle=99'], { cwd });
    expect(set.code, set.stderr).to.equal(2);
    expect(set.stderr).to.contain(`process ${run.child.pid}`);
    // listing still works, and says the pipeline runs
    const list = await runCli(['offsets', pipeline, '--json'], { cwd });
    expect(list.code, list.stderr).to.equal(0);
    expect((JSON.parse(list.stdout) as { running: boolean }).running).to.equal(true);

    const second = await runCli(['run', pipeline, '--once', '--summary', 'none', '--no-progress'], { cwd });
    expect(second.code, second.stderr).to.equal(1);
    expect(second.stderr).to.contain('pipeline "lock-e2e" is already run by a runner').and.contain(`process ${run.child.pid}`);
    expect(JSON.parse(await readFile(lockFile, 'utf8'))).to.include({ pid: run.child.pid }); // the refused run left the lock alone

    const forced = await runCli(['offsets', pipeline, '--set', 'air', 'lastCycle=99', '--force'], { cwd });
    expect(forced.code, forced.stderr).to.equal(0);

    run.child.kill('SIGTERM');
    expect(await run.exited, run.stderr().slice(-2000)).to.equal(0);
    expect(await exists(lockFile), 'lock removed at the end of the run').to.equal(false);
    const after = await runCli(['offsets', pipeline, '--reset', 'air'], { cwd });
    expect(after.code, after.stderr).to.equal(0);
  });

  it('the lock a kill -9 leaves behind is stale: offsets --reset goes ahead, and the next run replaces it (and says so)', async () => {
    const { pipeline, lockFile } = await setup();
    const cwd = project!.dir;
    run = startCli(['run', pipeline, '--log-format', 'json', '--summary', 'none', '--no-progress'], { cwd });
    await waitForFile(lockFile, run);
    const killedPid = run.child.pid!;
    run.child.kill('SIGKILL');
    await run.exited;
    expect(JSON.parse(await readFile(lockFile, 'utf8'))).to.include({ pid: killedPid });

    const reset = await runCli(['offsets', pipeline, '--reset', 'air'], { cwd });
    expect(reset.code, reset.stderr).to.equal(0);
    const again = await runCli(['run', pipeline, '--once', '--log-format', 'json', '--summary', 'none', '--no-progress'], { cwd });
    expect(again.code, again.stderr).to.equal(0);
    expect(again.stderr).to.contain(`replacing a stale run lock of pipeline \\"lock-e2e\\": process ${killedPid} is gone`);
    expect(await exists(lockFile)).to.equal(false);
  });
});
