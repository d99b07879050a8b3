import type { CycleInfo } from './types.js';

/**
 * The shard (`0 .. count - 1`) a key belongs to: a stable hash (32-bit FNV-1a of its UTF-8
 * bytes) modulo `count`, the same in every process and on every machine.
 *
 * @example
 * ```ts
 * import { shardOf } from '@tributary/core';
 * shardOf('NL10938', 4); // always the same number in 0..3
 * ```
 */
export function shardOf(key: string, count: number): number {
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`shardOf: count must be a whole number >= 1, got ${count}`);
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(key, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % count;
}

/**
 * Whether a key is this cycle's to collect: always true for a source that is not split into
 * shards, else whether the key's {@link shardOf} is the cycle's shard. For plugins that declare
 * `shards: true`.
 *
 * @example
 * ```ts
 * import { definePlugin, inShard } from '@tributary/core';
 * // inside collect(cycle): only the stations of this cycle's shard
 * // const mine = stations.filter((s) => inShard(s.id, cycle));
 * ```
 */
export function inShard(key: string, cycle: Pick<CycleInfo, 'shard'>): boolean {
  return cycle.shard === undefined || shardOf(key, cycle.shard.count) === cycle.shard.index;
}
