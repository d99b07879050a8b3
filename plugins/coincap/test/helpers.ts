/**
 * Test helpers: run one cycle of a plugin straight over the core HttpClient (no runtime), to
 * look at the error object itself (its class, status and retryAfterMs), and a logger that keeps
 * its lines.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import { lastValueFrom, toArray } from 'rxjs';
import { HttpClient } from '@tributary/core';
import type { PluginContext, PluginRequestOptions, StreamRecord, TributaryPlugin } from '@tributary/core';

/** Options of {@link collectDirect}. */
export interface DirectOptions {
  source?: string;
  /** Send every request to this origin instead (the URL the plugin asked for is kept in `urls`). */
  rewriteTo?: string;
  /** Receives each URL as the plugin asked for it. */
  urls?: string[];
}

/** Runs one cycle with `ctx.http` = a plain HttpClient; resolves the records or rejects with the error. */
export async function collectDirect(plugin: TributaryPlugin, config: unknown, options: DirectOptions = {}): Promise<StreamRecord[]> {
  const source = options.source ?? 'direct';
  const client = new HttpClient({ source });
  const target = (url: string): string => {
    options.urls?.push(url);
    if (!options.rewriteTo) return url;
    const u = new URL(url);
    return `${options.rewriteTo}${u.pathname}${u.search}`;
  };
  const pass = (o?: PluginRequestOptions) => ({ ...(o?.query ? { query: o.query } : {}), ...(o?.headers ? { headers: o.headers } : {}), ...(o?.signal ? { signal: o.signal } : {}) });
  const ctx: PluginContext = {
    source,
    http: {
      getJson$: (url, o) => client.getJson$(target(url), pass(o)),
      getText$: (url, o) => client.getText$(target(url), pass(o)),
      getJson: (url, o) => client.getJson(target(url), pass(o)),
      getText: (url, o) => client.getText(target(url), pass(o)),
    },
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

/** A pino logger that keeps its lines. */
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
