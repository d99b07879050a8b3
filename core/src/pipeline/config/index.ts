/**
 * Pipeline files: loading, validation, defaults, environment substitution, plugin resolution.
 * @packageDocumentation
 */
export { loadPipeline, parsePipeline, type LoadPipelineOptions } from './load.js';
export { resolvePipeline, type ResolvePipelineOptions, type ResolvedPipeline, type ResolvedSource } from './resolve.js';
export { pipelineJsonSchema } from './schema.js';
export { RESILIENCE_DEFAULTS, RESILIENCE_LAYER_DEFAULTS, PIPELINE_DEFAULTS, SINGLE_STREAM } from './normalize.js';
export { parseDuration, formatDuration, parseByteSize } from './durations.js';
export { substituteString, type StringSubstitution } from './env.js';
