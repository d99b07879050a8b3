/**
 * Benchmark harness: medians over several runs, spread, ratios against a baseline measured in
 * the same run. Benchmarks report; they never assert a time.
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { asyncScheduler, type SchedulerAction, type SchedulerLike, type Subscription } from 'rxjs';

/** One row of a result table. */
export interface Row {
  /** What was measured. */
  scenario: string;
  /** Our figure, formatted. */
  ours: string;
  /** The baseline's figure, formatted (same run, same machine). */
  baseline: string;
  /** ours vs baseline, formatted (e.g. `120x`, `0.97x`, `+0.4 µs`). */
  ratio: string;
  /** The target, in words. */
  target: string;
  /** Whether the target was met; `undefined` when the row has no target. */
  met?: boolean;
}

/** One benchmark's result: a section of docs/performance.md. */
export interface Section {
  title: string;
  /** What is measured, against what, and how. Markdown. */
  description: string;
  rows: Row[];
  /** Notes: why a target was missed, what would close it. Markdown. */
  notes?: string;
}

/** What every benchmark receives. */
export interface BenchContext {
  /** `--quick`: a smoke run that checks every benchmark runs, with tiny sizes. */
  quick: boolean;
  log(message: string): void;
}

/** A benchmark module: `bench/<name>.bench.ts` exports `run`. */
export type Benchmark = (ctx: BenchContext) => Promise<Section | Section[]>;

export interface Stats {
  median: number;
  min: number;
  max: number;
  /** (max - min) / median, as a fraction. */
  spread: number;
  samples: number[];
}

/** Median, min, max and relative spread of samples. */
export function stats(samples: number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  const min = sorted[0]!;
  const max = sorted[sorted.length - 1]!;
  return { median, min, max, spread: median === 0 ? 0 : (max - min) / median, samples };
}

/** Percentile (nearest rank) of samples, p in [0, 100]. */
export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/**
 * Nanoseconds per call of a synchronous function: `runs` timed runs of `iterations` calls each,
 * after a warm-up; returns the stats over runs.
 */
export function nsPerCall(fn: () => void, iterations: number, runs: number): Stats {
  for (let i = 0; i < Math.min(iterations, 20_000); i++) fn();
  const samples: number[] = [];
  for (let r = 0; r < runs; r++) {
    const start = performance.now();
    for (let i = 0; i < iterations; i++) fn();
    samples.push(((performance.now() - start) * 1e6) / iterations);
  }
  return stats(samples);
}

/**
 * How a benchmark reads time: `wall` is elapsed time (`performance.now()`); `cpu` is the CPU time of
 * the process (`process.cpuUsage()`, every thread: GC helpers included), which leaves out the time the
 * process waited for a core, the main distortion on a shared, loaded machine.
 */
export type Clock = 'wall' | 'cpu';

function reader(clock: Clock): () => number {
  if (clock === 'wall') return () => performance.now() * 1e6;
  return () => {
    const u = process.cpuUsage();
    return (u.user + u.system) * 1000;
  };
}

/**
 * Interleaves the measurement of several candidates run by run (A B C, A B C, …) so that a
 * machine that slows down mid-run affects all of them alike. Returns ns per call.
 */
export function nsPerCallInterleaved(fns: Record<string, () => void>, iterations: number, runs: number, clock: Clock = 'wall'): Record<string, Stats> {
  const read = reader(clock);
  const names = Object.keys(fns);
  for (const n of names) for (let i = 0; i < Math.min(iterations, 20_000); i++) fns[n]!();
  const samples: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let r = 0; r < runs; r++) {
    for (const n of names) {
      const fn = fns[n]!;
      const start = read();
      for (let i = 0; i < iterations; i++) fn();
      samples[n]!.push((read() - start) / iterations);
    }
  }
  return Object.fromEntries(names.map((n) => [n, stats(samples[n]!)]));
}

/**
 * Nanoseconds per call of an asynchronous function (awaited one after the other), like
 * {@link nsPerCall}.
 */
export async function nsPerCallAsync(fn: () => Promise<unknown>, iterations: number, runs: number, clock: Clock = 'wall'): Promise<Stats> {
  const read = reader(clock);
  for (let i = 0; i < Math.min(iterations, 20_000); i++) await fn();
  const samples: number[] = [];
  for (let r = 0; r < runs; r++) {
    const start = read();
    for (let i = 0; i < iterations; i++) await fn();
    samples.push((read() - start) / iterations);
  }
  return stats(samples);
}

/** Runs an asynchronous measurement `runs` times and returns the stats of what it returned. */
export async function repeat(runs: number, measure: (run: number) => Promise<number>): Promise<Stats> {
  const samples: number[] = [];
  for (let r = 0; r < runs; r++) samples.push(await measure(r));
  return stats(samples);
}

/**
 * A clock that runs `scale` times faster than the wall clock, for scenarios whose real durations
 * (seconds of backoff, hours between cycles) would take minutes: every operator given this
 * scheduler sees "seed-world" milliseconds (`now()`, delays, Retry-After), while timers fire after
 * `delay / scale` real milliseconds. `skip(ms)` jumps the clock forward (an hour between two
 * cycles) without waiting. Stub-server latencies must be given in real ms, i.e. divided by `scale`.
 */
export class ScaledScheduler implements SchedulerLike {
  private readonly origin = performance.now();
  private skipped = 0;

  constructor(readonly scale: number) {}

  now(): number {
    return (performance.now() - this.origin) * this.scale + this.skipped;
  }

  schedule<T>(work: (this: SchedulerAction<T>, state: T) => void, delay = 0, state?: T): Subscription {
    return asyncScheduler.schedule(work as (this: SchedulerAction<T>, state?: T) => void, delay / this.scale, state);
  }

  /** Moves the clock forward by `ms` (seed-world) without waiting. */
  skip(ms: number): void {
    this.skipped += ms;
  }

  /** Resolves after `ms` seed-world milliseconds. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms / this.scale));
  }
}

/** A small seeded random generator (mulberry32), so that fault patterns repeat run to run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Formats a number with a unit and sensible precision. */
export function fmt(value: number, unit: string, digits = 3): string {
  if (!Number.isFinite(value)) return `${value}`;
  const abs = Math.abs(value);
  const s = abs >= 100 ? value.toFixed(0) : abs >= 10 ? value.toFixed(1) : value.toPrecision(digits);
  return unit ? `${s} ${unit}` : s;
}

/** `median (min–max)` of stats in a unit. */
export function fmtStats(s: Stats, unit: string, scale = 1): string {
  return `${fmt(s.median * scale, unit)} (${fmt(s.min * scale, '')}–${fmt(s.max * scale, '')})`;
}

/** A ratio such as `18.8x`. */
export function fmtRatio(r: number): string {
  if (!Number.isFinite(r)) return '∞';
  return r >= 100 ? `${r.toFixed(0)}x` : r >= 10 ? `${r.toFixed(1)}x` : `${r.toFixed(2)}x`;
}

/** Milliseconds as `850 ms` or `12.3 s`. */
export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return `${ms}`;
  if (Math.abs(ms) < 1) return `${(ms * 1000).toPrecision(3)} µs`;
  return Math.abs(ms) < 1000 ? fmt(ms, 'ms') : fmt(ms / 1000, 's');
}

/** `median (min–max)` of stats in milliseconds, each formatted with {@link fmtMs}. */
export function fmtMsStats(s: Stats): string {
  return `${fmtMs(s.median)} (${fmtMs(s.min)}–${fmtMs(s.max)})`;
}

/** A share as a percentage, e.g. `1.4 %`. */
export function fmtPct(fraction: number): string {
  return `${(fraction * 100).toFixed(fraction < 0.1 ? 1 : 0)} %`;
}

/** The machine the figures come from. */
export function machine(): Record<string, string> {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: String(cpus.length),
    memory: `${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    node: process.version,
    os: `${os.type()} ${os.release()}`,
  };
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
