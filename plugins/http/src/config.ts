/**
 * The options of the http plugin (what a pipeline writes under `config:`), as a zod schema that
 * also checks them against the stream's Avro schema (the config's own `schema`, or the plugin's):
 * an invalid schema, unknown template variables, malformed paths and mapping targets that are not
 * fields of the schema are reported with their config path.
 */
import { compileSchema, type AvroSchema } from '@tributary/core';
import { z } from 'zod';
import { compileField, readSchema, targetType, type AvroNode } from './mapping.js';
import { compilePath } from './path.js';
import { compileTemplate } from './template.js';

const scalar = z.union([z.string(), z.number(), z.boolean()]);
const statusCode = z.number().int().min(100).max(599);
const maxPages = z.number().int().min(1).default(100);

const conversion = z.enum(['auto', 'string', 'number', 'integer', 'boolean', 'timestamp', 'json']);

const fieldSpec = z.union([
  z.string().min(1),
  z.strictObject({
    path: z.string().min(1),
    type: conversion.optional(),
    unit: z.enum(['ms', 's']).optional(),
    default: z.unknown().optional(),
  }),
]);

const pagination = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('none') }),
  z.strictObject({
    type: z.literal('page'),
    param: z.string().min(1).default('page'),
    start: z.number().int().default(1),
    sizeParam: z.string().min(1).optional(),
    size: z.number().int().min(1).optional(),
    totalPath: z.string().min(1).optional(),
    totalPagesPath: z.string().min(1).optional(),
    stopOnShortPage: z.boolean().default(true),
    maxPages,
  }),
  z.strictObject({
    type: z.literal('offset'),
    param: z.string().min(1).default('offset'),
    start: z.number().int().min(0).default(0),
    limitParam: z.string().min(1).default('limit'),
    limit: z.number().int().min(1).default(100),
    totalPath: z.string().min(1).optional(),
    stopOnShortPage: z.boolean().default(true),
    maxPages,
  }),
  z.strictObject({
    type: z.literal('cursor'),
    param: z.string().min(1).default('cursor'),
    path: z.string().min(1),
    maxPages,
  }),
  z.strictObject({
    type: z.literal('link'),
    rel: z.string().min(1).default('next'),
    maxPages,
  }),
]);

const baseSchema = z.strictObject({
  schema: z.record(z.string(), z.unknown()).optional(),
  url: z.string().min(1),
  baseUrl: z.url().optional(),
  query: z.record(z.string(), scalar).default({}),
  headers: z.record(z.string(), z.string()).default({}),
  vars: z.record(z.string(), scalar).default({}),
  records: z.string().default('$'),
  fields: z.record(z.string(), fieldSpec).optional(),
  constants: z.record(z.string(), z.unknown()).default({}),
  timestampField: z.string().min(1).optional(),
  pagination: pagination.default({ type: 'none' }),
  status: z
    .strictObject({
      success: z.array(statusCode).min(1).optional(),
      drop: z.array(statusCode).default([]),
    })
    .default({ drop: [] }),
  lookbackMs: z.number().int().positive().optional(),
  cacheTtlMs: z.number().int().min(0).optional(),
});

/**
 * The options after validation, defaults filled in: what `create` receives.
 *
 * @example
 * ```ts
 * import type { HttpConfig } from '@tributary/plugin-http';
 * const pages = (c: HttpConfig) => (c.pagination.type === 'none' ? 1 : c.pagination.maxPages);
 * ```
 */
export type HttpConfig = z.output<typeof baseSchema>;

/**
 * The options of an http source as written in a pipeline file (defaults may be left out). See the
 * package README for each option and its default.
 *
 * @example
 * ```ts
 * import type { HttpOptions } from '@tributary/plugin-http';
 * const options: HttpOptions = {
 *   url: 'https://api.example.com/v1/readings',
 *   records: 'data',
 *   fields: { series: 'sensor', observed_at: 'time', value: { path: 'reading', type: 'number' } },
 *   pagination: { type: 'cursor', path: 'meta.next' },
 * };
 * ```
 */
export type HttpOptions = z.input<typeof baseSchema>;

/**
 * One `fields:` entry: a path (`'sensor.id'`), or `{ path, type?, unit?, default? }` where `type`
 * forces a conversion (`string`, `number`, `integer`, `boolean`, `timestamp`, `json`; default
 * `auto`: follow the schema), `unit` says whether epoch numbers are `ms` (default) or `s`, and
 * `default` replaces a missing or null value (default: none).
 *
 * @example
 * ```ts
 * import type { HttpFieldSpec } from '@tributary/plugin-http';
 * const observedAt: HttpFieldSpec = { path: 'ts', type: 'timestamp', unit: 's' };
 * ```
 */
export type HttpFieldSpec = z.input<typeof fieldSpec>;

/** The schema and default event-time field of the `records` stream, as the plugin defines them. */
export interface StreamSpec {
  schema: unknown;
  timestampField: string | undefined;
}

/**
 * The `records` stream of one source: the config's `schema` when it has one (then with no default
 * event-time field), else the plugin's.
 */
export function effectiveStream(config: Pick<HttpConfig, 'schema'>, spec: StreamSpec): StreamSpec {
  return config.schema !== undefined ? { schema: config.schema, timestampField: undefined } : spec;
}

/**
 * Why `schema` is not usable as the stream's schema (an Avro record schema), or `undefined`.
 */
export function recordSchemaProblem(schema: unknown): string | undefined {
  let typeName: string;
  try {
    typeName = compileSchema(schema as AvroSchema).typeName;
  } catch (err) {
    return `expected an Avro record schema: ${(err as Error).message}`;
  }
  return typeName === 'record' ? undefined : `expected an Avro record schema ({ type: record, name, fields }), got ${/^[aeiou]/.test(typeName) ? 'an' : 'a'} ${typeName} schema`;
}

/**
 * The config schema of a plugin whose `records` stream has the Avro schema `spec.schema` (unless
 * a source gives its own `schema`). `spec.timestampField` is the field used as the record's event
 * time when `timestampField` is not set and the config has no schema of its own.
 */
export function configSchemaFor(spec: StreamSpec): z.ZodType<HttpConfig, HttpOptions> {
  const pluginRoot = readSchema(spec.schema) as AvroNode & { kind: 'record' };
  return baseSchema.superRefine((c, ctx) => {
    const issue = (path: (string | number)[], message: string): void => ctx.addIssue({ code: 'custom', path, message });
    let root = pluginRoot;
    if (c.schema !== undefined) {
      const problem = recordSchemaProblem(c.schema);
      if (problem !== undefined) {
        issue(['schema'], problem);
        return;
      }
      root = readSchema(c.schema) as AvroNode & { kind: 'record' };
    }
    const defaultTimestamp = effectiveStream(c, spec).timestampField;
    const tryCompile = (path: (string | number)[], text: string, what: 'template' | 'path'): void => {
      try {
        if (what === 'template') compileTemplate(text, c.vars);
        else compilePath(text);
      } catch (err) {
        issue(path, (err as Error).message);
      }
    };
    tryCompile(['url'], c.url, 'template');
    for (const [k, v] of Object.entries(c.query)) if (typeof v === 'string') tryCompile(['query', k], v, 'template');
    for (const [k, v] of Object.entries(c.headers)) tryCompile(['headers', k], v, 'template');
    tryCompile(['records'], c.records, 'path');
    if (!c.baseUrl && !/^https?:\/\//i.test(c.url)) issue(['url'], 'expected an absolute http(s) URL, or set baseUrl for a relative one');

    for (const [target, spec] of Object.entries(c.fields ?? {})) {
      try {
        compileField(target, spec);
      } catch (err) {
        issue(['fields', target], (err as Error).message);
        continue;
      }
      const type = targetType(root, target.split('.'));
      if (typeof type === 'string') issue(['fields', target], `the target field ${JSON.stringify(target)} ${type}`);
    }
    for (const target of Object.keys(c.constants)) {
      const type = targetType(root, target.split('.'));
      if (typeof type === 'string') issue(['constants', target], `the target field ${JSON.stringify(target)} ${type}`);
    }
    const ts = c.timestampField ?? defaultTimestamp;
    if (c.timestampField !== undefined && !root.fields.some((f) => f.name === c.timestampField)) {
      issue(['timestampField'], `expected a field of the schema (${root.fields.map((f) => f.name).join(', ')})`);
    } else if (ts !== undefined && !root.fields.some((f) => f.name === ts)) {
      issue(['timestampField'], `the default timestamp field ${JSON.stringify(ts)} is not a field of the schema`);
    }

    const p = c.pagination;
    if (p.type === 'page') {
      if (p.sizeParam !== undefined && p.size === undefined) issue(['pagination', 'size'], 'expected a page size when sizeParam is set');
      if (p.totalPath) tryCompile(['pagination', 'totalPath'], p.totalPath, 'path');
      if (p.totalPagesPath) tryCompile(['pagination', 'totalPagesPath'], p.totalPagesPath, 'path');
    } else if (p.type === 'offset') {
      if (p.totalPath) tryCompile(['pagination', 'totalPath'], p.totalPath, 'path');
    } else if (p.type === 'cursor') {
      tryCompile(['pagination', 'path'], p.path, 'path');
    }
    if (p.type !== 'none' && p.type !== 'link') {
      const taken = p.type === 'cursor' ? [p.param] : p.type === 'page' ? [p.param, p.sizeParam] : [p.param, p.limitParam];
      for (const name of taken) {
        if (name !== undefined && name in c.query) issue(['query', name], `the query parameter ${JSON.stringify(name)} is set by pagination; leave it out of query`);
      }
    }
    const overlap = c.status.drop.filter((s) => c.status.success?.includes(s));
    if (overlap.length > 0) issue(['status', 'drop'], `statuses ${overlap.join(', ')} are listed both in success and in drop`);
  });
}
