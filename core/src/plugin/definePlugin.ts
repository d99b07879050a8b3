import semver from 'semver';
import type { z } from 'zod';
import type { Type } from 'avsc';
import { PluginLoadError } from '../errors/PluginLoadError.js';
import { compileSchema } from '../serde/avro.js';
import type { AvroSchema, InferAvro } from '../serde/types.js';
import type { Collector, PluginContext, StreamDefinition, StreamRecord, TributaryPlugin } from './types.js';

/**
 * The records a collector of a plugin with these streams may emit: for each stream name `K`, a
 * `StreamRecord<K, V>` whose value `V` is derived from that stream's Avro schema with `InferAvro`.
 *
 * @example
 * ```ts
 * import type { StreamRecordOf } from '@tributary/core';
 * type Out = StreamRecordOf<typeof airQuality.streams>;
 * // { stream: 'measurements'; value: { station_id: string; ... }; timestamp?: number; ... }
 * ```
 */
export type StreamRecordOf<Streams extends Record<string, StreamDefinition>> = {
  [K in keyof Streams & string]: StreamRecord<K, RecordValue<Streams[K]['schema']>>;
}[keyof Streams & string];

/**
 * The value type of a stream's records: `InferAvro` of its schema (any mapping when the schema is
 * not a literal type, e.g. one typed as `AvroSchemaLike`).
 *
 * @example
 * ```ts
 * import type { RecordValue } from '@tributary/core';
 * type Reading = RecordValue<typeof readingSchema>;
 * ```
 */
export type RecordValue<S> = InferAvro<S> extends infer V extends Record<string, unknown> ? V : Record<string, unknown>;

/**
 * The records a plugin's collector emits (see {@link StreamRecordOf}).
 *
 * @example
 * ```ts
 * import type { PluginRecord } from '@tributary/core';
 * import airQuality from '@acme/tributary-plugin-air-quality';
 * type AirRecord = PluginRecord<typeof airQuality>;
 * ```
 */
export type PluginRecord<P extends { readonly streams: Record<string, StreamDefinition> }> = StreamRecordOf<P['streams']>;

/**
 * What `definePlugin` takes: the plugin's metadata, config schema, streams and `create`. See
 * {@link definePlugin} for an example.
 */
export interface PluginDefinition<Schema extends z.ZodType, Streams extends Record<string, StreamDefinition>> {
  /** Plugin name, usually the package name (`@tributary/plugin-luchtmeetnet`); shown in logs and headers. */
  name: string;
  /** The plugin's own version, semver (`1.2.0`). */
  version: string;
  /** semver range of `@tributary/core` the plugin works with (`^0.1.0`); checked when it is loaded. */
  coreVersion: string;
  /** One line on what the plugin collects (shown by `tributary plugins`). */
  description?: string;
  /**
   * zod schema of the plugin's options (`config:` of a source in the pipeline file). Its output
   * type is the `config` argument of `create`; defaults and transforms apply.
   */
  configSchema: Schema;
  /**
   * The plugin's output streams, by name: an Avro record schema each (written inline or `as const`),
   * optionally a default key field and a description. The record type of each stream is derived
   * from its schema.
   */
  streams: Streams;
  /**
   * The streams of one source, computed from its validated options, for plugins whose schema or
   * stream names depend on the config (a generic HTTP plugin whose schema is written in the
   * pipeline file). Called once per source when the pipeline is resolved (and by the testkit);
   * the streams it returns are checked like `streams` (valid Avro record schemas, key fields that
   * exist), and problems are reported under the source's `sources.<id>.config` path. Throw to
   * reject a config; the message is reported at that path.
   *
   * Typing: the records `create` may emit stay typed by `streams`; the streams returned here are
   * typed loosely (`Record<string, StreamDefinition>`), since they are known only at run time.
   * When they differ from `streams` in schema or names, declare `streams` loosely too
   * (`streams: { records: { schema } } as Record<string, StreamDefinition>`), so that records are
   * `{ stream: string; value: Record<string, unknown> }`; each record is still validated against
   * the source's schema before it is sent.
   *
   * Default: `streams`, whatever the config. With `streamsFor`, `streams` may be empty; it is what
   * `tributary plugins` shows.
   */
  streamsFor?: (config: z.output<Schema>) => Record<string, StreamDefinition>;
  /**
   * True when `collect()` honours `cycle.shard` (collects only its share of the work: see
   * `shardOf`), so that a polling source can be split into shards run by different workers
   * (`shards: N` in the pipeline). Default `false`: only backfills can be sharded (by chunk).
   */
  shards?: boolean;
  /**
   * Builds a collector for one source. Called once per source at start-up, with the validated
   * options and the source's context (`ctx.http`, `ctx.log`, `ctx.cache`, `ctx.state`, ...).
   */
  create(config: z.output<Schema>, ctx: PluginContext): Collector<StreamRecordOf<Streams>> | Promise<Collector<StreamRecordOf<Streams>>>;
}

/** Stream names: letters, digits, `_` and `-`, starting with a letter or digit. */
const STREAM_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;
const KEY_FIELD = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

/**
 * Declares a collector plugin: checks its metadata and stream schemas and returns the
 * {@link TributaryPlugin} object that a plugin package exports.
 *
 * The definition is generic in its config schema and its streams, so TypeScript knows the type of
 * `config` in `create` (the output of `configSchema`) and of every record the collector emits: a
 * record of stream `measurements` must have the value type derived from that stream's Avro schema
 * (`InferAvro`), so the schema and the code cannot drift apart. Write the stream schemas inline or
 * declare them `as const` (or with `defineSchema`).
 *
 * Checked at once (a {@link PluginLoadError}, code `ERR_PLUGIN`, naming the plugin and listing every
 * problem): `name` is a non-empty string, `version` is a semver version, `coreVersion` a semver
 * range, `configSchema` a zod schema, `streams` has at least one stream (or `streamsFor` is
 * given), each stream's schema is a valid Avro record schema (compiled with `compileSchema`), each
 * default `key` is a field of its record, and `create` (and `streamsFor`, when given) is a
 * function. Streams returned by `streamsFor` are checked the same way when a pipeline is resolved,
 * per source.
 *
 * @example
 * ```ts
 * import { definePlugin } from '@tributary/core';
 * import { z } from 'zod';
 * import { map } from 'rxjs';
 *
 * export default definePlugin({
 *   name: '@acme/plugin-air-quality',
 *   version: '1.0.0',
 *   coreVersion: '^0.1.0',
 *   configSchema: z.object({ station: z.string() }),
 *   streams: {
 *     measurements: {
 *       key: 'station_id',
 *       schema: {
 *         type: 'record', name: 'Measurement', namespace: 'acme.air',
 *         fields: [
 *           { name: 'station_id', type: 'string' },
 *           { name: 'pm25', type: ['null', 'double'] },
 *         ],
 *       },
 *     },
 *   },
 *   create(config, ctx) {
 *     return {
 *       collect: () =>
 *         ctx.http.getJson$<{ pm25?: number }>(`https://api.example.org/stations/${config.station}/latest`).pipe(
 *           map((m) => ({ stream: 'measurements' as const, value: { station_id: config.station, pm25: m.pm25 ?? null } })),
 *         ),
 *     };
 *   },
 * });
 * ```
 */
export function definePlugin<Schema extends z.ZodType, const Streams extends Record<string, StreamDefinition>>(
  definition: PluginDefinition<Schema, Streams>,
): TributaryPlugin<z.output<Schema>, Streams> {
  const candidate = { ...(definition as object), kind: 'tributary-plugin' } as Record<string, unknown>;
  const problems = pluginProblems(candidate);
  if (problems.length > 0) {
    const name = typeof definition?.name === 'string' && definition.name ? definition.name : '(unnamed)';
    throw new PluginLoadError(`invalid plugin definition ${JSON.stringify(name)}:\n${problems.map((p) => `  - ${p}`).join('\n')}`, {
      plugin: name,
    });
  }
  const def = definition;
  const plugin: TributaryPlugin<z.output<Schema>, Streams> = {
    kind: 'tributary-plugin',
    name: def.name,
    version: def.version,
    coreVersion: def.coreVersion,
    ...(def.description !== undefined ? { description: def.description } : {}),
    configSchema: def.configSchema as z.ZodType<z.output<Schema>>,
    streams: def.streams,
    ...(def.streamsFor !== undefined ? { streamsFor: (config: z.output<Schema>) => def.streamsFor!(config) } : {}),
    ...(def.shards === true ? { shards: true } : {}),
    create: (config, ctx) => def.create(config, ctx) as Collector | Promise<Collector>,
  };
  return Object.freeze(plugin);
}

/**
 * True when `value` carries the plugin brand (`kind: 'tributary-plugin'`). Checks the brand only;
 * the loader checks the rest.
 *
 * @example
 * ```ts
 * import { isTributaryPlugin } from '@tributary/core';
 * const mod = await import('./plugins/air.js');
 * if (!isTributaryPlugin(mod.default)) throw new Error('not a plugin');
 * ```
 */
export function isTributaryPlugin(value: unknown): value is TributaryPlugin {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'tributary-plugin';
}

/**
 * @internal Everything wrong with a plugin object, as readable lines (empty = valid). Used by
 * `definePlugin` and again by the loader, since a plugin object may be built by hand.
 */
export function pluginProblems(value: unknown): string[] {
  const problems: string[] = [];
  if (typeof value !== 'object' || value === null) return [`expected a plugin object, got ${value === null ? 'null' : typeof value}`];
  const p = value as Record<string, unknown>;
  if (p.kind !== 'tributary-plugin') problems.push(`kind must be "tributary-plugin" (create the plugin with definePlugin()), got ${show(p.kind)}`);
  if (typeof p.name !== 'string' || p.name.trim() === '') problems.push(`name must be a non-empty string, got ${show(p.name)}`);
  if (typeof p.version !== 'string' || semver.valid(p.version) === null) problems.push(`version must be a semver version such as 1.0.0, got ${show(p.version)}`);
  if (typeof p.coreVersion !== 'string' || p.coreVersion.trim() === '' || semver.validRange(p.coreVersion) === null) {
    problems.push(`coreVersion must be a semver range of @tributary/core such as ^0.1.0, got ${show(p.coreVersion)}`);
  }
  if (p.description !== undefined && typeof p.description !== 'string') problems.push(`description must be a string, got ${show(p.description)}`);
  const schema = p.configSchema as { safeParse?: unknown; safeParseAsync?: unknown } | undefined;
  if (typeof schema !== 'object' || schema === null || typeof schema.safeParse !== 'function' || typeof schema.safeParseAsync !== 'function') {
    problems.push(`configSchema must be a zod schema (e.g. z.object({ ... })), got ${show(p.configSchema)}`);
  }
  if (typeof p.create !== 'function') problems.push(`create must be a function (config, ctx) => collector, got ${show(p.create)}`);
  if (p.streamsFor !== undefined && typeof p.streamsFor !== 'function') problems.push(`streamsFor must be a function (config) => streams, got ${show(p.streamsFor)}`);
  const streams = p.streams;
  if (typeof streams !== 'object' || streams === null || Array.isArray(streams)) {
    problems.push(`streams must be a mapping of stream name to { schema, key? }, got ${show(streams)}`);
  } else if (Object.keys(streams).length === 0) {
    if (typeof p.streamsFor !== 'function') problems.push('streams must declare at least one stream (or the plugin must have streamsFor)');
  } else {
    for (const [name, def] of Object.entries(streams as Record<string, unknown>)) problems.push(...streamProblems(name, def));
  }
  return problems;
}

/**
 * @internal The streams of one source of `plugin` with the parsed options `config`:
 * `plugin.streamsFor(config)` when the plugin has it, else `plugin.streams`. `problems` lists
 * what is wrong with the streams `streamsFor` returned (or why it threw), as readable lines
 * naming the plugin; `streams` is only usable when `problems` is empty.
 */
export function streamsOf(plugin: TributaryPlugin, config: unknown): { streams: Record<string, StreamDefinition>; problems: string[] } {
  if (typeof plugin.streamsFor !== 'function') return { streams: plugin.streams, problems: [] };
  const where = `plugin ${plugin.name}`;
  let streams: unknown;
  try {
    streams = plugin.streamsFor(config);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return { streams: {}, problems: [`${where} cannot derive its streams from these options: ${message}`] };
  }
  if (typeof streams !== 'object' || streams === null || Array.isArray(streams)) {
    return { streams: {}, problems: [`${where}: streamsFor must return a mapping of stream name to { schema, key? }, got ${show(streams)}`] };
  }
  const entries = Object.entries(streams as Record<string, unknown>);
  if (entries.length === 0) return { streams: {}, problems: [`${where}: streamsFor returned no stream for these options`] };
  const problems: string[] = [];
  for (const [name, def] of entries) problems.push(...streamProblems(name, def).map((p) => `${where}, ${p}`));
  return { streams: streams as Record<string, StreamDefinition>, problems };
}

function streamProblems(name: string, def: unknown): string[] {
  const where = `stream ${JSON.stringify(name)}`;
  if (!STREAM_NAME.test(name)) return [`${where}: a stream name must be letters, digits, "_" and "-", starting with a letter or digit`];
  if (typeof def !== 'object' || def === null || Array.isArray(def)) return [`${where}: expected { schema, key?, description? }, got ${show(def)}`];
  const d = def as Record<string, unknown>;
  const out: string[] = [];
  for (const k of Object.keys(d)) if (!['schema', 'key', 'description'].includes(k)) out.push(`${where}: unknown key ${JSON.stringify(k)} (allowed: schema, key, description)`);
  if (d.description !== undefined && typeof d.description !== 'string') out.push(`${where}: description must be a string`);
  const type = compileStreamSchema(d.schema);
  if (typeof type === 'string') {
    out.push(`${where}: ${type}`);
    return out;
  }
  if (d.key !== undefined) {
    const problem = typeof d.key === 'string' ? keyFieldProblem(type, d.key) : `must be a field name, got ${show(d.key)}`;
    if (problem) out.push(`${where}: key ${typeof d.key === 'string' ? JSON.stringify(d.key) : ''} ${problem}`.replace(/ {2}/g, ' '));
  }
  return out;
}

/** @internal Compiles a stream schema; a string says why it is not a valid Avro record schema. */
export function compileStreamSchema(schema: unknown): Type | string {
  if (schema === undefined) return 'schema is missing (expected an Avro record schema)';
  let type: Type;
  try {
    type = compileSchema(schema as AvroSchema);
  } catch (err) {
    return `schema is not a valid Avro schema: ${(err as Error).message.replace(/^invalid Avro schema\s*/, '')}`;
  }
  if (type.typeName !== 'record') return `schema must be an Avro record schema ({ type: 'record', name, fields }), got a ${type.typeName} schema`;
  return type;
}

interface TypeInternals {
  typeName: string;
  fields?: { name: string; type: Type }[];
  types?: Type[];
  underlyingType?: Type;
  name?: string;
}

const KEYABLE = new Set(['string', 'int', 'long', 'float', 'double', 'boolean', 'enum', 'bytes', 'fixed', 'abstract:long']);

/**
 * @internal Why `field` (a dotted path) cannot be the Kafka key of records of `type`, or
 * `undefined` when it can: it must exist and be a primitive, an enum, or a logical type over one
 * (optionally in a union with null).
 */
export function keyFieldProblem(type: Type, field: string): string | undefined {
  if (!KEY_FIELD.test(field)) return 'must be a field name or a dotted path such as station.id';
  let cur = type as unknown as TypeInternals;
  const parts = field.split('.');
  for (let i = 0; i < parts.length; i++) {
    const record = recordBranch(cur);
    if (!record) return `is not in the schema: ${parts.slice(0, i).join('.')} is not a record`;
    const f = record.fields!.find((x) => x.name === parts[i]);
    if (!f) return `is not a field of the schema (fields${i > 0 ? ` of ${parts.slice(0, i).join('.')}` : ''}: ${record.fields!.map((x) => x.name).join(', ')})`;
    cur = f.type as unknown as TypeInternals;
  }
  const leaf = scalarBranch(cur);
  if (!leaf) return `must be a string, number, boolean or enum field to be used as a key (it is ${describeType(cur)})`;
  return undefined;
}

function recordBranch(t: TypeInternals): TypeInternals | undefined {
  if (t.typeName === 'record' || t.typeName === 'error') return t;
  if (t.types) {
    const records = t.types.map((x) => x as unknown as TypeInternals).filter((x) => x.typeName === 'record');
    if (records.length === 1) return records[0];
  }
  return undefined;
}

function scalarBranch(t: TypeInternals): boolean {
  const base = (x: TypeInternals): TypeInternals => (x.typeName.startsWith('logical:') && x.underlyingType ? (x.underlyingType as unknown as TypeInternals) : x);
  if (t.types) {
    const branches = t.types.map((x) => base(x as unknown as TypeInternals)).filter((x) => x.typeName !== 'null');
    return branches.length === 1 && KEYABLE.has(branches[0]!.typeName);
  }
  return KEYABLE.has(base(t).typeName);
}

function describeType(t: TypeInternals): string {
  if (t.types) return 'a union';
  if (t.typeName.startsWith('logical:')) return `a ${t.typeName.slice(8)}`;
  return `a ${t.typeName}`;
}

function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'function') return 'a function';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  return String(v);
}
