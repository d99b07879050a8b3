/**
 * The schema store of the registry-less mode: a compacted Kafka topic (default
 * `_tributary_schemas`) holding every writer schema, keyed by its fingerprint.
 *
 * Record layout (stable; readers in other languages rely on it):
 * - key: the CRC-64-AVRO fingerprint of the schema's Parsing Canonical Form as 16 lower-case hex
 *   digits, most significant first (`fingerprint.toString(16).padStart(16, '0')`; Java:
 *   `String.format("%016x", SchemaNormalization.parsingFingerprint64(schema))`);
 * - value: the full writer schema as JSON text, UTF-8 (with logical types, defaults and docs,
 *   which the canonical form drops);
 * - header `content-type: application/vnd.apache.avro+json`.
 *
 * The fingerprint in a single-object message header is the same number, stored as 8
 * little-endian bytes.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { TributaryError } from '../errors/TributaryError.js';
import { fingerprint64 } from '../serde/avro.js';
import type { SchemaResolver, SchemaStore } from '../serde/schemaStore.js';
import type { AvroSchema } from '../serde/types.js';
import { DEFAULT_SCHEMA_TOPIC } from './topics.js';
import type { IncomingMessage, KafkaAdmin, KafkaConsumer, KafkaProducer, KafkaTransport } from './transport.js';

/** Options of {@link KafkaSchemaStore}. */
export interface KafkaSchemaStoreOptions {
  /** The Kafka client. */
  transport: KafkaTransport;
  /** The compacted schema topic. Default `_tributary_schemas`. */
  topic?: string;
  /**
   * A connected producer to publish with (the Kafka sink passes its own). Default: the store
   * creates and connects one on the first `publish` and disconnects it in `close()`.
   */
  producer?: KafkaProducer;
  /** Prefix of the consumer group used to read the topic (a random suffix is added per store). Default `tributary-schemas`. */
  groupIdPrefix?: string;
  /** How long a lookup of an unknown fingerprint waits for the reader to catch up with the topic, in ms. Default `30000`. */
  catchUpTimeoutMs?: number;
  /** Logger for unreadable schema records and reader problems. Default: none. */
  logger?: Logger;
}

/**
 * Formats a schema fingerprint as the schema topic's key: 16 lower-case hex digits, most
 * significant first.
 *
 * @example
 * ```ts
 * import { fingerprintKey, fingerprint64 } from '@tributary/core';
 * fingerprintKey(fingerprint64('string')); // '8f014872634503c7'
 * ```
 */
export function fingerprintKey(fingerprint: bigint): string {
  return fingerprint.toString(16).padStart(16, '0');
}

interface Waiter {
  targets: Map<number, bigint>;
  resolve: () => void;
}

/**
 * A {@link SchemaStore} over a compacted Kafka topic, so that any consumer can resolve the
 * fingerprint of any single-object-encoded message without a schema registry.
 *
 * - `publish(fp, schema)` writes the schema under its fingerprint (once per process and
 *   fingerprint; publishing again is harmless, compaction keeps one copy).
 * - `resolve(fp)` answers from memory; on a miss it reads the topic up to its current end and
 *   looks again. The topic is read by a consumer in a group of its own
 *   (`<groupIdPrefix>-<random>`), which always starts from the beginning; such groups hold no
 *   offsets anyone needs and expire with the broker's `offsets.retention.minutes`.
 *
 * Call `close()` when done: it disconnects the reader and, if the store created it, the producer.
 *
 * @example
 * ```ts
 * import { KafkaSchemaStore, Deserializer, createKafkajsTransport } from '@tributary/core';
 * const transport = createKafkajsTransport({ brokers: ['127.0.0.1:9092'], clientId: 'reader' });
 * const store = new KafkaSchemaStore({ transport });
 * const deserializer = new Deserializer({ resolver: store.resolve });
 * // ... deserializer.decode(message.value) ...
 * await store.close();
 * ```
 */
export class KafkaSchemaStore implements SchemaStore {
  /** The schema topic. */
  readonly topic: string;
  private readonly transport: KafkaTransport;
  private readonly options: KafkaSchemaStoreOptions;
  private readonly schemas = new Map<bigint, AvroSchema>();
  private readonly published = new Set<bigint>();
  private producer: KafkaProducer | undefined;
  private ownProducer: Promise<KafkaProducer> | undefined;
  private consumer: KafkaConsumer | undefined;
  private reader: Promise<void> | undefined;
  private admin: Promise<KafkaAdmin> | undefined;
  private readonly positions = new Map<number, bigint>();
  private waiters: Waiter[] = [];
  private closed = false;

  constructor(options: KafkaSchemaStoreOptions) {
    this.options = options;
    this.transport = options.transport;
    this.topic = options.topic ?? DEFAULT_SCHEMA_TOPIC;
    this.producer = options.producer;
  }

  /** Number of schemas known to this process. */
  get size(): number {
    return this.schemas.size;
  }

  /** Writes `schema` to the schema topic under its fingerprint (acknowledged by all in-sync replicas). */
  publish = async (fingerprint: bigint, schema: AvroSchema): Promise<void> => {
    this.assertOpen();
    const actual = fingerprint64(schema);
    if (actual !== fingerprint) {
      throw new TributaryError(`schema store: fingerprint ${fingerprintKey(fingerprint)} does not match the schema (its fingerprint is ${fingerprintKey(actual)})`, {
        code: 'ERR_SCHEMA_STORE',
        retriable: false,
      });
    }
    this.schemas.set(fingerprint, schema);
    if (this.published.has(fingerprint)) return;
    const producer = await this.producerFor();
    await producer.send([
      {
        topic: this.topic,
        key: Buffer.from(fingerprintKey(fingerprint), 'utf8'),
        value: Buffer.from(JSON.stringify(schema), 'utf8'),
        headers: { 'content-type': 'application/vnd.apache.avro+json' },
      },
    ]);
    this.published.add(fingerprint);
  };

  /** The schema with this fingerprint, reading the topic up to its end when it is not known yet. */
  resolve: SchemaResolver = async (fingerprint) => {
    const known = this.schemas.get(fingerprint);
    if (known !== undefined || this.closed) return known;
    await this.catchUp();
    return this.schemas.get(fingerprint);
  };

  /** Reads the topic up to its current end (bounded by `catchUpTimeoutMs`). */
  async catchUp(): Promise<void> {
    this.assertOpen();
    await this.startReader();
    const admin = await this.adminFor();
    const ends = await admin.endOffsets(this.topic);
    const targets = new Map<number, bigint>();
    for (const e of ends) if (BigInt(e.offset) > 0n) targets.set(e.partition, BigInt(e.offset));
    if (this.reached(targets)) return;
    const timeoutMs = this.options.catchUpTimeoutMs ?? 30_000;
    await new Promise<void>((resolve) => {
      const waiter: Waiter = {
        targets,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        this.options.logger?.warn({ topic: this.topic, timeoutMs }, 'schema topic: reader did not reach the end of the topic in time');
        resolve();
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Disconnects the reader, the admin client and the producer the store created. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.waiters.splice(0)) w.resolve();
    const tasks: Promise<unknown>[] = [];
    if (this.reader) tasks.push(this.reader.catch(() => undefined).then(() => this.consumer?.disconnect()));
    if (this.admin) tasks.push(this.admin.then((a) => a.disconnect()));
    if (this.ownProducer) tasks.push(this.ownProducer.then((p) => p.disconnect()));
    const results = await Promise.allSettled(tasks);
    for (const r of results) if (r.status === 'rejected') this.options.logger?.warn({ err: r.reason }, 'schema topic: error while disconnecting');
  }

  private assertOpen(): void {
    if (this.closed) throw new TributaryError('schema store is closed', { code: 'ERR_CLOSED', retriable: false });
  }

  private producerFor(): Promise<KafkaProducer> {
    if (this.producer) return Promise.resolve(this.producer);
    this.ownProducer ??= (async () => {
      const p = this.transport.producer();
      await p.connect();
      return p;
    })();
    const pending = this.ownProducer;
    pending.catch(() => {
      if (this.ownProducer === pending) this.ownProducer = undefined;
    });
    return pending;
  }

  private adminFor(): Promise<KafkaAdmin> {
    this.admin ??= (async () => {
      const a = this.transport.admin();
      await a.connect();
      return a;
    })();
    const pending = this.admin;
    pending.catch(() => {
      if (this.admin === pending) this.admin = undefined;
    });
    return pending;
  }

  private startReader(): Promise<void> {
    this.reader ??= (async () => {
      const prefix = this.options.groupIdPrefix ?? 'tributary-schemas';
      const consumer = this.transport.consumer({
        groupId: `${prefix}-${randomBytes(6).toString('hex')}`,
        from: 'earliest',
        isolationLevel: 'read_committed',
      });
      this.consumer = consumer;
      await consumer.connect();
      await consumer.subscribe([this.topic]);
      await consumer.run(async (messages) => this.onMessages(messages));
    })();
    const pending = this.reader;
    pending.catch((err: unknown) => {
      this.options.logger?.warn({ err, topic: this.topic }, 'schema topic: reader failed to start');
      if (this.reader === pending) {
        this.reader = undefined;
        void this.consumer?.disconnect().catch(() => undefined);
        this.consumer = undefined;
      }
    });
    return pending;
  }

  private async onMessages(messages: readonly IncomingMessage[]): Promise<void> {
    for (const m of messages) {
      this.add(m);
      this.positions.set(m.partition, BigInt(m.offset) + 1n);
    }
    const waiting = this.waiters;
    this.waiters = [];
    for (const w of waiting) {
      if (this.reached(w.targets)) w.resolve();
      else this.waiters.push(w);
    }
  }

  private add(m: IncomingMessage): void {
    const key = m.key?.toString('utf8') ?? '';
    if (!/^[0-9a-f]{16}$/.test(key)) {
      this.options.logger?.warn({ topic: this.topic, partition: m.partition, offset: m.offset }, 'schema topic: record without a fingerprint key ignored');
      return;
    }
    const fingerprint = BigInt(`0x${key}`);
    if (m.value === null) {
      this.schemas.delete(fingerprint);
      return;
    }
    let schema: AvroSchema;
    try {
      schema = JSON.parse(m.value.toString('utf8')) as AvroSchema;
      if (fingerprint64(schema) !== fingerprint) throw new Error(`its fingerprint is ${fingerprintKey(fingerprint64(schema))}`);
    } catch (err) {
      this.options.logger?.warn(
        { topic: this.topic, partition: m.partition, offset: m.offset, reason: (err as Error).message },
        `schema topic: unusable schema under key ${key} ignored`,
      );
      return;
    }
    this.schemas.set(fingerprint, schema);
  }

  private reached(targets: Map<number, bigint>): boolean {
    for (const [partition, end] of targets) if ((this.positions.get(partition) ?? 0n) < end) return false;
    return true;
  }
}
