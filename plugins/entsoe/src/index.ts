/**
 * @tributary/plugin-entsoe: European day-ahead electricity prices from the ENTSO-E Transparency
 * Platform RESTful API (https://web-api.tp.entsoe.eu/api, documentType A44; security token needed).
 * @packageDocumentation
 */
import { definePlugin, HttpError, NonRetriableError, ResponseError, scrubSecrets, type InferAvro, type PluginContext } from '@tributary/core';
import { concatMap, defer, from, type Observable } from 'rxjs';
import { z } from 'zod';
import { DocumentError, isNoData, parseDocument, type AckReason, type PriceSeries } from './xml.js';
import { ZONES, zoneCode } from './zones.js';

const DEFAULT_BASE_URL = 'https://web-api.tp.entsoe.eu/api';
const DAY_MS = 24 * 60 * 60 * 1000;
/** The API answers at most one year of prices per request. */
const MAX_SPAN_MS = 365 * DAY_MS;
/** The status the platform sends acknowledgement documents with, besides 200. */
const ACK_STATUS = 400;

const configSchema = z.strictObject({
  securityToken: z.string().min(1, { error: 'expected the ENTSO-E security token (e.g. securityToken: ${ENTSOE_TOKEN})' }),
  zones: z
    .array(
      z.string().refine((z) => zoneCode(z) !== undefined, {
        error: `expected a bidding zone name (${Object.keys(ZONES).join(', ')}) or a 16-character EIC code such as 10YNL----------L`,
      }),
    )
    .min(1),
  contractType: z
    .string()
    .regex(/^A\d\d$/, { error: 'expected a contract_MarketAgreement.type code such as A01 (day-ahead)' })
    .default('A01'),
  sequence: z.number().int().min(1).optional(),
  resolutions: z.array(z.number().int().positive()).min(1).optional(),
  lookbackDays: z.number().int().min(0).max(31).default(1),
  aheadDays: z.number().int().min(1).max(7).default(2),
  onlyNew: z.boolean().default(true),
  baseUrl: z.url().default(DEFAULT_BASE_URL),
});

/**
 * Options of the ENTSO-E plugin, as written under `config:` in a pipeline file.
 *
 * - `securityToken`: the Transparency Platform security token; write `${ENTSOE_TOKEN}` so it comes
 *   from the environment. Sent as the `securityToken` query parameter, which is redacted from
 *   errors and logs. Required.
 * - `zones`: bidding zones, by short name (`NL`, `BE`, `DE_LU`, `FR`, `NO_2`, `SE_3`, ...) or EIC code
 *   (`10YNL----------L`). Required, at least one.
 * - `contractType`: `contract_MarketAgreement.type` asked for and kept (`A01` day-ahead, `A07`
 *   intraday). Series that carry another type are dropped. Default `'A01'`.
 * - `sequence`: keep only series with this `classificationSequence_AttributeInstanceComponent.position`
 *   (in DE_LU and AT, 1 is the SDAC day-ahead auction and 2 the EXAA auction); series without one are kept.
 *   Default: keep all, each record says its sequence.
 * - `resolutions`: keep only these resolutions, in minutes (`[15]`, `[60]`). Default: all.
 * - `lookbackDays`: a polling cycle asks from the start of this many days before today (UTC). Default `1`.
 * - `aheadDays`: ... up to the start of this many days after today (UTC). Default `2` (tomorrow included).
 * - `onlyNew`: a polling cycle emits only intervals later than the last one it emitted for the same
 *   zone and series (kept in the source's checkpoint). Default `true`.
 * - `baseUrl`: the API endpoint. Default `https://web-api.tp.entsoe.eu/api`.
 *
 * @example
 * ```ts
 * import type { EntsoeOptions } from '@tributary/plugin-entsoe';
 * const options: EntsoeOptions = { securityToken: process.env.ENTSOE_TOKEN!, zones: ['NL', 'BE'] };
 * ```
 */
export type EntsoeOptions = z.input<typeof configSchema>;

const priceSchema = {
  type: 'record',
  name: 'Price',
  namespace: 'io.tributary.entsoe',
  doc: 'The price of electricity in one bidding zone for one market time unit (ENTSO-E Energy Prices [12.1.D]).',
  fields: [
    { name: 'bidding_zone', type: 'string', doc: 'EIC code of the bidding zone, e.g. 10YNL----------L.' },
    { name: 'zone', type: 'string', doc: 'The zone as configured (a short name such as NL, or the EIC code).' },
    { name: 'timestamp', type: { type: 'long', logicalType: 'timestamp-millis' }, doc: 'Start of the interval (UTC).' },
    { name: 'resolution_minutes', type: 'int', doc: 'Length of the interval in minutes (15, 30 or 60).' },
    { name: 'price', type: 'double', doc: 'Price per unit, in currency.' },
    { name: 'currency', type: 'string', doc: 'Currency of the price (currency_Unit.name), e.g. EUR.' },
    { name: 'unit', type: 'string', doc: 'Unit priced (price_Measure_Unit.name), e.g. MWH.' },
    { name: 'sequence', type: ['null', 'int'], default: null, doc: 'Auction sequence (classificationSequence position), when the zone has several auctions.' },
    { name: 'contract_type', type: ['null', 'string'], default: null, doc: 'contract_MarketAgreement.type of the series (A01 day-ahead), when given.' },
  ],
} as const;

/**
 * A record of the `prices` stream.
 *
 * @example
 * ```ts
 * import type { EntsoePrice } from '@tributary/plugin-entsoe';
 * const p: EntsoePrice = {
 *   bidding_zone: '10YNL----------L', zone: 'NL', timestamp: Date.parse('2025-03-01T23:00:00Z'), resolution_minutes: 15,
 *   price: 87.5, currency: 'EUR', unit: 'MWH', sequence: null, contract_type: 'A01',
 * };
 * ```
 */
export type EntsoePrice = InferAvro<typeof priceSchema>;

type Config = z.output<typeof configSchema>;
type OutRecord = { stream: 'prices'; value: EntsoePrice; timestamp: number };

/**
 * The ENTSO-E collector plugin: day-ahead prices of each configured bidding zone, one record per
 * market time unit, parsed from the XML answer with a real XML parser (fast-xml-parser).
 *
 * Positions are 1-based offsets, by the period's resolution, from the period start; positions left
 * out of an A03 curve repeat the previous price and are filled in. An acknowledgement document
 * with "No matching data found" (reason code 999) is an empty result, whether it comes with HTTP
 * 200 or 400 (the platform uses both; the document is read in full); any other acknowledgement, an
 * error status or an answer that is not a price document fails the cycle with an error that names
 * the source and the API's reason. The security token never appears in errors or logs.
 *
 * A polling cycle asks for `lookbackDays` before today to `aheadDays` after (UTC days) and, with
 * `onlyNew`, emits only intervals it did not emit before. A backfill cycle asks for its window (in
 * spans of at most a year) and keeps the intervals that start inside it.
 *
 * @example
 * ```ts
 * import plugin from '@tributary/plugin-entsoe';
 * import { runPlugin } from '@tributary/core/testing';
 * const { records } = await runPlugin(plugin, { securityToken: process.env.ENTSOE_TOKEN, zones: ['NL'] });
 * ```
 */
export const plugin = definePlugin({
  name: '@tributary/plugin-entsoe',
  version: '0.1.0',
  coreVersion: '^0.1.0',
  description: 'European day-ahead electricity prices from the ENTSO-E Transparency Platform (API key, XML)',
  configSchema,
  streams: {
    prices: {
      schema: priceSchema,
      key: 'bidding_zone',
      description: 'The price of one bidding zone for one market time unit',
    },
  },
  create(config, ctx) {
    return {
      collect: (cycle): Observable<OutRecord> =>
        defer(() => from(config.zones)).pipe(
          concatMap((zone) => collectZone(config, ctx, zone, cycle.window)),
          concatMap((records) => from(records)),
        ),
    };
  },
});

export default plugin;

async function collectZone(config: Config, ctx: PluginContext, zone: string, window: { start: number; end: number } | undefined): Promise<OutRecord[]> {
  const eic = zoneCode(zone)!;
  const today = Math.floor(Date.now() / DAY_MS) * DAY_MS;
  const rangeStart = window ? window.start : today - config.lookbackDays * DAY_MS;
  const rangeEnd = window ? window.end : today + config.aheadDays * DAY_MS;
  const series: PriceSeries[] = [];
  for (let start = rangeStart; start < rangeEnd; start += MAX_SPAN_MS) {
    series.push(...(await fetchSeries(config, ctx, eic, zone, start, Math.min(rangeEnd, start + MAX_SPAN_MS))));
  }

  const stateKey = `last:${eic}`;
  const last = !window && config.onlyNew ? ((await ctx.state.get<Record<string, number>>(stateKey)) ?? {}) : {};
  const newest: Record<string, number> = { ...last };
  const seen = new Set<string>();
  const out: OutRecord[] = [];
  for (const s of series) {
    if (s.contractType !== null && s.contractType !== config.contractType) continue;
    if (config.sequence !== undefined && s.sequence !== null && s.sequence !== config.sequence) continue;
    for (const p of s.points) {
      if (config.resolutions && !config.resolutions.includes(p.resolutionMinutes)) continue;
      if (window && (p.at < window.start || p.at >= window.end)) continue;
      const seriesKey = `${p.resolutionMinutes}/${s.sequence ?? '-'}/${s.contractType ?? '-'}`;
      if (last[seriesKey] !== undefined && p.at <= last[seriesKey]) continue;
      // The same interval can come twice when periods of adjacent requests overlap.
      const id = `${seriesKey}@${p.at}`;
      if (seen.has(id)) continue;
      seen.add(id);
      newest[seriesKey] = Math.max(newest[seriesKey] ?? p.at, p.at);
      out.push({
        stream: 'prices',
        timestamp: p.at,
        value: {
          bidding_zone: s.zone ?? eic,
          zone,
          timestamp: p.at,
          resolution_minutes: p.resolutionMinutes,
          price: p.price,
          currency: s.currency,
          unit: s.unit,
          sequence: s.sequence,
          contract_type: s.contractType,
        },
      });
    }
  }
  out.sort((a, b) => a.timestamp - b.timestamp || a.value.resolution_minutes - b.value.resolution_minutes || (a.value.sequence ?? 0) - (b.value.sequence ?? 0));
  if (!window && config.onlyNew && out.length > 0) await ctx.state.set(stateKey, newest);
  ctx.log.debug({ zone, series: series.length, records: out.length }, 'prices parsed');
  return out;
}

async function fetchSeries(config: Config, ctx: PluginContext, eic: string, zone: string, start: number, end: number): Promise<PriceSeries[]> {
  const url = config.baseUrl;
  const query = {
    documentType: 'A44',
    in_Domain: eic,
    out_Domain: eic,
    'contract_MarketAgreement.type': config.contractType,
    periodStart: entsoeTime(start),
    periodEnd: entsoeTime(end),
    securityToken: config.securityToken,
  };
  const where = `zone ${zone} (${eic}), ${entsoeTime(start)}–${entsoeTime(end)}`;
  // The platform sends acknowledgement documents with HTTP 200 or 400; both are read in full
  // (an HttpError keeps only the start of a body, and the Reason comes late in the document).
  const res = await ctx.http.get(url, { query, expectStatus: (status) => (status >= 200 && status < 300) || status === ACK_STATUS });
  const xml = res.text();
  let doc;
  try {
    doc = parseDocument(xml);
  } catch (err) {
    if (!(err instanceof DocumentError)) throw err;
    if (res.status === ACK_STATUS) throw statusError(res.status, res.url, xml, config, ctx, `${where}: the body is not an acknowledgement document`);
    throw new ResponseError(`ENTSO-E answer for ${where}: ${err.message}`, { source: ctx.source, url: safeUrl(url, query), cause: err });
  }
  if (doc.kind === 'prices') {
    if (res.status === ACK_STATUS) throw statusError(res.status, res.url, xml, config, ctx, `${where}: a price document with an error status`);
    return doc.series;
  }
  if (isNoData(doc.reasons)) {
    ctx.log.debug({ zone, status: res.status, reasons: doc.reasons }, 'no prices published for the period');
    return [];
  }
  const why = doc.reasons.length ? describeReasons(doc.reasons, config) : 'an acknowledgement without a reason';
  if (res.status === ACK_STATUS) throw statusError(res.status, res.url, xml, config, ctx, `${where}: an acknowledgement document: ${why}`);
  throw new NonRetriableError(`ENTSO-E rejected the request for ${where}: ${why} (source "${ctx.source}")`);
}

/**
 * An `HttpError` (not retried: a client error) for an answer with an error status, saying what
 * the body was. `url` is already redacted; the body excerpt has no security token.
 */
function statusError(status: number, url: string, body: string, config: Config, ctx: PluginContext, what: string): HttpError {
  const excerpt = scrubSecrets(body.slice(0, 512), [config.securityToken]);
  return new HttpError({
    status,
    url,
    body: excerpt,
    source: ctx.source,
    message: `ENTSO-E answered HTTP ${status} for ${what} (source "${ctx.source}" ${url})`,
  });
}

/** The reasons of an acknowledgement, as text without the security token. */
function describeReasons(reasons: readonly AckReason[], config: Config): string {
  return scrubSecrets(reasons.map((r) => (r.code ? `reason ${r.code}: ${r.text}` : r.text)).join('; '), [config.securityToken]);
}

/** The request URL as errors may show it: without the security token. */
function safeUrl(url: string, query: Record<string, string>): string {
  const u = new URL(url);
  for (const [k, v] of Object.entries(query)) if (k !== 'securityToken') u.searchParams.set(k, v);
  u.searchParams.set('securityToken', '***');
  return u.href;
}

/** `yyyyMMddHHmm` in UTC, as the API's periodStart and periodEnd want it. */
function entsoeTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}`;
}
