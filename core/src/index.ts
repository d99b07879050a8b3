/**
 * @tributary/core: resilience operators, plugin contract, pipeline runtime, Avro serde and sinks.
 * @packageDocumentation
 */
export * from './errors/index.js';
export * from './operators/index.js';
