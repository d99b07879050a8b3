/**
 * Against a real Confluent-compatible registry (Confluent, or Apicurio's ccompat API). Runs only
 * when SCHEMA_REGISTRY_URL is set, e.g.
 * `SCHEMA_REGISTRY_URL=http://127.0.0.1:38081/apis/ccompat/v7 npx mocha core/test/serde/registry.real.test.ts`.
 * Credentials, if needed: SCHEMA_REGISTRY_USER / SCHEMA_REGISTRY_PASSWORD.
 */
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { isSchemaCompatibilityError, type SchemaCompatibilityError } from '../../src/errors/SchemaCompatibilityError.js';
import { Deserializer } from '../../src/serde/Deserializer.js';
import { SchemaRegistryClient } from '../../src/serde/registry.js';
import { Serializer } from '../../src/serde/Serializer.js';
import { defineSchema } from '../../src/serde/types.js';
import { plain, rejection } from './helpers.js';

const url = process.env.SCHEMA_REGISTRY_URL;

if (url) {
  describe('serde/registry against a real schema registry', function () {
    this.timeout(30_000);
    const topic = `tributary-test-${randomUUID().slice(0, 8)}`;
    const subject = `${topic}-value`;
    const v1 = defineSchema({
      type: 'record',
      name: 'Reading',
      namespace: 'tributary.test',
      fields: [
        { name: 'station', type: 'string' },
        { name: 'at', type: { type: 'long', logicalType: 'timestamp-millis' } },
      ],
    });
    const v2WithDefault = defineSchema({ ...v1, fields: [...v1.fields, { name: 'pm25', type: ['null', 'double'], default: null }] });
    const v2Required = defineSchema({ ...v1, fields: [...v1.fields, { name: 'unit', type: 'string' }] });
    let registry: SchemaRegistryClient;

    before(() => {
      registry = new SchemaRegistryClient({
        url,
        username: process.env.SCHEMA_REGISTRY_USER,
        password: process.env.SCHEMA_REGISTRY_PASSWORD,
      });
    });
    after(() => registry.close());

    it('registers a schema, and re-registering returns the same id', async () => {
      const id = await registry.register(subject, v1);
      expect(id).to.be.a('number');
      const fresh = new SchemaRegistryClient({ url });
      try {
        expect(await fresh.register(subject, v1)).to.equal(id);
        expect(await fresh.getSchemaById(id)).to.deep.include({ name: 'Reading' });
      } finally {
        fresh.close();
      }
    });

    it('sets and reads the BACKWARD level of the subject', async () => {
      await registry.setCompatibility(subject, 'BACKWARD');
      expect(await registry.getCompatibility(subject)).to.equal('BACKWARD');
    });

    it('a field added with a default is BACKWARD compatible', async () => {
      expect((await registry.checkCompatibility(subject, v2WithDefault)).compatible).to.equal(true);
    });

    it('a required field added is not', async () => {
      const res = await registry.checkCompatibility(subject, v2Required);
      expect(res.compatible).to.equal(false);
      // Confluent explains with `?verbose=true`; Apicurio 3.3 answers without messages.
      expect(res.messages).to.be.an('array');
      if (res.messages.length) expect(res.messages.join('\n')).to.contain('unit');
    });

    it('a Serializer refuses the incompatible schema and round-trips the compatible one', async () => {
      const bad = new Serializer({ topic, schema: v2Required, mode: 'registry', registry });
      const err = (await rejection(bad.prepare())) as SchemaCompatibilityError;
      expect(isSchemaCompatibilityError(err)).to.equal(true);
      // Which field broke which rule: from the registry's messages, or explained locally.
      expect(err.message).to.contain('READER_FIELD_MISSING_DEFAULT_VALUE').and.contain('unit');
      expect(err.incompatibilities[0]).to.deep.include({ type: 'READER_FIELD_MISSING_DEFAULT_VALUE' });
      expect(await registry.latest(subject)).to.deep.include({ version: 1 });

      const good = new Serializer({ topic, schema: v2WithDefault, mode: 'registry', registry });
      await good.prepare();
      const d = new Deserializer({ registry, readerSchema: v2WithDefault });
      const at = Date.now();
      expect(plain(await d.deserialize(good.serialize({ station: 'Zürich', at, pm25: 7.5 })))).to.deep.equal({ station: 'Zürich', at, pm25: 7.5 });
    });
  });
}
