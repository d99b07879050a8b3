/**
 * Record and replay: keep the HTTP exchanges of a live run (secrets stripped) in a directory, and
 * serve them again from a loopback server so that pipelines, tests and demos run with no network.
 * @packageDocumentation
 */
export {
  RECORDING_FORMAT,
  RECORDING_INDEX,
  RECORDED_RESPONSE_HEADERS,
  readRecording,
  writeRecording,
  type RecordedExchange,
  type RecordingIndex,
  type ExchangeData,
  type LoadedRecording,
  type WriteRecordingOptions,
} from './format.js';
export { startRecorder, type Recorder, type RecorderOptions } from './recorder.js';
export { startReplayServer, type ReplayServer, type ReplayServerOptions, type ReplayMiss, type ReplayLogger } from './server.js';
