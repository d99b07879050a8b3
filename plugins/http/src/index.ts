/**
 * `@tributary/plugin-http`: collects records from any JSON API. URL, query and header templates,
 * pagination (page, offset, cursor, Link header), record selection, field mapping, a status-code
 * policy and, when the default schema does not fit, the stream's Avro schema, all set in the
 * pipeline file.
 * @packageDocumentation
 */
import { definePlugin } from '@tributary/core';
import type { AvroSchemaLike, StreamDefinition, TributaryPlugin } from '@tributary/core';
import { createCollector } from './collector.js';
import { configSchemaFor, effectiveStream, type HttpConfig, type HttpOptions, type HttpFieldSpec, type StreamSpec } from './config.js';

export type { HttpConfig, HttpOptions, HttpFieldSpec };

/** Version of this package (kept in step with package.json). */
const VERSION = '0.1.0';
const NAME = '@tributary/plugin-http';

/**
 * The schema of the default plugin's `records` stream: one observation of a series, the shape of
 * most numeric JSON APIs (a price, a reading, a count) and of time-series stores.
 *
 * Fields: `series` (what was observed, the key), `observed_at` (when, epoch ms), `value` (the
 * number, or null), `text` (a non-numeric value, or null), `labels` (string attributes such as a
 * region or a unit; default empty).
 *
 * @example
 * ```ts
 * import { pointSchema } from '@tributary/plugin-http';
 * console.log(pointSchema.fields.map((f) => f.name)); // series, observed_at, value, text, labels
 * ```
 */
export const pointSchema = {
  type: 'record',
  name: 'Point',
  namespace: 'tributary.http',
  doc: 'One observation of a series, collected from a JSON API by @tributary/plugin-http.',
  fields: [
    { name: 'series', type: 'string', doc: 'What was observed: an entity or metric id; the Kafka key.' },
    { name: 'observed_at', type: { type: 'long', logicalType: 'timestamp-millis' }, doc: 'When the value was observed (UTC).' },
    { name: 'value', type: ['null', 'double'], default: null, doc: 'The numeric value; null when there is none.' },
    { name: 'text', type: ['null', 'string'], default: null, doc: 'A non-numeric value; null when there is none.' },
    { name: 'labels', type: { type: 'map', values: 'string' }, default: {}, doc: 'String attributes of the observation (region, unit, ...).' },
  ],
} as const;

/**
 * What {@link defineHttpPlugin} takes: the Avro schema of the `records` stream and a few
 * defaults of the plugin.
 *
 * @example
 * ```ts
 * import { defineHttpPlugin, type HttpPluginSpec } from '@tributary/plugin-http';
 * const spec: HttpPluginSpec = { schema: { type: 'record', name: 'Order', namespace: 'acme.shop', fields: [{ name: 'id', type: 'string' }] }, key: 'id' };
 * export default defineHttpPlugin(spec);
 * ```
 */
export interface HttpPluginSpec<S extends AvroSchemaLike = AvroSchemaLike> {
  /** Avro record schema of the `records` stream. Required. */
  schema: S;
  /** Default Kafka key field of the stream (the pipeline may choose another). Default: none (null keys). */
  key?: string;
  /** Field used as each record's event time when the config sets no `timestampField`. Default: none (fetch time). */
  timestampField?: string;
  /** One line on what a record is. Default: none. */
  description?: string;
  /** Plugin name shown in logs and provenance headers. Default `'@tributary/plugin-http'`. */
  name?: string;
  /** Plugin version (semver). Default: this package's version. */
  version?: string;
}

/**
 * Builds an http plugin whose `records` stream has your own Avro schema by default.
 *
 * A schema can also be written in the pipeline file (`config.schema`, for one source); this is for
 * a schema shared by many pipelines, kept in code (and typed: `plugin.streams.records.schema` has
 * your schema's literal type), or a default key and event-time field: call this with the schema,
 * export the result, and name the file as the source's `plugin:`. Everything else (URL,
 * pagination, mapping) stays in the pipeline file's `config:`, with the same options as the
 * default plugin; `fields` and `constants` targets are checked against your schema (or against a
 * source's own `schema`, which still wins).
 *
 * @param spec - `schema` (required), `key`, `timestampField`, `description`, `name`, `version`.
 * @returns A plugin with one stream, `records`.
 *
 * @example
 * ```ts
 * // plugins/orders.js, used as `plugin: ./plugins/orders.js`
 * import { defineHttpPlugin } from '@tributary/plugin-http';
 * export default defineHttpPlugin({
 *   key: 'id',
 *   timestampField: 'created_at',
 *   schema: {
 *     type: 'record', name: 'Order', namespace: 'acme.shop',
 *     fields: [
 *       { name: 'id', type: 'string' },
 *       { name: 'total', type: 'double' },
 *       { name: 'created_at', type: { type: 'long', logicalType: 'timestamp-millis' } },
 *     ],
 *   },
 * });
 * ```
 */
export function defineHttpPlugin<const S extends AvroSchemaLike>(spec: HttpPluginSpec<S>): TributaryPlugin<HttpConfig, { records: StreamDefinition<S> }> {
  const stream: StreamDefinition<S> = {
    schema: spec.schema,
    ...(spec.key !== undefined ? { key: spec.key } : {}),
    description: spec.description ?? 'One record selected from a JSON API response and mapped to this schema',
  };
  const streamSpec: StreamSpec = { schema: spec.schema, timestampField: spec.timestampField };
  const defined = definePlugin({
    name: spec.name ?? NAME,
    version: spec.version ?? VERSION,
    coreVersion: '^0.1.0',
    description: 'Records from any JSON API: templates, pagination, record selection, field mapping, status policy, schema in the config',
    // Built after definePlugin has checked the schema, so a bad schema gets its error first.
    configSchema: lazyConfigSchema(streamSpec),
    streams: { records: stream as StreamDefinition },
    // A source with its own `schema` gets a stream with that schema (checked by configSchema) and
    // no default key; the others get the plugin's stream.
    streamsFor: (config: HttpConfig): Record<string, StreamDefinition> =>
      config.schema === undefined
        ? { records: stream as StreamDefinition }
        : { records: { schema: config.schema, description: 'One record selected from a JSON API response and mapped to the schema of the source config' } },
    create: (config, ctx) => createCollector(config, ctx, effectiveStream(config, streamSpec)),
  });
  return defined as unknown as TributaryPlugin<HttpConfig, { records: StreamDefinition<S> }>;
}

function lazyConfigSchema(spec: StreamSpec): ReturnType<typeof configSchemaFor> {
  try {
    return configSchemaFor(spec);
  } catch {
    // An unreadable schema: definePlugin reports it; this placeholder is never used.
    return configSchemaFor({ schema: pointSchema, timestampField: undefined });
  }
}

/**
 * The http plugin, whose `records` stream has the {@link pointSchema} (for JSON APIs that return
 * numeric observations) unless a source gives its own Avro record schema in `config.schema`. For
 * a schema kept in code, use {@link defineHttpPlugin}.
 *
 * @example
 * ```ts
 * import { runPlugin } from '@tributary/core/testing';
 * import plugin from '@tributary/plugin-http';
 * const { records } = await runPlugin(plugin, {
 *   url: 'https://api.example.com/v1/readings',
 *   records: 'data',
 *   fields: { series: 'sensor', observed_at: 'time', value: 'reading' },
 * });
 * // a schema of the source's own: records { id, total }, no default key
 * const orders = await runPlugin(plugin, {
 *   url: 'https://shop.example.com/api/orders',
 *   records: 'orders',
 *   schema: { type: 'record', name: 'Order', namespace: 'acme.shop', fields: [{ name: 'id', type: 'string' }, { name: 'total', type: 'double' }] },
 *   fields: { id: 'order_id', total: 'amount' },
 * }, { streams: { records: { topic: 'shop.orders', key: 'id' } } });
 * ```
 */
export const plugin = defineHttpPlugin({
  schema: pointSchema,
  key: 'series',
  timestampField: 'observed_at',
  description: 'One observation of a series (tributary.http.Point)',
});

export default plugin;
