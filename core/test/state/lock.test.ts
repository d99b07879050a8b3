import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { acquireRunLock, findRunLocks, runLockFile, type RunLock } from '../../src/state/lock.js';
import { tempDir } from '../runtime/helpers.js';

/** A child process that stays alive until killed: a real, live pid. */
function sleeper(): ChildProcess {
  return spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
}

/** The pid of a process that has exited: a dead pid. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await new Promise((resolve) => child.on('close', resolve));
  return child.pid!;
}

async function rejection(p: Promise<unknown>): Promise<Error & { code?: string; retriable?: boolean }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected a rejection');
}

describe('state/run lock', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  const children: ChildProcess[] = [];
  const locks: RunLock[] = [];
  beforeEach(async () => {
    tmp = await tempDir();
  });
  afterEach(async () => {
    await Promise.all(locks.splice(0).map((l) => l.release()));
    for (const c of children.splice(0)) {
      if (c.exitCode === null && c.signalCode === null) {
        const gone = new Promise((resolve) => c.on('close', resolve));
        c.kill('SIGKILL');
        await gone;
      }
    }
    await tmp.cleanup();
  });

  /** Writes a lock file as another process (pid, host) would have. */
  async function foreignLock(pipeline: string, pid: number, host = hostname(), id?: string): Promise<string> {
    const file = runLockFile(tmp.dir, pipeline, id);
    await writeFile(file, JSON.stringify({ pipeline, ...(id ? { id } : {}), pid, hostname: host, startedAt: '2026-01-01T00:00:00.000Z' }));
    return file;
  }

  it('writes <stateDir>/<pipeline>.run.lock with pid, hostname, startedAt and info (creating the directory); release removes it, twice is fine', async () => {
    const stateDir = join(tmp.dir, 'state', 'nested');
    const lock = await acquireRunLock({ stateDir, pipeline: 'air', info: { metricsUrl: 'http://127.0.0.1:9464' } });
    expect(lock.file).to.equal(join(stateDir, 'air.run.lock'));
    const written = JSON.parse(await readFile(lock.file, 'utf8')) as Record<string, unknown>;
    expect(written).to.include({ pipeline: 'air', pid: process.pid, hostname: hostname() });
    expect(written.info).to.deep.equal({ metricsUrl: 'http://127.0.0.1:9464' });
    expect(Date.parse(written.startedAt as string)).to.be.closeTo(Date.now(), 5_000);
    expect(written).to.not.have.property('id');
    await lock.release();
    expect(await readdir(stateDir)).to.deep.equal([]);
    await lock.release();
    expect(await readdir(stateDir)).to.deep.equal([]);
  });

  it('a lock of a live process refuses a second runner with ERR_RUN_LOCKED naming the pid and the host, and leaves that lock alone', async () => {
    const child = sleeper();
    children.push(child);
    const file = await foreignLock('air', child.pid!);
    const err = await rejection(acquireRunLock({ stateDir: tmp.dir, pipeline: 'air' }));
    expect(err.code).to.equal('ERR_RUN_LOCKED');
    expect(err.retriable).to.equal(false);
    expect(err.message).to.contain(`process ${child.pid}`).and.contain(hostname()).and.contain('pipeline "air"');
    expect(JSON.parse(await readFile(file, 'utf8'))).to.include({ pid: child.pid });
    // the lock of this very process counts as live too
    const own = await acquireRunLock({ stateDir: tmp.dir, pipeline: 'sea' });
    locks.push(own);
    expect((await rejection(acquireRunLock({ stateDir: tmp.dir, pipeline: 'sea' }))).code).to.equal('ERR_RUN_LOCKED');
  });

  it('a lock whose process is gone is stale: it is replaced, with a warning naming the dead pid', async () => {
    const pid = await deadPid();
    await foreignLock('air', pid);
    const warnings: unknown[][] = [];
    const lock = await acquireRunLock({ stateDir: tmp.dir, pipeline: 'air', logger: { warn: (...args: unknown[]) => void warnings.push(args) } as never });
    locks.push(lock);
    expect(JSON.parse(await readFile(lock.file, 'utf8'))).to.include({ pid: process.pid });
    expect(warnings).to.have.length(1);
    expect(warnings[0]![0]).to.include({ pid });
    expect(String(warnings[0]![1])).to.match(new RegExp(`stale run lock of pipeline "air": process ${pid} is gone`));
  });

  it('a lock from another host cannot be checked: acquire refuses, and findRunLocks says alive "unknown"', async () => {
    await foreignLock('air', 12345, 'some-other-host.example');
    const err = await rejection(acquireRunLock({ stateDir: tmp.dir, pipeline: 'air' }));
    expect(err.code).to.equal('ERR_RUN_LOCKED');
    expect(err.message).to.contain('some-other-host.example').and.contain('process 12345').and.contain('another host');
    const found = await findRunLocks({ stateDir: tmp.dir, pipeline: 'air' });
    expect(found.map((l) => [l.pid, l.alive])).to.deep.equal([[12345, 'unknown']]);
  });

  it('workers with different ids hold their own locks; the same id conflicts; a plain runner and a worker exclude each other', async () => {
    const a = await acquireRunLock({ stateDir: tmp.dir, pipeline: 'air', id: 'w1' });
    const b = await acquireRunLock({ stateDir: tmp.dir, pipeline: 'air', id: 'w2' });
    locks.push(a, b);
    expect(a.file).to.equal(join(tmp.dir, 'air.w1.run.lock'));
    expect(b.file).to.equal(join(tmp.dir, 'air.w2.run.lock'));
    expect((await rejection(acquireRunLock({ stateDir: tmp.dir, pipeline: 'air', id: 'w1' }))).message).to.contain('worker "w1"');
    expect((await rejection(acquireRunLock({ stateDir: tmp.dir, pipeline: 'air' }))).code).to.equal('ERR_RUN_LOCKED');
    // another pipeline in the same directory is unaffected
    locks.push(await acquireRunLock({ stateDir: tmp.dir, pipeline: 'sea' }));
    await a.release();
    await b.release();
    const plain = await acquireRunLock({ stateDir: tmp.dir, pipeline: 'air' });
    locks.push(plain);
    expect((await rejection(acquireRunLock({ stateDir: tmp.dir, pipeline: 'air', id: 'w3' }))).code).to.equal('ERR_RUN_LOCKED');
    expect(await readdir(tmp.dir)).to.have.members(['air.run.lock', 'sea.run.lock']);
  });

  it('findRunLocks lists every lock of one pipeline (all ids) with alive true/false; a missing directory means none', async () => {
    const child = sleeper();
    children.push(child);
    const dead = await deadPid();
    await foreignLock('air', child.pid!, hostname(), 'w1');
    await foreignLock('air', dead, hostname(), 'w2');
    await foreignLock('air.b', child.pid!); // another pipeline whose name starts alike
    await writeFile(join(tmp.dir, 'air.json'), '{}'); // a checkpoint file is no lock
    await writeFile(join(tmp.dir, 'broken.run.lock'), '{"pipe'); // nor is a half-written file
    const found = await findRunLocks({ stateDir: tmp.dir, pipeline: 'air' });
    expect(found.map((l) => ({ id: l.id, pid: l.pid, alive: l.alive }))).to.deep.equal([
      { id: 'w1', pid: child.pid, alive: true },
      { id: 'w2', pid: dead, alive: false },
    ]);
    expect(found[0]!.file).to.equal(join(tmp.dir, 'air.w1.run.lock'));
    expect(await findRunLocks({ stateDir: join(tmp.dir, 'missing'), pipeline: 'air' })).to.deep.equal([]);
  });

  it('release leaves a lock that is no longer its own (replaced after it went stale)', async () => {
    const lock = await acquireRunLock({ stateDir: tmp.dir, pipeline: 'air' });
    const child = sleeper();
    children.push(child);
    await foreignLock('air', child.pid!); // someone else's lock now
    await lock.release();
    expect(JSON.parse(await readFile(lock.file, 'utf8'))).to.include({ pid: child.pid });
  });

  it('rejects an empty pipeline name or id', async () => {
    expect((await rejection(acquireRunLock({ stateDir: tmp.dir, pipeline: '' }))).message).to.match(/pipeline must be a non-empty string/);
    expect((await rejection(acquireRunLock({ stateDir: tmp.dir, pipeline: 'air', id: '' }))).message).to.match(/id must be a non-empty string/);
  });
});
