/**
 * `@tributary/crypto-common/testing`: test helpers of the crypto price plugins: run one cycle of
 * a plugin straight over the core `HttpClient` (no runtime), to look at the error object itself
 * (its class, status and `retryAfterMs`), and a logger that keeps its lines.
 * @packageDocumentation
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import { lastValueFrom, toArray } from 'rxjs';
import { HttpClient } from '@tributary/core';
import type { PluginContext, PluginRequestOptions, StreamRecord, TributaryPlugin } from '@tributary/core';

/** Options of {@link collectDirect}. */
export interface DirectOptions {
  /** The source id given to the plugin and the client. Default: `direct`. */
  source?: string;
  /** Send every request to this origin instead (the URL the plugin asked for is kept in `urls`). Default: none (the URL as asked). */
  rewriteTo?: string;
  /** Receives each URL as the plugin asked for it. Default: none. */
  urls?: string[];
}

/**
 * Runs one cycle of `plugin` with `ctx.http` = a plain `HttpClient` (no retries, no breaker);
 * resolves the records or rejects with the error of the cycle as the plugin raised it.
 *
 * The config is parsed with the plugin's `configSchema` first. The logger is silent, the cache
 * and state are empty, and the client is destroyed afterwards.
 *
 * @example
 * ```ts
 * import { collectDirect } from '@tributary/crypto-common/testing';
 * import coincap from '@tributary/plugin-coincap';
 * const err = await collectDirect(coincap, { assets: ['bitcoin'], apiVersion: 'v2' }, { rewriteTo: 'http://127.0.0.1:8080' }).catch((e: unknown) => e);
 * ```
 */
export async function collectDirect(plugin: TributaryPlugin, config: unknown, options: DirectOptions = {}): Promise<StreamRecord[]> {
  const source = options.source ?? 'direct';
  const client = new HttpClient({ source });
  const target = (url: string): string => {
    options.urls?.push(url);
    if (!options.rewriteTo) return url;
    const u = new URL(url);
    return `${options.rewriteTo}${u.pathname}${u.search}`;
  };
  const pass = (o?: PluginRequestOptions) => ({
    ...(o?.query ? { query: o.query } : {}),
    ...(o?.headers ? { headers: o.headers } : {}),
    ...(o?.signal ? { signal: o.signal } : {}),
    ...(o?.expectStatus ? { expectStatus: o.expectStatus } : {}),
    ...(o?.emptyOn ? { emptyOn: o.emptyOn } : {}),
  });
  // The client's HttpResponse has everything a PluginResponse has.
  const http = {
    getJson$: (url: string, o?: PluginRequestOptions) => client.getJson$(target(url), pass(o)),
    getText$: (url: string, o?: PluginRequestOptions) => client.getText$(target(url), pass(o)),
    getJson: (url: string, o?: PluginRequestOptions) => client.getJson(target(url), pass(o)),
    getText: (url: string, o?: PluginRequestOptions) => client.getText(target(url), pass(o)),
    get$: (url: string, o?: PluginRequestOptions) => client.get$(target(url), pass(o)),
    get: (url: string, o?: PluginRequestOptions) => client.get(target(url), pass(o)),
  };
  const ctx: PluginContext = {
    source,
    http: http as PluginContext['http'],
    log: pino({ level: 'silent' }),
    metrics: new Registry(),
    cache: { get: () => undefined, set: () => undefined, delete: () => undefined },
    state: { get: async () => undefined, set: async () => undefined, delete: async () => undefined },
    signal: new AbortController().signal,
    secrets: [],
  };
  try {
    const collector = await plugin.create(plugin.configSchema.parse(config), ctx);
    return await lastValueFrom(collector.collect!({ cycle: 1, forceRefresh: false, signal: new AbortController().signal }).pipe(toArray()));
  } finally {
    client.destroy();
  }
}

/**
 * A pino logger at level `debug` that keeps each line (as JSON text) in `lines`, to check what a
 * plugin logged (and that no secret is in it).
 *
 * @example
 * ```ts
 * import { runPlugin } from '@tributary/core/testing';
 * import { memoryLogger } from '@tributary/crypto-common/testing';
 * const { logger, lines } = memoryLogger();
 * // await runPlugin(plugin, config, { logger }); then inspect lines
 * ```
 */
export function memoryLogger(): { logger: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}
