/**
 * The default Kafka transport, on kafkajs (pure JavaScript, no native build).
 *
 * kafkajs sends each `send` as it comes; Tributary's sink batches records itself (by size and
 * linger time) and hands whole batches to `send`, which becomes one produce request per broker.
 */
import kafkajs from 'kafkajs';
import type { Admin, Consumer, Kafka, KafkaConfig, Message, Producer, SASLOptions, Transaction } from 'kafkajs';
import { NonRetriableError } from '../errors/index.js';
import type {
  Ack,
  BatchHandler,
  ConsumerOptions,
  IncomingMessage,
  KafkaAdmin,
  KafkaConnection,
  KafkaConsumer,
  KafkaProducer,
  KafkaTransport,
  OutgoingMessage,
  ProducerOptions,
  ProducerTransaction,
  TopicDefinition,
} from './transport.js';

const { Kafka: KafkaClass, CompressionTypes, Partitioners, logLevel } = kafkajs;

/** Options of {@link createKafkajsTransport}. */
export interface KafkajsTransportOptions extends KafkaConnection {
  /** kafkajs log level; default: errors only (routed through Tributary's logger by the caller). */
  logLevel?: 'nothing' | 'error' | 'warn' | 'info' | 'debug';
  /** Receives kafkajs log entries. */
  onLog?: (entry: { level: string; namespace: string; message: string; extra: Record<string, unknown> }) => void;
}

/**
 * @internal The kafkajs client settings of a connection: timeouts, short client retries (the sink's
 * bounded buffer handles long outages), SASL/TLS, and kafkajs's log routed to `onLog` with level
 * names (`ERROR`, `WARN`, `INFO`, `DEBUG`). The transport and the worker group share it.
 */
export function kafkajsConfig(options: KafkajsTransportOptions): KafkaConfig {
  const level = { nothing: logLevel.NOTHING, error: logLevel.ERROR, warn: logLevel.WARN, info: logLevel.INFO, debug: logLevel.DEBUG }[
    options.logLevel ?? 'error'
  ];
  const config: KafkaConfig = {
    clientId: options.clientId,
    brokers: options.brokers,
    connectionTimeout: options.connectionTimeoutMs ?? 10_000,
    requestTimeout: options.requestTimeoutMs ?? 30_000,
    logLevel: level,
    // Retries inside kafkajs are short; the sink's bounded buffer and back-pressure handle long outages.
    retry: { retries: 8, initialRetryTime: 200, maxRetryTime: 5_000 },
    logCreator: () => (entry) => {
      const { message, ...extra } = entry.log;
      options.onLog?.({ level: LEVEL_NAMES[entry.level] ?? String(entry.level), namespace: entry.namespace, message, extra });
    },
  };
  if (options.ssl !== undefined) config.ssl = options.ssl;
  if (options.sasl) config.sasl = { mechanism: options.sasl.mechanism, username: options.sasl.username, password: options.sasl.password } as SASLOptions;
  return config;
}

const LEVEL_NAMES: Record<number, string> = Object.fromEntries(Object.entries(logLevel).map(([name, n]) => [n, name]));

/**
 * Creates the kafkajs transport.
 *
 * @example
 * ```ts
 * import { createKafkajsTransport } from '@tributary/core';
 * const transport = createKafkajsTransport({ brokers: ['127.0.0.1:9092'], clientId: 'collector' });
 * const producer = transport.producer();
 * await producer.connect();
 * ```
 */
export function createKafkajsTransport(options: KafkajsTransportOptions): KafkaTransport {
  const kafka = new KafkaClass(kafkajsConfig(options));
  return {
    name: 'kafkajs',
    producer: (opts) => new KafkajsProducer(kafka, opts ?? {}),
    consumer: (opts) => new KafkajsConsumer(kafka, opts),
    admin: () => new KafkajsAdmin(kafka.admin()),
  };
}

function compressionOf(c: ProducerOptions['compression']): number | undefined {
  switch (c ?? 'none') {
    case 'none':
      return CompressionTypes.None;
    case 'gzip':
      return CompressionTypes.GZIP;
    default:
      throw new NonRetriableError(`compression "${c}" is not available with the kafkajs transport (use gzip or none, or client: confluent)`, {
        code: 'ERR_KAFKA_CONFIG',
      });
  }
}

function toMessages(messages: readonly OutgoingMessage[]): Map<string, Message[]> {
  const byTopic = new Map<string, Message[]>();
  for (const m of messages) {
    let list = byTopic.get(m.topic);
    if (!list) byTopic.set(m.topic, (list = []));
    const msg: Message = { key: m.key, value: m.value };
    if (m.headers) msg.headers = m.headers;
    if (m.timestamp !== undefined) msg.timestamp = String(m.timestamp);
    if (m.partition !== undefined) msg.partition = m.partition;
    list.push(msg);
  }
  return byTopic;
}

type Sender = Pick<Producer, 'sendBatch'> | Pick<Transaction, 'sendBatch'>;

async function sendVia(sender: Sender, messages: readonly OutgoingMessage[], compression: number | undefined): Promise<Ack[]> {
  if (messages.length === 0) return [];
  const topicMessages = [...toMessages(messages)].map(([topic, msgs]) => ({ topic, messages: msgs }));
  const meta = await sender.sendBatch({ acks: -1, topicMessages, ...(compression !== undefined ? { compression } : {}) });
  return meta.map((m) => ({ topic: m.topicName, partition: m.partition, offset: m.baseOffset ?? m.offset ?? '-1' }));
}

class KafkajsProducer implements KafkaProducer {
  private readonly producer: Producer;
  private readonly compression: number | undefined;
  private inFlight = new Set<Promise<unknown>>();

  constructor(kafka: Kafka, opts: ProducerOptions) {
    this.compression = compressionOf(opts.compression);
    const transactional = opts.transactionalId !== undefined;
    const idempotent = transactional || (opts.idempotent ?? true);
    this.producer = kafka.producer({
      // kafkajs v2's default partitioner is Java-compatible murmur2 (same partition as the Java client).
      createPartitioner: Partitioners.DefaultPartitioner,
      allowAutoTopicCreation: false,
      idempotent,
      maxInFlightRequests: opts.maxInFlightRequests ?? (idempotent ? 1 : 5),
      ...(transactional ? { transactionalId: opts.transactionalId, transactionTimeout: opts.transactionTimeoutMs ?? 60_000 } : {}),
    });
  }

  connect(): Promise<void> {
    return this.producer.connect();
  }

  send(messages: readonly OutgoingMessage[]): Promise<Ack[]> {
    const p = sendVia(this.producer, messages, this.compression);
    this.inFlight.add(p);
    const done = (): void => void this.inFlight.delete(p);
    p.then(done, done);
    return p;
  }

  async transaction(): Promise<ProducerTransaction> {
    const tx = await this.producer.transaction();
    const compression = this.compression;
    return {
      send: (messages) => sendVia(tx, messages, compression),
      sendOffsets: async (groupId, offsets) => {
        const byTopic = new Map<string, { partition: number; offset: string }[]>();
        for (const o of offsets) {
          const list = byTopic.get(o.topic) ?? [];
          list.push({ partition: o.partition, offset: o.offset });
          byTopic.set(o.topic, list);
        }
        await tx.sendOffsets({ consumerGroupId: groupId, topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })) });
      },
      commit: () => tx.commit(),
      abort: () => tx.abort(),
    };
  }

  async flush(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
  }

  async disconnect(): Promise<void> {
    await this.flush();
    await this.producer.disconnect();
  }
}

class KafkajsConsumer implements KafkaConsumer {
  private readonly consumer: Consumer;
  private readonly from: 'earliest' | 'latest';

  constructor(kafka: Kafka, opts: ConsumerOptions) {
    this.from = opts.from ?? 'latest';
    this.consumer = kafka.consumer({
      groupId: opts.groupId,
      readUncommitted: opts.isolationLevel === 'read_uncommitted',
      // Java's fetch.max.wait.ms default; kafkajs's 5 s long poll makes every disconnect wait up to 5 s.
      maxWaitTimeInMs: 500,
      allowAutoTopicCreation: false,
      ...(opts.sessionTimeoutMs ? { sessionTimeout: opts.sessionTimeoutMs } : {}),
    });
  }

  connect(): Promise<void> {
    return this.consumer.connect();
  }

  subscribe(topics: string[]): Promise<void> {
    return this.consumer.subscribe({ topics, fromBeginning: this.from === 'earliest' });
  }

  run(handler: BatchHandler): Promise<void> {
    return this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        if (!isRunning() || isStale() || batch.messages.length === 0) return;
        const messages: IncomingMessage[] = batch.messages.map((m) => ({
          topic: batch.topic,
          partition: batch.partition,
          offset: m.offset,
          key: m.key,
          value: m.value,
          headers: normalizeHeaders(m.headers),
          timestamp: Number(m.timestamp),
        }));
        await handler(messages, { topic: batch.topic, partition: batch.partition });
        const last = messages[messages.length - 1]!;
        resolveOffset(last.offset);
        await this.consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last.offset) + 1n).toString() }]);
        await heartbeat();
      },
    });
  }

  commit(offsets: { topic: string; partition: number; offset: string }[]): Promise<void> {
    return this.consumer.commitOffsets(offsets);
  }

  seek(topic: string, partition: number, offset: string): void {
    this.consumer.seek({ topic, partition, offset });
  }

  pause(topics: { topic: string; partitions?: number[] }[]): void {
    this.consumer.pause(topics.map((t) => (t.partitions ? { topic: t.topic, partitions: t.partitions } : { topic: t.topic })));
  }

  resume(topics: { topic: string; partitions?: number[] }[]): void {
    this.consumer.resume(topics.map((t) => (t.partitions ? { topic: t.topic, partitions: t.partitions } : { topic: t.topic })));
  }

  disconnect(): Promise<void> {
    return this.consumer.disconnect();
  }
}

function normalizeHeaders(h: Record<string, Buffer | string | (Buffer | string)[] | undefined> | undefined): Record<string, Buffer | undefined> {
  const out: Record<string, Buffer | undefined> = {};
  if (!h) return out;
  for (const [k, v] of Object.entries(h)) {
    const one = Array.isArray(v) ? v[v.length - 1] : v;
    out[k] = one === undefined ? undefined : Buffer.isBuffer(one) ? one : Buffer.from(one);
  }
  return out;
}

class KafkajsAdmin implements KafkaAdmin {
  constructor(private readonly admin: Admin) {}

  connect(): Promise<void> {
    return this.admin.connect();
  }

  async ensureTopics(topics: readonly TopicDefinition[]): Promise<string[]> {
    const existing = new Set(await this.admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t.topic));
    if (missing.length === 0) return [];
    await this.admin.createTopics({
      waitForLeaders: true,
      topics: missing.map((t) => ({
        topic: t.topic,
        numPartitions: t.partitions,
        replicationFactor: t.replicationFactor,
        configEntries: Object.entries(t.config ?? {}).map(([name, value]) => ({ name, value })),
      })),
    });
    return missing.map((t) => t.topic);
  }

  listTopics(): Promise<string[]> {
    return this.admin.listTopics();
  }

  async partitions(topic: string): Promise<number | undefined> {
    const topics = await this.admin.listTopics();
    if (!topics.includes(topic)) return undefined;
    const meta = await this.admin.fetchTopicMetadata({ topics: [topic] });
    return meta.topics[0]?.partitions.length;
  }

  async endOffsets(topic: string): Promise<{ partition: number; offset: string }[]> {
    const offsets = await this.admin.fetchTopicOffsets(topic);
    return offsets.map((o) => ({ partition: o.partition, offset: o.high }));
  }

  deleteTopics(topics: string[]): Promise<void> {
    return this.admin.deleteTopics({ topics });
  }

  disconnect(): Promise<void> {
    return this.admin.disconnect();
  }
}
