/**
 * `@tributary/plugin-http`: collects records from any JSON API. URL, query and header templates,
 * pagination (page, offset, cursor, Link header), record selection, field mapping and a
 * status-code policy, all set in the pipeline file.
 * @packageDocumentation
 */
import { definePlugin } from '@tributary/core';
import type { AvroSchemaLike, StreamDefinition, TributaryPlugin } from '@tributary/core';
import { createCollector } from './collector.js';
import { configSchemaFor, type HttpConfig, type HttpOptions, type HttpFieldSpec } from './config.js';

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
 * Builds an http plugin whose `records` stream has your own Avro schema.
 *
 * Tributary's plugin contract declares stream schemas on the plugin, not in the pipeline file, so
 * a JSON API with records of its own shape gets a three-line plugin file: call this with the
 * schema, export the result, and name the file as the source's `plugin:`. Everything else (URL,
 * pagination, mapping) stays in the pipeline file's `config:`, with the same options as the
 * default plugin; `fields` and `constants` targets are checked against your schema.
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
  const defined = definePlugin({
    name: spec.name ?? NAME,
    version: spec.version ?? VERSION,
    coreVersion: '^0.1.0',
    description: 'Records from any JSON API: templates, pagination, record selection, field mapping, status policy',
    // Built after definePlugin has checked the schema, so a bad schema gets its error first.
    configSchema: lazyConfigSchema(spec.schema, spec.timestampField),
    streams: { records: stream as StreamDefinition },
    create: (config, ctx) => createCollector(config, ctx, { schema: spec.schema, timestampField: spec.timestampField }),
  });
  return defined as unknown as TributaryPlugin<HttpConfig, { records: StreamDefinition<S> }>;
}

function lazyConfigSchema(schema: unknown, timestampField: string | undefined): ReturnType<typeof configSchemaFor> {
  try {
    return configSchemaFor(schema, timestampField);
  } catch {
    // An unreadable schema: definePlugin reports it; this placeholder is never used.
    return configSchemaFor(pointSchema, undefined);
  }
}

/**
 * The http plugin with the {@link pointSchema} stream: for JSON APIs that return numeric
 * observations. For records of another shape, use {@link defineHttpPlugin} with your own schema.
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
 * ```
 */
export const plugin = defineHttpPlugin({
  schema: pointSchema,
  key: 'series',
  timestampField: 'observed_at',
  description: 'One observation of a series (tributary.http.Point)',
});

export default plugin;
