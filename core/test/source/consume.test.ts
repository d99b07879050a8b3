import { expect } from 'chai';
import { lastValueFrom, take, toArray, type Observable } from 'rxjs';
import { isConfigError } from '../../src/errors/ConfigError.js';
import { compileSchema, fingerprint64 } from '../../src/serde/avro.js';
import { InMemorySchemaStore } from '../../src/serde/schemaStore.js';
import { encodeConfluent, encodeSingleObject } from '../../src/serde/wire.js';
import { consume, type ConsumeOptions, type ConsumedRecord } from '../../src/source/consume.js';
import type { SchemaRegistryApi } from '../../src/serde/registry.js';
import type { AvroSchema } from '../../src/serde/types.js';
import { MemoryKafka } from '../../../test/support/memoryKafka.js';

const v1 = { type: 'record', name: 'Tick', namespace: 'test', fields: [{ name: 'n', type: 'int' }] } as const;
const v2 = { ...v1, fields: [...v1.fields, { name: 'venue', type: 'string', default: 'XNAS' }] } as const;

const registry: SchemaRegistryApi = {
  register: async () => 7,
  getSchemaById: async (id) => {
    if (id === 7) return v1 as unknown as AvroSchema;
    throw new Error(`no schema ${id}`);
  },
  checkCompatibility: async () => ({ compatible: true, messages: [] }),
  getCompatibility: async () => null,
  setCompatibility: async () => undefined,
};

function seed(kafka: MemoryKafka, topic: string, n: number, framing: 'confluent' | 'single-object' = 'single-object'): void {
  kafka.createTopic(topic, 1);
  const type = compileSchema(v1);
  kafka.append(
    Array.from({ length: n }, (_, i) => ({
      topic,
      key: i % 2 ? Buffer.from(`k${i}`) : null,
      value: framing === 'confluent' ? encodeConfluent(7, type, { n: i }) : encodeSingleObject(fingerprint64(v1), type, { n: i }),
      headers: { 'tributary-source': 'src' },
      timestamp: 1000 + i,
      partition: 0,
    })),
  );
}

/** Subscribes, collects `n` values (or until error/complete) and waits until the consumer disconnected. */
function run<T>(build: (onClose: () => void) => Observable<T>, n: number): Promise<{ values: T[]; error?: unknown }> {
  return new Promise((resolve) => {
    const values: T[] = [];
    let error: unknown;
    let done = false;
    let closed = false;
    const finish = () => done && closed && resolve({ values, ...(error !== undefined ? { error } : {}) });
    const sub = build(() => {
      closed = true;
      finish();
    })
      .pipe(take(n))
      .subscribe({
        next: (v) => values.push(v),
        error: (e: unknown) => {
          error = e;
          done = true;
          finish();
        },
        complete: () => {
          done = true;
          finish();
        },
      });
    void sub;
  });
}

describe('consume (in-memory transport)', () => {
  let kafka: MemoryKafka;
  const base = (over: Partial<ConsumeOptions<AvroSchema | undefined>> = {}) => ({ transport: kafka, topic: 't', groupId: 'g', from: 'earliest' as const, ...over });

  beforeEach(() => {
    kafka = new MemoryKafka();
  });

  it('decodes single-object values through the resolver, with key, headers, offset and fingerprint', async () => {
    seed(kafka, 't', 3);
    const store = new InMemorySchemaStore([v1]);
    const { values } = await run((onClose) => consume({ ...base(), resolver: store.resolve, onClose }), 3);
    expect(values.map((r) => r.value)).to.deep.equal([{ n: 0 }, { n: 1 }, { n: 2 }]);
    expect(values[1]).to.deep.include({ topic: 't', partition: 0, offset: '1', key: 'k1', timestamp: 1001, format: 'single-object' });
    expect(values[0]!.key).to.equal(null);
    expect(values[0]!.headers).to.deep.equal({ 'tributary-source': 'src' });
    expect(values[0]!.fingerprint).to.equal(fingerprint64(v1).toString(16).padStart(16, '0'));
    expect(kafka.connected).to.equal(0);
  });

  it('decodes Confluent-framed values through the registry and reads them as a newer reader schema', async () => {
    seed(kafka, 't', 2, 'confluent');
    const { values } = await run((onClose) => consume({ ...base(), registry, readerSchema: v2, onClose }), 2);
    expect(values.map((r) => r.value)).to.deep.equal([
      { n: 0, venue: 'XNAS' },
      { n: 1, venue: 'XNAS' },
    ]);
    expect(values[0]!.schemaId).to.equal(7);
  });

  it('commits exactly the records delivered when unsubscribed in the middle of a batch', async () => {
    seed(kafka, 't', 10);
    const store = new InMemorySchemaStore([v1]);
    const first = await run((onClose) => consume({ ...base(), resolver: store.resolve, onClose }), 4);
    expect(first.values.map((r) => r.offset)).to.deep.equal(['0', '1', '2', '3']);
    expect(kafka.committed.get('g|t|0')).to.equal(4n);
    const second = await run((onClose) => consume({ ...base(), resolver: store.resolve, onClose }), 6);
    expect(second.values.map((r) => r.offset)).to.deep.equal(['4', '5', '6', '7', '8', '9']);
  });

  it('with handle: emits each record after its handler resolved and commits after the whole batch; a failing handler errors without committing it', async () => {
    seed(kafka, 't', 5);
    const store = new InMemorySchemaStore([v1]);
    const events: string[] = [];
    const { values, error } = await run(
      (onClose) =>
        consume({
          ...base(),
          resolver: store.resolve,
          onClose,
          handle: async (r: ConsumedRecord<unknown>) => {
            events.push(`handle ${r.offset} (committed ${String(kafka.committed.get('g|t|0') ?? 'none')})`);
            await new Promise((res) => setTimeout(res, 2));
            if (r.offset === '3') throw new Error('sink down');
          },
        }),
      5,
    );
    expect((error as Error).message).to.equal('sink down');
    expect(values.map((r) => r.offset)).to.deep.equal(['0', '1', '2']);
    expect(events).to.deep.equal(['handle 0 (committed none)', 'handle 1 (committed none)', 'handle 2 (committed none)', 'handle 3 (committed none)']);
    expect(kafka.committed.get('g|t|0')).to.equal(3n); // 0..2 handled; 3 will be delivered again
    expect(kafka.connected).to.equal(0);
  });

  it('errors with topic, partition and offset on a value it cannot decode, unless onDecodeError skips it', async () => {
    seed(kafka, 't', 2);
    kafka.append([{ topic: 't', key: null, value: Buffer.from('not avro'), partition: 0 }]);
    const store = new InMemorySchemaStore([v1]);
    const failed = await run((onClose) => consume({ ...base(), resolver: store.resolve, onClose }), 3);
    expect(failed.values).to.have.length(2);
    expect((failed.error as Error).message).to.match(/^cannot decode the value at t\/0@2: not an Avro message/);
    expect((failed.error as { code: string }).code).to.equal('ERR_WIRE_FORMAT');

    const skipped: string[] = [];
    kafka.append([{ topic: 't', key: null, value: encodeSingleObject(fingerprint64(v1), compileSchema(v1), { n: 9 }), partition: 0 }]);
    const ok = await run(
      (onClose) => consume({ ...base({ groupId: 'g2' }), resolver: store.resolve, onClose, onDecodeError: (_e, m) => skipped.push(m.offset) }),
      3,
    );
    expect(ok.values.map((r) => r.value)).to.deep.equal([{ n: 0 }, { n: 1 }, { n: 9 }]);
    expect(skipped).to.deep.equal(['2']);
  });

  it('valueFormat auto: Avro when framed, JSON, text, or bytes otherwise', async () => {
    kafka.createTopic('t', 1);
    kafka.append([
      { topic: 't', key: null, value: encodeSingleObject(fingerprint64(v1), compileSchema(v1), { n: 1 }), partition: 0 },
      { topic: 't', key: null, value: Buffer.from('{"code":"ERR_SCHEMA"}'), partition: 0 },
      { topic: 't', key: null, value: Buffer.from('plain text'), partition: 0 },
      { topic: 't', key: null, value: Buffer.from([0xff, 0xfe, 0x01]), partition: 0 },
      { topic: 't', key: null, value: null, partition: 0 },
    ]);
    const store = new InMemorySchemaStore([v1]);
    const { values } = await run((onClose) => consume({ ...base(), valueFormat: 'auto', resolver: store.resolve, onClose }), 5);
    expect(values.map((r) => [r.format, r.value])).to.deep.equal([
      ['single-object', { n: 1 }],
      ['json', { code: 'ERR_SCHEMA' }],
      ['string', 'plain text'],
      ['bytes', Buffer.from([0xff, 0xfe, 0x01])],
      ['null', null],
    ]);
  });

  it('rejects bad options at once with a ConfigError naming them', () => {
    const err = (() => {
      try {
        consume({ groupId: '', topic: 'bad/topic' } as ConsumeOptions);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(isConfigError(err)).to.equal(true);
    expect((err as Error).message).to.contain('consume.groupId').and.contain('consume.brokers').and.contain('"bad/topic" is not a legal Kafka topic name');
  });

  it('errors when the topic does not exist, and disconnects', async () => {
    const out = await lastValueFrom(consume({ ...base({ topic: 'missing' }) }).pipe(toArray())).catch((e: unknown) => e);
    expect((out as { code: string }).code).to.equal('ERR_CONSUME');
    expect((out as Error).message).to.contain('cannot consume missing');
    await new Promise((r) => setTimeout(r, 10));
    expect(kafka.connected).to.equal(0);
  });
});
