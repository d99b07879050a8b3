import { NonRetriableError, brand, hasBrand } from './TributaryError.js';

const BRAND = Symbol.for('tributary.error.schema-compatibility');

/** One incompatibility reported by a schema registry (or found locally), in readable form. */
export interface SchemaIncompatibility {
  /** Avro's incompatibility type, e.g. `READER_FIELD_MISSING_DEFAULT_VALUE`, `TYPE_MISMATCH`. */
  type: string;
  /** JSON pointer into the schema, e.g. `/fields/2`. */
  location?: string;
  /** Detail given by the registry: often the field name, or the two types that differ. */
  detail?: string;
  /** What the rule means, in plain words. */
  description: string;
}

/** Options of {@link SchemaCompatibilityError}. */
export interface SchemaCompatibilityErrorOptions {
  /** Registry subject, e.g. `prices-value`. */
  subject?: string;
  /** Compatibility level that was checked, e.g. `BACKWARD`. */
  level?: string;
  /** The registry's messages, as returned with `?verbose=true`. */
  messages?: readonly string[];
  /** Incompatibilities found locally, shown when the registry's messages explain nothing. */
  incompatibilities?: readonly SchemaIncompatibility[];
  /** A reason to show when there is nothing more specific. */
  reason?: string;
  cause?: unknown;
}

const DESCRIPTIONS: Record<string, string> = {
  READER_FIELD_MISSING_DEFAULT_VALUE: 'a field the reader expects has no default, so records written without it cannot be read',
  TYPE_MISMATCH: 'a type changed in a way readers cannot convert',
  MISSING_ENUM_SYMBOLS: 'enum symbols were removed that existing data may contain',
  MISSING_UNION_BRANCH: 'a union branch was removed that existing data may use',
  NAME_MISMATCH: 'a named type was renamed without an alias',
  FIXED_SIZE_MISMATCH: 'a fixed type changed its size',
};

const INCOMPATIBILITY_RE = /Incompatibility\{type:([A-Z_]+)(?:, location:([^,}]*))?(?:, message:(.*?))?(?:, reader:|, writer:|\}$)/s;

/**
 * Parses Confluent-style compatibility messages (`Incompatibility{type:..., location:...,
 * message:..., reader:..., writer:...}`). Messages in other forms are kept as `detail` with type
 * `INCOMPATIBLE`; bookkeeping messages (`{oldSchemaVersion: 3}`, `{compatibility: 'BACKWARD'}`)
 * are skipped.
 */
export function parseIncompatibilities(messages: readonly string[]): SchemaIncompatibility[] {
  const out: SchemaIncompatibility[] = [];
  for (const raw of messages) {
    const m = INCOMPATIBILITY_RE.exec(raw);
    if (m) {
      const type = m[1]!;
      const item: SchemaIncompatibility = { type, description: DESCRIPTIONS[type] ?? 'the change is not allowed at this compatibility level' };
      if (m[2]) item.location = m[2].trim();
      if (m[3]) item.detail = m[3].trim();
      out.push(item);
    } else if (!/^\{(oldSchemaVersion|oldSchema|compatibility|validateFields)\b/i.test(raw.trim())) {
      out.push({ type: 'INCOMPATIBLE', detail: raw.length > 300 ? raw.slice(0, 297) + '...' : raw, description: 'the registry rejected the change' });
    }
  }
  return out;
}

function describe(i: SchemaIncompatibility): string {
  if (i.type === 'INCOMPATIBLE') return i.detail ?? i.description;
  const where = [i.location ? `at ${i.location}` : '', i.detail ? `(${i.detail})` : ''].filter(Boolean).join(' ');
  return `${i.type}${where ? ' ' + where : ''}: ${i.description}`;
}

/**
 * A schema change breaks the compatibility rule of its subject (for example a field added without
 * a default under `BACKWARD`), or a reader schema cannot read data written with a writer schema.
 * The message says which field broke which rule; `messages` holds the registry's own text. Not
 * retriable: the schema must change.
 *
 * @example
 * ```ts
 * import { isSchemaCompatibilityError } from '@tributary/core';
 * try { await serializer.prepare(); } catch (err) {
 *   if (isSchemaCompatibilityError(err)) console.error(err.incompatibilities);
 * }
 * ```
 */
export class SchemaCompatibilityError extends NonRetriableError {
  readonly subject: string | undefined;
  readonly level: string | undefined;
  /** The registry's messages, unchanged. */
  readonly messages: readonly string[];
  /** What broke which rule: the registry's messages, parsed, or else the local explanation. */
  readonly incompatibilities: readonly SchemaIncompatibility[];

  constructor(options: SchemaCompatibilityErrorOptions) {
    const messages = options.messages ?? [];
    const parsed = parseIncompatibilities(messages);
    const structured = parsed.some((i) => i.type !== 'INCOMPATIBLE');
    const local = !structured && (options.incompatibilities?.length ?? 0) > 0;
    const incompatibilities = local ? [...options.incompatibilities!] : parsed;
    const head = options.subject
      ? `schema for subject "${options.subject}" is not ${options.level ? options.level + ' ' : ''}compatible with the registered schema`
      : 'schemas are not compatible';
    let details = incompatibilities.length ? incompatibilities.map(describe).join('; ') : (options.reason ?? 'no details given');
    if (local && parsed.length) details += ` (registry: ${parsed.map(describe).join('; ')})`;
    super(`${head}: ${details}`, { code: 'ERR_SCHEMA_INCOMPATIBLE', cause: options.cause });
    this.name = 'SchemaCompatibilityError';
    this.subject = options.subject;
    this.level = options.level;
    this.messages = messages;
    this.incompatibilities = incompatibilities;
    brand(this, BRAND);
  }
}

/** True when `err` is a {@link SchemaCompatibilityError}. */
export function isSchemaCompatibilityError(err: unknown): err is SchemaCompatibilityError {
  return hasBrand(err, BRAND);
}
