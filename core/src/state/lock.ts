/**
 * The run lock: a small file in the state directory that says a runner of a pipeline is alive
 * here, so that commands which must not run beside it (`tributary offsets --reset/--set`) can tell,
 * even when the runner serves no metrics endpoint.
 */
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import { mkdir, open, readdir, readFile, rm } from 'node:fs/promises';
import type { Logger } from 'pino';
import { NonRetriableError } from '../errors/TributaryError.js';

/** Error code of {@link acquireRunLock} when a live runner holds the lock. */
export const RUN_LOCKED = 'ERR_RUN_LOCKED';

const SUFFIX = '.run.lock';

/** What a run lock file holds (JSON). */
export interface RunLockInfo {
  /** The pipeline's name. */
  pipeline: string;
  /** The worker id, for a worker process of the pipeline; absent for a plain runner. */
  id?: string;
  /** Process id of the runner. */
  pid: number;
  /** Host the runner runs on (`os.hostname()`). */
  hostname: string;
  /** When the lock was taken (ISO 8601). */
  startedAt: string;
  /** Anything else the runner wants others to know, e.g. `{ metricsUrl }`. */
  info?: Record<string, unknown>;
}

/** A run lock found by {@link findRunLocks}. */
export interface FoundRunLock extends RunLockInfo {
  /** The lock file. */
  file: string;
  /** `true`: its process runs on this host; `false`: its process is gone; `'unknown'`: it is on another host. */
  alive: boolean | 'unknown';
}

/** A run lock held by this process. */
export interface RunLock {
  /** The lock file. */
  readonly file: string;
  /** What the file holds. */
  readonly holder: RunLockInfo;
  /** Removes the lock file. Idempotent; a file already gone is fine. */
  release(): Promise<void>;
}

/** Options of {@link acquireRunLock}. */
export interface AcquireRunLockOptions {
  /** The state directory (created when missing). */
  stateDir: string;
  /** The pipeline's name. */
  pipeline: string;
  /** A worker id: workers of one pipeline with different ids each hold their own lock. Default: none (a plain runner). */
  id?: string;
  /** Extra facts to write into the lock, e.g. `{ metricsUrl }`. Default: none. */
  info?: Record<string, unknown>;
  /** Logs the replacement of a stale lock (warn). Default: none. */
  logger?: Pick<Logger, 'warn'>;
  /** @internal The process id to write. Default: `process.pid`. */
  pid?: number;
  /** @internal The host name to write. Default: `os.hostname()`. */
  hostname?: string;
}

/** The lock file of a pipeline (and worker id) in a state directory: `<stateDir>/<pipeline>[.<id>].run.lock`. */
export function runLockFile(stateDir: string, pipeline: string, id?: string): string {
  const safe = (s: string): string => s.replace(/[^A-Za-z0-9._-]/g, '_');
  return join(stateDir, `${safe(pipeline)}${id === undefined ? '' : `.${safe(id)}`}${SUFFIX}`);
}

/**
 * Takes the run lock of a pipeline, so that others can see a runner is alive.
 *
 * Creates `<stateDir>/<pipeline>[.<id>].run.lock` exclusively, holding the runner's pid, host,
 * start time and `info` as JSON. A lock left by a process that is gone (its pid is dead on this
 * host) is stale: it is replaced, with a warning. A lock of a live runner, or of a runner on
 * another host (which cannot be checked from here), makes it throw a `NonRetriableError` with
 * code `ERR_RUN_LOCKED` that names the holder's pid and host. Workers (`id`) of one pipeline do
 * not conflict with each other, only with a runner of the same id or a plain runner (no `id`); a
 * plain runner conflicts with every live lock of its pipeline.
 *
 * @example
 * ```ts
 * import { acquireRunLock } from '@tributary/core';
 * const lock = await acquireRunLock({ stateDir: '.tributary/state', pipeline: 'air-quality', info: { metricsUrl: 'http://127.0.0.1:9464' } });
 * try {
 *   // run the pipeline
 * } finally {
 *   await lock.release();
 * }
 * ```
 */
export async function acquireRunLock(options: AcquireRunLockOptions): Promise<RunLock> {
  const { stateDir, pipeline, id } = options;
  if (typeof pipeline !== 'string' || pipeline === '') throw new NonRetriableError('acquireRunLock: pipeline must be a non-empty string', { code: 'ERR_INVALID_REQUEST' });
  if (id !== undefined && (typeof id !== 'string' || id === '')) throw new NonRetriableError('acquireRunLock: id must be a non-empty string when given', { code: 'ERR_INVALID_REQUEST' });
  await mkdir(stateDir, { recursive: true });
  const file = runLockFile(stateDir, pipeline, id);
  const holder: RunLockInfo = {
    pipeline,
    ...(id !== undefined ? { id } : {}),
    pid: options.pid ?? process.pid,
    hostname: options.hostname ?? osHostname(),
    startedAt: new Date().toISOString(),
    ...(options.info ? { info: options.info } : {}),
  };
  const conflicting = (l: FoundRunLock): boolean => l.file !== file && l.alive !== false && (id === undefined || l.id === undefined || l.id === id);

  // other locks of the pipeline that rule this one out (a plain runner beside workers, or the reverse)
  const before = (await findRunLocks({ stateDir, pipeline })).find(conflicting);
  if (before) throw lockedError(before, stateDir);

  for (let attempt = 0; ; attempt++) {
    try {
      const handle = await open(file, 'wx');
      try {
        await handle.writeFile(JSON.stringify(holder, null, 2) + '\n');
        await handle.sync();
      } finally {
        await handle.close();
      }
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 3) throw err;
    }
    const existing = await readLock(file);
    if (!existing) continue; // released or half-written meanwhile: try again
    if (existing.alive !== false) throw lockedError(existing, stateDir);
    options.logger?.warn(
      { lock: file, pid: existing.pid, hostname: existing.hostname, startedAt: existing.startedAt },
      `replacing a stale run lock of pipeline "${pipeline}": process ${existing.pid} is gone`,
    );
    await rm(file, { force: true });
  }

  // a conflicting lock taken at the same moment by another process: the later one gives way
  const after = (await findRunLocks({ stateDir, pipeline })).find(conflicting);
  if (after) {
    await rm(file, { force: true });
    throw lockedError(after, stateDir);
  }

  let released = false;
  return {
    file,
    holder,
    async release() {
      if (released) return;
      released = true;
      // only remove the file if it is still ours (a stale-lock replacement by someone else is theirs)
      const current = await readLock(file);
      if (current && (current.pid !== holder.pid || current.hostname !== holder.hostname || current.startedAt !== holder.startedAt)) return;
      await rm(file, { force: true });
    },
  };
}

/** Options of {@link findRunLocks}. */
export interface FindRunLocksOptions {
  /** The state directory. */
  stateDir: string;
  /** The pipeline's name. */
  pipeline: string;
}

/**
 * Lists the run locks of a pipeline in a state directory (every worker id), with whether each
 * holder is alive.
 *
 * `alive` is `true` when the holder's process runs on this host, `false` when it is gone (a stale
 * lock, e.g. after `kill -9`), and `'unknown'` for a holder on another host. A missing state
 * directory means no locks.
 *
 * @example
 * ```ts
 * import { findRunLocks } from '@tributary/core';
 * const running = (await findRunLocks({ stateDir: '.tributary/state', pipeline: 'air-quality' })).filter((l) => l.alive !== false);
 * ```
 */
export async function findRunLocks(options: FindRunLocksOptions): Promise<FoundRunLock[]> {
  let names: string[];
  try {
    names = await readdir(options.stateDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const found: FoundRunLock[] = [];
  for (const name of names.filter((n) => n.endsWith(SUFFIX)).sort()) {
    const lock = await readLock(join(options.stateDir, name));
    if (lock && lock.pipeline === options.pipeline) found.push(lock);
  }
  return found;
}

/** Reads a lock file; `undefined` when it is gone or not (yet) a whole lock. */
async function readLock(file: string): Promise<FoundRunLock | undefined> {
  let parsed: Partial<RunLockInfo>;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8')) as Partial<RunLockInfo>;
  } catch {
    return undefined;
  }
  if (typeof parsed?.pipeline !== 'string' || typeof parsed.pid !== 'number' || typeof parsed.hostname !== 'string') return undefined;
  const lock = { ...(parsed as RunLockInfo), file };
  return { ...lock, alive: parsed.hostname === osHostname() ? processAlive(parsed.pid) : 'unknown' };
}

/** Whether a process with this pid exists on this host (signal 0 checks without sending anything). */
function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function lockedError(lock: FoundRunLock, stateDir: string): NonRetriableError {
  const who = lock.id === undefined ? 'a runner' : `worker "${lock.id}"`;
  const where = lock.alive === 'unknown' ? `on host ${lock.hostname} (another host: cannot tell whether it still runs)` : `on this host (${lock.hostname})`;
  return new NonRetriableError(
    `pipeline "${lock.pipeline}" is already run by ${who}: process ${lock.pid} ${where}, since ${lock.startedAt} (lock ${lock.file}). ` +
      `Stop it first, or remove the lock file if that process is gone; state directory ${stateDir}`,
    { code: RUN_LOCKED },
  );
}
