import { fingerprint64 } from './avro.js';
import type { AvroSchema } from './types.js';

/**
 * Finds the writer schema of a single-object-encoded message from its fingerprint (the unsigned
 * CRC-64-AVRO of the schema's canonical form). Resolves to `undefined` when unknown.
 */
export type SchemaResolver = (fingerprint: bigint) => Promise<AvroSchema | undefined>;

/**
 * Where the registry-less mode keeps schemas: writers `publish` the schemas they use, readers
 * `resolve` fingerprints. Tributary's Kafka sink implements it over a compacted topic;
 * {@link InMemorySchemaStore} serves one process and tests.
 */
export interface SchemaStore {
  /** Makes `schema` resolvable by its fingerprint. Publishing the same schema again is harmless. */
  publish(fingerprint: bigint, schema: AvroSchema): Promise<void>;
  /** The schema with this fingerprint, or `undefined`. */
  resolve: SchemaResolver;
}

/**
 * A {@link SchemaStore} in memory: for one process (a pipeline that writes Avro files and reads
 * them back) and for tests.
 *
 * @example
 * ```ts
 * import { InMemorySchemaStore, Deserializer } from '@tributary/core';
 * const store = new InMemorySchemaStore([priceSchema]);
 * const deserializer = new Deserializer({ resolver: store.resolve });
 * ```
 */
export class InMemorySchemaStore implements SchemaStore {
  private readonly schemas = new Map<bigint, AvroSchema>();

  /** @param schemas Schemas to add at once (default none). */
  constructor(schemas: Iterable<AvroSchema> = []) {
    for (const schema of schemas) this.add(schema);
  }

  /** Adds a schema and returns its fingerprint. */
  add(schema: AvroSchema): bigint {
    const fp = fingerprint64(schema);
    this.schemas.set(fp, schema);
    return fp;
  }

  /** Number of schemas held. */
  get size(): number {
    return this.schemas.size;
  }

  /** Adds a schema under the fingerprint its writer computed. */
  publish = async (fingerprint: bigint, schema: AvroSchema): Promise<void> => {
    this.schemas.set(fingerprint, schema);
  };

  /** The schema with this fingerprint, or `undefined`. A bound function: pass it as `resolver`. */
  resolve: SchemaResolver = async (fingerprint) => this.schemas.get(fingerprint);
}
