/**
 * @internal The token bucket behind the stub server's `rateLimit` option.
 */

/**
 * A token-bucket rate limit of the stub server: `perSecond` requests per second on average,
 * bursts of up to `burst`. The bucket starts full; beyond it the stub answers 429 with
 * `Retry-After` (whole seconds until the next token, at least 1).
 *
 * @example
 * ```ts
 * import { startStubServer } from '@tributary/core';
 * // EIA's backfill limit: 5000 requests an hour, about 1.39 per second, no bursts.
 * const stub = await startStubServer({ rateLimit: { perSecond: 1.39, burst: 1 }, routes: [] });
 * ```
 */
export interface StubRateLimit {
  /** Tokens added per second (may be fractional, e.g. 1.39). Must be > 0. */
  perSecond: number;
  /** Bucket size: how many requests may arrive back to back. Default: `max(1, floor(perSecond))`. */
  burst?: number;
}

/** @internal A token bucket; starts full. `take()` returns 0 when a token was taken, else ms until one is due. */
export class TokenBucket {
  private readonly rate: number;
  private readonly burst: number;
  private tokens: number;
  private last: number;

  constructor(limit: StubRateLimit, now: number) {
    if (!(limit.perSecond > 0) || !Number.isFinite(limit.perSecond)) {
      throw new RangeError(`stub server: rateLimit.perSecond must be a positive number, got ${String(limit.perSecond)}`);
    }
    const burst = limit.burst ?? Math.max(1, Math.floor(limit.perSecond));
    if (!(burst >= 1) || !Number.isFinite(burst)) {
      throw new RangeError(`stub server: rateLimit.burst must be a number >= 1, got ${String(limit.burst)}`);
    }
    this.rate = limit.perSecond / 1000;
    this.burst = burst;
    this.tokens = burst;
    this.last = now;
  }

  take(now: number): number {
    this.tokens = Math.min(this.burst, this.tokens + (now - this.last) * this.rate);
    this.last = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return (1 - this.tokens) / this.rate;
  }
}
