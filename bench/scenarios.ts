/**
 * Helpers shared by the seed scenarios (bench/seeds-*.bench.ts): run an Observable to the end,
 * time things on a clock, and the figures the seeds published.
 */
import { lastValueFrom, toArray, type Observable } from 'rxjs';

/** All values of a cold Observable, once it completes. */
export function drain<T>(source: Observable<T>): Promise<T[]> {
  return lastValueFrom(source.pipe(toArray()));
}

/** Runs `fn`, returning how long it took on `clock` and whether it failed. */
export async function timeOn<T>(clock: { now(): number }, fn: () => Promise<T>): Promise<{ ms: number; value?: T; error?: unknown }> {
  const start = clock.now();
  try {
    const value = await fn();
    return { ms: clock.now() - start, value };
  } catch (error) {
    return { ms: clock.now() - start, error };
  }
}

/** Runs `tasks` with at most `concurrency` of them at a time; resolves when all have settled. */
export async function pool(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

/** The figures the seeds (shared/seeds) published, quoted where they are compared. */
export const SEED = {
  /** 000: Luchtmeetnet station cache, first (cache miss) vs second (cache hit) collection. */
  stationCache: { coldS: 3.34, warmS: 0.18, speedup: 18.8 },
  /** 000: circuit breaker arithmetic: 3 attempts × ~1.5 s per failing API per hourly collection. */
  deadApi: { perCycleS: 4.5, breakerPerDayS: 11.25 },
  /** 002: EIA rate limit and the fixed delays before and after their optimization. */
  eia: { perSecond: 1.39, delayBeforeS: 0.72, delayAfterS: 0.3, recordsPerSecond: 326.8, records: 7349, requests: 8 },
  /** 001: p99 of fetch cycles before, and the target. */
  tail: { p99BeforeS: 78.67, p99TargetS: 45, slowShare: 0.018 },
} as const;
