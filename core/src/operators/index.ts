/**
 * Tributary's resilience operators: RxJS operators usable on their own, without the rest of the
 * framework. Each is applied to a cold Observable that stands for one call.
 * @packageDocumentation
 */
export {
  circuitBreaker,
  CircuitBreaker,
  type CircuitState,
  type CircuitTransition,
  type CircuitTransitionReason,
  type CircuitBreakerOptions,
  type CircuitBreakerStats,
  type CircuitBreakerSnapshot,
} from './circuitBreaker.js';
export {
  adaptiveThrottle,
  AdaptiveThrottle,
  type ThrottleOutcome,
  type AdaptiveThrottleOptions,
  type AdaptiveThrottleStats,
} from './adaptiveThrottle.js';
export { cacheFirst, type CacheFirstOptions, type CacheResultInfo, type CacheResultKind } from './cacheFirst.js';
export { staleFallback, type StaleFallbackOptions, type StaleInfo, type StaleMarked } from './staleFallback.js';
export {
  MemoryStore,
  defaultStore,
  CACHE_PREFIX,
  STALE_PREFIX,
  type KeyedStore,
  type StoreEntry,
  type MaybePromise,
  type MemoryStoreOptions,
} from './store.js';
export { timed, type TimedOptions, type TimedInfo, type TimedOutcome, type TimedLogger, type TimedLabels } from './timed.js';
export { retryBackoff, type RetryBackoffOptions, type RetryEvent, type RetryJitter } from './retryBackoff.js';
export { attemptTimeout, type AttemptTimeoutLimits, type AttemptTimeoutOptions } from './attemptTimeout.js';
export {
  mergeSources,
  type MergeSourcesOptions,
  type MergeSourcesSummary,
  type NamedSources,
  type SourceValue,
} from './mergeSources.js';
export {
  firstAvailable,
  type FirstAvailableOptions,
  type FirstAvailableValue,
  type FallbackEvent,
  type ServedEvent,
} from './firstAvailable.js';
export { percentiles, DurationRecorder, type Percentiles, type DurationSummary, type DurationRecorderOptions } from '../observability/percentiles.js';
