import { Subject, asyncScheduler, type MonoTypeOperatorFunction, type Observable, type SchedulerLike } from 'rxjs';
import type { Counter, Gauge, Registry } from 'prom-client';
import { CircuitOpenError } from '../errors/CircuitOpenError.js';
import { isClientError } from '../errors/HttpError.js';
import { counter, gauge } from '../observability/metrics.js';
import { forward, operate, reportUnhandled } from './internal/operate.js';
import { check, nonNegativeMs, optionError, positiveInt } from './internal/options.js';

/**
 * The state of a {@link CircuitBreaker}.
 *
 * - `'closed'`: calls go through; failures are counted.
 * - `'open'`: calls are rejected at once with a `CircuitOpenError`, without calling upstream.
 * - `'half-open'`: `resetTimeout` has passed since the circuit opened; a few trial calls
 *   (`halfOpenMaxConcurrent` at a time) go through to test whether the service recovered.
 *
 * ```text
 *            failureThreshold consecutive failures
 *            (window mode: failure or slow-call rate)
 *   closed ───────────────────────────────────────────► open ◄──────────────┐
 *     ▲                                                   │                  │
 *     │ successThreshold                                  │ resetTimeout     │ a trial fails,
 *     │ successful trials                                 ▼ has passed       │ or runs longer
 *     └──────────────────────────────────────────────  half-open ───────────┘ than halfOpenTimeout
 * ```
 *
 * @example
 * ```ts
 * import { CircuitBreaker, type CircuitState } from '@tributary/core';
 * const breaker = new CircuitBreaker({ name: 'entsoe' });
 * const state: CircuitState = breaker.state; // 'closed'
 * ```
 */
export type CircuitState = 'closed' | 'open' | 'half-open';

/**
 * Why a {@link CircuitBreaker} changed state.
 *
 * - `'failure-threshold'`: closed → open, `failureThreshold` consecutive failures.
 * - `'failure-rate'`: closed → open, window mode: the failure rate reached `failureRateThreshold`.
 * - `'slow-call-rate'`: closed → open, window mode: the slow-call rate reached `slowCallRateThreshold`.
 * - `'reset-timeout'`: open → half-open, `resetTimeout` has passed.
 * - `'trial-failed'`: half-open → open, a trial call failed.
 * - `'trial-slow'`: half-open → open, window mode with slow-call counting: a trial was slow.
 * - `'trial-timeout'`: half-open → open, a trial ran longer than `halfOpenTimeout`.
 * - `'trials-succeeded'`: half-open → closed, `successThreshold` trials succeeded.
 * - `'reset'`: any → closed, `breaker.reset()` was called.
 *
 * @example
 * ```ts
 * import { CircuitBreaker, type CircuitTransitionReason } from '@tributary/core';
 * const breaker = new CircuitBreaker({ name: 'api' });
 * breaker.state$.subscribe((t) => {
 *   const reason: CircuitTransitionReason = t.reason;
 *   console.log(`${t.breaker}: ${t.from} -> ${t.to} (${reason})`);
 * });
 * ```
 */
export type CircuitTransitionReason =
  | 'failure-threshold'
  | 'failure-rate'
  | 'slow-call-rate'
  | 'reset-timeout'
  | 'trial-failed'
  | 'trial-slow'
  | 'trial-timeout'
  | 'trials-succeeded'
  | 'reset';

/**
 * One state change of a {@link CircuitBreaker}, as emitted by `breaker.state$`.
 *
 * @example
 * ```ts
 * import { CircuitBreaker, type CircuitTransition } from '@tributary/core';
 * const breaker = new CircuitBreaker({ name: 'api' });
 * breaker.state$.subscribe((t: CircuitTransition) => console.log(t.to, new Date(t.at)));
 * ```
 */
export interface CircuitTransition {
  /** Name of the breaker. */
  readonly breaker: string;
  /** State before the change. */
  readonly from: CircuitState;
  /** State after the change. */
  readonly to: CircuitState;
  /** Why the state changed. */
  readonly reason: CircuitTransitionReason;
  /**
   * When the change took effect, in the scheduler's clock (epoch ms with the default scheduler).
   * Time-driven changes (open → half-open, a trial timing out) are noticed lazily, on the next call
   * or read of `state`/`stats()`; `at` is then the moment the change became due, which may be
   * earlier than the moment the event is emitted.
   */
  readonly at: number;
}

/**
 * A point-in-time view of a {@link CircuitBreaker}, returned by `breaker.stats()`. Counters start
 * at 0 when the breaker is created (they are not part of the serialized state).
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from '@tributary/core';
 * const breaker = new CircuitBreaker({ name: 'api' });
 * const { state, failures, rejections, nextTrialAt } = breaker.stats();
 * ```
 */
export interface CircuitBreakerStats {
  readonly name: string;
  readonly state: CircuitState;
  /** Calls that counted as successes (completed, or errored with an error `isFailure` rejected). */
  readonly successes: number;
  /** Calls that counted as failures, including trials that ran past `halfOpenTimeout`. */
  readonly failures: number;
  /** Subscriptions rejected with `CircuitOpenError` without calling upstream. */
  readonly rejections: number;
  /** Counted calls that ran longer than `slowCallDuration` (0 when slow-call counting is off). */
  readonly slowCalls: number;
  /** Calls unsubscribed before they finished (counted as neither success nor failure). */
  readonly cancelled: number;
  /** Results of calls that started before the last state change; they do not change the state. */
  readonly lateResults: number;
  /** Consecutive failures in the closed state. */
  readonly consecutiveFailures: number;
  /** Trial calls running now (half-open only, else 0). */
  readonly halfOpenTrials: number;
  /** Successful trials so far in this half-open period (else 0). */
  readonly halfOpenSuccesses: number;
  /** Window mode only: the last `windowSize` calls in the closed state. */
  readonly window: { readonly calls: number; readonly failures: number; readonly slowCalls: number; readonly failureRate: number; readonly slowCallRate: number } | undefined;
  /** When the circuit last opened (set while open or half-open, else `undefined`). */
  readonly openedAt: number | undefined;
  /**
   * When the next call will be let through: while open, `openedAt + resetTimeout`; while half-open,
   * now if a trial slot is free, else the moment the oldest trial times out; `undefined` when closed.
   */
  readonly nextTrialAt: number | undefined;
}

/**
 * The serializable state of a {@link CircuitBreaker}, from `breaker.toJSON()`; give it back with
 * `CircuitBreaker.fromJSON(snapshot, options)` or `new CircuitBreaker({ ...options, initialState })`.
 * Times are in the scheduler's clock (epoch ms with the default scheduler), so a snapshot survives a
 * process restart. Running trials and statistics counters are not part of it.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from '@tributary/core';
 * const breaker = new CircuitBreaker({ name: 'api' });
 * const saved = JSON.stringify(breaker); // uses toJSON()
 * const restored = CircuitBreaker.fromJSON(JSON.parse(saved), { name: 'api' });
 * ```
 */
export interface CircuitBreakerSnapshot {
  /** Format version; always 1. */
  readonly version: 1;
  /** Name of the breaker that wrote it (informational: the options' name wins on restore). */
  readonly name: string;
  readonly state: CircuitState;
  /** When the circuit last opened (open and half-open), else `null`. */
  readonly openedAt: number | null;
  /** Consecutive failures in the closed state. */
  readonly consecutiveFailures: number;
  /** Successful trials in the current half-open period. */
  readonly halfOpenSuccesses: number;
  /**
   * Window mode: outcomes of the last calls, oldest first; each is a bit set: 1 = failed,
   * 2 = slow (0 = fast success, 3 = slow failure). Empty otherwise.
   */
  readonly window: readonly number[];
}

/**
 * Options of {@link CircuitBreaker} (and of `circuitBreaker(options)`).
 *
 * Two ways to decide when to open: by default **consecutive mode** (`failureThreshold`
 * consecutive failures); setting `failureRateThreshold` or `slowCallRateThreshold` switches to
 * **window mode**, which looks at the failure and slow-call rates over the last `windowSize` calls
 * (and ignores `failureThreshold`).
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from '@tributary/core';
 * // consecutive mode, the seeds' behaviour
 * const simple = new CircuitBreaker({ name: 'entsoe', failureThreshold: 5, resetTimeout: 60_000 });
 * // window mode: open when half of the last 20 calls failed, or 80 % took longer than 5 s
 * const windowed = new CircuitBreaker({
 *   name: 'nordpool', failureRateThreshold: 0.5, windowSize: 20, minimumCalls: 10,
 *   slowCallDuration: 5_000, slowCallRateThreshold: 0.8,
 * });
 * ```
 */
export interface CircuitBreakerOptions {
  /** Name used in errors, events and metric labels. Required; keep it unique per registry. */
  name: string;
  /** Consecutive failures that open a closed circuit (consecutive mode). Default `5`. */
  failureThreshold?: number;
  /** Consecutive successful trials that close a half-open circuit. Default `2`. */
  successThreshold?: number;
  /** Milliseconds a circuit stays open before the next call becomes a trial. Default `60_000`. */
  resetTimeout?: number;
  /** Trials allowed to run at the same time while half-open. Default `1`. */
  halfOpenMaxConcurrent?: number;
  /**
   * Milliseconds a trial may run. A trial that runs longer frees its slot and counts as a failed
   * trial (the circuit reopens), so a call that never finishes cannot keep the breaker half-open.
   * Checked lazily, on the next call or read of `state`/`stats()`; no timer runs. The trial's own
   * subscription is left alone (bound it with `timeout`). Default: `resetTimeout` (at least 1 ms).
   */
  halfOpenTimeout?: number;
  /**
   * Window mode: the failure rate, as a fraction from 0 (exclusive) to 1 (`0.5` = 50 %), at or
   * above which the circuit opens. Default: `0.5` in window mode; unset (consecutive mode) otherwise.
   */
  failureRateThreshold?: number;
  /** Window mode: how many of the most recent calls the rates are computed over. Default `20`. */
  windowSize?: number;
  /** Window mode: calls the window must hold before rates are acted on. Default `min(10, windowSize)`. */
  minimumCalls?: number;
  /**
   * Milliseconds above which a call counts as slow (whether it succeeded or failed). A slow call
   * that completes is still a success for downstream. Without window mode, slow calls are only
   * counted (`stats().slowCalls`). Default: unset (no slow-call counting).
   */
  slowCallDuration?: number;
  /**
   * Window mode: the slow-call rate, a fraction from 0 (exclusive) to 1, at or above which the
   * circuit opens; in window mode a slow trial also reopens a half-open circuit. Requires
   * `slowCallDuration`. Default: `1` (all calls in the window slow) when `slowCallDuration` is
   * set in window mode.
   */
  slowCallRateThreshold?: number;
  /**
   * Decides whether an error counts as a failure. Errors it rejects count as successes (the service
   * answered; the request was wrong). Default: everything except HTTP 4xx client errors (other than
   * 408, 425 and 429), read with `isClientError` so errors from any HTTP client work. If it throws,
   * the call counts as a failure, the original error still goes downstream, and the exception is
   * reported as a process warning (code `TRIBUTARY_LISTENER_ERROR`). Its result is read as truthy/falsy.
   */
  isFailure?: (err: unknown) => boolean;
  /** Clock (`scheduler.now()`); no timers are scheduled. Default `asyncScheduler`. */
  scheduler?: SchedulerLike;
  /**
   * prom-client registry. When given, the breaker maintains `tributary_circuit_breaker_state{breaker}`
   * (0 closed, 1 half-open, 2 open), `tributary_circuit_breaker_transitions_total{breaker,to}` and
   * `tributary_circuit_breaker_rejected_total{breaker}`. Default: no metrics.
   */
  registry?: Registry;
  /** State to start from, as written by `toJSON()`. Default: closed with no history. */
  initialState?: CircuitBreakerSnapshot;
}

/** @internal One admitted call; `gen` is the state generation it started in. */
interface Call {
  readonly gen: number;
  readonly startedAt: number;
  readonly trial: boolean;
}

/** @internal The breaker's state machine. */
type InternalState =
  | { readonly kind: 'closed'; consecutiveFailures: number }
  | { readonly kind: 'open'; readonly openedAt: number }
  | { readonly kind: 'half-open'; readonly openedAt: number; readonly trials: Set<Call>; successes: number };

const BREAKER_BRAND = Symbol.for('tributary.circuit-breaker');
const STATE_VALUE: Record<CircuitState, number> = { closed: 0, 'half-open': 1, open: 2 };
const FAILED = 1;
const SLOW = 2;

function defaultIsFailure(err: unknown): boolean {
  return !isClientError(err);
}

/**
 * A circuit breaker: stops calling a service that keeps failing, and tests now and then whether it
 * recovered. The state that many calls share; apply it with the {@link circuitBreaker} operator.
 *
 * Closed, it lets calls through and counts failures; after `failureThreshold` consecutive failures
 * (or, in window mode, a failure or slow-call rate over the last calls) it opens. Open, it rejects
 * calls at once with a `CircuitOpenError`. After `resetTimeout` it becomes half-open and lets
 * `halfOpenMaxConcurrent` trial calls through at a time: `successThreshold` successful trials close
 * it, one failed trial opens it again for another `resetTimeout`. See {@link CircuitState} for the
 * diagram and {@link CircuitBreakerOptions} for every option and its default.
 *
 * Results of calls that started before the last state change are ignored (each state change starts
 * a new generation), so failures of concurrent calls that arrive after the circuit opened neither
 * restart the open timer nor change anything else. Time is read from the scheduler; the breaker
 * schedules no timers, so it never keeps a process alive and needs no cleanup beyond `dispose()`,
 * which completes `state$`.
 *
 * @example
 * ```ts
 * import { CircuitBreaker, circuitBreaker, isCircuitOpenError } from '@tributary/core';
 * import { defer } from 'rxjs';
 *
 * const breaker = new CircuitBreaker({ name: 'entsoe', failureThreshold: 5, resetTimeout: 60_000 });
 * breaker.state$.subscribe((t) => console.warn(`circuit ${t.breaker}: ${t.from} -> ${t.to}`));
 *
 * const prices$ = defer(() => fetch('https://example.com/prices').then((r) => r.json())).pipe(circuitBreaker(breaker));
 * prices$.subscribe({ error: (err) => { if (isCircuitOpenError(err)) console.log(`retry in ${err.retryAfterMs} ms`); } });
 * ```
 */
export class CircuitBreaker {
  /** Name used in errors, events and metric labels. */
  readonly name: string;

  private readonly failureThreshold: number;
  private readonly successThreshold: number;
  private readonly resetTimeout: number;
  private readonly halfOpenMaxConcurrent: number;
  private readonly halfOpenTimeout: number;
  private readonly windowMode: boolean;
  private readonly failureRateThreshold: number;
  private readonly slowCallRateThreshold: number | undefined;
  private readonly minimumCalls: number;
  private readonly slowCallDuration: number | undefined;
  private readonly isFailure: (err: unknown) => boolean;
  private readonly scheduler: SchedulerLike;

  private s: InternalState;
  private gen = 0;
  private readonly transitions = new Subject<CircuitTransition>();
  private readonly transitions$ = this.transitions.asObservable();

  // window mode: ring buffer of outcome bits (FAILED | SLOW) of the last calls in the closed state
  private readonly ring: Uint8Array | undefined;
  private ringLength = 0;
  private ringNext = 0;
  private ringFailures = 0;
  private ringSlow = 0;

  private successes = 0;
  private failures = 0;
  private rejections = 0;
  private slowCalls = 0;
  private cancelled = 0;
  private lateResults = 0;

  private readonly metrics:
    | { state: ReturnType<Gauge<'breaker'>['labels']>; rejected: ReturnType<Counter<'breaker'>['labels']>; to: Record<CircuitState, ReturnType<Counter<'breaker' | 'to'>['labels']>> }
    | undefined;

  constructor(options: CircuitBreakerOptions) {
    if (typeof options !== 'object' || options === null) throw optionError('CircuitBreaker', '(options)', 'an options object', options);
    const where = typeof options.name === 'string' && options.name !== '' ? `circuit breaker "${options.name}"` : 'circuit breaker';
    check(typeof options.name === 'string' && options.name.trim() !== '', where, 'name', 'a non-empty string', options.name);
    this.name = options.name;
    this.failureThreshold = positiveInt(options.failureThreshold, 5, where, 'failureThreshold');
    this.successThreshold = positiveInt(options.successThreshold, 2, where, 'successThreshold');
    this.resetTimeout = nonNegativeMs(options.resetTimeout, 60_000, where, 'resetTimeout');
    this.halfOpenMaxConcurrent = positiveInt(options.halfOpenMaxConcurrent, 1, where, 'halfOpenMaxConcurrent');
    this.halfOpenTimeout = positive(options.halfOpenTimeout, Math.max(this.resetTimeout, 1), where, 'halfOpenTimeout');
    this.windowMode = options.failureRateThreshold !== undefined || options.slowCallRateThreshold !== undefined;
    this.failureRateThreshold = fraction(options.failureRateThreshold, 0.5, where, 'failureRateThreshold');
    const windowSize = positiveInt(options.windowSize, 20, where, 'windowSize');
    this.minimumCalls = positiveInt(options.minimumCalls, Math.min(10, windowSize), where, 'minimumCalls');
    check(this.minimumCalls <= windowSize, where, 'minimumCalls', `at most windowSize (${windowSize})`, this.minimumCalls);
    this.slowCallDuration = options.slowCallDuration === undefined ? undefined : positive(options.slowCallDuration, 0, where, 'slowCallDuration');
    check(
      options.slowCallRateThreshold === undefined || this.slowCallDuration !== undefined,
      where,
      'slowCallRateThreshold',
      'set together with slowCallDuration',
      options.slowCallRateThreshold,
    );
    this.slowCallRateThreshold =
      this.windowMode && this.slowCallDuration !== undefined ? fraction(options.slowCallRateThreshold, 1, where, 'slowCallRateThreshold') : undefined;
    check(options.isFailure === undefined || typeof options.isFailure === 'function', where, 'isFailure', 'a function', options.isFailure);
    this.isFailure = options.isFailure ?? defaultIsFailure;
    this.scheduler = options.scheduler ?? asyncScheduler;
    check(typeof this.scheduler.now === 'function', where, 'scheduler', 'an RxJS scheduler', this.scheduler);
    this.ring = this.windowMode ? new Uint8Array(windowSize) : undefined;

    this.s = options.initialState === undefined ? { kind: 'closed', consecutiveFailures: 0 } : this.restore(options.initialState, where);

    if (options.registry) {
      const stateGauge = gauge(options.registry, {
        name: 'tributary_circuit_breaker_state',
        help: 'State of each circuit breaker: 0 closed, 1 half-open, 2 open.',
        labelNames: ['breaker'],
      });
      const transitions = counter(options.registry, {
        name: 'tributary_circuit_breaker_transitions_total',
        help: 'State changes of each circuit breaker, by the state entered.',
        labelNames: ['breaker', 'to'],
      });
      const rejected = counter(options.registry, {
        name: 'tributary_circuit_breaker_rejected_total',
        help: 'Calls rejected by an open (or busy half-open) circuit breaker without calling upstream.',
        labelNames: ['breaker'],
      });
      this.metrics = {
        state: stateGauge.labels({ breaker: this.name }),
        rejected: rejected.labels({ breaker: this.name }),
        to: {
          closed: transitions.labels({ breaker: this.name, to: 'closed' }),
          open: transitions.labels({ breaker: this.name, to: 'open' }),
          'half-open': transitions.labels({ breaker: this.name, to: 'half-open' }),
        },
      };
      this.metrics.to.closed.inc(0);
      this.metrics.to.open.inc(0);
      this.metrics.to['half-open'].inc(0);
      this.metrics.rejected.inc(0);
      this.metrics.state.set(STATE_VALUE[this.s.kind]);
    }
    Object.defineProperty(this, BREAKER_BRAND, { value: true });
  }

  /**
   * Creates a breaker from a snapshot written by {@link CircuitBreaker.toJSON}. Same as
   * `new CircuitBreaker({ ...options, initialState: snapshot })`. Throws a `ConfigError` naming the
   * bad field when the snapshot is malformed.
   *
   * @example
   * ```ts
   * import { CircuitBreaker } from '@tributary/core';
   * import { readFileSync } from 'node:fs';
   * const breaker = CircuitBreaker.fromJSON(JSON.parse(readFileSync('breaker.json', 'utf8')), { name: 'api' });
   * ```
   */
  static fromJSON(snapshot: CircuitBreakerSnapshot, options: CircuitBreakerOptions): CircuitBreaker {
    return new CircuitBreaker({ ...options, initialState: snapshot });
  }

  /**
   * The current state. Reading it applies time-driven changes that are due (open → half-open after
   * `resetTimeout`, a trial timing out), which then also appear on `state$`.
   */
  get state(): CircuitState {
    this.refresh(this.scheduler.now());
    return this.s.kind;
  }

  /**
   * The breaker's state changes, as they happen. A hot Observable (a `Subject`): subscribers get
   * only the changes after they subscribed, not the current state (read `state` for that, or use
   * `defer(() => breaker.state$.pipe(startWith(breaker.state)))`). Completes on `dispose()`.
   */
  get state$(): Observable<CircuitTransition> {
    return this.transitions$;
  }

  /** Counters and times describing the breaker now. See {@link CircuitBreakerStats}. */
  stats(): CircuitBreakerStats {
    const now = this.scheduler.now();
    this.refresh(now);
    const s = this.s;
    const calls = this.ringLength;
    return {
      name: this.name,
      state: s.kind,
      successes: this.successes,
      failures: this.failures,
      rejections: this.rejections,
      slowCalls: this.slowCalls,
      cancelled: this.cancelled,
      lateResults: this.lateResults,
      consecutiveFailures: s.kind === 'closed' ? s.consecutiveFailures : 0,
      halfOpenTrials: s.kind === 'half-open' ? s.trials.size : 0,
      halfOpenSuccesses: s.kind === 'half-open' ? s.successes : 0,
      window: this.ring
        ? {
            calls,
            failures: this.ringFailures,
            slowCalls: this.ringSlow,
            failureRate: calls === 0 ? 0 : this.ringFailures / calls,
            slowCallRate: calls === 0 ? 0 : this.ringSlow / calls,
          }
        : undefined,
      openedAt: s.kind === 'closed' ? undefined : s.openedAt,
      nextTrialAt: s.kind === 'open' ? s.openedAt + this.resetTimeout : s.kind === 'half-open' ? now + this.busyFor(s, now) : undefined,
    };
  }

  /**
   * The state as plain JSON (see {@link CircuitBreakerSnapshot}), for saving across restarts.
   * `JSON.stringify(breaker)` calls it.
   */
  toJSON(): CircuitBreakerSnapshot {
    this.refresh(this.scheduler.now());
    const s = this.s;
    const window: number[] = [];
    if (this.ring) {
      const size = this.ring.length;
      for (let i = 0; i < this.ringLength; i++) window.push(this.ring[(this.ringNext - this.ringLength + i + size) % size] ?? 0);
    }
    return {
      version: 1,
      name: this.name,
      state: s.kind,
      openedAt: s.kind === 'closed' ? null : s.openedAt,
      consecutiveFailures: s.kind === 'closed' ? s.consecutiveFailures : 0,
      halfOpenSuccesses: s.kind === 'half-open' ? s.successes : 0,
      window,
    };
  }

  /**
   * Closes the circuit and forgets its history (consecutive failures, window, half-open trials).
   * Results of calls already running are then ignored. Emits a `'reset'` transition unless the
   * circuit was already closed.
   */
  reset(): void {
    const from = this.s.kind;
    this.clearWindow();
    this.s = { kind: 'closed', consecutiveFailures: 0 };
    this.gen++;
    if (from !== 'closed') this.announce(from, 'closed', 'reset', this.scheduler.now());
  }

  /**
   * Completes `state$`. The breaker keeps working afterwards (it holds no timers or sockets), but
   * emits no more transitions. Calling it twice is harmless.
   */
  dispose(): void {
    this.transitions.complete();
  }

  /** @internal Admits a call, or returns `undefined` when it must be rejected. */
  _admit(): Call | undefined {
    // hot path: a closed breaker without slow-call counting needs no clock
    if (this.s.kind === 'closed') return { gen: this.gen, startedAt: this.slowCallDuration === undefined ? 0 : this.scheduler.now(), trial: false };
    const now = this.scheduler.now();
    this.refresh(now);
    const s = this.s; // refresh() only moves open -> half-open -> open, never to closed
    if (s.kind === 'half-open' && s.trials.size < this.halfOpenMaxConcurrent) {
      const call: Call = { gen: this.gen, startedAt: now, trial: true };
      s.trials.add(call);
      return call;
    }
    return undefined;
  }

  /** @internal The error for a rejected call (also counts it). */
  _rejection(): CircuitOpenError {
    const now = this.scheduler.now();
    this.rejections++;
    this.metrics?.rejected.inc();
    const s = this.s;
    const wait = s.kind === 'open' ? s.openedAt + this.resetTimeout - now : s.kind === 'half-open' ? this.busyFor(s, now) : 0;
    return new CircuitOpenError(this.name, wait);
  }

  /** @internal Records the outcome of an admitted call that completed (`errored` false) or errored. */
  _settle(call: Call, errored: boolean, err: unknown): void {
    const closed = this.s.kind === 'closed';
    const now = closed && this.slowCallDuration === undefined ? 0 : this.scheduler.now();
    if (!closed) this.refresh(now);
    if (call.gen !== this.gen) {
      this.lateResults++;
      return;
    }
    let failed = false;
    if (errored) {
      try {
        failed = Boolean(this.isFailure(err));
      } catch (thrown) {
        failed = true;
        reportUnhandled(thrown);
      }
    }
    const slow = this.slowCallDuration !== undefined && now - call.startedAt > this.slowCallDuration;
    if (failed) this.failures++;
    else this.successes++;
    if (slow) this.slowCalls++;

    const s = this.s;
    if (s.kind === 'closed') {
      s.consecutiveFailures = failed ? s.consecutiveFailures + 1 : 0;
      if (this.ring) {
        this.push((failed ? FAILED : 0) | (slow ? SLOW : 0));
        if (this.ringLength >= this.minimumCalls) {
          // (`now` is not read on the closed hot path: read the clock when it matters)
          if (this.ringFailures / this.ringLength >= this.failureRateThreshold) this.open(this.scheduler.now(), 'failure-rate');
          else if (this.slowCallRateThreshold !== undefined && this.ringSlow / this.ringLength >= this.slowCallRateThreshold) this.open(this.scheduler.now(), 'slow-call-rate');
        }
      } else if (s.consecutiveFailures >= this.failureThreshold) {
        this.open(this.scheduler.now(), 'failure-threshold');
      }
    } else if (s.kind === 'half-open') {
      s.trials.delete(call);
      if (failed) this.open(now, 'trial-failed');
      else if (slow && this.slowCallRateThreshold !== undefined) this.open(now, 'trial-slow');
      else if (++s.successes >= this.successThreshold) this.close(now, 'trials-succeeded');
    }
  }

  /** @internal A call was unsubscribed before it finished: neither success nor failure. */
  _cancel(call: Call): void {
    this.cancelled++;
    const s = this.s;
    if (call.trial && s.kind === 'half-open' && call.gen === this.gen) s.trials.delete(call);
  }

  /** Applies time-driven changes that are due at `now`, each at the moment it became due. */
  private refresh(now: number): void {
    for (;;) {
      const s = this.s;
      if (s.kind === 'open') {
        const due = s.openedAt + this.resetTimeout;
        if (now < due) return;
        this.s = { kind: 'half-open', openedAt: s.openedAt, trials: new Set(), successes: 0 };
        this.gen++;
        this.announce('open', 'half-open', 'reset-timeout', due);
        return;
      }
      if (s.kind !== 'half-open' || s.trials.size === 0) return;
      let oldest = Infinity;
      for (const trial of s.trials) if (trial.startedAt < oldest) oldest = trial.startedAt;
      const deadline = oldest + this.halfOpenTimeout;
      if (now - oldest <= this.halfOpenTimeout) return;
      this.failures++;
      this.open(deadline, 'trial-timeout');
    }
  }

  /** Milliseconds until a half-open trial slot is free (0 when one is free now). */
  private busyFor(s: Extract<InternalState, { kind: 'half-open' }>, now: number): number {
    if (s.trials.size < this.halfOpenMaxConcurrent) return 0;
    let oldest = Infinity;
    for (const trial of s.trials) if (trial.startedAt < oldest) oldest = trial.startedAt;
    return Math.max(0, oldest + this.halfOpenTimeout - now);
  }

  private open(at: number, reason: CircuitTransitionReason): void {
    const from = this.s.kind;
    this.clearWindow();
    this.s = { kind: 'open', openedAt: at };
    this.gen++;
    this.announce(from, 'open', reason, at);
  }

  private close(at: number, reason: CircuitTransitionReason): void {
    const from = this.s.kind;
    this.clearWindow();
    this.s = { kind: 'closed', consecutiveFailures: 0 };
    this.gen++;
    this.announce(from, 'closed', reason, at);
  }

  private announce(from: CircuitState, to: CircuitState, reason: CircuitTransitionReason, at: number): void {
    if (this.metrics) {
      this.metrics.state.set(STATE_VALUE[to]);
      this.metrics.to[to].inc();
    }
    this.transitions.next({ breaker: this.name, from, to, reason, at });
  }

  private push(outcome: number): void {
    const ring = this.ring as Uint8Array;
    if (this.ringLength === ring.length) {
      const old = ring[this.ringNext] ?? 0;
      this.ringFailures -= old & FAILED;
      this.ringSlow -= (old & SLOW) >> 1;
    } else {
      this.ringLength++;
    }
    ring[this.ringNext] = outcome;
    this.ringNext = (this.ringNext + 1) % ring.length;
    this.ringFailures += outcome & FAILED;
    this.ringSlow += (outcome & SLOW) >> 1;
  }

  private clearWindow(): void {
    this.ringLength = 0;
    this.ringNext = 0;
    this.ringFailures = 0;
    this.ringSlow = 0;
  }

  private restore(snapshot: CircuitBreakerSnapshot, where: string): InternalState {
    const snap = snapshot as Partial<Record<keyof CircuitBreakerSnapshot, unknown>> | null;
    check(typeof snap === 'object' && snap !== null, where, 'initialState', 'a snapshot from toJSON()', snapshot);
    const s = snap as Partial<Record<keyof CircuitBreakerSnapshot, unknown>>;
    check(s.version === 1, where, 'initialState.version', '1', s.version);
    check(s.state === 'closed' || s.state === 'open' || s.state === 'half-open', where, 'initialState.state', '"closed", "open" or "half-open"', s.state);
    const counts = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 0;
    check(counts(s.consecutiveFailures), where, 'initialState.consecutiveFailures', 'a non-negative integer', s.consecutiveFailures);
    check(counts(s.halfOpenSuccesses), where, 'initialState.halfOpenSuccesses', 'a non-negative integer', s.halfOpenSuccesses);
    check(Array.isArray(s.window) && s.window.every((o) => o === 0 || o === 1 || o === 2 || o === 3), where, 'initialState.window', 'an array of 0..3', s.window);
    if (s.state !== 'closed') {
      check(typeof s.openedAt === 'number' && Number.isFinite(s.openedAt), where, 'initialState.openedAt', 'a finite number', s.openedAt);
    }
    // a clock that went backwards (or a snapshot from another machine) must not keep it open longer
    const openedAt = Math.min(s.openedAt as number, this.scheduler.now());
    if (s.state === 'open') return { kind: 'open', openedAt };
    if (s.state === 'half-open') return { kind: 'half-open', openedAt, trials: new Set(), successes: Math.min(s.halfOpenSuccesses as number, this.successThreshold - 1) };
    if (this.ring) for (const outcome of (s.window as number[]).slice(-this.ring.length)) this.push(outcome);
    return { kind: 'closed', consecutiveFailures: s.consecutiveFailures as number };
  }
}

/** True when `value` is a {@link CircuitBreaker} (brand check, safe across package copies). */
function isCircuitBreaker(value: unknown): value is CircuitBreaker {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BREAKER_BRAND] === true;
}

/**
 * Guards a call with a circuit breaker: while the circuit is open, subscriptions fail at once with a
 * `CircuitOpenError` instead of calling upstream.
 *
 * Apply it to a cold Observable that stands for one call: every subscription is one attempt, and its
 * outcome (complete = success, error = failure unless `isFailure` says otherwise, unsubscribed before
 * the end = neither) feeds the breaker. Values pass through unchanged. Pass a {@link CircuitBreaker}
 * to share one state between many calls (the usual case: one breaker per service), or an options
 * object, in which case the operator creates its own breaker; its state is then shared by every
 * subscription through this one operator instance (every `pipe` that uses the returned function),
 * and is not reachable from outside.
 *
 * Place it outside the throttle and the timeout and inside the retry, so that retries are rejected
 * at once by an open circuit (a `CircuitOpenError` is not retriable).
 *
 * @param breaker A shared {@link CircuitBreaker}, or {@link CircuitBreakerOptions} for a private one.
 *
 * @example
 * ```ts
 * import { CircuitBreaker, circuitBreaker } from '@tributary/core';
 * import { defer } from 'rxjs';
 *
 * const breaker = new CircuitBreaker({ name: 'luchtmeetnet', failureThreshold: 5, resetTimeout: 60_000 });
 * const measurements$ = defer(() => fetch('https://api.luchtmeetnet.nl/open_api/measurements').then((r) => r.json()))
 *   .pipe(circuitBreaker(breaker));
 * ```
 */
export function circuitBreaker<T>(breaker: CircuitBreaker | CircuitBreakerOptions): MonoTypeOperatorFunction<T> {
  const b = isCircuitBreaker(breaker) ? breaker : new CircuitBreaker(breaker);
  return operate<T, T>((source, subscriber) => {
    const call = b._admit();
    if (call === undefined) {
      subscriber.error(b._rejection());
      return undefined;
    }
    return forward(source, subscriber, {
      error: (err) => {
        b._settle(call, true, err);
        subscriber.error(err);
      },
      complete: () => {
        b._settle(call, false, undefined);
        subscriber.complete();
      },
      finalize: (reason) => {
        if (reason === 'unsubscribe') b._cancel(call);
      },
    });
  });
}

// ---- option checks ------------------------------------------------------------------------------

function positive(value: number | undefined, fallback: number, where: string, path: string): number {
  if (value === undefined) return fallback;
  check(typeof value === 'number' && Number.isFinite(value) && value > 0, where, path, 'a finite number of milliseconds > 0', value);
  return value;
}

function fraction(value: number | undefined, fallback: number, where: string, path: string): number {
  if (value === undefined) return fallback;
  check(typeof value === 'number' && value > 0 && value <= 1, where, path, 'a fraction in (0, 1], e.g. 0.5 for 50 %', value);
  return value;
}
