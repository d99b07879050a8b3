import { expect } from 'chai';
import { fingerprint64 } from '../../src/serde/avro.js';
import { KafkaSchemaStore, fingerprintKey } from '../../src/kafka/schemaTopic.js';
import { MemoryKafka } from '../../../test/support/memoryKafka.js';

const price = { type: 'record', name: 'Price', fields: [{ name: 'eur', type: { type: 'bytes', logicalType: 'decimal', precision: 9, scale: 2 } }] } as const;
const tick = { type: 'record', name: 'Tick', fields: [{ name: 'n', type: 'long' }] } as const;

describe('KafkaSchemaStore (in-memory transport)', () => {
  let kafka: MemoryKafka;
  beforeEach(() => {
    kafka = new MemoryKafka();
    kafka.createTopic('_tributary_schemas', 1);
  });

  it('publishes the full schema keyed by its 16-hex-digit fingerprint, once per fingerprint', async () => {
    const store = new KafkaSchemaStore({ transport: kafka });
    const fp = fingerprint64(price);
    await store.publish(fp, price);
    await store.publish(fp, price);
    const records = kafka.messages('_tributary_schemas');
    expect(records).to.have.length(1);
    expect(records[0]!.key!.toString()).to.equal(fingerprintKey(fp)).and.to.match(/^[0-9a-f]{16}$/);
    expect(JSON.parse(records[0]!.value!.toString())).to.deep.equal(price); // logical types kept (the canonical form drops them)
    expect(records[0]!.headers['content-type']!.toString()).to.equal('application/vnd.apache.avro+json');
    await store.close();
    expect(kafka.connected).to.equal(0);
  });

  it('refuses a fingerprint that does not belong to the schema', async () => {
    const store = new KafkaSchemaStore({ transport: kafka });
    const err = await store.publish(fingerprint64(tick), price).catch((e: unknown) => e);
    expect((err as { code: string }).code).to.equal('ERR_SCHEMA_STORE');
    expect(kafka.messages('_tributary_schemas')).to.have.length(0);
    await store.close();
  });

  it('resolves fingerprints another process published by reading the topic; ignores unusable records; unknown ones stay undefined', async () => {
    const writer = new KafkaSchemaStore({ transport: kafka });
    await writer.publish(fingerprint64(price), price);
    kafka.append([
      { topic: '_tributary_schemas', key: Buffer.from('not-a-fingerprint'), value: Buffer.from('{}'), partition: 0 },
      { topic: '_tributary_schemas', key: Buffer.from(fingerprintKey(fingerprint64(price) ^ 1n)), value: Buffer.from(JSON.stringify(price)), partition: 0 },
    ]);
    await writer.close();
    const reader = new KafkaSchemaStore({ transport: kafka, catchUpTimeoutMs: 2000 });
    expect(await reader.resolve(fingerprint64(price))).to.deep.equal(price);
    expect(await reader.resolve(fingerprint64(price) ^ 1n)).to.equal(undefined); // a record whose schema does not match its key
    // published later by someone else: found by catching up again
    const later = new KafkaSchemaStore({ transport: kafka });
    await later.publish(fingerprint64(tick), tick);
    await later.close();
    expect(await reader.resolve(fingerprint64(tick))).to.deep.equal(tick);
    await reader.close();
    expect(kafka.connected).to.equal(0);
  });
});
