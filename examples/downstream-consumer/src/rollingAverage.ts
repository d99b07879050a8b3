/**
 * A rolling average per key over a window of event time: the logic of the downstream service,
 * kept free of Kafka so that it can be tested (and reused) on its own. python/rolling.py is the
 * same in Python; test/vectors.json holds cases both must pass.
 */
import { Observable, type OperatorFunction } from 'rxjs';

/** The state of one key after a value was added. */
export interface KeyStats {
  key: string;
  /** Values inside the window. */
  count: number;
  average: number;
  min: number;
  max: number;
  /** Event time of the newest value of the key (epoch ms). */
  latestAt: number;
  /** The newest value of the key. */
  latest: number;
}

interface Entry {
  at: number;
  value: number;
}

/**
 * Rolling averages per key: each key keeps the values whose event time lies within `windowMs` of
 * its newest value (`at > newest - windowMs`). A value older than that when it arrives (late data)
 * is ignored. Memory per key is bounded by the number of values in one window.
 */
export class RollingAverages {
  private readonly keys = new Map<string, Entry[]>();

  constructor(readonly windowMs: number) {
    if (!(windowMs > 0)) throw new RangeError(`windowMs must be a positive number of milliseconds, got ${windowMs}`);
  }

  /** Adds a value; returns the key's new stats, or `undefined` when the value was too late to count. */
  add(key: string, at: number, value: number): KeyStats | undefined {
    let entries = this.keys.get(key);
    if (!entries) {
      entries = [];
      this.keys.set(key, entries);
    }
    const newest = entries.length > 0 ? entries[entries.length - 1]!.at : -Infinity;
    if (at <= newest - this.windowMs) return undefined;
    // keep the entries sorted by time (late values within the window are inserted in place)
    let i = entries.length;
    while (i > 0 && entries[i - 1]!.at > at) i--;
    entries.splice(i, 0, { at, value });
    const cutoff = entries[entries.length - 1]!.at - this.windowMs;
    let drop = 0;
    while (drop < entries.length && entries[drop]!.at <= cutoff) drop++;
    if (drop > 0) entries.splice(0, drop);
    return this.stats(key)!;
  }

  /** The current stats of a key, or `undefined` for a key never seen. */
  stats(key: string): KeyStats | undefined {
    const entries = this.keys.get(key);
    if (!entries || entries.length === 0) return undefined;
    const values = entries.map((e) => e.value);
    const last = entries[entries.length - 1]!;
    return {
      key,
      count: values.length,
      average: values.reduce((a, b) => a + b, 0) / values.length,
      min: Math.min(...values),
      max: Math.max(...values),
      latestAt: last.at,
      latest: last.value,
    };
  }

  /** The stats of every key, sorted by key. */
  all(): KeyStats[] {
    return [...this.keys.keys()].sort().map((k) => this.stats(k)!).filter(Boolean);
  }
}

/** How {@link rollingAverage} reads a record. */
export interface RollingAverageOptions<T> {
  /** Window length in ms of event time. */
  windowMs: number;
  /** The key a record is averaged under. */
  keyOf: (record: T) => string | null | undefined;
  /** The number to average; `null`/`undefined` (or not finite) skips the record. */
  valueOf: (record: T) => number | null | undefined;
  /** Event time of the record (epoch ms). */
  timeOf: (record: T) => number;
  /** The state to update; pass one to read it from outside (`all()`). Default: a new one per subscription. */
  state?: RollingAverages;
}

/**
 * An RxJS operator: for every record with a value, emits the updated rolling average of its key.
 *
 * @example
 * ```ts
 * consume({ brokers, topic: 'energy.prices', groupId: 'averages' }).pipe(
 *   rollingAverage({ windowMs: 24 * 3_600_000, keyOf: (r) => r.key, valueOf: (r) => r.value.price, timeOf: (r) => r.timestamp }),
 * ).subscribe((s) => console.log(`${s.key}: ${s.average.toFixed(2)} over ${s.count}`));
 * ```
 */
export function rollingAverage<T>(options: RollingAverageOptions<T>): OperatorFunction<T, KeyStats> {
  return (source) =>
    new Observable<KeyStats>((subscriber) => {
      const state = options.state ?? new RollingAverages(options.windowMs);
      return source.subscribe({
        next: (record) => {
          let stats: KeyStats | undefined;
          try {
            const key = options.keyOf(record);
            const value = options.valueOf(record);
            if (key === null || key === undefined || typeof value !== 'number' || !Number.isFinite(value)) return;
            stats = state.add(key, options.timeOf(record), value);
          } catch (err) {
            subscriber.error(err);
            return;
          }
          if (stats) subscriber.next(stats);
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
    });
}

/** Reads a (dotted) field of a decoded record value: `price`, `station.id`. */
export function field(value: unknown, path: string): unknown {
  let v: unknown = value;
  for (const part of path.split('.')) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

/** `30s`, `15m`, `24h`, `7d` or a number of ms → ms. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) throw new Error(`expected a duration such as 30s, 15m, 24h or 7d, got "${text}"`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 'ms') as 'ms'];
  return Number(m[1]) * unit;
}
