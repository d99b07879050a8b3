import { expect } from 'chai';
import { isConfigError } from '../../src/errors/ConfigError.js';
import { isSchemaCompatibilityError, type SchemaCompatibilityError } from '../../src/errors/SchemaCompatibilityError.js';
import { isSchemaValidationError } from '../../src/errors/SchemaValidationError.js';
import { compileSchema, fingerprint64 } from '../../src/serde/avro.js';
import { Deserializer } from '../../src/serde/Deserializer.js';
import { SchemaRegistryClient } from '../../src/serde/registry.js';
import { InMemorySchemaStore } from '../../src/serde/schemaStore.js';
import { Serializer } from '../../src/serde/Serializer.js';
import { defineSchema } from '../../src/serde/types.js';
import { encodeConfluent } from '../../src/serde/wire.js';
import { plain, rejection } from './helpers.js';
import { StubRegistry } from './stubRegistry.js';

const v1 = defineSchema({
  type: 'record',
  name: 'Price',
  namespace: 'energy',
  fields: [
    { name: 'area', type: 'string' },
    { name: 'at', type: { type: 'long', logicalType: 'timestamp-millis' } },
    { name: 'eur', type: ['null', 'double'], default: null },
  ],
});
const v2 = defineSchema({
  ...v1,
  fields: [...v1.fields, { name: 'currency', type: 'string', default: 'EUR' }],
});
const v2Required = defineSchema({ ...v1, fields: [...v1.fields, { name: 'currency', type: 'string' }] });

const at = Date.parse('2026-03-01T12:00:00Z');

describe('serde/Serializer and Deserializer', () => {
  let stub: StubRegistry;
  let registry: SchemaRegistryClient;

  async function start(options: ConstructorParameters<typeof StubRegistry>[0] = {}) {
    stub = await new StubRegistry(options).start();
    registry = new SchemaRegistryClient({ url: stub.url });
  }

  afterEach(async () => {
    registry?.close();
    await stub?.stop();
  });

  describe('registry mode', () => {
    beforeEach(() => start());

    it('registers under <topic>-value with BACKWARD compatibility and frames with the id', async () => {
      const s = new Serializer({ topic: 'energy.prices', schema: v1, mode: 'registry', registry });
      expect(s.ready).to.equal(false);
      await s.prepare();
      expect(s.ready).to.equal(true);
      expect(s.subject).to.equal('energy.prices-value');
      expect(s.schemaId).to.equal(1);
      expect(stub.config.get('energy.prices-value')).to.equal('BACKWARD');
      const buf = s.serialize({ area: 'DE-LU', at, eur: 81.25 });
      const body = compileSchema(v1).toBuffer({ area: 'DE-LU', at, eur: 81.25 });
      expect(buf.subarray(0, 5).toString('hex')).to.equal('0000000001');
      expect(buf.subarray(5).equals(body)).to.equal(true);
      expect(buf.equals(encodeConfluent(1, compileSchema(v1), { area: 'DE-LU', at, eur: 81.25 }))).to.equal(true);
    });

    it('serializes keys under <topic>-key', async () => {
      const s = new Serializer({ topic: 'energy.prices', schema: { type: 'string' }, isKey: true, mode: 'registry', registry });
      await s.prepare();
      expect(s.subject).to.equal('energy.prices-key');
      expect(stub.subjects.has('energy.prices-key')).to.equal(true);
      expect(s.serialize('DE-LU').subarray(5).toString()).to.contain('DE-LU');
    });

    it('refuses to serialize before prepare()', () => {
      const s = new Serializer({ topic: 't', schema: v1, mode: 'registry', registry });
      expect(() => s.serialize({ area: 'x', at })).to.throw(/call and await prepare\(\) before serialize\(\)/);
    });

    it('prepares once even when asked concurrently', async () => {
      const s = new Serializer({ topic: 't', schema: v1, mode: 'registry', registry });
      await Promise.all([s.prepare(), s.prepare(), s.prepare()]);
      await s.prepare();
      expect(stub.calls('POST', '/subjects/')).to.have.length(1);
    });

    it('accepts a compatible change (a field added with a default)', async () => {
      await new Serializer({ topic: 't', schema: v1, mode: 'registry', registry }).prepare();
      const s = new Serializer({ topic: 't', schema: v2, mode: 'registry', registry });
      await s.prepare();
      expect(s.schemaId).to.equal(2);
    });

    it('an incompatible change throws SchemaCompatibilityError naming the field and the rule, and registers nothing', async () => {
      await new Serializer({ topic: 't', schema: v1, mode: 'registry', registry }).prepare();
      const s = new Serializer({ topic: 't', schema: v2Required, mode: 'registry', registry });
      const err = (await rejection(s.prepare())) as SchemaCompatibilityError;
      expect(isSchemaCompatibilityError(err)).to.equal(true);
      expect(err.code).to.equal('ERR_SCHEMA_INCOMPATIBLE');
      expect(err.retriable).to.equal(false);
      expect(err.subject).to.equal('t-value');
      expect(err.message).to.contain('schema for subject "t-value" is not BACKWARD compatible');
      expect(err.message).to.contain('READER_FIELD_MISSING_DEFAULT_VALUE at /fields/3 (currency)');
      expect(err.incompatibilities[0]).to.deep.include({ type: 'READER_FIELD_MISSING_DEFAULT_VALUE', location: '/fields/3', detail: 'currency' });
      expect(err.messages.length).to.be.greaterThan(1);
      expect(stub.subjects.get('t-value')).to.have.length(1);
      expect(s.ready).to.equal(false);
    });

    it('leaves a level the subject already has alone', async () => {
      stub.config.set('t-value', 'FULL');
      await new Serializer({ topic: 't', schema: v1, mode: 'registry', registry }).prepare();
      expect(stub.calls('PUT', '/config/')).to.have.length(0);
      expect(stub.config.get('t-value')).to.equal('FULL');
    });

    it('compatibility: null never touches the configuration', async () => {
      await new Serializer({ topic: 't', schema: v1, mode: 'registry', registry, compatibility: null }).prepare();
      expect(stub.calls('GET', '/config')).to.have.length(0);
      expect(stub.calls('PUT', '/config')).to.have.length(0);
    });

    it('validates values: the first bad field, before anything is encoded', async () => {
      const s = new Serializer({ topic: 't', schema: v1, mode: 'registry', registry });
      await s.prepare();
      let caught: unknown;
      try {
        s.serialize({ area: 'x', at: 'yesterday' as never });
      } catch (err) {
        caught = err;
      }
      expect(isSchemaValidationError(caught)).to.equal(true);
      expect((caught as Error).message).to.contain('energy.Price: at: expected timestamp-millis');
      expect(() => s.validate({ area: 'x', at, eur: 'cheap' })).to.throw(/eur: expected null \| double, got string "cheap"/);
    });

    it('can reject undeclared fields', async () => {
      const s = new Serializer({ topic: 't', schema: v1, mode: 'registry', registry, rejectUndeclaredFields: true });
      await s.prepare();
      expect(() => s.serialize({ area: 'x', at, eurr: 5 } as never)).to.throw(/undeclared field "eurr"/);
    });

    it('checks its options', () => {
      let err: unknown;
      try {
        new Serializer({ topic: '', schema: v1, mode: 'registry' } as never);
      } catch (e) {
        err = e;
      }
      expect(isConfigError(err)).to.equal(true);
      expect((err as Error).message).to.contain('topic: expected a non-empty string').and.contain('registry: required');
    });
  });

  it('Apicurio-style registries: sets the level of a new subject after registering it', async () => {
    await start({ apicurio: true, basePath: '/apis/ccompat/v7' });
    await new Serializer({ topic: 't', schema: v1, mode: 'registry', registry }).prepare();
    expect(stub.config.get('t-value')).to.equal('BACKWARD');
    const puts = stub.calls('PUT', '/config/t-value');
    expect(puts).to.have.length(2); // refused before the subject existed, accepted after
  });

  it('explains locally which field broke which rule when the registry gives no reasons', async () => {
    await start({ apicurio: true });
    await new Serializer({ topic: 't', schema: v1, mode: 'registry', registry }).prepare();
    const err = (await rejection(new Serializer({ topic: 't', schema: v2Required, mode: 'registry', registry }).prepare())) as SchemaCompatibilityError;
    expect(isSchemaCompatibilityError(err)).to.equal(true);
    expect(err.messages).to.deep.equal([]);
    expect(err.message).to.contain('is not BACKWARD compatible').and.contain('READER_FIELD_MISSING_DEFAULT_VALUE at /fields/3 (currency)');
  });

  describe('single-object mode', () => {
    it('frames with C3 01 and the fingerprint, and publishes the schema in prepare()', async () => {
      const store = new InMemorySchemaStore();
      const s = new Serializer({ topic: 't', schema: v1, mode: 'single-object', store });
      expect(s.ready).to.equal(true);
      const buf = s.serialize({ area: 'DE-LU', at });
      expect(buf.subarray(0, 2).toString('hex')).to.equal('c301');
      expect(buf.readBigUInt64LE(2)).to.equal(fingerprint64(v1));
      expect(buf.subarray(10).equals(compileSchema(v1).toBuffer({ area: 'DE-LU', at, eur: null }))).to.equal(true);
      expect(store.size).to.equal(0);
      await s.prepare();
      expect(await store.resolve(fingerprint64(v1))).to.equal(v1);
      // The value type comes from the schema: a wrong one does not compile (and throws at run time).
      // @ts-expect-error `area` is a string
      expect(() => s.serialize({ area: 1, at })).to.throw(/area: expected string, got number 1/);
    });
  });

  describe('Deserializer', () => {
    beforeEach(() => start());

    it('reads both framings, telling them apart by their first bytes, and caches writer schemas', async () => {
      const store = new InMemorySchemaStore();
      const viaRegistry = new Serializer({ topic: 't', schema: v1, mode: 'registry', registry });
      const viaStore = new Serializer({ topic: 't', schema: v1, mode: 'single-object', store });
      await viaRegistry.prepare();
      await viaStore.prepare();
      const reader = new SchemaRegistryClient({ url: stub.url });
      try {
        const d = new Deserializer({ registry: reader, resolver: store.resolve });
        const a = await d.decode(viaRegistry.serialize({ area: 'A', at }));
        const b = await d.decode(viaStore.serialize({ area: 'B', at, eur: 1.5 }));
        expect(a.format).to.equal('confluent');
        expect(a.schemaId).to.equal(1);
        expect(plain(a.value)).to.deep.equal({ area: 'A', at, eur: null });
        expect(b.format).to.equal('single-object');
        expect(b.fingerprint).to.equal(fingerprint64(v1));
        expect(plain(b.value)).to.deep.equal({ area: 'B', at, eur: 1.5 });
        await Promise.all([1, 2, 3].map((i) => d.deserialize(viaRegistry.serialize({ area: String(i), at }))));
        expect(stub.calls('GET', '/schemas/ids/1')).to.have.length(1);
      } finally {
        reader.close();
      }
    });

    it('reads old data with a newer reader schema (added field with default) and the reverse', async () => {
      const old = new Serializer({ topic: 't', schema: v1, mode: 'registry', registry });
      await old.prepare();
      const neu = new Serializer({ topic: 't', schema: v2, mode: 'registry', registry });
      await neu.prepare();
      const asV2 = new Deserializer({ registry, readerSchema: v2 });
      const asV1 = new Deserializer({ registry, readerSchema: v1 });
      const fromV1: { currency: string } = await asV2.deserialize(old.serialize({ area: 'A', at }));
      expect(plain(fromV1)).to.deep.equal({ area: 'A', at, eur: null, currency: 'EUR' });
      expect(plain(await asV1.deserialize(neu.serialize({ area: 'B', at, currency: 'CHF' })))).to.deep.equal({ area: 'B', at, eur: null });
      expect(plain(await asV2.deserialize(neu.serialize({ area: 'C', at, currency: 'CHF' })))).to.deep.equal({
        area: 'C',
        at,
        eur: null,
        currency: 'CHF',
      });
    });

    it('a reader schema that cannot read the writer data is a SchemaCompatibilityError', async () => {
      const old = new Serializer({ topic: 't', schema: v1, mode: 'single-object' });
      const d = new Deserializer({ resolver: new InMemorySchemaStore([v1]).resolve, readerSchema: v2Required });
      const err = await rejection(d.deserialize(old.serialize({ area: 'A', at })));
      expect(isSchemaCompatibilityError(err)).to.equal(true);
      expect((err as Error).message).to.contain('reader schema energy.Price cannot read data written with energy.Price');
    });

    it('explains what it cannot read', async () => {
      const d = new Deserializer({ resolver: new InMemorySchemaStore().resolve });
      const unknownFp = new Serializer({ topic: 't', schema: v1, mode: 'single-object' }).serialize({ area: 'A', at });
      const notFound = await rejection(d.deserialize(unknownFp));
      expect((notFound as { code: string }).code).to.equal('ERR_SCHEMA_NOT_FOUND');
      expect((notFound as { retriable: boolean }).retriable).to.equal(true);
      expect((notFound as Error).message).to.contain(fingerprint64(v1).toString(16));

      const noRegistry = await rejection(d.deserialize(Buffer.from([0, 0, 0, 0, 1, 2, 65])));
      expect(isConfigError(noRegistry)).to.equal(true);
      expect((noRegistry as Error).message).to.contain('registry: needed to read Confluent-framed messages (schema id 1)');

      const json = await rejection(d.deserialize(Buffer.from('{"area":"A"}')));
      expect((json as { code: string }).code).to.equal('ERR_WIRE_FORMAT');
      expect((json as Error).message).to.contain('looks like JSON');

      const store = new InMemorySchemaStore([v1]);
      const truncated = new Serializer({ topic: 't', schema: v1, mode: 'single-object' }).serialize({ area: 'DE-LU', at });
      const corrupt = await rejection(new Deserializer({ resolver: store.resolve }).deserialize(truncated.subarray(0, truncated.length - 3)));
      expect((corrupt as { code: string }).code).to.equal('ERR_AVRO_DECODE');
      expect((corrupt as Error).message).to.contain('truncated');
    });

    it('an unknown schema id fails with the registry 404, and is asked again next time', async () => {
      const d = new Deserializer({ registry });
      const msg = Buffer.from([0, 0, 0, 0, 42, 0]);
      const err = await rejection(d.deserialize(msg));
      expect((err as { status: number }).status).to.equal(404);
      await rejection(d.deserialize(msg));
      expect(stub.calls('GET', '/schemas/ids/42')).to.have.length(2);
    });

    it('decodes longs beyond 2^53 as bigints', async () => {
      const schema = defineSchema({ type: 'record', name: 'Big', fields: [{ name: 'n', type: 'long' }] });
      const s = new Serializer({ topic: 't', schema, mode: 'single-object' });
      const d = new Deserializer({ resolver: new InMemorySchemaStore([schema]).resolve, readerSchema: schema });
      expect(plain(await d.deserialize(s.serialize({ n: 2n ** 62n + 1n })))).to.deep.equal({ n: 2n ** 62n + 1n });
      expect(plain(await d.deserialize(s.serialize({ n: 5 })))).to.deep.equal({ n: 5 });
    });
  });
});
