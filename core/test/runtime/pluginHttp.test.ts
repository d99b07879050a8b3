import { expect } from 'chai';
import { Registry } from 'prom-client';
import { EMPTY, firstValueFrom, from, lastValueFrom, mergeMap, toArray } from 'rxjs';
import { isHttpError } from '../../src/errors/HttpError.js';
import { isResponseError } from '../../src/errors/ResponseError.js';
import { HttpClient } from '../../src/http/client.js';
import { InstrumentationEvents } from '../../src/observability/events.js';
import { silentLogger } from '../../src/observability/logger.js';
import type { ResilienceConfig } from '../../src/pipeline/types.js';
import { ResilientHttp } from '../../src/pipeline/runtime/http.js';
import { buildResilience, type SourceResilience } from '../../src/pipeline/runtime/resilience.js';
import type { PluginContext, PluginResponse } from '../../src/plugin/types.js';
import { runPlugin } from '../../src/testing/runPlugin.js';
import { startStubServer, type StubServer } from '../../src/testing/stubServer.js';
import { testPlugin } from './helpers.js';

const SECRET = 'k-5e1f0a77';

describe('runtime: ctx.http get$/get, expectStatus and emptyOn', () => {
  let stub: StubServer;
  let client: HttpClient;
  let resilience: SourceResilience | undefined;

  before(async () => {
    stub = await startStubServer();
  });
  beforeEach(() => {
    client = new HttpClient({ source: 'api', secrets: [SECRET] });
  });
  afterEach(() => {
    stub.reset();
    client.destroy();
    resilience?.dispose();
    resilience = undefined;
  });
  after(() => stub.close());

  function http(config: ResilienceConfig = {}, options: { forceRefresh?: boolean } = {}): ResilientHttp {
    resilience = buildResilience('api', config, { registry: new Registry(), events: new InstrumentationEvents(), log: silentLogger() });
    return new ResilientHttp({ source: 'api', client, resilience, forceRefresh: options.forceRefresh ?? false, secrets: [SECRET] });
  }

  it('get delivers status, case-insensitive headers, text and json, and the URL with secrets redacted', async () => {
    stub.setRoutes([{ path: '/items', status: 200, json: { items: [1, 2] }, headers: { link: '<http://x/items?page=2>; rel="next"', 'x-total': '7' } }]);
    const res = await http().get(`${stub.url}/items`, { query: { api_key: SECRET, page: 1, skip: undefined } });
    expect(res.status).to.equal(200);
    expect(res.headers.get('Link')).to.equal('<http://x/items?page=2>; rel="next"');
    expect(res.headers.get('x-total')).to.equal('7');
    expect(res.headers.get('x-missing')).to.equal(null);
    expect(res.json()).to.deep.equal({ items: [1, 2] });
    expect(res.text()).to.equal('{"items":[1,2]}');
    expect(res.url).to.equal(`${stub.url}/items?api_key=***&page=1`);
    expect(stub.requests[0]!.query).to.deep.equal({ api_key: SECRET, page: '1' });
  });

  it('get$ is cold: one request per subscription, the response as its only value', async () => {
    stub.setRoutes([{ path: '/one', body: 'plain text' }]);
    const call$ = http().get$(`${stub.url}/one`);
    expect(stub.count('/one')).to.equal(0);
    const values = await lastValueFrom(call$.pipe(toArray()));
    expect(values.map((r) => [r.status, r.text()])).to.deep.equal([[200, 'plain text']]);
    await firstValueFrom(call$);
    expect(stub.count('/one')).to.equal(2);
  });

  it('json() of a body that is not JSON throws the client ResponseError (ERR_BAD_JSON) naming source and URL', async () => {
    stub.setRoutes([{ path: '/html', body: '<html>maintenance</html>', headers: { 'content-type': 'text/html' } }]);
    const res = await http().get(`${stub.url}/html`, { query: { token: SECRET } });
    expect(res.text()).to.equal('<html>maintenance</html>');
    let err: unknown;
    try {
      res.json();
    } catch (e) {
      err = e;
    }
    expect(isResponseError(err)).to.equal(true);
    expect(err).to.include({ code: 'ERR_BAD_JSON', source: 'api' });
    expect(String((err as Error).message)).to.include('source "api"').and.include(`${stub.url}/html?token=***`).and.not.include(SECRET);
  });

  it('expectStatus: a listed non-2xx status is a response; others still fail with HttpError', async () => {
    stub.setRoutes([{ path: '/ack', status: 400, body: '<Acknowledgement><Reason>No matching data found</Reason></Acknowledgement>' }]);
    const h = http();
    const res = await h.get(`${stub.url}/ack`, { expectStatus: [200, 400] });
    expect(res.status).to.equal(400);
    expect(res.text()).to.include('No matching data found');
    const byPredicate = await h.getText(`${stub.url}/ack`, { expectStatus: (s) => s === 400 });
    expect(byPredicate).to.include('<Reason>');
    const err = await h.get(`${stub.url}/ack`).catch((e: unknown) => e);
    expect(isHttpError(err) && err.status).to.equal(400);
    const err2 = await h.get(`${stub.url}/ack`, { expectStatus: [200] }).catch((e: unknown) => e);
    expect(isHttpError(err2) && err2.status).to.equal(400);
  });

  it('an expected non-2xx status counts as a success for the circuit breaker, the throttle and retries', async () => {
    stub.setRoutes([{ path: '/maintenance', status: 503, json: { state: 'maintenance' } }]);
    const config: ResilienceConfig = {
      circuitBreaker: { failureThreshold: 2, successThreshold: 1, resetTimeoutMs: 60_000, halfOpenMaxConcurrent: 1 },
      throttle: { initialDelayMs: 1, minDelayMs: 1, maxDelayMs: 1_000, speedUpAfter: 100, speedUpFactor: 0.9, rateLimitFactor: 2, errorFactor: 4, maxConcurrent: 1 },
      retry: { maxRetries: 2, initialDelayMs: 1, factor: 1, maxDelayMs: 1, jitter: 'none' },
    };
    const h = http(config);
    for (let i = 0; i < 3; i++) {
      const res = await h.get(`${stub.url}/maintenance`, { expectStatus: (s) => s === 200 || s === 503 });
      expect(res.json()).to.deep.equal({ state: 'maintenance' });
    }
    expect(resilience!.breaker!.state).to.equal('closed');
    expect(resilience!.breaker!.stats()).to.include({ successes: 3, failures: 0 });
    expect(resilience!.throttle!.delay).to.equal(1);
    expect(stub.count('/maintenance')).to.equal(3); // no retries

    // The same answers without expectStatus: failures, retried, and the breaker opens.
    const err = await h.getJson(`${stub.url}/maintenance`).catch((e: unknown) => e);
    expect(isHttpError(err) || (err as { code?: string }).code === 'ERR_CIRCUIT_OPEN').to.equal(true);
    expect(resilience!.breaker!.state).to.equal('open');
    expect(resilience!.throttle!.delay).to.be.greaterThan(1);
  });

  it('emptyOn: the Promise forms resolve undefined, get$ completes without a value, and nothing is cached', async () => {
    stub.setRoutes([{ path: '/gone', status: 404, json: { error: 'no such station' } }]);
    const h = http({ cache: { ttlMs: 60_000 } });
    const url = `${stub.url}/gone`;
    expect(await h.get(url, { emptyOn: [404] })).to.equal(undefined);
    expect(await h.getJson(url, { emptyOn: [404] })).to.equal(undefined);
    expect(await h.getText(url, { emptyOn: [404] })).to.equal(undefined);
    expect(await lastValueFrom(h.get$(url, { emptyOn: [404] }).pipe(toArray()))).to.deep.equal([]);
    expect(await lastValueFrom(h.getJson$(url, { emptyOn: [404] }).pipe(toArray()))).to.deep.equal([]);
    expect(stub.count('/gone')).to.equal(5);
    const err = await h.get(url).catch((e: unknown) => e);
    expect(isHttpError(err) && err.status).to.equal(404);
  });

  it('caches responses with their status, headers and body, keyed apart from getJson of the same URL', async () => {
    let n = 0;
    stub.setRoutes([{ path: '/cached', status: 203, json: () => ({ n: ++n }), headers: { etag: '"v1"' } }]);
    const h = http({ cache: { ttlMs: 60_000 } });
    const url = `${stub.url}/cached`;
    const opts = { query: { zone: 'NL' }, expectStatus: [200, 203] };
    const first = await h.get(url, opts);
    const second = await h.get(url, opts);
    expect(stub.count('/cached')).to.equal(1);
    for (const res of [first, second]) {
      expect(res.status).to.equal(203);
      expect(res.headers.get('ETag')).to.equal('"v1"');
      expect(res.json()).to.deep.equal({ n: 1 });
    }
    expect(h.keyOf(url, opts, 'response')).to.equal(`GET response ${url}?zone=NL`);
    expect(await h.getJson(url, opts)).to.deep.equal({ n: 2 }); // another kind, another entry
    expect(stub.count('/cached')).to.equal(2);
    // --force-refresh skips the read
    const fresh = await http({ cache: { ttlMs: 60_000 } }, { forceRefresh: true }).get(url, opts);
    expect(fresh.json()).to.deep.equal({ n: 3 });
  });

  it('serves the last good response (status, headers, body) by stale fallback when the API fails', async () => {
    stub.setRoutes([{ path: '/flaky', json: { price: 42 }, headers: { 'x-version': '3' }, faults: [{ kind: 'status', status: 503, after: 1 }] }]);
    const h = http({ staleFallback: { maxAgeMs: 60_000 } });
    await h.get(`${stub.url}/flaky`);
    const stale = await h.get(`${stub.url}/flaky`);
    expect(stub.count('/flaky')).to.equal(2);
    expect([stale.status, stale.headers.get('x-version'), stale.json()]).to.deep.equal([200, '3', { price: 42 }]);
  });

  it('keeps the size limit of the client: a body over maxBodyBytes fails the call', async () => {
    stub.setRoutes([{ path: '/big', body: 'x'.repeat(2_000) }]);
    const plugin = testPlugin((_config, ctx: PluginContext) => ({
      collect: () => ctx.http.get$('https://api.example.invalid/big').pipe(mergeMap(() => EMPTY)),
    }));
    const { errors } = await runPlugin(plugin, {}, { baseUrl: stub.url, http: { maxBodyBytes: 1_000 } });
    expect(errors).to.have.length(1);
    expect(errors[0]).to.include({ code: 'ERR_BODY_TOO_LARGE', source: 'test' });
  });

  it('is what plugins get as ctx.http in a run: get with expectStatus, responses marked as cached', async () => {
    stub.setRoutes([{ path: '/v1/readings', status: 206, json: { items: [{ station: 'NL01', value: 3 }] }, headers: { 'x-page': '1' } }]);
    const plugin = testPlugin((_config, ctx: PluginContext) => ({
      collect: () =>
        ctx.http.get$('https://api.example.invalid/v1/readings', { expectStatus: [206] }).pipe(
          mergeMap((res: PluginResponse) =>
            from(
              res.json<{ items: { station: string; value: number }[] }>().items.map((item) => ({
                stream: 'readings',
                value: { station: item.station, value: item.value + res.status / 1000, meta: { unit: res.headers.get('x-page')! } },
              })),
            ),
          ),
        ),
    }));
    const { records, errors } = await runPlugin(plugin, {}, { baseUrl: stub.url, cycles: 2, resilience: { cache: { ttlMs: 60_000 } } });
    expect(errors).to.deep.equal([]);
    expect(records.map((r) => r.value)).to.deep.equal([
      { station: 'NL01', value: 3.206, meta: { unit: '1' } },
      { station: 'NL01', value: 3.206, meta: { unit: '1' } },
    ]);
    expect(records.map((r) => r.headers['tributary-origin'])).to.deep.equal(['live', 'cache']);
    expect(stub.count('/v1/readings')).to.equal(1);
  });
});
