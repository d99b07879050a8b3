import { expect } from 'chai';
import { Registry } from 'prom-client';
import { isConfigError } from '../../../src/errors/ConfigError.js';
import { isDeliveryError, type DeliveryError } from '../../../src/errors/DeliveryError.js';
import { isSchemaCompatibilityError } from '../../../src/errors/SchemaCompatibilityError.js';
import { isSchemaValidationError } from '../../../src/errors/SchemaValidationError.js';
import type { KafkaConnection } from '../../../src/kafka/transport.js';
import type { Envelope, TopicSpec } from '../../../src/pipeline/types.js';
import { compileSchema, fingerprint64 } from '../../../src/serde/avro.js';
import type { CompatibilityLevel, CompatibilityResult, SchemaRegistryApi } from '../../../src/serde/registry.js';
import type { AvroSchema } from '../../../src/serde/types.js';
import { decodeConfluent, decodeSingleObject } from '../../../src/serde/wire.js';
import { createKafkaSink, type KafkaSink, type KafkaSinkOptions, type KafkaSinkSettings } from '../../../src/sinks/kafka.js';
import { partitionForKey } from '../../../src/sinks/kafka/murmur2.js';
import { connectionError, MemoryKafka, protocolError } from '../../../../test/support/memoryKafka.js';

const schema = {
  type: 'record',
  name: 'Price',
  namespace: 'test',
  fields: [
    { name: 'area', type: 'string' },
    { name: 'eur', type: 'double' },
  ],
} as const;

const spec = (topic: string, s: unknown = schema): TopicSpec => ({ topic, schema: s as TopicSpec['schema'], source: 'src', stream: 'prices' });

function envelopes(topic: string, n: number, key: (i: number) => string | null = (i) => `area-${i % 5}`): Envelope[] {
  return Array.from({ length: n }, (_, i) => ({
    topic,
    key: key(i),
    value: { area: `area-${i % 5}`, eur: i },
    timestamp: 1_700_000_000_000 + i,
    headers: { 'tributary-source': 'src', i: String(i) },
  }));
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A schema registry in memory with Confluent-like ids and a BACKWARD check on added fields. */
class FakeRegistry implements SchemaRegistryApi {
  readonly subjects = new Map<string, AvroSchema[]>();
  readonly levels = new Map<string, CompatibilityLevel>();
  private readonly ids: AvroSchema[] = [];
  async register(subject: string, s: AvroSchema): Promise<number> {
    const list = this.subjects.get(subject) ?? [];
    list.push(s);
    this.subjects.set(subject, list);
    const text = JSON.stringify(s);
    let id = this.ids.findIndex((x) => JSON.stringify(x) === text);
    if (id < 0) id = this.ids.push(s) - 1;
    return id + 1;
  }
  async getSchemaById(id: number): Promise<AvroSchema> {
    return this.ids[id - 1]!;
  }
  async checkCompatibility(subject: string, s: AvroSchema): Promise<CompatibilityResult> {
    const latest = this.subjects.get(subject)?.at(-1) as { fields: { name: string }[] } | undefined;
    if (!latest) return { compatible: true, messages: [] };
    const old = new Set(latest.fields.map((f) => f.name));
    const bad = (s as unknown as { fields: { name: string; default?: unknown }[] }).fields.filter((f) => !old.has(f.name) && !('default' in f));
    return bad.length ? { compatible: false, messages: bad.map((f) => `Incompatibility{type:READER_FIELD_MISSING_DEFAULT_VALUE, location:/fields, message:${f.name}}`) } : { compatible: true, messages: [] };
  }
  async getCompatibility(subject?: string): Promise<CompatibilityLevel | null> {
    return this.levels.get(subject ?? '') ?? null;
  }
  async setCompatibility(subject: string | undefined, level: CompatibilityLevel): Promise<void> {
    this.levels.set(subject ?? '', level);
  }
}

describe('Kafka sink (in-memory transport)', () => {
  let kafka: MemoryKafka;
  let metrics: Registry;
  const open: KafkaSink[] = [];

  function make(settings: Partial<KafkaSinkSettings> = {}, options: KafkaSinkOptions = {}): KafkaSink {
    const sink = createKafkaSink(
      { brokers: ['kafka:9092'], wireFormat: 'single-object', batch: { maxRecords: 10, lingerMs: 2 }, ...settings },
      { transport: kafka, registry: metrics, retry: { initialDelayMs: 5, maxDelayMs: 20 }, ...options },
    );
    open.push(sink);
    return sink;
  }

  async function value(name: string, labels: Record<string, string> = {}): Promise<number> {
    const m = metrics.getSingleMetric(name);
    if (!m) return 0;
    const { values } = await m.get();
    return values.filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l)).reduce((s, v) => s + v.value, 0);
  }

  beforeEach(() => {
    kafka = new MemoryKafka();
    metrics = new Registry();
  });

  afterEach(async () => {
    kafka.beforeSend = undefined;
    await Promise.all(open.splice(0).map((s) => s.close().catch(() => undefined)));
  });

  describe('start', () => {
    it('creates data topics with their settings, dead-letter topics and the compacted schema topic, then publishes the schema', async () => {
      const sink = make({ topics: { prices: { partitions: 4, replicationFactor: 1, config: { 'retention.ms': '1000' } }, 'prices.dlq': { partitions: 2 } } });
      await sink.start([spec('prices'), spec('other')]);
      expect(kafka.ensured.map((d) => [d.topic, d.partitions, d.replicationFactor, d.config])).to.deep.equal([
        ['prices', 4, 1, { 'message.timestamp.after.max.ms': '9223372036854775807', 'retention.ms': '1000' }],
        ['prices.dlq', 2, 1, {}],
        ['other', 1, 1, { 'message.timestamp.after.max.ms': '9223372036854775807' }],
        ['other.dlq', 1, 1, {}],
        ['_tributary_schemas', 1, 1, { 'cleanup.policy': 'compact' }],
      ]);
      expect(kafka.producerOptions).to.deep.equal([{ idempotent: true, compression: 'none' }]);
      const [published] = kafka.messages('_tributary_schemas');
      expect(published!.key!.toString()).to.equal(fingerprint64(schema).toString(16).padStart(16, '0'));
      expect(JSON.parse(published!.value!.toString())).to.deep.equal(schema);
      expect(kafka.messages('_tributary_schemas')).to.have.length(1); // once, though two topics use it
    });

    it('passes brokers, client id, SASL and TLS settings to the transport and compression to the producer', async () => {
      let seen: KafkaConnection | undefined;
      let seenClient: string | undefined;
      const sink = make(
        {
          brokers: ['b1:9093', 'b2:9093'],
          clientId: 'collector-7',
          sasl: { mechanism: 'scram-sha-512', username: 'svc', password: 'pa55-from-env' },
          ssl: { ca: 'PEM', rejectUnauthorized: true },
          compression: 'gzip',
        },
        {
          transport: undefined,
          createTransport: (connection, client) => {
            seen = connection;
            seenClient = client;
            return kafka;
          },
        },
      );
      await sink.start([spec('prices')]);
      expect(seenClient).to.equal('kafkajs');
      expect(seen).to.deep.equal({
        brokers: ['b1:9093', 'b2:9093'],
        clientId: 'collector-7',
        sasl: { mechanism: 'scram-sha-512', username: 'svc', password: 'pa55-from-env' },
        ssl: { ca: 'PEM', rejectUnauthorized: true },
      });
      expect(kafka.producerOptions[0]).to.deep.equal({ idempotent: true, compression: 'gzip' });
    });

    it('registry mode: registers <topic>-value with BACKWARD and frames values with the schema id', async () => {
      const registry = new FakeRegistry();
      const sink = make({ wireFormat: 'registry' }, { schemaRegistry: registry });
      await sink.start([spec('prices')]);
      expect(registry.levels.get('prices-value')).to.equal('BACKWARD');
      await sink.write(envelopes('prices', 1));
      const [m] = kafka.messages('prices');
      const { schemaId, body } = decodeConfluent(m!.value!);
      expect(schemaId).to.equal(1);
      expect(compileSchema(schema).fromBuffer(body)).to.deep.equal({ area: 'area-0', eur: 0 });
      expect(kafka.topics.has('_tributary_schemas')).to.equal(false);
    });

    it('registry mode: an incompatible schema stops start() before any topic is created or anything sent', async () => {
      const registry = new FakeRegistry();
      await registry.register('prices-value', schema);
      const breaking = { ...schema, fields: [...schema.fields, { name: 'currency', type: 'string' }] };
      const sink = make({ wireFormat: 'registry' }, { schemaRegistry: registry });
      const err = await sink.start([spec('prices', breaking)]).catch((e: unknown) => e);
      expect(isSchemaCompatibilityError(err)).to.equal(true);
      expect((err as Error).message).to.contain('currency');
      expect(kafka.ensured).to.deep.equal([]);
      expect(kafka.sendCalls).to.deep.equal([]);
      expect(kafka.connected).to.equal(0);
    });

    it('rejects bad settings with a ConfigError naming them', () => {
      const bad = (settings: Partial<KafkaSinkSettings>): unknown => {
        try {
          createKafkaSink({ brokers: ['k:9092'], ...settings }, { transport: kafka });
        } catch (err) {
          return err;
        }
        return undefined;
      };
      expect(bad({ exactlyOnce: true }), 'exactly-once is available').to.equal(undefined);
      const noRegistry = bad({ wireFormat: 'registry' });
      expect(isConfigError(noRegistry) && (noRegistry as Error).message).to.contain('sink.schemaRegistry');
      const noBrokers = bad({ brokers: [] });
      expect(isConfigError(noBrokers) && (noBrokers as Error).message).to.contain('sink.brokers');
    });

    it('exactly-once: the transactional producer of a source gets <pipeline>.<source> and transactionTimeoutMs (default 60 000)', async () => {
      const transactional = async (settings: Partial<KafkaSinkSettings>): Promise<unknown> => {
        kafka.producerOptions.length = 0;
        const sink = make({ exactlyOnce: true, ...settings });
        await sink.start([spec('prices')]);
        sink.checkpointStore('hub');
        // MemoryKafka has no transactions: the write fails, after the producer was created
        await sink.write(envelopes('prices', 1)).catch(() => undefined);
        return kafka.producerOptions.find((o) => o.transactionalId !== undefined);
      };
      expect(await transactional({})).to.deep.include({ transactionalId: 'hub.src', transactionTimeoutMs: 60_000 });
      expect(await transactional({ transactionTimeoutMs: 5_000 })).to.deep.include({ transactionalId: 'hub.src', transactionTimeoutMs: 5_000 });
    });

    it('rejects two different schemas for one topic', async () => {
      const other = { ...schema, fields: [{ name: 'x', type: 'int' }] };
      const sink = make();
      const err = await sink.start([spec('prices'), spec('prices', other)]).catch((e: unknown) => e);
      expect(isConfigError(err)).to.equal(true);
      expect((err as Error).message).to.contain('two different schemas');
    });
  });

  describe('write', () => {
    it('resolves once acknowledged; batches by maxRecords; keys go to murmur2 partitions, null keys stick to one partition per write', async () => {
      const sink = make({ topics: { prices: { partitions: 3 } } });
      await sink.start([spec('prices')]);
      const batch = [...envelopes('prices', 25), ...envelopes('prices', 6, () => null).map((e, i) => ({ ...e, headers: { ...e.headers, i: `null-${i}` } }))];
      await sink.write(batch);
      const all = kafka.messages('prices');
      expect(all).to.have.length(31);
      for (const m of all) {
        if (m.key) expect(m.partition).to.equal(partitionForKey(m.key, 3));
      }
      expect(new Set(all.filter((m) => m.key === null).map((m) => m.partition)).size).to.equal(1);
      for (const call of kafka.sendCalls.slice(1)) expect(call.length).to.be.at.most(10); // [0] is the schema
      // values in single-object framing, headers and timestamps kept
      const first = all.find((m) => m.headers.i?.toString() === '0')!;
      expect(compileSchema(schema).fromBuffer(decodeSingleObject(first.value!).body)).to.deep.equal({ area: 'area-0', eur: 0 });
      expect(first.timestamp).to.equal(1_700_000_000_000);
      expect(first.key!.toString()).to.equal('area-0');
      expect(await value('tributary_kafka_records_sent_total', { topic: 'prices' })).to.equal(31);
      expect(await value('tributary_kafka_batches_total', { topic: 'prices' })).to.equal(kafka.sendCalls.length - 1);
      expect(await value('tributary_kafka_bytes_sent_total', { topic: 'prices' })).to.be.greaterThan(31 * 10);
    });

    it('waits lingerMs for more records before sending a partial batch', async () => {
      const sink = make({ batch: { maxRecords: 100, lingerMs: 150 } });
      await sink.start([spec('prices')]);
      const t0 = Date.now();
      const done = sink.write(envelopes('prices', 3));
      await sleep(60);
      expect(kafka.messages('prices')).to.have.length(0);
      await done;
      expect(Date.now() - t0).to.be.at.least(140);
      expect(kafka.messages('prices')).to.have.length(3);
    });

    it('flush() sends a partial batch at once', async () => {
      const sink = make({ batch: { maxRecords: 100, lingerMs: 10_000 } });
      await sink.start([spec('prices')]);
      const done = sink.write(envelopes('prices', 3));
      await sink.flush();
      await done;
      expect(kafka.messages('prices')).to.have.length(3);
    });

    it('flush() waits for what was written before it, not for the writes that keep coming after it', async () => {
      const sink = make({ batch: { maxRecords: 100, lingerMs: 5 } });
      await sink.start([spec('prices')]);
      kafka.beforeSend = () => sleep(2);
      let stop = false;
      let written = 0;
      const writer = async (): Promise<void> => {
        while (!stop) {
          await sink.write(envelopes('prices', 2));
          written += 2;
        }
      };
      const writers = [writer(), writer(), writer()];
      await sleep(30);
      const before = written;
      await sink.flush(); // never idle meanwhile: three writers always have records in flight
      expect(written).to.be.greaterThan(before);
      stop = true;
      await Promise.all(writers);
      expect(kafka.messages('prices')).to.have.length(written);
    });

    it('rejects a record that does not match the schema, naming the field, and sends nothing of that write', async () => {
      const sink = make();
      await sink.start([spec('prices')]);
      const batch = envelopes('prices', 3);
      batch[1] = { ...batch[1]!, value: { area: 'x', eur: 'cheap' } };
      const err = await sink.write(batch).catch((e: unknown) => e);
      expect(isSchemaValidationError(err)).to.equal(true);
      expect((err as { field: string }).field).to.equal('eur');
      await sink.flush();
      expect(kafka.messages('prices')).to.have.length(0);
    });

    it('rejects writes to a topic not announced in start(), and writes before start', async () => {
      const sink = make();
      expect(((await sink.write(envelopes('prices', 1)).catch((e: unknown) => e)) as { code: string }).code).to.equal('ERR_SINK_STATE');
      await sink.start([spec('prices')]);
      expect(((await sink.write(envelopes('nope', 1)).catch((e: unknown) => e)) as { code: string }).code).to.equal('ERR_UNKNOWN_TOPIC');
    });

    it('retries failed sends with the very same records until Kafka takes them; nothing is lost or doubled', async () => {
      const sink = make();
      await sink.start([spec('prices')]);
      let failures = 0;
      kafka.beforeSend = () => {
        if (failures < 3) {
          failures++;
          throw connectionError();
        }
      };
      const batch = envelopes('prices', 4);
      await sink.write(batch);
      const calls = kafka.sendCalls.slice(1);
      expect(calls).to.have.length(4);
      for (const call of calls) expect(call).to.deep.equal(calls[0]); // identical resends: the idempotent producer can drop duplicates
      expect(kafka.messages('prices').map((m) => m.headers.i!.toString())).to.deep.equal(['0', '1', '2', '3']);
      expect(await value('tributary_kafka_send_errors_total', { topic: 'prices' })).to.equal(3);
      expect(await value('tributary_kafka_records_sent_total', { topic: 'prices' })).to.equal(4);
    });

    it('starts a new producer session after OUT_OF_ORDER_SEQUENCE_NUMBER, then retries', async () => {
      const sink = make();
      await sink.start([spec('prices')]);
      let failed = false;
      kafka.beforeSend = () => {
        if (!failed) {
          failed = true;
          throw protocolError('OUT_OF_ORDER_SEQUENCE_NUMBER');
        }
      };
      await sink.write(envelopes('prices', 2));
      expect(kafka.producerOptions).to.have.length(2);
      expect(kafka.messages('prices')).to.have.length(2);
    });

    it('fails a write for good when Kafka rejects the records themselves (MESSAGE_TOO_LARGE), and goes on with the next', async () => {
      const sink = make();
      await sink.start([spec('prices')]);
      kafka.beforeSend = (messages) => {
        if (messages.some((m) => m.headers?.i === '1')) throw protocolError('MESSAGE_TOO_LARGE');
      };
      const err = (await sink.write(envelopes('prices', 2)).catch((e: unknown) => e)) as DeliveryError;
      expect(isDeliveryError(err)).to.equal(true);
      expect(err.retriable).to.equal(false);
      expect(err.message).to.match(/Kafka rejected 2 record\(s\) for topic prices partition \d: broker error MESSAGE_TOO_LARGE/);
      kafka.beforeSend = undefined;
      await sink.write(envelopes('prices', 1));
      expect(kafka.messages('prices')).to.have.length(1);
      expect(sink.buffered.records).to.equal(0);
    });

    it('back-pressure: while Kafka does not answer, the buffer holds at most buffer.maxRecords and writers wait', async () => {
      const sink = make({ buffer: { maxRecords: 25 }, batch: { maxRecords: 10, lingerMs: 1 } });
      await sink.start([spec('prices')]);
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      kafka.beforeSend = () => gate;
      let resolved = 0;
      const writes = Array.from({ length: 10 }, (_, w) => sink.write(envelopes('prices', 10).map((e) => ({ ...e, headers: { ...e.headers, w: String(w) } }))).then(() => resolved++));
      let max = 0;
      for (let i = 0; i < 20; i++) {
        await sleep(5);
        max = Math.max(max, sink.buffered.records);
      }
      expect(max).to.equal(25);
      expect(sink.buffered.waiting).to.equal(75);
      expect(resolved).to.equal(0);
      expect(await value('tributary_kafka_buffer_records')).to.equal(25);
      release();
      await Promise.all(writes);
      expect(kafka.messages('prices')).to.have.length(100);
      // writes entered in call order
      const order = kafka.messages('prices').map((m) => Number(m.headers.w!.toString()));
      expect(order).to.deep.equal([...order].sort((a, b) => a - b));
      expect(await value('tributary_kafka_buffer_records')).to.equal(0);
    });

    it('bounds the buffer by bytes too', async () => {
      const sink = make({ buffer: { maxRecords: 1000, maxBytes: 2000 }, batch: { maxRecords: 500, lingerMs: 1 } });
      await sink.start([spec('prices')]);
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      kafka.beforeSend = () => gate;
      const done = sink.write(envelopes('prices', 200));
      await sleep(30);
      expect(sink.buffered.bytes).to.be.at.most(2000);
      expect(sink.buffered.records).to.be.within(1, 199);
      release();
      await done;
      expect(kafka.messages('prices')).to.have.length(200);
    });
  });

  describe('dead letters', () => {
    it('sends JSON to <topic>.dlq with headers, creates the DLQ topic of an unknown topic, and scrubs secrets', async () => {
      const sink = make({ sasl: { mechanism: 'plain', username: 'u', password: 'sasl-secret-99' } });
      await sink.start([spec('prices')]);
      await sink.writeDeadLetters([
        { topic: 'prices', source: 'src', code: 'ERR_SCHEMA', field: 'eur', reason: 'expected double (token sasl-secret-99)', value: { eur: 'x' }, timestamp: 5 },
        { topic: 'unrouted', source: 'src', code: 'ERR_UNKNOWN_STREAM', reason: 'no stream', value: 1, timestamp: 6 },
      ]);
      const [m] = kafka.messages('prices.dlq');
      expect(JSON.parse(m!.value!.toString())).to.deep.equal({ topic: 'prices', source: 'src', code: 'ERR_SCHEMA', field: 'eur', reason: 'expected double (token ***)', value: { eur: 'x' }, timestamp: 5 });
      expect(Object.fromEntries(Object.entries(m!.headers).map(([k, v]) => [k, v!.toString()]))).to.deep.equal({
        'content-type': 'application/json',
        'tributary-source': 'src',
        'tributary-error-code': 'ERR_SCHEMA',
        'tributary-error-field': 'eur',
        'tributary-error-reason': 'expected double (token ***)',
      });
      expect(m!.timestamp).to.equal(5);
      expect(kafka.messages('unrouted.dlq')).to.have.length(1);
      expect(kafka.messages('unrouted.dlq')[0]!.headers['tributary-error-field']).to.equal(undefined);
    });
  });

  describe('close', () => {
    it('flushes what is buffered and disconnects everything', async () => {
      const sink = make({ batch: { maxRecords: 100, lingerMs: 10_000 } });
      await sink.start([spec('prices')]);
      const pending = sink.write(envelopes('prices', 5));
      await sink.close();
      await pending;
      expect(kafka.messages('prices')).to.have.length(5);
      expect(kafka.connected).to.equal(0);
      expect(((await sink.write(envelopes('prices', 1)).catch((e: unknown) => e)) as { code: string }).code).to.equal('ERR_SINK_STATE');
    });

    it('gives up after closeTimeoutMs while Kafka is down and says how many records were not delivered', async () => {
      const sink = make({}, { closeTimeoutMs: 150 });
      await sink.start([spec('prices')]);
      kafka.beforeSend = () => {
        throw connectionError();
      };
      const pending = sink.write(envelopes('prices', 7)).catch((e: unknown) => e);
      const err = (await sink.close().catch((e: unknown) => e)) as DeliveryError;
      expect(isDeliveryError(err)).to.equal(true);
      expect(err.undelivered).to.equal(7);
      expect(err.message).to.contain('7 record(s) not acknowledged');
      const writeErr = (await pending) as DeliveryError;
      expect(isDeliveryError(writeErr)).to.equal(true);
      expect(kafka.connected).to.equal(0);
      expect(kafka.messages('prices')).to.have.length(0);
    });
  });
});
