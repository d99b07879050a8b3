/**
 * Turning one selected JSON record into a value of the stream's Avro schema: field mapping
 * (`fields: { target: 'source.path' }`), constants, and conversions driven by the schema (a
 * numeric string for a `double`, an ISO date for a `timestamp-millis`, ...).
 */
import { compilePath, isObject, selectOne, type JsonPath } from './path.js';

/** How one target field is filled. */
export interface FieldRule {
  /** Target: a field name, or a dotted path into a nested record or map (`labels.region`). */
  target: string[];
  path: JsonPath;
  /** Read the path from the whole response body (`$root.`) instead of the record. */
  fromRoot: boolean;
  convert: Conversion;
  /** Seconds or milliseconds, for numbers converted to timestamps. */
  unit: 'ms' | 's';
  hasDefault: boolean;
  default: unknown;
}

/** A conversion asked for explicitly; `auto` follows the schema. */
export type Conversion = 'auto' | 'string' | 'number' | 'integer' | 'boolean' | 'timestamp' | 'json';

/** A field rule as written in the config. */
export type FieldSpec =
  | string
  | { path: string; type?: Conversion | undefined; unit?: 'ms' | 's' | undefined; default?: unknown };

/** The bits of an Avro schema the mapping needs, resolved (named references followed). */
export type AvroNode =
  | { kind: 'primitive'; type: 'null' | 'boolean' | 'int' | 'long' | 'float' | 'double' | 'bytes' | 'string' }
  | { kind: 'logical'; logical: string; base: AvroNode }
  | { kind: 'record'; name: string; fields: { name: string; type: AvroNode; hasDefault: boolean; default: unknown }[] }
  | { kind: 'enum'; symbols: string[] }
  | { kind: 'array'; items: AvroNode }
  | { kind: 'map'; values: AvroNode }
  | { kind: 'fixed' }
  | { kind: 'union'; branches: AvroNode[] };

const PRIMITIVES = new Set(['null', 'boolean', 'int', 'long', 'float', 'double', 'bytes', 'string']);

/** Reads a JSON Avro schema into {@link AvroNode}s (the schema was already checked by avsc). */
export function readSchema(schema: unknown): AvroNode {
  const named = new Map<string, AvroNode>();
  const read = (s: unknown, namespace: string | undefined): AvroNode => {
    if (typeof s === 'string') {
      if (PRIMITIVES.has(s)) return { kind: 'primitive', type: s as 'string' };
      const found = named.get(s) ?? (namespace ? named.get(`${namespace}.${s}`) : undefined);
      if (!found) throw new Error(`unknown Avro type ${JSON.stringify(s)}`);
      return found;
    }
    if (Array.isArray(s)) return { kind: 'union', branches: s.map((b) => read(b, namespace)) };
    if (!isObject(s)) throw new Error('an Avro schema must be a string, a list or an object');
    const type = s.type;
    const ns = typeof s.namespace === 'string' ? s.namespace : namespace;
    if (typeof s.logicalType === 'string') {
      const { logicalType: _l, ...rest } = s;
      return { kind: 'logical', logical: s.logicalType, base: read(rest, ns) };
    }
    switch (type) {
      case 'record':
      case 'error': {
        const node: AvroNode = { kind: 'record', name: String(s.name), fields: [] };
        const name = String(s.name);
        named.set(name, node);
        if (ns && !name.includes('.')) named.set(`${ns}.${name}`, node);
        for (const f of (s.fields as unknown[]) ?? []) {
          const field = f as Record<string, unknown>;
          node.fields.push({ name: String(field.name), type: read(field.type, ns), hasDefault: 'default' in field, default: field.default });
        }
        return node;
      }
      case 'enum': {
        const node: AvroNode = { kind: 'enum', symbols: (s.symbols as string[]) ?? [] };
        named.set(String(s.name), node);
        if (ns) named.set(`${ns}.${String(s.name)}`, node);
        return node;
      }
      case 'fixed': {
        const node: AvroNode = { kind: 'fixed' };
        named.set(String(s.name), node);
        return node;
      }
      case 'array':
        return { kind: 'array', items: read(s.items, ns) };
      case 'map':
        return { kind: 'map', values: read(s.values, ns) };
      default:
        return read(type, ns);
    }
  };
  return read(schema, undefined);
}

/**
 * The type of a target path in a record schema, or a string saying why the path is not there.
 */
export function targetType(root: AvroNode, target: readonly string[]): AvroNode | string {
  let node = root;
  for (let i = 0; i < target.length; i++) {
    const part = target[i]!;
    const inner = nonNull(node);
    if (inner?.kind === 'record') {
      const f = inner.fields.find((x) => x.name === part);
      if (!f) return `is not a field of the schema (fields${i > 0 ? ` of ${target.slice(0, i).join('.')}` : ''}: ${inner.fields.map((x) => x.name).join(', ')})`;
      node = f.type;
    } else if (inner?.kind === 'map') {
      node = inner.values;
    } else {
      return `cannot be set: ${target.slice(0, i).join('.')} is not a record or a map`;
    }
  }
  return node;
}

/** The only non-null branch of a union (or the node itself); `undefined` for a wider union. */
function nonNull(node: AvroNode): AvroNode | undefined {
  if (node.kind !== 'union') return node;
  const branches = node.branches.filter((b) => !(b.kind === 'primitive' && b.type === 'null'));
  return branches.length === 1 ? branches[0] : undefined;
}

function nullable(node: AvroNode): boolean {
  return node.kind === 'union' && node.branches.some((b) => b.kind === 'primitive' && b.type === 'null');
}

/** Compiles one `fields:` entry. */
export function compileField(target: string, spec: FieldSpec): FieldRule {
  const s = typeof spec === 'string' ? { path: spec } : spec;
  let path = s.path.trim();
  let fromRoot = false;
  if (path === '$root' || path.startsWith('$root.') || path.startsWith('$root[')) {
    fromRoot = true;
    path = path.slice(5);
  }
  return {
    target: target.split('.'),
    path: compilePath(path),
    fromRoot,
    convert: s.type ?? 'auto',
    unit: s.unit ?? 'ms',
    hasDefault: 'default' in s && s.default !== undefined,
    default: s.default,
  };
}

/**
 * Builds the value of one record: pass-through of the schema's fields when there are no rules,
 * else the rules; then the constants; then schema defaults for fields still missing.
 */
export function mapRecord(
  record: unknown,
  body: unknown,
  schema: AvroNode & { kind: 'record' },
  rules: readonly FieldRule[] | undefined,
  constants: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (rules === undefined) {
    const src = isObject(record) ? record : {};
    for (const f of schema.fields) {
      if (f.name in src) out[f.name] = convert(src[f.name], f.type, 'auto', 'ms');
    }
  } else {
    for (const rule of rules) {
      let raw = selectOne(rule.fromRoot ? body : record, rule.path);
      if ((raw === undefined || raw === null) && rule.hasDefault) raw = rule.default;
      const type = targetType(schema, rule.target);
      setPath(out, rule.target, typeof type === 'string' ? raw : convert(raw, type, rule.convert, rule.unit));
    }
  }
  for (const [target, value] of Object.entries(constants)) {
    const parts = target.split('.');
    const type = targetType(schema, parts);
    setPath(out, parts, typeof type === 'string' ? value : convert(value, type, 'auto', 'ms'));
  }
  fillDefaults(out, schema);
  return out;
}

/** Missing fields: the schema's default, else `null` when the field is nullable (left out otherwise). */
function fillDefaults(value: Record<string, unknown>, schema: AvroNode & { kind: 'record' }): void {
  for (const f of schema.fields) {
    if (value[f.name] === undefined) {
      if (f.hasDefault) value[f.name] = structuredClone(f.default);
      else if (nullable(f.type)) value[f.name] = null;
      continue;
    }
    const inner = nonNull(f.type);
    if (inner?.kind === 'record' && isObject(value[f.name])) fillDefaults(value[f.name] as Record<string, unknown>, inner);
  }
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let cur = target;
  for (let i = 0; i < path.length - 1; i++) {
    const key = path[i]!;
    if (!isObject(cur[key])) cur[key] = {};
    cur = cur[key] as Record<string, unknown>;
  }
  cur[path[path.length - 1]!] = value;
}

/**
 * Converts a JSON value to what the Avro type expects, where that is unambiguous: numeric strings
 * to numbers, `"true"`/`"false"` to booleans, dates to epoch ms for timestamps, numbers and
 * booleans to strings. Anything else is returned as it is (the runtime's schema validation then
 * names the field).
 */
export function convert(value: unknown, type: AvroNode, how: Conversion, unit: 'ms' | 's'): unknown {
  if (value === undefined) return undefined;
  if (how === 'json') return JSON.stringify(value);
  if (value === null) return null;
  if (how === 'string') return typeof value === 'string' ? value : isObject(value) || Array.isArray(value) ? JSON.stringify(value) : String(value);
  if (how === 'number' || how === 'integer') return toNumber(value, how === 'integer');
  if (how === 'boolean') return toBoolean(value);
  if (how === 'timestamp') return toTimestamp(value, unit, 'timestamp-millis');
  const inner = nonNull(type);
  if (!inner) return value;
  if (value === '' && nullable(type) && !(inner.kind === 'primitive' && inner.type === 'string')) return null;
  switch (inner.kind) {
    case 'logical':
      if (inner.logical === 'timestamp-millis' || inner.logical === 'timestamp-micros' || inner.logical === 'date' || inner.logical === 'local-timestamp-millis') {
        return toTimestamp(value, unit, inner.logical);
      }
      return convert(value, inner.base, 'auto', unit);
    case 'primitive':
      switch (inner.type) {
        case 'int':
        case 'long':
          return toNumber(value, false);
        case 'float':
        case 'double':
          return toNumber(value, false);
        case 'boolean':
          return toBoolean(value);
        case 'string':
          return typeof value === 'number' || typeof value === 'boolean' ? String(value) : value;
        default:
          return value;
      }
    case 'record': {
      if (!isObject(value)) return value;
      const out: Record<string, unknown> = {};
      for (const f of inner.fields) if (f.name in value) out[f.name] = convert(value[f.name], f.type, 'auto', unit);
      return out;
    }
    case 'map': {
      if (!isObject(value)) return value;
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[k] = convert(v, inner.values, 'auto', unit);
      return out;
    }
    case 'array':
      return Array.isArray(value) ? value.map((v) => convert(v, inner.items, 'auto', unit)) : value;
    default:
      return value;
  }
}

function toNumber(value: unknown, truncate: boolean): unknown {
  let n: number;
  if (typeof value === 'number') n = value;
  else if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) n = Number(value);
  else if (typeof value === 'boolean') n = value ? 1 : 0;
  else return value;
  return truncate ? Math.trunc(n) : n;
}

function toBoolean(value: unknown): unknown {
  if (typeof value === 'boolean') return value;
  if (value === 'true' || value === 1 || value === '1') return true;
  if (value === 'false' || value === 0 || value === '0') return false;
  return value;
}

function toTimestamp(value: unknown, unit: 'ms' | 's', logical: string): unknown {
  let ms: number | undefined;
  if (typeof value === 'number') ms = unit === 's' ? value * 1000 : value;
  else if (typeof value === 'string') {
    const trimmed = value.trim();
    if (/^-?\d+(\.\d+)?$/.test(trimmed)) ms = unit === 's' ? Number(trimmed) * 1000 : Number(trimmed);
    else {
      const parsed = Date.parse(trimmed);
      if (!Number.isNaN(parsed)) ms = parsed;
    }
  }
  if (ms === undefined) return value;
  ms = Math.round(ms);
  if (logical === 'timestamp-micros') return ms * 1000;
  if (logical === 'date') return Math.floor(ms / 86_400_000);
  return ms;
}
