/**
 * A stub API server on a real loopback socket, for plugin tests, Tributary's own tests and the
 * benchmarks: canned routes, injected faults (errors, rate limits, bad bodies, hangs, resets),
 * token-bucket rate limits, and a log of the requests it saw.
 */
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { extname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { TokenBucket } from './tokenBucket.js';
import type { StubRateLimit } from './tokenBucket.js';

export type { StubRateLimit } from './tokenBucket.js';

/**
 * When a fault applies, counted over the requests that matched its route (`n` = 1, 2, ...
 * since start or the last `reset()`). All given selectors must hold; with none, the fault
 * applies to every request.
 *
 * @example
 * ```ts
 * import { startStubServer } from '@tributary/core';
 * await startStubServer({ routes: [{ path: '/x', json: {}, faults: [
 *   { kind: 'status', status: 503, times: 3 },          // requests 1-3
 *   { kind: 'reset', after: 10, every: 5 },             // requests 15, 20, 25, ...
 *   { kind: 'latency', ms: 2000, probability: 0.1 },    // about one in ten of the others
 * ] }] });
 * ```
 */
export interface FaultSelector {
  /** Skip the first `after` requests. Default 0. */
  after?: number;
  /** Apply to `times` requests only (the ones right after `after`). Default: no limit. */
  times?: number;
  /** Apply to every `every`-th request (n = every, 2·every, ...). Default: every request. */
  every?: number;
  /** Apply with this probability (0–1), drawn with the server's `random`. Default 1. */
  probability?: number;
}

/**
 * A fault the stub injects instead of (or before) a route's normal answer.
 *
 * - `status`: answers `status` with `body` (a string as text, anything else as JSON; default
 *   `{"error":"HTTP <status>"}`), plus `Retry-After: retryAfter` (seconds, or a string such as an
 *   HTTP date) and `headers` when given.
 * - `rateLimit`: 429 with `Retry-After: retryAfterSeconds` (default 1).
 * - `malformed`: `status` (default 200) with `Content-Type: application/json` and a body that is
 *   not JSON (default `{"status": ok, "data": [1, 2, 3]}`, or `body`).
 * - `truncated`: sends the headers of the route's normal answer with its full `Content-Length`,
 *   then half of the body, then closes the connection.
 * - `html`: an HTML error page with `Content-Type: text/html` and `status` (default 200, as proxies
 *   and captive portals do; use 502/503 for a gateway page).
 * - `hang`: never answers; the connection stays open until the client gives up or `close()`.
 * - `reset`: destroys the connection at once (the client sees `ECONNRESET`).
 * - `huge`: streams `bytes` bytes of a JSON-looking body (without `Content-Length`, or with it when
 *   `declareLength` is true), honouring back-pressure and stopping when the client goes away.
 * - `latency`: waits `ms` more, then answers normally.
 *
 * @example
 * ```ts
 * import { startStubServer } from '@tributary/core';
 * await startStubServer({ routes: [
 *   { path: '/quota', faults: { kind: 'rateLimit', retryAfterSeconds: 30, every: 4 } },
 *   { path: '/flaky', json: { ok: true }, faults: { kind: 'truncated', probability: 0.2 } },
 *   { path: '/dump', faults: { kind: 'huge', bytes: 100 * 1024 * 1024 } },
 * ] });
 * ```
 */
export type StubFault = FaultSelector &
  (
    | { kind: 'status'; status: number; body?: unknown; retryAfter?: number | string; headers?: Readonly<Record<string, string>> }
    | { kind: 'rateLimit'; retryAfterSeconds?: number }
    | { kind: 'malformed'; status?: number; body?: string }
    | { kind: 'truncated' }
    | { kind: 'html'; status?: number }
    | { kind: 'hang' }
    | { kind: 'reset' }
    | { kind: 'huge'; bytes: number; declareLength?: boolean }
    | { kind: 'latency'; ms: number }
  );

/**
 * A request as the stub saw it: handed to route callbacks and kept in the log.
 *
 * @example
 * ```ts
 * import { startStubServer } from '@tributary/core';
 * const stub = await startStubServer({ routes: [{ path: /^\/v1\/(\w+)$/, json: (req) => ({ id: req.match?.[1], page: req.query.page }) }] });
 * // ... run the code under test, then:
 * console.log(stub.requests.map((r) => `${r.method} ${r.url} -> ${r.status} (connection ${r.connection})`));
 * ```
 */
export interface StubRequest {
  /** 1-based sequence number since start or the last `reset()`. */
  readonly id: number;
  readonly method: string;
  /** The pathname, e.g. `/v2/data`. */
  readonly path: string;
  /** Query parameters (the first value of each name). */
  readonly query: Readonly<Record<string, string>>;
  /** Path and query string exactly as received. */
  readonly url: string;
  /** Request headers (lower-case names, as Node gives them). */
  readonly headers: Readonly<IncomingHttpHeaders>;
  /** Request body as UTF-8 text ('' when none). */
  readonly body: string;
  /** When it arrived (epoch ms). */
  readonly at: number;
  /** Id of the TCP connection it came on (1, 2, ...): equal ids mean a reused keep-alive connection. */
  readonly connection: number;
  /** Name of the matched route (its `name`, else its path); `undefined` when no route matched. */
  readonly route: string | undefined;
  /** Number of this request among those that matched its route (1-based); 0 when none matched. */
  readonly n: number;
  /** The `RegExp` match of the route path (capture groups), when the path is a `RegExp`. */
  readonly match: RegExpExecArray | undefined;
  /** The status sent; `undefined` while pending, or when the stub hung up or reset. */
  readonly status: number | undefined;
  /** Kind of the fault applied, if any (`'rateLimit'` also for the `rateLimit` option). */
  readonly fault: StubFault['kind'] | undefined;
  /** True when the client closed the connection before the answer was complete. */
  readonly aborted: boolean;
}

/**
 * A canned route. The first matching route answers; routes added with `route()` come first.
 *
 * @example
 * ```ts
 * import { startStubServer } from '@tributary/core';
 * await startStubServer({ routes: [
 *   { path: '/v2/data', query: { frequency: 'hourly' }, file: 'test/fixtures/eia-hourly.json', latencyMs: 20 },
 *   { method: 'POST', path: '/token', json: { access_token: 'test-token', expires_in: 3600 } },
 *   { path: '/health', body: 'ok', status: 200, headers: { 'cache-control': 'no-store' } },
 * ] });
 * ```
 */
export interface StubRoute {
  /** Name used in the log. Default: the path. */
  name?: string;
  /** HTTP method, or `'*'` for any. Default `'GET'`. */
  method?: string;
  /** The pathname: an exact string, or a `RegExp` tested against it. */
  path: string | RegExp;
  /** Query parameters that must be present with these values (exact strings or `RegExp`s). Default: any. */
  query?: Readonly<Record<string, string | RegExp>>;
  /** Status of the normal answer. Default 200. */
  status?: number;
  /** Extra response headers (override the defaults, e.g. `Content-Type`). */
  headers?: Readonly<Record<string, string>>;
  /** JSON body: a value (serialized once), or a function of the request (may return a Promise). */
  json?: ((req: StubRequest) => unknown) | object | string | number | boolean | null;
  /** Raw body: text, bytes, or a function of the request. `Content-Type` text/plain or octet-stream. */
  body?: string | Buffer | ((req: StubRequest) => string | Buffer | Promise<string | Buffer>);
  /** Path of a fixture file sent as the body (read once, then cached); `Content-Type` from its extension. */
  file?: string;
  /** Delay before answering, in ms, or a function of the request. Default 0. */
  latencyMs?: number | ((req: StubRequest) => number);
  /**
   * Faults: one, a list (the first whose selector holds applies), or a function of the request and
   * its route count `n` that returns the fault to apply (its selector fields are then ignored).
   */
  faults?: StubFault | readonly StubFault[] | ((req: StubRequest, n: number) => StubFault | undefined);
  /** A token-bucket rate limit of this route alone; beyond it the answer is 429 with `Retry-After`. */
  rateLimit?: StubRateLimit;
}

/**
 * Options of {@link startStubServer}.
 *
 * @example
 * ```ts
 * import { startStubServer } from '@tributary/core';
 * const stub = await startStubServer({ routes: [], rateLimit: { perSecond: 1.39 }, maxLoggedRequests: 0 });
 * ```
 */
export interface StubServerOptions {
  /** The routes. Default: none (every request gets a 404). */
  routes?: readonly StubRoute[];
  /** Port to listen on. Default 0 (a free port). */
  port?: number;
  /** Address to listen on. Default `'127.0.0.1'`. */
  host?: string;
  /** A token-bucket rate limit over all routes; beyond it the answer is 429 with `Retry-After` (whole seconds, at least 1). */
  rateLimit?: StubRateLimit;
  /** Idle keep-alive connections are closed after this many ms. Default 5000 (Node's default). */
  keepAliveTimeout?: number;
  /** Most requests kept in `requests` (the oldest are dropped). Default 10 000. */
  maxLoggedRequests?: number;
  /** Random source for fault `probability`, e.g. a seeded generator for repeatable runs. Default `Math.random`. */
  random?: () => number;
}

/**
 * Counters of a stub server, since start or the last `reset()`.
 *
 * @example
 * ```ts
 * import { startStubServer } from '@tributary/core';
 * const stub = await startStubServer({ routes: [{ path: '/x', json: 1, latencyMs: 100 }] });
 * // ... eight concurrent calls through a client with maxSockets: 4, then:
 * console.log(stub.stats().peakConnections); // 4
 * ```
 */
export interface StubStats {
  /** Requests received (exact, whatever `maxLoggedRequests` is). */
  requests: number;
  /** Requests being answered right now. */
  inFlight: number;
  /** Most requests being answered at the same time. */
  peakInFlight: number;
  /** TCP connections accepted. */
  connectionsOpened: number;
  /** TCP connections open right now. */
  connectionsOpen: number;
  /** Most TCP connections open at the same time. */
  peakConnections: number;
}

/**
 * A running stub server (see {@link startStubServer}).
 *
 * @example
 * ```ts
 * import { startStubServer } from '@tributary/core';
 * const stub = await startStubServer({ routes: [{ path: '/x', json: { ok: true } }] });
 * afterEach(() => stub.reset());
 * after(() => stub.close());
 * ```
 */
export interface StubServer {
  /** Base URL, e.g. `http://127.0.0.1:38211` (no trailing slash). */
  readonly url: string;
  readonly port: number;
  /** The requests seen (the most recent `maxLoggedRequests`), oldest first. */
  readonly requests: readonly StubRequest[];
  /**
   * How many requests were seen: all of them; those with this exact path (exact count); or those in
   * the log whose path matches the `RegExp` or that satisfy the predicate.
   */
  count(match?: string | RegExp | ((req: StubRequest) => boolean)): number;
  /** Adds a route that takes precedence over the existing ones. Returns the server. */
  route(route: StubRoute): StubServer;
  /** Replaces all routes. */
  setRoutes(routes: readonly StubRoute[]): void;
  /** Back to the state after start: the initial routes, an empty log, zero counters, full rate-limit buckets. */
  reset(): void;
  /** Counters of requests and connections. */
  stats(): StubStats;
  /** Resolves once `predicate()` is true (checked every 5 ms); rejects after `timeoutMs` (default 2000). */
  until(predicate: () => boolean, timeoutMs?: number): Promise<void>;
  /** Closes the server and every connection (hanging and keep-alive ones too) and clears every timer. */
  close(): Promise<void>;
}

interface Entry {
  id: number;
  method: string;
  path: string;
  query: Record<string, string>;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
  connection: number;
  route: string | undefined;
  n: number;
  match: RegExpExecArray | undefined;
  status: number | undefined;
  fault: StubFault['kind'] | undefined;
  aborted: boolean;
}

interface RouteState {
  count: number;
  bucket: TokenBucket | undefined;
  json: Buffer | undefined;
}

interface Payload {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

const JSON_TYPE = 'application/json; charset=utf-8';
const HUGE_CHUNK = Buffer.alloc(64 * 1024, 'x');
const CONTENT_TYPES: Record<string, string> = {
  '.json': JSON_TYPE,
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.csv': 'text/csv; charset=utf-8',
  '.xml': 'application/xml; charset=utf-8',
};

/**
 * Starts a stub API server on a loopback port.
 *
 * Routes answer with JSON, text, bytes or a fixture file, after an optional latency; faults
 * replace the answer for selected requests (`{ kind: 'status', status: 503, times: 3 }`: the
 * first three requests fail); `rateLimit` (per server or per route) answers 429 with
 * `Retry-After` beyond a token-bucket rate. Unknown routes get a 404 JSON body that names the
 * method and path. Every request is logged with its connection id, so keep-alive reuse and
 * concurrency can be checked. `close()` ends everything, including hanging requests and idle
 * keep-alive connections, so the test process exits by itself.
 *
 * @example
 * ```ts
 * import { HttpClient, startStubServer } from '@tributary/core';
 *
 * const stub = await startStubServer({
 *   routes: [
 *     { path: '/v2/prices', json: { data: [{ hour: 0, price: 41.2 }] }, faults: { kind: 'status', status: 503, times: 2 } },
 *     { path: /^\/v2\/series\/(\w+)$/, json: (req) => ({ id: req.match?.[1] }), rateLimit: { perSecond: 1.39 } },
 *   ],
 * });
 * const http = new HttpClient({ source: 'test' });
 * await http.getJson(`${stub.url}/v2/prices`).catch((err) => console.log(err.status)); // 503
 * console.log(stub.count('/v2/prices')); // 1
 * http.destroy();
 * await stub.close();
 * ```
 */
export async function startStubServer(options: StubServerOptions = {}): Promise<StubServer> {
  const stub = new StubServerImpl(options);
  await stub.listen(options.port ?? 0, options.host ?? '127.0.0.1');
  return stub;
}

class StubServerImpl implements StubServer {
  url = '';
  port = 0;
  private readonly server: http.Server;
  private readonly initialRoutes: readonly StubRoute[];
  private routes: StubRoute[];
  private routeStates = new WeakMap<StubRoute, RouteState>();
  private serverBucket: TokenBucket | undefined;
  private log: Entry[] = [];
  private pathCounts = new Map<string, number>();
  private readonly files = new Map<string, Promise<Buffer>>();
  private readonly socketIds = new WeakMap<Socket, number>();
  private readonly sockets = new Set<Socket>();
  private readonly waits = new Set<{ timer: NodeJS.Timeout; resolve: (ok: boolean) => void }>();
  private readonly random: () => number;
  private readonly maxLog: number;
  private seq = 0;
  private connSeq = 0;
  private readonly counters = { requests: 0, inFlight: 0, peakInFlight: 0, connectionsOpened: 0, connectionsOpen: 0, peakConnections: 0 };
  private closing: Promise<void> | undefined;

  constructor(private readonly options: StubServerOptions) {
    this.initialRoutes = [...(options.routes ?? [])];
    this.routes = [...this.initialRoutes];
    this.random = options.random ?? Math.random;
    this.maxLog = options.maxLoggedRequests ?? 10_000;
    this.serverBucket = options.rateLimit ? new TokenBucket(options.rateLimit, performance.now()) : undefined;
    this.server = http.createServer((req, res) => this.onRequest(req, res));
    this.server.keepAliveTimeout = options.keepAliveTimeout ?? 5000;
    this.server.on('connection', (socket) => {
      const id = ++this.connSeq;
      this.socketIds.set(socket, id);
      const c = this.counters;
      c.connectionsOpened++;
      c.connectionsOpen++;
      if (c.connectionsOpen > c.peakConnections) c.peakConnections = c.connectionsOpen;
      this.sockets.add(socket);
      socket.once('close', () => {
        c.connectionsOpen--;
        this.sockets.delete(socket);
      });
    });
  }

  listen(port: number, host: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.removeListener('error', reject);
        const address = this.server.address() as AddressInfo;
        this.port = address.port;
        this.url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
        resolve();
      });
    });
  }

  get requests(): readonly StubRequest[] {
    return this.log;
  }

  count(match?: string | RegExp | ((req: StubRequest) => boolean)): number {
    if (match === undefined) return this.counters.requests;
    if (typeof match === 'string') return this.pathCounts.get(match) ?? 0;
    if (match instanceof RegExp) return this.log.filter((r) => match.test(r.path)).length;
    return this.log.filter(match).length;
  }

  route(route: StubRoute): StubServer {
    this.routes.unshift(route);
    return this;
  }

  setRoutes(routes: readonly StubRoute[]): void {
    this.routes = [...routes];
  }

  reset(): void {
    this.routes = [...this.initialRoutes];
    this.routeStates = new WeakMap();
    this.serverBucket = this.options.rateLimit ? new TokenBucket(this.options.rateLimit, performance.now()) : undefined;
    this.log = [];
    this.pathCounts = new Map();
    this.seq = 0;
    const c = this.counters;
    c.requests = 0;
    c.peakInFlight = c.inFlight;
    c.connectionsOpened = 0;
    c.peakConnections = c.connectionsOpen;
  }

  stats(): StubStats {
    return { ...this.counters };
  }

  until(predicate: () => boolean, timeoutMs = 2000): Promise<void> {
    return new Promise((resolve, reject) => {
      const started = Date.now();
      const check = (): void => {
        let ok: boolean;
        try {
          ok = predicate();
        } catch (err) {
          reject(err);
          return;
        }
        if (ok) resolve();
        else if (Date.now() - started >= timeoutMs) reject(new Error(`stub server: condition not met within ${timeoutMs} ms`));
        else setTimeout(check, 5);
      };
      check();
    });
  }

  close(): Promise<void> {
    if (this.closing) return this.closing;
    for (const wait of this.waits) {
      clearTimeout(wait.timer);
      wait.resolve(false);
    }
    this.waits.clear();
    const socketsClosed = [...this.sockets].map((socket) => new Promise<void>((resolve) => socket.once('close', () => resolve())));
    const serverClosed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    for (const socket of this.sockets) socket.destroy();
    this.closing = Promise.all([serverClosed, ...socketsClosed]).then(() => undefined);
    return this.closing;
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      this.handle(req, res, chunks.length === 0 ? '' : Buffer.concat(chunks).toString('utf8')).catch((err: unknown) => {
        if (!res.headersSent && !res.destroyed) {
          this.send(res, undefined, { status: 500, headers: { 'content-type': JSON_TYPE }, body: jsonBuffer({ error: 'stub route failed', message: String(err) }) });
        } else {
          res.destroy();
        }
      });
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse, body: string): Promise<void> {
    const parsed = new URL(req.url ?? '/', 'http://stub.invalid');
    const query: Record<string, string> = {};
    for (const [k, v] of parsed.searchParams) if (!(k in query)) query[k] = v;
    const entry: Entry = {
      id: ++this.seq,
      method: req.method ?? 'GET',
      path: parsed.pathname,
      query,
      url: req.url ?? '/',
      headers: req.headers,
      body,
      at: Date.now(),
      connection: this.socketIds.get(req.socket) ?? 0,
      route: undefined,
      n: 0,
      match: undefined,
      status: undefined,
      fault: undefined,
      aborted: false,
    };
    this.record(entry);
    const c = this.counters;
    c.inFlight++;
    if (c.inFlight > c.peakInFlight) c.peakInFlight = c.inFlight;
    let serverClosed = false;
    res.once('close', () => {
      c.inFlight--;
      if (!res.writableFinished && !serverClosed) entry.aborted = true;
    });

    const now = performance.now();
    if (this.serverBucket) {
      const wait = this.serverBucket.take(now);
      if (wait > 0) return this.rateLimited(res, entry, wait);
    }
    const found = this.match(entry);
    if (!found) {
      return this.send(res, entry, {
        status: 404,
        headers: { 'content-type': JSON_TYPE },
        body: jsonBuffer({ error: 'no stub route', method: entry.method, path: entry.path }),
      });
    }
    const { route, state } = found;
    entry.route = route.name ?? String(route.path);
    entry.n = ++state.count;
    if (route.rateLimit) {
      state.bucket ??= new TokenBucket(route.rateLimit, now);
      const wait = state.bucket.take(now);
      if (wait > 0) return this.rateLimited(res, entry, wait);
    }
    const fault = this.pickFault(route, entry);
    entry.fault = fault?.kind;
    let latency = typeof route.latencyMs === 'function' ? route.latencyMs(entry) : (route.latencyMs ?? 0);
    if (fault?.kind === 'latency') latency += fault.ms;
    if (latency > 0 && !(await this.delay(latency))) return;
    if (res.destroyed) return;

    switch (fault?.kind) {
      case 'status': {
        const headers: Record<string, string> = { ...fault.headers };
        let payload: Buffer;
        if (fault.body === undefined) {
          payload = jsonBuffer({ error: `HTTP ${fault.status}` });
          headers['content-type'] ??= JSON_TYPE;
        } else if (typeof fault.body === 'string') {
          payload = Buffer.from(fault.body);
          headers['content-type'] ??= 'text/plain; charset=utf-8';
        } else {
          payload = jsonBuffer(fault.body);
          headers['content-type'] ??= JSON_TYPE;
        }
        if (fault.retryAfter !== undefined) headers['retry-after'] = String(fault.retryAfter);
        return this.send(res, entry, { status: fault.status, headers, body: payload });
      }
      case 'rateLimit':
        return this.rateLimited(res, entry, (fault.retryAfterSeconds ?? 1) * 1000);
      case 'malformed':
        return this.send(res, entry, {
          status: fault.status ?? 200,
          headers: { 'content-type': JSON_TYPE },
          body: Buffer.from(fault.body ?? '{"status": ok, "data": [1, 2, 3]}'),
        });
      case 'html':
        return this.send(res, entry, { status: fault.status ?? 200, headers: { 'content-type': 'text/html; charset=utf-8' }, body: htmlPage(fault.status ?? 200) });
      case 'hang':
        return;
      case 'reset':
        serverClosed = true;
        req.socket.resetAndDestroy();
        return;
      case 'truncated': {
        const payload = await this.payload(route, state, entry);
        if (res.destroyed) return;
        const full = payload.body.length > 1 ? payload.body : jsonBuffer({ data: Array.from({ length: 64 }, (_, i) => i) });
        serverClosed = true;
        entry.status = payload.status;
        res.writeHead(payload.status, { ...payload.headers, 'content-length': String(full.length) });
        res.write(full.subarray(0, Math.floor(full.length / 2)), () => res.socket?.destroy());
        return;
      }
      case 'huge':
        return this.huge(res, entry, fault.bytes, fault.declareLength === true);
      default: {
        const payload = await this.payload(route, state, entry);
        if (res.destroyed) return;
        return this.send(res, entry, payload);
      }
    }
  }

  private record(entry: Entry): void {
    this.counters.requests++;
    this.pathCounts.set(entry.path, (this.pathCounts.get(entry.path) ?? 0) + 1);
    if (this.maxLog <= 0) return;
    this.log.push(entry);
    if (this.log.length > this.maxLog) this.log.splice(0, this.log.length - this.maxLog);
  }

  private match(entry: Entry): { route: StubRoute; state: RouteState } | undefined {
    for (const route of this.routes) {
      const method = route.method ?? 'GET';
      if (method !== '*' && method.toUpperCase() !== entry.method) continue;
      let match: RegExpExecArray | undefined;
      if (typeof route.path === 'string') {
        if (route.path !== entry.path) continue;
      } else {
        route.path.lastIndex = 0;
        const m = route.path.exec(entry.path);
        if (!m) continue;
        match = m;
      }
      if (route.query && !queryMatches(route.query, entry.query)) continue;
      entry.match = match;
      let state = this.routeStates.get(route);
      if (!state) {
        state = { count: 0, bucket: undefined, json: undefined };
        this.routeStates.set(route, state);
      }
      return { route, state };
    }
    return undefined;
  }

  private pickFault(route: StubRoute, entry: Entry): StubFault | undefined {
    const faults = route.faults;
    if (faults === undefined) return undefined;
    if (typeof faults === 'function') return faults(entry, entry.n);
    const list: readonly StubFault[] = Array.isArray(faults) ? faults : [faults as StubFault];
    for (const fault of list) if (this.selects(fault, entry.n)) return fault;
    return undefined;
  }

  private selects(f: FaultSelector, n: number): boolean {
    const after = f.after ?? 0;
    if (n <= after) return false;
    if (f.times !== undefined && n > after + f.times) return false;
    if (f.every !== undefined && n % f.every !== 0) return false;
    if (f.probability !== undefined && !(this.random() < f.probability)) return false;
    return true;
  }

  private async payload(route: StubRoute, state: RouteState, entry: Entry): Promise<Payload> {
    const headers: Record<string, string> = {};
    let body: Buffer;
    if (route.json !== undefined) {
      headers['content-type'] = JSON_TYPE;
      if (typeof route.json === 'function') {
        body = jsonBuffer(await (route.json as (req: StubRequest) => unknown)(entry));
      } else {
        body = state.json ??= jsonBuffer(route.json);
      }
    } else if (route.body !== undefined) {
      const raw = typeof route.body === 'function' ? await route.body(entry) : route.body;
      headers['content-type'] = typeof raw === 'string' ? 'text/plain; charset=utf-8' : 'application/octet-stream';
      body = typeof raw === 'string' ? Buffer.from(raw) : raw;
    } else if (route.file !== undefined) {
      headers['content-type'] = CONTENT_TYPES[extname(route.file).toLowerCase()] ?? 'application/octet-stream';
      body = await this.readFixture(route.file);
    } else {
      body = Buffer.alloc(0);
    }
    if (route.headers) for (const k in route.headers) headers[k.toLowerCase()] = route.headers[k]!;
    return { status: route.status ?? 200, headers, body };
  }

  private readFixture(file: string): Promise<Buffer> {
    let cached = this.files.get(file);
    if (!cached) {
      cached = readFile(file).catch((err: NodeJS.ErrnoException) => {
        this.files.delete(file);
        throw new Error(`stub server: cannot read fixture file "${file}": ${err.code ?? err.message}`);
      });
      this.files.set(file, cached);
    }
    return cached;
  }

  private send(res: ServerResponse, entry: Entry | undefined, payload: Payload): void {
    if (res.destroyed) return;
    if (entry) entry.status = payload.status;
    res.writeHead(payload.status, { ...payload.headers, 'content-length': String(payload.body.length) });
    res.end(payload.body);
  }

  private rateLimited(res: ServerResponse, entry: Entry, waitMs: number): void {
    const seconds = Math.max(1, Math.ceil(waitMs / 1000));
    entry.fault = 'rateLimit';
    this.send(res, entry, {
      status: 429,
      headers: { 'content-type': JSON_TYPE, 'retry-after': String(seconds) },
      body: jsonBuffer({ error: 'rate limit exceeded', retryAfterSeconds: seconds }),
    });
  }

  private huge(res: ServerResponse, entry: Entry, bytes: number, declareLength: boolean): void {
    entry.status = 200;
    const headers: Record<string, string> = { 'content-type': JSON_TYPE };
    if (declareLength) headers['content-length'] = String(bytes);
    res.writeHead(200, headers);
    const head = Buffer.from('{"data":"');
    let left = bytes;
    const write = (): void => {
      while (left > 0 && !res.destroyed) {
        const chunk = left === bytes ? head.subarray(0, Math.min(head.length, left)) : HUGE_CHUNK.subarray(0, Math.min(HUGE_CHUNK.length, left));
        left -= chunk.length;
        if (!res.write(chunk)) {
          res.once('drain', write);
          return;
        }
      }
      if (left <= 0 && !res.destroyed) res.end();
    };
    write();
  }

  /** Waits `ms`; resolves false when the server closes first. */
  private delay(ms: number): Promise<boolean> {
    if (this.closing) return Promise.resolve(false);
    return new Promise((resolve) => {
      const wait = {
        timer: setTimeout(() => {
          this.waits.delete(wait);
          resolve(true);
        }, ms),
        resolve,
      };
      this.waits.add(wait);
    });
  }
}

function queryMatches(expected: Readonly<Record<string, string | RegExp>>, actual: Record<string, string>): boolean {
  for (const key in expected) {
    const want = expected[key]!;
    const got = actual[key];
    if (got === undefined) return false;
    if (typeof want === 'string' ? want !== got : !want.test(got)) return false;
  }
  return true;
}

function jsonBuffer(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value) ?? 'null');
}

function htmlPage(status: number): Buffer {
  const title = `${status} ${http.STATUS_CODES[status] ?? 'Error'}`;
  return Buffer.from(
    `<!DOCTYPE html>\n<html>\n<head><title>${title}</title></head>\n<body>\n<center><h1>${title}</h1></center>\n` +
      `<hr><center>nginx</center>\n</body>\n</html>\n`,
  );
}
