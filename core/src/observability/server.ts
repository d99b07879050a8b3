import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

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
 * Serves Prometheus metrics at `/metrics` and a health check at `/healthz` over HTTP.
 *
 * `/metrics` answers the registry's text exposition format. `/healthz` answers the `health()`
 * report as JSON, with status 200 when `status` is `'ok'` and 503 otherwise. Other paths answer 404,
 * other methods 405. Resolves once the server listens.
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
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics or /healthz');
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
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
