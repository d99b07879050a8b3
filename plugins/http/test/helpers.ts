/**
 * Test helpers: a memory logger, and a hand-built plugin context over the core HttpClient (no
 * resilience stack), for tests that look at the error objects a collector throws.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import { lastValueFrom, toArray } from 'rxjs';
import { HttpClient } from '@tributary/core';
import type { CycleInfo, PluginContext, PluginRequestOptions, StreamRecord, TributaryPlugin } from '@tributary/core';

/** A pino logger that keeps its lines, to check what was logged. */
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

/** Options of {@link directContext}. */
export interface DirectContextOptions {
  /** Source id. Default `'direct'`. */
  source?: string;
}

/** A plugin context whose `http` is a plain HttpClient (no resilience stack, no cache). */
export function directContext(client: HttpClient, options: DirectContextOptions = {}): PluginContext {
  const opts = (o: PluginRequestOptions | undefined) => ({
    ...(o?.query ? { query: o.query } : {}),
    ...(o?.headers ? { headers: o.headers } : {}),
    ...(o?.signal ? { signal: o.signal } : {}),
    ...(o?.expectStatus ? { expectStatus: o.expectStatus } : {}),
    ...(o?.emptyOn ? { emptyOn: o.emptyOn } : {}),
  });
  // The client's HttpResponse has everything a PluginResponse has.
  const http = {
    getJson$: (url: string, o?: PluginRequestOptions) => client.getJson$(url, opts(o)),
    getText$: (url: string, o?: PluginRequestOptions) => client.getText$(url, opts(o)),
    getJson: (url: string, o?: PluginRequestOptions) => client.getJson(url, opts(o)),
    getText: (url: string, o?: PluginRequestOptions) => client.getText(url, opts(o)),
    get$: (url: string, o?: PluginRequestOptions) => client.get$(url, opts(o)),
    get: (url: string, o?: PluginRequestOptions) => client.get(url, opts(o)),
  };
  const store = new Map<string, unknown>();
  return {
    source: options.source ?? 'direct',
    http: http as PluginContext['http'],
    log: pino({ level: 'silent' }),
    metrics: new Registry(),
    cache: { get: () => undefined, set: () => undefined, delete: () => undefined },
    state: {
      get: async <T>(k: string) => store.get(k) as T | undefined,
      set: async (k: string, v: unknown) => void store.set(k, v),
      delete: async (k: string) => void store.delete(k),
    },
    signal: new AbortController().signal,
    secrets: [],
  };
}

/** Validates `config` like the runtime, creates the collector and runs one cycle. */
export async function collectOnce(plugin: TributaryPlugin, config: unknown, ctx: PluginContext, window?: { start: number; end: number }): Promise<StreamRecord[]> {
  const parsed = plugin.configSchema.parse(config);
  const collector = await plugin.create(parsed, ctx);
  const cycle: CycleInfo = { cycle: 1, forceRefresh: false, signal: new AbortController().signal, ...(window ? { window } : {}) };
  return lastValueFrom(collector.collect!(cycle).pipe(toArray()));
}
