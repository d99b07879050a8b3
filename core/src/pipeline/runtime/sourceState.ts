import type { PluginState } from '../../plugin/types.js';
import type { CheckpointChanges, CheckpointStore } from '../../state/types.js';
import { currentScope, type SourceCycleState, type StagedChange } from './scope.js';

/** Prefix of the checkpoint keys the runtime keeps for itself (backfill progress). */
export const RESERVED_PREFIX = '@tributary/';

/** @internal The id of shard `index` of a source, as a unit and as a checkpoint: `<source>#<index>`. */
export function shardId(source: string, index: number): string {
  return `${source}#${index}`;
}

/** @internal The ids a source's cycles commit under: its own, or one per shard when it is split. */
export function checkpointIdsOf(source: string, shards: number): string[] {
  return shards > 1 ? Array.from({ length: shards }, (_, k) => shardId(source, k)) : [source];
}

/** @internal The checkpoint id under which a group keeps its runtime keys (backfill progress). */
export function groupCheckpointId(group: string): string {
  return `${RESERVED_PREFIX}group:${group}`;
}

/**
 * @internal The `ctx.state` of one source.
 *
 * Reads see the committed checkpoint, overlaid by what the current cycle staged. Writes made
 * inside a cycle are staged in that cycle and committed by the runner after the sink acknowledged
 * the cycle's records (or dropped when the cycle failed). Writes made outside any cycle (in
 * `create()`, or by a streaming collector) are committed once every record pushed before them was
 * written (`barrier`).
 */
export class SourceState implements PluginState {
  private committed: Record<string, unknown> = {};
  private ambient: Promise<void> = Promise.resolve();

  constructor(
    readonly source: string,
    private readonly store: CheckpointStore,
    private readonly barrier: () => Promise<void>,
    private readonly onCommitted?: (values: Record<string, unknown>) => void,
    /** Where the checkpoint is kept: the source id, or `<source>#<shard>` for a shard. */
    readonly checkpointId: string = source,
  ) {}

  /** Loads the committed checkpoint (at start-up, and again when a worker takes the source over). */
  async load(): Promise<void> {
    this.committed = await this.store.load(this.checkpointId);
    this.onCommitted?.(copy(this.committed) as Record<string, unknown>);
  }

  /** The committed value of a key (runtime keys included). */
  committedValue(key: string): unknown {
    return this.committed[key];
  }

  async get<T = unknown>(key: string): Promise<T | undefined> {
    checkKey(key);
    const staged = this.stage()?.staged.get(key);
    if (staged) return 'deleted' in staged ? undefined : (copy(staged.value) as T);
    return copy(this.committed[key]) as T | undefined;
  }

  async set<T = unknown>(key: string, value: T): Promise<void> {
    checkKey(key);
    if (value === undefined) return this.delete(key);
    const stored = toJson(this.source, key, value);
    await this.write(key, { value: stored });
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    await this.write(key, { deleted: true });
  }

  /** Commits the staged writes of a cycle, together with runtime keys (`extra`). */
  async commit(stage: SourceCycleState | undefined, extra: Record<string, unknown> = {}): Promise<void> {
    const changes: CheckpointChanges = { set: { ...extra }, delete: [] };
    const deletes: string[] = [];
    for (const [key, change] of stage?.staged ?? []) {
      if ('deleted' in change) deletes.push(key);
      else changes.set[key] = change.value;
    }
    changes.delete = deletes;
    if (Object.keys(changes.set).length === 0 && deletes.length === 0) return;
    await this.store.commit(this.checkpointId, changes);
    for (const key of deletes) delete this.committed[key];
    Object.assign(this.committed, changes.set);
    this.onCommitted?.(copy(this.committed) as Record<string, unknown>);
  }

  /** Waits for ambient commits in progress. */
  async settle(): Promise<void> {
    await this.ambient;
  }

  private stage(): SourceCycleState | undefined {
    const scope = currentScope();
    return scope?.of(this.source);
  }

  private async write(key: string, change: StagedChange): Promise<void> {
    const stage = this.stage();
    if (stage) {
      stage.staged.set(key, change);
      return;
    }
    const run = this.ambient
      .catch(() => undefined)
      .then(async () => {
        await this.barrier();
        await this.store.commit(this.checkpointId, 'deleted' in change ? { set: {}, delete: [key] } : { set: { [key]: change.value }, delete: [] });
        if ('deleted' in change) delete this.committed[key];
        else this.committed[key] = change.value;
        this.onCommitted?.(copy(this.committed) as Record<string, unknown>);
      });
    this.ambient = run;
    await run;
  }
}

/**
 * @internal The `ctx.state` of a source split into shards: inside a cycle it is the state of the
 * cycle's shard (each shard keeps its own checkpoint, `<source>#<shard>`, so shards can run on
 * different workers); outside any cycle (in `create()`) the source's own.
 */
export class ShardedState implements PluginState {
  constructor(
    private readonly base: SourceState,
    private readonly shards: readonly SourceState[],
  ) {}

  private pick(): SourceState {
    const shard = currentScope()?.shard;
    return shard === undefined ? this.base : (this.shards[shard] ?? this.base);
  }

  get<T = unknown>(key: string): Promise<T | undefined> {
    return this.pick().get<T>(key);
  }

  set<T = unknown>(key: string, value: T): Promise<void> {
    return this.pick().set(key, value);
  }

  delete(key: string): Promise<void> {
    return this.pick().delete(key);
  }
}

function checkKey(key: string): void {
  if (typeof key !== 'string' || key === '') throw new TypeError(`ctx.state: key must be a non-empty string, got ${typeof key}`);
  if (key.startsWith(RESERVED_PREFIX)) throw new TypeError(`ctx.state: keys starting with "${RESERVED_PREFIX}" are reserved for the runtime (got "${key}")`);
}

function toJson(source: string, key: string, value: unknown): unknown {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw new TypeError(`ctx.state.set("${key}") of source "${source}": value is not JSON-serializable (${err instanceof Error ? err.message : String(err)})`);
  }
  if (text === undefined) throw new TypeError(`ctx.state.set("${key}") of source "${source}": value is not JSON-serializable`);
  return JSON.parse(text) as unknown;
}

function copy(value: unknown): unknown {
  return value === undefined ? undefined : (JSON.parse(JSON.stringify(value)) as unknown);
}
