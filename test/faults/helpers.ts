/**
 * Shared pieces of the fault-injection suite: a pass-through collector plugin, a temp project
 * around it, Prometheus scraping, RSS sampling, checkpoint and dead-letter readers.
 *
 * The CLI runs as a child process from source (`node --import tsx core/src/cli/main.ts`, see
 * test/e2e/helpers.ts), against stub servers from the testkit.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import avro from 'avsc';
import { makeProject, type CliRun, type Project } from '../e2e/helpers.js';

export { allFiles, runCli, startCli, type CliRun, type Project } from '../e2e/helpers.js';

/** An avsc long that decodes to a number when it is a safe integer, else to a bigint (avsc's own refuses those). */
const LONG = avro.types.LongType.__with({
  fromBuffer: (buf: Buffer) => {
    const n = buf.readBigInt64LE();
    return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
  },
  toBuffer: (n: number | bigint) => {
    const buf = Buffer.alloc(8);
    buf.writeBigInt64LE(BigInt(n));
    return buf;
  },
  fromJSON: (v: unknown) => (typeof v === 'bigint' ? v : Number(v)),
  toJSON: (n: number | bigint) => Number(n),
  isValid: (n: unknown) => typeof n === 'number' || typeof n === 'bigint',
  compare: (a: number | bigint, b: number | bigint) => (a < b ? -1 : a > b ? 1 : 0),
});

/** Decodes every Avro file of a topic directory (sorted by name) with avsc's `createFileDecoder`; 64-bit longs become bigints. */
export async function readTopic(dir: string): Promise<Record<string, unknown>[]> {
  let files: string[];
  try {
    files = (await readdir(dir)).filter((f) => f.endsWith('.avro')).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const values: Record<string, unknown>[] = [];
  for (const f of files) {
    await new Promise<void>((resolve, reject) => {
      avro
        .createFileDecoder(join(dir, f), { parseHook: (schema: unknown) => avro.Type.forSchema(schema as avro.Schema, { registry: { long: LONG } }) })
        .on('data', (v: Record<string, unknown>) => values.push({ ...v }))
        .on('error', reject)
        .on('end', () => resolve());
    });
  }
  return values;
}

/**
 * A plain-JS collector plugin that passes the items of an API answer through as records.
 *
 * Each cycle GETs `${baseUrl}${path}` `pages` times in a row (query `cycle`, `page`, and for
 * backfill chunks `start`/`end`; `api_key` when `apiKey` is set; header `x-api-key` when
 * `headerKey` is set and `x-service-password` when `password` is set) and emits every item of
 * `body.items` as a record of its one stream, after each page. An item field written as
 * `{ "$bigint": "123" }` becomes a bigint, so that answers can carry 64-bit values. The stream's
 * Avro schema and key field are given when the file is made.
 */
export function passThroughPlugin(schema: object, key?: string): string {
  return `
import { z } from 'zod';
import { concatMap, from, mergeMap, range } from 'rxjs';

const revive = (v) => {
  if (Array.isArray(v)) return v.map(revive);
  if (v !== null && typeof v === 'object') {
    if (typeof v.$bigint === 'string') return BigInt(v.$bigint);
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, revive(x)]));
  }
  return v;
};

export default {
  kind: 'tributary-plugin',
  name: 'faults-pass-through',
  version: '1.0.0',
  coreVersion: '*',
  configSchema: z.strictObject({
    baseUrl: z.string(),
    path: z.string().default('/items'),
    pages: z.number().int().min(1).default(1),
    apiKey: z.string().optional(),
    headerKey: z.string().optional(),
    password: z.string().optional(),
  }),
  streams: {
    items: { ${key === undefined ? '' : `key: ${JSON.stringify(key)}, `}schema: ${JSON.stringify(schema)} },
  },
  create(config, ctx) {
    return {
      collect(info) {
        const headers = {};
        if (config.headerKey) headers['x-api-key'] = config.headerKey;
        if (config.password) headers['x-service-password'] = config.password;
        return range(1, config.pages).pipe(
          concatMap((page) => {
            const query = { api_key: config.apiKey, cycle: info.cycle, page };
            if (info.window) Object.assign(query, { start: info.window.start, end: info.window.end });
            return ctx.http.getJson$(config.baseUrl + config.path, { query, headers });
          }),
          mergeMap((body) => from(body.items.map((item) => ({ stream: 'items', value: revive(item) })))),
        );
      },
    };
  },
};
`;
}

/** The record schema most tests use: a reading of a station, tagged with where it came from. */
export const READING_SCHEMA = {
  type: 'record',
  name: 'Reading',
  namespace: 'faults',
  fields: [
    { name: 'station', type: 'string' },
    { name: 'value', type: 'double' },
    { name: 'cycle', type: 'int' },
    { name: 'page', type: 'int' },
    { name: 'window', type: ['null', 'string'], default: null },
  ],
} as const;

/** A temp project with the pass-through plugin as `./items.js` (READING_SCHEMA unless given) and the given files. */
export function makeFaultProject(files: Record<string, string>, schema: object = READING_SCHEMA, key: string | undefined = 'station'): Promise<Project> {
  return makeProject({ 'items.js': passThroughPlugin(schema, key), ...files });
}

/** A JSON-lines log line as the CLI writes it with `--log-format json`. */
export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** The JSON log lines of a stderr text (lines that are not JSON, such as the summary, are skipped). */
export function logLines(stderr: string): LogLine[] {
  const out: LogLine[] = [];
  for (const line of stderr.split('\n')) {
    if (!line.startsWith('{"level"')) continue;
    try {
      out.push(JSON.parse(line) as LogLine);
    } catch {
      // a partial last line
    }
  }
  return out;
}

/** Waits for the metrics server's address in the log of a run started with `--metrics-port 0 --log-format json`. */
export async function metricsUrl(run: CliRun): Promise<string> {
  await run.waitFor(/"msg":"metrics at [^"]+"/);
  const match = /"msg":"metrics at (http:\/\/[^"]+)\/metrics,/.exec(run.stderr());
  if (!match) throw new Error(`no metrics address in the log:\n${run.stderr()}`);
  return match[1]!;
}

/** One sample of the Prometheus text format. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text format (enough of it for prom-client's output). */
export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, '$1');
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

/** A scrape of `/metrics`: the raw text, and the sum of the samples of a metric whose labels include `labels`. */
export interface Scrape {
  text: string;
  samples: Sample[];
  value(name: string, labels?: Record<string, string>): number;
}

/** Fetches and parses `${base}/metrics`. */
export async function scrape(base: string): Promise<Scrape> {
  const res = await fetch(`${base}/metrics`);
  const text = await res.text();
  const samples = parseMetrics(text);
  return {
    text,
    samples,
    value(name, labels = {}) {
      let sum = 0;
      for (const s of samples) {
        if (s.name !== name) continue;
        if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) sum += s.value;
      }
      return sum;
    },
  };
}

/** Resident set size of a process in bytes, from /proc/<pid>/status (Linux); `undefined` once it is gone. */
export async function rssOf(pid: number): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return kb ? Number(kb[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** The checkpoint values of a source in a state directory (`{}` when none was written). */
export async function readCheckpoint(stateDir: string, source: string): Promise<Record<string, unknown>> {
  try {
    const file = JSON.parse(await readFile(join(stateDir, `${source}.json`), 'utf8')) as { values: Record<string, unknown> };
    return file.values;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw err;
  }
}

/** The ids (`"<start>-<end>"`) of the backfill chunks a source's checkpoint records as done. */
export async function doneChunks(stateDir: string, source: string): Promise<string[]> {
  const values = await readCheckpoint(stateDir, source);
  const progress = values['@tributary/backfill'] as { done?: string[] } | undefined;
  return progress?.done ?? [];
}

/** A dead letter as the file sink writes it, one per line of `<dir>/<topic>.dlq.jsonl`. */
export interface DeadLetterLine {
  topic: string;
  source: string;
  code: string;
  field?: string;
  reason: string;
  value: Record<string, unknown>;
  timestamp: number;
}

/** The dead letters of a topic written by the file sink into `dir` (`[]` when there is no file). */
export async function readDeadLetters(dir: string, topic: string): Promise<DeadLetterLine[]> {
  let text: string;
  try {
    text = await readFile(join(dir, `${topic}.dlq.jsonl`), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as DeadLetterLine);
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves once `predicate()` holds (checked every `everyMs`), rejects after `timeoutMs` with `what`. */
export async function until(what: string, predicate: () => boolean | Promise<boolean>, timeoutMs = 10_000, everyMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await predicate()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Kills a child process that is still running and waits for it to be gone (after hooks). */
export async function stopChild(run: CliRun | undefined): Promise<void> {
  if (!run) return;
  if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL');
  await run.exited;
}
