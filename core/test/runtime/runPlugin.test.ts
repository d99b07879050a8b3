import { expect } from 'chai';
import { defer, from, mergeMap } from 'rxjs';
import { isConfigError } from '../../src/errors/ConfigError.js';
import { assertRecordsMatchSchema, runPlugin } from '../../src/testing/runPlugin.js';
import { startStubServer, type StubServer } from '../../src/testing/stubServer.js';
import { READING_SCHEMA, testPlugin } from './helpers.js';
import type { PluginContext, TributaryPlugin } from '../../src/plugin/types.js';

/** A plugin that reads `/readings` (an absolute URL on a host that does not exist) and emits each item. */
function apiPlugin(options: { promise?: boolean } = {}) {
  return testPlugin((config: Record<string, unknown>, ctx: PluginContext) => ({
    collect: () => {
      const url = 'https://api.example.invalid/v1/readings';
      const query = { api_key: String(config.apiKey ?? 'none'), station: 'NL01' };
      const call$ = options.promise ? defer(() => ctx.http.getJson<{ items: { station: string; value: number }[] }>(url, { query })) : ctx.http.getJson$<{ items: { station: string; value: number }[] }>(url, { query });
      return call$.pipe(mergeMap((body) => from(body.items.map((i) => ({ stream: 'readings', value: { ...i, meta: { unit: 'ug/m3' } } })))));
    },
  }));
}

describe('testing/runPlugin', () => {
  let stub: StubServer;
  afterEach(async () => stub?.close());

  it('runs a plugin against a stub server (origin rewritten) and returns envelopes, errors, dead letters and metrics', async () => {
    stub = await startStubServer({ routes: [{ path: '/v1/readings', json: { items: [{ station: 'NL01', value: 3 }, { station: 'NL02', value: 4 }] } }] });
    const result = await runPlugin(apiPlugin(), { apiKey: 'k' }, { baseUrl: stub.url });
    expect(result.errors).to.deep.equal([]);
    expect(result.records.map((r) => r.key)).to.deep.equal(['NL01', 'NL02']);
    expect(result.records[0]!.topic).to.equal('readings');
    expect(stub.requests[0]!.query).to.deep.equal({ api_key: 'k', station: 'NL01' });
    assertRecordsMatchSchema(result.records, READING_SCHEMA as unknown as Record<string, unknown>);
    expect(result.summary.sources.test!.records).to.deep.equal({ readings: 2 });
    expect(await result.metrics.getSingleMetricAsString('tributary_records_total')).to.match(/tributary_records_total\{source="test",topic="readings"\} 2/);
  });

  it('marks records served from the cache with tributary-origin: cache, and from stale fallback with stale', async () => {
    stub = await startStubServer({
      routes: [{ path: '/v1/readings', json: { items: [{ station: 'NL01', value: 3 }] }, faults: [{ kind: 'status', status: 503, after: 1 }] }],
    });
    const cached = await runPlugin(apiPlugin(), {}, { baseUrl: stub.url, cycles: 2, resilience: { cache: { ttlMs: 60_000 } } });
    expect(cached.records.map((r) => r.headers['tributary-origin'])).to.deep.equal(['live', 'cache']);
    expect(stub.count('/v1/readings')).to.equal(1);
    expect(cached.summary.sources.test!.cacheHits).to.equal(1);

    stub.reset();
    const stale = await runPlugin(apiPlugin({ promise: true }), {}, { baseUrl: stub.url, cycles: 2, resilience: { staleFallback: { maxAgeMs: 60_000 } } });
    expect(stale.records.map((r) => r.headers['tributary-origin'])).to.deep.equal(['live', 'stale']);
    expect(stale.summary.sources.test!.staleValues).to.equal(1);
    expect(stale.errors).to.deep.equal([]);
  });

  it('--force-refresh skips cache reads', async () => {
    stub = await startStubServer({ routes: [{ path: '/v1/readings', json: { items: [{ station: 'NL01', value: 3 }] } }] });
    const result = await runPlugin(apiPlugin(), {}, { baseUrl: stub.url, cycles: 2, forceRefresh: true, resilience: { cache: { ttlMs: 60_000 } } });
    expect(stub.count('/v1/readings')).to.equal(2);
    expect(result.records.map((r) => r.headers['tributary-origin'])).to.deep.equal(['live', 'live']);
  });

  it('retries 503s and 429s through the stack, and reports the error code when retries run out', async () => {
    stub = await startStubServer({
      routes: [
        {
          path: '/v1/readings',
          json: { items: [{ station: 'NL01', value: 3 }] },
          faults: [
            { kind: 'status', status: 503, times: 1 },
            { kind: 'rateLimit', retryAfterSeconds: 0, after: 1, times: 1 },
          ],
        },
      ],
    });
    const retry = { maxRetries: 2, initialDelayMs: 1, factor: 1, maxDelayMs: 5, jitter: 'none' as const };
    const ok = await runPlugin(apiPlugin(), {}, { baseUrl: stub.url, resilience: { retry } });
    expect(ok.records).to.have.length(1);
    expect(ok.summary.sources.test!.retries).to.equal(2);

    stub.setRoutes([{ path: '/v1/readings', faults: { kind: 'status', status: 500 } }]);
    const failed = await runPlugin(apiPlugin(), { apiKey: 'secret-key-123' }, { baseUrl: stub.url, resilience: { retry }, secrets: ['secret-key-123'] });
    expect(failed.records).to.deep.equal([]);
    expect(failed.errors).to.have.length(1);
    expect(failed.errors[0]).to.include({ source: 'test', code: 'ERR_HTTP' });
    expect(failed.errors[0]!.message).to.not.include('secret-key-123');
    expect(failed.summary.sources.test!.cycles.error).to.equal(1);
  });

  it('checks the config against the plugin schema first', async () => {
    const { z } = await import('zod');
    const plugin = { ...testPlugin(() => ({ collect: () => from([]) })), configSchema: z.strictObject({ station: z.string() }) } as ReturnType<typeof testPlugin>;
    const err = await runPlugin(plugin, { station: 1 }).catch((e: unknown) => e);
    expect(isConfigError(err)).to.equal(true);
    expect((err as Error).message).to.match(/config\.station/);
  });

  it('passes window and starting state, and returns the committed state', async () => {
    const plugin = testPlugin((_c, ctx) => ({
      collect: (info) =>
        defer(async () => {
          const seen = (await ctx.state.get<number>('seen')) ?? 0;
          await ctx.state.set('seen', seen + 1);
          await ctx.state.set('window', info.window);
          return { stream: 'readings', value: { station: 'x', value: seen, meta: { unit: 'u' } } };
        }),
    }));
    const result = await runPlugin(plugin, {}, { state: { test: { seen: 5 } }, window: { start: 1, end: 2 }, cycles: 2 });
    expect(result.records.map((r) => (r.value as { value: number }).value)).to.deep.equal([5, 6]);
    expect(result.state.test).to.deep.equal({ seen: 7, window: { start: 1, end: 2 } });
  });

  it('uses the streams of the config when the plugin has streamsFor: routes, keys and validation per source', async () => {
    const { z } = await import('zod');
    const plugin: TributaryPlugin = {
      ...testPlugin((config) => ({
        collect: () =>
          from([
            { stream: 'rows', value: { [String(config.field)]: 'a1' } },
            { stream: 'rows', value: { other: 'b2' } }, // does not fit the derived schema
            { stream: 'readings', value: { station: 'x', value: 1, meta: { unit: 'u' } } }, // a static stream, not one of this config
          ]),
      })),
      configSchema: z.object({ field: z.string() }) as unknown as TributaryPlugin['configSchema'],
      streamsFor: (config) => {
        const field = String((config as { field: string }).field);
        return { rows: { schema: { type: 'record', name: 'Row', fields: [{ name: field, type: 'string' }] }, key: field } };
      },
    };
    const { records, deadLetters } = await runPlugin(plugin, { field: 'id' });
    expect(records.map((r) => [r.topic, r.key, r.value])).to.deep.equal([['rows', 'a1', { id: 'a1' }]]);
    expect(deadLetters.map((d) => [d.topic, d.code])).to.deep.equal([
      ['rows', 'ERR_SCHEMA'],
      ['_unrouted', 'ERR_UNKNOWN_STREAM'],
    ]);
    expect(deadLetters[1]!.reason).to.include('declares: rows');

    const err = await runPlugin(plugin, { field: 'not-a-name' }).catch((e: unknown) => e);
    expect(isConfigError(err)).to.equal(true);
    expect((err as Error).message).to.include('config: plugin test-plugin, stream "rows": schema is not a valid Avro schema');
  });

  it('assertRecordsMatchSchema names the first bad record and field', () => {
    expect(() =>
      assertRecordsMatchSchema(
        [
          { stream: 'readings', value: { station: 'a', value: 1, meta: { unit: 'u' } } },
          { stream: 'readings', value: { station: 'b', value: 'x', meta: { unit: 'u' } } },
        ],
        READING_SCHEMA as unknown as Record<string, unknown>,
      ),
    ).to.throw(/record 1 does not match the schema: .*value/);
  });
});
