/**
 * The recorder: a loopback proxy that forwards a pipeline's requests to the real APIs and keeps
 * every exchange, with secrets stripped, for `tributary record`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { REDACTED, SensitiveNames, prepareSecrets, redactUrl, scrubPrepared } from '../http/redact.js';
import { RECORDED_RESPONSE_HEADERS, writeRecording, type ExchangeData, type RecordingIndex } from './format.js';
import { listen, readBody, rewriteTemplate, targetOf } from './route.js';

/** Request headers never recorded nor forwarded as they are: they belong to one connection. */
const HOP_HEADERS = new Set(['host', 'connection', 'keep-alive', 'content-length', 'transfer-encoding', 'accept-encoding', 'upgrade', 'te', 'trailer', 'proxy-connection']);

/**
 * Options of {@link startRecorder}.
 *
 * @example
 * ```ts
 * import { startRecorder } from '@tributary/core';
 * const recorder = await startRecorder({ secrets: [process.env.EIA_API_KEY] });
 * ```
 */
export interface RecorderOptions {
  /**
   * Secret values (the pipeline's `secrets`) to strip from recorded URLs, headers and bodies. The
   * values of sensitive query parameters and headers seen in the requests (`api_key=…`,
   * `Authorization`) are stripped too, even when they are not listed here. Default: none.
   */
  secrets?: readonly (string | undefined | null)[];
  /**
   * Where a request really goes: receives the URL the plugin asked for and returns the URL to
   * fetch. The exchange is recorded under the URL the plugin asked for. Used to build recordings
   * from a stub server that imitates an API. Default: the URL itself.
   */
  upstream?: (url: URL) => string | URL;
  /** Limit in ms on one forwarded request. Default 60 000. */
  timeoutMs?: number;
  /** Address to listen on. Default `'127.0.0.1'`. */
  host?: string;
  /** Port to listen on. Default `0` (a free port). */
  port?: number;
}

/**
 * A running recorder (see {@link startRecorder}).
 *
 * @example
 * ```ts
 * import { startRecorder } from '@tributary/core';
 * const recorder = await startRecorder({});
 * // ... run a pipeline with rewriteOrigin: recorder.rewriteOrigin ...
 * await recorder.save('fixtures', { pipeline: 'energy-hub' });
 * await recorder.close();
 * ```
 */
export interface Recorder {
  /** Origin of the proxy, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** The `rewriteOrigin` that routes a pipeline's requests through the proxy: `<url>/{scheme}/{host}`. */
  readonly rewriteOrigin: string;
  /** The exchanges recorded so far, in the order they completed, with secrets stripped. */
  exchanges(): ExchangeData[];
  /** Requests that could not be forwarded (network errors), secrets stripped. They are not recorded. */
  readonly failures: readonly { method: string; url: string; error: string }[];
  /** Writes the recording to `dir` (see `writeRecording`) and returns its index. */
  save(dir: string, meta?: { pipeline?: string; note?: string }): Promise<RecordingIndex>;
  /** Stops the proxy and closes its connections. */
  close(): Promise<void>;
}

interface RawExchange {
  method: string;
  url: string;
  requestHeaders: Record<string, string>;
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * Starts a recording proxy on a loopback port.
 *
 * Requests arrive as `/<scheme>/<host>/<path>?<query>` (route a pipeline here with the recorder's
 * `rewriteOrigin`), are forwarded to `<scheme>://<host>/<path>?<query>` (or where `upstream`
 * says), and the answer is passed back with its status, body and the headers a recording keeps
 * (`Content-Type`, `Retry-After`, `Link`), so the live run sees exactly what a replay will serve.
 * Each exchange is kept: method, URL, request headers, status, those response headers and the
 * body (decompressed). Secrets are stripped when the exchanges are read or saved: values of
 * sensitive query parameters become `***`, sensitive headers are dropped, and every secret value
 * (given, or seen in a sensitive parameter or header) is replaced by `***` in URLs, headers and
 * bodies. A request that cannot be forwarded gets a 502 and is not recorded.
 *
 * @param options - Secrets, upstream mapping, limits; see {@link RecorderOptions}.
 *
 * @example
 * ```ts
 * import { loadPipeline, resolvePipeline, PipelineRunner, startRecorder } from '@tributary/core';
 *
 * const { config, plugins } = await resolvePipeline(await loadPipeline('pipeline.yaml'));
 * const recorder = await startRecorder({ secrets: config.secrets });
 * try {
 *   await new PipelineRunner({ pipeline: config, plugins, once: true, rewriteOrigin: recorder.rewriteOrigin }).run();
 *   await recorder.save('fixtures', { pipeline: config.name });
 * } finally {
 *   await recorder.close();
 * }
 * ```
 */
export async function startRecorder(options: RecorderOptions = {}): Promise<Recorder> {
  const names = new SensitiveNames();
  const seen = new Set<string>();
  const raw: RawExchange[] = [];
  const failures: { method: string; url: string; error: string }[] = [];
  const timeoutMs = options.timeoutMs ?? 60_000;

  const scrubber = (): ((text: string) => string) => {
    const list = prepareSecrets([...(options.secrets ?? []), ...seen]);
    return (text) => scrubPrepared(text, list);
  };
  const cleanUrl = (url: string, scrub: (t: string) => string): string => scrub(redactUrl(url));
  const cleanLink = (value: string, scrub: (t: string) => string): string => scrub(value.replace(/<([^>]*)>/g, (_, u: string) => `<${redactUrl(u)}>`));

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    void (async () => {
      const method = (req.method ?? 'GET').toUpperCase();
      const body = await readBody(req).catch(() => Buffer.alloc(0));
      const target = targetOf(req.url ?? '/');
      if (!target) {
        send(res, 400, { error: `recorder: expected a request path of the form /<scheme>/<host>/<path>, got ${req.url}` });
        return;
      }
      const requestHeaders: Record<string, string> = {};
      const forward: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers)) {
        if (value === undefined || HOP_HEADERS.has(name)) continue;
        const v = Array.isArray(value) ? value.join(', ') : value;
        forward[name] = v;
        if (names.has(name)) remember(seen, name === 'authorization' || name === 'proxy-authorization' ? v.replace(/^\S+\s+/, '') : v, v);
        else requestHeaders[name] = v;
      }
      let upstreamUrl: string;
      try {
        const url = new URL(target);
        for (const [name, value] of url.searchParams) if (names.has(name) && value !== REDACTED) remember(seen, value);
        upstreamUrl = String(options.upstream ? options.upstream(url) : url);
      } catch (err) {
        send(res, 400, { error: `recorder: not a valid URL: ${cleanUrl(target, scrubber())} (${(err as Error).message})` });
        return;
      }
      const controller = new AbortController();
      const onClose = (): void => {
        if (!res.writableFinished) controller.abort();
      };
      res.on('close', onClose);
      const timer = setTimeout(() => controller.abort(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      try {
        const answer = await fetch(upstreamUrl, {
          method,
          headers: forward,
          ...(body.length > 0 && method !== 'GET' && method !== 'HEAD' ? { body } : {}),
          redirect: 'follow',
          signal: controller.signal,
        });
        const bytes = Buffer.from(await answer.arrayBuffer());
        const headers: Record<string, string> = {};
        for (const name of RECORDED_RESPONSE_HEADERS) {
          const v = answer.headers.get(name);
          if (v !== null) headers[name] = v;
        }
        raw.push({ method, url: target, requestHeaders, status: answer.status, headers, body: bytes });
        res.writeHead(answer.status, { ...headers, 'content-length': bytes.length });
        res.end(bytes);
      } catch (err) {
        if (res.destroyed) return;
        const scrub = scrubber();
        const cause = (err as { cause?: { code?: string; message?: string } }).cause;
        const reason = scrub(`${(err as Error).message}${cause?.code ? ` (${cause.code})` : cause?.message ? ` (${cause.message})` : ''}`);
        const url = cleanUrl(target, scrub);
        failures.push({ method, url, error: reason });
        send(res, 502, { error: `recorder: cannot reach ${url}: ${reason}` });
      } finally {
        clearTimeout(timer);
        res.off('close', onClose);
      }
    })();
  };

  const server = await listen(handler, options.host, options.port);
  const exchanges = (): ExchangeData[] => {
    const scrub = scrubber();
    return raw.map((x) => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(x.headers)) headers[k] = k === 'link' ? cleanLink(v, scrub) : scrub(v);
      const requestHeaders: Record<string, string> = {};
      for (const [k, v] of Object.entries(x.requestHeaders)) requestHeaders[k] = scrub(v);
      const text = x.body.toString('utf8');
      const textual = Buffer.from(text, 'utf8').equals(x.body);
      let body = x.body;
      if (textual) {
        const scrubbed = scrub(text);
        if (scrubbed !== text) body = Buffer.from(scrubbed, 'utf8');
      }
      return { method: x.method, url: cleanUrl(x.url, scrub), requestHeaders, status: x.status, headers, body };
    });
  };
  return {
    url: server.url,
    rewriteOrigin: rewriteTemplate(server.url),
    exchanges,
    failures,
    save: (dir, meta = {}) => writeRecording(dir, { exchanges: exchanges(), ...meta }),
    close: () => server.close(),
  };
}

/** Keeps secret values seen in requests (whole, and a bearer token without its scheme). */
function remember(seen: Set<string>, ...values: string[]): void {
  for (const v of values) if (v.length > 0 && v !== REDACTED) seen.add(v);
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
