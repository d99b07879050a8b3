/**
 * Avro schemas as TypeScript values, and the record types derived from them.
 *
 * A plugin declares its schema once (with `defineSchema` or `as const`) and gets the record type
 * with `InferAvro<typeof schema>`: the two cannot drift apart.
 *
 * How Avro types map to TypeScript (the same mapping the runtime codec in `avro.ts` uses):
 *
 * | Avro | read (`InferAvro`) | also accepted when writing (`InferAvroInput`) |
 * |---|---|---|
 * | `null` | `null` | |
 * | `boolean` | `boolean` | |
 * | `int`, `float`, `double` | `number` | |
 * | `long` | `number` (see below) | `bigint` |
 * | `bytes`, `fixed` | `Buffer` | |
 * | `string` | `string` | |
 * | `record` | object | fields with a `default` may be left out |
 * | `enum` | union of the symbols | |
 * | `array` | `T[]` | |
 * | `map` | `Record<string, T>` | |
 * | union `['null', X]` | `X \| null` | |
 * | `timestamp-millis` / `timestamp-micros` (long) | `number` (epoch ms / µs) | `Date` |
 * | `date` (int) | `string` (`YYYY-MM-DD`, UTC) | `Date` |
 * | `decimal` (bytes or fixed) | `string` (exactly `scale` fraction digits) | `number`, `bigint` |
 * | `uuid` (string) | `string` | |
 * | `time-millis`, `time-micros`, others | the underlying type | |
 *
 * Longs: JavaScript numbers hold integers exactly up to 2^53. By default a long decodes to a
 * `number`, and to a `bigint` only when its value is beyond ±(2^53 - 1); writing accepts both.
 * Streams whose longs may exceed 2^53 compile with `{ longs: 'bigint' }` (every long decodes to a
 * `bigint`) and use `InferAvro<typeof schema, bigint>`.
 *
 * @packageDocumentation
 */

/** Names of the Avro primitive types. */
export type AvroPrimitiveName = 'null' | 'boolean' | 'int' | 'long' | 'float' | 'double' | 'bytes' | 'string';

/**
 * A JSON Avro schema: a primitive name, a reference to a named type (`"com.example.Point"`), a
 * union (array), or a complex type object.
 *
 * @example
 * ```ts
 * import type { AvroSchema } from '@tributary/core';
 * const schema: AvroSchema = { type: 'record', name: 'Price', fields: [{ name: 'eur', type: 'double' }] };
 * ```
 */
export type AvroSchema =
  | AvroPrimitiveName
  | (string & {})
  | AvroUnionSchema
  | AvroRecordSchema
  | AvroEnumSchema
  | AvroArraySchema
  | AvroMapSchema
  | AvroFixedSchema
  | AvroPrimitiveSchema;

/** A union: the value is one of the branch types. `['null', X]` is the usual optional value. */
export type AvroUnionSchema = readonly AvroSchema[];

/** A primitive in object form, optionally with a logical type (`{ type: 'long', logicalType: 'timestamp-millis' }`). */
export interface AvroPrimitiveSchema {
  readonly type: AvroPrimitiveName;
  /** Logical type, e.g. `timestamp-millis`, `date`, `decimal`, `uuid`. */
  readonly logicalType?: string;
  /** Decimal: total number of digits. */
  readonly precision?: number;
  /** Decimal: digits after the point (default 0). */
  readonly scale?: number;
  readonly doc?: string;
}

/** One field of a record schema. */
export interface AvroField {
  readonly name: string;
  readonly type: AvroSchema;
  /** Value used when a reader finds no such field in the writer's data (and when writing leaves it out). */
  readonly default?: unknown;
  readonly doc?: string;
  readonly aliases?: readonly string[];
  readonly order?: 'ascending' | 'descending' | 'ignore';
}

/** A record (or error) schema. */
export interface AvroRecordSchema {
  readonly type: 'record' | 'error';
  readonly name: string;
  readonly namespace?: string;
  readonly doc?: string;
  readonly aliases?: readonly string[];
  readonly fields: readonly AvroField[];
}

/** An enum schema. */
export interface AvroEnumSchema {
  readonly type: 'enum';
  readonly name: string;
  readonly namespace?: string;
  readonly doc?: string;
  readonly aliases?: readonly string[];
  readonly symbols: readonly string[];
  /** Symbol used by readers for symbols they do not know. */
  readonly default?: string;
}

/** An array schema. */
export interface AvroArraySchema {
  readonly type: 'array';
  readonly items: AvroSchema;
  readonly doc?: string;
}

/** A map schema (keys are always strings). */
export interface AvroMapSchema {
  readonly type: 'map';
  readonly values: AvroSchema;
  readonly doc?: string;
}

/** A fixed-size byte string, optionally a `decimal`. */
export interface AvroFixedSchema {
  readonly type: 'fixed';
  readonly name: string;
  readonly namespace?: string;
  readonly doc?: string;
  readonly aliases?: readonly string[];
  readonly size: number;
  readonly logicalType?: string;
  readonly precision?: number;
  readonly scale?: number;
}

/**
 * Returns its argument unchanged, keeping the literal type, so that `InferAvro` can derive the
 * record type from it. Equivalent to writing the schema `as const`, but checks the shape.
 *
 * @example
 * ```ts
 * import { defineSchema, type InferAvro } from '@tributary/core';
 * export const priceSchema = defineSchema({
 *   type: 'record', name: 'Price', namespace: 'energy',
 *   fields: [
 *     { name: 'area', type: 'string' },
 *     { name: 'at', type: { type: 'long', logicalType: 'timestamp-millis' } },
 *     { name: 'eurPerMwh', type: ['null', 'double'], default: null },
 *   ],
 * });
 * export type Price = InferAvro<typeof priceSchema>;
 * // { area: string; at: number; eurPerMwh: number | null }
 * ```
 */
export function defineSchema<const S extends AvroSchema>(schema: S): S {
  return schema;
}

// ---------------------------------------------------------------------------------------------
// Type-level mapping

/** @internal TypeScript types chosen for the Avro types whose representation differs by direction. */
interface TypeMap {
  long: unknown;
  timestamp: unknown;
  date: unknown;
  decimal: unknown;
  optionalDefaults: boolean;
}

/** @internal Types produced by decoding. */
interface OutMap<L> extends TypeMap {
  long: L;
  timestamp: number;
  date: string;
  decimal: string;
  optionalDefaults: false;
}

/** @internal Types accepted when encoding. */
interface InMap extends TypeMap {
  long: number | bigint;
  timestamp: number | Date;
  date: string | Date;
  decimal: string | number | bigint;
  optionalDefaults: true;
}

type Simplify<T> = { [K in keyof T]: T[K] } & {};

/** @internal A named type found in a schema, keyed by one of its names. */
interface NamedEntry<N, S> {
  name: N;
  schema: S;
}

type EntriesFor<N, S> = N extends string ? NamedEntry<N, S> : never;

/** @internal Namespace a named type declares, or the enclosing one it inherits. */
type NamespaceOf<S, Outer extends string> = S extends { namespace: infer NS extends string } ? NS : Outer;

/** @internal The names a named type can be referenced by: as written, short, and fully qualified. */
type NamesOf<S, Outer extends string> = S extends { name: infer N extends string }
  ? N extends `${string}.${string}`
    ? N | LastSegment<N>
    : NamespaceOf<S, Outer> extends ''
      ? N
      : N | `${NamespaceOf<S, Outer>}.${N}`
  : never;

/** @internal Namespace inherited by the types nested inside a named type. */
type InnerNamespace<S, Outer extends string> = S extends { name: infer N extends string }
  ? N extends `${string}.${string}`
    ? NamePrefix<N>
    : NamespaceOf<S, Outer>
  : Outer;

/** @internal `a.b.C` → `a.b`. */
type NamePrefix<N extends string> = N extends `${infer A}.${infer B}`
  ? B extends `${string}.${string}`
    ? `${A}.${NamePrefix<B>}`
    : A
  : '';

type LastSegment<N extends string> = N extends `${string}.${infer Rest}` ? LastSegment<Rest> : N;

/** @internal Every named type (record, enum, fixed) declared anywhere inside `S`. */
type CollectNamed<S, NS extends string = '', Depth extends unknown[] = []> = Depth['length'] extends 12
  ? never
  : AvroSchema extends S
    ? never
  : S extends readonly unknown[]
    ? CollectNamed<S[number], NS, [...Depth, 0]>
    : S extends { type: 'record' | 'error'; fields: readonly (infer F)[] }
      ?
          | EntriesFor<NamesOf<S, NS>, S>
          | (F extends { type: infer T } ? CollectNamed<T, InnerNamespace<S, NS>, [...Depth, 0]> : never)
      : S extends { type: 'enum' | 'fixed' }
        ? EntriesFor<NamesOf<S, NS>, S>
        : S extends { type: 'array'; items: infer I }
          ? CollectNamed<I, NS, [...Depth, 0]>
          : S extends { type: 'map'; values: infer V }
            ? CollectNamed<V, NS, [...Depth, 0]>
            : never;

type Lookup<R, Name> = R extends NamedEntry<infer N, infer S> ? (Name extends N ? S : never) : never;

type TimestampLogical = 'timestamp-millis' | 'timestamp-micros';

/** @internal True when `X` is the wide `AvroSchema` type (a schema not known at compile time). */
type IsWide<X> = 0 extends 1 & X ? true : AvroSchema extends X ? true : false;

type InferType<S, M extends TypeMap, R> = S extends 'null'
  ? null
  : S extends 'boolean'
    ? boolean
    : S extends 'int' | 'float' | 'double'
      ? number
      : S extends 'long'
        ? M['long']
        : S extends 'bytes'
          ? Buffer
          : S extends 'string'
            ? string
            : S extends string
              ? [Lookup<R, S>] extends [never]
                ? unknown
                : InferType<Lookup<R, S>, M, R>
              : S extends readonly unknown[]
                ? IsWide<S[number]> extends true
                  ? unknown
                  : InferType<S[number], M, R>
                : S extends { type: 'long'; logicalType: TimestampLogical }
                  ? M['timestamp']
                  : S extends { type: 'int'; logicalType: 'date' }
                    ? M['date']
                    : S extends { type: 'bytes' | 'fixed'; logicalType: 'decimal' }
                      ? M['decimal']
                      : S extends { type: 'record' | 'error'; fields: infer F extends readonly AvroField[] }
                        ? IsWide<F[number]['type']> extends true
                          ? Record<string, unknown>
                          : RecordType<F, M, R>
                        : S extends { type: 'enum'; symbols: infer Sy extends readonly string[] }
                          ? Sy[number]
                          : S extends { type: 'array'; items: infer I }
                            ? IsWide<I> extends true
                              ? unknown[]
                              : InferType<I, M, R>[]
                            : S extends { type: 'map'; values: infer V }
                              ? IsWide<V> extends true
                                ? Record<string, unknown>
                                : Record<string, InferType<V, M, R>>
                              : S extends { type: 'fixed' }
                                ? Buffer
                                : S extends { type: infer T extends AvroPrimitiveName }
                                  ? InferType<T, M, R>
                                  : unknown;

type RequiredFields<F extends AvroField, M extends TypeMap> = M['optionalDefaults'] extends true
  ? F extends { default: unknown }
    ? never
    : F
  : F;

type OptionalFields<F extends AvroField, M extends TypeMap> = M['optionalDefaults'] extends true
  ? F extends { default: unknown }
    ? F
    : never
  : never;

type RecordType<F extends readonly AvroField[], M extends TypeMap, R> = Simplify<
  { -readonly [K in RequiredFields<F[number], M> as K['name']]: InferType<K['type'], M, R> } & {
    -readonly [K in OptionalFields<F[number], M> as K['name']]?: InferType<K['type'], M, R>;
  }
>;

/**
 * The TypeScript type of the values of an Avro schema declared `as const` (or with
 * `defineSchema`), as decoding produces them. `Long` is the type of `long` values: `number` by
 * default, `bigint` for schemas compiled with `{ longs: 'bigint' }`.
 *
 * Named types referenced by name inside the same schema are resolved; a reference that cannot be
 * resolved (or a recursion deeper than 12 levels) becomes `unknown`. See the module
 * documentation for the full mapping.
 *
 * @example
 * ```ts
 * import { defineSchema, type InferAvro } from '@tributary/core';
 * const schema = defineSchema({
 *   type: 'record', name: 'Reading',
 *   fields: [
 *     { name: 'station', type: 'string' },
 *     { name: 'level', type: { type: 'enum', name: 'Level', symbols: ['LOW', 'HIGH'] } },
 *     { name: 'pm25', type: ['null', 'double'], default: null },
 *   ],
 * });
 * type Reading = InferAvro<typeof schema>;
 * // { station: string; level: 'LOW' | 'HIGH'; pm25: number | null }
 * ```
 */
export type InferAvro<S, Long = number> = InferType<S, OutMap<Long>, CollectNamed<S>>;

/**
 * The TypeScript type accepted when writing values of a schema: like {@link InferAvro}, but
 * fields with a `default` may be left out, longs may be `bigint`, timestamps and dates may be
 * `Date` objects and decimals may be numbers or bigints.
 *
 * @example
 * ```ts
 * import { defineSchema, type InferAvroInput } from '@tributary/core';
 * const schema = defineSchema({
 *   type: 'record', name: 'Tick',
 *   fields: [
 *     { name: 'at', type: { type: 'long', logicalType: 'timestamp-millis' } },
 *     { name: 'venue', type: 'string', default: 'XNAS' },
 *   ],
 * });
 * const tick: InferAvroInput<typeof schema> = { at: new Date() }; // venue defaults to 'XNAS'
 * ```
 */
export type InferAvroInput<S> = InferType<S, InMap, CollectNamed<S>>;
