/**
 * The Kafka transport: the small interface between Tributary and a Kafka client library, so that
 * clients can be swapped and measured against each other. `kafkajs` is the default adapter
 * (kafkajs.ts); `@confluentinc/kafka-javascript` (librdkafka) is the optional second (confluent.ts).
 */

/** Connection settings shared by producers, consumers and admin. */
export interface KafkaConnection {
  brokers: string[];
  clientId: string;
  /** SASL credentials; the password comes from the environment and is never logged. */
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
  /** `true` for TLS with the system CAs, or explicit PEM material. */
  ssl?: boolean | { ca?: string; cert?: string; key?: string; rejectUnauthorized?: boolean };
  /** Milliseconds to wait for a broker connection. Default 10 000. */
  connectionTimeoutMs?: number;
  /** Milliseconds to wait for a request. Default 30 000. */
  requestTimeoutMs?: number;
}

/** A topic to create if it does not exist. */
export interface TopicDefinition {
  topic: string;
  partitions: number;
  replicationFactor: number;
  /** Topic configs, e.g. `{ 'cleanup.policy': 'compact', 'retention.ms': '604800000' }`. */
  config?: Record<string, string>;
}

/** One message to produce. Keys are partitioned with Kafka's Java-compatible murmur2. */
export interface OutgoingMessage {
  topic: string;
  key: Buffer | null;
  value: Buffer | null;
  headers?: Record<string, string | Buffer>;
  /** Epoch ms. */
  timestamp?: number;
  /** Explicit partition; otherwise murmur2(key) or sticky for null keys. */
  partition?: number;
}

/** Where a produced message landed. */
export interface Ack {
  topic: string;
  partition: number;
  /** Base offset of the batch written to that partition, as a string (64-bit). */
  offset: string;
}

/** Producer settings. Defaults: idempotent, acks=all, gzip off, 1 in-flight request when idempotent. */
export interface ProducerOptions {
  /** Default true. */
  idempotent?: boolean;
  /** Enables transactions (implies idempotent). */
  transactionalId?: string;
  /** Default 60 000. */
  transactionTimeoutMs?: number;
  /** Default 'none'. */
  compression?: 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';
  /** Default 1 with idempotence or transactions, 5 otherwise. */
  maxInFlightRequests?: number;
}

/** A producer transaction: messages sent in it become visible to read_committed consumers on commit. */
export interface ProducerTransaction {
  send(messages: readonly OutgoingMessage[]): Promise<Ack[]>;
  /** Adds consumed offsets to the transaction (consume-transform-produce). */
  sendOffsets?(groupId: string, offsets: { topic: string; partition: number; offset: string }[]): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

export interface KafkaProducer {
  connect(): Promise<void>;
  /** Sends messages (one request per broker) and resolves when every one is acknowledged (acks=all). */
  send(messages: readonly OutgoingMessage[]): Promise<Ack[]>;
  transaction(): Promise<ProducerTransaction>;
  /** Resolves when nothing sent is still in flight. */
  flush(): Promise<void>;
  disconnect(): Promise<void>;
}

/** A consumed message. */
export interface IncomingMessage {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer | undefined>;
  /** Epoch ms. */
  timestamp: number;
}

export interface ConsumerOptions {
  groupId: string;
  /** Where a group without committed offsets starts. Default 'latest'. */
  from?: 'earliest' | 'latest';
  /** Default 'read_committed'. */
  isolationLevel?: 'read_committed' | 'read_uncommitted';
  sessionTimeoutMs?: number;
}

/** Called for each batch of messages of one partition; commit happens after it resolves. */
export type BatchHandler = (messages: IncomingMessage[], partition: { topic: string; partition: number }) => Promise<void>;

export interface KafkaConsumer {
  connect(): Promise<void>;
  subscribe(topics: string[]): Promise<void>;
  /** Runs the handler; offsets are committed only after the handler's promise resolves (at-least-once). */
  run(handler: BatchHandler): Promise<void>;
  commit(offsets: { topic: string; partition: number; offset: string }[]): Promise<void>;
  seek(topic: string, partition: number, offset: string): void;
  pause(topics: { topic: string; partitions?: number[] }[]): void;
  resume(topics: { topic: string; partitions?: number[] }[]): void;
  disconnect(): Promise<void>;
}

export interface KafkaAdmin {
  connect(): Promise<void>;
  /** Creates the topics that do not exist; returns the names created. Never relies on broker auto-creation. */
  ensureTopics(topics: readonly TopicDefinition[]): Promise<string[]>;
  listTopics(): Promise<string[]>;
  /** Partition count of a topic, or undefined when it does not exist. */
  partitions(topic: string): Promise<number | undefined>;
  /** End offsets (high watermarks) per partition. */
  endOffsets(topic: string): Promise<{ partition: number; offset: string }[]>;
  deleteTopics(topics: string[]): Promise<void>;
  disconnect(): Promise<void>;
}

/** A Kafka client library behind Tributary's interface. */
export interface KafkaTransport {
  /** Adapter name, e.g. `kafkajs` or `confluent`. */
  readonly name: string;
  producer(options?: ProducerOptions): KafkaProducer;
  consumer(options: ConsumerOptions): KafkaConsumer;
  admin(): KafkaAdmin;
}
