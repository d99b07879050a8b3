/**
 * A collector plugin for the Carbon Intensity API of Great Britain's electricity system operator
 * (https://carbon-intensity.github.io/api-definitions/, no key): the forecast and actual carbon
 * intensity of the national grid, per half hour, in gCO2/kWh.
 *
 * Written step by step after docs/writing-a-plugin.md: options (step 2), streams (step 3),
 * `create` (step 4). Its tests (step 5) are in ../test/carbon-intensity.test.ts; ../pipeline.yaml
 * runs it (step 6).
 */
import { definePlugin, ResponseError, type InferAvro } from '@tributary/core';
import { concatAll, defer, from } from 'rxjs';
import { z } from 'zod';

// ---------------------------------------------------------------------------------------------
// Step 2: the options

export const configSchema = z.strictObject({
  /** Polling: ask for this many past hours each cycle (the API keeps revising `actual`). */
  lookbackHours: z.number().int().min(1).max(24 * 14).default(6),
  /** The API root. */
  baseUrl: z.url().default('https://api.carbonintensity.org.uk'),
});

/** The options as written in a pipeline file (defaults may be left out). */
export type CarbonIntensityOptions = z.input<typeof configSchema>;

// ---------------------------------------------------------------------------------------------
// Step 3: the stream

/** Avro enum symbols cannot hold spaces: the API's "very low" becomes VERY_LOW. */
const INDEX = ['VERY_LOW', 'LOW', 'MODERATE', 'HIGH', 'VERY_HIGH'] as const;

/** One half hour of the national grid's carbon intensity. */
export const intensitySchema = {
  type: 'record',
  name: 'CarbonIntensity',
  namespace: 'org.example.carbon',
  doc: 'Carbon intensity of the electricity of Great Britain for one half hour.',
  fields: [
    { name: 'region', type: 'string', doc: 'GB: the national figure.' },
    { name: 'from', type: { type: 'long', logicalType: 'timestamp-millis' }, doc: 'Start of the half hour (UTC).' },
    { name: 'to', type: { type: 'long', logicalType: 'timestamp-millis' }, doc: 'End of the half hour (UTC).' },
    { name: 'forecast', type: ['null', 'int'], default: null, doc: 'Forecast intensity, gCO2/kWh.' },
    { name: 'actual', type: ['null', 'int'], default: null, doc: 'Estimated actual intensity, gCO2/kWh; null until known.' },
    { name: 'index', type: ['null', { type: 'enum', name: 'IntensityIndex', symbols: INDEX }], default: null, doc: 'The API\'s band: VERY_LOW … VERY_HIGH.' },
  ],
} as const;

/** A record of the `intensity` stream, typed from the schema. */
export type CarbonIntensity = InferAvro<typeof intensitySchema>;

// ---------------------------------------------------------------------------------------------
// Step 4: create

/** One entry of `data` in the API's answers. */
interface ApiPeriod {
  from: string;
  to: string;
  intensity: { forecast: number | null; actual: number | null; index: string | null };
}

const HOUR_MS = 3_600_000;
const HALF_HOUR_MS = HOUR_MS / 2;
/** The API answers at most 14 days per request. */
const MAX_SPAN_MS = 14 * 24 * HOUR_MS;

/** `2025-03-01T10:00Z`, the form the API takes in its paths. */
const apiTime = (ms: number): string => new Date(ms).toISOString().slice(0, 16) + 'Z';

export default definePlugin({
  name: 'carbon-intensity',
  version: '1.0.0',
  coreVersion: '^0.1.0',
  description: 'Carbon intensity of the electricity of Great Britain, per half hour (carbonintensity.org.uk)',
  configSchema,
  streams: {
    intensity: { schema: intensitySchema, key: 'region', description: 'One half hour of the national carbon intensity' },
  },

  create(config, ctx) {
    const base = config.baseUrl.replace(/\/+$/, '');

    /** One request: `GET /intensity/{from}/{to}`. A bad answer throws a ResponseError naming the source. */
    async function fetchSpan(start: number, end: number): Promise<ApiPeriod[]> {
      const url = `${base}/intensity/${apiTime(start)}/${apiTime(end)}`;
      const body = await ctx.http.getJson<{ data?: unknown }>(url);
      if (typeof body !== 'object' || body === null || !Array.isArray(body.data)) {
        throw new ResponseError('expected { "data": [...] } in the answer', { source: ctx.source, url });
      }
      return body.data as ApiPeriod[];
    }

    function toRecord(p: ApiPeriod) {
      const from = Date.parse(p.from);
      const to = Date.parse(p.to);
      if (Number.isNaN(from) || Number.isNaN(to) || typeof p.intensity !== 'object' || p.intensity === null) return undefined;
      const index = p.intensity.index ? p.intensity.index.toUpperCase().replace(/ /g, '_') : null;
      const value: CarbonIntensity = {
        region: 'GB',
        from,
        to,
        forecast: typeof p.intensity.forecast === 'number' ? p.intensity.forecast : null,
        actual: typeof p.intensity.actual === 'number' ? p.intensity.actual : null,
        index: (INDEX as readonly string[]).includes(index ?? '') ? (index as CarbonIntensity['index']) : null,
      };
      return { stream: 'intensity' as const, value, timestamp: from };
    }

    async function collect(window?: { start: number; end: number }) {
      // live: the last `lookbackHours` up to the current half hour; backfill: the window
      const now = Math.floor(Date.now() / HALF_HOUR_MS) * HALF_HOUR_MS;
      const start = window ? window.start : now - config.lookbackHours * HOUR_MS;
      const end = window ? window.end : now;
      // live: skip the half hours whose actual value was already delivered
      const delivered = window ? undefined : await ctx.state.get<number>('last-actual');
      let newest = delivered ?? 0;
      const records = [];
      for (let s = start; s < end; s += MAX_SPAN_MS) {
        for (const period of await fetchSpan(s, Math.min(end, s + MAX_SPAN_MS))) {
          const record = toRecord(period);
          if (!record) {
            ctx.log.warn({ period }, 'skipping a period the API sent in an unknown form');
            continue;
          }
          if (window && (record.value.from < window.start || record.value.from >= window.end)) continue;
          if (delivered !== undefined && record.value.from <= delivered) continue;
          if (record.value.actual !== null) newest = Math.max(newest, record.value.from);
          records.push(record);
        }
      }
      if (!window && newest > (delivered ?? 0)) await ctx.state.set('last-actual', newest);
      return records;
    }

    return {
      collect: (cycle) => defer(() => from(collect(cycle.window))).pipe(concatAll()),
    };
  },
});
