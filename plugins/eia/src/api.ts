/**
 * @internal The EIA API v2 answers (https://www.eia.gov/opendata/documentation.php) and the checks
 * that turn them into typed rows or a `ResponseError` saying what is wrong.
 *
 * A data answer is `{ response: { total, dateFormat, frequency, data: [row, ...], warnings? },
 * request: {...}, apiVersion }`; `total` (the number of matching rows, often a string) is what
 * `offset`/`length` paginate over, at most 5000 rows per request. A row of
 * `electricity/rto/region-data` is `{ period: "2024-01-01T05", respondent, "respondent-name",
 * type, "type-name", value, "value-units" }`, with `value` a number or a numeric string.
 * Errors are `{ error: { code, message } }` (API key problems, HTTP 403) or
 * `{ error: "...", code: 400 }` (invalid parameters).
 */
import { ResponseError } from '@tributary/core';

/** @internal One checked row of region data. */
export interface RegionRow {
  period: number;
  respondent: string;
  respondentName: string | null;
  type: string;
  typeName: string | null;
  value: number | null;
  valueUnits: string | null;
}

/** @internal One checked page. */
export interface RegionPage {
  rows: RegionRow[];
  /** Rows the API reports in total for the query; `undefined` when it did not say. */
  total: number | undefined;
  /** Rows in the answer, skipped ones included. */
  received: number;
  /** Rows without a readable period, respondent or type. */
  skipped: number;
  warnings: string[];
}

/** @internal Parses one data answer; throws a `ResponseError` naming the source and the URL. */
export function parseRegionPage(body: unknown, origin: { source: string; url: string; what: string }): RegionPage {
  const fail = (problem: string): ResponseError => new ResponseError(`EIA ${origin.what}: ${problem}`, { source: origin.source, url: origin.url });
  if (!isObject(body)) throw fail(`expected a JSON object with a "response", got ${describe(body)}`);
  const error = apiError(body);
  if (error !== undefined) throw fail(`the API reported an error: ${error}`);
  const response = body.response;
  if (!isObject(response)) throw fail(`expected a "response" object, got ${describe(response)}`);
  if (!Array.isArray(response.data)) throw fail(`expected "response.data" to be a list, got ${describe(response.data)}`);
  const totalNumber = typeof response.total === 'number' ? response.total : typeof response.total === 'string' ? Number(response.total) : NaN;
  const total = Number.isInteger(totalNumber) && totalNumber >= 0 ? totalNumber : undefined;
  const rows: RegionRow[] = [];
  let skipped = 0;
  for (const entry of response.data) {
    const row = isObject(entry) ? parseRow(entry) : undefined;
    if (row) rows.push(row);
    else skipped++;
  }
  const warnings: string[] = [];
  for (const w of Array.isArray(response.warnings) ? response.warnings : []) {
    if (isObject(w)) warnings.push([w.warning, w.description].filter((x) => typeof x === 'string').join(': '));
  }
  return { rows, total, received: response.data.length, skipped, warnings };
}

/**
 * @internal The error an EIA error body describes (`API_KEY_INVALID: An invalid api_key ...`), or
 * `undefined` when the body is not an EIA error.
 */
export function apiError(body: unknown): string | undefined {
  if (!isObject(body) || body.error === undefined || body.error === null || body.error === false) return undefined;
  const e = body.error;
  if (typeof e === 'string') return e;
  if (isObject(e)) {
    const code = typeof e.code === 'string' || typeof e.code === 'number' ? String(e.code) : undefined;
    const message = typeof e.message === 'string' ? e.message : undefined;
    return [code, message].filter(Boolean).join(': ') || 'an error without a message';
  }
  return 'an error without a message';
}

/**
 * @internal `2024-01-01T05` (UTC, frequency hourly) or `2024-01-01T00-05` (local-hourly, with the
 * offset from UTC in hours) as epoch ms; `undefined` otherwise.
 */
export function parsePeriod(period: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2})(?:([+-])(\d{2}))?$/.exec(period);
  if (!m) return undefined;
  const utc = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]));
  const offsetHours = m[5] ? (m[5] === '-' ? -1 : 1) * Number(m[6]) : 0;
  const at = utc - offsetHours * 3_600_000;
  return Number.isNaN(at) ? undefined : at;
}

/** @internal Epoch ms as an hourly period for `start` and `end`: `2024-01-01T05` (UTC). */
export function formatPeriod(ms: number): string {
  return new Date(ms).toISOString().slice(0, 13);
}

function parseRow(entry: Record<string, unknown>): RegionRow | undefined {
  if (typeof entry.period !== 'string' || typeof entry.respondent !== 'string' || typeof entry.type !== 'string') return undefined;
  if (entry.respondent === '' || entry.type === '') return undefined;
  const period = parsePeriod(entry.period);
  if (period === undefined) return undefined;
  return {
    period,
    respondent: entry.respondent,
    respondentName: stringOrNull(entry['respondent-name']),
    type: entry.type,
    typeName: stringOrNull(entry['type-name']),
    value: toNumber(entry.value),
    valueUnits: stringOrNull(entry['value-units']),
  };
}

function toNumber(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'string' && value.trim() !== '') {
    const n = Number(value);
    return Number.isFinite(n) ? n : null;
  }
  return null;
}

function stringOrNull(value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
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
