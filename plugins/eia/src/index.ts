/**
 * @tributary/plugin-eia: hourly US electricity demand, demand forecast, net generation and total
 * interchange per balancing authority, from the EIA API v2 (`electricity/rto/region-data`; API
 * key needed), with chunked historical backfill and live polling.
 * @packageDocumentation
 */
import { definePlugin, HttpError, isHttpError, NonRetriableError, scrubSecrets, type InferAvro, type PluginContext } from '@tributary/core';
import { defer, from, type Observable } from 'rxjs';
import { z } from 'zod';
import { apiError, formatPeriod, parseRegionPage } from './api.js';

const DEFAULT_BASE_URL = 'https://api.eia.gov/v2';
const ROUTE = 'electricity/rto/region-data/data/';
const HOUR_MS = 3_600_000;
/** The API returns at most this many rows per JSON request. */
const MAX_PAGE_SIZE = 5000;
/** A guard against a pagination that never ends. */
const MAX_PAGES = 10_000;
/** Checkpoint key: the latest period emitted (epoch ms). */
const LAST_PERIOD_KEY = 'lastPeriod';

const code = (what: string) => z.string().regex(/^[A-Za-z0-9_-]+$/, { error: `expected ${what}` });

const configSchema = z.strictObject({
  apiKey: z.string().min(1, { error: 'expected the EIA API key (e.g. apiKey: ${EIA_API_KEY})' }),
  respondents: z.array(code('a balancing authority or region code such as PACW, CISO or US48')).min(1),
  types: z.array(code('a data type code such as D, DF, NG or TI')).min(1).optional(),
  pageSize: z.number().int().min(1).max(MAX_PAGE_SIZE).default(MAX_PAGE_SIZE),
  lookbackHours: z.number().int().min(1).max(24 * 92).default(24),
  overlapHours: z.number().int().min(0).max(24 * 7).default(0),
  baseUrl: z.url().default(DEFAULT_BASE_URL),
});

/**
 * Options of the EIA plugin, as written under `config:` in a pipeline file.
 *
 * - `apiKey`: the EIA API key; write `${EIA_API_KEY}` so it comes from the environment. Sent as the
 *   `api_key` query parameter, which is redacted from errors and logs. Required.
 * - `respondents`: balancing authorities or regions (`PACW`, `CISO`, `ERCO`, `US48`, ...). Required.
 * - `types`: data types to keep (`D` demand, `DF` day-ahead demand forecast, `NG` net generation,
 *   `TI` total interchange). Default: all.
 * - `pageSize`: rows per request (`length`), at most the API's 5000. Default `5000`.
 * - `lookbackHours`: the first polling cycle (no checkpoint yet) asks for this many past hours. Default `24`.
 * - `overlapHours`: a polling cycle asks again for this many hours before the latest period already
 *   emitted, to pick up late reports (those hours are emitted again). Default `0`.
 * - `baseUrl`: the API root. Default `https://api.eia.gov/v2`.
 *
 * @example
 * ```ts
 * import type { EiaOptions } from '@tributary/plugin-eia';
 * const options: EiaOptions = { apiKey: process.env.EIA_API_KEY!, respondents: ['PACW'], types: ['D', 'NG'] };
 * ```
 */
export type EiaOptions = z.input<typeof configSchema>;

const regionDataSchema = {
  type: 'record',
  name: 'RegionData',
  namespace: 'io.tributary.eia',
  doc: 'One hourly value of one balancing authority or region (EIA-930 hourly electric grid monitor).',
  fields: [
    { name: 'period', type: { type: 'long', logicalType: 'timestamp-millis' }, doc: 'Start of the hour (UTC).' },
    { name: 'respondent', type: 'string', doc: 'Balancing authority or region code, e.g. PACW.' },
    { name: 'respondent_name', type: ['null', 'string'], default: null, doc: 'Its name, e.g. PacifiCorp West.' },
    { name: 'type', type: 'string', doc: 'D (demand), DF (day-ahead demand forecast), NG (net generation), TI (total interchange).' },
    { name: 'type_name', type: ['null', 'string'], default: null, doc: 'The type spelled out, e.g. Demand.' },
    { name: 'value', type: ['null', 'double'], default: null, doc: 'The value, in value_units; null when not reported.' },
    { name: 'value_units', type: ['null', 'string'], default: null, doc: 'Unit of the value, e.g. megawatthours.' },
  ],
} as const;

/**
 * A record of the `region_data` stream.
 *
 * @example
 * ```ts
 * import type { EiaRegionData } from '@tributary/plugin-eia';
 * const r: EiaRegionData = {
 *   period: Date.parse('2024-01-01T05:00:00Z'), respondent: 'PACW', respondent_name: 'PacifiCorp West',
 *   type: 'D', type_name: 'Demand', value: 2874, value_units: 'megawatthours',
 * };
 * ```
 */
export type EiaRegionData = InferAvro<typeof regionDataSchema>;

type Config = z.output<typeof configSchema>;
type OutRecord = { stream: 'region_data'; value: EiaRegionData; timestamp: number };

/**
 * The EIA collector plugin: hourly region data of the configured respondents, fetched with the
 * API's `offset`/`length` pagination (5000 rows per request at most).
 *
 * Backfill: run the source with a backfill schedule (`backfill: { from, chunk: 60d, concurrency }`).
 * The runtime splits the window into chunks, runs `concurrency` of them at a time, records every
 * finished chunk in the source's checkpoint and skips them after a restart; each cycle hands the
 * plugin one chunk (`cycle.window`), which it fetches page by page. A chunk that fails is fetched
 * again from its start (its records were not acknowledged, so nothing is lost or skipped).
 *
 * Live polling (a cycle without a window, e.g. the backfill's `then: { every: 1h }`): asks for the
 * hours after the latest period already emitted (checkpoint `lastPeriod`; `overlapHours` earlier),
 * or the last `lookbackHours` the first time.
 *
 * Errors: EIA's error answers (`{"error": {...}}` with HTTP 403, `{"error": "...", "code": 400}`)
 * fail the cycle with the API's message, naming the source; the API key never appears in errors.
 *
 * @example
 * ```ts
 * import plugin from '@tributary/plugin-eia';
 * import { runPlugin } from '@tributary/core/testing';
 * const { records } = await runPlugin(plugin, { apiKey: process.env.EIA_API_KEY, respondents: ['PACW'] });
 * ```
 */
export const plugin = definePlugin({
  name: '@tributary/plugin-eia',
  version: '0.1.0',
  coreVersion: '^0.1.0',
  description: 'US hourly electricity demand and generation per balancing authority from the EIA API v2, with chunked backfill and live polling',
  configSchema,
  streams: {
    region_data: {
      schema: regionDataSchema,
      key: 'respondent',
      description: 'One hourly value (demand, forecast, generation, interchange) of one balancing authority',
    },
  },
  create(config, ctx) {
    return { collect: (cycle): Observable<OutRecord> => defer(() => from(collect(config, ctx, cycle.window))) };
  },
});

export default plugin;

async function* collect(config: Config, ctx: PluginContext, window: { start: number; end: number } | undefined): AsyncGenerator<OutRecord> {
  const last = await ctx.state.get<number>(LAST_PERIOD_KEY);
  let start: number;
  let endInclusive: number | undefined;
  if (window) {
    start = ceilHour(window.start);
    endInclusive = ceilHour(window.end) - HOUR_MS;
    if (endInclusive < start) return;
  } else {
    start = typeof last === 'number' ? last + HOUR_MS - config.overlapHours * HOUR_MS : floorHour(Date.now()) - config.lookbackHours * HOUR_MS;
  }
  const keep = window ? (t: number) => t >= window.start && t < window.end : (t: number) => t >= start;

  let newest = typeof last === 'number' ? last : -Infinity;
  let emitted = 0;
  const url = buildUrl(config, start, endInclusive);
  let offset = 0;
  for (let page = 1; ; page++) {
    const body = await fetchPage(config, ctx, url, offset);
    const parsed = parseRegionPage(body, { source: ctx.source, url, what: `region data (offset ${offset})` });
    for (const warning of parsed.warnings) ctx.log.warn({ offset, warning }, 'EIA answered with a warning');
    if (parsed.skipped > 0) ctx.log.warn({ offset, skipped: parsed.skipped }, 'skipped rows without a readable period, respondent or type');
    for (const row of parsed.rows) {
      if (!keep(row.period)) continue;
      newest = Math.max(newest, row.period);
      emitted++;
      yield {
        stream: 'region_data',
        timestamp: row.period,
        value: {
          period: row.period,
          respondent: row.respondent,
          respondent_name: row.respondentName,
          type: row.type,
          type_name: row.typeName,
          value: row.value,
          value_units: row.valueUnits,
        },
      };
    }
    offset += parsed.received;
    const done = parsed.received === 0 || (parsed.total !== undefined ? offset >= parsed.total : parsed.received < config.pageSize);
    if (done) break;
    if (page >= MAX_PAGES) throw new NonRetriableError(`EIA region data: more than ${MAX_PAGES} pages for one query (source "${ctx.source}")`);
  }
  ctx.log.debug({ window, start: formatPeriod(start), records: emitted }, 'region data fetched');
  // The latest period seen, for live polling after a backfill or a restart. Concurrent backfill
  // chunks commit in any order, so the checkpoint is read again now (another chunk may have raised
  // it meanwhile) and only raised. Two chunks that end at the same moment can still leave the
  // smaller value; polling then asks again for hours it already emitted, and misses none.
  if (emitted > 0) {
    const current = await ctx.state.get<number>(LAST_PERIOD_KEY);
    if (typeof current !== 'number' || newest > current) await ctx.state.set(LAST_PERIOD_KEY, newest);
  }
}

/** The data URL with everything but the key, offset and length: repeated facets need a hand-built query. */
function buildUrl(config: Config, start: number, endInclusive: number | undefined): string {
  const params = new URLSearchParams();
  params.append('frequency', 'hourly');
  params.append('data[0]', 'value');
  for (const r of config.respondents) params.append('facets[respondent][]', r);
  for (const t of config.types ?? []) params.append('facets[type][]', t);
  params.append('start', formatPeriod(start));
  if (endInclusive !== undefined) params.append('end', formatPeriod(endInclusive));
  ['period', 'respondent', 'type'].forEach((column, i) => {
    params.append(`sort[${i}][column]`, column);
    params.append(`sort[${i}][direction]`, 'asc');
  });
  return `${config.baseUrl.replace(/\/+$/, '')}/${ROUTE}?${params.toString()}`;
}

async function fetchPage(config: Config, ctx: PluginContext, url: string, offset: number): Promise<unknown> {
  try {
    return await ctx.http.getJson<unknown>(url, { query: { offset, length: config.pageSize, api_key: config.apiKey } });
  } catch (err) {
    if (!isHttpError(err) || !err.body) throw err;
    let body: unknown;
    try {
      body = JSON.parse(err.body) as unknown;
    } catch {
      throw err;
    }
    const message = apiError(body);
    if (message === undefined) throw err;
    throw new HttpError({
      status: err.status,
      ...(err.url !== undefined ? { url: err.url } : {}),
      ...(err.retryAfterMs !== undefined ? { retryAfterMs: err.retryAfterMs } : {}),
      body: err.body,
      source: ctx.source,
      message: scrubSecrets(`EIA API answered HTTP ${err.status}: ${message} (source "${ctx.source}"${err.url ? ` ${err.url}` : ''})`, [config.apiKey]),
      cause: err,
    });
  }
}

function floorHour(ms: number): number {
  return Math.floor(ms / HOUR_MS) * HOUR_MS;
}

function ceilHour(ms: number): number {
  return Math.ceil(ms / HOUR_MS) * HOUR_MS;
}
