/**
 * Helpers of the transport contract suite: Kafka's Java murmur2 partitioner as the reference, and
 * small waiting utilities (the broker comes from test/support/kafka.ts).
 */
import type { IncomingMessage, KafkaConsumer } from '../../../core/src/kafka/transport.js';

/**
 * Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), seed 0x9747b28c, on 32-bit
 * signed integers exactly as the Java client computes it.
 */
export function murmur2(data: Buffer): number {
  const length = data.length;
  const seed = 0x9747b28c;
  const m = 0x5bd1e995;
  const r = 24;
  let h = (seed ^ length) | 0;
  const length4 = length >> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4;
    let k = (data[i4]! & 0xff) + ((data[i4 + 1]! & 0xff) << 8) + ((data[i4 + 2]! & 0xff) << 16) + ((data[i4 + 3]! & 0xff) << 24);
    k = Math.imul(k, m);
    k ^= k >>> r;
    k = Math.imul(k, m);
    h = Math.imul(h, m);
    h ^= k;
  }
  const tail = length4 * 4;
  const rest = length & 3;
  if (rest === 3) h ^= (data[tail + 2]! & 0xff) << 16;
  if (rest >= 2) h ^= (data[tail + 1]! & 0xff) << 8;
  if (rest >= 1) {
    h ^= data[tail]! & 0xff;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

/** The partition the Java client's default partitioner picks for a key: toPositive(murmur2(key)) % n. */
export function javaPartition(key: Buffer, partitions: number): number {
  return (murmur2(key) & 0x7fffffff) % partitions;
}

/** Test vectors of Kafka's UtilsTest.testMurmur2 (clients/src/test/java/org/apache/kafka/common/utils). */
export const MURMUR2_VECTORS: readonly [string, number][] = [
  ['21', -973932308],
  ['foobar', -790332482],
  ['a-little-bit-long-string', -985981536],
  ['a-little-bit-longer-string', -1486304829],
  ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
  ['abc', 479470107],
];

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` every 100 ms until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

/** Runs a consumer that appends every message it receives to the returned array. */
export async function collectInto(consumer: KafkaConsumer, topics: string[]): Promise<IncomingMessage[]> {
  const received: IncomingMessage[] = [];
  await consumer.connect();
  await consumer.subscribe(topics);
  await consumer.run(async (messages) => {
    received.push(...messages);
  });
  return received;
}

/** Waits until `received` holds at least `count` messages. */
export function waitForCount(received: IncomingMessage[], count: number, timeoutMs = 30_000): Promise<IncomingMessage[]> {
  return waitFor(`${count} messages (have ${received.length})`, () => (received.length >= count ? received : undefined), timeoutMs);
}
