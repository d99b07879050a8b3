/**
 * @tributary/plugin-luchtmeetnet: hourly air-quality measurements of the Luchtmeetnet station
 * nearest to a point (the Dutch national air-quality network, https://www.luchtmeetnet.nl; no key).
 * @packageDocumentation
 */
import { definePlugin, NonRetriableError, type InferAvro, type PluginContext } from '@tributary/core';
import { defer, from, lastValueFrom, mergeMap, toArray, type Observable } from 'rxjs';
import { z } from 'zod';
import { parseMeasurementPage, parseStation, parseStationPage, type StationInfo, type StationSummary } from './api.js';
import { haversineKm, nearestStation } from './geo.js';

const DEFAULT_BASE_URL = 'https://api.luchtmeetnet.nl/open_api';
const HOUR_MS = 60 * 60 * 1000;
/** The measurements endpoint is asked for at most this span at once. */
const MAX_SPAN_MS = 7 * 24 * HOUR_MS;
/** A guard against a pagination that never ends. */
const MAX_PAGES = 1000;

const configSchema = z
  .strictObject({
    latitude: z.number().min(-90).max(90).optional(),
    longitude: z.number().min(-180).max(180).optional(),
    station: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/, { error: 'expected a station number such as NL10938' })
      .optional(),
    components: z
      .array(z.string().regex(/^[A-Za-z0-9.]+$/, { error: 'expected a component formula such as NO2, PM10 or PM25' }))
      .min(1)
      .optional(),
    maxDistanceKm: z.number().positive().optional(),
    lookbackHours: z.number().positive().max(168).default(24),
    stationCacheHours: z.number().positive().default(24),
    detailConcurrency: z.number().int().min(1).max(16).default(4),
    baseUrl: z.url().default(DEFAULT_BASE_URL),
  })
  .refine((c) => c.station !== undefined || (c.latitude !== undefined && c.longitude !== undefined), {
    error: 'expected either "station" or both "latitude" and "longitude"',
  })
  .refine((c) => (c.latitude === undefined) === (c.longitude === undefined), {
    error: 'expected "latitude" and "longitude" together',
  });

/**
 * Options of the Luchtmeetnet plugin, as written under `config:` in a pipeline file.
 *
 * Either `station` (a station number) or a point (`latitude` and `longitude`) is required; with a
 * point, the plugin picks the nearest station itself.
 *
 * - `latitude`, `longitude`: the point (WGS84 degrees) whose nearest station is measured. No default.
 * - `station`: a station number such as `NL10938`; skips the nearest-station search. No default.
 * - `components`: formulas to collect, such as `['NO2', 'PM10', 'PM25']`; with a point, stations that
 *   measure all of them are preferred. Default: every component the station measures.
 * - `maxDistanceKm`: fail when the nearest station is farther away. Default: no limit.
 * - `lookbackHours`: a polling cycle asks for the measurements of this many past hours (at most 168). Default `24`.
 * - `stationCacheHours`: how long the station list, the station details and the chosen station are kept. Default `24`.
 * - `detailConcurrency`: station-detail requests in flight at once while searching (1–16). Default `4`.
 * - `baseUrl`: the API root. Default `https://api.luchtmeetnet.nl/open_api`.
 *
 * @example
 * ```ts
 * import type { LuchtmeetnetOptions } from '@tributary/plugin-luchtmeetnet';
 * const utrecht: LuchtmeetnetOptions = { latitude: 52.09, longitude: 5.12, components: ['NO2', 'PM25'] };
 * ```
 */
export type LuchtmeetnetOptions = z.input<typeof configSchema>;

const measurementSchema = {
  type: 'record',
  name: 'Measurement',
  namespace: 'io.tributary.luchtmeetnet',
  doc: 'One hourly measurement of one component (pollutant) at one Luchtmeetnet station.',
  fields: [
    { name: 'station_number', type: 'string', doc: 'Station number, e.g. NL10938.' },
    { name: 'station_name', type: 'string', doc: 'Station location name, e.g. Utrecht-Griftpark.' },
    { name: 'station_latitude', type: ['null', 'double'], default: null, doc: 'Station latitude (WGS84 degrees).' },
    { name: 'station_longitude', type: ['null', 'double'], default: null, doc: 'Station longitude (WGS84 degrees).' },
    { name: 'distance_km', type: ['null', 'double'], default: null, doc: 'Distance from the configured point; null without a point.' },
    { name: 'formula', type: 'string', doc: 'Component formula as the API names it: NO2, NO, O3, PM10, PM25, FN, ...' },
    { name: 'value', type: ['null', 'double'], default: null, doc: 'Measured value (µg/m³ for concentrations); null when none was reported.' },
    { name: 'timestamp_measured', type: { type: 'long', logicalType: 'timestamp-millis' }, doc: 'Time of the measurement (the end of the measured hour).' },
  ],
} as const;

/**
 * A record of the `measurements` stream.
 *
 * @example
 * ```ts
 * import type { LuchtmeetnetMeasurement } from '@tributary/plugin-luchtmeetnet';
 * const m: LuchtmeetnetMeasurement = {
 *   station_number: 'NL10938', station_name: 'Utrecht-Griftpark', station_latitude: 52.1, station_longitude: 5.13,
 *   distance_km: 1.2, formula: 'NO2', value: 18.4, timestamp_measured: Date.parse('2025-03-01T10:00:00Z'),
 * };
 * ```
 */
export type LuchtmeetnetMeasurement = InferAvro<typeof measurementSchema>;

type Config = z.output<typeof configSchema>;

interface ChosenStation {
  station: StationInfo;
  distanceKm: number | null;
}

/**
 * The Luchtmeetnet collector plugin: finds the station nearest to a configured point (or uses a
 * configured station) and emits its hourly measurements to the `measurements` stream.
 *
 * Finding the nearest station takes the paginated station list plus one detail call per station
 * (about a hundred requests). The station list, every station's details and the chosen station are
 * therefore kept in the source's cache (`ctx.cache`) for `stationCacheHours` (24 h): a warm cycle
 * asks only for the measurements. `--force-refresh` bypasses the cache.
 *
 * A polling cycle asks for the last `lookbackHours` of measurements, every page of them; a backfill
 * cycle asks for its window (split in spans of 7 days) and keeps the measurements inside it.
 *
 * @example
 * ```ts
 * import plugin from '@tributary/plugin-luchtmeetnet';
 * import { runPlugin } from '@tributary/core/testing';
 * const { records } = await runPlugin(plugin, { latitude: 52.09, longitude: 5.12, components: ['NO2'] });
 * ```
 */
export const plugin = definePlugin({
  name: '@tributary/plugin-luchtmeetnet',
  version: '0.1.0',
  coreVersion: '^0.1.0',
  description: 'Hourly air-quality measurements of the Luchtmeetnet station nearest to a point (Netherlands, no key)',
  configSchema,
  streams: {
    measurements: {
      schema: measurementSchema,
      key: 'station_number',
      description: 'One component at one station for one hour',
    },
  },
  create(config, ctx) {
    const collector = new LuchtmeetnetCollector(config, ctx);
    return { collect: (cycle) => collector.collect(cycle.window) };
  },
});

export default plugin;

type OutRecord = { stream: 'measurements'; value: LuchtmeetnetMeasurement; timestamp: number };

class LuchtmeetnetCollector {
  private readonly base: string;
  private readonly ttlMs: number;

  constructor(
    private readonly config: Config,
    private readonly ctx: PluginContext,
  ) {
    this.base = config.baseUrl.replace(/\/+$/, '');
    this.ttlMs = config.stationCacheHours * HOUR_MS;
  }

  collect(window: { start: number; end: number } | undefined): Observable<OutRecord> {
    return defer(() => from(this.records(window)));
  }

  private async *records(window: { start: number; end: number } | undefined): AsyncGenerator<OutRecord> {
    const chosen = await this.chooseStation();
    const { station, distanceKm } = chosen;
    const now = Date.now();
    const start = window ? window.start : now - this.config.lookbackHours * HOUR_MS;
    const end = window ? window.end : now;
    const formulas: (string | undefined)[] = this.config.components ? this.config.components.map((c) => c.toUpperCase()) : [undefined];
    for (let spanStart = start; spanStart < end; spanStart += MAX_SPAN_MS) {
      const spanEnd = Math.min(end, spanStart + MAX_SPAN_MS);
      for (const formula of formulas) {
        for (let page = 1; ; page++) {
          const url = `${this.base}/measurements`;
          const body = await this.ctx.http.getJson<unknown>(url, {
            query: {
              station_number: station.number,
              formula,
              start: isoSeconds(spanStart),
              end: isoSeconds(spanEnd),
              order_by: 'timestamp_measured',
              order_direction: 'asc',
              page,
            },
          });
          const parsed = parseMeasurementPage(body, { source: this.ctx.source, url, what: `measurements of station ${station.number} (page ${page})` });
          if (parsed.skipped > 0) this.ctx.log.warn({ station: station.number, page, skipped: parsed.skipped }, 'skipped measurements without a readable time or formula');
          for (const m of parsed.items) {
            if (window && (m.at < window.start || m.at >= window.end)) continue;
            const value: LuchtmeetnetMeasurement = {
              station_number: m.stationNumber || station.number,
              station_name: station.name,
              station_latitude: station.latitude,
              station_longitude: station.longitude,
              distance_km: distanceKm,
              formula: m.formula,
              value: m.value,
              timestamp_measured: m.at,
            };
            yield { stream: 'measurements', value, timestamp: m.at };
          }
          if (page >= parsed.lastPage || parsed.items.length + parsed.skipped === 0) break;
          if (page >= MAX_PAGES) throw new NonRetriableError(`Luchtmeetnet measurements of station ${station.number}: more than ${MAX_PAGES} pages (source "${this.ctx.source}")`);
        }
      }
    }
  }

  /** The configured station, or the one nearest to the configured point; cached. */
  private async chooseStation(): Promise<ChosenStation> {
    const { latitude, longitude } = this.config;
    if (this.config.station) {
      const station = await this.stationDetail(this.config.station);
      const distanceKm = latitude !== undefined && longitude !== undefined && station.latitude !== null && station.longitude !== null
        ? haversineKm(latitude, longitude, station.latitude, station.longitude)
        : null;
      return { station, distanceKm };
    }
    const lat = latitude!;
    const lon = longitude!;
    const key = `nearest:${lat},${lon}:${(this.config.components ?? []).join(',')}`;
    const cached = this.ctx.cache.get<ChosenStation>(key);
    if (cached) return cached;
    const list = await this.stationList();
    const details = await lastValueFrom(
      from(list).pipe(
        mergeMap((s) => this.stationDetail(s.number, s.location), this.config.detailConcurrency),
        toArray(),
      ),
    );
    const nearest = nearestStation(details, lat, lon, this.config.components);
    if (!nearest) {
      const what = this.config.components ? `that measures any of ${this.config.components.join(', ')}` : 'with coordinates';
      throw new NonRetriableError(`Luchtmeetnet: none of the ${details.length} stations is one ${what} (source "${this.ctx.source}")`);
    }
    if (this.config.maxDistanceKm !== undefined && nearest.distanceKm > this.config.maxDistanceKm) {
      throw new NonRetriableError(
        `Luchtmeetnet: the nearest station, ${nearest.station.number} (${nearest.station.name}), is ${nearest.distanceKm.toFixed(1)} km away, farther than maxDistanceKm ${this.config.maxDistanceKm} (source "${this.ctx.source}")`,
      );
    }
    this.ctx.log.info({ station: nearest.station.number, stationName: nearest.station.name, distanceKm: Number(nearest.distanceKm.toFixed(3)) }, 'nearest station chosen');
    this.ctx.cache.set(key, nearest, this.ttlMs);
    return nearest;
  }

  /** Every page of `/stations`; cached. */
  private async stationList(): Promise<StationSummary[]> {
    const key = 'stations';
    const cached = this.ctx.cache.get<StationSummary[]>(key);
    if (cached) return cached;
    const all: StationSummary[] = [];
    for (let page = 1; ; page++) {
      const url = `${this.base}/stations`;
      const body = await this.ctx.http.getJson<unknown>(url, { query: { page, order_by: 'number' } });
      const parsed = parseStationPage(body, { source: this.ctx.source, url, what: `station list (page ${page})` });
      if (parsed.skipped > 0) this.ctx.log.warn({ page, skipped: parsed.skipped }, 'skipped station list entries without a number');
      all.push(...parsed.items);
      if (page >= parsed.lastPage || parsed.items.length + parsed.skipped === 0) break;
      if (page >= MAX_PAGES) throw new NonRetriableError(`Luchtmeetnet station list: more than ${MAX_PAGES} pages (source "${this.ctx.source}")`);
    }
    this.ctx.log.debug({ stations: all.length }, 'station list fetched');
    if (all.length > 0) this.ctx.cache.set(key, all, this.ttlMs);
    return all;
  }

  /** `/stations/{number}`; cached. */
  private async stationDetail(number: string, name?: string): Promise<StationInfo> {
    const key = `station:${number}`;
    const cached = this.ctx.cache.get<StationInfo>(key);
    if (cached) return cached;
    const url = `${this.base}/stations/${encodeURIComponent(number)}`;
    const body = await this.ctx.http.getJson<unknown>(url);
    const info = parseStation(number, body, { source: this.ctx.source, url, what: `station ${number}` });
    if (info.name === number && name) info.name = name;
    this.ctx.cache.set(key, info, this.ttlMs);
    return info;
  }
}

/** `2025-03-01T10:00:00Z`: ISO 8601 in UTC without milliseconds. */
function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
