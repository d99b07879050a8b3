import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { applyChanges, jsonCopy, type CheckpointChanges, type CheckpointStore } from './types.js';

interface CheckpointFile {
  version: 1;
  source: string;
  updatedAt: string;
  values: Record<string, unknown>;
}

/**
 * A checkpoint store in a directory: one JSON file per source, replaced atomically on every commit.
 *
 * Each commit writes the whole checkpoint to a temporary file in the same directory, flushes it to
 * disk (`fsync`), renames it over `<dir>/<source>.json` and flushes the directory, so a crash leaves
 * either the old or the new checkpoint, never half of one. Commits of one source are serialized.
 * The directory is created on first use. Source ids are encoded into safe file names.
 *
 * @example
 * ```ts
 * import { FileCheckpointStore } from '@tributary/core';
 * const store = new FileCheckpointStore('./.tributary/state');
 * await store.commit('eia', { set: { backfill: { done: [0, 1] } }, delete: [] });
 * ```
 */
export class FileCheckpointStore implements CheckpointStore {
  readonly name = 'file';
  private readonly cache = new Map<string, Record<string, unknown>>();
  private readonly queues = new Map<string, Promise<void>>();

  /** @param dir Directory of the checkpoint files (created when missing). */
  constructor(readonly dir: string) {}

  /** Path of the checkpoint file of a source. */
  fileOf(source: string): string {
    return join(this.dir, `${encodeURIComponent(source).replace(/\./g, '%2E')}.json`);
  }

  async load(source: string): Promise<Record<string, unknown>> {
    const cached = this.cache.get(source);
    if (cached) return jsonCopy(source, cached);
    const file = this.fileOf(source);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw err;
    }
    let parsed: CheckpointFile;
    try {
      parsed = JSON.parse(text) as CheckpointFile;
    } catch (err) {
      throw new Error(`checkpoint file ${file} is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (typeof parsed !== 'object' || parsed === null || typeof parsed.values !== 'object' || parsed.values === null) {
      throw new Error(`checkpoint file ${file} has no "values" object`);
    }
    this.cache.set(source, parsed.values);
    return jsonCopy(source, parsed.values);
  }

  commit(source: string, changes: CheckpointChanges): Promise<void> {
    const previous = this.queues.get(source) ?? Promise.resolve();
    const next = previous
      .catch(() => undefined)
      .then(async () => {
        const set = jsonCopy(source, changes.set);
        const current = await this.load(source);
        const values = applyChanges(current, { set, delete: changes.delete });
        await this.writeAtomically(source, values);
        this.cache.set(source, values);
      });
    this.queues.set(source, next);
    return next;
  }

  private async writeAtomically(source: string, values: Record<string, unknown>): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const target = this.fileOf(source);
    const tmp = `${target}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    const body: CheckpointFile = { version: 1, source, updatedAt: new Date().toISOString(), values };
    const handle = await open(tmp, 'w');
    try {
      await handle.writeFile(JSON.stringify(body, null, 2) + '\n', 'utf8');
      await handle.sync();
    } catch (err) {
      await handle.close().catch(() => undefined);
      await rm(tmp, { force: true });
      throw err;
    }
    await handle.close();
    try {
      await rename(tmp, target);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    await syncDir(this.dir);
  }

  /** Waits for pending commits. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.queues.values()]);
  }
}

async function syncDir(dir: string): Promise<void> {
  // Makes the rename durable; not supported on every platform (Windows), hence best effort.
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    /* best effort */
  }
}
