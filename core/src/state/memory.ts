import { applyChanges, jsonCopy, type CheckpointChanges, type CheckpointStore } from './types.js';

/**
 * A checkpoint store in memory: nothing survives the process. For tests and one-shot runs.
 *
 * Values are copied through JSON on the way in and out, so they behave as they would in a
 * persistent store (a `Date` becomes a string, a bigint is rejected).
 *
 * @example
 * ```ts
 * import { MemoryCheckpointStore } from '@tributary/core';
 * const store = new MemoryCheckpointStore({ eia: { lastSeen: 1 } });
 * ```
 */
export class MemoryCheckpointStore implements CheckpointStore {
  readonly name = 'memory';
  private readonly data = new Map<string, Record<string, unknown>>();

  /** @param initial Checkpoints to start with, by source id. Default none. */
  constructor(initial: Record<string, Record<string, unknown>> = {}) {
    for (const [source, values] of Object.entries(initial)) this.data.set(source, jsonCopy(source, values));
  }

  async load(source: string): Promise<Record<string, unknown>> {
    return jsonCopy(source, this.data.get(source) ?? {});
  }

  async commit(source: string, changes: CheckpointChanges): Promise<void> {
    const set = jsonCopy(source, changes.set);
    this.data.set(source, applyChanges(this.data.get(source) ?? {}, { set, delete: changes.delete }));
  }

  /** A copy of every checkpoint, by source id. */
  snapshot(): Record<string, Record<string, unknown>> {
    return Object.fromEntries([...this.data].map(([k, v]) => [k, jsonCopy(k, v)]));
  }
}
