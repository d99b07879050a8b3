/**
 * Kafka's key partitioning, bit for bit as the Java client does it
 * (`org.apache.kafka.common.utils.Utils.murmur2` and `BuiltInPartitioner.partitionForKey`), so
 * that records written by Tributary land on the same partitions as records with the same key
 * written from Java, Kafka Streams or librdkafka's `murmur2_random` partitioner.
 */

const SEED = 0x9747b28c;
const M = 0x5bd1e995;

/**
 * The 32-bit MurmurHash2 of `data` with Kafka's seed (`0x9747b28c`), as a signed integer like
 * Java's `Utils.murmur2`.
 *
 * @example
 * ```ts
 * import { murmur2 } from '@tributary/core';
 * murmur2(Buffer.from('foobar')); // -790332482, as in Kafka's own test
 * ```
 */
export function murmur2(data: Uint8Array): number {
  const length = data.length;
  let h = (SEED ^ length) | 0;
  const length4 = length >>> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4;
    let k = data[i4]! | (data[i4 + 1]! << 8) | (data[i4 + 2]! << 16) | (data[i4 + 3]! << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M);
    h ^= k;
  }
  // The tail (Java's switch with fall-through on length % 4).
  const tail = length & ~3;
  const rest = length & 3;
  if (rest >= 3) h ^= data[tail + 2]! << 16;
  if (rest >= 2) h ^= data[tail + 1]! << 8;
  if (rest >= 1) {
    h ^= data[tail]!;
    h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/**
 * Java's `Utils.toPositive`: clears the sign bit (not `Math.abs`, which differs for negative
 * numbers and overflows on `-2^31`).
 *
 * @example
 * ```ts
 * import { toPositive } from '@tributary/core';
 * toPositive(-790332482); // 1357151166
 * ```
 */
export function toPositive(n: number): number {
  return n & 0x7fffffff;
}

/**
 * The partition the Java client picks for a non-null key: `toPositive(murmur2(key)) % partitions`.
 *
 * @example
 * ```ts
 * import { partitionForKey } from '@tributary/core';
 * partitionForKey(Buffer.from('DE-LU'), 6); // same partition as Java's producer
 * ```
 */
export function partitionForKey(key: Uint8Array, partitions: number): number {
  if (!Number.isInteger(partitions) || partitions < 1) throw new RangeError(`partitions must be a positive integer, got ${partitions}`);
  return toPositive(murmur2(key)) % partitions;
}
