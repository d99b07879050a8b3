/**
 * @tributary/core: resilience operators, plugin contract, pipeline runtime, Avro serde and sinks.
 * @packageDocumentation
 */
export * from './errors/index.js';
export * from './operators/index.js';
export * from './http/index.js';
export * from './serde/index.js';
export * from './plugin/index.js';
export * from './pipeline/config/index.js';
export * from './kafka/index.js';
export * from './replay/index.js';
export * from './source/index.js';
export * from './pipeline/runtime/index.js';
export type * from './pipeline/types.js';
export * from './sinks/index.js';
export * from './state/index.js';
export * from './workers/index.js';
export * from './observability/index.js';
