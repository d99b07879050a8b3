import type { Type } from 'avsc';
import { ConfigError } from '../errors/ConfigError.js';
import { statusOf } from '../errors/HttpError.js';
import { SchemaCompatibilityError, type SchemaIncompatibility } from '../errors/SchemaCompatibilityError.js';
import { NonRetriableError } from '../errors/TributaryError.js';
import { compileSchema, fingerprint64, validateRecord, type LongMode } from './avro.js';
import { explainIncompatibility } from './compatibility.js';
import type { CompatibilityLevel, SchemaRegistryApi } from './registry.js';
import type { SchemaStore } from './schemaStore.js';
import type { AvroSchema, InferAvroInput } from './types.js';
import { confluentEncoder, singleObjectEncoder, type FramedEncoder } from './wire.js';

interface SerializerCommonOptions<S extends AvroSchema> {
  /** Kafka topic (or stream name) the values are for. */
  topic: string;
  /** The writer schema. */
  schema: S;
  /** Serialize record keys instead of values: the subject becomes `<topic>-key`. Default `false`. */
  isKey?: boolean;
  /** Registry subject. Default `<topic>-value` (or `<topic>-key` with `isKey`). */
  subject?: string;
  /** Decoding of longs where the schema is compiled (see `compileSchema`). Default `'auto'`. */
  longs?: LongMode;
  /** Reject record fields the schema does not declare (default `false`: they are dropped, as Avro does). */
  rejectUndeclaredFields?: boolean;
}

/** Options of a {@link Serializer} that uses a Confluent-compatible schema registry. */
export interface RegistrySerializerOptions<S extends AvroSchema> extends SerializerCommonOptions<S> {
  mode: 'registry';
  /** The registry, usually a `SchemaRegistryClient`. */
  registry: SchemaRegistryApi;
  /**
   * Compatibility level to give the subject when it has none of its own (the registry answers 404,
   * or `NONE` as Apicurio does for "no rule"); a level already set is left alone. `null` never
   * touches the registry's configuration. Default `'BACKWARD'`.
   */
  compatibility?: CompatibilityLevel | null;
}

/** Options of a {@link Serializer} that writes Avro single-object encoding (no registry). */
export interface SingleObjectSerializerOptions<S extends AvroSchema> extends SerializerCommonOptions<S> {
  mode: 'single-object';
  /** Where `prepare()` publishes the schema so readers can resolve its fingerprint. Default: none. */
  store?: SchemaStore;
}

/** Options of {@link Serializer}. */
export type SerializerOptions<S extends AvroSchema> = RegistrySerializerOptions<S> | SingleObjectSerializerOptions<S>;

/**
 * Turns the values of one topic into Avro messages, validated against the topic's schema.
 *
 * - `mode: 'registry'`: Confluent framing (`00` + 4-byte schema id + Avro body), which consumers
 *   in every language understand. `await prepare()` checks the schema against the subject's
 *   compatibility rule (a breaking change throws `SchemaCompatibilityError` saying which field
 *   broke which rule), then registers it and keeps its id.
 * - `mode: 'single-object'`: Avro single-object encoding (`C3 01` + 8-byte fingerprint + body),
 *   for when no registry runs. `prepare()` publishes the schema to `store`, if given; values can
 *   be serialized before that.
 *
 * `serialize()` is synchronous: it validates the value (a `SchemaValidationError` names the path
 * of the first bad field) and encodes it with one allocation, the returned buffer.
 *
 * @example
 * ```ts
 * import { Serializer, SchemaRegistryClient } from '@tributary/core';
 * const serializer = new Serializer({
 *   topic: 'energy.prices', schema: priceSchema,
 *   mode: 'registry', registry: new SchemaRegistryClient({ url: 'http://localhost:8081' }),
 * });
 * await serializer.prepare();
 * const message = serializer.serialize({ area: 'DE-LU', at: Date.now(), eurPerMwh: 81.2 });
 * ```
 */
export class Serializer<S extends AvroSchema = AvroSchema> {
  /** The compiled writer schema. */
  readonly type: Type;
  /** The registry subject (used in registry mode). */
  readonly subject: string;
  /** CRC-64-AVRO fingerprint of the schema's canonical form. */
  readonly fingerprint: bigint;
  private readonly options: SerializerOptions<S>;
  private encoder: FramedEncoder | undefined;
  private preparing: Promise<void> | undefined;
  private id: number | undefined;

  constructor(options: SerializerOptions<S>) {
    const issues: { path: string; message: string }[] = [];
    if (typeof options.topic !== 'string' || options.topic === '') issues.push({ path: 'topic', message: 'expected a non-empty string' });
    const mode: unknown = options.mode;
    if (mode !== 'registry' && mode !== 'single-object') {
      issues.push({ path: 'mode', message: `expected 'registry' or 'single-object', got ${JSON.stringify(mode)}` });
    }
    if (options.mode === 'registry' && (typeof options.registry !== 'object' || options.registry === null)) {
      issues.push({ path: 'registry', message: "required in 'registry' mode" });
    }
    if (issues.length) throw new ConfigError(undefined, issues);
    this.options = options;
    this.type = compileSchema(options.schema, { longs: options.longs ?? 'auto' });
    this.subject = options.subject ?? `${options.topic}-${options.isKey ? 'key' : 'value'}`;
    this.fingerprint = fingerprint64(options.schema);
    if (options.mode === 'single-object') {
      this.encoder = singleObjectEncoder(this.fingerprint, this.type, options.rejectUndeclaredFields);
    }
  }

  /** The schema id in registry mode, once `prepare()` has resolved. */
  get schemaId(): number | undefined {
    return this.id;
  }

  /** True when `serialize()` can be called. */
  get ready(): boolean {
    return this.encoder !== undefined;
  }

  /**
   * Registers the schema (registry mode) or publishes it to the store (single-object mode). Safe
   * to call more than once and concurrently; after a failure, the next call tries again.
   */
  prepare(): Promise<void> {
    this.preparing ??= this.doPrepare().catch((err: unknown) => {
      this.preparing = undefined;
      throw err;
    });
    return this.preparing;
  }

  private async doPrepare(): Promise<void> {
    const o = this.options;
    if (o.mode === 'single-object') {
      await o.store?.publish(this.fingerprint, o.schema);
      return;
    }
    const { registry } = o;
    const wanted = o.compatibility === undefined ? 'BACKWARD' : o.compatibility;
    let level: CompatibilityLevel | null = null;
    let setAfterRegistering = false;
    if (wanted !== null) {
      level = await registry.getCompatibility(this.subject).catch((err: unknown) => {
        if (statusOf(err) === 404) return null;
        throw err;
      });
      if (level === null || level === 'NONE') {
        try {
          await registry.setCompatibility(this.subject, wanted);
        } catch (err) {
          // Some registries (Apicurio) only configure subjects that exist: set it after registering.
          if (statusOf(err) !== 404) throw err;
          setAfterRegistering = true;
        }
        level = wanted;
      }
    }
    const check = await registry.checkCompatibility(this.subject, o.schema);
    if (!check.compatible) {
      throw new SchemaCompatibilityError({
        subject: this.subject,
        level: level ?? undefined,
        messages: check.messages,
        incompatibilities: check.messages.length ? [] : await this.explain(level),
        reason: 'the registry gave no details',
      });
    }
    let id: number;
    try {
      id = await registry.register(this.subject, o.schema);
    } catch (err) {
      if (statusOf(err) === 409) {
        throw new SchemaCompatibilityError({
          subject: this.subject,
          level: level ?? undefined,
          messages: [(err as Error).message],
          incompatibilities: await this.explain(level),
          cause: err,
        });
      }
      throw err;
    }
    if (setAfterRegistering && wanted !== null) await registry.setCompatibility(this.subject, wanted);
    this.id = id;
    this.encoder = confluentEncoder(id, this.type, o.rejectUndeclaredFields);
  }

  /**
   * Explains locally, against the latest registered schema, what breaks the rule: for registries
   * that answer "incompatible" without saying why. Best effort: `[]` when that fails.
   */
  private async explain(level: CompatibilityLevel | null): Promise<SchemaIncompatibility[]> {
    const o = this.options;
    if (o.mode !== 'registry' || !o.registry.latest) return [];
    try {
      const latest = await o.registry.latest(this.subject);
      return latest ? explainIncompatibility(o.schema, latest.schema, level ?? 'BACKWARD') : [];
    } catch {
      return [];
    }
  }

  /**
   * Validates and encodes one value. Throws `SchemaValidationError` (path of the first bad field)
   * when it does not fit the schema, and a `NonRetriableError` with code `ERR_NOT_PREPARED` when
   * called in registry mode before `prepare()` resolved.
   */
  serialize(value: InferAvroInput<S>): Buffer {
    const encoder = this.encoder;
    if (encoder === undefined) throw this.notPrepared();
    return encoder.encode(value);
  }

  /** Checks a value without encoding it: throws the `SchemaValidationError` `serialize` would throw. */
  validate(value: unknown): void {
    validateRecord(this.type, value, { rejectUndeclaredFields: this.options.rejectUndeclaredFields ?? false });
  }

  private notPrepared(): Error {
    return new NonRetriableError(`serializer for subject ${this.subject}: call and await prepare() before serialize()`, {
      code: 'ERR_NOT_PREPARED',
    });
  }
}
