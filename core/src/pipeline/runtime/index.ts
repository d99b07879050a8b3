/**
 * The pipeline runtime: runner, scheduler, envelopes, dead letters, shutdown.
 * @packageDocumentation
 */
export { PipelineRunner, BACKFILL_KEY, type PipelineRunnerOptions, type SourcePlugin, type BackfillProgress } from './runner.js';
export {
  runPolling,
  runChunks,
  backfillChunks,
  chunkId,
  nextCronTime,
  sleep,
  type PollingSchedule,
  type PollingOptions,
  type Chunk,
  type RunChunksOptions,
} from './scheduler.js';
export { buildEnvelope, getPath, keyToString, HEADERS, type EnvelopeContext, type RecordOrigin } from './envelope.js';
export { toDeadLetter, UNROUTED_TOPIC } from './deadLetters.js';
export { codeOf } from './resilience.js';
export { installSignalHandlers, type SignalHandlerOptions, type SignalSource } from './shutdown.js';
