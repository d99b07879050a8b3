/** Changes to the checkpoint of one source, applied together by {@link CheckpointStore.commit}. */
export interface CheckpointChanges {
  /** Keys to set, with JSON-serializable values. */
  set: Record<string, unknown>;
  /** Keys to remove. */
  delete: readonly string[];
}

/**
 * Where source checkpoints live (a backfill's finished chunks, the last timestamp seen).
 *
 * The runtime reads a source's checkpoint once at start-up and commits changes after the sink
 * acknowledged the records they belong to. A commit applies all its changes or none.
 *
 * @example
 * ```ts
 * import { FileCheckpointStore } from '@tributary/core';
 * const store = new FileCheckpointStore('./state');
 * await store.commit('eia', { set: { lastSeen: 1700000000000 }, delete: [] });
 * console.log(await store.load('eia')); // { lastSeen: 1700000000000 }
 * ```
 */
export interface CheckpointStore {
  /** Short name for logs (`file`, `memory`, `kafka`). */
  readonly name: string;
  /** Every key of a source's checkpoint (an empty object when there is none). */
  load(source: string): Promise<Record<string, unknown>>;
  /** Applies changes to a source's checkpoint atomically; resolves when they are durable. */
  commit(source: string, changes: CheckpointChanges): Promise<void>;
  /**
   * Reads the latest checkpoints of `sources` again from where they are kept (a worker taking
   * sources over from another process). Stores that only this process writes need not have it.
   */
  refresh?(sources: readonly string[]): Promise<void>;
  /** Releases resources. */
  close?(): Promise<void>;
}

/** @internal Applies changes to a plain object, returning a new one. */
export function applyChanges(current: Record<string, unknown>, changes: CheckpointChanges): Record<string, unknown> {
  const next: Record<string, unknown> = { ...current };
  for (const key of changes.delete) delete next[key];
  for (const [key, value] of Object.entries(changes.set)) next[key] = value;
  return next;
}

/** @internal Deep copy through JSON, with a clear error for values that do not survive it. */
export function jsonCopy(source: string, values: Record<string, unknown>): Record<string, unknown> {
  for (const [key, value] of Object.entries(values)) {
    try {
      JSON.stringify(value);
    } catch (err) {
      throw new TypeError(
        `checkpoint of source "${source}": the value of key "${key}" is not JSON-serializable (${err instanceof Error ? err.message : String(err)})`,
      );
    }
  }
  return JSON.parse(JSON.stringify(values)) as Record<string, unknown>;
}
