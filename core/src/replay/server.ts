/**
 * The replay server: serves a recording made by `tributary record` from a loopback port, so that a
 * pipeline runs with no network at all.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { prepareSecrets, redactUrl, scrubPrepared } from '../http/redact.js';
import { readRecording, type LoadedRecording } from './format.js';
import { RequestMatcher, timeDistance } from './match.js';
import { listen, readBody, rewriteTemplate, targetOf } from './route.js';

/**
 * The logger of a replay server: any object with pino's `warn(obj, msg)` and `debug(obj, msg)`.
 *
 * @example
 * ```ts
 * import pino from 'pino';
 * import { startReplayServer } from '@tributary/core';
 * const replay = await startReplayServer({ dir: 'fixtures', logger: pino().child({ replay: 'fixtures' }) });
 * ```
 */
export interface ReplayLogger {
  warn(obj: Record<string, unknown>, msg?: string): void;
  debug(obj: Record<string, unknown>, msg?: string): void;
}

/**
 * Options of {@link startReplayServer}.
 *
 * @example
 * ```ts
 * import { startReplayServer } from '@tributary/core';
 * const replay = await startReplayServer({ dir: 'examples/energy-hub/fixtures', secrets: [process.env.ENTSOE_API_KEY] });
 * ```
 */
export interface ReplayServerOptions {
  /** The recording directory (with `recording.json`). Required unless `recording` is given. */
  dir?: string;
  /** A recording already read with `readRecording` (instead of `dir`). */
  recording?: LoadedRecording;
  /**
   * Secret values of the replaying pipeline (its `secrets`). Query parameters holding one are
   * ignored when matching, like parameters with sensitive names (`api_key`, `securityToken`, …),
   * and they never appear in messages. Default: none.
   */
  secrets?: readonly (string | undefined | null)[];
  /**
   * Match requests whose dates and times (ISO dates and date-times, compact `yyyyMMddHHmm`, epoch
   * seconds or milliseconds, in the path or a query value) differ from the recorded ones, when
   * nothing matches exactly. Plugins that ask for "the last 24 hours" send other times on every
   * run; this lets a recording replay any day. Default `true`.
   */
  matchTimes?: boolean;
  /** Address to listen on. Default `'127.0.0.1'`. */
  host?: string;
  /** Port to listen on. Default `0` (a free port). */
  port?: number;
  /** Logs a warning for each request without a recording and a debug line per served one. Default: none. */
  logger?: ReplayLogger;
}

/**
 * A request the replay server had no recording for.
 *
 * @example
 * ```ts
 * import { startReplayServer } from '@tributary/core';
 * const replay = await startReplayServer({ dir: 'fixtures' });
 * // ... run the pipeline ...
 * for (const m of replay.misses) console.error(`not recorded: ${m.method} ${m.url}`);
 * ```
 */
export interface ReplayMiss {
  method: string;
  /** The request URL, secrets redacted. */
  url: string;
}

/**
 * A running replay server (see {@link startReplayServer}).
 *
 * @example
 * ```ts
 * import { startReplayServer, runPipeline } from '@tributary/core';
 * const replay = await startReplayServer({ dir: 'fixtures' });
 * const { records } = await runPipeline('pipeline.yaml', { baseUrl: replay.rewriteOrigin });
 * await replay.close();
 * ```
 */
export interface ReplayServer {
  /** Origin of the server, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /**
   * The `rewriteOrigin` that routes a pipeline's requests here:
   * `http://127.0.0.1:41234/{scheme}/{host}` (`PipelineRunner`'s `rewriteOrigin`, the testkit's `baseUrl`).
   */
  readonly rewriteOrigin: string;
  /** The recording directory (absolute). */
  readonly dir: string;
  /** Requests answered from the recording so far. */
  readonly served: number;
  /** Requests that had no recording (answered 404), in order. */
  readonly misses: readonly ReplayMiss[];
  /** Stops the server and closes its connections. */
  close(): Promise<void>;
}

/**
 * Serves a recording from a loopback HTTP server.
 *
 * Requests arrive as `/<scheme>/<host>/<path>?<query>` (route a pipeline here with the server's
 * `rewriteOrigin`) and are matched with recorded exchanges by method, host, path and query; the
 * order of query parameters does not matter, and parameters with sensitive names (`api_key`,
 * `token`, …) or secret values are ignored, so a recording made with one key replays with any
 * other (or none). When nothing matches exactly, a recording that differs only in dates and times
 * is used (see `matchTimes`). A request recorded several times gets the recorded answers in order,
 * and the last one again after that. A request with no recording gets a 404 whose JSON body names
 * the URL and the recording directory; it is logged and listed in `misses`.
 *
 * Answers carry the recorded status, `Content-Type`, `Retry-After` and `Link` headers and body.
 *
 * @param options - Where the recording is, secrets, matching; see {@link ReplayServerOptions}.
 *
 * @example
 * ```ts
 * import { loadPipeline, resolvePipeline, PipelineRunner, startReplayServer } from '@tributary/core';
 *
 * const { config, plugins } = await resolvePipeline(await loadPipeline('examples/energy-hub/pipeline.yaml'));
 * const replay = await startReplayServer({ dir: 'examples/energy-hub/fixtures', secrets: config.secrets });
 * const runner = new PipelineRunner({ pipeline: config, plugins, once: true, rewriteOrigin: replay.rewriteOrigin });
 * try {
 *   console.log((await runner.run()).totals);
 * } finally {
 *   await replay.close();
 * }
 * ```
 */
export async function startReplayServer(options: ReplayServerOptions): Promise<ReplayServer> {
  if (!options.recording && options.dir === undefined) throw new TypeError('startReplayServer: give `dir` (a recording directory) or `recording`');
  const recording = options.recording ?? (await readRecording(options.dir!));
  const matcher = new RequestMatcher(options.secrets ?? []);
  const scrubList = prepareSecrets(options.secrets ?? []);
  const safe = (url: string): string => scrubPrepared(redactUrl(url), scrubList);
  const matchTimes = options.matchTimes ?? true;
  const log = options.logger;

  type Entry = LoadedRecording['exchanges'][number];
  const exact = new Map<string, Entry[]>();
  const loose = new Map<string, Entry[]>();
  const looseTimes = new Map<Entry, number[]>();
  const bestKey = (list: Entry[] | undefined): string => (list && list[0] ? String(list[0].id) : '');
  for (const x of recording.exchanges) {
    let keys;
    try {
      keys = matcher.keys(x.method, x.url);
    } catch {
      continue; // readRecording checked the URL; a URL that still does not parse never matches
    }
    push(exact, keys.exact, x);
    push(loose, keys.loose, x);
    looseTimes.set(x, keys.times);
  }
  const served = new Map<string, number>();
  const misses: ReplayMiss[] = [];
  let count = 0;

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    void readBody(req)
      .catch(() => Buffer.alloc(0))
      .then(() => {
        const method = (req.method ?? 'GET').toUpperCase();
        const target = targetOf(req.url ?? '/');
        if (!target) {
          send(res, 400, {
            error: `replay server: expected a request path of the form /<scheme>/<host>/<path> (route requests here with rewriteOrigin ${rewriteTemplate('http://127.0.0.1:<port>')}), got ${req.url}`,
          });
          return;
        }
        let keys;
        try {
          keys = matcher.keys(method, target);
        } catch {
          send(res, 400, { error: `replay server: not a valid URL: ${safe(target)}` });
          return;
        }
        let list = exact.get(keys.exact);
        let seqKey = `e ${keys.exact}`;
        if (!list && matchTimes) {
          const candidates = loose.get(keys.loose);
          if (candidates) {
            // The recording whose dates and times are closest to this request's (same window span first).
            let best = candidates[0]!;
            let bestDistance = Number.POSITIVE_INFINITY;
            for (const c of candidates) {
              const d = timeDistance(keys.times, looseTimes.get(c) ?? []);
              if (d < bestDistance) [best, bestDistance] = [c, d];
            }
            list = candidates.filter((c) => timeDistance(keys.times, looseTimes.get(c) ?? []) === bestDistance);
            if (list.length === 0) list = [best];
          }
          seqKey = `l ${keys.loose} ${bestKey(list)}`;
        }
        if (!list) {
          const url = safe(target);
          misses.push({ method, url });
          log?.warn({ method, url, recording: recording.dir }, `replay: no recorded response for ${method} ${url} in ${recording.dir}`);
          send(res, 404, {
            error: `no recorded response for ${method} ${url} in the recording ${recording.dir}; record it with: tributary record <pipeline.yaml> --to ${recording.dir}`,
          });
          return;
        }
        const n = served.get(seqKey) ?? 0;
        served.set(seqKey, n + 1);
        const x = list[Math.min(n, list.length - 1)]!;
        count++;
        log?.debug({ method, url: safe(target), exchange: x.id, status: x.status }, 'replay: served');
        const headers: Record<string, string | number> = { ...x.headers, 'content-length': x.body.length };
        res.writeHead(x.status, headers);
        res.end(x.body);
      });
  };

  const server = await listen(handler, options.host, options.port);
  return {
    url: server.url,
    rewriteOrigin: rewriteTemplate(server.url),
    dir: recording.dir,
    get served() {
      return count;
    },
    misses,
    close: () => server.close(),
  };
}

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
