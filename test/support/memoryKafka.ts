/**
 * An in-memory Kafka behind Tributary's transport interface, for fast unit tests of the sink and
 * of `consume` (retries, back-pressure, commits) without a broker. It keeps topics as arrays of
 * partitions, commits offsets per group, and lets a test make sends fail or hang.
 *
 * It is a test double of the transport interface only; everything that claims Kafka behaviour is
 * tested against the real broker in test/integration/kafka/.
 */
import type {
  Ack,
  BatchHandler,
  ConsumerOptions,
  IncomingMessage,
  KafkaAdmin,
  KafkaConsumer,
  KafkaProducer,
  KafkaTransport,
  OutgoingMessage,
  ProducerOptions,
  ProducerTransaction,
  TopicDefinition,
} from '../../core/src/kafka/transport.js';

/** An error shaped like kafkajs' connection error (retriable). */
export function connectionError(message = 'Connection error: connect ECONNREFUSED 127.0.0.1:9092'): Error {
  return Object.assign(new Error(message), { name: 'KafkaJSConnectionError', retriable: true });
}

/** An error shaped like a kafkajs protocol error of the given type. */
export function protocolError(type: string, retriable = false): Error {
  return Object.assign(new Error(`broker error ${type}`), { name: 'KafkaJSProtocolError', type, retriable });
}

interface Topic {
  partitions: IncomingMessage[][];
  config: Record<string, string>;
  replicationFactor: number;
}

/** See the module documentation. */
export class MemoryKafka implements KafkaTransport {
  readonly name = 'memory';
  readonly topics = new Map<string, Topic>();
  /** Every `send` call (one per partition batch from the sink), in order, whether it succeeded or not. */
  readonly sendCalls: OutgoingMessage[][] = [];
  /** Producer options of every producer created. */
  readonly producerOptions: ProducerOptions[] = [];
  /** Topics passed to `ensureTopics`, in order. */
  readonly ensured: TopicDefinition[] = [];
  /** Committed offsets: `group|topic|partition` → next offset. */
  readonly committed = new Map<string, bigint>();
  /**
   * Called before a send is applied: throw (or reject) to fail it, or return a promise to delay it.
   * Default: none (every send succeeds at once).
   */
  beforeSend: ((messages: readonly OutgoingMessage[], call: number) => void | Promise<void>) | undefined;
  private openClients = 0;

  /** Producers, consumers and admins connected and not yet disconnected. */
  get connected(): number {
    return this.openClients;
  }

  /** Creates a topic directly. */
  createTopic(topic: string, partitions = 1): void {
    if (!this.topics.has(topic)) this.topics.set(topic, { partitions: Array.from({ length: partitions }, () => []), config: {}, replicationFactor: 1 });
  }

  /** All messages of a topic, partition by partition. */
  messages(topic: string): IncomingMessage[] {
    return this.topics.get(topic)?.partitions.flat() ?? [];
  }

  /** Appends messages as a broker would (explicit partition, or partition 0). */
  append(messages: readonly OutgoingMessage[]): Ack[] {
    const acks: Ack[] = [];
    for (const m of messages) {
      const topic = this.topics.get(m.topic);
      if (!topic) throw protocolError('UNKNOWN_TOPIC_OR_PARTITION', true);
      const p = m.partition ?? 0;
      const log = topic.partitions[p];
      if (!log) throw protocolError('UNKNOWN_TOPIC_OR_PARTITION', true);
      const headers: Record<string, Buffer> = {};
      for (const [k, v] of Object.entries(m.headers ?? {})) headers[k] = Buffer.isBuffer(v) ? v : Buffer.from(v);
      const offset = String(log.length);
      log.push({ topic: m.topic, partition: p, offset, key: m.key, value: m.value, headers, timestamp: m.timestamp ?? Date.now() });
      acks.push({ topic: m.topic, partition: p, offset });
    }
    return acks;
  }

  producer(options: ProducerOptions = {}): KafkaProducer {
    this.producerOptions.push(options);
    let open = false;
    const send = async (messages: readonly OutgoingMessage[]): Promise<Ack[]> => {
      if (!open) throw new Error('producer not connected');
      const call = this.sendCalls.push([...messages]);
      await this.beforeSend?.(messages, call);
      return this.append(messages);
    };
    return {
      connect: async () => {
        if (!open) this.openClients++;
        open = true;
      },
      send,
      transaction: async (): Promise<ProducerTransaction> => {
        throw new Error('transactions are not supported by MemoryKafka');
      },
      flush: async () => undefined,
      disconnect: async () => {
        if (open) this.openClients--;
        open = false;
      },
    };
  }

  consumer(options: ConsumerOptions): KafkaConsumer {
    return new MemoryConsumer(this, options, (d) => (this.openClients += d));
  }

  admin(): KafkaAdmin {
    let open = false;
    return {
      connect: async () => {
        if (!open) this.openClients++;
        open = true;
      },
      ensureTopics: async (defs) => {
        const created: string[] = [];
        for (const d of defs) {
          this.ensured.push(d);
          if (this.topics.has(d.topic)) continue;
          this.topics.set(d.topic, { partitions: Array.from({ length: d.partitions }, () => []), config: { ...(d.config ?? {}) }, replicationFactor: d.replicationFactor });
          created.push(d.topic);
        }
        return created;
      },
      listTopics: async () => [...this.topics.keys()],
      partitions: async (topic) => this.topics.get(topic)?.partitions.length,
      endOffsets: async (topic) => (this.topics.get(topic)?.partitions ?? []).map((log, partition) => ({ partition, offset: String(log.length) })),
      deleteTopics: async (topics) => {
        for (const t of topics) this.topics.delete(t);
      },
      disconnect: async () => {
        if (open) this.openClients--;
        open = false;
      },
    };
  }
}

class MemoryConsumer implements KafkaConsumer {
  private topics: string[] = [];
  private running = false;
  private open = false;
  private loop: Promise<void> | undefined;
  private readonly positions = new Map<string, bigint>();

  constructor(
    private readonly kafka: MemoryKafka,
    private readonly options: ConsumerOptions,
    private readonly count: (delta: number) => void,
  ) {}

  async connect(): Promise<void> {
    if (!this.open) this.count(1);
    this.open = true;
  }

  async subscribe(topics: string[]): Promise<void> {
    for (const t of topics) if (!this.kafka.topics.has(t)) throw protocolError('UNKNOWN_TOPIC_OR_PARTITION', true);
    this.topics = topics;
  }

  async run(handler: BatchHandler): Promise<void> {
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        let any = false;
        for (const topic of this.topics) {
          const logs = this.kafka.topics.get(topic)?.partitions ?? [];
          for (let partition = 0; partition < logs.length && this.running; partition++) {
            const key = `${this.options.groupId}|${topic}|${partition}`;
            const start = this.positions.get(key) ?? this.kafka.committed.get(key) ?? (this.options.from === 'earliest' ? 0n : BigInt(logs[partition]!.length));
            this.positions.set(key, start);
            const batch = logs[partition]!.slice(Number(start));
            if (batch.length === 0) continue;
            any = true;
            try {
              await handler(batch, { topic, partition });
              const next = BigInt(batch[batch.length - 1]!.offset) + 1n;
              this.kafka.committed.set(key, next);
              this.positions.set(key, next);
            } catch {
              // like kafkajs: nothing committed; the batch is fetched again from the committed offset
              this.positions.delete(key);
              await new Promise((r) => setTimeout(r, 20));
            }
          }
        }
        if (!any) await new Promise((r) => setTimeout(r, 10));
      }
    })();
  }

  async commit(offsets: { topic: string; partition: number; offset: string }[]): Promise<void> {
    for (const o of offsets) this.kafka.committed.set(`${this.options.groupId}|${o.topic}|${o.partition}`, BigInt(o.offset));
  }

  seek(topic: string, partition: number, offset: string): void {
    this.positions.set(`${this.options.groupId}|${topic}|${partition}`, BigInt(offset));
  }

  pause(): void {}

  resume(): void {}

  async disconnect(): Promise<void> {
    this.running = false;
    await this.loop;
    if (this.open) this.count(-1);
    this.open = false;
  }
}
