/**
 * The optional second Kafka transport, on `@confluentinc/kafka-javascript` (Confluent's binding of
 * librdkafka, the C client).
 *
 * The producer uses the package's native API: every message goes straight into librdkafka's queue
 * and one promise per `send` settles when the last delivery report of that call arrives, so
 * librdkafka batches, compresses and pipelines requests itself (`batch.num.messages`,
 * `batch.size`, up to 5 in-flight requests with idempotence, which keeps order). In quick runs
 * this sent 1.0–2× (mostly about 1.5×) as many records per second as the package's
 * KafkaJS-compatible producer, which creates one promise per message. Consumer
 * and admin use the package's KafkaJS-compatible API, which handles rebalances, per-partition
 * batches, pause/resume and manual commits.
 *
 * The package is an optional dependency with a native build; it is loaded lazily, the first time a
 * transport is created, so Tributary works without it.
 */
import { createRequire } from 'node:module';
import { NonRetriableError, TributaryError } from '../errors/index.js';
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

/** Name of the npm package this transport runs on. */
export const CONFLUENT_PACKAGE = '@confluentinc/kafka-javascript';

/** Options of {@link createConfluentTransport}. */
export interface ConfluentTransportOptions extends KafkaConnection {
  /** librdkafka log level; default: errors only. */
  logLevel?: 'nothing' | 'error' | 'warn' | 'info' | 'debug';
  /** Receives librdkafka and client log entries (routed through Tributary's logger by the caller). */
  onLog?: (entry: { level: string; namespace: string; message: string; extra: Record<string, unknown> }) => void;
  /**
   * Producer: milliseconds librdkafka waits to fill a batch (`linger.ms`). Default 0: `send` gets
   * whole batches from the sink, and librdkafka still batches whatever is queued when it sends;
   * raise it (e.g. 5) when callers send records one at a time.
   */
  lingerMs?: number;
  /** Producer: most messages in one batch (`batch.num.messages`). Default 10 000. */
  batchNumMessages?: number;
  /** Producer: most bytes in one batch (`batch.size`). Default 1 000 000. */
  batchBytes?: number;
  /**
   * Producer: how long librdkafka keeps retrying a message before its `send` fails
   * (`message.timeout.ms`). Default 120 000.
   */
  messageTimeoutMs?: number;
  /** Producer: most messages waiting in librdkafka's queue (`queue.buffering.max.messages`). Default 500 000. */
  queueMaxMessages?: number;
  /** Consumer: most messages handed to one batch handler call (`js.consumer.max.batch.size`). Default 500. */
  maxBatchSize?: number;
  /** Extra librdkafka properties (CONFIGURATION.md names), applied last to every client. */
  librdkafka?: Record<string, string | number | boolean>;
}

/** Whether the optional package can be loaded, and its librdkafka version or why not. */
export type ConfluentAvailability = { available: true; librdkafkaVersion: string } | { available: false; reason: string };

// ---------------------------------------------------------------------------------------------
// The parts of the package this file uses, typed here so that core type-checks without it.

interface RdError extends Error {
  code: number;
  isFatal?: boolean;
  isRetriable?: boolean;
  isTxnRequiresAbort?: boolean;
}
interface RdDeliveryReport {
  topic: string;
  partition: number;
  offset: number;
  opaque?: unknown;
}
type RdHeaders = Array<Record<string, Buffer | string>>;
interface RdClient {
  connect(metadataOptions: Record<string, unknown> | null, cb: (err: RdError | null) => void): unknown;
  disconnect(timeoutOrCb: number | ((err: unknown) => void), cb?: (err: unknown) => void): unknown;
  on(event: string, listener: (...args: never[]) => void): unknown;
}
interface RdProducer extends RdClient {
  produce(topic: string, partition: number, value: Buffer | null, key: Buffer | null, timestamp: number, opaque: unknown, headers: RdHeaders | null): unknown;
  setPollInBackground(set: boolean): void;
  flush(timeout: number, cb: (err: RdError | null) => void): unknown;
  initTransactions(timeout: number, cb: (err: RdError | null) => void): void;
  beginTransaction(cb: (err: RdError | null) => void): void;
  commitTransaction(timeout: number, cb: (err: RdError | null) => void): void;
  abortTransaction(timeout: number, cb: (err: RdError | null) => void): void;
  sendOffsetsToTransaction(offsets: { topic: string; partition: number; offset: number }[], consumer: RdClient, timeout: number, cb: (err: RdError | null) => void): void;
}
interface CompatLogger {
  info(message: string, extra?: object): void;
  error(message: string, extra?: object): void;
  warn(message: string, extra?: object): void;
  debug(message: string, extra?: object): void;
  namespace(ns: string): CompatLogger;
  setLogLevel(level: number): void;
}
interface CompatBatchMessage {
  key: Buffer | null;
  value: Buffer | null;
  timestamp: string;
  offset: string;
  headers?: Record<string, Buffer | string | (Buffer | string)[] | undefined>;
}
interface CompatBatchPayload {
  batch: { topic: string; partition: number; messages: CompatBatchMessage[] };
  resolveOffset(offset: string): void;
  isRunning(): boolean;
  isStale(): boolean;
}
interface CompatConsumer {
  connect(): Promise<void>;
  subscribe(s: { topics: string[] }): Promise<void>;
  run(config: { eachBatchAutoResolve: boolean; eachBatch: (payload: CompatBatchPayload) => Promise<void> }): Promise<void>;
  commitOffsets(offsets: { topic: string; partition: number; offset: string }[]): Promise<void>;
  seek(tpo: { topic: string; partition: number; offset: string }): void;
  pause(topics: { topic: string; partitions?: number[] }[]): unknown;
  resume(topics: { topic: string; partitions?: number[] }[]): void;
  disconnect(): Promise<void>;
}
interface CompatAdmin {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  createTopics(options: {
    timeout?: number;
    topics: { topic: string; numPartitions: number; replicationFactor: number; configEntries: { name: string; value: string }[] }[];
  }): Promise<boolean>;
  deleteTopics(options: { topics: string[]; timeout?: number }): Promise<void>;
  listTopics(options?: { timeout?: number }): Promise<string[]>;
  fetchTopicMetadata(options: { topics: string[]; timeout?: number }): Promise<{ name: string; partitions: { partitionId: number; leader: number }[] }[]>;
  fetchTopicOffsets(topic: string, options?: { timeout?: number }): Promise<{ partition: number; high: string; low: string }[]>;
}
interface CompatKafka {
  consumer(config: Record<string, unknown>): CompatConsumer;
  admin(config?: Record<string, unknown>): CompatAdmin;
}
interface ConfluentModule {
  librdkafkaVersion: string;
  Producer: new (config: Record<string, unknown>) => RdProducer;
  KafkaConsumer: new (config: Record<string, unknown>) => RdClient;
  KafkaJS: {
    Kafka: new (config: Record<string, unknown>) => CompatKafka;
    logLevel: Record<'NOTHING' | 'ERROR' | 'WARN' | 'INFO' | 'DEBUG', number>;
  };
}

const ERR_QUEUE_FULL = -184;
/** Messages purged from librdkafka's queue (abort, or a fatal error such as a fenced transactional producer). */
const ERR_PURGE_QUEUE = -152;
const ERR_PURGE_INFLIGHT = -151;
/** How long a send that failed with a purge waits for the fatal error that caused it to be reported. */
const FATAL_REPORT_WAIT_MS = 500;
const ERR_TOPIC_ALREADY_EXISTS = 36;

let loaded: ConfluentModule | undefined;

function load(): ConfluentModule {
  if (loaded) return loaded;
  try {
    const require = createRequire(import.meta.url);
    loaded = require(CONFLUENT_PACKAGE) as ConfluentModule;
    return loaded;
  } catch (err) {
    throw new NonRetriableError(
      `the Kafka client "confluent" needs the optional package ${CONFLUENT_PACKAGE}, which could not be loaded ` +
        `(${(err as Error).message.split('\n')[0]}). Install it with: ` +
        `CKJS_LINKING=dynamic npm install ${CONFLUENT_PACKAGE} (needs gcc, g++, make, python3 and the ` +
        `libssl, libsasl2, zlib, libzstd, liblz4 development packages), or use client: kafkajs`,
      { code: 'ERR_KAFKA_CLIENT_MISSING', cause: err },
    );
  }
}

/**
 * Tells whether `@confluentinc/kafka-javascript` can be loaded here, without throwing.
 *
 * @example
 * ```ts
 * import { confluentAvailability } from '@tributary/core';
 * const a = confluentAvailability();
 * console.log(a.available ? `librdkafka ${a.librdkafkaVersion}` : a.reason);
 * ```
 */
export function confluentAvailability(): ConfluentAvailability {
  try {
    return { available: true, librdkafkaVersion: load().librdkafkaVersion };
  } catch (err) {
    return { available: false, reason: (err as Error).message };
  }
}

/**
 * Creates the transport on `@confluentinc/kafka-javascript` (librdkafka).
 *
 * Producers are idempotent with acks=all by default and partition keys with `murmur2_random`,
 * librdkafka's Java-compatible partitioner (its own default, `consistent_random`, is not), so a key
 * lands on the same partition as with the Java client and the kafkajs transport. Consumers commit
 * manually, after the batch handler resolves. Throws a `NonRetriableError` with code
 * `ERR_KAFKA_CLIENT_MISSING` when the optional package is not installed or did not build.
 *
 * @example
 * ```ts
 * import { createConfluentTransport } from '@tributary/core';
 * const transport = createConfluentTransport({ brokers: ['127.0.0.1:9092'], clientId: 'collector' });
 * const producer = transport.producer({ compression: 'zstd' });
 * await producer.connect();
 * ```
 */
export function createConfluentTransport(options: ConfluentTransportOptions): KafkaTransport {
  if (!Array.isArray(options.brokers) || options.brokers.length === 0) {
    throw new NonRetriableError('createConfluentTransport: brokers must be a non-empty array of "host:port"', { code: 'ERR_KAFKA_CONFIG' });
  }
  const mod = load();
  const level = options.logLevel ?? 'error';
  const base = baseConfig(options, level);
  const logger = compatLogger(options, level);
  const compatLevel = mod.KafkaJS.logLevel[level.toUpperCase() as 'NOTHING'];
  const kafka = new mod.KafkaJS.Kafka({ ...base, kafkaJS: { logger, logLevel: compatLevel } });
  return {
    name: 'confluent',
    producer: (opts) => new ConfluentProducer(mod, base, options, opts ?? {}),
    consumer: (opts) => new ConfluentConsumer(kafka, options, opts),
    admin: () => new ConfluentAdmin(kafka.admin()),
  };
}

const SYSLOG_LEVEL = { nothing: 0, error: 3, warn: 4, info: 6, debug: 7 } as const;

/** librdkafka properties shared by every client: connection, security, logging. */
function baseConfig(options: ConfluentTransportOptions, level: keyof typeof SYSLOG_LEVEL): Record<string, unknown> {
  const c: Record<string, unknown> = {
    'bootstrap.servers': options.brokers.join(','),
    'client.id': options.clientId,
    'socket.connection.setup.timeout.ms': Math.max(1_000, options.connectionTimeoutMs ?? 10_000),
    'socket.timeout.ms': options.requestTimeoutMs ?? 30_000,
    'allow.auto.create.topics': false,
    log_level: SYSLOG_LEVEL[level],
  };
  const ssl = options.ssl;
  if (options.sasl) {
    c['security.protocol'] = ssl ? 'sasl_ssl' : 'sasl_plaintext';
    c['sasl.mechanisms'] = options.sasl.mechanism.toUpperCase();
    c['sasl.username'] = options.sasl.username;
    c['sasl.password'] = options.sasl.password;
  } else if (ssl) {
    c['security.protocol'] = 'ssl';
  }
  if (ssl && typeof ssl === 'object') {
    if (ssl.ca) c['ssl.ca.pem'] = ssl.ca;
    if (ssl.cert) c['ssl.certificate.pem'] = ssl.cert;
    if (ssl.key) c['ssl.key.pem'] = ssl.key;
    if (ssl.rejectUnauthorized === false) c['enable.ssl.certificate.verification'] = false;
  }
  return c;
}

function emit(options: ConfluentTransportOptions, level: string, namespace: string, message: string, extra: Record<string, unknown>): void {
  options.onLog?.({ level, namespace, message, extra });
}

function compatLogger(options: ConfluentTransportOptions, level: keyof typeof SYSLOG_LEVEL): CompatLogger {
  const rank = { nothing: 0, error: 1, warn: 2, info: 4, debug: 5 }[level];
  const at =
    (name: string, r: number) =>
    (message: string, extra?: object): void => {
      if (r <= rank) emit(options, name, 'confluent', message, { ...(extra ?? {}) });
    };
  const logger: CompatLogger = {
    error: at('ERROR', 1),
    warn: at('WARN', 2),
    info: at('INFO', 4),
    debug: at('DEBUG', 5),
    namespace: () => logger,
    setLogLevel: () => undefined,
  };
  return logger;
}

/** Wraps a librdkafka error: fatal ones are not retriable. */
function wrap(what: string, err: unknown): TributaryError {
  const e = err as Partial<RdError> | undefined;
  const message = `Kafka ${what} failed: ${e?.message ?? String(err)}`;
  if (e?.isFatal) return new NonRetriableError(message, { code: 'ERR_KAFKA', cause: err });
  return new TributaryError(message, { code: 'ERR_KAFKA', retriable: true, cause: err });
}

function call(what: string, fn: (cb: (err: RdError | null) => void) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    try {
      fn((err) => (err ? reject(wrap(what, err)) : resolve()));
    } catch (err) {
      reject(wrap(what, err));
    }
  });
}

function toRdHeaders(h: OutgoingMessage['headers']): RdHeaders | null {
  if (!h) return null;
  const out: RdHeaders = [];
  for (const [k, v] of Object.entries(h)) out.push({ [k]: v });
  return out;
}

/** One `send` call: settles when every message of it has a delivery report. */
interface PendingSend {
  remaining: number;
  error: unknown;
  acks: Map<string, { topic: string; partition: number; offset: number }>;
  resolve(acks: Ack[]): void;
  reject(err: unknown): void;
}

function settleOne(p: PendingSend): void {
  p.remaining -= 1;
  if (p.remaining > 0) return;
  if (p.error !== undefined) p.reject(wrap('send', p.error));
  else p.resolve([...p.acks.values()].map((a) => ({ topic: a.topic, partition: a.partition, offset: String(a.offset) })));
}

class ConfluentProducer implements KafkaProducer {
  private readonly producer: RdProducer;
  private readonly transactional: boolean;
  private readonly txTimeoutMs: number;
  private readonly flushTimeoutMs: number;
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly groupClients = new Map<string, Promise<RdClient>>();
  private connected = false;
  /** The fatal error librdkafka reported for this producer (e.g. fenced by a newer instance), once it did. */
  private fatal: RdError | undefined;
  private readonly fatalWaiters = new Set<() => void>();

  constructor(
    private readonly mod: ConfluentModule,
    private readonly base: Record<string, unknown>,
    private readonly options: ConfluentTransportOptions,
    opts: ProducerOptions,
  ) {
    this.transactional = opts.transactionalId !== undefined;
    const idempotent = this.transactional || (opts.idempotent ?? true);
    this.txTimeoutMs = opts.transactionTimeoutMs ?? 60_000;
    // librdkafka requires message.timeout.ms <= transaction.timeout.ms for transactional producers.
    const messageTimeoutMs = Math.min(options.messageTimeoutMs ?? 120_000, this.transactional ? this.txTimeoutMs : Infinity);
    this.flushTimeoutMs = messageTimeoutMs + 10_000;
    const config: Record<string, unknown> = {
      ...base,
      // librdkafka's default partitioner (consistent_random, CRC32) differs from the Java client's;
      // murmur2_random is the Java-compatible one (murmur2 for keys, random for null keys).
      partitioner: 'murmur2_random',
      'enable.idempotence': idempotent,
      acks: 'all',
      'linger.ms': options.lingerMs ?? 0,
      'batch.num.messages': options.batchNumMessages ?? 10_000,
      'batch.size': options.batchBytes ?? 1_000_000,
      'compression.codec': opts.compression ?? 'none',
      'max.in.flight.requests.per.connection': opts.maxInFlightRequests ?? 5,
      'message.timeout.ms': messageTimeoutMs,
      'queue.buffering.max.messages': options.queueMaxMessages ?? 500_000,
      dr_cb: true,
      ...(this.transactional ? { 'transactional.id': opts.transactionalId, 'transaction.timeout.ms': this.txTimeoutMs } : {}),
      ...(options.librdkafka ?? {}),
    };
    this.producer = new mod.Producer(config);
    this.producer.on('delivery-report', ((err: RdError | null, report: RdDeliveryReport) => {
      const p = report.opaque as PendingSend | undefined;
      if (!p) return;
      if (err) {
        p.error ??= err;
      } else {
        const key = `${report.topic}\u0000${report.partition}`;
        const prev = p.acks.get(key);
        if (!prev || report.offset < prev.offset) p.acks.set(key, { topic: report.topic, partition: report.partition, offset: report.offset });
      }
      settleOne(p);
    }) as (...args: never[]) => void);
    this.producer.on('event.log', ((log: { severity: number; fac: string; message: string }) => {
      emit(options, log.severity <= 3 ? 'ERROR' : log.severity === 4 ? 'WARN' : log.severity <= 6 ? 'INFO' : 'DEBUG', `librdkafka.${log.fac}`, log.message, {});
    }) as (...args: never[]) => void);
    this.producer.on('event.error', ((err: RdError) => {
      emit(options, 'ERROR', 'librdkafka', err.message, { code: err.code });
      // librdkafka reports a fatal error (a fenced transactional producer above all) here; the
      // messages it purges because of it only say "Purged in queue".
      if (err.isFatal || /fenced/i.test(err.message)) this.setFatal(err);
    }) as (...args: never[]) => void);
  }

  async connect(): Promise<void> {
    if (this.connected) return;
    await call('producer connect', (cb) => this.producer.connect(null, cb));
    this.producer.setPollInBackground(true);
    if (this.transactional) await call('initTransactions', (cb) => this.producer.initTransactions(this.txTimeoutMs, cb));
    this.connected = true;
  }

  send(messages: readonly OutgoingMessage[]): Promise<Ack[]> {
    if (messages.length === 0) return Promise.resolve([]);
    const p = new Promise<Ack[]>((resolve, reject) => {
      const fail = (err: unknown): void => void this.explain(err).then(reject);
      const pending: PendingSend = { remaining: messages.length, error: undefined, acks: new Map(), resolve, reject: fail };
      this.produceFrom(pending, messages, 0);
    });
    this.inFlight.add(p);
    const done = (): void => void this.inFlight.delete(p);
    p.then(done, done);
    return p;
  }

  private setFatal(err: RdError): void {
    this.fatal ??= err;
    for (const wake of [...this.fatalWaiters]) wake();
  }

  /**
   * A send that failed because librdkafka purged its messages after a fatal error fails with that
   * fatal error (which says, e.g., that the producer was fenced), waiting briefly for it to be
   * reported; any other failure stays as it is.
   */
  private async explain(err: unknown): Promise<unknown> {
    const code = ((err as { cause?: Partial<RdError> }).cause ?? (err as Partial<RdError>))?.code;
    if (code !== ERR_PURGE_QUEUE && code !== ERR_PURGE_INFLIGHT) return err;
    if (!this.fatal) {
      let wake: () => void = () => undefined;
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        wake = resolve;
        this.fatalWaiters.add(wake);
        timer = setTimeout(resolve, FATAL_REPORT_WAIT_MS);
      });
      clearTimeout(timer);
      this.fatalWaiters.delete(wake);
    }
    return this.fatal ? new NonRetriableError(`Kafka send failed: ${this.fatal.message}`, { code: 'ERR_KAFKA', cause: this.fatal }) : err;
  }

  /** Hands messages to librdkafka; waits and continues when its queue is full. */
  private produceFrom(pending: PendingSend, messages: readonly OutgoingMessage[], start: number): void {
    for (let i = start; i < messages.length; i++) {
      const m = messages[i]!;
      try {
        this.producer.produce(m.topic, m.partition ?? -1, m.value, m.key, m.timestamp ?? 0, pending, toRdHeaders(m.headers));
      } catch (err) {
        if ((err as RdError).code === ERR_QUEUE_FULL) {
          setTimeout(() => this.produceFrom(pending, messages, i), 2);
          return;
        }
        // Messages already queued still get delivery reports; the rest count as failed now.
        pending.error ??= err;
        pending.remaining -= messages.length - i - 1;
        settleOne(pending);
        return;
      }
    }
  }

  async transaction(): Promise<ProducerTransaction> {
    if (!this.transactional) {
      throw new NonRetriableError('transaction() needs a producer created with transactionalId', { code: 'ERR_KAFKA_CONFIG' });
    }
    await call('beginTransaction', (cb) => this.producer.beginTransaction(cb));
    return {
      send: (messages) => this.send(messages),
      sendOffsets: async (groupId, offsets) => {
        const group = await this.groupClient(groupId);
        const list = offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: Number(o.offset) }));
        await call('sendOffsetsToTransaction', (cb) => this.producer.sendOffsetsToTransaction(list, group, this.txTimeoutMs, cb));
      },
      commit: () => call('commitTransaction', (cb) => this.producer.commitTransaction(this.txTimeoutMs, cb)),
      abort: () => call('abortTransaction', (cb) => this.producer.abortTransaction(this.txTimeoutMs, cb)),
    };
  }

  /**
   * librdkafka takes the group's metadata from a consumer; for a bare group id a consumer of that
   * group is connected (never subscribed) and kept until disconnect.
   */
  private groupClient(groupId: string): Promise<RdClient> {
    let c = this.groupClients.get(groupId);
    if (!c) {
      const consumer = new this.mod.KafkaConsumer({ ...this.base, 'group.id': groupId, 'enable.auto.commit': false, ...(this.options.librdkafka ?? {}) });
      c = call('consumer connect', (cb) => consumer.connect(null, cb)).then(() => consumer);
      this.groupClients.set(groupId, c);
    }
    return c;
  }

  async flush(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
  }

  async disconnect(): Promise<void> {
    if (!this.connected) return;
    this.connected = false;
    await this.flush();
    const groups = await Promise.allSettled([...this.groupClients.values()]);
    this.groupClients.clear();
    await Promise.all(
      groups.map((g) => (g.status === 'fulfilled' ? call('consumer disconnect', (cb) => void g.value.disconnect(cb as (err: unknown) => void)) : undefined)),
    );
    await call('producer disconnect', (cb) => void this.producer.disconnect(this.flushTimeoutMs, cb as (err: unknown) => void));
  }
}

class ConfluentConsumer implements KafkaConsumer {
  private readonly consumer: CompatConsumer;

  constructor(kafka: CompatKafka, options: ConfluentTransportOptions, opts: ConsumerOptions) {
    this.consumer = kafka.consumer({
      'group.id': opts.groupId,
      'auto.offset.reset': opts.from ?? 'latest',
      'isolation.level': opts.isolationLevel ?? 'read_committed',
      'enable.auto.commit': false,
      ...(opts.sessionTimeoutMs ? { 'session.timeout.ms': opts.sessionTimeoutMs } : {}),
      'js.consumer.max.batch.size': options.maxBatchSize ?? 500,
      ...(options.librdkafka ?? {}),
    });
  }

  async connect(): Promise<void> {
    try {
      await this.consumer.connect();
    } catch (err) {
      throw wrap('consumer connect', err);
    }
  }

  subscribe(topics: string[]): Promise<void> {
    return this.consumer.subscribe({ topics });
  }

  run(handler: BatchHandler): Promise<void> {
    return this.consumer.run({
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, isRunning, isStale }) => {
        if (!isRunning() || isStale() || batch.messages.length === 0) return;
        const messages: IncomingMessage[] = batch.messages.map((m) => ({
          topic: batch.topic,
          partition: batch.partition,
          offset: m.offset,
          key: m.key ?? null,
          value: m.value ?? null,
          headers: normalizeHeaders(m.headers),
          timestamp: Number(m.timestamp),
        }));
        // A handler that throws leaves the batch unresolved: the client seeks back and redelivers it.
        await handler(messages, { topic: batch.topic, partition: batch.partition });
        const last = messages[messages.length - 1]!;
        resolveOffset(last.offset);
        await this.consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last.offset) + 1n).toString() }]);
      },
    });
  }

  commit(offsets: { topic: string; partition: number; offset: string }[]): Promise<void> {
    return this.consumer.commitOffsets(offsets);
  }

  seek(topic: string, partition: number, offset: string): void {
    this.consumer.seek({ topic, partition, offset });
  }

  /** Pauses fetching. A topic without `partitions` means its partitions assigned at this moment. */
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

function normalizeHeaders(h: CompatBatchMessage['headers']): Record<string, Buffer | undefined> {
  const out: Record<string, Buffer | undefined> = {};
  if (!h) return out;
  for (const [k, v] of Object.entries(h)) {
    const one = Array.isArray(v) ? v[v.length - 1] : v;
    out[k] = one === undefined ? undefined : Buffer.isBuffer(one) ? one : Buffer.from(one);
  }
  return out;
}

class ConfluentAdmin implements KafkaAdmin {
  constructor(private readonly admin: CompatAdmin) {}

  async connect(): Promise<void> {
    try {
      await this.admin.connect();
    } catch (err) {
      throw wrap('admin connect', err);
    }
  }

  async ensureTopics(topics: readonly TopicDefinition[]): Promise<string[]> {
    const existing = new Set(await this.admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t.topic));
    if (missing.length === 0) return [];
    const created: string[] = [];
    await Promise.all(
      missing.map(async (t) => {
        try {
          const fresh = await this.admin.createTopics({
            timeout: 30_000,
            topics: [
              {
                topic: t.topic,
                numPartitions: t.partitions,
                replicationFactor: t.replicationFactor,
                configEntries: Object.entries(t.config ?? {}).map(([name, value]) => ({ name, value })),
              },
            ],
          });
          if (fresh) created.push(t.topic);
        } catch (err) {
          // Created concurrently by someone else: it exists, which is what was asked.
          const inner = (err as { errors?: { code?: number }[] }).errors;
          if (!inner?.every((e) => e.code === ERR_TOPIC_ALREADY_EXISTS)) throw wrap(`creating topic "${t.topic}"`, err);
        }
      }),
    );
    await this.waitForLeaders(created, 30_000);
    return missing.map((t) => t.topic).filter((name) => created.includes(name));
  }

  /** Waits until every partition of the topics has a leader (createTopics does not wait itself). */
  private async waitForLeaders(topics: string[], timeoutMs: number): Promise<void> {
    if (topics.length === 0) return;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const meta = await this.admin.fetchTopicMetadata({ topics, timeout: 5_000 });
        if (meta.length === topics.length && meta.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))) return;
      } catch {
        // Metadata not propagated yet.
      }
      if (Date.now() > deadline) throw new TributaryError(`topics ${topics.join(', ')} have no leaders after ${timeoutMs} ms`, { code: 'ERR_KAFKA' });
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  listTopics(): Promise<string[]> {
    return this.admin.listTopics();
  }

  async partitions(topic: string): Promise<number | undefined> {
    const topics = await this.admin.listTopics();
    if (!topics.includes(topic)) return undefined;
    const meta = await this.admin.fetchTopicMetadata({ topics: [topic] });
    return meta[0]?.partitions.length;
  }

  async endOffsets(topic: string): Promise<{ partition: number; offset: string }[]> {
    const offsets = await this.admin.fetchTopicOffsets(topic);
    return offsets.map((o) => ({ partition: o.partition, offset: String(o.high) })).sort((a, b) => a.partition - b.partition);
  }

  deleteTopics(topics: string[]): Promise<void> {
    return this.admin.deleteTopics({ topics, timeout: 30_000 });
  }

  disconnect(): Promise<void> {
    return this.admin.disconnect();
  }
}
