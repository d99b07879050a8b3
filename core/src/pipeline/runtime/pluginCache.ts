import type { KeyedStore, StoreEntry } from '../../operators/store.js';
import type { PluginCache } from '../../plugin/types.js';

const PREFIX = 'plugin:';

type TtlEntry = StoreEntry & { readonly expiresAt: number };

/**
 * @internal The `ctx.cache` of a source: a TTL cache over the source's store (the one its
 * `cacheFirst` and `staleFallback` layers use, under a `plugin:` key prefix). With
 * `--force-refresh`, `get` finds nothing (writes still happen), as for the HTTP cache.
 */
export class StorePluginCache implements PluginCache {
  constructor(
    private readonly store: KeyedStore,
    private readonly options: { forceRefresh: boolean; now?: () => number },
  ) {}

  get<T>(key: string): T | undefined {
    if (this.options.forceRefresh) return undefined;
    const entry = this.store.get(PREFIX + key) as TtlEntry | undefined | PromiseLike<unknown>;
    if (!entry || typeof (entry as PromiseLike<unknown>).then === 'function') return undefined;
    const e = entry as TtlEntry;
    if (this.now() >= e.expiresAt) {
      void this.store.delete(PREFIX + key);
      return undefined;
    }
    return e.values[0] as T;
  }

  set<T>(key: string, value: T, ttlMs: number): void {
    if (!(ttlMs > 0)) throw new RangeError(`ctx.cache.set("${key}"): ttlMs must be > 0, got ${String(ttlMs)}`);
    const now = this.now();
    const entry: TtlEntry = { values: [value], storedAt: now, expiresAt: now + ttlMs };
    void this.store.set(PREFIX + key, entry);
  }

  delete(key: string): void {
    void this.store.delete(PREFIX + key);
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }
}
