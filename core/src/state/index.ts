/**
 * Checkpoint stores: where source checkpoints (backfill progress, last timestamps) live.
 * @packageDocumentation
 */
export type { CheckpointStore, CheckpointChanges } from './types.js';
export { FileCheckpointStore } from './file.js';
export { MemoryCheckpointStore } from './memory.js';
export { KafkaCheckpointStore, DEFAULT_OFFSETS_TOPIC, type KafkaCheckpointStoreOptions } from './kafka.js';
export {
  acquireRunLock,
  findRunLocks,
  runLockFile,
  RUN_LOCKED,
  type RunLock,
  type RunLockInfo,
  type FoundRunLock,
  type AcquireRunLockOptions,
  type FindRunLocksOptions,
} from './lock.js';
