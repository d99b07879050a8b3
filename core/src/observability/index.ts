/**
 * Logs, metrics, instrumentation events and the run summary.
 * @packageDocumentation
 */
export { counter, gauge, histogram, defaultMetricsRegistry, DURATION_BUCKETS } from './metrics.js';
export * from './events.js';
export * from './logger.js';
export * from './server.js';
export * from './summary.js';
