import type { Type } from 'avsc';
import { ConfigError } from '../errors/ConfigError.js';
import { SchemaCompatibilityError } from '../errors/SchemaCompatibilityError.js';
import { NonRetriableError, TributaryError } from '../errors/TributaryError.js';
import { compileSchema, fingerprint64, schemaNameOf, type LongMode } from './avro.js';
import type { SchemaRegistryApi } from './registry.js';
import type { SchemaResolver } from './schemaStore.js';
import type { AvroSchema, InferAvro } from './types.js';
import { decodeConfluent, decodeSingleObject, describeStart, detectWireFormat, type WireFormat } from './wire.js';

/** Options of {@link Deserializer}. */
export interface DeserializerOptions<S extends AvroSchema | undefined = undefined> {
  /** Registry that resolves the schema ids of Confluent-framed messages. Default: none (such messages fail). */
  registry?: SchemaRegistryApi;
  /** Resolves the fingerprints of single-object-encoded messages. Default: none (such messages fail). */
  resolver?: SchemaResolver;
  /**
   * Schema to read every message as, whatever schema it was written with (Avro schema
   * resolution: fields added with a default are filled in, removed fields are skipped, `int`
   * widens to `long`, ...). Default: none, values come out as written.
   */
  readerSchema?: S;
  /** Decoding of longs (see `compileSchema`). Default `'auto'`. */
  longs?: LongMode;
}

/** The value type a {@link Deserializer} produces: the reader schema's record type, or `unknown`. */
export type DeserializedValue<S> = S extends AvroSchema ? InferAvro<S> : unknown;

/** A decoded message with what was learned about its writer. */
export interface DecodedMessage<T> {
  value: T;
  format: WireFormat;
  /** Registry id of the writer schema (Confluent framing). */
  schemaId?: number;
  /** Fingerprint of the writer schema (single-object encoding). */
  fingerprint?: bigint;
  /** The schema the message was written with. */
  writerSchema: AvroSchema;
}

interface Reader {
  writerSchema: AvroSchema;
  read(body: Buffer): unknown;
}

/**
 * Decodes Avro messages in either framing, telling them apart by their first bytes: Confluent
 * (`00` + schema id, writer schema fetched from the registry) or single-object encoding
 * (`C3 01` + fingerprint, writer schema from the `resolver`). Writer schemas and the readers
 * built from them are cached, so only the first message of each schema waits for a lookup.
 *
 * With a `readerSchema`, every message is read as that schema (schema evolution); otherwise
 * values come out in their writer's shape. Unions whose branches a plain value cannot tell apart
 * decode as wrapped objects (`{ "com.example.Click": {...} }`) when no reader schema is given.
 *
 * Errors: `ERR_WIRE_FORMAT` (neither framing), `ERR_AVRO_DECODE` (corrupt body),
 * `ERR_SCHEMA_NOT_FOUND` (unknown fingerprint; retriable), `SchemaCompatibilityError` (the reader
 * schema cannot read the writer's data), `HttpError` from the registry (unknown id: 404).
 *
 * @example
 * ```ts
 * import { Deserializer, SchemaRegistryClient } from '@tributary/core';
 * const deserializer = new Deserializer({
 *   registry: new SchemaRegistryClient({ url: 'http://localhost:8081' }),
 *   readerSchema: priceSchema,
 * });
 * const price = await deserializer.deserialize(message.value!); // typed by priceSchema
 * ```
 */
export class Deserializer<S extends AvroSchema | undefined = undefined> {
  private readonly options: DeserializerOptions<S>;
  private readonly readerType: Type | undefined;
  private readonly readerFingerprint: bigint | undefined;
  private readonly readers = new Map<string, Promise<Reader>>();

  constructor(options: DeserializerOptions<S> = {}) {
    this.options = options;
    if (options.readerSchema !== undefined) {
      this.readerType = compileSchema(options.readerSchema, { longs: options.longs ?? 'auto' });
      this.readerFingerprint = fingerprint64(options.readerSchema);
    }
  }

  /** Decodes one message and returns its value. */
  async deserialize(buf: Buffer): Promise<DeserializedValue<S>> {
    return (await this.decode(buf)).value;
  }

  /** Decodes one message and returns its value with the writer's schema id or fingerprint. */
  async decode(buf: Buffer): Promise<DecodedMessage<DeserializedValue<S>>> {
    const format = detectWireFormat(buf);
    if (format === 'confluent') {
      const { schemaId, body } = decodeConfluent(buf);
      const reader = await this.readerFor(`id:${schemaId}`, () => this.byId(schemaId));
      return { value: this.read(reader, body, `schema id ${schemaId}`), format, schemaId, writerSchema: reader.writerSchema };
    }
    if (format === 'single-object') {
      const { fingerprint, body } = decodeSingleObject(buf);
      const reader = await this.readerFor(`fp:${fingerprint}`, () => this.byFingerprint(fingerprint));
      return { value: this.read(reader, body, `fingerprint ${hex(fingerprint)}`), format, fingerprint, writerSchema: reader.writerSchema };
    }
    throw new NonRetriableError(`not an Avro message in Confluent or single-object framing (${describeStart(buf)})`, {
      code: 'ERR_WIRE_FORMAT',
    });
  }

  private read(reader: Reader, body: Buffer, what: string): DeserializedValue<S> {
    try {
      return reader.read(body) as DeserializedValue<S>;
    } catch (err) {
      throw new NonRetriableError(`cannot decode Avro message written with ${what} (${body.length} bytes of body): ${(err as Error).message}`, {
        code: 'ERR_AVRO_DECODE',
        cause: err,
      });
    }
  }

  private readerFor(key: string, load: () => Promise<AvroSchema>): Promise<Reader> {
    let reader = this.readers.get(key);
    if (!reader) {
      reader = load().then((schema) => this.buildReader(schema, key));
      this.readers.set(key, reader);
      reader.catch(() => this.readers.delete(key));
    }
    return reader;
  }

  private async byId(id: number): Promise<AvroSchema> {
    const { registry } = this.options;
    if (!registry) {
      throw new ConfigError(undefined, [{ path: 'registry', message: `needed to read Confluent-framed messages (schema id ${id})` }]);
    }
    return registry.getSchemaById(id);
  }

  private async byFingerprint(fp: bigint): Promise<AvroSchema> {
    const { resolver } = this.options;
    if (!resolver) {
      throw new ConfigError(undefined, [
        { path: 'resolver', message: `needed to read single-object-encoded messages (fingerprint ${hex(fp)})` },
      ]);
    }
    const schema = await resolver(fp);
    if (schema === undefined) {
      throw new TributaryError(`no schema known with fingerprint ${hex(fp)} (has its writer published it?)`, {
        code: 'ERR_SCHEMA_NOT_FOUND',
        retriable: true,
      });
    }
    return schema;
  }

  private buildReader(writerSchema: AvroSchema, key: string): Reader {
    const longs = this.options.longs ?? 'auto';
    const readerType = this.readerType;
    if (readerType && this.readerFingerprint === fingerprint64(writerSchema)) {
      return { writerSchema, read: (body) => readerType.fromBuffer(body) };
    }
    const writerType = compileSchema(writerSchema, { longs, strict: false });
    if (!readerType) return { writerSchema, read: (body) => writerType.fromBuffer(body) };
    let resolver: ReturnType<Type['createResolver']>;
    try {
      resolver = readerType.createResolver(writerType);
    } catch (err) {
      throw new SchemaCompatibilityError({
        reason: `the reader schema ${schemaNameOf(readerType)} cannot read data written with ${schemaNameOf(writerType)} (${key.replace(':', ' ')}): ${(err as Error).message}`,
        cause: err,
      });
    }
    return { writerSchema, read: (body) => readerType.fromBuffer(body, resolver) };
  }
}

function hex(fp: bigint): string {
  return fp.toString(16).padStart(16, '0');
}
