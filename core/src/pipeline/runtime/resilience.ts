import type { Observable, SchedulerLike, MonoTypeOperatorFunction, Subscription } from 'rxjs';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { AdaptiveThrottle, adaptiveThrottle } from '../../operators/adaptiveThrottle.js';
import { attemptTimeout } from '../../operators/attemptTimeout.js';
import { cacheFirst } from '../../operators/cacheFirst.js';
import { CircuitBreaker, circuitBreaker } from '../../operators/circuitBreaker.js';
import { retryBackoff } from '../../operators/retryBackoff.js';
import { staleFallback } from '../../operators/staleFallback.js';
import { MemoryStore } from '../../operators/store.js';
import { timed } from '../../operators/timed.js';
import { counter, gauge } from '../../observability/metrics.js';
import type { InstrumentationEvents } from '../../observability/events.js';
import type { ResilienceConfig } from '../types.js';

/** What one call through the stack needs to know. */
export interface ResilientCallOptions {
  /** Cache and stale-fallback key (built from the redacted URL and query). */
  key: string;
  /** Per-call cache TTL: overrides the source's `cache.ttlMs`; `0` = do not cache this call. */
  cacheTtlMs?: number | undefined;
  /** Skip cache reads (still writes): `--force-refresh`. */
  forceRefresh: boolean;
  /** Told when the call was answered from the cache or by stale fallback. */
  onOrigin?: (origin: 'cache' | 'stale') => void;
}

/** Options of {@link buildResilience}. */
export interface ResilienceDeps {
  registry: Registry;
  events: InstrumentationEvents;
  log: Logger;
  /** Scheduler of every operator (virtual time in tests). Default `asyncScheduler`. */
  scheduler?: SchedulerLike;
}

/**
 * The resilience stack of one source: one circuit breaker and one throttle shared by all its
 * calls, and one store for its cache and stale values.
 */
export interface SourceResilience {
  readonly breaker: CircuitBreaker | undefined;
  readonly throttle: AdaptiveThrottle | undefined;
  readonly store: MemoryStore;
  /** Wraps one call (a cold Observable, one subscription = one attempt) in the configured layers. */
  wrap<T>(call: Observable<T>, options: ResilientCallOptions): Observable<T>;
  /** Stops the breaker's and throttle's subscriptions and timers. */
  dispose(): void;
}

/**
 * Builds the resilience stack of one source from its `resilience:` config.
 *
 * Layers, outermost first, each only when configured: `timed` → `staleFallback` → `cacheFirst` →
 * `retryBackoff` → `circuitBreaker` → `adaptiveThrottle` → `attemptTimeout` → the call. A cache hit
 * skips everything below it; a stale value is the last resort when everything below failed
 * (an open circuit included); an open circuit rejects retries at once; every attempt is paced by
 * the throttle; the timeout bounds one attempt.
 *
 * Metrics (in `deps.registry`): the operators' own (`tributary_circuit_breaker_state{breaker}`,
 * `tributary_throttle_delay_seconds{throttle}`, `tributary_cache_requests_total{cache,result}`,
 * `tributary_stale_served_total{name}`, `tributary_operation_duration_seconds{operation,outcome}`;
 * breaker, throttle, cache and stale labels are the source id, the operation is `<source>.http`),
 * plus `tributary_retries_total{source}`. Events: `breaker.state`, `throttle.delay`, `cache.hit`,
 * `cache.miss`, `stale.value`, `http.retry`.
 *
 * @internal Used by the pipeline runner; exported for tests.
 */
export function buildResilience(source: string, config: ResilienceConfig, deps: ResilienceDeps): SourceResilience {
  const { registry, events, log, scheduler } = deps;
  const withScheduler = scheduler ? { scheduler } : {};
  const store = new MemoryStore({ maxEntries: 10_000 });
  const subscriptions: Subscription[] = [];

  let breaker: CircuitBreaker | undefined;
  if (config.circuitBreaker) {
    const c = config.circuitBreaker;
    breaker = new CircuitBreaker({
      name: source,
      failureThreshold: c.failureThreshold,
      successThreshold: c.successThreshold,
      resetTimeout: c.resetTimeoutMs,
      halfOpenMaxConcurrent: c.halfOpenMaxConcurrent,
      ...(c.failureRateThreshold !== undefined ? { failureRateThreshold: c.failureRateThreshold } : {}),
      ...(c.windowSize !== undefined ? { windowSize: c.windowSize } : {}),
      ...(c.minimumCalls !== undefined ? { minimumCalls: c.minimumCalls } : {}),
      ...(c.slowCallDurationMs !== undefined ? { slowCallDuration: c.slowCallDurationMs } : {}),
      ...(c.slowCallRateThreshold !== undefined ? { slowCallRateThreshold: c.slowCallRateThreshold } : {}),
      registry,
      ...withScheduler,
    });
    subscriptions.push(
      breaker.state$.subscribe((t) => {
        log[t.to === 'open' ? 'warn' : 'info']({ breaker: t.breaker, from: t.from, to: t.to, reason: t.reason }, `circuit ${t.to}`);
        events.emit('breaker.state', { source, breaker: t.breaker, from: t.from, to: t.to, reason: String(t.reason) });
      }),
    );
  }

  let throttle: AdaptiveThrottle | undefined;
  if (config.throttle) {
    const t = config.throttle;
    throttle = new AdaptiveThrottle({
      name: source,
      initialDelay: t.initialDelayMs,
      minDelay: t.minDelayMs,
      maxDelay: t.maxDelayMs,
      speedUpAfter: t.speedUpAfter,
      speedUpFactor: t.speedUpFactor,
      rateLimitFactor: t.rateLimitFactor,
      errorFactor: t.errorFactor,
      maxConcurrent: t.maxConcurrent,
      registry,
      ...withScheduler,
    });
    let first = true;
    subscriptions.push(
      throttle.delay$.subscribe((delayMs) => {
        if (first) {
          first = false;
          return;
        }
        events.emit('throttle.delay', { source, delayMs });
      }),
    );
  }

  const retries = counter(registry, {
    name: 'tributary_retries_total',
    help: 'Retries of failed outside calls, by source.',
    labelNames: ['source'] as const,
  });
  if (breaker) {
    // Make the breaker gauge visible from the start (0 = closed).
    gauge(registry, { name: 'tributary_circuit_breaker_state', help: 'Circuit breaker state: 0 closed, 1 half-open, 2 open.', labelNames: ['breaker'] as const });
  }

  function wrap<T>(call: Observable<T>, options: ResilientCallOptions): Observable<T> {
    const layers: MonoTypeOperatorFunction<T>[] = [];
    if (config.timeoutMs !== undefined && config.timeoutMs > 0) {
      layers.push(attemptTimeout<T>(config.timeoutMs, { what: `request of source "${source}"`, ...withScheduler }));
    }
    if (throttle) layers.push(adaptiveThrottle<T>(throttle));
    if (breaker) layers.push(circuitBreaker<T>(breaker));
    if (config.retry) {
      const r = config.retry;
      layers.push(
        retryBackoff<T>({
          maxRetries: r.maxRetries,
          initialDelay: r.initialDelayMs,
          factor: r.factor,
          maxDelay: r.maxDelayMs,
          jitter: r.jitter,
          onRetry: ({ attempt, delayMs, error }) => {
            retries.inc({ source });
            const code = codeOf(error);
            log.debug({ attempt, delayMs, code, err: error }, 'retrying call');
            events.emit('http.retry', { source, attempt, delayMs, code });
          },
          ...withScheduler,
        }),
      );
    }
    const ttl = options.cacheTtlMs ?? config.cache?.ttlMs;
    if (ttl !== undefined && ttl > 0) {
      layers.push(
        cacheFirst<T>({
          key: options.key,
          ttl,
          store,
          forceRefresh: options.forceRefresh,
          registry,
          name: source,
          onResult: ({ hit }) => {
            if (hit) options.onOrigin?.('cache');
            events.emit(hit ? 'cache.hit' : 'cache.miss', { source, key: options.key });
          },
          ...withScheduler,
        }),
      );
    }
    if (config.staleFallback) {
      layers.push(
        staleFallback<T>({
          key: options.key,
          maxAge: config.staleFallback.maxAgeMs,
          store,
          registry,
          name: source,
          onStale: ({ ageMs, error }) => {
            options.onOrigin?.('stale');
            log.warn({ ageMs, code: codeOf(error) }, 'serving stale value after a failed call');
            events.emit('stale.value', { source, key: options.key, ageMs });
          },
          ...withScheduler,
        }),
      );
    }
    if (config.timed) {
      layers.push(
        timed<T>({
          name: `${source}.http`,
          registry,
          warnAfter: config.timed.warnAfterMs,
          criticalAfter: config.timed.criticalAfterMs,
          logger: log,
          ...withScheduler,
        }),
      );
    }
    return layers.reduce<Observable<T>>((obs, layer) => obs.pipe(layer), call);
  }

  return {
    breaker,
    throttle,
    store,
    wrap,
    dispose(): void {
      for (const s of subscriptions.splice(0)) s.unsubscribe();
      throttle?.dispose();
      breaker?.dispose();
    },
  };
}

/**
 * The stable code of an error (`ERR_HTTP`, …), `ERR_UNKNOWN` when it has none.
 *
 * @example
 * ```ts
 * import { codeOf, HttpError } from '@tributary/core';
 * codeOf(new HttpError({ status: 503 })); // 'ERR_HTTP'
 * ```
 */
export function codeOf(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && code) return code;
    const name = (error as { name?: unknown }).name;
    if (name === 'AbortError') return 'ERR_ABORTED';
  }
  return 'ERR_UNKNOWN';
}
