import { CronExpressionParser } from 'cron-parser';
import type { Schedule } from '../types.js';
import { formatDuration } from '../config/durations.js';

/** A polling schedule (what a backfill switches to when its window is done). */
export type PollingSchedule = Extract<Schedule, { kind: 'every' | 'cron' | 'once' }>;

/**
 * Sleeps `ms` milliseconds; resolves early (without error) when `signal` aborts. Uses the global
 * `setTimeout`, so sinon fake timers control it in tests.
 *
 * @example
 * ```ts
 * import { sleep } from '@tributary/core';
 * await sleep(1000, AbortSignal.timeout(100)); // returns after 100 ms
 * ```
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted || ms <= 0) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * The next time (epoch ms) a cron expression fires strictly after `after`.
 *
 * Expressions have 5 fields (minute precision) or 6 (with seconds first), as cron-parser reads them;
 * `@hourly` and friends work too. `timezone` is an IANA zone name (default: the machine's zone).
 *
 * @example
 * ```ts
 * import { nextCronTime } from '@tributary/core';
 * new Date(nextCronTime('0 * * * *', 'UTC', Date.UTC(2025, 0, 1, 10, 30))).toISOString(); // 2025-01-01T11:00:00.000Z
 * ```
 */
export function nextCronTime(expression: string, timezone: string | undefined, after: number): number {
  const parsed = CronExpressionParser.parse(expression, timezone ? { currentDate: new Date(after), tz: timezone } : { currentDate: new Date(after) });
  return parsed.next().getTime();
}

/** Options of {@link runPolling}. */
export interface PollingOptions {
  /** Stops scheduling: no cycle starts after it aborts (the running one is not interrupted here). */
  signal: AbortSignal;
  /** Run one cycle and return, whatever the schedule. Default `false`. */
  once?: boolean;
  /** Randomness in [0, 1) for `jitterMs`. Default `Math.random`. */
  random?: () => number;
  /** Number of the first cycle. Default `1`. */
  firstCycle?: number;
}

/**
 * Runs cycles on a polling schedule until `signal` aborts. Cycles never overlap.
 *
 * - `every`: the first cycle starts at once; each next one is planned `intervalMs` (plus a random
 *   jitter in `[0, jitterMs)`) after the previous one STARTED. A cycle that takes longer than its
 *   interval delays the next one, which then starts as soon as it ends: runs never pile up.
 * - `cron`: each cycle starts at the next time the expression fires after the previous cycle
 *   ended (fire times missed while a cycle ran are skipped, not caught up).
 * - `once`: one cycle.
 *
 * `runCycle` must not throw (a throw ends the loop with that error). Resolves with the number of
 * cycles run. Options: `signal` (required), `once` (default `false`), `random` (default
 * `Math.random`), `firstCycle` (default `1`).
 *
 * @example
 * ```ts
 * import { runPolling } from '@tributary/core';
 * const stop = new AbortController();
 * await runPolling({ kind: 'every', intervalMs: 60_000 }, async (n) => console.log('cycle', n), { signal: stop.signal });
 * ```
 */
export async function runPolling(schedule: PollingSchedule, runCycle: (cycle: number) => Promise<void>, options: PollingOptions): Promise<number> {
  const { signal } = options;
  const random = options.random ?? Math.random;
  let cycle = (options.firstCycle ?? 1) - 1;
  let count = 0;
  if (schedule.kind === 'cron') {
    // Fail early on a bad expression.
    nextCronTime(schedule.expression, schedule.timezone, Date.now());
  }
  while (!signal.aborted) {
    let plannedNext: number | undefined;
    if (schedule.kind === 'cron') {
      const at = nextCronTime(schedule.expression, schedule.timezone, Date.now());
      await sleep(at - Date.now(), signal);
      if (signal.aborted) break;
    }
    const started = Date.now();
    if (schedule.kind === 'every') {
      const jitter = schedule.jitterMs ? Math.floor(random() * schedule.jitterMs) : 0;
      plannedNext = started + schedule.intervalMs + jitter;
    }
    cycle += 1;
    count += 1;
    await runCycle(cycle);
    if (options.once || schedule.kind === 'once') break;
    if (plannedNext !== undefined) await sleep(plannedNext - Date.now(), signal);
  }
  return count;
}

/** One backfill chunk: `[start, end)` in epoch ms. */
export interface Chunk {
  start: number;
  end: number;
}

/**
 * Splits `[from, to)` into chunks of `chunkMs` (the last one may be shorter).
 *
 * @example
 * ```ts
 * import { backfillChunks } from '@tributary/core';
 * backfillChunks(0, 25, 10); // [{start:0,end:10},{start:10,end:20},{start:20,end:25}]
 * ```
 */
export function backfillChunks(from: number, to: number, chunkMs: number): Chunk[] {
  if (!Number.isFinite(from) || !Number.isFinite(to)) throw new RangeError(`backfill window must be finite, got [${from}, ${to})`);
  if (!(chunkMs > 0)) throw new RangeError(`backfill chunkMs must be > 0, got ${chunkMs}`);
  const chunks: Chunk[] = [];
  for (let start = from; start < to; start += chunkMs) chunks.push({ start, end: Math.min(to, start + chunkMs) });
  return chunks;
}

/**
 * The id of a chunk in a checkpoint: `"<start>-<end>"`.
 *
 * @example
 * ```ts
 * import { chunkId } from '@tributary/core';
 * chunkId({ start: 0, end: 10 }); // '0-10'
 * ```
 */
export function chunkId(chunk: Chunk): string {
  return `${chunk.start}-${chunk.end}`;
}

/** Options of {@link runChunks}. */
export interface RunChunksOptions {
  /** Chunks to run, in order. */
  chunks: readonly Chunk[];
  /** How many run at once (≥ 1). */
  concurrency: number;
  /** Stops starting chunks (running ones finish). */
  signal: AbortSignal;
  /** Runs one chunk; resolves `true` when it succeeded. Must not throw. */
  runChunk: (chunk: Chunk, index: number) => Promise<boolean>;
}

/**
 * Runs backfill chunks with at most `concurrency` at a time, in order of their start.
 * Resolves with the chunks that succeeded, those that failed, and those not started because
 * `signal` aborted (`skipped`).
 *
 * @example
 * ```ts
 * import { backfillChunks, runChunks } from '@tributary/core';
 * const { failed } = await runChunks({
 *   chunks: backfillChunks(Date.UTC(2024, 0, 1), Date.UTC(2024, 6, 1), 30 * 86_400_000),
 *   concurrency: 3,
 *   signal: new AbortController().signal,
 *   runChunk: async (chunk) => (await load(chunk.start, chunk.end), true),
 * });
 * ```
 */
export async function runChunks(options: RunChunksOptions): Promise<{ succeeded: Chunk[]; failed: Chunk[]; skipped: Chunk[] }> {
  const { chunks, signal, runChunk } = options;
  const concurrency = Math.max(1, Math.floor(options.concurrency));
  const succeeded: Chunk[] = [];
  const failed: Chunk[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (!signal.aborted && next < chunks.length) {
      const index = next++;
      const chunk = chunks[index]!;
      if (await runChunk(chunk, index)) succeeded.push(chunk);
      else failed.push(chunk);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, chunks.length) }, worker));
  return { succeeded, failed, skipped: chunks.slice(next) };
}

/**
 * @internal A schedule in a few words, for the status page: `every 5m`, `cron 0 * * * * (Europe/Amsterdam)`,
 * `once`, `backfill 2024-01-01 → now, 1d chunks ×2, then every 1h`.
 */
export function describeSchedule(schedule: Schedule): string {
  switch (schedule.kind) {
    case 'every':
      return `every ${formatDuration(schedule.intervalMs)}${schedule.jitterMs ? ` (+ up to ${formatDuration(schedule.jitterMs)})` : ''}`;
    case 'cron':
      return `cron ${schedule.expression}${schedule.timezone ? ` (${schedule.timezone})` : ''}`;
    case 'once':
      return 'once';
    case 'backfill': {
      const day = (ms: number): string => new Date(ms).toISOString().replace('T00:00:00.000Z', '').replace('.000Z', 'Z');
      const window = `backfill ${day(schedule.from)} → ${schedule.to === undefined ? 'now' : day(schedule.to)}, ${formatDuration(schedule.chunkMs)} chunks${schedule.concurrency > 1 ? ` ×${schedule.concurrency}` : ''}`;
      return schedule.then ? `${window}, then ${describeSchedule(schedule.then)}` : window;
    }
  }
}
