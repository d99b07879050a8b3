import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { STATUS_PAGE_HTML } from './statusPage.js';

/** Least time between two snapshots sent to one `/status/events` client. */
const SSE_COALESCE_MS = 250;
/** Interval of the `: ping` comment that keeps `/status/events` connections open through proxies. */
const SSE_PING_MS = 15_000;

/** What the status routes need: a snapshot and change notifications (a `StatusBoard` fits). */
export interface StatusSource {
  /** The current status as JSON-able data. */
  snapshot(): unknown;
  /** Calls `listener` after every change; returns a function that removes it. */
  subscribe(listener: () => void): () => void;
}

/** What `/healthz` reports. `status: 'ok'` answers 200; anything else answers 503. */
export interface HealthReport {
  status: 'ok' | 'starting' | 'stopping' | 'failed';
  /** Free-form details (per-source state, breaker states). */
  [detail: string]: unknown;
}

/** Options of {@link startMetricsServer}. */
export interface MetricsServerOptions {
  /** The registry served at `/metrics`. */
  registry: Registry;
  /** Bind address. Default `'127.0.0.1'` (use `'0.0.0.0'` to expose it). */
  host?: string;
  /** Port; `0` picks a free one (see `port` on the result). Default `9464`. */
  port?: number;
  /** Produces the `/healthz` report. Default: always `{ status: 'ok' }`. */
  health?: () => HealthReport;
  /**
   * Serves the status page when given (usually a `StatusBoard`): `/` and `/status` (HTML),
   * `/status.json` (the snapshot) and `/status/events` (server-sent events). Default: none (those
   * paths answer 404).
   */
  status?: StatusSource;
}

/** A running metrics server. */
export interface MetricsServer {
  /** The port actually bound (useful with `port: 0`). */
  readonly port: number;
  readonly host: string;
  /** `http://host:port`. */
  readonly url: string;
  /** Stops listening and closes open connections. */
  close(): Promise<void>;
}

/**
 * Serves Prometheus metrics at `/metrics`, a health check at `/healthz` and, when `status` is given,
 * the live status page over HTTP.
 *
 * `/metrics` answers the registry's text exposition format. `/healthz` answers the `health()`
 * report as JSON, with status 200 when `status` is `'ok'` and 503 otherwise. With `status`:
 * `/` and `/status` answer the status page (one self-contained HTML page), `/status.json` the
 * snapshot, and `/status/events` a server-sent event stream: one `data:` line with the full
 * snapshot at connect, then one per change (at most one every 250 ms), and a `: ping` comment every
 * 15 s. Other paths answer 404, other methods 405. Resolves once the server listens; `close()`
 * ends open event streams too.
 *
 * @example
 * ```ts
 * import { startMetricsServer } from '@tributary/core';
 * import { register } from 'prom-client';
 * const server = await startMetricsServer({ registry: register, port: 0 });
 * console.log(`metrics at ${server.url}/metrics`);
 * await server.close();
 * ```
 */
export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const host = options.host ?? '127.0.0.1';
  const health = options.health ?? (() => ({ status: 'ok' as const }));
  const status = options.status;
  const streams = new Set<() => void>();
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/metrics') {
      options.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': options.registry.contentType }).end(req.method === 'HEAD' ? undefined : text);
        },
        (err: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${err instanceof Error ? err.message : String(err)}`);
        },
      );
      return;
    }
    if (path === '/healthz') {
      let report: HealthReport;
      try {
        report = health();
      } catch (err) {
        report = { status: 'failed', error: err instanceof Error ? err.message : String(err) };
      }
      res.writeHead(report.status === 'ok' ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(report));
      return;
    }
    if (status && (path === '/' || path === '/status')) {
      res
        .writeHead(200, {
          'content-type': 'text/html; charset=utf-8',
          'cache-control': 'no-store',
          'x-content-type-options': 'nosniff',
          'content-security-policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'",
        })
        .end(req.method === 'HEAD' ? undefined : STATUS_PAGE_HTML);
      return;
    }
    if (status && path === '/status.json') {
      let text: string;
      try {
        text = JSON.stringify(status.snapshot());
      } catch (err) {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`status failed: ${err instanceof Error ? err.message : String(err)}`);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(req.method === 'HEAD' ? undefined : text);
      return;
    }
    if (status && path === '/status/events') {
      serveEvents(status, req, res, streams);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end(status ? 'not found: try /, /status, /status.json, /status/events, /metrics or /healthz' : 'not found: try /metrics or /healthz');
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 9464, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    port: address.port,
    host: address.address,
    url: `http://${shownHost}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const end of [...streams]) end();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** One `/status/events` client: a snapshot at connect, then coalesced snapshots on change, and pings. */
function serveEvents(status: StatusSource, req: IncomingMessage, res: ServerResponse, streams: Set<() => void>): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-accel-buffering': 'no', connection: 'keep-alive' });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  let lastSent = 0;
  let ended = false;
  const send = (): void => {
    timer = undefined;
    if (ended) return;
    lastSent = Date.now();
    let text: string;
    try {
      text = JSON.stringify(status.snapshot());
    } catch (err) {
      text = JSON.stringify({ error: `status failed: ${err instanceof Error ? err.message : String(err)}` });
    }
    res.write(`data: ${text}\n\n`);
  };
  const onChange = (): void => {
    if (ended || timer) return;
    timer = setTimeout(send, Math.max(0, lastSent + SSE_COALESCE_MS - Date.now()));
    timer.unref();
  };
  const ping = setInterval(() => {
    if (!ended) res.write(': ping\n\n');
  }, SSE_PING_MS);
  ping.unref();
  let unsubscribe: (() => void) | undefined;
  const end = (): void => {
    if (ended) return;
    ended = true;
    streams.delete(end);
    clearInterval(ping);
    if (timer) clearTimeout(timer);
    timer = undefined;
    unsubscribe?.();
    if (!res.writableEnded) res.end();
  };
  streams.add(end);
  res.on('close', end);
  res.on('error', end);
  res.write('retry: 2000\n\n');
  send();
  try {
    unsubscribe = status.subscribe(onChange);
  } catch (err) {
    res.write(`data: ${JSON.stringify({ error: `status failed: ${err instanceof Error ? err.message : String(err)}` })}\n\n`);
    end();
  }
}
