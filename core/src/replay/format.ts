/**
 * The on-disk format of HTTP recordings: one `recording.json` index and one file per response
 * body under `bodies/`, written so that a recording reads well and diffs well in a review.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, type ConfigIssue } from '../errors/ConfigError.js';

/**
 * The value of `format` in a recording index; a reader refuses other values.
 *
 * @example
 * ```ts
 * import { RECORDING_FORMAT } from '@tributary/core';
 * console.log(RECORDING_FORMAT); // 'tributary-recording/1'
 * ```
 */
export const RECORDING_FORMAT = 'tributary-recording/1';

/**
 * File name of the index of a recording directory.
 *
 * @example
 * ```ts
 * import path from 'node:path';
 * import { RECORDING_INDEX } from '@tributary/core';
 * const index = path.join('examples/energy-hub/fixtures', RECORDING_INDEX); // .../recording.json
 * ```
 */
export const RECORDING_INDEX = 'recording.json';

/** Folder of the body files, inside a recording directory. */
const BODIES_DIR = 'bodies';

/**
 * Response headers kept in a recording (and served on replay); every other header is dropped.
 *
 * @example
 * ```ts
 * import { RECORDED_RESPONSE_HEADERS } from '@tributary/core';
 * RECORDED_RESPONSE_HEADERS.includes('retry-after'); // true
 * ```
 */
export const RECORDED_RESPONSE_HEADERS: readonly string[] = Object.freeze(['content-type', 'retry-after', 'link']);

/**
 * One HTTP exchange as stored in `recording.json`.
 *
 * The URL and the request headers carry no secrets: values of sensitive query parameters are
 * `***`, sensitive headers (`Authorization`, `X-Api-Key`, …) are left out, and every literal
 * secret value is replaced by `***`, in the body files too.
 *
 * @example
 * ```ts
 * import type { RecordedExchange } from '@tributary/core';
 * const x: RecordedExchange = {
 *   id: 1, method: 'GET', url: 'https://api.eia.gov/v2/electricity/rto/region-data/data/?api_key=***&frequency=hourly',
 *   requestHeaders: { accept: 'application/json' }, status: 200,
 *   headers: { 'content-type': 'application/json' }, body: 'bodies/0001-api.eia.gov-v2-electricity-rto-region-data-data.json',
 * };
 * ```
 */
export interface RecordedExchange {
  /** 1-based number of the exchange in the file. */
  id: number;
  /** HTTP method, upper case. */
  method: string;
  /** The absolute request URL, secrets redacted. */
  url: string;
  /** Request headers as sent (lower-case names), without sensitive ones. */
  requestHeaders: Record<string, string>;
  /** Response status. */
  status: number;
  /** Response headers of interest (see {@link RECORDED_RESPONSE_HEADERS}), lower-case names. */
  headers: Record<string, string>;
  /** Path of the body file, relative to the recording directory; `null` for an empty body. */
  body: string | null;
}

/**
 * The index of a recording directory (`recording.json`).
 *
 * @example
 * ```ts
 * import { readRecording } from '@tributary/core';
 * const { index } = await readRecording('examples/energy-hub/fixtures');
 * console.log(index.pipeline, index.recordedAt, index.exchanges.length);
 * ```
 */
export interface RecordingIndex {
  /** Always {@link RECORDING_FORMAT}. */
  format: typeof RECORDING_FORMAT;
  /** Name of the pipeline that was recorded, when known. */
  pipeline?: string;
  /** When the recording was made (ISO 8601, UTC). */
  recordedAt: string;
  /** Free text: how the recording was made. */
  note?: string;
  /** The exchanges, sorted by URL then method (exchanges with the same request keep their order). */
  exchanges: RecordedExchange[];
}

/**
 * An exchange in memory: the index entry without `id`/`body` file, plus the body bytes.
 *
 * @example
 * ```ts
 * import { writeRecording, type ExchangeData } from '@tributary/core';
 * const x: ExchangeData = {
 *   method: 'GET', url: 'https://api.example.com/v1/prices', requestHeaders: {}, status: 200,
 *   headers: { 'content-type': 'application/json' }, body: Buffer.from('{"prices":[]}'),
 * };
 * await writeRecording('fixtures', { exchanges: [x] });
 * ```
 */
export interface ExchangeData {
  method: string;
  url: string;
  requestHeaders: Record<string, string>;
  status: number;
  headers: Record<string, string>;
  /** The response body (empty for none). */
  body: Buffer;
}

/**
 * A recording read from disk: its index and each exchange with its body bytes.
 *
 * @example
 * ```ts
 * import { readRecording } from '@tributary/core';
 * const rec = await readRecording('fixtures');
 * for (const x of rec.exchanges) console.log(x.method, x.url, x.status, x.body.length);
 * ```
 */
export interface LoadedRecording {
  /** The recording directory (absolute). */
  dir: string;
  index: RecordingIndex;
  /** The exchanges in file order, bodies loaded. */
  exchanges: (ExchangeData & { id: number })[];
}

/**
 * Options of {@link writeRecording}.
 *
 * @example
 * ```ts
 * import { writeRecording } from '@tributary/core';
 * await writeRecording('fixtures', { pipeline: 'energy-hub', note: 'made by scripts/make-fixtures.ts', exchanges: [] });
 * ```
 */
export interface WriteRecordingOptions {
  /** The exchanges, in the order they happened. */
  exchanges: readonly ExchangeData[];
  /** Pipeline name stored in the index. Default: none. */
  pipeline?: string;
  /** `recordedAt` stored in the index. Default: now. */
  recordedAt?: Date;
  /** Free text stored in the index. Default: none. */
  note?: string;
}

/**
 * Writes a recording directory: `recording.json` and `bodies/NNNN-<host>-<path>.<ext>`.
 *
 * An earlier `recording.json` and `bodies/` folder in `dir` are replaced; other files (a README)
 * are left alone. Exchanges are sorted by URL, then method; exchanges of the same request keep
 * the order they happened in, which is the order replay serves them in. Bodies of textual types
 * (JSON, XML, CSV, HTML, `text/*`) are stored as UTF-8 text with a matching extension; a compact
 * JSON body is stored indented (it parses to the same value); other bodies are stored as bytes
 * (`.bin`). Returns the index that was written.
 *
 * @param dir - The recording directory (created when missing).
 * @param options - The exchanges and metadata; see {@link WriteRecordingOptions}.
 *
 * @example
 * ```ts
 * import { writeRecording } from '@tributary/core';
 * const index = await writeRecording('fixtures', { pipeline: 'demo', exchanges: [{
 *   method: 'GET', url: 'https://api.example.com/v1/prices?day=2025-01-01', requestHeaders: {},
 *   status: 200, headers: { 'content-type': 'application/json' }, body: Buffer.from('{"prices":[1,2]}'),
 * }] });
 * console.log(index.exchanges[0]!.body); // 'bodies/0001-api.example.com-v1-prices.json'
 * ```
 */
export async function writeRecording(dir: string, options: WriteRecordingOptions): Promise<RecordingIndex> {
  const root = path.resolve(dir);
  await mkdir(root, { recursive: true });
  await rm(path.join(root, BODIES_DIR), { recursive: true, force: true });
  await rm(path.join(root, RECORDING_INDEX), { force: true });
  const sorted = options.exchanges
    .map((x, order) => ({ x, order }))
    .sort((a, b) => compare(a.x.url, b.x.url) || compare(a.x.method, b.x.method) || a.order - b.order)
    .map((e) => e.x);
  const exchanges: RecordedExchange[] = [];
  if (sorted.some((x) => x.body.length > 0)) await mkdir(path.join(root, BODIES_DIR), { recursive: true });
  let id = 0;
  for (const x of sorted) {
    id++;
    let body: string | null = null;
    if (x.body.length > 0) {
      const { ext, data } = bodyFile(x.headers['content-type'], x.body);
      body = `${BODIES_DIR}/${String(id).padStart(4, '0')}-${slug(x.url)}.${ext}`;
      await writeFile(path.join(root, body), data);
    }
    exchanges.push({
      id,
      method: x.method.toUpperCase(),
      url: x.url,
      requestHeaders: sortKeys(x.requestHeaders),
      status: x.status,
      headers: sortKeys(x.headers),
      body,
    });
  }
  const index: RecordingIndex = {
    format: RECORDING_FORMAT,
    ...(options.pipeline !== undefined ? { pipeline: options.pipeline } : {}),
    recordedAt: (options.recordedAt ?? new Date()).toISOString(),
    ...(options.note !== undefined ? { note: options.note } : {}),
    exchanges,
  };
  await writeFile(path.join(root, RECORDING_INDEX), JSON.stringify(index, null, 2) + '\n');
  return index;
}

/**
 * Reads a recording directory written by {@link writeRecording} (or `tributary record`).
 *
 * Throws a `ConfigError` naming `recording.json` and the entry when the directory has no index,
 * the index is not a recording of this format, or a body file is missing.
 *
 * @param dir - The recording directory.
 *
 * @example
 * ```ts
 * import { readRecording } from '@tributary/core';
 * const rec = await readRecording('examples/energy-hub/fixtures');
 * console.log(`${rec.exchanges.length} exchanges recorded at ${rec.index.recordedAt}`);
 * ```
 */
export async function readRecording(dir: string): Promise<LoadedRecording> {
  const root = path.resolve(dir);
  const file = path.join(root, RECORDING_INDEX);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const message =
      code === 'ENOENT'
        ? `no recording here: ${RECORDING_INDEX} not found in ${root} (make one with: tributary record <pipeline.yaml> --to ${dir})`
        : `cannot read the recording: ${(err as Error).message}`;
    throw new ConfigError(file, [{ path: '', message }], { cause: err });
  }
  let index: RecordingIndex;
  try {
    index = JSON.parse(text) as RecordingIndex;
  } catch (err) {
    throw new ConfigError(file, [{ path: '', message: `not JSON: ${(err as Error).message}` }], { cause: err });
  }
  const issues: ConfigIssue[] = [];
  if (typeof index !== 'object' || index === null || Array.isArray(index)) {
    throw new ConfigError(file, [{ path: '', message: 'expected a JSON object with "format" and "exchanges"' }]);
  }
  if (index.format !== RECORDING_FORMAT) issues.push({ path: 'format', message: `expected "${RECORDING_FORMAT}", got ${JSON.stringify(index.format)}` });
  if (!Array.isArray(index.exchanges)) issues.push({ path: 'exchanges', message: 'expected a list of exchanges' });
  if (issues.length > 0) throw new ConfigError(file, issues);
  const exchanges: LoadedRecording['exchanges'] = [];
  for (const [i, x] of index.exchanges.entries()) {
    const at = `exchanges[${i}]`;
    if (typeof x !== 'object' || x === null) {
      issues.push({ path: at, message: 'expected an object' });
      continue;
    }
    if (typeof x.method !== 'string' || x.method === '') issues.push({ path: `${at}.method`, message: 'expected an HTTP method such as GET' });
    if (typeof x.url !== 'string' || !/^https?:\/\//i.test(x.url)) issues.push({ path: `${at}.url`, message: `expected an absolute http(s) URL, got ${JSON.stringify(x.url)}` });
    if (!Number.isInteger(x.status) || x.status < 100 || x.status > 599) issues.push({ path: `${at}.status`, message: `expected an HTTP status 100-599, got ${JSON.stringify(x.status)}` });
    if (x.body !== null && typeof x.body !== 'string') issues.push({ path: `${at}.body`, message: 'expected the path of a body file or null' });
    let body: Buffer = Buffer.alloc(0);
    if (typeof x.body === 'string') {
      const bodyPath = path.resolve(root, x.body);
      if (!bodyPath.startsWith(root + path.sep)) {
        issues.push({ path: `${at}.body`, message: `the body file must be inside the recording directory, got ${JSON.stringify(x.body)}` });
      } else {
        try {
          body = await readFile(bodyPath);
        } catch {
          issues.push({ path: `${at}.body`, message: `body file ${x.body} not found in ${root}` });
        }
      }
    }
    exchanges.push({
      id: typeof x.id === 'number' ? x.id : i + 1,
      method: String(x.method).toUpperCase(),
      url: x.url,
      requestHeaders: isStringRecord(x.requestHeaders) ? x.requestHeaders : {},
      status: x.status,
      headers: isStringRecord(x.headers) ? lowerKeys(x.headers) : {},
      body,
    });
  }
  if (issues.length > 0) throw new ConfigError(file, issues);
  return { dir: root, index, exchanges };
}

/** @internal Whether a content type is textual (stored as UTF-8 text), and the file extension for it. */
export function extensionOf(contentType: string | undefined): { ext: string; textual: boolean } {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/json' || type.endsWith('+json')) return { ext: 'json', textual: true };
  if (type === 'application/xml' || type === 'text/xml' || type.endsWith('+xml')) return { ext: 'xml', textual: true };
  if (type === 'text/csv') return { ext: 'csv', textual: true };
  if (type === 'text/html') return { ext: 'html', textual: true };
  if (type.startsWith('text/') || type === 'application/javascript' || type === 'application/x-ndjson') return { ext: 'txt', textual: true };
  return { ext: 'bin', textual: false };
}

function bodyFile(contentType: string | undefined, body: Buffer): { ext: string; data: Buffer | string } {
  const { ext, textual } = extensionOf(contentType);
  if (!textual) return { ext, data: body };
  const text = body.toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(body)) return { ext: 'bin', data: body }; // not valid UTF-8
  if (ext === 'json') {
    try {
      const value: unknown = JSON.parse(text);
      // Only a compact, canonical body is re-indented: then nothing (number formats, key order) changes.
      if (JSON.stringify(value) === text) return { ext, data: JSON.stringify(value, null, 2) + '\n' };
    } catch {
      // not JSON after all: stored as it came
    }
  }
  return { ext, data: text };
}

/** `https://api.eia.gov/v2/x/data/?a=1` → `api.eia.gov-v2-x-data` (at most 80 characters). */
function slug(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'request';
  }
  const raw = `${u.hostname}${u.pathname}`
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '');
  return raw.slice(0, 80).replace(/-$/, '') || 'request';
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sortKeys(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => compare(a, b)));
}

function lowerKeys(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k.toLowerCase(), v]));
}

function isStringRecord(value: unknown): value is Record<string, string> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every((v) => typeof v === 'string');
}
