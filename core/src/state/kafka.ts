/**
 * A checkpoint store over a compacted Kafka topic (default `_tributary_offsets`), as Kafka Connect
 * keeps source offsets.
 *
 * Record layout (stable; other tools may read it):
 * - key: `<pipeline>/<source>` as UTF-8;
 * - value: JSON `{ "version": 1, "pipeline", "source", "updatedAt", "values": { ... } }`, the
 *   whole checkpoint of the source (the last record of a key wins, compaction keeps only it);
 * - a tombstone (null value) when a source's checkpoint becomes empty.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { TributaryError } from '../errors/TributaryError.js';
import type { IncomingMessage, KafkaAdmin, KafkaConsumer, KafkaProducer, KafkaTransport, OutgoingMessage } from '../kafka/transport.js';
import { applyChanges, jsonCopy, type CheckpointChanges, type CheckpointStore } from './types.js';

/** The default topic of source checkpoints. */
export const DEFAULT_OFFSETS_TOPIC = '_tributary_offsets';

/** Prefix of the keys of the marker records written to find the end of the topic. */
const SYNC_PREFIX = '@sync/';

/** Options of {@link KafkaCheckpointStore}. */
export interface KafkaCheckpointStoreOptions {
  /** The Kafka client. */
  transport: KafkaTransport;
  /** The pipeline's name: the first part of every key. */
  pipeline: string;
  /** The compacted topic. Default `_tributary_offsets`. */
  topic?: string;
  /** Replication factor when the store creates the topic (1 partition, `cleanup.policy=compact`). Default `1`. */
  replicationFactor?: number;
  /** A connected producer to write with (the Kafka sink passes its own). Default: the store creates one and disconnects it in `close()`. */
  producer?: Pick<KafkaProducer, 'send'>;
  /** How long loading waits to read the topic to its end, in ms. Default `30000`. */
  loadTimeoutMs?: number;
  /** Logger for unreadable records. Default: none. */
  logger?: Logger;
}

interface OffsetsRecord {
  version: 1;
  pipeline: string;
  source: string;
  updatedAt: string;
  values: Record<string, unknown>;
}

/**
 * A {@link CheckpointStore} whose checkpoints live in a compacted Kafka topic, so that a runner
 * writing to Kafka needs no local disk to resume where it stopped.
 *
 * - On the first `load`, the store creates the topic when missing (1 partition,
 *   `cleanup.policy=compact`), then reads it from the beginning to its end: it writes a marker
 *   record (a tombstone under a key of its own) to every partition and reads (read_committed)
 *   until it has seen each marker, so transaction markers and aborted records never make it wait
 *   forever. The latest record of `<pipeline>/<source>` is the source's checkpoint.
 * - `commit` writes the whole new checkpoint of the source (`acks=all`) and resolves when Kafka
 *   acknowledged it; commits of one source are serialized. An empty checkpoint is written as a
 *   tombstone, so compaction removes the key.
 * - {@link KafkaCheckpointStore.message} and {@link KafkaCheckpointStore.applied} let a
 *   transactional writer put the checkpoint into its own transaction (exactly-once).
 *
 * @example
 * ```ts
 * import { KafkaCheckpointStore, createKafkajsTransport } from '@tributary/core';
 * const transport = createKafkajsTransport({ brokers: ['127.0.0.1:9092'], clientId: 'tributary' });
 * const store = new KafkaCheckpointStore({ transport, pipeline: 'energy' });
 * await store.commit('entsoe', { set: { lastSeen: 1700000000000 }, delete: [] });
 * console.log(await store.load('entsoe')); // { lastSeen: 1700000000000 }
 * await store.close();
 * ```
 */
export class KafkaCheckpointStore implements CheckpointStore {
  readonly name = 'kafka';
  /** The offsets topic. */
  readonly topic: string;
  /** The pipeline name (key prefix). */
  readonly pipeline: string;
  private readonly options: KafkaCheckpointStoreOptions;
  private readonly values = new Map<string, Record<string, unknown>>();
  private readonly queues = new Map<string, Promise<void>>();
  private loading: Promise<void> | undefined;
  private runningRefresh: Promise<void> | undefined;
  private queuedRefresh: { wanted: Set<string>; done: Promise<void> } | undefined;
  private ownProducer: KafkaProducer | undefined;
  private closed = false;

  constructor(options: KafkaCheckpointStoreOptions) {
    if (typeof options?.pipeline !== 'string' || options.pipeline === '') {
      throw new TypeError('KafkaCheckpointStore: option "pipeline" must be a non-empty string');
    }
    this.options = options;
    this.pipeline = options.pipeline;
    this.topic = options.topic ?? DEFAULT_OFFSETS_TOPIC;
  }

  /** The key of a source's checkpoint record: `<pipeline>/<source>`. */
  keyOf(source: string): string {
    return `${this.pipeline}/${source}`;
  }

  async load(source: string): Promise<Record<string, unknown>> {
    await this.ready();
    return jsonCopy(source, this.values.get(source) ?? {});
  }

  commit(source: string, changes: CheckpointChanges): Promise<void> {
    const previous = this.queues.get(source) ?? Promise.resolve();
    const next = previous
      .catch(() => undefined)
      .then(async () => {
        this.assertOpen();
        const { message, values } = await this.message(source, changes);
        const producer = await this.producerFor();
        await producer.send([message]);
        this.applied(source, values);
      });
    this.queues.set(source, next);
    return next;
  }

  /**
   * The record that sets a source's checkpoint to its current value with `changes` applied, and
   * that new value, without writing anything: for a writer that sends it in its own transaction
   * and calls {@link KafkaCheckpointStore.applied} once the transaction committed.
   */
  async message(source: string, changes: CheckpointChanges): Promise<{ message: OutgoingMessage; values: Record<string, unknown> }> {
    await this.ready();
    const set = jsonCopy(source, changes.set);
    const values = applyChanges(this.values.get(source) ?? {}, { set, delete: changes.delete });
    const empty = Object.keys(values).length === 0;
    const body: OffsetsRecord = { version: 1, pipeline: this.pipeline, source, updatedAt: new Date().toISOString(), values };
    const message: OutgoingMessage = {
      topic: this.topic,
      key: Buffer.from(this.keyOf(source), 'utf8'),
      value: empty ? null : Buffer.from(JSON.stringify(body), 'utf8'),
      headers: { 'content-type': 'application/json' },
      timestamp: Date.now(),
    };
    return { message, values };
  }

  /** Records that a checkpoint written through {@link KafkaCheckpointStore.message} is committed. */
  applied(source: string, values: Record<string, unknown>): void {
    if (Object.keys(values).length === 0) this.values.delete(source);
    else this.values.set(source, jsonCopy(source, values));
  }

  /**
   * Reads the topic to its end again and takes the latest checkpoints of `sources` from it (a
   * worker that takes sources over from another one). The other sources keep their values.
   * One read runs at a time: refreshes asked for while one runs share the next read, which
   * starts after all of them were asked for.
   */
  refresh(sources: readonly string[]): Promise<void> {
    if (!this.queuedRefresh) {
      const wanted = new Set<string>();
      const done: Promise<void> = (this.runningRefresh ?? Promise.resolve())
        .catch(() => undefined)
        .then(async () => {
          this.queuedRefresh = undefined; // from now on, new requests wait for the next read
          this.runningRefresh = done;
          await this.ready();
          const latest = await this.readLatest();
          for (const source of wanted) {
            const values = latest.get(source);
            if (values) this.values.set(source, values);
            else this.values.delete(source);
          }
        })
        .finally(() => {
          if (this.runningRefresh === done) this.runningRefresh = undefined;
        });
      this.queuedRefresh = { wanted, done };
    }
    for (const source of sources) this.queuedRefresh.wanted.add(source);
    return this.queuedRefresh.done;
  }

  /** Every checkpoint of this pipeline read from the topic, by source id. */
  async snapshot(): Promise<Record<string, Record<string, unknown>>> {
    await this.ready();
    return Object.fromEntries([...this.values].map(([k, v]) => [k, jsonCopy(k, v)]));
  }

  /** Waits for pending commits and disconnects what the store created. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    await Promise.allSettled([...this.queues.values()]);
    this.closed = true;
    await this.ownProducer?.disconnect().catch(() => undefined);
  }

  private assertOpen(): void {
    if (this.closed) throw new TributaryError('Kafka checkpoint store is closed', { code: 'ERR_CLOSED', retriable: false });
  }

  private ready(): Promise<void> {
    this.assertOpen();
    this.loading ??= this.readAll();
    const pending = this.loading;
    pending.catch(() => {
      if (this.loading === pending) this.loading = undefined;
    });
    return pending;
  }

  private async producerFor(): Promise<Pick<KafkaProducer, 'send'>> {
    if (this.options.producer) return this.options.producer;
    if (!this.ownProducer) {
      const p = this.options.transport.producer({ idempotent: true });
      await p.connect();
      this.ownProducer = p;
    }
    return this.ownProducer;
  }

  private async readAll(): Promise<void> {
    const latest = await this.readLatest();
    for (const [source, values] of latest) {
      if (values === null) this.values.delete(source);
      else this.values.set(source, values);
    }
  }

  /** The latest checkpoint of every source of this pipeline in the topic (`null`: deleted). */
  private async readLatest(): Promise<Map<string, Record<string, unknown> | null>> {
    const admin: KafkaAdmin = this.options.transport.admin();
    await admin.connect();
    let partitions: number;
    try {
      await admin.ensureTopics([
        { topic: this.topic, partitions: 1, replicationFactor: this.options.replicationFactor ?? 1, config: { 'cleanup.policy': 'compact' } },
      ]);
      partitions = (await admin.partitions(this.topic)) ?? 1;
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    // One marker per partition: reading up to each marker means reading everything before it.
    const syncKey = `${SYNC_PREFIX}${randomBytes(8).toString('hex')}`;
    const producer = await this.producerFor();
    const acks = await producer.send(
      Array.from({ length: partitions }, (_, partition) => ({ topic: this.topic, key: Buffer.from(syncKey, 'utf8'), value: null, partition })),
    );
    const targets = new Map<number, bigint>(acks.map((a) => [a.partition, BigInt(a.offset)]));
    const latest = new Map<string, Record<string, unknown> | null>();
    const consumer: KafkaConsumer = this.options.transport.consumer({
      groupId: `tributary-offsets-${randomBytes(6).toString('hex')}`,
      from: 'earliest',
      isolationLevel: 'read_committed',
    });
    const timeoutMs = this.options.loadTimeoutMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      await consumer.connect();
      await consumer.subscribe([this.topic]);
      await new Promise<void>((resolve, reject) => {
        timer = setTimeout(
          () => reject(new TributaryError(`Kafka checkpoint store: could not read topic ${this.topic} to its end within ${timeoutMs} ms`, { code: 'ERR_CHECKPOINT_LOAD', retriable: true })),
          timeoutMs,
        );
        consumer
          .run(async (messages) => {
            for (const m of messages) {
              this.read(m, latest);
              const target = targets.get(m.partition);
              if (target !== undefined && BigInt(m.offset) >= target) targets.delete(m.partition);
            }
            if (targets.size === 0) resolve();
          })
          .catch(reject);
      });
    } finally {
      clearTimeout(timer);
      await consumer.disconnect().catch(() => undefined);
    }
    return latest;
  }

  private read(m: IncomingMessage, latest: Map<string, Record<string, unknown> | null>): void {
    const key = m.key?.toString('utf8') ?? '';
    const prefix = `${this.pipeline}/`;
    if (!key.startsWith(prefix)) return; // markers and other pipelines
    const source = key.slice(prefix.length);
    if (m.value === null) {
      latest.set(source, null);
      return;
    }
    try {
      const parsed = JSON.parse(m.value.toString('utf8')) as OffsetsRecord;
      if (typeof parsed !== 'object' || parsed === null || typeof parsed.values !== 'object' || parsed.values === null) throw new Error('no "values" object');
      latest.set(source, parsed.values);
    } catch (err) {
      this.options.logger?.warn(
        { topic: this.topic, partition: m.partition, offset: m.offset, reason: (err as Error).message },
        `offsets topic: unreadable checkpoint under key ${key} ignored`,
      );
    }
  }
}
