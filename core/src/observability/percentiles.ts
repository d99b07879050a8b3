import { ConfigError } from '../errors/ConfigError.js';

/**
 * Percentiles by name: `{ p50, p95, p99 }` for the default `[50, 95, 99]`.
 *
 * @example
 * ```ts
 * import { percentiles, type Percentiles } from '@tributary/core';
 *
 * const { p99 }: Percentiles = percentiles(durations);
 * ```
 */
export type Percentiles = Record<`p${number}`, number>;

/**
 * What {@link DurationRecorder.summary} reports: count, min, max and mean, plus one `pN` per
 * requested percentile.
 *
 * @example
 * ```ts
 * import { DurationRecorder, type DurationSummary } from '@tributary/core';
 *
 * const summary: DurationSummary = new DurationRecorder().summary();
 * console.log(`${summary.count} calls, p95 ${summary.p95} ms`);
 * ```
 */
export type DurationSummary = {
  /** Durations recorded since creation or the last reset (all of them, not only the sampled ones). */
  count: number;
  /** Shortest duration recorded (exact); `NaN` when none. */
  min: number;
  /** Longest duration recorded (exact); `NaN` when none. */
  max: number;
  /** Mean of all durations recorded (exact); `NaN` when none. */
  mean: number;
} & Percentiles;

const DEFAULT_PS: readonly number[] = [50, 95, 99];

/**
 * Computes percentiles of a list of durations (or any numbers) by the nearest-rank method.
 *
 * The p-th percentile is the smallest value such that at least p % of the values are less than or
 * equal to it; it is always one of the values. `p0` is the minimum, `p100` the maximum. With no
 * values every percentile is `NaN`. The input is not modified.
 *
 * @param durations The values, in any order.
 * @param ps Percentiles to compute, each between 0 and 100. Default `[50, 95, 99]`.
 * @returns An object keyed `p50`, `p95`, `p99` (or `p99.9` etc. for the `ps` given).
 * @example
 * ```ts
 * import { percentiles } from '@tributary/core';
 *
 * percentiles([120, 80, 3000, 95, 110]); // { p50: 110, p95: 3000, p99: 3000 }
 * ```
 */
export function percentiles(durations: readonly number[], ps: readonly number[] = DEFAULT_PS): Percentiles {
  checkPs(ps);
  const sorted = Float64Array.from(durations).sort();
  return fromSorted(sorted, ps);
}

/**
 * Options of {@link DurationRecorder}.
 *
 * @example
 * ```ts
 * import { DurationRecorder, type DurationRecorderOptions } from '@tributary/core';
 *
 * const options: DurationRecorderOptions = { capacity: 4096 };
 * const recorder = new DurationRecorder(options);
 * ```
 */
export interface DurationRecorderOptions {
  /**
   * Most durations kept for percentiles. Up to this many, percentiles are exact; beyond, they come
   * from a uniform random sample of this size (reservoir sampling). Default `1024`.
   */
  capacity?: number;
  /** Source of randomness in [0, 1) for the sample. Default `Math.random`. */
  random?: () => number;
}

/**
 * Collects durations in bounded memory and reports count, min, max, mean and p50/p95/p99.
 *
 * Count, min, max and mean are exact over everything recorded. Percentiles are computed from a
 * reservoir of at most `capacity` durations: exact until that many have been recorded, then a
 * uniform random sample of all of them, so memory stays constant however long a run lasts. Give it
 * to `timed({ recorder })` to feed it with every timed operation.
 *
 * @example
 * ```ts
 * import { DurationRecorder, timed } from '@tributary/core';
 *
 * const recorder = new DurationRecorder();
 * fetchPrices().pipe(timed({ name: 'entsoe.prices', recorder })).subscribe();
 * // later, in the run summary:
 * const { count, p50, p95, p99 } = recorder.summary();
 * ```
 */
export class DurationRecorder {
  readonly #capacity: number;
  readonly #random: () => number;
  readonly #sample: number[] = [];
  #count = 0;
  #sum = 0;
  #min = Infinity;
  #max = -Infinity;

  constructor(options: DurationRecorderOptions = {}) {
    const { capacity = 1024, random = Math.random } = options;
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new ConfigError(undefined, [{ path: 'DurationRecorder.capacity', message: `must be a positive integer, got ${String(capacity)}` }]);
    }
    if (typeof random !== 'function') {
      throw new ConfigError(undefined, [{ path: 'DurationRecorder.random', message: `must be a function, got ${typeof random}` }]);
    }
    this.#capacity = capacity;
    this.#random = random;
  }

  /** Records one duration (milliseconds, or any unit used consistently). Non-finite values are ignored. */
  record(duration: number): void {
    if (!Number.isFinite(duration)) return;
    this.#count++;
    this.#sum += duration;
    if (duration < this.#min) this.#min = duration;
    if (duration > this.#max) this.#max = duration;
    if (this.#sample.length < this.#capacity) {
      this.#sample.push(duration);
      return;
    }
    const slot = Math.floor(this.#random() * this.#count);
    if (slot < this.#capacity) this.#sample[slot] = duration;
  }

  /** Number of durations recorded since creation or the last {@link DurationRecorder.reset}. */
  get count(): number {
    return this.#count;
  }

  /**
   * Count, min, max and mean, plus the requested percentiles (nearest rank, see {@link percentiles}).
   * @param ps Percentiles to report, each between 0 and 100. Default `[50, 95, 99]`.
   */
  summary(ps: readonly number[] = DEFAULT_PS): DurationSummary {
    checkPs(ps);
    const empty = this.#count === 0;
    const result = {
      count: this.#count,
      min: empty ? NaN : this.#min,
      max: empty ? NaN : this.#max,
      mean: empty ? NaN : this.#sum / this.#count,
    } as DurationSummary;
    return Object.assign(result, fromSorted(Float64Array.from(this.#sample).sort(), ps));
  }

  /** Forgets everything recorded. */
  reset(): void {
    this.#sample.length = 0;
    this.#count = 0;
    this.#sum = 0;
    this.#min = Infinity;
    this.#max = -Infinity;
  }
}

function checkPs(ps: readonly number[]): void {
  if (!Array.isArray(ps)) throw new TypeError('percentiles: ps must be an array of numbers between 0 and 100');
  for (const p of ps) {
    if (typeof p !== 'number' || !(p >= 0 && p <= 100)) {
      throw new RangeError(`percentiles: each percentile must be a number between 0 and 100, got ${String(p)}`);
    }
  }
}

function fromSorted(sorted: Float64Array, ps: readonly number[]): Percentiles {
  const out: Percentiles = {};
  const n = sorted.length;
  for (const p of ps) {
    if (n === 0) {
      out[`p${p}`] = NaN;
      continue;
    }
    const rank = Math.ceil((p / 100) * n);
    out[`p${p}`] = sorted[Math.min(n - 1, Math.max(0, rank - 1))]!;
  }
  return out;
}
