import type { Envelope } from '../types.js';

/** Names of the provenance headers every envelope carries. */
export const HEADERS = {
  /** The source id (its key under `sources:`). */
  source: 'tributary-source',
  /** The plugin's name. */
  plugin: 'tributary-plugin',
  /** The plugin's version. */
  pluginVersion: 'tributary-plugin-version',
  /** When the record was fetched (ISO 8601, UTC). */
  fetchedAt: 'tributary-fetched-at',
  /** `live`, `cache` (some value of the cycle came from the cache) or `stale` (from stale fallback). */
  origin: 'tributary-origin',
  /** The plugin stream the record belongs to. */
  stream: 'tributary-stream',
  /** The multi-source group, when the source ran as a member of one. */
  group: 'tributary-group',
  /** The shard of the source (`0 .. shards - 1`), for a source split into shards. */
  shard: 'tributary-shard',
} as const;

/** Where the data of a record came from. */
export type RecordOrigin = 'live' | 'cache' | 'stale';

/**
 * Reads a dotted path (`a.b.c`, array indexes as numbers: `items.0.id`) from a value.
 * Returns `undefined` when any step is missing.
 *
 * @example
 * ```ts
 * import { getPath } from '@tributary/core';
 * getPath({ station: { id: 'NL01' } }, 'station.id'); // 'NL01'
 * ```
 */
export function getPath(value: unknown, path: string): unknown {
  let current: unknown = value;
  for (const step of path.split('.')) {
    if (current === null || current === undefined) return undefined;
    if (typeof current !== 'object') return undefined;
    if (current instanceof Map) current = current.get(step);
    else current = (current as Record<string, unknown>)[step];
  }
  return current;
}

/**
 * Turns a key field's value into a message key: strings as they are, numbers, booleans and bigints
 * in decimal, dates in ISO 8601, bytes in base64, `null`/`undefined` as `null` (no key), and other
 * objects as JSON.
 *
 * @example
 * ```ts
 * import { keyToString } from '@tributary/core';
 * keyToString(42n); // '42'
 * keyToString(undefined); // null
 * ```
 */
export function keyToString(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
    case 'boolean':
    case 'bigint':
      return String(value);
    default:
      break;
  }
  if (value instanceof Date) return value.toISOString();
  if (Buffer.isBuffer(value)) return value.toString('base64');
  try {
    return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ?? null;
  } catch {
    return String(value);
  }
}

/** What {@link buildEnvelope} needs to know about where a record came from. */
export interface EnvelopeContext {
  topic: string;
  /** Key field (dotted path) of the stream's route; none = null key. */
  keyField?: string | undefined;
  source: string;
  stream: string;
  plugin: { name: string; version: string };
  /** When the record was emitted by the collector (epoch ms). */
  fetchedAt: number;
  origin: RecordOrigin;
  group?: string | undefined;
  /** The shard of the source, for a source split into shards. */
  shard?: number | undefined;
}

/**
 * Wraps one collector record into an envelope: topic, key, value, timestamp and provenance headers.
 *
 * The key is the record's own `key` when it set one (even `null`), else the value of the route's
 * key field (dotted path) turned into a string by {@link keyToString}, else `null`. The timestamp is
 * the record's event time, else `fetchedAt`. The record's own headers are merged over the
 * provenance headers ({@link HEADERS}).
 *
 * @example
 * ```ts
 * import { buildEnvelope } from '@tributary/core';
 * const envelope = buildEnvelope({ stream: 'prices', value: { zone: 'NL', price: 81.2 } }, {
 *   topic: 'energy.prices', keyField: 'zone', source: 'entsoe', stream: 'prices',
 *   plugin: { name: 'entsoe', version: '1.0.0' }, fetchedAt: Date.now(), origin: 'live',
 * });
 * envelope.key; // 'NL'
 * ```
 */
export function buildEnvelope<V>(
  record: { value: V; timestamp?: number | undefined; key?: string | null | undefined; headers?: Record<string, string> | undefined },
  ctx: EnvelopeContext,
): Envelope<V> {
  const key = record.key !== undefined ? record.key : ctx.keyField ? keyToString(getPath(record.value, ctx.keyField)) : null;
  const headers: Record<string, string> = {
    [HEADERS.source]: ctx.source,
    [HEADERS.plugin]: ctx.plugin.name,
    [HEADERS.pluginVersion]: ctx.plugin.version,
    [HEADERS.stream]: ctx.stream,
    [HEADERS.fetchedAt]: new Date(ctx.fetchedAt).toISOString(),
    [HEADERS.origin]: ctx.origin,
  };
  if (ctx.group) headers[HEADERS.group] = ctx.group;
  if (ctx.shard !== undefined) headers[HEADERS.shard] = String(ctx.shard);
  if (record.headers) for (const [k, v] of Object.entries(record.headers)) headers[k] = String(v);
  const timestamp = typeof record.timestamp === 'number' && Number.isFinite(record.timestamp) ? record.timestamp : ctx.fetchedAt;
  return { topic: ctx.topic, key, value: record.value, timestamp, headers };
}
