/**
 * The downstream side: read Tributary's topics as an Observable of decoded records.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { Observable } from 'rxjs';
import { ConfigError } from '../errors/ConfigError.js';
import { TributaryError, isTributaryError } from '../errors/TributaryError.js';
import { createKafkajsTransport } from '../kafka/kafkajs.js';
import { KafkaSchemaStore, fingerprintKey } from '../kafka/schemaTopic.js';
import { DEFAULT_SCHEMA_TOPIC, isValidTopicName } from '../kafka/topics.js';
import type { BatchHandler, IncomingMessage, KafkaConnection, KafkaConsumer, KafkaTransport } from '../kafka/transport.js';
import type { LongMode } from '../serde/avro.js';
import { Deserializer, type DeserializedValue } from '../serde/Deserializer.js';
import { SchemaRegistryClient, type SchemaRegistryApi } from '../serde/registry.js';
import type { SchemaResolver } from '../serde/schemaStore.js';
import type { AvroSchema } from '../serde/types.js';
import { detectWireFormat } from '../serde/wire.js';

/** How record values are decoded. */
export type ValueFormat = 'avro' | 'json' | 'string' | 'bytes' | 'auto';

/** One record read from Kafka, decoded. */
export interface ConsumedRecord<T = unknown> {
  topic: string;
  partition: number;
  /** Offset in the partition, as a decimal string (64-bit). */
  offset: string;
  /** Record timestamp, epoch ms. */
  timestamp: number;
  /** The key as a UTF-8 string (Tributary writes string keys), or `null`. */
  key: string | null;
  /** The decoded value (`null` for a tombstone). */
  value: T;
  /** Headers as UTF-8 strings (`tributary-source`, `tributary-plugin`, ...). */
  headers: Record<string, string>;
  /** How the value was framed: `confluent`, `single-object`, or (non-Avro formats) `json`, `string`, `bytes`. */
  format: 'confluent' | 'single-object' | 'json' | 'string' | 'bytes' | 'null';
  /** Registry id of the writer schema (Confluent framing). */
  schemaId?: number;
  /** Fingerprint of the writer schema as 16 hex digits (single-object encoding), as keyed in the schema topic. */
  fingerprint?: string;
}

/** Options of {@link consume}. */
export interface ConsumeOptions<S extends AvroSchema | undefined = undefined> {
  /** Bootstrap brokers, `host:port`. Required unless `transport` is given. */
  brokers?: string[];
  /** Kafka client id. Default `tributary-consumer`. */
  clientId?: string;
  /** The topic to read (or use `topics`). */
  topic?: string;
  /** Topics to read. */
  topics?: string[];
  /** Consumer group: offsets are committed for it, and its members share the partitions. Required. */
  groupId: string;
  /** Where a group without committed offsets starts: `earliest` or `latest`. Default `'latest'`. */
  from?: 'earliest' | 'latest';
  /** Read every value as this schema (schema evolution). Default: as written. */
  readerSchema?: S;
  /** Base URL of a Confluent-compatible registry, to resolve schema ids (registry mode). Default: none. */
  registryUrl?: string;
  /** Basic auth for the registry (read it from the environment). Default: none. */
  registryAuth?: { username: string; password: string };
  /** A registry client instead of `registryUrl`. Default: none. */
  registry?: SchemaRegistryApi;
  /** The compacted schema topic that resolves single-object fingerprints. Default `_tributary_schemas`. */
  schemaTopic?: string;
  /** Another way to resolve single-object fingerprints (replaces the schema topic). Default: the schema topic. */
  resolver?: SchemaResolver;
  /** Default `'read_committed'`: records of aborted or open transactions are not seen. */
  isolationLevel?: 'read_committed' | 'read_uncommitted';
  /** How values are decoded: `avro` (default), `json`, `string`, `bytes`, or `auto` (Avro when framed, else JSON, else text). */
  valueFormat?: ValueFormat;
  /** How Avro longs decode (see `compileSchema`). Default `'auto'`. */
  longs?: LongMode;
  /**
   * Asynchronous handling per record. Records of one partition are handled one at a time, in
   * order; each is emitted after its handler resolved, and a batch's offsets are committed after
   * every handler of the batch resolved. A rejection errors the Observable (nothing of the batch
   * after the last handled record is committed). Default: none (see {@link consume}).
   */
  handle?: (record: ConsumedRecord<DeserializedValue<S>>) => Promise<void> | void;
  /** Called for a value that cannot be decoded; the record is then skipped (and committed). Default: none, the Observable errors. */
  onDecodeError?: (error: Error, message: IncomingMessage) => void;
  /** SASL credentials (read the password from the environment). Default: none. */
  sasl?: KafkaConnection['sasl'];
  /** TLS settings. Default: none. */
  ssl?: KafkaConnection['ssl'];
  /** The Kafka client. Default: kafkajs with `brokers`, `clientId`, `sasl`, `ssl`. */
  transport?: KafkaTransport;
  /** Logger for disconnect problems. Default: none. */
  logger?: Logger;
  /** Called once the consumer has disconnected after unsubscription, completion or error. Default: none. */
  onClose?: (error?: unknown) => void;
}

/** Thrown inside the batch handler to keep the transport from committing a partly delivered batch. */
const STOPPED = Symbol.for('tributary.consume.stopped');

class Stopped extends Error {
  readonly [STOPPED] = true;
  constructor() {
    super('consumer unsubscribed in the middle of a batch');
    this.name = 'ConsumeStopped';
  }
}

/**
 * Reads one or more topics as an Observable of decoded records.
 *
 * Values are decoded by their first bytes: Confluent-framed messages through the schema
 * registry (`registryUrl`), single-object-encoded messages through the compacted schema topic
 * (`_tributary_schemas`, read on demand) or `resolver`. With `readerSchema`, every value is read
 * as that schema (fields added with a default are filled in, removed ones skipped).
 *
 * **At-least-once.** Offsets are committed per partition batch, and only after the batch was
 * handled:
 * - without `handle`, after `next()` returned for every record of the batch: whatever the
 *   subscriber does synchronously counts as handled. Asynchronous work started from `next()`
 *   (e.g. inside `mergeMap`) is not waited for: use `handle` for that;
 * - with `handle`, after the handler's promise resolved for every record of the batch (records
 *   of a partition are handled one at a time, in order, and emitted once handled).
 *
 * A crash or restart therefore re-delivers the records after the last commit: handling should be
 * idempotent. Unsubscribing (e.g. `take(n)`) commits exactly the records already delivered and
 * disconnects the consumer cleanly; `onClose` tells when that is done.
 *
 * Errors: a value that cannot be decoded errors the Observable (unless `onDecodeError` is given)
 * with a `TributaryError` naming topic, partition and offset; its offset is not committed.
 *
 * @example
 * ```ts
 * import { consume } from '@tributary/core';
 * import { take } from 'rxjs';
 *
 * consume({
 *   brokers: ['127.0.0.1:9092'], topic: 'energy.prices', groupId: 'price-dashboard', from: 'earliest',
 *   registryUrl: 'http://127.0.0.1:8081', readerSchema: priceSchema,
 *   handle: async (record) => { await db.upsert(record.key, record.value); },
 * }).pipe(take(1000)).subscribe({ error: (err) => console.error(err) });
 * ```
 */
export function consume<S extends AvroSchema | undefined = undefined>(options: ConsumeOptions<S>): Observable<ConsumedRecord<DeserializedValue<S>>> {
  const topics = validate(options);
  type Value = DeserializedValue<S>;
  return new Observable<ConsumedRecord<Value>>((subscriber) => {
    let closed = false;
    const transport = options.transport ?? createKafkajsTransport(connectionOf(options));
    const consumer: KafkaConsumer = transport.consumer({
      groupId: options.groupId,
      from: options.from ?? 'latest',
      isolationLevel: options.isolationLevel ?? 'read_committed',
    });
    let ownRegistry: SchemaRegistryClient | undefined;
    let store: KafkaSchemaStore | undefined;
    const format = options.valueFormat ?? 'avro';
    let deserializer: Deserializer<S> | undefined;
    const deserializerFor = (): Deserializer<S> => {
      if (deserializer) return deserializer;
      let registry = options.registry;
      if (!registry && options.registryUrl) {
        registry = ownRegistry = new SchemaRegistryClient({
          url: options.registryUrl,
          ...(options.registryAuth ? { username: options.registryAuth.username, password: options.registryAuth.password } : {}),
        });
      }
      const resolver: SchemaResolver =
        options.resolver ??
        ((fp) => {
          store ??= new KafkaSchemaStore({ transport, topic: options.schemaTopic ?? DEFAULT_SCHEMA_TOPIC, ...(options.logger ? { logger: options.logger } : {}) });
          return store.resolve(fp);
        });
      deserializer = new Deserializer<S>({
        ...(registry ? { registry } : {}),
        resolver,
        ...(options.readerSchema !== undefined ? { readerSchema: options.readerSchema } : {}),
        ...(options.longs ? { longs: options.longs } : {}),
      });
      return deserializer;
    };

    const decode = async (m: IncomingMessage): Promise<ConsumedRecord<Value>> => {
      const base = {
        topic: m.topic,
        partition: m.partition,
        offset: m.offset,
        timestamp: m.timestamp,
        key: m.key === null ? null : m.key.toString('utf8'),
        headers: headersOf(m.headers),
      };
      if (m.value === null) return { ...base, value: null as Value, format: 'null' };
      const chosen = format === 'auto' ? (detectWireFormat(m.value) ? 'avro' : looksLikeJson(m.value) ? 'json' : isUtf8(m.value) ? 'string' : 'bytes') : format;
      switch (chosen) {
        case 'json':
          return { ...base, value: JSON.parse(m.value.toString('utf8')) as Value, format: 'json' };
        case 'string':
          return { ...base, value: m.value.toString('utf8') as Value, format: 'string' };
        case 'bytes':
          return { ...base, value: m.value as Value, format: 'bytes' };
        default: {
          const d = await deserializerFor().decode(m.value);
          const out: ConsumedRecord<Value> = { ...base, value: d.value, format: d.format };
          if (d.schemaId !== undefined) out.schemaId = d.schemaId;
          if (d.fingerprint !== undefined) out.fingerprint = fingerprintKey(d.fingerprint);
          return out;
        }
      }
    };

    const handler: BatchHandler = async (messages, { topic, partition }) => {
      let delivered: string | undefined;
      let index = 0;
      for (; index < messages.length && !closed; index++) {
        const m = messages[index]!;
        let record: ConsumedRecord<Value>;
        try {
          record = await decode(m);
        } catch (err) {
          if (options.onDecodeError) {
            options.onDecodeError(err instanceof Error ? err : new Error(String(err)), m);
            delivered = m.offset;
            continue;
          }
          fail(decodeError(err, m));
          break;
        }
        if (options.handle) {
          try {
            await options.handle(record);
          } catch (err) {
            fail(err);
            break;
          }
        }
        if (closed) break;
        subscriber.next(record);
        delivered = m.offset;
      }
      if (delivered === messages[messages.length - 1]?.offset) return; // the transport commits the whole batch
      // Stopped part-way: commit what was delivered, and keep the transport from committing the rest.
      if (delivered !== undefined) {
        await consumer.commit([{ topic, partition, offset: (BigInt(delivered) + 1n).toString() }]).catch((err: unknown) => {
          options.logger?.warn({ err, topic, partition }, 'consume: could not commit the records delivered before the stop');
        });
      }
      throw new Stopped();
    };

    const started = (async () => {
      await consumer.connect();
      if (closed) return;
      await consumer.subscribe(topics);
      if (closed) return;
      await consumer.run(handler);
    })();
    started.catch((err: unknown) => {
      if (!closed) fail(new TributaryError(`cannot consume ${topics.join(', ')}: ${(err as Error)?.message ?? String(err)}`, { code: 'ERR_CONSUME', cause: err }));
    });

    function fail(err: unknown): void {
      if (closed) return;
      subscriber.error(err);
    }

    return () => {
      closed = true;
      void (async () => {
        let error: unknown;
        await started.catch(() => undefined);
        for (const step of [() => consumer.disconnect(), () => store?.close()]) {
          try {
            await step();
          } catch (err) {
            error ??= err;
            options.logger?.warn({ err }, 'consume: error while disconnecting');
          }
        }
        ownRegistry?.close();
        options.onClose?.(error);
      })();
    };
  });
}

function validate(options: Omit<ConsumeOptions<AvroSchema | undefined>, 'handle'> & { handle?: unknown }): string[] {
  const issues: { path: string; message: string }[] = [];
  if (typeof options !== 'object' || options === null) throw new ConfigError(undefined, [{ path: '', message: 'consume() needs an options object' }]);
  const topics = [...(options.topic !== undefined ? [options.topic] : []), ...(options.topics ?? [])];
  if (topics.length === 0) issues.push({ path: 'topic', message: 'give a topic or topics' });
  for (const t of topics) if (!isValidTopicName(t)) issues.push({ path: 'topic', message: `${JSON.stringify(t)} is not a legal Kafka topic name` });
  if (typeof options.groupId !== 'string' || options.groupId === '') issues.push({ path: 'groupId', message: 'expected a non-empty consumer group id' });
  if (!options.transport && (!Array.isArray(options.brokers) || options.brokers.length === 0)) issues.push({ path: 'brokers', message: 'expected a non-empty list of host:port strings' });
  if (options.from !== undefined && options.from !== 'earliest' && options.from !== 'latest') issues.push({ path: 'from', message: `expected earliest or latest, got ${JSON.stringify(options.from)}` });
  const formats: ValueFormat[] = ['avro', 'json', 'string', 'bytes', 'auto'];
  if (options.valueFormat !== undefined && !formats.includes(options.valueFormat)) {
    issues.push({ path: 'valueFormat', message: `expected one of ${formats.join(', ')}, got ${JSON.stringify(options.valueFormat)}` });
  }
  if (options.handle !== undefined && typeof options.handle !== 'function') issues.push({ path: 'handle', message: 'expected a function' });
  if (issues.length) throw new ConfigError(undefined, issues.map((i) => ({ path: `consume.${i.path}`, message: i.message })));
  return [...new Set(topics)];
}

function connectionOf(options: Pick<ConsumeOptions, 'brokers' | 'clientId' | 'sasl' | 'ssl'>): KafkaConnection {
  const c: KafkaConnection = { brokers: [...(options.brokers ?? [])], clientId: options.clientId ?? 'tributary-consumer' };
  if (options.sasl) c.sasl = options.sasl;
  if (options.ssl !== undefined) c.ssl = options.ssl;
  return c;
}

function headersOf(h: Record<string, Buffer | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k] = v.toString('utf8');
  return out;
}

function decodeError(err: unknown, m: IncomingMessage): TributaryError {
  const code = isTributaryError(err) ? err.code : 'ERR_DECODE';
  const retriable = isTributaryError(err) ? err.retriable : false;
  return new TributaryError(`cannot decode the value at ${m.topic}/${m.partition}@${m.offset}: ${(err as Error)?.message ?? String(err)}`, {
    code,
    retriable,
    cause: err,
  });
}

function looksLikeJson(buf: Buffer): boolean {
  const first = buf.find((b) => b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09);
  if (first !== 0x7b && first !== 0x5b && first !== 0x22) return false;
  try {
    JSON.parse(buf.toString('utf8'));
    return true;
  } catch {
    return false;
  }
}

function isUtf8(buf: Buffer): boolean {
  return Buffer.from(buf.toString('utf8'), 'utf8').equals(buf);
}

/** @internal A random consumer group id with a readable prefix, e.g. for `tail`. */
export function randomGroupId(prefix: string): string {
  return `${prefix}-${randomBytes(6).toString('hex')}`;
}
