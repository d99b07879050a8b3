import { BehaviorSubject, asyncScheduler, type MonoTypeOperatorFunction, type Observable, type SchedulerLike, type Subscriber, type Subscription, type TeardownLogic } from 'rxjs';
import type { Counter, Gauge, Registry } from 'prom-client';
import { isCircuitOpenError } from '../errors/CircuitOpenError.js';
import { isClientError, retryAfterOf, statusOf } from '../errors/HttpError.js';
import { NonRetriableError } from '../errors/TributaryError.js';
import { gauge, counter } from '../observability/metrics.js';
import { forward, operate, reportUnhandled } from './internal/operate.js';
import { check, nonNegativeMs, optionError, positiveInt } from './internal/options.js';

/**
 * How an {@link AdaptiveThrottle} reads a failed call.
 *
 * - `'rate-limit'`: the server asked us to slow down: the delay is multiplied by `rateLimitFactor`.
 * - `'error'`: another failure that may mean load: the delay is multiplied by `errorFactor`.
 * - `'ignore'`: says nothing about the server's load: the delay and the success streak stay as they are.
 *
 * @example
 * ```ts
 * import { AdaptiveThrottle, type ThrottleOutcome } from '@tributary/core';
 * const throttle = new AdaptiveThrottle({
 *   name: 'coingecko',
 *   classify: (err): ThrottleOutcome => ((err as { code?: string }).code === 'QUOTA' ? 'rate-limit' : 'error'),
 * });
 * ```
 */
export type ThrottleOutcome = 'rate-limit' | 'error' | 'ignore';

/**
 * A point-in-time view of an {@link AdaptiveThrottle}, returned by `throttle.stats()`.
 *
 * @example
 * ```ts
 * import { AdaptiveThrottle } from '@tributary/core';
 * const throttle = new AdaptiveThrottle({ name: 'api' });
 * const { delay, queued, running, rateLimited } = throttle.stats();
 * ```
 */
export interface AdaptiveThrottleStats {
  readonly name: string;
  /** Current spacing between starts, in ms. */
  readonly delay: number;
  /** Calls waiting for their turn. */
  readonly queued: number;
  /** Calls started and not finished. */
  readonly running: number;
  /** Calls that completed. */
  readonly successes: number;
  /** Calls that failed with an error read as `'error'`. */
  readonly errors: number;
  /** Calls that failed with an error read as `'rate-limit'`. */
  readonly rateLimited: number;
  /** Calls that failed with an error read as `'ignore'` (client errors, open circuits). */
  readonly ignored: number;
  /** Calls unsubscribed while running (queued calls that were unsubscribed are not counted). */
  readonly cancelled: number;
  /** Successes since the last speed-up or slow-down. */
  readonly consecutiveSuccesses: number;
  /** No call starts before this moment (from the last Retry-After), or `undefined`. */
  readonly blockedUntil: number | undefined;
  /** Earliest moment the next call may start as far as spacing and Retry-After go (a free slot aside). */
  readonly nextStartAt: number;
}

/**
 * Options of {@link AdaptiveThrottle} (and of `adaptiveThrottle(options)`). All times in ms.
 *
 * @example
 * ```ts
 * import { AdaptiveThrottle } from '@tributary/core';
 * const throttle = new AdaptiveThrottle({
 *   name: 'newsapi', initialDelay: 1_000, minDelay: 200, maxDelay: 30_000, maxConcurrent: 2,
 * });
 * ```
 */
export interface AdaptiveThrottleOptions {
  /** Name used in metric labels and errors. Required; keep it unique per registry. */
  name: string;
  /** Spacing between call starts to begin with. Default `1000` (moved into [minDelay, maxDelay] if outside). */
  initialDelay?: number;
  /** Lowest the delay can go. Default `0`. */
  minDelay?: number;
  /** Highest the delay can go. Default `60_000`. */
  maxDelay?: number;
  /** Consecutive successes after which the delay is multiplied by `speedUpFactor`. Default `10`. */
  speedUpAfter?: number;
  /** Factor (in (0, 1]) applied to the delay after `speedUpAfter` successes. Default `0.9`. */
  speedUpFactor?: number;
  /** Factor (>= 1) applied to the delay after a rate-limit error (HTTP 429, or 503 with Retry-After). Default `2`. */
  rateLimitFactor?: number;
  /** Factor (>= 1) applied to the delay after any other counted error. Default `1.5`. */
  errorFactor?: number;
  /** Calls allowed to run at the same time (`Infinity` for no limit). Default `1`. */
  maxConcurrent?: number;
  /** Cap on a Retry-After wait; longer values (absurd dates, misread units) are cut to it. Default `600_000` (10 min). */
  maxRetryAfter?: number;
  /**
   * Reads a failed call's error. Default: HTTP 429, and 503 with a Retry-After, are `'rate-limit'`;
   * HTTP 4xx client errors (other than 408, 425, 429) and `CircuitOpenError` are `'ignore'` (they are
   * not the server's load); everything else is `'error'`. Status and Retry-After are read with
   * `statusOf`/`retryAfterOf`, so errors of any HTTP client work. If it throws or returns something
   * else, the error counts as `'error'` and the exception is reported as a process warning.
   */
  classify?: (err: unknown) => ThrottleOutcome;
  /** Clock and timers. Default `asyncScheduler`. */
  scheduler?: SchedulerLike;
  /**
   * prom-client registry. When given, the throttle maintains `tributary_throttle_delay_seconds{throttle}`,
   * `tributary_throttle_rate_limited_total{throttle}` and `tributary_throttle_queue_length{throttle}`.
   * Default: no metrics.
   */
  registry?: Registry;
}

/** @internal A subscription waiting for its turn. */
interface Waiting {
  readonly source: Observable<unknown>;
  readonly subscriber: Subscriber<unknown>;
  teardown: (() => void) | undefined;
  cancelled: boolean;
}

const THROTTLE_BRAND = Symbol.for('tributary.adaptive-throttle');

/** A slow-down from a delay under 1 ms starts from this many ms (so that a 429 at delay 0 slows down). */
const SLOWDOWN_BASE_MS = 100;

function defaultClassify(err: unknown): ThrottleOutcome {
  const status = statusOf(err);
  if (status === 429) return 'rate-limit';
  if (status === 503 && retryAfterOf(err) !== undefined) return 'rate-limit';
  if (isClientError(err) || isCircuitOpenError(err)) return 'ignore';
  return 'error';
}

/**
 * An adaptive throttle: spaces calls to one service and learns how fast it may go. The state that
 * many calls share; apply it with the {@link adaptiveThrottle} operator.
 *
 * Calls through one throttle start at least `delay` ms apart and at most `maxConcurrent` run at
 * once; calls that cannot start yet wait in a first-in-first-out queue. Every `speedUpAfter`
 * consecutive successes multiply the delay by `speedUpFactor` (faster); a rate-limit error (HTTP 429,
 * or 503 with Retry-After) multiplies it by `rateLimitFactor`, any other counted error by
 * `errorFactor` (slower). A Retry-After carried by the error (`retryAfterMs`, capped at
 * `maxRetryAfter`) holds every start until that moment. The delay stays within
 * [`minDelay`, `maxDelay`]; below 1 ms it snaps to 0, and a slow-down from 0 starts from 100 ms
 * (a 429 at delay 0 gives 200 ms).
 *
 * When nothing waits, a slot is free and the spacing allows, a call starts synchronously (no
 * scheduler hop). A timer runs only while calls are waiting, and is cleared when the queue empties.
 *
 * @example
 * ```ts
 * import { AdaptiveThrottle, adaptiveThrottle } from '@tributary/core';
 * import { defer } from 'rxjs';
 *
 * const throttle = new AdaptiveThrottle({ name: 'newsapi.org', initialDelay: 1_000 });
 * throttle.delay$.subscribe((ms) => console.log(`newsapi delay now ${ms} ms`));
 * const page = (n: number) => defer(() => fetch(`https://newsapi.org/v2/everything?page=${n}`)).pipe(adaptiveThrottle(throttle));
 * ```
 */
export class AdaptiveThrottle {
  /** Name used in metric labels and errors. */
  readonly name: string;

  private readonly minDelay: number;
  private readonly maxDelay: number;
  private readonly speedUpAfter: number;
  private readonly speedUpFactor: number;
  private readonly rateLimitFactor: number;
  private readonly errorFactor: number;
  private readonly maxConcurrent: number;
  private readonly maxRetryAfter: number;
  private readonly classify: (err: unknown) => ThrottleOutcome;
  private readonly scheduler: SchedulerLike;

  private current: number;
  private readonly delays: BehaviorSubject<number>;
  private readonly delays$: Observable<number>;
  private readonly queue = new Set<Waiting>();
  private running = 0;
  private lastStartAt = -Infinity;
  private blockedUntil = -Infinity;
  private timer: Subscription | undefined;
  private timerAt = 0;
  private pumping = false;
  private pumpAgain = false;
  private disposed = false;

  private successes = 0;
  private errors = 0;
  private rateLimited = 0;
  private ignored = 0;
  private cancelled = 0;
  private consecutiveSuccesses = 0;

  private readonly metrics:
    | { delay: ReturnType<Gauge<'throttle'>['labels']>; queue: ReturnType<Gauge<'throttle'>['labels']>; rateLimited: ReturnType<Counter<'throttle'>['labels']> }
    | undefined;

  constructor(options: AdaptiveThrottleOptions) {
    if (typeof options !== 'object' || options === null) throw optionError('AdaptiveThrottle', '(options)', 'an options object', options);
    const where = typeof options.name === 'string' && options.name !== '' ? `throttle "${options.name}"` : 'throttle';
    check(typeof options.name === 'string' && options.name.trim() !== '', where, 'name', 'a non-empty string', options.name);
    this.name = options.name;
    this.minDelay = nonNegativeMs(options.minDelay, 0, where, 'minDelay');
    this.maxDelay = nonNegativeMs(options.maxDelay, 60_000, where, 'maxDelay');
    check(this.maxDelay >= this.minDelay, where, 'maxDelay', `at least minDelay (${this.minDelay})`, this.maxDelay);
    const initial = nonNegativeMs(options.initialDelay, Math.min(Math.max(1000, this.minDelay), this.maxDelay), where, 'initialDelay');
    check(initial >= this.minDelay && initial <= this.maxDelay, where, 'initialDelay', `within [minDelay, maxDelay] = [${this.minDelay}, ${this.maxDelay}]`, initial);
    this.speedUpAfter = positiveInt(options.speedUpAfter, 10, where, 'speedUpAfter');
    this.speedUpFactor = factor(options.speedUpFactor, 0.9, where, 'speedUpFactor', (f) => f > 0 && f <= 1, 'a number in (0, 1]');
    this.rateLimitFactor = factor(options.rateLimitFactor, 2, where, 'rateLimitFactor', (f) => f >= 1, 'a finite number >= 1');
    this.errorFactor = factor(options.errorFactor, 1.5, where, 'errorFactor', (f) => f >= 1, 'a finite number >= 1');
    const maxConcurrent = options.maxConcurrent ?? 1;
    check(maxConcurrent === Infinity || (Number.isInteger(maxConcurrent) && maxConcurrent > 0), where, 'maxConcurrent', 'a positive integer or Infinity', maxConcurrent);
    this.maxConcurrent = maxConcurrent;
    this.maxRetryAfter = nonNegativeMs(options.maxRetryAfter, 600_000, where, 'maxRetryAfter');
    check(options.classify === undefined || typeof options.classify === 'function', where, 'classify', 'a function', options.classify);
    this.classify = options.classify ?? defaultClassify;
    this.scheduler = options.scheduler ?? asyncScheduler;
    check(typeof this.scheduler.now === 'function' && typeof this.scheduler.schedule === 'function', where, 'scheduler', 'an RxJS scheduler', this.scheduler);
    this.current = initial;
    this.delays = new BehaviorSubject(initial);
    this.delays$ = this.delays.asObservable();

    if (options.registry) {
      const delay = gauge(options.registry, {
        name: 'tributary_throttle_delay_seconds',
        help: 'Current spacing between call starts of each adaptive throttle, in seconds.',
        labelNames: ['throttle'],
      });
      const queue = gauge(options.registry, {
        name: 'tributary_throttle_queue_length',
        help: 'Calls waiting for their turn in each adaptive throttle.',
        labelNames: ['throttle'],
      });
      const rateLimited = counter(options.registry, {
        name: 'tributary_throttle_rate_limited_total',
        help: 'Calls through each adaptive throttle that were rate limited (HTTP 429, or 503 with Retry-After).',
        labelNames: ['throttle'],
      });
      this.metrics = {
        delay: delay.labels({ throttle: this.name }),
        queue: queue.labels({ throttle: this.name }),
        rateLimited: rateLimited.labels({ throttle: this.name }),
      };
      this.metrics.delay.set(initial / 1000);
      this.metrics.queue.set(0);
      this.metrics.rateLimited.inc(0);
    }
    Object.defineProperty(this, THROTTLE_BRAND, { value: true });
  }

  /** The current spacing between call starts, in ms. */
  get delay(): number {
    return this.current;
  }

  /**
   * The delay over time: emits the current delay on subscribe (like a `BehaviorSubject`), then every
   * change. Completes on `dispose()`.
   */
  get delay$(): Observable<number> {
    return this.delays$;
  }

  /** Counters and times describing the throttle now. See {@link AdaptiveThrottleStats}. */
  stats(): AdaptiveThrottleStats {
    return {
      name: this.name,
      delay: this.current,
      queued: this.queue.size,
      running: this.running,
      successes: this.successes,
      errors: this.errors,
      rateLimited: this.rateLimited,
      ignored: this.ignored,
      cancelled: this.cancelled,
      consecutiveSuccesses: this.consecutiveSuccesses,
      blockedUntil: this.blockedUntil === -Infinity ? undefined : this.blockedUntil,
      nextStartAt: Math.max(this.earliestStart(), this.scheduler.now()),
    };
  }

  /**
   * Stops the throttle: clears its timer, fails every waiting call with a `NonRetriableError` (code
   * `ERR_THROTTLE_DISPOSED`) and completes `delay$`. Calls already running go on; their outcomes
   * no longer change anything. Later calls fail the same way. Calling it twice is harmless.
   */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.disarm();
    const waiting = [...this.queue];
    this.queue.clear();
    this.metrics?.queue.set(0);
    for (const entry of waiting) entry.subscriber.error(this.disposedError());
    this.delays.complete();
  }

  /** @internal Runs or queues one subscription; returns its teardown. */
  _enter(source: Observable<unknown>, subscriber: Subscriber<unknown>): TeardownLogic {
    if (this.disposed) {
      subscriber.error(this.disposedError());
      return undefined;
    }
    if (this.queue.size === 0 && this.running < this.maxConcurrent) {
      const now = this.scheduler.now();
      if (now >= this.earliestStart()) return this.run(source, subscriber, now);
    }
    const entry: Waiting = { source, subscriber, teardown: undefined, cancelled: false };
    this.queue.add(entry);
    this.metrics?.queue.set(this.queue.size);
    this.pump();
    return () => {
      if (this.queue.delete(entry)) {
        this.metrics?.queue.set(this.queue.size);
        this.pump();
      } else if (entry.teardown) {
        entry.teardown();
      } else {
        entry.cancelled = true;
      }
    };
  }

  private earliestStart(): number {
    const spaced = this.lastStartAt + this.current;
    return spaced > this.blockedUntil ? spaced : this.blockedUntil;
  }

  /** Starts a call now; returns the teardown of its upstream subscription. */
  private run(source: Observable<unknown>, subscriber: Subscriber<unknown>, now: number): () => void {
    this.running++;
    this.lastStartAt = now;
    return forward(source, subscriber, {
      error: (err) => {
        this.settle(true, err);
        subscriber.error(err);
      },
      complete: () => {
        this.settle(false, undefined);
        subscriber.complete();
      },
      finalize: (reason) => {
        // complete and error are settled by their handlers; finalize sees them first and skips them
        if (reason !== 'unsubscribe') return;
        this.running--;
        this.cancelled++;
        this.pump();
      },
    });
  }

  private settle(errored: boolean, err: unknown): void {
    this.running--;
    if (!this.disposed) {
      if (errored) this.onError(err);
      else this.onSuccess();
    }
    this.pump();
  }

  private onSuccess(): void {
    this.successes++;
    if (++this.consecutiveSuccesses >= this.speedUpAfter) {
      this.consecutiveSuccesses = 0;
      this.setDelay(this.current * this.speedUpFactor);
    }
  }

  private onError(err: unknown): void {
    let outcome: ThrottleOutcome;
    try {
      outcome = this.classify(err);
    } catch (thrown) {
      reportUnhandled(thrown);
      outcome = 'error';
    }
    if (outcome === 'ignore') {
      this.ignored++;
      return;
    }
    this.consecutiveSuccesses = 0;
    const from = this.current >= 1 ? this.current : SLOWDOWN_BASE_MS;
    if (outcome === 'rate-limit') {
      this.rateLimited++;
      this.metrics?.rateLimited.inc();
      this.setDelay(from * this.rateLimitFactor);
    } else {
      this.errors++;
      this.setDelay(from * this.errorFactor);
    }
    const retryAfter = retryAfterOf(err);
    if (retryAfter !== undefined) {
      const until = this.scheduler.now() + Math.min(retryAfter, this.maxRetryAfter);
      if (until > this.blockedUntil) this.blockedUntil = until;
    }
  }

  private setDelay(next: number): void {
    let d = next < 1 ? 0 : next;
    if (d < this.minDelay) d = this.minDelay;
    if (d > this.maxDelay) d = this.maxDelay;
    if (d === this.current) return;
    this.current = d;
    this.metrics?.delay.set(d / 1000);
    this.delays.next(d);
  }

  /** Starts every waiting call that may start now, and arms (or clears) the one timer. Re-entrant safe. */
  private pump(): void {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        this.drain();
      } while (this.pumpAgain);
    } finally {
      this.pumping = false;
    }
  }

  private drain(): void {
    while (this.queue.size > 0 && this.running < this.maxConcurrent && !this.disposed) {
      const now = this.scheduler.now();
      const at = this.earliestStart();
      if (now < at) {
        this.arm(at, now);
        return;
      }
      const entry = this.queue.values().next().value as Waiting;
      this.queue.delete(entry);
      this.metrics?.queue.set(this.queue.size);
      const teardown = this.run(entry.source, entry.subscriber, now);
      if (entry.cancelled) teardown();
      else entry.teardown = teardown;
    }
    this.disarm();
  }

  private arm(at: number, now: number): void {
    if (this.timer && this.timerAt === at) return;
    this.disarm();
    this.timerAt = at;
    this.timer = this.scheduler.schedule(() => {
      this.timer = undefined;
      this.pump();
    }, at - now);
  }

  private disarm(): void {
    if (!this.timer) return;
    const timer = this.timer;
    this.timer = undefined;
    timer.unsubscribe();
  }

  private disposedError(): NonRetriableError {
    return new NonRetriableError(`throttle "${this.name}" was disposed`, { code: 'ERR_THROTTLE_DISPOSED' });
  }
}

/** True when `value` is an {@link AdaptiveThrottle} (brand check, safe across package copies). */
function isAdaptiveThrottle(value: unknown): value is AdaptiveThrottle {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[THROTTLE_BRAND] === true;
}

/**
 * Paces calls through an adaptive throttle: each subscription waits for its turn, so that calls
 * start at least `delay` ms apart and at most `maxConcurrent` run at once, with the delay adapting
 * to successes, errors and rate limits (see {@link AdaptiveThrottle}).
 *
 * Apply it to a cold Observable that stands for one call: every subscription is one attempt; it is
 * subscribed upstream when its turn comes, and its outcome (complete, or error read by `classify`)
 * adjusts the delay. Values pass through unchanged. Unsubscribing while waiting removes the call
 * from the queue; it never reaches upstream. Pass an {@link AdaptiveThrottle} to share one pace
 * between many calls (the usual case: one per host), or an options object, in which case the
 * operator creates its own throttle, shared by every subscription through this one operator
 * instance and not reachable from outside (so it cannot be disposed; its timer still stops when
 * its queue is empty).
 *
 * @param throttle A shared {@link AdaptiveThrottle}, or {@link AdaptiveThrottleOptions} for a private one.
 *
 * @example
 * ```ts
 * import { AdaptiveThrottle, adaptiveThrottle } from '@tributary/core';
 * import { defer, merge } from 'rxjs';
 *
 * const throttle = new AdaptiveThrottle({ name: 'api.coincap.io', initialDelay: 500, maxConcurrent: 2 });
 * const asset = (id: string) => defer(() => fetch(`https://api.coincap.io/v2/assets/${id}`).then((r) => r.json()));
 * merge(...['bitcoin', 'ethereum', 'solana'].map((id) => asset(id).pipe(adaptiveThrottle(throttle)))).subscribe(console.log);
 * ```
 */
export function adaptiveThrottle<T>(throttle: AdaptiveThrottle | AdaptiveThrottleOptions): MonoTypeOperatorFunction<T> {
  const t = isAdaptiveThrottle(throttle) ? throttle : new AdaptiveThrottle(throttle);
  return operate<T, T>((source, subscriber) => t._enter(source, subscriber as Subscriber<unknown>));
}

// ---- option checks ------------------------------------------------------------------------------

function factor(value: number | undefined, fallback: number, where: string, path: string, ok: (f: number) => boolean, expected: string): number {
  if (value === undefined) return fallback;
  check(typeof value === 'number' && Number.isFinite(value) && ok(value), where, path, expected, value);
  return value;
}
