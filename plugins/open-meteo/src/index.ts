/**
 * @tributary/plugin-open-meteo: hourly weather and air-quality forecasts from Open-Meteo
 * (https://open-meteo.com; no key for non-commercial use) for a list of named locations.
 * @packageDocumentation
 */
import { definePlugin, HttpError, isHttpError, ResponseError, type InferAvro, type PluginContext } from '@tributary/core';
import { defer, from, mergeMap, type Observable } from 'rxjs';
import { z } from 'zod';

const FORECAST_URL = 'https://api.open-meteo.com/v1/forecast';
const AIR_QUALITY_URL = 'https://air-quality-api.open-meteo.com/v1/air-quality';

/** Hourly variables asked for when `hourly` is not given, by kind. */
const DEFAULT_HOURLY = {
  forecast: ['temperature_2m', 'relative_humidity_2m', 'precipitation', 'cloud_cover', 'wind_speed_10m', 'wind_direction_10m', 'shortwave_radiation'],
  'air-quality': ['pm10', 'pm2_5', 'nitrogen_dioxide', 'ozone', 'european_aqi'],
} as const;

const locationSchema = z.strictObject({
  name: z.string().min(1),
  latitude: z.number().min(-90).max(90),
  longitude: z.number().min(-180).max(180),
});

const configSchema = z
  .strictObject({
    kind: z.enum(['forecast', 'air-quality']).default('forecast'),
    locations: z.array(locationSchema).min(1),
    hourly: z
      .array(z.string().regex(/^[a-z0-9_]+$/, { error: 'expected an Open-Meteo variable name such as temperature_2m' }))
      .min(1)
      .optional(),
    forecastDays: z.number().int().min(1).max(16).optional(),
    pastDays: z.number().int().min(0).max(92).optional(),
    models: z.array(z.string().min(1)).min(1).optional(),
    timezone: z.string().min(1).default('GMT'),
    apiKey: z.string().min(1).optional(),
    baseUrl: z.url().optional(),
    concurrency: z.number().int().min(1).max(8).default(2),
  })
  .refine((c) => new Set(c.locations.map((l) => l.name)).size === c.locations.length, {
    error: 'expected every location to have a name of its own',
    path: ['locations'],
  });

/**
 * Options of the Open-Meteo plugin, as written under `config:` in a pipeline file.
 *
 * - `kind`: `'forecast'` (weather, `/v1/forecast`) or `'air-quality'` (`/v1/air-quality`). Default `'forecast'`.
 * - `locations`: `[{ name, latitude, longitude }]`, at least one; `name` is the record key. Required.
 * - `hourly`: the hourly variables to collect, as Open-Meteo names them (`temperature_2m`, `pm2_5`, ...).
 *   Default for `forecast`: temperature_2m, relative_humidity_2m, precipitation, cloud_cover,
 *   wind_speed_10m, wind_direction_10m, shortwave_radiation; for `air-quality`: pm10, pm2_5,
 *   nitrogen_dioxide, ozone, european_aqi.
 * - `forecastDays`: days of forecast (1–16; the air-quality API allows fewer). Default: the API's (7 and 5).
 * - `pastDays`: past days included (0–92). Default: the API's (0).
 * - `models`: weather models (`['icon_seamless']`, ...). Default: the API's best match.
 * - `timezone`: time zone the API aligns days to (times stay UTC epoch). Default `'GMT'`.
 * - `apiKey`: key of a commercial Open-Meteo plan (sent as `apikey`). Default: none.
 * - `baseUrl`: the endpoint URL. Default: the public endpoint of `kind`.
 * - `concurrency`: locations asked for at once (1–8). Default `2`.
 *
 * @example
 * ```ts
 * import type { OpenMeteoOptions } from '@tributary/plugin-open-meteo';
 * const options: OpenMeteoOptions = { locations: [{ name: 'utrecht', latitude: 52.09, longitude: 5.12 }], hourly: ['temperature_2m'] };
 * ```
 */
export type OpenMeteoOptions = z.input<typeof configSchema>;

const hourlySchema = {
  type: 'record',
  name: 'Hourly',
  namespace: 'io.tributary.openmeteo',
  doc: 'The values of one hour at one location, from the Open-Meteo forecast or air-quality API.',
  fields: [
    { name: 'location', type: 'string', doc: 'The configured location name.' },
    { name: 'kind', type: 'string', doc: 'forecast or air-quality: the API the values come from.' },
    { name: 'latitude', type: 'double', doc: 'The configured latitude (WGS84 degrees).' },
    { name: 'longitude', type: 'double', doc: 'The configured longitude (WGS84 degrees).' },
    { name: 'grid_latitude', type: ['null', 'double'], default: null, doc: 'Latitude of the model grid cell the API used.' },
    { name: 'grid_longitude', type: ['null', 'double'], default: null, doc: 'Longitude of the model grid cell the API used.' },
    { name: 'elevation', type: ['null', 'double'], default: null, doc: 'Elevation in metres the API used.' },
    { name: 'time', type: { type: 'long', logicalType: 'timestamp-millis' }, doc: 'Start of the hour (UTC).' },
    {
      name: 'values',
      type: { type: 'map', values: ['null', 'double'] },
      doc: 'The hourly variables by Open-Meteo name (temperature_2m, pm2_5, ...); null where the API has no value.',
    },
    { name: 'units', type: { type: 'map', values: 'string' }, doc: 'The unit of each variable, as the API gives it (°C, μg/m³, ...).' },
    { name: 'timezone', type: 'string', doc: 'Time zone the API used.' },
    { name: 'utc_offset_seconds', type: 'int', doc: 'Offset of that time zone from UTC.' },
  ],
} as const;

/**
 * A record of the `hourly` stream.
 *
 * @example
 * ```ts
 * import type { OpenMeteoHourly } from '@tributary/plugin-open-meteo';
 * const h: OpenMeteoHourly = {
 *   location: 'utrecht', kind: 'forecast', latitude: 52.09, longitude: 5.12, grid_latitude: 52.1, grid_longitude: 5.12,
 *   elevation: 5, time: Date.parse('2025-03-01T10:00:00Z'), values: { temperature_2m: 7.5 }, units: { temperature_2m: '°C' },
 *   timezone: 'GMT', utc_offset_seconds: 0,
 * };
 * ```
 */
export type OpenMeteoHourly = InferAvro<typeof hourlySchema>;

type Config = z.output<typeof configSchema>;
type Location = z.output<typeof locationSchema>;
type OutRecord = { stream: 'hourly'; value: OpenMeteoHourly; timestamp: number };

/**
 * The Open-Meteo collector plugin: for each configured location, one request per cycle with
 * `timeformat=unixtime`, turned into one `hourly` record per hour.
 *
 * The variables travel in a map (`values`), so one schema fits every choice of variables and
 * Open-Meteo can add variables without a schema change. A polling cycle takes the forecast
 * horizon the API returns (`forecastDays`, `pastDays`); a backfill cycle asks for the days of its
 * window (`start_date`, `end_date`) and keeps the hours inside it. An error answer
 * (`{"error": true, "reason": "..."}`, HTTP 400) fails the cycle with the API's reason.
 *
 * @example
 * ```ts
 * import plugin from '@tributary/plugin-open-meteo';
 * import { runPlugin } from '@tributary/core/testing';
 * const { records } = await runPlugin(plugin, { kind: 'air-quality', locations: [{ name: 'utrecht', latitude: 52.09, longitude: 5.12 }] });
 * ```
 */
export const plugin = definePlugin({
  name: '@tributary/plugin-open-meteo',
  version: '0.1.0',
  coreVersion: '^0.1.0',
  description: 'Hourly weather and air-quality forecasts from Open-Meteo for named locations (no key)',
  configSchema,
  streams: {
    hourly: {
      schema: hourlySchema,
      key: 'location',
      description: 'One location for one hour, with the requested variables',
    },
  },
  create(config, ctx) {
    return {
      collect: (cycle): Observable<OutRecord> =>
        defer(() => from(config.locations)).pipe(
          mergeMap((location) => fetchLocation(config, ctx, location, cycle.window), config.concurrency),
          mergeMap((records) => from(records)),
        ),
    };
  },
});

export default plugin;

async function fetchLocation(config: Config, ctx: PluginContext, location: Location, window: { start: number; end: number } | undefined): Promise<OutRecord[]> {
  const url = config.baseUrl ?? (config.kind === 'forecast' ? FORECAST_URL : AIR_QUALITY_URL);
  const variables = config.hourly ?? [...DEFAULT_HOURLY[config.kind]];
  const query: Record<string, string | number | undefined> = {
    latitude: location.latitude,
    longitude: location.longitude,
    hourly: variables.join(','),
    timeformat: 'unixtime',
    timezone: config.timezone,
    models: config.models?.join(','),
    apikey: config.apiKey,
  };
  if (window) {
    query.start_date = isoDate(window.start);
    query.end_date = isoDate(window.end - 1);
  } else {
    query.forecast_days = config.forecastDays;
    query.past_days = config.pastDays;
  }
  let body: unknown;
  try {
    body = await ctx.http.getJson<unknown>(url, { query });
  } catch (err) {
    throw explain(err, ctx, location);
  }
  const records = toRecords(body, config.kind, location, variables, { source: ctx.source, url });
  return window ? records.filter((r) => r.timestamp >= window.start && r.timestamp < window.end) : records;
}

/** An HTTP error with Open-Meteo's `{"error": true, "reason": "..."}` body becomes an error that says the reason. */
function explain(err: unknown, ctx: PluginContext, location: Location): unknown {
  if (!isHttpError(err) || !err.body) return err;
  const reason = errorReason(parseJson(err.body));
  if (reason === undefined) return err;
  return new HttpError({
    status: err.status,
    ...(err.url !== undefined ? { url: err.url } : {}),
    ...(err.retryAfterMs !== undefined ? { retryAfterMs: err.retryAfterMs } : {}),
    body: err.body,
    source: ctx.source,
    message: `Open-Meteo answered HTTP ${err.status} for location "${location.name}": ${reason} (source "${ctx.source}"${err.url ? ` ${err.url}` : ''})`,
    cause: err,
  });
}

function errorReason(body: unknown): string | undefined {
  if (!isObject(body) || body.error !== true) return undefined;
  return typeof body.reason === 'string' && body.reason !== '' ? body.reason : 'no reason given';
}

/** @internal Turns one answer into records, or throws a `ResponseError` saying what is wrong with it. */
function toRecords(body: unknown, kind: Config['kind'], location: Location, variables: readonly string[], origin: { source: string; url: string }): OutRecord[] {
  const fail = (problem: string): ResponseError =>
    new ResponseError(`Open-Meteo ${kind} answer for location "${location.name}": ${problem}`, { source: origin.source, url: origin.url });
  if (!isObject(body)) throw fail(`expected a JSON object, got ${describe(body)}`);
  const reason = errorReason(body);
  if (reason !== undefined) throw fail(`the API reported an error: ${reason}`);
  const hourly = body.hourly;
  if (!isObject(hourly)) throw fail(`expected an "hourly" object, got ${describe(hourly)}`);
  const time = hourly.time;
  if (!Array.isArray(time) || !time.every((t) => typeof t === 'number' && Number.isFinite(t))) {
    throw fail('expected "hourly.time" to be a list of unix times in seconds (timeformat=unixtime)');
  }
  const columns = new Map<string, unknown[]>();
  for (const name of variables) {
    const column = hourly[name];
    if (!Array.isArray(column)) throw fail(`the requested variable "${name}" is missing from "hourly"`);
    if (column.length !== time.length) throw fail(`"hourly.${name}" has ${column.length} values for ${time.length} times`);
    columns.set(name, column);
  }
  const unitsIn = isObject(body.hourly_units) ? body.hourly_units : {};
  const units: Record<string, string> = {};
  for (const name of variables) if (typeof unitsIn[name] === 'string') units[name] = unitsIn[name];
  const timezone = typeof body.timezone === 'string' ? body.timezone : 'GMT';
  const offset = typeof body.utc_offset_seconds === 'number' && Number.isInteger(body.utc_offset_seconds) ? body.utc_offset_seconds : 0;
  const out: OutRecord[] = [];
  for (let i = 0; i < time.length; i++) {
    const at = (time[i] as number) * 1000;
    const values: Record<string, number | null> = {};
    for (const [name, column] of columns) {
      const v = column[i];
      values[name] = typeof v === 'number' && Number.isFinite(v) ? v : null;
    }
    out.push({
      stream: 'hourly',
      timestamp: at,
      value: {
        location: location.name,
        kind,
        latitude: location.latitude,
        longitude: location.longitude,
        grid_latitude: finite(body.latitude),
        grid_longitude: finite(body.longitude),
        elevation: finite(body.elevation),
        time: at,
        values,
        units,
        timezone,
        utc_offset_seconds: offset,
      },
    });
  }
  return out;
}

function finite(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)}`;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** `2025-03-01`: the UTC date of an epoch-ms time. */
function isoDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}
