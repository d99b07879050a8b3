import avro from 'avsc';
import type { Type } from 'avsc';
import { LRUCache } from 'lru-cache';
import { NonRetriableError } from '../errors/TributaryError.js';
import { SchemaValidationError } from '../errors/SchemaValidationError.js';
import { LOGICAL_TYPES, LONG_TYPES, describeValue, isExplainedType, type LongMode } from './logicalTypes.js';
import type { AvroSchema } from './types.js';

export type { LongMode } from './logicalTypes.js';
export type { Type as AvroType } from 'avsc';

/** Options of {@link compileSchema}. */
export interface CompileOptions {
  /**
   * How `long` values decode. `'auto'` (default): a `number`, or a `bigint` when the value is
   * beyond ±(2^53 - 1). `'bigint'`: always a `bigint`. Writing accepts both in either mode.
   */
  longs?: LongMode;
  /**
   * Default `true`, for schemas you write with: a logical type on the wrong underlying type is an
   * error, and so is a union whose branches accept the same JavaScript values (such as `long` and
   * `double`, or two records), since a plain value could not say which branch it is.
   * `false`, for schemas written by others that you only read: such logical types are ignored (as
   * the Avro specification says) and ambiguous unions decode as wrapped objects
   * (`{ "com.example.Click": {...} }`).
   */
  strict?: boolean;
}

const PRIMITIVES = new Set(['null', 'boolean', 'int', 'long', 'float', 'double', 'bytes', 'string']);

const cache = new LRUCache<string, Type>({ max: 500 });

/**
 * Compiles a JSON Avro schema into an avsc `Type` that encodes, decodes and validates values.
 *
 * Logical types `timestamp-millis`, `timestamp-micros`, `date`, `decimal` and `uuid` are
 * registered (see `InferAvro` for their JavaScript representation), longs cover the full 64-bit
 * range, and unions are unwrapped (a value of `['null', 'string']` is `null` or a string).
 * Compiled types are cached by schema (500 entries), so compiling the same schema twice is cheap.
 * An invalid schema throws a `NonRetriableError` with code `ERR_SCHEMA_INVALID`.
 *
 * @example
 * ```ts
 * import { compileSchema } from '@tributary/core';
 * const type = compileSchema({ type: 'record', name: 'Price', fields: [{ name: 'eur', type: 'double' }] });
 * const buf = type.toBuffer({ eur: 42.5 });
 * type.fromBuffer(buf); // { eur: 42.5 }
 * ```
 */
export function compileSchema(schema: AvroSchema, options: CompileOptions = {}): Type {
  const longs = options.longs ?? 'auto';
  const strict = options.strict ?? true;
  let json: string;
  try {
    json = JSON.stringify(schema);
  } catch (err) {
    throw new NonRetriableError(`invalid Avro schema: not JSON (${(err as Error).message})`, { code: 'ERR_SCHEMA_INVALID', cause: err });
  }
  if (json === undefined) throw new NonRetriableError('invalid Avro schema: undefined', { code: 'ERR_SCHEMA_INVALID' });
  const key = `${longs}|${strict ? 1 : 0}|${json}`;
  const cached = cache.get(key);
  if (cached) return cached;

  const longType = LONG_TYPES[longs];
  let type: Type;
  try {
    type = avro.Type.forSchema(schema as never, {
      logicalTypes: LOGICAL_TYPES as never,
      assertLogicalTypes: strict,
      omitRecordMethods: true,
      wrapUnions: 'auto',
      typeHook: (s: unknown) => {
        if (s === 'long') return longType;
        if (typeof s === 'object' && s !== null && !Array.isArray(s)) {
          const o = s as { type?: unknown; logicalType?: unknown };
          if (o.type === 'long' && !(typeof o.logicalType === 'string' && o.logicalType in LOGICAL_TYPES)) return longType;
        }
        return undefined;
      },
    });
  } catch (err) {
    throw new NonRetriableError(`invalid Avro schema ${nameOfSchema(schema)}: ${(err as Error).message}`, {
      code: 'ERR_SCHEMA_INVALID',
      cause: err,
    });
  }
  if (strict) checkUnions(type, '', new Set(), nameOfSchema(schema));
  cache.set(key, type);
  return type;
}

function nameOfSchema(schema: unknown): string {
  if (typeof schema === 'string') return schema;
  if (typeof schema === 'object' && schema !== null && !Array.isArray(schema)) {
    const s = schema as { name?: unknown; namespace?: unknown; type?: unknown };
    if (typeof s.name === 'string') {
      return typeof s.namespace === 'string' && s.namespace && !s.name.includes('.') ? `${s.namespace}.${s.name}` : s.name;
    }
    if (typeof s.type === 'string') return s.type;
  }
  return Array.isArray(schema) ? 'union' : '(anonymous)';
}

// ---------------------------------------------------------------------------------------------
// Union checks

interface TypeInternals {
  typeName: string;
  name?: string;
  fields?: { name: string; type: Type }[];
  itemsType?: Type;
  valuesType?: Type;
  types?: Type[];
  underlyingType?: Type;
  symbols?: string[];
  size?: number;
}

const internals = (t: Type): TypeInternals => t as unknown as TypeInternals;

/** The kinds of JavaScript value a type accepts when writing. */
function valueKinds(type: Type): string[] {
  const t = internals(type);
  switch (t.typeName) {
    case 'null':
    case 'boolean':
    case 'string':
    case 'array':
      return [t.typeName];
    case 'int':
    case 'long':
    case 'float':
    case 'double':
      return ['number'];
    case 'abstract:long':
      return ['number', 'bigint'];
    case 'bytes':
    case 'fixed':
      return ['Buffer'];
    case 'enum':
      return ['string'];
    case 'map':
    case 'record':
    case 'error':
      return ['object'];
    case 'logical:timestamp-millis':
    case 'logical:timestamp-micros':
      return ['number', 'object'];
    case 'logical:date':
      return ['string', 'object'];
    case 'logical:decimal':
      return ['string', 'number', 'bigint'];
    default:
      return t.underlyingType ? valueKinds(t.underlyingType) : [t.typeName];
  }
}

function checkUnions(type: Type, path: string, seen: Set<Type>, schemaName: string): void {
  if (seen.has(type)) return;
  seen.add(type);
  const t = internals(type);
  if (t.types) {
    const owner = new Map<string, Type>();
    for (const branch of t.types) {
      for (const kind of valueKinds(branch)) {
        const other = owner.get(kind);
        if (other) {
          throw new NonRetriableError(
            `invalid Avro schema ${schemaName}: the union at ${path || '(root)'} has branches ${displayName(other)} and ` +
              `${displayName(branch)} that both accept a ${kind}, so a value cannot tell which branch it is; ` +
              'keep at most one branch per kind of value (null, boolean, number, string, Buffer, array, object)',
            { code: 'ERR_SCHEMA_INVALID' },
          );
        }
        owner.set(kind, branch);
      }
      checkUnions(branch, path, seen, schemaName);
    }
    return;
  }
  if (t.fields) for (const f of t.fields) checkUnions(f.type, path ? `${path}.${f.name}` : f.name, seen, schemaName);
  if (t.itemsType) checkUnions(t.itemsType, `${path}[]`, seen, schemaName);
  if (t.valuesType) checkUnions(t.valuesType, `${path}{}`, seen, schemaName);
}

/**
 * @internal True when encoding alone would not reject every invalid value: avsc writes a record
 * field that is missing as its default, so a record whose fields all have defaults accepts any
 * value in its place. Such schemas are checked in full before encoding.
 */
export function needsFullCheck(type: Type, seen = new Set<Type>()): boolean {
  if (seen.has(type)) return false;
  seen.add(type);
  const t = internals(type);
  if (t.fields) {
    const fields = t.fields as unknown as { type: Type; defaultValue(): unknown }[];
    if (fields.every((f) => f.defaultValue() !== undefined)) return true;
    return fields.some((f) => needsFullCheck(f.type, seen));
  }
  if (t.types) return t.types.some((b) => needsFullCheck(b, seen));
  if (t.itemsType) return needsFullCheck(t.itemsType, seen);
  if (t.valuesType) return needsFullCheck(t.valuesType, seen);
  return false;
}

/** A readable name of a type: its full name when named, else its Avro type name. */
function displayName(type: Type): string {
  const t = internals(type);
  if (t.name) return t.name;
  if (t.typeName === 'abstract:long') return 'long';
  if (t.typeName.startsWith('logical:')) return t.typeName.slice('logical:'.length);
  if (t.types) return t.types.map(displayName).join(' | ');
  if (t.itemsType) return `array<${displayName(t.itemsType)}>`;
  if (t.valuesType) return `map<${displayName(t.valuesType)}>`;
  return t.typeName;
}

/**
 * The name used for a compiled type in error messages: the full name of a named type (record,
 * enum, fixed), otherwise its Avro type name (`string`, `array<int>`).
 *
 * @example
 * ```ts
 * import { compileSchema, schemaNameOf } from '@tributary/core';
 * schemaNameOf(compileSchema({ type: 'record', name: 'Price', namespace: 'energy', fields: [] })); // 'energy.Price'
 * ```
 */
export function schemaNameOf(type: Type): string {
  return displayName(type);
}

// ---------------------------------------------------------------------------------------------
// Validation

/** Options of {@link validateRecord}. */
export interface ValidateOptions {
  /** Reject record fields that the schema does not declare (default `false`: they are ignored, as Avro does). */
  rejectUndeclaredFields?: boolean;
  /** Name used in the error (default: the schema's full name, see `schemaNameOf`). */
  schemaName?: string;
}

/**
 * Checks a value against a compiled schema. Returns nothing when it fits; otherwise throws a
 * `SchemaValidationError` naming the schema, the path of the FIRST bad field (dotted, with
 * `[i]` for array items: `readings[2].value`) and the reason, such as
 * `expected long, got string "abc"`, `missing required field`,
 * `not one of the enum symbols [LOW, HIGH] (got string "MID")` or `out of range for long`.
 *
 * @example
 * ```ts
 * import { compileSchema, validateRecord } from '@tributary/core';
 * const type = compileSchema({ type: 'record', name: 'R', fields: [{ name: 'n', type: 'long' }] });
 * validateRecord(type, { n: 'abc' }); // throws: record does not match schema R: n: expected long, got string "abc"
 * ```
 */
export function validateRecord(type: Type, value: unknown, options: ValidateOptions = {}): void {
  const problem = findProblem(type, value, options.rejectUndeclaredFields ?? false);
  if (problem) throw new SchemaValidationError(options.schemaName ?? displayName(type), problem.field, problem.reason);
}

/** @internal The first problem of a value, or undefined when it is valid. */
export function findProblem(type: Type, value: unknown, rejectUndeclared: boolean): { field: string; reason: string } | undefined {
  let first: { path: string[]; val: unknown; type: Type } | undefined;
  const ok = type.isValid(value, {
    noUndeclaredFields: rejectUndeclared,
    errorHook: (path: string[], val: unknown, t: Type) => {
      if (!first) first = { path, val, type: t };
    },
  });
  if (ok) return undefined;
  if (!first) return { field: '', reason: 'invalid value' };
  return { field: formatPath(value, first.path), reason: reasonFor(first.type, first.val, rejectUndeclared) };
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

function formatPath(root: unknown, path: string[]): string {
  let out = '';
  let cur: unknown = root;
  for (const part of path) {
    if (Array.isArray(cur)) out += `[${part}]`;
    else if (IDENT.test(part)) out += out ? `.${part}` : part;
    else out += `[${JSON.stringify(part)}]`;
    cur = cur !== null && typeof cur === 'object' ? (cur as Record<string, unknown>)[part] : undefined;
  }
  return out;
}

function reasonFor(type: Type, val: unknown, rejectUndeclared: boolean): string {
  const t = internals(type);
  if (val === undefined) return 'missing required field';
  if (isExplainedType(type)) return type.explain(val) ?? `expected ${type.expected}, got ${describeValue(val)}`;
  switch (t.typeName) {
    case 'abstract:long':
    case 'long':
      if (typeof val === 'number' && Number.isInteger(val)) {
        return `out of range for long: ${val} is beyond ±(2^53 - 1); pass a bigint for such values`;
      }
      if (typeof val === 'bigint') return `out of range for long: ${val}n does not fit in 64 bits`;
      return `expected long, got ${describeValue(val)}`;
    case 'int':
      if (typeof val === 'number' && Number.isInteger(val)) return `out of range for int: ${val} does not fit in 32 bits`;
      return `expected int, got ${describeValue(val)}`;
    case 'enum':
      return `not one of the enum symbols [${(t.symbols ?? []).join(', ')}] (got ${describeValue(val)})`;
    case 'fixed':
      return `expected fixed ${t.name} of ${t.size} bytes, got ${describeValue(val)}`;
    case 'record':
    case 'error':
      if (rejectUndeclared && val !== null && typeof val === 'object' && !Array.isArray(val)) {
        const declared = new Set((t.fields ?? []).map((f) => f.name));
        const extra = Object.keys(val).filter((k) => !declared.has(k));
        if (extra.length) return `undeclared field${extra.length > 1 ? 's' : ''} ${extra.map((k) => JSON.stringify(k)).join(', ')}`;
      }
      return `expected record ${t.name}, got ${describeValue(val)}`;
    default:
      return `expected ${displayName(type)}, got ${describeValue(val)}`;
  }
}

// ---------------------------------------------------------------------------------------------
// Parsing Canonical Form and fingerprints

const CANONICAL_ORDER = ['name', 'type', 'fields', 'symbols', 'items', 'values', 'size'] as const;

/**
 * The Avro Parsing Canonical Form of a schema: the form two schemas share exactly when they are
 * read the same way. Names are fully qualified, attributes other than `name`, `type`, `fields`,
 * `symbols`, `items`, `values` and `size` (docs, aliases, defaults, logical types) are removed,
 * and there is no whitespace. Used for fingerprints.
 *
 * @example
 * ```ts
 * import { canonicalForm } from '@tributary/core';
 * canonicalForm({ type: 'record', name: 'foo', namespace: 'x.y', doc: 'd', fields: [] });
 * // '{"name":"x.y.foo","type":"record","fields":[]}'
 * ```
 */
export function canonicalForm(schema: AvroSchema): string {
  return pcf(schema, '');
}

function qualify(name: string, namespace: string): string {
  if (PRIMITIVES.has(name) || name.includes('.') || !namespace) return name;
  return `${namespace}.${name}`;
}

function pcf(schema: unknown, namespace: string): string {
  if (typeof schema === 'string') return JSON.stringify(qualify(schema, namespace));
  if (Array.isArray(schema)) return `[${schema.map((s) => pcf(s, namespace)).join(',')}]`;
  if (typeof schema !== 'object' || schema === null) {
    throw new NonRetriableError(`invalid Avro schema: ${JSON.stringify(schema)} is not a schema`, { code: 'ERR_SCHEMA_INVALID' });
  }
  const s = schema as Record<string, unknown>;
  const type = s.type;
  if (typeof type === 'string' && PRIMITIVES.has(type)) return JSON.stringify(type);
  if (typeof type !== 'string') return pcf(type, namespace);
  let inner = namespace;
  const parts: string[] = [];
  for (const key of CANONICAL_ORDER) {
    if (!(key in s)) continue;
    const value = s[key];
    switch (key) {
      case 'name': {
        const own = typeof s.namespace === 'string' ? s.namespace : namespace;
        const full = qualify(String(value), own);
        inner = full.includes('.') ? full.slice(0, full.lastIndexOf('.')) : '';
        parts.push(`"name":${JSON.stringify(full)}`);
        break;
      }
      case 'type':
        parts.push(`"type":${JSON.stringify(type)}`);
        break;
      case 'fields':
        parts.push(
          `"fields":[${(value as { name: string; type: unknown }[])
            .map((f) => `{"name":${JSON.stringify(f.name)},"type":${pcf(f.type, inner)}}`)
            .join(',')}]`,
        );
        break;
      case 'symbols':
        parts.push(`"symbols":${JSON.stringify(value)}`);
        break;
      case 'items':
      case 'values':
        parts.push(`"${key}":${pcf(value, inner)}`);
        break;
      case 'size':
        parts.push(`"size":${Number(value)}`);
        break;
    }
  }
  return `{${parts.join(',')}}`;
}

const EMPTY64 = 0xc15d213aa4d7a795n;
const MASK64 = 0xffffffffffffffffn;
let fpTable: bigint[] | undefined;

function table(): bigint[] {
  if (fpTable) return fpTable;
  fpTable = [];
  for (let i = 0; i < 256; i++) {
    let fp = BigInt(i);
    for (let j = 0; j < 8; j++) fp = (fp >> 1n) ^ (EMPTY64 & -(fp & 1n) & MASK64);
    fpTable.push(fp);
  }
  return fpTable;
}

/**
 * CRC-64-AVRO (the Rabin fingerprint of the Avro specification) of some bytes (a string is taken
 * as UTF-8), as an unsigned 64-bit bigint.
 *
 * @example
 * ```ts
 * import { crc64Avro } from '@tributary/core';
 * BigInt.asIntN(64, crc64Avro('"null"')); // 7195948357588979594n, as the Java implementation prints it
 * ```
 */
export function crc64Avro(data: Uint8Array | string): bigint {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const t = table();
  let fp = EMPTY64;
  for (let i = 0; i < bytes.length; i++) fp = (fp >> 8n) ^ t[Number((fp ^ BigInt(bytes[i]!)) & 0xffn)]!;
  return fp;
}

/**
 * The 64-bit fingerprint of a schema: CRC-64-AVRO of its Parsing Canonical Form, unsigned. This
 * is the fingerprint of Avro single-object encoding (written there as 8 little-endian bytes).
 *
 * @example
 * ```ts
 * import { fingerprint64 } from '@tributary/core';
 * const fp = fingerprint64({ type: 'record', name: 'Price', fields: [{ name: 'eur', type: 'double' }] });
 * fp.toString(16); // 16 hex digits at most
 * ```
 */
export function fingerprint64(schema: AvroSchema): bigint {
  return crc64Avro(canonicalForm(schema));
}
