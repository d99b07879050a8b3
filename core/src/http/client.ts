/**
 * The HTTP client that Tributary hands to collector plugins: pooled keep-alive connections,
 * connect/read/total timeouts, a body size limit, typed errors that name the source and the
 * (redacted) URL, and optional Prometheus metrics.
 */
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import fetch from 'node-fetch';
import type { Headers, Response } from 'node-fetch';
import { Observable } from 'rxjs';
import type { Counter, Histogram, Registry } from 'prom-client';
import { HttpError, parseRetryAfter } from '../errors/HttpError.js';
import { NetworkError } from '../errors/NetworkError.js';
import { ResponseError } from '../errors/ResponseError.js';
import { TimeoutError } from '../errors/TimeoutError.js';
import { NonRetriableError, isTributaryError } from '../errors/TributaryError.js';
import { DURATION_BUCKETS, counter, histogram } from '../observability/metrics.js';
import { CONNECT_TIMEOUT_CODE, createAgents } from './agent.js';
import type { SocketWatcher, WatchedHttpAgent, WatchedHttpsAgent } from './agent.js';
import { SensitiveNames, prepareSecrets, redactUrlWith, scrubPrepared } from './redact.js';

/**
 * Default `User-Agent` header of {@link HttpClient}.
 *
 * @example
 * ```ts
 * import { DEFAULT_USER_AGENT, HttpClient } from '@tributary/core';
 * const http = new HttpClient({ userAgent: `${DEFAULT_USER_AGENT} (+ops@example.com)` });
 * ```
 */
export const DEFAULT_USER_AGENT = 'tributary';

/**
 * Default largest accepted response body of {@link HttpClient}: 20 MiB.
 *
 * @example
 * ```ts
 * import { DEFAULT_MAX_BODY_BYTES, HttpClient } from '@tributary/core';
 * const http = new HttpClient({ maxBodyBytes: 4 * DEFAULT_MAX_BODY_BYTES }); // a bulk download
 * ```
 */
export const DEFAULT_MAX_BODY_BYTES = 20 * 1024 * 1024;

/** How much of an error response's body is read (the rest is dropped with the connection). */
const ERROR_BODY_LIMIT = 64 * 1024;
/** Length of the body excerpt kept on an {@link HttpError}. */
const ERROR_BODY_EXCERPT = 512;
/** Length of the body excerpt shown in the message of a bad-JSON error. */
const MESSAGE_BODY_EXCERPT = 160;

const EMPTY: unique symbol = Symbol('tributary.http.empty');
const EMPTY_BUFFER = Buffer.alloc(0);
const noop = (): void => {};

/**
 * The logger the client writes to: any object with pino's `debug(obj, msg)` (a pino logger fits).
 *
 * The client writes one `debug` line per request: `{ source, method, url, status, durationMs,
 * bytes }` with message `http request`, or with an `err: { code, message }` and message
 * `http request failed`. URLs are redacted and messages scrubbed.
 *
 * @example
 * ```ts
 * import pino from 'pino';
 * import { HttpClient } from '@tributary/core';
 * const http = new HttpClient({ source: 'eia', logger: pino({ level: 'debug' }).child({ source: 'eia' }) });
 * ```
 */
export interface HttpClientLogger {
  debug(obj: Record<string, unknown>, msg?: string): void;
  /** When present (pino has it), lines are only built when `debug` is enabled. */
  isLevelEnabled?(level: string): boolean;
}

/**
 * Options of {@link HttpClient}. Every option has a default; `new HttpClient()` works.
 *
 * @example
 * ```ts
 * import { HttpClient } from '@tributary/core';
 * const http = new HttpClient({
 *   source: 'entsoe',
 *   maxSockets: 4,
 *   connectTimeout: 5_000,
 *   readTimeout: 60_000,
 *   maxBodyBytes: 50 * 1024 * 1024,
 *   secrets: [process.env.ENTSOE_TOKEN],
 * });
 * ```
 */
export interface HttpClientOptions {
  /** Name of the source that makes the calls; it appears in errors, log lines and metric labels. Default: none. */
  source?: string;
  /** Base URL that relative request URLs are resolved against. Default: none (URLs must be absolute). */
  baseUrl?: string | URL;
  /** `User-Agent` header. Default `'tributary'`. */
  userAgent?: string;
  /** Headers sent with every request (per-request headers win). Default: none. */
  defaultHeaders?: Readonly<Record<string, string>>;
  /** Most connections open at once to one host (`host:port`); further requests wait for a free one. Default 8. */
  maxSockets?: number;
  /** Most idle keep-alive connections kept per host. Default: `maxSockets`. */
  maxFreeSockets?: number;
  /** An idle keep-alive connection is closed after this many ms (0 = when the server closes it). Default 4000 (below the 5 s that Node servers keep idle connections). */
  freeSocketTimeout?: number;
  /** Limit in ms on opening a new connection: DNS lookup + TCP connect + TLS handshake. 0 = none. Default 10 000. */
  connectTimeout?: number;
  /**
   * Limit in ms on waiting for data once connected: from the moment the request has its
   * connection to the response headers, and then between two chunks of the body. A server that
   * keeps sending never hits it (see `totalTimeout`). 0 = none. Default 30 000.
   */
  readTimeout?: number;
  /** Limit in ms on the whole request, from the call to the last byte of the body, waiting for a free connection included. 0 = none. Default 0. */
  totalTimeout?: number;
  /** Largest accepted response body in bytes, after decompression. Default 20 MiB (20 971 520). */
  maxBodyBytes?: number;
  /** Redirects followed before the request fails. Default 5. */
  maxRedirects?: number;
  /** Ask for gzip/deflate/brotli and decompress. Default `true`. */
  compress?: boolean;
  /** Longest `Retry-After` (in ms) reported on an {@link HttpError}; longer values are cut to it. Default 600 000 (10 min). */
  retryAfterCap?: number;
  /** Extra query-parameter and header names whose values are redacted, on top of `DEFAULT_REDACT_NAMES`. Default: none. */
  redact?: readonly string[];
  /** Literal secret values (API keys, passwords) scrubbed from every message; `undefined` entries are skipped. Default: none. */
  secrets?: readonly (string | undefined | null)[];
  /** Logger for one `debug` line per request. Default: none. */
  logger?: HttpClientLogger;
  /** prom-client registry for `tributary_http_requests_total` and `tributary_http_request_duration_seconds`. Default: none (no metrics). */
  metrics?: Registry;
}

/**
 * A query-string value; `null` and `undefined` are left out, arrays repeat the parameter, dates
 * become ISO strings, everything else goes through `String()`.
 *
 * @example
 * ```ts
 * import { HttpClient, type QueryValue } from '@tributary/core';
 * const query: Record<string, QueryValue | QueryValue[]> = { start: new Date(), ids: [1, 2], page: undefined };
 * await new HttpClient().getJson('https://api.example.com/x', { query }); // ?start=2025-...Z&ids=1&ids=2
 * ```
 */
export type QueryValue = string | number | boolean | bigint | Date | null | undefined;

/**
 * Which statuses count as success: one status, a list, or a predicate.
 *
 * @example
 * ```ts
 * import { HttpClient } from '@tributary/core';
 * await new HttpClient().get('https://api.example.com/jobs', { expectStatus: [200, 202] });
 * ```
 */
export type ExpectStatus = number | readonly number[] | ((status: number) => boolean);

/**
 * Options of one request (all optional). Timeouts and the size limit override the client's.
 *
 * @example
 * ```ts
 * import { HttpClient } from '@tributary/core';
 * await new HttpClient().getJson('https://api.example.com/v1/prices', {
 *   query: { day: '2025-01-01', api_key: process.env.API_KEY },
 *   headers: { 'x-request-id': '42' },
 *   readTimeout: 5_000,
 *   emptyOn: [404],
 * });
 * ```
 */
export interface HttpRequestOptions {
  /** HTTP method. Default `'GET'`, or `'POST'` when `body` or `json` is given. */
  method?: string;
  /** Query parameters appended to the URL's own. */
  query?: Readonly<Record<string, QueryValue | readonly QueryValue[]>>;
  /** Request headers (names are case-insensitive; `undefined` values are left out). */
  headers?: Readonly<Record<string, string | undefined>>;
  /** Raw request body. */
  body?: string | Buffer | Uint8Array | URLSearchParams;
  /** A value sent as JSON (sets `Content-Type: application/json` unless given). */
  json?: unknown;
  /** Aborts the request. The Promise forms reject with `signal.reason`. */
  signal?: AbortSignal;
  /** Statuses that count as success. Default: 200–299. Others fail with {@link HttpError}. */
  expectStatus?: ExpectStatus;
  /**
   * Statuses that mean "no data" rather than failure, e.g. `[404]`: the Observable completes
   * without a value and the Promise resolves `undefined`. Default: none.
   */
  emptyOn?: readonly number[];
  /** Overrides the client's `connectTimeout` for this request. */
  connectTimeout?: number;
  /** Overrides the client's `readTimeout` for this request. */
  readTimeout?: number;
  /** Overrides the client's `totalTimeout` for this request. */
  totalTimeout?: number;
  /** Overrides the client's `maxBodyBytes` for this request. */
  maxBodyBytes?: number;
  /** Overrides the client's `source` for this request (errors, logs, metric label). */
  source?: string;
}

/**
 * A request for {@link HttpClient.request$} and {@link HttpClient.request}: options plus the URL.
 *
 * @example
 * ```ts
 * import { HttpClient, type HttpRequest } from '@tributary/core';
 * const req: HttpRequest = { url: 'https://api.example.com/q', method: 'POST', json: { q: 'load' } };
 * const res = await new HttpClient().request(req);
 * ```
 */
export interface HttpRequest extends HttpRequestOptions {
  /** Absolute URL, or relative to the client's `baseUrl`. */
  url: string | URL;
}

/**
 * Request options with `emptyOn` set: the Promise forms then resolve `T | undefined`.
 *
 * @example
 * ```ts
 * import { HttpClient, type WithEmptyOn } from '@tributary/core';
 * const opts: WithEmptyOn = { emptyOn: [404] };
 * const station = await new HttpClient().getJson<{ id: string }>('https://api.example.com/stations/7', opts); // { id } | undefined
 * ```
 */
export type WithEmptyOn = HttpRequestOptions & { emptyOn: readonly number[] };

/**
 * A response whose body has been read in full (within `maxBodyBytes`).
 *
 * @example
 * ```ts
 * import { HttpClient } from '@tributary/core';
 * const res = await new HttpClient().get('https://api.example.com/export.csv');
 * console.log(res.status, res.headers.get('etag'), res.text().split('\n').length);
 * ```
 */
export interface HttpResponse {
  /** HTTP status code. */
  readonly status: number;
  /** HTTP status text. */
  readonly statusText: string;
  /** The requested URL with secrets redacted (safe to log). */
  readonly url: string;
  /** Response headers. */
  readonly headers: Headers;
  /** The body bytes (decompressed). */
  readonly body: Buffer;
  /** The body decoded as text (charset from `Content-Type`, default UTF-8). */
  text(): string;
  /** The body parsed as JSON; throws a {@link ResponseError} (`ERR_BAD_JSON`) when it is not JSON. */
  json<T = unknown>(): T;
}

type Mode = 'response' | 'text' | 'json';

interface Settings {
  readonly source: string | undefined;
  readonly names: SensitiveNames;
  readonly secrets: readonly string[];
  readonly headers: Readonly<Record<string, string>>;
  readonly connectTimeout: number;
  readonly readTimeout: number;
  readonly totalTimeout: number;
  readonly maxBodyBytes: number;
  readonly maxRedirects: number;
  readonly compress: boolean;
  readonly retryAfterCap: number;
  readonly agents: { http: WatchedHttpAgent; https: WatchedHttpsAgent };
  /** Picks the agent per hop, so a redirect from http: to https: (or back) gets the right one. */
  readonly agentFor: (url: URL) => WatchedHttpAgent | WatchedHttpsAgent;
  readonly logger: HttpClientLogger | undefined;
  readonly requests: Counter<'source' | 'host' | 'status'> | undefined;
  readonly duration: Histogram<'source' | 'host'> | undefined;
}

/**
 * The HTTP client handed to collector plugins.
 *
 * Built on node-fetch with one pair of keep-alive agents (http and https) per client, at most
 * `maxSockets` connections per host. Every call has three limits: `connectTimeout` (opening a
 * connection), `readTimeout` (no data received for that long) and, if set, `totalTimeout`;
 * and a body size limit, `maxBodyBytes`, enforced while the body streams in.
 *
 * Calls come in two forms with the same options. The `$` forms (`get$`, `getJson$`,
 * `getText$`, `request$`) return cold Observables: each subscription makes one request, and
 * unsubscribing aborts it; they fit the resilience operators (`retryBackoff` resubscribes).
 * The Promise forms (`get`, `getJson`, `getText`, `request`) suit async/await plugin code and
 * take an `AbortSignal` (`ctx.signal`).
 *
 * Failures are typed and name the source and the URL, with secrets redacted:
 * {@link HttpError} for a status that is not a success (`status`, `retryAfterMs`, the start of
 * the body); {@link ResponseError} for an unusable body (`ERR_BAD_JSON`, `ERR_BODY_TOO_LARGE`,
 * `ERR_BODY_TRUNCATED`); `NetworkError` (`ERR_NETWORK`) for refused/reset connections and DNS
 * failures; {@link TimeoutError} for timeouts. Values of sensitive query parameters and
 * headers (`api_key`, `token`, `Authorization`, ...; see `DEFAULT_REDACT_NAMES`) and the
 * literal `secrets` never appear in a message, a log line or a metric.
 *
 * Call {@link HttpClient.destroy} when done, so that idle connections close.
 *
 * @example
 * ```ts
 * import { HttpClient } from '@tributary/core';
 *
 * const http = new HttpClient({ source: 'eia', secrets: [process.env.EIA_API_KEY], readTimeout: 15_000 });
 * const data = await http.getJson<{ response: { data: unknown[] } }>('https://api.eia.gov/v2/electricity/rto/region-data/data/', {
 *   query: { api_key: process.env.EIA_API_KEY, frequency: 'hourly' },
 * });
 * http.getJson$('https://api.example.com/prices', { emptyOn: [404] }).subscribe(console.log);
 * http.destroy();
 * ```
 */
export class HttpClient {
  /** The default source name of this client's calls. */
  readonly source: string | undefined;
  private readonly settings: Settings;
  private readonly baseUrl: string | undefined;
  private destroyed = false;

  constructor(options: HttpClientOptions = {}) {
    const maxSockets = positiveInt('maxSockets', options.maxSockets, 8);
    const maxFreeSockets = positiveInt('maxFreeSockets', options.maxFreeSockets, maxSockets);
    const connectTimeout = nonNegative('connectTimeout', options.connectTimeout, 10_000);
    const headers: Record<string, string> = { 'user-agent': options.userAgent ?? DEFAULT_USER_AGENT };
    for (const [k, v] of Object.entries(options.defaultHeaders ?? {})) {
      if (typeof v === 'string') headers[k.toLowerCase()] = v;
    }
    const registry = options.metrics;
    const agents = createAgents({
      maxSockets,
      maxFreeSockets,
      freeSocketTimeout: nonNegative('freeSocketTimeout', options.freeSocketTimeout, 4_000),
      connectTimeout,
    });
    this.source = options.source;
    this.baseUrl = options.baseUrl === undefined ? undefined : String(options.baseUrl);
    if (this.baseUrl !== undefined && !URL.canParse(this.baseUrl)) {
      throw new TypeError(`HttpClient: baseUrl is not an absolute URL: "${redactUrlWith(this.baseUrl, new SensitiveNames(options.redact))}"`);
    }
    this.settings = {
      source: options.source,
      names: new SensitiveNames(options.redact),
      secrets: prepareSecrets(options.secrets ?? []),
      headers,
      connectTimeout,
      readTimeout: nonNegative('readTimeout', options.readTimeout, 30_000),
      totalTimeout: nonNegative('totalTimeout', options.totalTimeout, 0),
      maxBodyBytes: positiveInt('maxBodyBytes', options.maxBodyBytes, DEFAULT_MAX_BODY_BYTES),
      maxRedirects: nonNegative('maxRedirects', options.maxRedirects, 5),
      compress: options.compress ?? true,
      retryAfterCap: nonNegative('retryAfterCap', options.retryAfterCap, 600_000),
      agents,
      agentFor: (url) => (url.protocol === 'https:' ? agents.https : agents.http),
      logger: options.logger,
      requests: registry
        ? counter(registry, {
            name: 'tributary_http_requests_total',
            help: 'HTTP requests made by the Tributary HTTP client, by source, host and status (a code, or error/timeout/aborted).',
            labelNames: ['source', 'host', 'status'] as const,
          })
        : undefined,
      duration: registry
        ? histogram(registry, {
            name: 'tributary_http_request_duration_seconds',
            help: 'Duration of HTTP requests made by the Tributary HTTP client, until the body is read, by source and host.',
            labelNames: ['source', 'host'] as const,
            buckets: DURATION_BUCKETS,
          })
        : undefined,
    };
  }

  /**
   * A cold Observable of one request: emits the {@link HttpResponse} and completes.
   *
   * @example
   * ```ts
   * import { HttpClient } from '@tributary/core';
   * const http = new HttpClient({ source: 'prices' });
   * http.request$({ url: 'https://api.example.com/q', method: 'POST', json: { day: '2025-01-01' } })
   *   .subscribe((res) => console.log(res.status, res.json()));
   * ```
   */
  request$(request: HttpRequest): Observable<HttpResponse> {
    return this.observe<HttpResponse>(request.url, request, 'response');
  }

  /**
   * A cold Observable of one GET (or `options.method`) request: emits the {@link HttpResponse}.
   *
   * @example
   * ```ts
   * import { HttpClient } from '@tributary/core';
   * new HttpClient().get$('https://example.com/data.csv').subscribe((res) => console.log(res.text()));
   * ```
   */
  get$(url: string | URL, options?: HttpRequestOptions): Observable<HttpResponse> {
    return this.observe<HttpResponse>(url, options, 'response');
  }

  /**
   * A cold Observable of one request whose body is parsed as JSON. Sends
   * `Accept: application/json` unless told otherwise.
   *
   * @example
   * ```ts
   * import { HttpClient } from '@tributary/core';
   * const http = new HttpClient({ source: 'air' });
   * http.getJson$<{ data: { aqi: number } }>('https://api.waqi.info/feed/here/', { query: { token: process.env.WAQI_TOKEN } })
   *   .subscribe((r) => console.log(r.data.aqi));
   * ```
   */
  getJson$<T = unknown>(url: string | URL, options?: HttpRequestOptions): Observable<T> {
    return this.observe<T>(url, options, 'json');
  }

  /**
   * A cold Observable of one request whose body is decoded as text.
   *
   * @example
   * ```ts
   * import { HttpClient } from '@tributary/core';
   * new HttpClient().getText$('https://example.com/report.csv').subscribe((csv) => console.log(csv.length));
   * ```
   */
  getText$(url: string | URL, options?: HttpRequestOptions): Observable<string> {
    return this.observe<string>(url, options, 'text');
  }

  /**
   * One request as a Promise of the {@link HttpResponse}.
   *
   * @example
   * ```ts
   * import { HttpClient } from '@tributary/core';
   * const res = await new HttpClient().request({ url: 'https://api.example.com/q', method: 'POST', json: { q: 1 } });
   * ```
   */
  request(request: HttpRequest & WithEmptyOn): Promise<HttpResponse | undefined>;
  request(request: HttpRequest): Promise<HttpResponse>;
  request(request: HttpRequest): Promise<HttpResponse | undefined> {
    return this.exec(request.url, request, 'response') as Promise<HttpResponse | undefined>;
  }

  /**
   * One GET (or `options.method`) request as a Promise of the {@link HttpResponse}.
   *
   * @example
   * ```ts
   * import { HttpClient } from '@tributary/core';
   * const res = await new HttpClient().get('https://example.com/data.csv');
   * console.log(res.headers.get('content-type'));
   * ```
   */
  get(url: string | URL, options: WithEmptyOn): Promise<HttpResponse | undefined>;
  get(url: string | URL, options?: HttpRequestOptions): Promise<HttpResponse>;
  get(url: string | URL, options?: HttpRequestOptions): Promise<HttpResponse | undefined> {
    return this.exec(url, options, 'response') as Promise<HttpResponse | undefined>;
  }

  /**
   * One request whose body is parsed as JSON, as a Promise; pass `ctx.signal` to abort it.
   *
   * @example
   * ```ts
   * import { HttpClient } from '@tributary/core';
   * const http = new HttpClient({ source: 'weather' });
   * const w = await http.getJson<{ temp: number }>('https://api.example.com/w', { query: { city: 'Oslo' }, signal: AbortSignal.timeout(5000) });
   * const maybe = await http.getJson('https://api.example.com/w/42', { emptyOn: [404] }); // undefined on 404
   * ```
   */
  getJson<T = unknown>(url: string | URL, options: WithEmptyOn): Promise<T | undefined>;
  getJson<T = unknown>(url: string | URL, options?: HttpRequestOptions): Promise<T>;
  getJson<T = unknown>(url: string | URL, options?: HttpRequestOptions): Promise<T | undefined> {
    return this.exec(url, options, 'json') as Promise<T | undefined>;
  }

  /**
   * One request whose body is decoded as text, as a Promise.
   *
   * @example
   * ```ts
   * import { HttpClient } from '@tributary/core';
   * const csv = await new HttpClient().getText('https://example.com/report.csv');
   * ```
   */
  getText(url: string | URL, options: WithEmptyOn): Promise<string | undefined>;
  getText(url: string | URL, options?: HttpRequestOptions): Promise<string>;
  getText(url: string | URL, options?: HttpRequestOptions): Promise<string | undefined> {
    return this.exec(url, options, 'text') as Promise<string | undefined>;
  }

  /**
   * Closes the client's connections (idle and in use) so that the process can exit. Requests in
   * flight fail with a `NetworkError`; later calls fail with `ERR_CLIENT_DESTROYED`.
   *
   * @example
   * ```ts
   * import { HttpClient } from '@tributary/core';
   * const http = new HttpClient();
   * try { await http.getJson('https://api.example.com/x'); } finally { http.destroy(); }
   * ```
   */
  destroy(): void {
    this.destroyed = true;
    this.settings.agents.http.destroy();
    this.settings.agents.https.destroy();
  }

  private observe<T>(url: string | URL, options: HttpRequestOptions | undefined, mode: Mode): Observable<T> {
    return new Observable<T>((subscriber) => {
      let call: Call;
      try {
        call = this.start(url, options, mode);
      } catch (err) {
        subscriber.error(err);
        return undefined;
      }
      call.run().then(
        (value) => {
          if (value !== EMPTY) subscriber.next(value as T);
          subscriber.complete();
        },
        (err: unknown) => subscriber.error(err),
      );
      return () => call.cancel();
    });
  }

  private exec(url: string | URL, options: HttpRequestOptions | undefined, mode: Mode): Promise<unknown> {
    let call: Call;
    try {
      call = this.start(url, options, mode);
    } catch (err) {
      return Promise.reject(err);
    }
    return call.run().then((value) => (value === EMPTY ? undefined : value));
  }

  private start(input: string | URL, options: HttpRequestOptions = {}, mode: Mode): Call {
    const s = this.settings;
    const source = options.source ?? s.source;
    if (this.destroyed) {
      throw new NonRetriableError(`HTTP client${source ? ` of source "${source}"` : ''} was destroyed`, { code: 'ERR_CLIENT_DESTROYED' });
    }
    let url: URL;
    try {
      url = new URL(input, this.baseUrl);
    } catch {
      throw invalidRequest(source, `invalid URL "${scrubPrepared(redactUrlWith(String(input), s.names), s.secrets)}"`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw invalidRequest(source, `unsupported protocol "${url.protocol}" in ${scrubPrepared(redactUrlWith(url.href, s.names), s.secrets)}`);
    }
    if (options.query) appendQuery(url.searchParams, options.query);
    for (const name of ['connectTimeout', 'readTimeout', 'totalTimeout', 'maxBodyBytes'] as const) {
      const v = options[name];
      if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v) && (name === 'maxBodyBytes' ? v > 0 : v >= 0))) {
        throw invalidRequest(source, `request option ${name} must be a finite number ${name === 'maxBodyBytes' ? '> 0' : '>= 0 (0 = off)'}, got ${String(v)}`);
      }
    }

    const headers: Record<string, string> = { ...s.headers };
    if (mode === 'json' && headers['accept'] === undefined) headers['accept'] = 'application/json';
    let body: string | Buffer | Uint8Array | URLSearchParams | undefined = options.body;
    if (options.json !== undefined) {
      if (body !== undefined) throw invalidRequest(source, 'give either `body` or `json`, not both');
      body = JSON.stringify(options.json);
      headers['content-type'] = 'application/json';
    }
    if (options.headers) {
      for (const name in options.headers) {
        const v = options.headers[name];
        if (v !== undefined) headers[name.toLowerCase()] = v;
      }
    }
    const method = options.method ? options.method.toUpperCase() : body === undefined ? 'GET' : 'POST';
    if (body !== undefined && (method === 'GET' || method === 'HEAD')) {
      throw invalidRequest(source, `a ${method} request cannot have a body`);
    }
    return new Call(s, url, method, headers, body, options, mode, source);
  }
}

/** One request in flight: its timers, abort controller and error context. */
class Call implements SocketWatcher {
  readonly connectTimeout: number;
  private readonly controller = new AbortController();
  private readonly readTimeout: number;
  private readonly totalTimeout: number;
  private readonly maxBodyBytes: number;
  private readonly startedAt = performance.now();
  private readonly signal: AbortSignal | undefined;
  private readTimer: NodeJS.Timeout | undefined;
  private totalTimer: NodeJS.Timeout | undefined;
  /** The error that ends the call when we abort it ourselves (timeout, limit, caller abort). */
  private reason: unknown;
  private hasReason = false;
  private aborted = false;
  private timedOut = false;
  private settled = false;
  private status: number | undefined;
  private bytes = 0;
  private safeUrlCache: string | undefined;
  private secretsCache: string[] | undefined;

  constructor(
    private readonly s: Settings,
    private readonly url: URL,
    private readonly method: string,
    private readonly headers: Record<string, string>,
    private readonly body: string | Buffer | Uint8Array | URLSearchParams | undefined,
    private readonly options: HttpRequestOptions,
    private readonly mode: Mode,
    private readonly source: string | undefined,
  ) {
    this.connectTimeout = options.connectTimeout ?? s.connectTimeout;
    this.readTimeout = options.readTimeout ?? s.readTimeout;
    this.totalTimeout = options.totalTimeout ?? s.totalTimeout;
    this.maxBodyBytes = options.maxBodyBytes ?? s.maxBodyBytes;
    this.signal = options.signal;
  }

  /** Makes the request; resolves with the value for the mode, or {@link EMPTY}. */
  async run(): Promise<unknown> {
    try {
      if (this.signal) {
        if (this.signal.aborted) {
          this.aborted = true;
          this.setReason(abortReason(this.signal));
          throw this.reason;
        }
        this.signal.addEventListener('abort', this.onExternalAbort);
      }
      if (this.totalTimeout > 0) this.totalTimer = setTimeout(this.onTotalTimeout, this.totalTimeout);
      const value = await this.exchange();
      this.finish(undefined);
      return value;
    } catch (err) {
      const e = this.normalize(err);
      this.finish(e);
      throw e;
    }
  }

  /** Aborts the call on unsubscription; nothing is reported. */
  cancel(): void {
    if (this.settled) return;
    if (this.setReason(CANCELLED)) this.aborted = true;
    this.controller.abort();
  }

  onConnected(): void {
    if (this.readTimeout > 0 && !this.settled && this.readTimer === undefined) {
      this.readTimer = setTimeout(this.onReadTimeout, this.readTimeout);
    }
  }

  onConnectTimeout(ms: number): void {
    // The agent destroys the request right after this.
    if (this.setReason(new TimeoutError(`${this.prefix()}connect to ${this.url.host} for ${this.method} ${this.safeUrl()}`, ms))) {
      this.timedOut = true;
    }
  }

  private readonly onReadTimeout = (): void => {
    if (this.setReason(new TimeoutError(`${this.prefix()}read from ${this.method} ${this.safeUrl()}`, this.readTimeout))) this.timedOut = true;
    this.controller.abort();
  };

  private readonly onTotalTimeout = (): void => {
    if (this.setReason(new TimeoutError(`${this.prefix()}${this.method} ${this.safeUrl()}`, this.totalTimeout))) this.timedOut = true;
    this.controller.abort();
  };

  private readonly onExternalAbort = (): void => {
    if (this.setReason(abortReason(this.signal!))) this.aborted = true;
    this.controller.abort();
  };

  private async exchange(): Promise<unknown> {
    const s = this.s;
    const agent = this.url.protocol === 'https:' ? s.agents.https : s.agents.http;
    agent.pending = this;
    let pending: Promise<Response>;
    try {
      pending = fetch(this.url.href, {
        method: this.method,
        headers: this.headers,
        body: this.body as string | Buffer | URLSearchParams | undefined,
        signal: this.controller.signal,
        agent: s.agentFor,
        redirect: s.maxRedirects > 0 ? 'follow' : 'error',
        follow: s.maxRedirects,
        compress: s.compress,
      });
    } finally {
      agent.pending = undefined;
    }
    const res = await pending;
    this.readTimer?.refresh();
    (res.body as Readable | null)?.on('error', noop);
    const status = res.status;
    this.status = status;

    if (this.options.emptyOn?.includes(status)) {
      await this.readBody(res, Math.min(ERROR_BODY_LIMIT, this.maxBodyBytes), true);
      return EMPTY;
    }
    if (!isExpected(status, this.options.expectStatus)) {
      const buf = await this.readBody(res, Math.min(ERROR_BODY_LIMIT, this.maxBodyBytes), true);
      const retryAfter = parseRetryAfter(res.headers.get('retry-after'));
      throw new HttpError({
        status,
        url: this.safeUrl(),
        retryAfterMs: retryAfter === undefined ? undefined : Math.min(retryAfter, s.retryAfterCap),
        body: this.excerpt(buf, ERROR_BODY_EXCERPT, false),
        source: this.source,
      });
    }
    const declared = res.headers.get('content-length');
    if (declared !== null && Number(declared) > this.maxBodyBytes) {
      throw this.tooLarge(`Content-Length is ${declared}`);
    }
    const buf = await this.readBody(res, this.maxBodyBytes, false);
    switch (this.mode) {
      case 'json':
        return this.parseJson(buf, res.headers.get('content-type'), status);
      case 'text':
        return decodeText(buf, res.headers.get('content-type'));
      default:
        return new ClientResponse(this, res, buf);
    }
  }

  /** Reads the body up to `limit` bytes. `lenient` (error bodies): stop at the limit, ignore read errors. */
  private readBody(res: Response, limit: number, lenient: boolean): Promise<Buffer> {
    const body = res.body as Readable | null;
    if (!body) return Promise.resolve(EMPTY_BUFFER);
    return new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const stop = (): void => {
        body.removeListener('data', onData);
        body.removeListener('end', onEnd);
        body.removeListener('error', onError);
        body.removeListener('close', onClose);
      };
      const onData = (chunk: Buffer): void => {
        size += chunk.length;
        if (size > limit) {
          stop();
          if (lenient) {
            chunks.push(chunk.subarray(0, chunk.length - (size - limit)));
            this.controller.abort();
            resolve(Buffer.concat(chunks));
          } else {
            reject(this.tooLarge(`more than ${limit} bytes received`));
          }
          return;
        }
        chunks.push(chunk);
        this.readTimer?.refresh();
      };
      const onEnd = (): void => {
        stop();
        this.bytes = size;
        resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
      };
      const onError = (err: unknown): void => {
        stop();
        this.bytes = size;
        if (lenient && !this.hasReason) resolve(Buffer.concat(chunks, size));
        else reject(this.hasReason ? this.reason : this.truncated(err, size, res.headers.get('content-length')));
      };
      const onClose = (): void => {
        if (!body.readableEnded) onError(Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
      };
      body.on('data', onData);
      body.on('end', onEnd);
      body.on('error', onError);
      body.on('close', onClose);
    });
  }

  /** Parses JSON; a body that is not JSON becomes a ResponseError naming source and URL. */
  parseJson(buf: Buffer, contentType: string | null, status: number): unknown {
    if (buf.length === 0) {
      throw new ResponseError(`empty response body where JSON was expected (HTTP ${status}, content-type ${contentType ?? 'none'})`, {
        code: 'ERR_BAD_JSON',
        source: this.source,
        url: this.safeUrl(),
      });
    }
    let text = buf.toString('utf8');
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    try {
      return JSON.parse(text);
    } catch (err) {
      const reason = err instanceof Error ? this.sanitize(err.message) : 'unreadable';
      throw new ResponseError(
        `response is not valid JSON (HTTP ${status}, content-type ${contentType ?? 'none'}, ${buf.length} bytes): ${reason}; ` +
          `body starts with: ${JSON.stringify(this.excerpt(buf, MESSAGE_BODY_EXCERPT, true))}`,
        { code: 'ERR_BAD_JSON', source: this.source, url: this.safeUrl(), cause: this.sanitizeError(err) },
      );
    }
  }

  private tooLarge(detail: string): ResponseError {
    const err = new ResponseError(`response body exceeds the limit of ${this.maxBodyBytes} bytes (${detail})`, {
      code: 'ERR_BODY_TOO_LARGE',
      source: this.source,
      url: this.safeUrl(),
    });
    this.abortWith(err);
    return err;
  }

  private truncated(err: unknown, size: number, declared: string | null): ResponseError {
    const why = err instanceof Error ? this.sanitize(err.message) : 'stream ended';
    return new ResponseError(`response body ended early after ${size} bytes${declared ? ` of ${declared}` : ''}: ${why}`, {
      code: 'ERR_BODY_TRUNCATED',
      source: this.source,
      url: this.safeUrl(),
      cause: this.sanitizeError(err),
    });
  }

  /** Turns whatever ended the call into a Tributary error (or the caller's abort reason). */
  private normalize(err: unknown): unknown {
    if (this.hasReason) return this.reason;
    if (isTributaryError(err)) return err;
    const e = (err ?? {}) as { name?: string; type?: string; code?: unknown; message?: string };
    if (e.code === CONNECT_TIMEOUT_CODE) {
      // A redirect hop (the first hop's timeout sets the reason itself); node-fetch's FetchError
      // keeps only the code of our error, not the host.
      this.timedOut = true;
      return new TimeoutError(`${this.prefix()}connect for a redirect of ${this.method} ${this.safeUrl()}`, this.s.connectTimeout);
    }
    const message = typeof e.message === 'string' ? this.sanitize(e.message) : String(err);
    if (e.name === 'FetchError' && e.type === 'system') {
      const detail = message.includes('reason: ') ? message.slice(message.indexOf('reason: ') + 8) : message;
      return new NetworkError(`${this.method} failed: ${detail}`, {
        source: this.source,
        url: this.safeUrl(),
        reason: typeof e.code === 'string' ? e.code : undefined,
        cause: this.sanitizeError(err),
      });
    }
    if (e.name === 'FetchError') {
      return new ResponseError(`${this.method} failed (${e.type ?? 'fetch error'}): ${message}`, {
        source: this.source,
        url: this.safeUrl(),
        cause: this.sanitizeError(err),
      });
    }
    return new NonRetriableError(`${this.prefix()}invalid request ${this.method} ${this.safeUrl()}: ${message}`, {
      code: 'ERR_INVALID_REQUEST',
      cause: this.sanitizeError(err),
    });
  }

  /** Records what ends the call, unless something already did; true when this reason won. */
  private setReason(reason: unknown): boolean {
    if (this.hasReason) return false;
    this.hasReason = true;
    this.reason = reason;
    return true;
  }

  private abortWith(reason: unknown): void {
    this.setReason(reason);
    this.controller.abort();
  }

  private finish(err: unknown): void {
    this.settled = true;
    if (this.readTimer !== undefined) clearTimeout(this.readTimer);
    if (this.totalTimer !== undefined) clearTimeout(this.totalTimer);
    this.signal?.removeEventListener('abort', this.onExternalAbort);
    const s = this.s;
    if (s.requests === undefined && s.logger === undefined) return;
    const outcome = this.timedOut ? 'timeout' : this.aborted ? 'aborted' : this.status !== undefined ? String(this.status) : 'error';
    const seconds = (performance.now() - this.startedAt) / 1000;
    if (s.requests !== undefined) {
      const source = this.source ?? '';
      const host = this.url.host;
      s.requests.inc({ source, host, status: outcome });
      s.duration?.observe({ source, host }, seconds);
    }
    const logger = s.logger;
    if (logger !== undefined && (logger.isLevelEnabled === undefined || logger.isLevelEnabled('debug'))) {
      const line: Record<string, unknown> = {
        source: this.source,
        method: this.method,
        url: this.safeUrl(),
        status: outcome,
        durationMs: Math.round(seconds * 1000),
        bytes: this.bytes,
      };
      if (err !== undefined && err !== CANCELLED) {
        const e = err as { code?: unknown; message?: unknown };
        line['err'] = { code: e.code, message: this.sanitize(String(e.message ?? err)) };
      }
      logger.debug(line, err === undefined ? 'http request' : 'http request failed');
    }
  }

  private prefix(): string {
    return this.source ? `source "${this.source}": ` : '';
  }

  /** The URL with sensitive parameters redacted and literal secrets scrubbed. */
  safeUrl(): string {
    return (this.safeUrlCache ??= scrubPrepared(redactUrlWith(this.url.href, this.s.names), this.s.secrets));
  }

  /** Every secret this call knows: configured ones, sensitive query values, sensitive header values. */
  private secrets(): string[] {
    if (this.secretsCache) return this.secretsCache;
    const names = this.s.names;
    const found: string[] = [...this.s.secrets];
    for (const [k, v] of this.url.searchParams) if (names.has(k)) found.push(v);
    for (const k in this.headers) {
      if (!names.has(k)) continue;
      const v = this.headers[k]!;
      found.push(v);
      const space = v.indexOf(' ');
      if (space > 0) found.push(v.slice(space + 1).trim());
    }
    return (this.secretsCache = prepareSecrets(found));
  }

  /** Any foreign text (error messages, bodies): the raw URL replaced by the safe one, secrets scrubbed. */
  private sanitize(text: string): string {
    let out = text;
    const href = this.url.href;
    if (out.includes(href)) out = out.split(href).join(this.safeUrl());
    return scrubPrepared(out, this.secrets());
  }

  /** A copy of a foreign error that carries no secret (its message and stack are sanitized). */
  private sanitizeError(err: unknown): Error | undefined {
    if (!(err instanceof Error)) return undefined;
    const copy = new Error(this.sanitize(err.message));
    copy.name = err.name;
    copy.stack = err.stack === undefined ? undefined : this.sanitize(err.stack);
    const e = err as unknown as Record<string, unknown>;
    for (const key of ['code', 'errno', 'syscall', 'type', 'erroredSysCall']) {
      if (typeof e[key] === 'string' || typeof e[key] === 'number') (copy as unknown as Record<string, unknown>)[key] = e[key];
    }
    return copy;
  }

  /** The first `max` characters of a body, secrets scrubbed; `oneLine` collapses whitespace. */
  private excerpt(buf: Buffer, max: number, oneLine: boolean): string {
    if (buf.length === 0) return '';
    const secrets = this.secrets();
    const room = max + (secrets[0]?.length ?? 0);
    let text = buf.subarray(0, room * 4).toString('utf8').slice(0, room);
    if (oneLine) text = text.replace(/\s+/g, ' ');
    text = this.sanitize(text);
    return text.length > max ? text.slice(0, max) + '…' : text;
  }
}

class ClientResponse implements HttpResponse {
  readonly status: number;
  readonly statusText: string;
  readonly headers: Headers;

  constructor(
    private readonly call: Call,
    res: Response,
    readonly body: Buffer,
  ) {
    this.status = res.status;
    this.statusText = res.statusText;
    this.headers = res.headers;
  }

  get url(): string {
    return this.call.safeUrl();
  }

  text(): string {
    return decodeText(this.body, this.headers.get('content-type'));
  }

  json<T = unknown>(): T {
    return this.call.parseJson(this.body, this.headers.get('content-type'), this.status) as T;
  }
}

const CANCELLED = new Error('request cancelled by unsubscription');

function abortReason(signal: AbortSignal): unknown {
  return signal.reason !== undefined ? signal.reason : new DOMException('This operation was aborted', 'AbortError');
}

function isExpected(status: number, expect: ExpectStatus | undefined): boolean {
  if (expect === undefined) return status >= 200 && status < 300;
  if (typeof expect === 'number') return status === expect;
  if (typeof expect === 'function') return expect(status);
  return expect.includes(status);
}

function appendQuery(params: URLSearchParams, query: Readonly<Record<string, QueryValue | readonly QueryValue[]>>): void {
  for (const key in query) {
    const value = query[key];
    if (Array.isArray(value)) {
      for (const v of value as readonly QueryValue[]) if (v != null) params.append(key, queryString(v));
    } else if (value != null) {
      params.append(key, queryString(value as QueryValue & {}));
    }
  }
}

function queryString(v: NonNullable<QueryValue>): string {
  return v instanceof Date ? v.toISOString() : String(v);
}

function decodeText(buf: Buffer, contentType: string | null): string {
  const charset = contentType ? /charset\s*=\s*"?([^";\s]+)/i.exec(contentType)?.[1]?.toLowerCase() : undefined;
  if (charset === undefined || charset === 'utf-8' || charset === 'utf8') {
    const text = buf.toString('utf8');
    return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  }
  try {
    return new TextDecoder(charset).decode(buf);
  } catch {
    return buf.toString('utf8');
  }
}

function invalidRequest(source: string | undefined, message: string): NonRetriableError {
  return new NonRetriableError(`${source ? `source "${source}": ` : ''}${message}`, { code: 'ERR_INVALID_REQUEST' });
}

function positiveInt(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value <= 0) throw new RangeError(`HttpClient: ${name} must be a positive integer, got ${String(value)}`);
  return value;
}

function nonNegative(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new RangeError(`HttpClient: ${name} must be a finite number >= 0 (0 = off), got ${String(value)}`);
  }
  return value;
}
