/**
 * Logs, metrics, instrumentation events and the run summary.
 * @packageDocumentation
 */
export { counter, gauge, histogram, defaultMetricsRegistry, DURATION_BUCKETS } from './metrics.js';
export * from './events.js';
export * from './logger.js';
export * from './server.js';
export * from './summary.js';
export {
  StatusBoard,
  type StatusBoardOptions,
  type StatusUnitInfo,
  type StatusSnapshot,
  type StatusRow,
  type StatusCycle,
  type StatusBreakerTransition,
  type StatusPipelineState,
} from './status.js';
export { STATUS_PAGE_HTML } from './statusPage.js';
