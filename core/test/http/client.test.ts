import { expect } from 'chai';
import { getEventListeners } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { Registry } from 'prom-client';
import pino from 'pino';
import { firstValueFrom, lastValueFrom, retry, toArray } from 'rxjs';
import { HttpError, isHttpError } from '../../src/errors/HttpError.js';
import { isNetworkError } from '../../src/errors/NetworkError.js';
import { isResponseError } from '../../src/errors/ResponseError.js';
import { isTimeoutError } from '../../src/errors/TimeoutError.js';
import { isRetriable } from '../../src/errors/retriable.js';
import { HttpClient } from '../../src/http/client.js';
import type { HttpClientLogger } from '../../src/http/client.js';
import type { PluginHttp } from '../../src/plugin/types.js';
import { startStubServer } from '../../src/testing/stubServer.js';
import type { StubServer } from '../../src/testing/stubServer.js';

/** Rejection of `p`, failing the test when it resolves. */
async function failure(p: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await p;
  } catch (err) {
    return err as Error & Record<string, unknown>;
  }
  throw new Error('expected the call to fail, it succeeded');
}

/** A plain server for behaviours the stub does not script (trickling bodies). */
async function rawServer(handler: http.RequestListener): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Writes `parts` chunks `gapMs` apart, tracking its timers so the test can clear them. */
function trickle(res: http.ServerResponse, parts: number, gapMs: number, timers: Set<NodeJS.Timeout>): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.write('[0');
  let i = 1;
  const next = (): void => {
    const t = setTimeout(() => {
      timers.delete(t);
      if (res.destroyed) return;
      if (i < parts) {
        res.write(`,${i++}`);
        next();
      } else {
        res.end(']');
      }
    }, gapMs);
    timers.add(t);
  };
  next();
}

describe('http/HttpClient', function () {
  this.timeout(10_000);
  let stub: StubServer;
  let client: HttpClient;

  before(async () => {
    stub = await startStubServer({
      routes: [
        { path: '/json', json: (req) => ({ ok: true, query: req.query, n: req.n }) },
        { path: '/echo', method: '*', json: (req) => ({ method: req.method, headers: req.headers, body: req.body, url: req.url }) },
        { path: '/text', body: 'hello, world' },
        { path: '/latin1', body: Buffer.from([0x63, 0x61, 0x66, 0xe9]), headers: { 'content-type': 'text/plain; charset=iso-8859-1' } },
        { path: '/slow', json: { slow: true }, latencyMs: 100 },
        { path: '/hang', faults: { kind: 'hang' } },
        { path: '/reset', faults: { kind: 'reset' } },
        { path: '/malformed', faults: { kind: 'malformed' } },
        { path: '/html', faults: { kind: 'html' } },
        { path: '/html502', faults: { kind: 'html', status: 502 } },
        { path: '/truncated', json: { data: 'x'.repeat(2000) }, faults: { kind: 'truncated' } },
        { path: '/cut-json', body: '{"data": [1, 2,', headers: { 'content-type': 'application/json' } },
        { path: '/huge', faults: { kind: 'huge', bytes: 3_000_000 } },
        { path: '/huge-declared', faults: { kind: 'huge', bytes: 64_000_000, declareLength: true } },
        { path: '/huger', faults: { kind: 'huge', bytes: 64_000_000 } },
        { path: '/503', faults: { kind: 'status', status: 503, retryAfter: 3, body: { error: 'maintenance' } } },
        { path: '/404', faults: { kind: 'status', status: 404 } },
        { path: '/400', faults: { kind: 'status', status: 400, body: 'bad request' } },
        { path: '/204', status: 204 },
      ],
    });
  });

  beforeEach(() => {
    stub.reset();
    client = new HttpClient({ source: 'test', readTimeout: 2000 });
  });

  afterEach(() => client.destroy());
  after(() => stub.close());

  describe('successful calls', () => {
    it('getJson parses JSON and builds the query from an object', async () => {
      const body = await client.getJson<{ ok: boolean; query: Record<string, string> }>(`${stub.url}/json?fixed=1`, {
        query: { a: 'x y', n: 3, flag: true, skip: undefined, none: null, day: new Date('2025-01-02T03:04:05Z'), ids: ['a', 'b'] },
      });
      expect(body.ok).to.equal(true);
      expect(body.query).to.deep.equal({ fixed: '1', a: 'x y', n: '3', flag: 'true', day: '2025-01-02T03:04:05.000Z', ids: 'a' });
      expect(stub.requests[0]!.url).to.equal('/json?fixed=1&a=x+y&n=3&flag=true&day=2025-01-02T03%3A04%3A05.000Z&ids=a&ids=b');
    });

    it('getJson$ is cold: nothing is sent before subscription, one request per subscription', async () => {
      const json$ = client.getJson$<{ n: number }>(`${stub.url}/json`);
      await new Promise((r) => setTimeout(r, 20));
      expect(stub.count('/json')).to.equal(0);
      const first = await firstValueFrom(json$);
      const second = await firstValueFrom(json$);
      expect([first.n, second.n]).to.deep.equal([1, 2]);
      expect(stub.count('/json')).to.equal(2);
    });

    it('sends user agent, Accept for JSON, default headers and per-request headers (which win)', async () => {
      const c = new HttpClient({ userAgent: 'collector/1.0', defaultHeaders: { 'X-Team': 'grid', 'X-Over': 'default' } });
      try {
        const res = await c.getJson<{ headers: Record<string, string> }>(`${stub.url}/echo`, { headers: { 'x-over': 'request', 'X-None': undefined } });
        expect(res.headers['user-agent']).to.equal('collector/1.0');
        expect(res.headers['accept']).to.equal('application/json');
        expect(res.headers['x-team']).to.equal('grid');
        expect(res.headers['x-over']).to.equal('request');
        expect(res.headers).not.to.have.property('x-none');
      } finally {
        c.destroy();
      }
    });

    it('request sends a JSON body with POST by default and returns the full response', async () => {
      const res = await client.request({ url: `${stub.url}/echo`, json: { day: '2025-01-01' } });
      expect(res.status).to.equal(200);
      expect(res.headers.get('content-type')).to.match(/application\/json/);
      const echoed = res.json<{ method: string; body: string; headers: Record<string, string> }>();
      expect(echoed.method).to.equal('POST');
      expect(JSON.parse(echoed.body)).to.deep.equal({ day: '2025-01-01' });
      expect(echoed.headers['content-type']).to.equal('application/json');
    });

    it('get$, getText and getText$ decode text (charset from Content-Type)', async () => {
      const res = await firstValueFrom(client.get$(`${stub.url}/text`));
      expect(res.text()).to.equal('hello, world');
      expect(res.body.length).to.equal(12);
      expect(await client.getText(`${stub.url}/latin1`)).to.equal('café');
      expect(await firstValueFrom(client.getText$(`${stub.url}/text`))).to.equal('hello, world');
    });

    it('follows redirects up to maxRedirects', async () => {
      stub.route({ path: '/moved', status: 302, headers: { location: '/json?via=redirect' } });
      const body = await client.getJson<{ query: Record<string, string> }>(`${stub.url}/moved?token=t0k3n-secret`);
      expect(body.query).to.deep.equal({ via: 'redirect' });
      const strict = new HttpClient({ source: 'strict', maxRedirects: 0 });
      try {
        const err = await failure(strict.getJson(`${stub.url}/moved?token=t0k3n-secret`));
        expect(isResponseError(err)).to.equal(true);
        expect(err.message).to.include('source "strict"').and.include('token=***').and.not.include('t0k3n-secret');
      } finally {
        strict.destroy();
      }
    });

    it('resolves relative URLs against baseUrl', async () => {
      const c = new HttpClient({ baseUrl: `${stub.url}/` });
      try {
        expect(await c.getJson<{ ok: boolean }>('json')).to.have.property('ok', true);
      } finally {
        c.destroy();
      }
    });

    it('emptyOn: the Promise resolves undefined and the Observable completes without a value', async () => {
      expect(await client.getJson(`${stub.url}/404`, { emptyOn: [404] })).to.equal(undefined);
      const values = await lastValueFrom(client.getJson$(`${stub.url}/404`, { emptyOn: [404] }).pipe(toArray()));
      expect(values).to.deep.equal([]);
    });

    it('expectStatus widens what counts as success', async () => {
      const res = await client.get(`${stub.url}/404`, { expectStatus: [200, 404] });
      expect(res.status).to.equal(404);
      const err = await failure(client.get(`${stub.url}/json`, { expectStatus: (s) => s === 201 }));
      expect(isHttpError(err) && err.status).to.equal(200);
    });

    it('getJson on 204 fails unless 204 is in emptyOn', async () => {
      const err = await failure(client.getJson(`${stub.url}/204`));
      expect(isResponseError(err)).to.equal(true);
      expect(err['code']).to.equal('ERR_BAD_JSON');
      expect(await client.getJson(`${stub.url}/204`, { emptyOn: [204] })).to.equal(undefined);
    });

    it('retry resubscribes: each attempt is a new request', async () => {
      stub.route({ path: '/flaky', json: { fine: true }, faults: { kind: 'status', status: 503, times: 2 } });
      const value = await firstValueFrom(client.getJson$<{ fine: boolean }>(`${stub.url}/flaky`).pipe(retry(2)));
      expect(value.fine).to.equal(true);
      expect(stub.count('/flaky')).to.equal(3);
    });

    it('is usable where plugins expect PluginHttp', async () => {
      const pluginHttp: PluginHttp = client;
      expect(await pluginHttp.getJson<{ ok: boolean }>(`${stub.url}/json`, { query: { a: 1 } })).to.have.property('ok', true);
    });
  });

  describe('status errors', () => {
    it('5xx: HttpError with status, Retry-After in seconds, body start, source and URL; retriable', async () => {
      const err = await failure(client.getJson(`${stub.url}/503`));
      expect(isHttpError(err)).to.equal(true);
      const e = err as unknown as HttpError;
      expect(e.status).to.equal(503);
      expect(e.retryAfterMs).to.equal(3000);
      expect(e.body).to.equal('{"error":"maintenance"}');
      expect(e.source).to.equal('test');
      expect(e.url).to.equal(`${stub.url}/503`);
      expect(e.message).to.include('source "test"').and.include('/503');
      expect(e.retriable).to.equal(true);
      expect(isRetriable(e)).to.equal(true);
    });

    it('429 with an HTTP-date Retry-After', async () => {
      const at = new Date(Date.now() + 20_000).toUTCString();
      stub.route({ path: '/limited', faults: { kind: 'status', status: 429, retryAfter: at } });
      const err = (await failure(client.getJson(`${stub.url}/limited`))) as unknown as HttpError;
      expect(err.status).to.equal(429);
      expect(err.retryAfterMs).to.be.within(17_000, 20_000);
      expect(err.retriable).to.equal(true);
    });

    it('caps Retry-After at retryAfterCap', async () => {
      stub.route({ path: '/day', faults: { kind: 'status', status: 429, retryAfter: 86_400 } });
      const c = new HttpClient({ retryAfterCap: 60_000 });
      try {
        const err = (await failure(c.getJson(`${stub.url}/day`))) as unknown as HttpError;
        expect(err.retryAfterMs).to.equal(60_000);
      } finally {
        c.destroy();
      }
    });

    it('4xx other than 408/425/429 is not retriable', async () => {
      const err = (await failure(client.getText(`${stub.url}/400`))) as unknown as HttpError;
      expect(err.status).to.equal(400);
      expect(err.body).to.equal('bad request');
      expect(err.retriable).to.equal(false);
      expect(isRetriable(err)).to.equal(false);
    });

    it('keeps only the start of a long error body', async () => {
      stub.route({ path: '/long-error', faults: { kind: 'status', status: 500, body: 'e'.repeat(5000) } });
      const err = (await failure(client.getText(`${stub.url}/long-error`))) as unknown as HttpError;
      expect(err.body!.length).to.be.at.most(513);
      expect(err.body!.startsWith('eeee')).to.equal(true);
    });
  });

  describe('unusable bodies', () => {
    it('malformed JSON: ResponseError ERR_BAD_JSON naming source, URL and the start of the body', async () => {
      const err = await failure(client.getJson(`${stub.url}/malformed?page=2`));
      expect(isResponseError(err)).to.equal(true);
      expect(err).not.to.be.instanceOf(SyntaxError);
      expect(err['code']).to.equal('ERR_BAD_JSON');
      expect(err['source']).to.equal('test');
      expect(err['url']).to.equal(`${stub.url}/malformed?page=2`);
      expect(err.message).to.include('source "test"').and.include(`${stub.url}/malformed?page=2`).and.include('{\\"status\\": ok');
      expect(err['retriable']).to.equal(true);
    });

    it('an HTML page with status 200 is ERR_BAD_JSON showing the content type and the page start', async () => {
      const err = await failure(firstValueFrom(client.getJson$(`${stub.url}/html`)));
      expect(err['code']).to.equal('ERR_BAD_JSON');
      expect(err.message).to.include('text/html').and.include('<!DOCTYPE html>').and.include('/html');
    });

    it('an HTML page with status 502 is an HttpError carrying the page start', async () => {
      const err = (await failure(client.getJson(`${stub.url}/html502`))) as unknown as HttpError;
      expect(err.status).to.equal(502);
      expect(err.body).to.include('502 Bad Gateway');
    });

    it('JSON cut short inside a complete HTTP body is ERR_BAD_JSON', async () => {
      const err = await failure(client.getJson(`${stub.url}/cut-json`));
      expect(err['code']).to.equal('ERR_BAD_JSON');
      expect(err.message).to.include('{\\"data\\": [1, 2,');
    });

    it('a body cut by a closed connection is ERR_BODY_TRUNCATED naming source and URL', async () => {
      const err = await failure(client.getJson(`${stub.url}/truncated`));
      expect(isResponseError(err)).to.equal(true);
      expect(err['code']).to.equal('ERR_BODY_TRUNCATED');
      expect(err.message).to.include('source "test"').and.include('/truncated').and.match(/after \d+ bytes of \d+/);
    });

    it('a declared Content-Length over maxBodyBytes fails before reading the body', async () => {
      const c = new HttpClient({ source: 'big', maxBodyBytes: 1_000_000 });
      try {
        const err = await failure(c.getJson(`${stub.url}/huge-declared`));
        expect(err['code']).to.equal('ERR_BODY_TOO_LARGE');
        expect(err.message).to.include('Content-Length is 64000000').and.include('source "big"').and.include('/huge-declared');
        await stub.until(() => stub.requests[0]!.aborted);
      } finally {
        c.destroy();
      }
    });

    it('a streamed body without Content-Length is cut as soon as it passes maxBodyBytes', async () => {
      const err = await failure(client.getJson(`${stub.url}/huger`, { maxBodyBytes: 200_000 }));
      expect(err['code']).to.equal('ERR_BODY_TOO_LARGE');
      expect(err.message).to.include('more than 200000 bytes').and.include('/huger');
      await stub.until(() => stub.requests[0]!.aborted);
    });

    it('a body within the limit is read in full', async () => {
      const text = await client.getText(`${stub.url}/huge`, { maxBodyBytes: 3_000_000 });
      expect(text.length).to.equal(3_000_000);
    });
  });

  describe('network failures and timeouts', () => {
    it('a reset connection is a retriable ERR_NETWORK naming source and URL', async () => {
      const err = await failure(client.getJson(`${stub.url}/reset`));
      expect(isNetworkError(err)).to.equal(true);
      expect(err['code']).to.equal('ERR_NETWORK');
      expect(err['reason']).to.equal('ECONNRESET');
      expect(err['retriable']).to.equal(true);
      expect(err.message).to.include('source "test"').and.include('/reset');
      expect(err.cause).to.be.instanceOf(Error);
    });

    it('a refused connection is ERR_NETWORK with reason ECONNREFUSED', async () => {
      const server = net.createServer();
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const { port } = server.address() as AddressInfo;
      await new Promise<void>((r) => server.close(() => r()));
      const err = await failure(client.getJson(`http://127.0.0.1:${port}/x`));
      expect(isNetworkError(err) && err.reason).to.equal('ECONNREFUSED');
    });

    it('no answer: TimeoutError after readTimeout', async () => {
      const c = new HttpClient({ source: 'slowapi', readTimeout: 100 });
      try {
        const started = Date.now();
        const err = await failure(c.getJson(`${stub.url}/hang`));
        const took = Date.now() - started;
        expect(isTimeoutError(err)).to.equal(true);
        expect(err['timeoutMs']).to.equal(100);
        expect(err['retriable']).to.equal(true);
        expect(err.message).to.include('source "slowapi"').and.include('/hang').and.include('timed out after 100 ms');
        expect(took).to.be.within(90, 1500);
        await stub.until(() => stub.requests[0]!.aborted);
      } finally {
        c.destroy();
      }
    });

    it('readTimeout is an idle limit: a body that keeps coming is not cut', async () => {
      const timers = new Set<NodeJS.Timeout>();
      const server = await rawServer((_req, res) => trickle(res, 8, 50, timers));
      const c = new HttpClient({ readTimeout: 250 });
      try {
        const started = Date.now();
        expect(await c.getJson(server.url)).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7]);
        expect(Date.now() - started).to.be.above(250);
      } finally {
        c.destroy();
        timers.forEach(clearTimeout);
        await server.close();
      }
    });

    it('totalTimeout bounds the whole request, trickling body included', async () => {
      const timers = new Set<NodeJS.Timeout>();
      const server = await rawServer((_req, res) => trickle(res, 20, 40, timers));
      const c = new HttpClient({ readTimeout: 1000, totalTimeout: 150 });
      try {
        const err = await failure(c.getJson(server.url));
        expect(isTimeoutError(err)).to.equal(true);
        expect(err['timeoutMs']).to.equal(150);
      } finally {
        c.destroy();
        timers.forEach(clearTimeout);
        await server.close();
      }
    });

    it('per-request timeouts override the client', async () => {
      const err = await failure(client.getJson(`${stub.url}/hang`, { readTimeout: 50 }));
      expect(isTimeoutError(err) && err.timeoutMs).to.equal(50);
    });

    it('connectTimeout covers the TLS handshake: a server that never completes it times out', async () => {
      const silent = new Set<net.Socket>();
      const server = net.createServer((s) => silent.add(s));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const { port } = server.address() as AddressInfo;
      const c = new HttpClient({ source: 'tls', connectTimeout: 100, readTimeout: 5000 });
      try {
        const started = Date.now();
        const err = await failure(c.getJson(`https://127.0.0.1:${port}/x?token=abc123secret`));
        expect(isTimeoutError(err)).to.equal(true);
        expect(err['timeoutMs']).to.equal(100);
        expect(err.message).to.include('connect to 127.0.0.1').and.include('token=***').and.not.include('abc123secret');
        expect(Date.now() - started).to.be.within(90, 1500);
      } finally {
        c.destroy();
        silent.forEach((s) => s.destroy());
        await new Promise<void>((r) => server.close(() => r()));
      }
    });

    it('connectTimeout also applies to the connection of a redirect hop', async () => {
      const silent = new Set<net.Socket>();
      const server = net.createServer((s) => silent.add(s));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const { port } = server.address() as AddressInfo;
      stub.route({ path: '/to-silent', status: 302, headers: { location: `https://127.0.0.1:${port}/x` } });
      const c = new HttpClient({ source: 'hop', connectTimeout: 100, readTimeout: 5000 });
      try {
        const err = await failure(c.getJson(`${stub.url}/to-silent`));
        expect(isTimeoutError(err)).to.equal(true);
        expect(err['timeoutMs']).to.equal(100);
        expect(err.message).to.include('source "hop"').and.include('connect for a redirect of GET').and.include('/to-silent');
      } finally {
        c.destroy();
        silent.forEach((s) => s.destroy());
        await new Promise<void>((r) => server.close(() => r()));
      }
    });

    it('a slow answer within readTimeout succeeds even past freeSocketTimeout', async () => {
      const c = new HttpClient({ readTimeout: 1000, freeSocketTimeout: 30 });
      try {
        expect(await c.getJson(`${stub.url}/slow`)).to.deep.equal({ slow: true });
      } finally {
        c.destroy();
      }
    });
  });

  describe('cancellation', () => {
    it('unsubscribing aborts the request: the server sees the connection closed', async () => {
      const sub = client.getJson$(`${stub.url}/hang`).subscribe({
        error: () => expect.fail('no error after unsubscribe'),
        complete: () => expect.fail('no completion after unsubscribe'),
      });
      await stub.until(() => stub.count('/hang') === 1);
      sub.unsubscribe();
      await stub.until(() => stub.requests[0]!.aborted);
      expect(stub.stats().inFlight).to.equal(0);
    });

    it('an external AbortSignal aborts the Promise form with its reason', async () => {
      const controller = new AbortController();
      const call = client.getJson(`${stub.url}/hang`, { signal: controller.signal });
      await stub.until(() => stub.count('/hang') === 1);
      const reason = new Error('shutting down');
      controller.abort(reason);
      expect(await failure(call)).to.equal(reason);
      await stub.until(() => stub.requests[0]!.aborted);
    });

    it('an already aborted signal fails at once without a request', async () => {
      const err = await failure(client.getJson(`${stub.url}/json`, { signal: AbortSignal.abort() }));
      expect(err.name).to.equal('AbortError');
      expect(stub.count()).to.equal(0);
    });

    it('does not leave listeners on a long-lived signal', async () => {
      const controller = new AbortController();
      for (let i = 0; i < 5; i++) await client.getJson(`${stub.url}/json`, { signal: controller.signal });
      expect(getEventListeners(controller.signal, 'abort')).to.have.length(0);
    });
  });

  describe('secrets', () => {
    const KEY = 'sk-live-4f9a8b7c6d5e';
    const BEARER = 'bearer-token-0a1b2c3d';
    const PATH_SECRET = 'pathsecret-998877';

    it('never shows an API key, a bearer token or a configured secret in errors, logs or metrics', async () => {
      stub.route({ path: '/echo-key', faults: { kind: 'status', status: 401, body: `invalid key ${KEY} (Bearer ${BEARER})` } });
      stub.route({ path: '/bad-key', faults: { kind: 'malformed', body: `{"key": ${KEY}` } });
      stub.route({ path: `/v1/${PATH_SECRET}/data`, faults: { kind: 'html', status: 503 } });
      const lines: unknown[] = [];
      const logger: HttpClientLogger = { debug: (obj, msg) => lines.push({ obj, msg }) };
      const registry = new Registry();
      const c = new HttpClient({ source: 'keys', readTimeout: 100, maxBodyBytes: 100_000, logger, metrics: registry, secrets: [PATH_SECRET] });
      const opts = { query: { apikey: KEY, x: 1 }, headers: { authorization: `Bearer ${BEARER}` } };
      const errors: unknown[] = [];
      try {
        for (const path of ['/echo-key', '/bad-key', '/hang', '/reset', '/huge', '/truncated', '/malformed', `/v1/${PATH_SECRET}/data`]) {
          errors.push(await failure(c.getJson(`${stub.url}${path}`, opts)));
        }
        errors.push(await failure(c.getJson(`notaurl://${KEY}@x?apikey=${KEY}`, opts)));
        errors.push(await failure(c.getJson(`${stub.url}/json?api_key=${KEY}`, { ...opts, headers: { 'bad header': KEY } })));
      } finally {
        c.destroy();
      }
      expect(errors).to.have.length(10);
      expect(lines.length).to.be.at.least(8);
      const seen = [
        ...errors.flatMap((e) => {
          const err = e as Error;
          return [err.message, String(err.stack), JSON.stringify(err), inspect(err, { depth: 10 }), String((err.cause as Error | undefined)?.stack)];
        }),
        JSON.stringify(lines),
        await registry.metrics(),
      ].join('\n');
      expect(seen).to.include('apikey=***');
      for (const secret of [KEY, BEARER, PATH_SECRET, encodeURIComponent(KEY)]) expect(seen).not.to.include(secret);
      expect((errors[0] as HttpError).body).to.equal('invalid key *** (***)');
    });
  });

  describe('connection pool', () => {
    it('keeps at most maxSockets connections per host and queues the rest', async () => {
      const c = new HttpClient({ maxSockets: 2 });
      try {
        const results = await Promise.all(Array.from({ length: 6 }, () => c.getJson<{ slow: boolean }>(`${stub.url}/slow`)));
        expect(results.every((r) => r.slow)).to.equal(true);
        const stats = stub.stats();
        expect(stats.peakInFlight).to.equal(2);
        expect(stats.peakConnections).to.equal(2);
        expect(stats.connectionsOpened).to.equal(2);
      } finally {
        c.destroy();
      }
    });

    it('reuses one keep-alive connection for sequential requests', async () => {
      for (let i = 0; i < 4; i++) await client.getJson(`${stub.url}/json`);
      expect(new Set(stub.requests.map((r) => r.connection)).size).to.equal(1);
      expect(stub.stats().connectionsOpened).to.equal(1);
    });

    it('keeps the connection after an error status (the body is drained)', async () => {
      await failure(client.getJson(`${stub.url}/503`));
      await client.getJson(`${stub.url}/json`);
      expect(stub.stats().connectionsOpened).to.equal(1);
    });

    it('destroy() closes idle connections and refuses later calls', async () => {
      const c = new HttpClient();
      await c.getJson(`${stub.url}/json`);
      await stub.until(() => stub.stats().connectionsOpen === 1);
      c.destroy();
      await stub.until(() => stub.stats().connectionsOpen === 0);
      const err = await failure(c.getJson(`${stub.url}/json`));
      expect(err['code']).to.equal('ERR_CLIENT_DESTROYED');
      expect(err['retriable']).to.equal(false);
    });
  });

  describe('instrumentation', () => {
    it('counts requests by source, host and status, and times them, with no path in labels', async () => {
      const registry = new Registry();
      const c = new HttpClient({ source: 'm', metrics: registry, readTimeout: 100 });
      try {
        await c.getJson(`${stub.url}/json`);
        await c.getJson(`${stub.url}/json`);
        await failure(c.getJson(`${stub.url}/503`));
        await failure(c.getJson(`${stub.url}/hang`));
        await failure(c.getJson(`${stub.url}/reset`));
        const host = new URL(stub.url).host;
        const counts = (await registry.getSingleMetric('tributary_http_requests_total')!.get()).values;
        const by = (status: string): number | undefined => counts.find((v) => v.labels['status'] === status && v.labels['host'] === host && v.labels['source'] === 'm')?.value;
        expect(by('200')).to.equal(2);
        expect(by('503')).to.equal(1);
        expect(by('timeout')).to.equal(1);
        expect(by('error')).to.equal(1);
        const durations = (await registry.getSingleMetric('tributary_http_request_duration_seconds')!.get()).values;
        expect(durations.find((v) => (v as { metricName?: string }).metricName === 'tributary_http_request_duration_seconds_count')?.value).to.equal(5);
        expect(await registry.metrics()).not.to.include('/json');
      } finally {
        c.destroy();
      }
    });

    it('writes one debug line per request with a pino logger', async () => {
      const lines: string[] = [];
      const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(line) });
      const c = new HttpClient({ source: 'log', logger });
      try {
        await c.getJson(`${stub.url}/json?token=tok-123456`);
        await failure(c.getJson(`${stub.url}/404`));
      } finally {
        c.destroy();
      }
      expect(lines).to.have.length(2);
      const [ok, failed] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(ok).to.include({ source: 'log', method: 'GET', status: '200', msg: 'http request', url: `${stub.url}/json?token=***` });
      expect(failed).to.include({ status: '404', msg: 'http request failed' });
      expect((failed!['err'] as { code: string }).code).to.equal('ERR_HTTP');
    });

    it('builds no log line when debug is disabled', async () => {
      let calls = 0;
      const c = new HttpClient({ logger: { debug: () => calls++, isLevelEnabled: () => false } });
      try {
        await c.getJson(`${stub.url}/json`);
      } finally {
        c.destroy();
      }
      expect(calls).to.equal(0);
    });
  });

  describe('bad input', () => {
    it('an invalid URL is a non-retriable ERR_INVALID_REQUEST naming the source', async () => {
      const err = await failure(client.getJson('not a url'));
      expect(err['code']).to.equal('ERR_INVALID_REQUEST');
      expect(err['retriable']).to.equal(false);
      expect(err.message).to.include('source "test"').and.include('not a url');
    });

    it('an unsupported protocol, or a body on a GET, is ERR_INVALID_REQUEST', async () => {
      expect((await failure(client.getJson('ftp://example.com/x')))['code']).to.equal('ERR_INVALID_REQUEST');
      expect((await failure(client.request({ url: `${stub.url}/echo`, method: 'GET', body: 'x' })))['code']).to.equal('ERR_INVALID_REQUEST');
      const err = await failure(firstValueFrom(client.getJson$('not a url')));
      expect(err['code']).to.equal('ERR_INVALID_REQUEST');
    });

    it('a bad per-request option is ERR_INVALID_REQUEST naming it', async () => {
      const err = await failure(client.getJson(`${stub.url}/json`, { readTimeout: -5 }));
      expect(err['code']).to.equal('ERR_INVALID_REQUEST');
      expect(err.message).to.include('readTimeout');
      expect(stub.count()).to.equal(0);
    });

    it('bad client options throw a RangeError naming the option', () => {
      expect(() => new HttpClient({ maxSockets: 0 })).to.throw(RangeError, /maxSockets/);
      expect(() => new HttpClient({ readTimeout: -1 })).to.throw(RangeError, /readTimeout/);
      expect(() => new HttpClient({ baseUrl: 'relative/path' })).to.throw(TypeError, /baseUrl/);
    });
  });
});
