/**
 * Turns any record value into JSON-safe data: bigints become decimal strings, byte buffers become
 * base64 strings, dates become ISO strings, maps become objects, `undefined` fields are dropped,
 * non-finite numbers become strings (`"NaN"`, `"Infinity"`) and cycles become `"[Circular]"`.
 *
 * @example
 * ```ts
 * import { toJsonSafe } from '@tributary/core';
 * JSON.stringify(toJsonSafe({ id: 12n, raw: Buffer.from('hi') })); // {"id":"12","raw":"aGk="}
 * ```
 */
export function toJsonSafe(value: unknown): unknown {
  return convert(value, new WeakSet());
}

function convert(value: unknown, seen: WeakSet<object>): unknown {
  switch (typeof value) {
    case 'bigint':
      return value.toString();
    case 'number':
      return Number.isFinite(value) ? value : String(value);
    case 'string':
    case 'boolean':
      return value;
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
    default:
      break;
  }
  if (value === null) return null;
  const obj = value as object;
  if (Buffer.isBuffer(obj)) return obj.toString('base64');
  if (obj instanceof Uint8Array) return Buffer.from(obj.buffer, obj.byteOffset, obj.byteLength).toString('base64');
  if (obj instanceof Date) return Number.isNaN(obj.getTime()) ? null : obj.toISOString();
  if (seen.has(obj)) return '[Circular]';
  seen.add(obj);
  try {
    if (Array.isArray(obj)) return obj.map((v) => convert(v, seen) ?? null);
    if (obj instanceof Map) {
      const out: Record<string, unknown> = {};
      for (const [k, v] of obj) {
        const c = convert(v, seen);
        if (c !== undefined) out[String(k)] = c;
      }
      return out;
    }
    if (obj instanceof Set) return [...obj].map((v) => convert(v, seen) ?? null);
    const toJSON = (obj as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') return convert(toJSON.call(obj), seen);
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(obj)) {
      const c = convert(v, seen);
      if (c !== undefined) out[k] = c;
    }
    return out;
  } finally {
    seen.delete(obj);
  }
}

/**
 * `JSON.stringify(toJsonSafe(value))`: one JSON line, never throws on bigints or buffers.
 *
 * @example
 * ```ts
 * import { stringifySafe } from '@tributary/core';
 * stringifySafe({ n: 1n }); // '{"n":"1"}'
 * ```
 */
export function stringifySafe(value: unknown): string {
  return JSON.stringify(toJsonSafe(value)) ?? 'null';
}
