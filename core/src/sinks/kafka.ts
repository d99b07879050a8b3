/**
 * The Kafka sink: Avro records (Confluent framing with a schema registry, or single-object
 * encoding without one) through a bounded, batching buffer into an idempotent producer
 * (`acks=all`). See docs/kafka.md.
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { ConfigError } from '../errors/ConfigError.js';
import { DeliveryError } from '../errors/DeliveryError.js';
import { NonRetriableError } from '../errors/TributaryError.js';
import { createKafkajsTransport } from '../kafka/kafkajs.js';
import { KafkaSchemaStore } from '../kafka/schemaTopic.js';
import { DEFAULT_DEAD_LETTER_SUFFIX, DEFAULT_SCHEMA_TOPIC, deadLetterTopic, ensureTopics, planTopics } from '../kafka/topics.js';
import type { KafkaAdmin, KafkaConnection, KafkaProducer, KafkaTransport, OutgoingMessage, ProducerOptions, ProducerTransaction } from '../kafka/transport.js';
import { defaultMetricsRegistry } from '../observability/metrics.js';
import { secretScrubber } from '../observability/logger.js';
import type { DeadLetter, Envelope, Sink, SinkConfig, TopicSpec } from '../pipeline/types.js';
import { shardId } from '../pipeline/runtime/sourceState.js';
import { fingerprint64 } from '../serde/avro.js';
import { SchemaRegistryClient, type CompatibilityLevel, type SchemaRegistryApi } from '../serde/registry.js';
import type { SchemaStore } from '../serde/schemaStore.js';
import { Serializer } from '../serde/Serializer.js';
import { KafkaCheckpointStore } from '../state/kafka.js';
import type { CheckpointChanges, CheckpointStore } from '../state/types.js';
import type { AvroSchema } from '../serde/types.js';
import { encodeStringKey } from '../serde/wire.js';
import { ProduceBuffer, type BufferedMessage } from './kafka/buffer.js';
import { kafkaSinkMetrics, type KafkaSinkMetrics } from './kafka/metrics.js';
import { partitionForKey } from './kafka/murmur2.js';
import { rootMessage } from './kafka/sendErrors.js';
import { stringifySafe } from './json.js';

/** The `kafka` variant of a pipeline's `sink:` section, as the config loader produces it. */
export type KafkaSinkConfig = Extract<SinkConfig, { type: 'kafka' }>;

/**
 * What {@link createKafkaSink} accepts: a full {@link KafkaSinkConfig}, or only `brokers` and the
 * settings that differ from the defaults.
 */
export type KafkaSinkSettings = Pick<KafkaSinkConfig, 'brokers'> &
  Partial<Omit<KafkaSinkConfig, 'brokers' | 'batch' | 'buffer'>> & {
    batch?: Partial<KafkaSinkConfig['batch']>;
    buffer?: Partial<KafkaSinkConfig['buffer']>;
    /** The compacted topic of writer schemas in single-object mode. Default `_tributary_schemas`. */
    schemaTopic?: string;
    /** The compacted topic of source checkpoints ({@link KafkaSink.checkpointStore}). Default `_tributary_offsets`. */
    offsetsTopic?: string;
  };

/** Options of {@link createKafkaSink} besides the config. */
export interface KafkaSinkOptions {
  /** Logger (a child `{ sink: 'kafka' }` is advisable). Default: none. */
  logger?: Logger;
  /** prom-client registry for the sink's metrics. Default: prom-client's global registry. */
  registry?: Registry;
  /** Secrets to keep out of dead-letter reasons and logs. Default: none. */
  secrets?: readonly string[];
  /** The Kafka client. Default: built from the config (`client: kafkajs`, brokers, SASL, TLS). */
  transport?: KafkaTransport;
  /**
   * Builds the Kafka client from the connection settings of the config (brokers, client id, SASL,
   * TLS) when no `transport` is given. Default: the adapter named by `client`.
   */
  createTransport?: (connection: KafkaConnection, client: 'kafkajs' | 'confluent') => KafkaTransport | Promise<KafkaTransport>;
  /** The schema registry (registry mode). Default: a `SchemaRegistryClient` for `schemaRegistry.url`. */
  schemaRegistry?: SchemaRegistryApi;
  /** Where writer schemas are published in single-object mode. Default: the compacted schema topic. */
  schemaStore?: SchemaStore;
  /** How long `close()` waits for Kafka to acknowledge what is buffered, in ms. Default `30000`. */
  closeTimeoutMs?: number;
  /** Most bytes per produce request and partition. Default `921600` (900 KiB, under the broker's 1 MiB `message.max.bytes`). */
  maxBatchBytes?: number;
  /** Retry delays after a failed send: first delay and cap, in ms (doubled per attempt, with jitter). Default `{ initialDelayMs: 200, maxDelayMs: 5000 }`. */
  retry?: { initialDelayMs?: number; maxDelayMs?: number };
}

/** The transactional producer of one source and the transaction of its current cycle. */
interface SourceTransactions {
  transactionalId: string;
  producer: Promise<KafkaProducer>;
  tx: ProducerTransaction | undefined;
  /** Operations on this producer run one after the other. */
  chain: Promise<unknown>;
}

interface TopicState {
  topic: string;
  serializer: Serializer;
  partitions: number;
}

const DEFAULTS = {
  client: 'kafkajs',
  clientId: 'tributary',
  compression: 'none',
  batch: { maxRecords: 500, lingerMs: 50 },
  buffer: { maxRecords: 10_000, maxBytes: 64 * 1024 * 1024 },
  transactionTimeoutMs: 60_000,
} as const;

/** Longest dead-letter reason put in a header (the JSON value holds all of it). */
const MAX_REASON_HEADER = 1000;

/**
 * Creates the Kafka sink (not started: call `start(topics)`).
 *
 * - **Topics** are created explicitly at start (never by broker auto-creation): each data topic
 *   with `topics[topic]` (`partitions` default 1, `replicationFactor` default 1, topic configs
 *   such as `retention.ms` or `cleanup.policy`), its dead-letter topic `<topic>.dlq`, and in
 *   single-object mode the compacted schema topic `_tributary_schemas`.
 * - **Schemas**: in registry mode each topic's schema is checked against subject
 *   `<topic>-value` (compatibility `BACKWARD` unless configured) and registered; an incompatible
 *   schema fails `start()` with a `SchemaCompatibilityError` before anything is sent. In
 *   single-object mode the writer schemas are published to the schema topic.
 * - **Writes**: records are validated and Avro-encoded (`SchemaValidationError` on a bad
 *   record: the whole `write` fails and nothing of it is sent), keys become UTF-8 strings and pick
 *   their partition with Kafka's murmur2 (as Java does), and the records enter a bounded buffer
 *   that batches by size (`batch.maxRecords`) and time (`batch.lingerMs`). `write()` resolves
 *   when Kafka acknowledged every record (`acks=all`, idempotent producer); while the buffer
 *   holds `buffer.maxRecords` records or `buffer.maxBytes` bytes, `write()` waits for room
 *   (back-pressure). When Kafka is down, sends are retried with backoff until it is back; records
 *   are never dropped.
 * - **Dead letters** go as JSON to `<topic>.dlq` with headers `tributary-source`,
 *   `tributary-error-code`, `tributary-error-field` and `tributary-error-reason`.
 * - **`close()`** flushes (bounded by `closeTimeoutMs`) and throws a `DeliveryError` saying how
 *   many records were not acknowledged when that was not possible.
 *
 * Metrics: `tributary_kafka_records_sent_total{topic}`, `tributary_kafka_bytes_sent_total{topic}`,
 * `tributary_kafka_batches_total{topic}`, `tributary_kafka_send_errors_total{topic}`,
 * `tributary_kafka_send_duration_seconds{topic}`, `tributary_kafka_buffer_records`,
 * `tributary_kafka_buffer_bytes`.
 *
 * @param config The sink settings: `brokers` (required); `clientId` (default `tributary`);
 *   `client` (`kafkajs`, default, or `confluent`); `wireFormat` (default `registry` when
 *   `schemaRegistry` is set, else `single-object`); `schemaRegistry` (`url`, `username`,
 *   `password`, `compatibility` default `BACKWARD`); `sasl` (`mechanism` `plain` |
 *   `scram-sha-256` | `scram-sha-512`, `username`, `password`); `ssl` (`true` or
 *   `{ ca, cert, key, rejectUnauthorized }`); `compression` (default `none`; `gzip`);
 *   `batch` (`maxRecords` default 500, `lingerMs` default 50); `buffer` (`maxRecords` default
 *   10 000, `maxBytes` default 64 MiB); `topics` (per-topic `partitions`, `replicationFactor`,
 *   `config`); `deadLetterSuffix` (default `.dlq`); `schemaTopic` (default
 *   `_tributary_schemas`); `offsetsTopic` (default `_tributary_offsets`, see `checkpointStore`); `exactlyOnce` (default `false`: with `true`, each source writes through a transactional producer `<pipeline>.<source>` and a cycle becomes visible on `commitCycle`, see docs/kafka.md); `transactionTimeoutMs` (default 60 000: how long a cycle's transaction may stay open before the broker aborts it; at most the broker's `transaction.max.timeout.ms`).
 * @param options See {@link KafkaSinkOptions}.
 *
 * @example
 * ```ts
 * import { createKafkaSink } from '@tributary/core';
 * const sink = createKafkaSink({
 *   brokers: ['127.0.0.1:9092'],
 *   schemaRegistry: { url: 'http://127.0.0.1:8081', compatibility: 'BACKWARD' },
 *   topics: { 'energy.prices': { partitions: 6, replicationFactor: 3, config: { 'retention.ms': '604800000' } } },
 * });
 * await sink.start([{ topic: 'energy.prices', schema: priceSchema, source: 'entsoe', stream: 'prices' }]);
 * await sink.write([{ topic: 'energy.prices', key: 'DE-LU', value: price, timestamp: Date.now(), headers: {} }]);
 * await sink.close();
 * ```
 */
export function createKafkaSink(config: KafkaSinkSettings, options: KafkaSinkOptions = {}): KafkaSink {
  return new KafkaSink(config, options);
}

/**
 * The Kafka sink: everything {@link createKafkaSink} describes, plus `buffered` (what waits for
 * Kafka right now) and `format` (the wire format in use).
 *
 * @example
 * ```ts
 * import { KafkaSink } from '@tributary/core';
 * const sink = new KafkaSink({ brokers: ['127.0.0.1:9092'], wireFormat: 'single-object' });
 * await sink.start(topics);
 * console.log(sink.buffered); // { records: 0, bytes: 0, waiting: 0 }
 * ```
 */
export class KafkaSink implements Sink {
  readonly name = 'kafka';
  private readonly config: KafkaSinkSettings;
  private readonly options: KafkaSinkOptions;
  private readonly logger: Logger | undefined;
  private readonly wireFormat: 'registry' | 'single-object';
  private readonly suffix: string;
  private readonly schemaTopic: string;
  private readonly metrics: KafkaSinkMetrics;
  private readonly scrub: (text: string) => string;
  private readonly buffer: ProduceBuffer;
  private readonly topics = new Map<string, TopicState>();
  private readonly partitions = new Map<string, number>();
  private readonly dlqTopics = new Map<string, Promise<number>>();
  private readonly sticky = new Map<string, number>();
  private transport: KafkaTransport | undefined;
  private producer: KafkaProducer | undefined;
  private admin: KafkaAdmin | undefined;
  private schemaRegistry: SchemaRegistryApi | undefined;
  private ownRegistry: SchemaRegistryClient | undefined;
  private store: SchemaStore | undefined;
  private ownStore: KafkaSchemaStore | undefined;
  private state: 'new' | 'starting' | 'started' | 'closing' | 'closed' = 'new';
  private closing: Promise<void> | undefined;
  private failingSince: number | undefined;
  private readonly transactions = new Map<string, SourceTransactions>();
  private pipelineName: string | undefined;

  constructor(config: KafkaSinkSettings, options: KafkaSinkOptions = {}) {
    const issues: { path: string; message: string }[] = [];
    if (!Array.isArray(config?.brokers) || config.brokers.length === 0 || !config.brokers.every((b) => typeof b === 'string' && b !== '')) {
      issues.push({ path: 'sink.brokers', message: 'expected a non-empty list of host:port strings' });
    }
    const wireFormat = config?.wireFormat ?? (config?.schemaRegistry || options.schemaRegistry ? 'registry' : 'single-object');
    if (wireFormat !== 'registry' && wireFormat !== 'single-object') issues.push({ path: 'sink.wireFormat', message: `expected registry or single-object, got ${String(wireFormat)}` });
    if (wireFormat === 'registry' && !config?.schemaRegistry && !options.schemaRegistry) {
      issues.push({ path: 'sink.schemaRegistry', message: 'wireFormat registry needs schemaRegistry.url (without a registry use wireFormat: single-object)' });
    }
    if (issues.length) throw new ConfigError(undefined, issues);
    this.config = config;
    this.options = options;
    this.logger = options.logger;
    this.wireFormat = wireFormat;
    this.suffix = config.deadLetterSuffix ?? DEFAULT_DEAD_LETTER_SUFFIX;
    this.schemaTopic = config.schemaTopic ?? DEFAULT_SCHEMA_TOPIC;
    this.scrub = secretScrubber([...(options.secrets ?? []), ...[config.sasl?.password, config.schemaRegistry?.password].filter((s): s is string => !!s)]);
    this.metrics = kafkaSinkMetrics(options.registry ?? defaultMetricsRegistry());
    this.buffer = new ProduceBuffer({
      send: (messages) => this.producer!.send(messages),
      reset: () => this.resetProducer(),
      maxBatchRecords: config.batch?.maxRecords ?? DEFAULTS.batch.maxRecords,
      lingerMs: config.batch?.lingerMs ?? DEFAULTS.batch.lingerMs,
      maxRecords: config.buffer?.maxRecords ?? DEFAULTS.buffer.maxRecords,
      maxBytes: config.buffer?.maxBytes ?? DEFAULTS.buffer.maxBytes,
      ...(options.maxBatchBytes !== undefined ? { maxBatchBytes: options.maxBatchBytes } : {}),
      ...(options.retry?.initialDelayMs !== undefined ? { retryInitialDelayMs: options.retry.initialDelayMs } : {}),
      ...(options.retry?.maxDelayMs !== undefined ? { retryMaxDelayMs: options.retry.maxDelayMs } : {}),
      onSent: (r) => {
        this.metrics.records.inc({ topic: r.topic }, r.records);
        this.metrics.bytes.inc({ topic: r.topic }, r.bytes);
        this.metrics.batches.inc({ topic: r.topic });
        this.metrics.duration.observe({ topic: r.topic }, r.durationMs / 1000);
      },
      onSendError: (e) => {
        this.metrics.errors.inc({ topic: e.topic });
        const fields = { topic: e.topic, partition: e.partition, records: e.records, attempt: e.attempt, reason: this.scrub(rootMessage(e.error)) };
        if (e.failure === 'fatal') this.logger?.error(fields, 'Kafka rejected records for good');
        else if (e.attempt === 1 || e.attempt % 10 === 0) {
          this.failingSince ??= Date.now();
          this.logger?.warn({ ...fields, retryInMs: e.delayMs, buffered: this.buffer.bufferedRecords }, 'sending to Kafka failed; retrying (records stay buffered)');
        }
      },
      onRecovered: (r) => {
        if (this.failingSince !== undefined) {
          this.logger?.info({ topic: r.topic, partition: r.partition, attempts: r.attempts, downMs: Date.now() - this.failingSince }, 'Kafka accepts records again');
          this.failingSince = undefined;
        }
      },
      onBuffered: (records, bytes) => {
        this.metrics.bufferRecords.set(records);
        this.metrics.bufferBytes.set(bytes);
      },
    });
  }

  /** Records in the buffer (waiting or in flight, not yet acknowledged), their bytes, and records waiting for room. */
  get buffered(): { records: number; bytes: number; waiting: number } {
    return { records: this.buffer.bufferedRecords, bytes: this.buffer.bufferedBytes, waiting: this.buffer.waitingRecords };
  }

  /** The wire format in use. */
  get format(): 'registry' | 'single-object' {
    return this.wireFormat;
  }

  /**
   * Creates missing topics, checks and registers (or publishes) the schemas, and connects the
   * producer. Rejects, with nothing sent, on an incompatible schema, two different schemas for
   * one topic, an unreachable cluster or registry, or a topic that cannot be created.
   */
  async start(specs: readonly TopicSpec[]): Promise<void> {
    if (this.state !== 'new') throw new NonRetriableError(`the Kafka sink was already started (state ${this.state})`, { code: 'ERR_SINK_STATE' });
    this.state = 'starting';
    try {
      await this.doStart(specs);
      this.state = 'started';
    } catch (err) {
      this.state = 'closed';
      await this.disconnectAll();
      throw err;
    }
  }

  private async doStart(specs: readonly TopicSpec[]): Promise<void> {
    const schemas = new Map<string, { schema: AvroSchema; fingerprint: bigint; from: string }>();
    const issues: { path: string; message: string }[] = [];
    for (const spec of specs) {
      const schema = spec.schema as AvroSchema;
      let fingerprint: bigint;
      try {
        fingerprint = fingerprint64(schema);
      } catch (err) {
        issues.push({ path: `topics.${spec.topic}`, message: `the schema of source "${spec.source}" stream "${spec.stream}" is invalid: ${(err as Error).message}` });
        continue;
      }
      const seen = schemas.get(spec.topic);
      if (seen && seen.fingerprint !== fingerprint) {
        issues.push({
          path: `topics.${spec.topic}`,
          message: `receives records of two different schemas (${seen.from} and source "${spec.source}" stream "${spec.stream}"); one topic takes one writer schema`,
        });
      } else if (!seen) schemas.set(spec.topic, { schema, fingerprint, from: `source "${spec.source}" stream "${spec.stream}"` });
    }
    if (issues.length) throw new ConfigError(undefined, issues);
    const plan = planTopics({
      topics: [...schemas.keys()],
      settings: this.config.topics ?? {},
      deadLetterSuffix: this.suffix,
      ...(this.wireFormat === 'single-object' && !this.options.schemaStore ? { schemaTopic: this.schemaTopic } : {}),
    });

    // Registry mode: every schema is checked (and registered) before anything touches Kafka.
    const serializers = new Map<string, Serializer>();
    if (this.wireFormat === 'registry') {
      const registry = this.registryFor();
      const compatibility = (this.config.schemaRegistry?.compatibility ?? 'BACKWARD') as CompatibilityLevel;
      for (const [topic, { schema }] of schemas) {
        const serializer = new Serializer({ topic, schema, mode: 'registry', registry, compatibility });
        await serializer.prepare();
        serializers.set(topic, serializer);
      }
    }

    this.transport = this.options.transport ?? (await this.createTransport());
    this.admin = this.transport.admin();
    await this.admin.connect();
    const ensured = await ensureTopics(this.admin, plan);
    if (ensured.created.length) this.logger?.info({ topics: ensured.created }, `created ${ensured.created.length} Kafka topic(s)`);
    for (const m of ensured.mismatched) {
      this.logger?.warn(m, `topic ${m.topic} exists with ${m.actual} partition(s), not the ${m.planned} configured; it is left as it is`);
    }
    for (const [topic, n] of ensured.partitions) this.partitions.set(topic, n);
    for (const topic of schemas.keys()) {
      const dlq = deadLetterTopic(topic, this.suffix);
      this.dlqTopics.set(dlq, Promise.resolve(ensured.partitions.get(dlq)!));
    }

    this.producer = this.transport.producer(this.producerOptions());
    await this.producer.connect();

    if (this.wireFormat === 'single-object') {
      if (this.options.schemaStore) this.store = this.options.schemaStore;
      else this.store = this.ownStore = new KafkaSchemaStore({ transport: this.transport, topic: this.schemaTopic, producer: this.producer, ...(this.logger ? { logger: this.logger } : {}) });
      for (const [topic, { schema }] of schemas) {
        const serializer = new Serializer({ topic, schema, mode: 'single-object', store: this.store });
        await serializer.prepare();
        serializers.set(topic, serializer);
      }
    }
    for (const [topic, serializer] of serializers) this.topics.set(topic, { topic, serializer, partitions: this.partitions.get(topic)! });
    this.logger?.info(
      { topics: [...this.topics.keys()], wireFormat: this.wireFormat, brokers: this.config.brokers, client: this.transport.name },
      'Kafka sink started',
    );
  }

  /**
   * Encodes the envelopes and resolves once Kafka acknowledged all of them. Waits while the
   * buffer is full. Rejects with `SchemaValidationError` (nothing of the batch sent) when a
   * record does not match its topic's schema, and with `DeliveryError` when Kafka rejected
   * records for good or the sink closed first.
   */
  async write(batch: readonly Envelope[]): Promise<void> {
    this.assertWritable();
    if (batch.length === 0) return;
    const messages: BufferedMessage[] = [];
    const sticky = new Map<string, number>();
    for (const envelope of batch) {
      const t = this.topics.get(envelope.topic);
      if (!t) {
        throw new NonRetriableError(`Kafka sink: topic "${envelope.topic}" was not announced in start() (known: ${[...this.topics.keys()].join(', ') || 'none'})`, {
          code: 'ERR_UNKNOWN_TOPIC',
        });
      }
      const value = t.serializer.serialize(envelope.value as never);
      const key = encodeStringKey(envelope.key);
      const partition = key ? partitionForKey(key, t.partitions) : this.stickyPartition(t.topic, t.partitions, sticky);
      const message: OutgoingMessage = { topic: t.topic, key, value, headers: envelope.headers, timestamp: envelope.timestamp, partition };
      messages.push({ message, bytes: sizeOf(message) });
    }
    if (this.exactlyOnce) await this.sendInCycles(messages.map((m) => m.message), batch.map((e) => cycleKey(e.headers['tributary-source'], e.headers['tributary-shard'])));
    else await this.buffer.enqueue(messages);
  }

  /**
   * Sends dead letters as JSON to `<topic><deadLetterSuffix>` (created when missing), keyed by
   * source, with headers naming the source, the error code, the field and the reason. Goes
   * through the same buffer as records, so it is retried and acknowledged like them.
   */
  async writeDeadLetters(letters: readonly DeadLetter[]): Promise<void> {
    this.assertWritable();
    if (letters.length === 0) return;
    const messages: BufferedMessage[] = [];
    const sticky = new Map<string, number>();
    for (const letter of letters) {
      const topic = deadLetterTopic(letter.topic, this.suffix);
      const partitions = await this.dlqPartitions(topic);
      const reason = this.scrub(String(letter.reason ?? ''));
      const body: DeadLetter = { ...letter, reason };
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'tributary-source': String(letter.source ?? ''),
        'tributary-error-code': String(letter.code ?? ''),
        'tributary-error-reason': reason.length > MAX_REASON_HEADER ? `${reason.slice(0, MAX_REASON_HEADER - 3)}...` : reason,
      };
      if (letter.field) headers['tributary-error-field'] = letter.field;
      const key = encodeStringKey(letter.source ?? null);
      const message: OutgoingMessage = {
        topic,
        key,
        value: Buffer.from(stringifySafe(body), 'utf8'),
        headers,
        timestamp: Number.isFinite(letter.timestamp) ? letter.timestamp : Date.now(),
        partition: key ? partitionForKey(key, partitions) : this.stickyPartition(topic, partitions, sticky),
      };
      messages.push({ message, bytes: sizeOf(message) });
    }
    if (this.exactlyOnce) await this.sendInCycles(messages.map((m) => m.message), letters.map((l) => cycleKey(l.source, l.shard)));
    else await this.buffer.enqueue(messages);
  }

  /** Whether writes are transactional (`exactlyOnce: true`). */
  get exactlyOnce(): boolean {
    return this.config.exactlyOnce === true;
  }

  /**
   * Exactly-once: commits the open transaction of `source` (its cycle's records since the last
   * commit or abort), with `checkpoint` (a record for the offsets topic) inside it when given.
   * Resolves when the transaction is committed; does nothing when there is nothing to commit.
   * Rejects with `ERR_PRODUCER_FENCED` when another producer with the same transactional id
   * (`<pipeline>.<source>`) took over.
   */
  commitCycle(source: string, checkpoint?: OutgoingMessage): Promise<void> {
    this.assertWritable();
    if (!this.exactlyOnce) throw new NonRetriableError('Kafka sink: commitCycle() needs exactlyOnce: true', { code: 'ERR_SINK_STATE' });
    if (!checkpoint && !this.transactions.has(source)) return Promise.resolve();
    return this.onSource(source, async (t) => {
      if (checkpoint) {
        t.tx ??= await (await t.producer).transaction();
        await t.tx.send([checkpoint]);
      }
      if (!t.tx) return;
      const tx = t.tx;
      t.tx = undefined;
      await tx.commit();
    });
  }

  /** Exactly-once: aborts the open transaction of `source`; its records never become visible to read_committed readers. */
  abortCycle(source: string): Promise<void> {
    if (!this.exactlyOnce || !this.transactions.has(source)) return Promise.resolve();
    return this.onSource(source, async (t) => {
      const tx = t.tx;
      t.tx = undefined;
      await tx?.abort();
    });
  }

  /**
   * Worker mode: this runner takes `source` over. With exactly-once it starts a new transactional
   * producer `<pipeline>.<source>` and begins a transaction, which registers the producer with the
   * transaction coordinator: any other producer with that id is fenced and its open transaction
   * aborted, so the previous owner of the source can no longer commit anything. Without
   * exactly-once it does nothing.
   */
  async claimSource(source: string): Promise<void> {
    this.assertWritable();
    if (!this.exactlyOnce) return;
    await this.releaseSource(source);
    await this.onSource(source, async (t) => {
      t.tx ??= await (await t.producer).transaction();
    });
  }

  /** Worker mode: gives `source` up: aborts its open transaction (if any) and disconnects its transactional producer. */
  async releaseSource(source: string): Promise<void> {
    const t = this.transactions.get(source);
    if (!t) return;
    this.transactions.delete(source);
    await t.chain.catch(() => undefined);
    const tx = t.tx;
    t.tx = undefined;
    await tx?.abort().catch(() => undefined);
    const producer = await t.producer.catch(() => undefined);
    await producer?.disconnect().catch(() => undefined);
  }

  private async sendInCycles(messages: OutgoingMessage[], sources: readonly (string | undefined)[]): Promise<void> {
    const bySource = new Map<string, OutgoingMessage[]>();
    messages.forEach((m, i) => {
      const source = sources[i];
      if (!source) throw new NonRetriableError(`Kafka sink (exactlyOnce): a record for topic "${m.topic}" names no source (header tributary-source); each record must belong to a source's transaction`, { code: 'ERR_SINK_STATE' });
      const list = bySource.get(source) ?? [];
      list.push(m);
      bySource.set(source, list);
    });
    await Promise.all(
      [...bySource].map(([source, list]) =>
        this.onSource(source, async (t) => {
          t.tx ??= await (await t.producer).transaction();
          await t.tx.send(list);
          this.metrics.records.inc({ topic: list[0]!.topic }, list.length);
        }),
      ),
    );
  }

  /** Runs `fn` on the source's transactional producer after what is already running on it. */
  private onSource(source: string, fn: (t: SourceTransactions) => Promise<void>): Promise<void> {
    let t = this.transactions.get(source);
    if (!t) {
      const transactionalId = `${this.pipelineName ?? this.config.clientId ?? DEFAULTS.clientId}.${source}`;
      const producer = (async () => {
        const p = this.transport!.producer({ ...this.producerOptions(), transactionalId, transactionTimeoutMs: this.config.transactionTimeoutMs ?? DEFAULTS.transactionTimeoutMs });
        await p.connect();
        return p;
      })();
      const created: SourceTransactions = { transactionalId, producer, tx: undefined, chain: producer };
      // A producer that could not connect is dropped, so that the next cycle tries again.
      producer.catch(() => {
        if (this.transactions.get(source) === created) this.transactions.delete(source);
      });
      t = created;
      this.transactions.set(source, t);
    }
    const state = t;
    const run = state.chain
      .catch(() => undefined)
      .then(() => fn(state))
      .catch((err: unknown) => {
        state.tx = undefined;
        throw fencedOr(err, state.transactionalId);
      });
    state.chain = run;
    return run;
  }

  /**
   * A checkpoint store in the compacted topic `offsetsTopic` (default `_tributary_offsets`) of
   * this sink's cluster, sharing its client and producer (call after `start()`). The pipeline
   * runtime uses it instead of checkpoint files when it writes to Kafka.
   */
  checkpointStore(pipeline: string): CheckpointStore {
    if (this.state !== 'started') throw new NonRetriableError('Kafka sink: call and await start() before checkpointStore()', { code: 'ERR_SINK_STATE' });
    this.pipelineName = pipeline;
    const store = this.offsetsStore(pipeline);
    return this.exactlyOnce ? new TransactionalCheckpoints(store, this) : store;
  }

  private offsetsStore(pipeline: string): KafkaCheckpointStore {
    const replication = Math.max(1, ...Object.values(this.config.topics ?? {}).map((t) => t?.replicationFactor ?? 1));
    return new KafkaCheckpointStore({
      transport: this.transport!,
      producer: { send: (messages) => this.producer!.send(messages) },
      pipeline,
      replicationFactor: replication,
      ...(this.config.offsetsTopic !== undefined ? { topic: this.config.offsetsTopic } : {}),
      ...(this.logger ? { logger: this.logger } : {}),
    });
  }

  /** Resolves when everything written so far is acknowledged; partial batches go at once. */
  async flush(): Promise<void> {
    await this.buffer.flush();
  }

  /**
   * Flushes (at most `closeTimeoutMs`), then disconnects. Throws a `DeliveryError` with the
   * number of records Kafka did not acknowledge when the time ran out. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    const wasStarted = this.state === 'started';
    this.state = 'closing';
    const timeoutMs = this.options.closeTimeoutMs ?? 30_000;
    const { undelivered } = wasStarted ? await this.buffer.close(timeoutMs) : { undelivered: 0 };
    if (!wasStarted) this.buffer.abort(new DeliveryError('the Kafka sink closed before it started', { sink: 'kafka', undelivered: 0 }));
    await this.disconnectAll();
    this.state = 'closed';
    if (undelivered > 0) {
      const err = new DeliveryError(
        `Kafka sink closed with ${undelivered} record(s) not acknowledged by Kafka after waiting ${timeoutMs} ms (brokers ${this.config.brokers.join(', ')}); their sources were not checkpointed`,
        { sink: 'kafka', undelivered },
      );
      this.logger?.error({ undelivered, timeoutMs }, err.message);
      throw err;
    }
    this.logger?.info('Kafka sink closed; every record was acknowledged');
  }

  private async disconnectAll(): Promise<void> {
    const bounded = (what: string, p: Promise<unknown> | undefined): Promise<void> =>
      p === undefined
        ? Promise.resolve()
        : withTimeout(p, 10_000).then(
            (ok) => {
              if (!ok) this.logger?.warn(`${what}: disconnect did not finish in 10 s; going on`);
            },
            (err: unknown) => this.logger?.warn({ reason: rootMessage(err) }, `${what}: error while disconnecting`),
          );
    await bounded('schema store', this.ownStore?.close());
    const txs = [...this.transactions.values()];
    this.transactions.clear();
    await Promise.all(
      txs.map((t) =>
        bounded(
          `transactional producer ${t.transactionalId}`,
          t.chain
            .catch(() => undefined)
            .then(async () => {
              await t.tx?.abort().catch(() => undefined);
              await (await t.producer).disconnect();
            }),
        ),
      ),
    );
    await Promise.all([bounded('producer', this.producer?.disconnect()), bounded('admin', this.admin?.disconnect())]);
    this.ownRegistry?.close();
  }

  private assertWritable(): void {
    if (this.state !== 'started') {
      throw new NonRetriableError(
        this.state === 'new' || this.state === 'starting' ? 'Kafka sink: call and await start() before writing' : 'Kafka sink: write after close',
        { code: 'ERR_SINK_STATE' },
      );
    }
  }

  private stickyPartition(topic: string, partitions: number, perWrite: Map<string, number>): number {
    let p = perWrite.get(topic);
    if (p === undefined) {
      const next = this.sticky.get(topic) ?? Math.floor(Math.random() * partitions);
      p = next % partitions;
      this.sticky.set(topic, p + 1);
      perWrite.set(topic, p);
    }
    return p;
  }

  private dlqPartitions(topic: string): Promise<number> {
    let known = this.dlqTopics.get(topic);
    if (!known) {
      known = (async () => {
        const [def] = planTopics({ topics: [topic], settings: this.config.topics ?? {}, deadLetterSuffix: this.suffix });
        const ensured = await ensureTopics(this.admin!, [def!]);
        if (ensured.created.length) this.logger?.info({ topic }, `created dead-letter topic ${topic}`);
        return ensured.partitions.get(topic)!;
      })();
      this.dlqTopics.set(topic, known);
      known.catch(() => this.dlqTopics.delete(topic));
    }
    return known;
  }

  private registryFor(): SchemaRegistryApi {
    if (this.schemaRegistry) return this.schemaRegistry;
    if (this.options.schemaRegistry) return (this.schemaRegistry = this.options.schemaRegistry);
    const r = this.config.schemaRegistry!;
    this.ownRegistry = new SchemaRegistryClient({
      url: r.url,
      ...(r.username !== undefined ? { username: r.username } : {}),
      ...(r.password !== undefined ? { password: r.password } : {}),
    });
    return (this.schemaRegistry = this.ownRegistry);
  }

  private producerOptions(): ProducerOptions {
    return { idempotent: true, compression: this.config.compression ?? DEFAULTS.compression };
  }

  private async resetProducer(): Promise<void> {
    const old = this.producer;
    this.logger?.warn('Kafka lost the producer session; starting a new one (records written just before may appear twice)');
    const fresh = this.transport!.producer(this.producerOptions());
    await fresh.connect();
    this.producer = fresh;
    await old?.disconnect().catch(() => undefined);
  }

  private async createTransport(): Promise<KafkaTransport> {
    const c = this.config;
    const connection: KafkaConnection = { brokers: [...c.brokers], clientId: c.clientId ?? DEFAULTS.clientId };
    if (c.sasl) connection.sasl = { ...c.sasl };
    if (c.ssl !== undefined) connection.ssl = c.ssl;
    const client = c.client ?? DEFAULTS.client;
    if (this.options.createTransport) return this.options.createTransport(connection, client);
    if (client === 'confluent') {
      const specifier = '../kafka/confluent.js';
      let mod: { createConfluentTransport?: (o: KafkaConnection) => KafkaTransport };
      try {
        mod = (await import(specifier)) as typeof mod;
      } catch (err) {
        throw new ConfigError(undefined, [{ path: 'sink.client', message: `client confluent is not available (${(err as Error).message}); install @confluentinc/kafka-javascript or use client: kafkajs` }]);
      }
      if (typeof mod.createConfluentTransport !== 'function') throw new ConfigError(undefined, [{ path: 'sink.client', message: 'client confluent is not available in this build' }]);
      return mod.createConfluentTransport(connection);
    }
    const logger = this.logger;
    const debug = logger?.isLevelEnabled('debug') ?? false;
    return createKafkajsTransport({
      ...connection,
      logLevel: debug ? 'info' : 'nothing',
      ...(debug ? { onLog: (e) => logger?.debug({ kafkajs: e.namespace, ...e.extra }, this.scrub(e.message)) } : {}),
    });
  }
}

function sizeOf(m: OutgoingMessage): number {
  let n = (m.key?.length ?? 0) + (m.value?.length ?? 0) + 16;
  if (m.headers) for (const [k, v] of Object.entries(m.headers)) n += k.length + (typeof v === 'string' ? Buffer.byteLength(v) : v.length) + 2;
  return n;
}

function withTimeout(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.then(() => true),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * Exactly-once: the transaction a record belongs to: its source's, or for a source split into
 * shards its shard's (`<source>#<shard>`, as the runtime names the shard's checkpoint).
 */
function cycleKey(source: string | undefined, shard: string | number | undefined): string | undefined {
  if (source === undefined || shard === undefined) return source;
  return shardId(source, Number(shard));
}

/** A kafkajs or librdkafka error saying another producer took over this transactional id. */
function fencedOr(err: unknown, transactionalId: string): unknown {
  const text = `${(err as { type?: string })?.type ?? ''} ${(err as Error)?.message ?? ''} ${(err as { code?: unknown })?.code ?? ''}`;
  if (!/fenc|INVALID_PRODUCER_EPOCH|PRODUCER_FENCED|epoch/i.test(text)) return err;
  return new NonRetriableError(
    `Kafka sink: producer with transactional id "${transactionalId}" was fenced: another runner of the same pipeline and source took over; this runner's open transaction is aborted and it must stop`,
    { code: 'ERR_PRODUCER_FENCED', cause: err },
  );
}

/**
 * Exactly-once checkpoints: a source's checkpoint is written into the source's open transaction
 * and committed with it (the records of the cycle and the cursor that covers them, or neither).
 */
class TransactionalCheckpoints implements CheckpointStore {
  readonly name = 'kafka-transactional';
  constructor(
    private readonly store: KafkaCheckpointStore,
    private readonly sink: KafkaSink,
  ) {}

  load(source: string): Promise<Record<string, unknown>> {
    return this.store.load(source);
  }

  refresh(sources: readonly string[]): Promise<void> {
    return this.store.refresh(sources);
  }

  async commit(source: string, changes: CheckpointChanges): Promise<void> {
    const { message, values } = await this.store.message(source, changes);
    await this.sink.commitCycle(source, message);
    this.store.applied(source, values);
  }

  close(): Promise<void> {
    return this.store.close();
  }
}
