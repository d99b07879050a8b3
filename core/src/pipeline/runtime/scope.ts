import { AsyncLocalStorage } from 'node:async_hooks';
import type { RecordOrigin } from './envelope.js';

/** A staged checkpoint change: a new value, or a deletion. */
export type StagedChange = { value: unknown } | { deleted: true };

/** What one cycle has done so far for one source: where its data came from and its staged checkpoint writes. */
export class SourceCycleState {
  origin: RecordOrigin = 'live';
  readonly staged = new Map<string, StagedChange>();

  /** Records that a value of this cycle came from the cache (unless one already came from stale fallback). */
  markCache(): void {
    if (this.origin === 'live') this.origin = 'cache';
  }

  /** Records that a value of this cycle came from stale fallback. */
  markStale(): void {
    this.origin = 'stale';
  }
}

/**
 * @internal The scope of one cycle: per-source state for everything the cycle's plugins do
 * through `ctx.http` and `ctx.state`. Found through `AsyncLocalStorage`, so that a source whose
 * backfill chunks run concurrently keeps each chunk's origin and checkpoint writes apart.
 */
export class CycleScope {
  private readonly sources = new Map<string, SourceCycleState>();
  /** The shard this cycle runs, for a source split into shards. */
  shard: number | undefined;

  /**
   * @param id Cycle number (for logs).
   * @param signal Aborted when the cycle is cancelled; calls made through `ctx.http` inside the
   *   cycle are aborted with it.
   */
  constructor(
    readonly id: number,
    readonly signal?: AbortSignal,
  ) {}

  /** The state of one source in this cycle (created on first use). */
  of(source: string): SourceCycleState {
    let s = this.sources.get(source);
    if (!s) this.sources.set(source, (s = new SourceCycleState()));
    return s;
  }

  /** Whether the source did anything in this cycle. */
  has(source: string): boolean {
    return this.sources.has(source);
  }
}

const storage = new AsyncLocalStorage<CycleScope>();

/** @internal The scope of the cycle the caller runs in, if any. */
export function currentScope(): CycleScope | undefined {
  return storage.getStore();
}

/** @internal Runs `fn` inside `scope` (and everything it schedules). */
export function runInScope<T>(scope: CycleScope | undefined, fn: () => T): T {
  return scope ? storage.run(scope, fn) : fn();
}
