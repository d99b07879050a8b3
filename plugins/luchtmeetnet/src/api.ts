/**
 * @internal The Luchtmeetnet open API's answers, and checks that turn them into typed values or a
 * `ResponseError` that says what is wrong.
 *
 * Formats (https://api-docs.luchtmeetnet.nl): lists are `{ pagination: { current_page, first_page,
 * last_page, next_page, prev_page, page_list }, data: [...] }`; a station is `{ data: { location,
 * components, geometry: { type: 'point', coordinates: [longitude, latitude] }, ... } }`; a
 * measurement is `{ station_number, formula, value, timestamp_measured }`.
 */
import { ResponseError } from '@tributary/core';

/** @internal One entry of the station list. */
export interface StationSummary {
  number: string;
  location: string;
}

/** @internal What the plugin keeps of a station's details. */
export interface StationInfo {
  number: string;
  name: string;
  latitude: number | null;
  longitude: number | null;
  components: string[];
}

/** @internal One measurement as the API gives it, checked. */
export interface Measurement {
  stationNumber: string;
  formula: string;
  value: number | null;
  at: number;
}

/** @internal A page of a paginated list: its items and the number of the last page. */
export interface Page<T> {
  items: T[];
  lastPage: number;
  /** Items that were skipped because they did not have the expected form. */
  skipped: number;
}

/** @internal Where an answer came from, for error messages. */
export interface Origin {
  source: string;
  url: string;
  what: string;
}

function fail(origin: Origin, problem: string): ResponseError {
  return new ResponseError(`Luchtmeetnet ${origin.what}: ${problem}`, { source: origin.source, url: origin.url });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)}`;
}

/** @internal Checks the `{ pagination, data }` envelope of a list answer. */
function parseEnvelope(body: unknown, origin: Origin): { data: unknown[]; lastPage: number } {
  if (!isObject(body)) throw fail(origin, `expected a JSON object with "pagination" and "data", got ${describe(body)}`);
  if (!Array.isArray(body.data)) throw fail(origin, `expected a "data" list, got ${describe(body.data)}`);
  const pagination = body.pagination;
  if (!isObject(pagination)) throw fail(origin, `expected a "pagination" object, got ${describe(pagination)}`);
  const last = pagination.last_page;
  if (typeof last !== 'number' || !Number.isInteger(last) || last < 0) {
    throw fail(origin, `expected "pagination.last_page" to be a whole number, got ${describe(last)}`);
  }
  return { data: body.data, lastPage: last };
}

/** @internal Parses one page of `/stations`. */
export function parseStationPage(body: unknown, origin: Origin): Page<StationSummary> {
  const { data, lastPage } = parseEnvelope(body, origin);
  const items: StationSummary[] = [];
  let skipped = 0;
  for (const entry of data) {
    if (isObject(entry) && typeof entry.number === 'string' && entry.number !== '') {
      items.push({ number: entry.number, location: typeof entry.location === 'string' ? entry.location : entry.number });
    } else {
      skipped++;
    }
  }
  return { items, lastPage, skipped };
}

/** @internal Parses `/stations/{number}`. A station without coordinates gets `null` ones. */
export function parseStation(number: string, body: unknown, origin: Origin): StationInfo {
  if (!isObject(body) || !isObject(body.data)) throw fail(origin, `expected a JSON object with a "data" object, got ${describe(isObject(body) ? body.data : body)}`);
  const d = body.data;
  let latitude: number | null = null;
  let longitude: number | null = null;
  const coords = isObject(d.geometry) ? d.geometry.coordinates : undefined;
  if (Array.isArray(coords) && coords.length >= 2) {
    const lon = toNumber(coords[0]);
    const lat = toNumber(coords[1]);
    if (lat !== null && lon !== null && Math.abs(lat) <= 90 && Math.abs(lon) <= 180) {
      latitude = lat;
      longitude = lon;
    }
  }
  const components = Array.isArray(d.components) ? d.components.filter((c): c is string => typeof c === 'string') : [];
  return { number, name: typeof d.location === 'string' && d.location !== '' ? d.location : number, latitude, longitude, components };
}

/** @internal Parses one page of `/measurements`; entries without a readable time or formula are skipped. */
export function parseMeasurementPage(body: unknown, origin: Origin): Page<Measurement> {
  const { data, lastPage } = parseEnvelope(body, origin);
  const items: Measurement[] = [];
  let skipped = 0;
  for (const entry of data) {
    if (!isObject(entry) || typeof entry.formula !== 'string' || typeof entry.timestamp_measured !== 'string') {
      skipped++;
      continue;
    }
    const at = Date.parse(entry.timestamp_measured);
    if (Number.isNaN(at)) {
      skipped++;
      continue;
    }
    items.push({
      stationNumber: typeof entry.station_number === 'string' ? entry.station_number : '',
      formula: entry.formula,
      value: toNumber(entry.value),
      at,
    });
  }
  return { items, lastPage, skipped };
}

function toNumber(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'string' && value.trim() !== '') {
    const n = Number(value);
    return Number.isFinite(n) ? n : null;
  }
  return null;
}
