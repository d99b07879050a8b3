import { expect } from 'chai';
import { createHook } from 'node:async_hooks';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStubServer } from '../../src/testing/stubServer.js';
import type { StubServer } from '../../src/testing/stubServer.js';

interface RawResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One request without an agent (a fresh connection each time); rejects on socket errors. */
function raw(url: string, options: { method?: string; body?: string; headers?: Record<string, string> } = {}): Promise<RawResult> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: options.method ?? 'GET', headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
      res.on('aborted', () => reject(Object.assign(new Error('aborted'), { received: Buffer.concat(chunks).length, headers: res.headers })));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

async function failure(p: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await p;
  } catch (err) {
    return err as Error & Record<string, unknown>;
  }
  throw new Error('expected the request to fail');
}

/** A seeded generator, for repeatable `probability` faults. */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('testing/stubServer', function () {
  this.timeout(10_000);
  let stub: StubServer | undefined;

  afterEach(async () => {
    await stub?.close();
    stub = undefined;
  });

  describe('routes', () => {
    it('answers JSON, text, bytes, and 404 JSON naming the path for unknown routes', async () => {
      stub = await startStubServer({
        routes: [
          { path: '/json', json: { a: 1 } },
          { path: '/text', body: 'plain', status: 201, headers: { 'X-Extra': 'yes' } },
          { path: '/bytes', body: Buffer.from([1, 2, 3]) },
        ],
      });
      const json = await raw(`${stub.url}/json`);
      expect(json.status).to.equal(200);
      expect(json.headers['content-type']).to.match(/^application\/json/);
      expect(JSON.parse(json.body.toString())).to.deep.equal({ a: 1 });
      const text = await raw(`${stub.url}/text`);
      expect([text.status, text.body.toString(), text.headers['x-extra']]).to.deep.equal([201, 'plain', 'yes']);
      const bytes = await raw(`${stub.url}/bytes`);
      expect([...bytes.body]).to.deep.equal([1, 2, 3]);
      expect(bytes.headers['content-type']).to.equal('application/octet-stream');
      const missing = await raw(`${stub.url}/nope?x=1`, { method: 'DELETE' });
      expect(missing.status).to.equal(404);
      expect(JSON.parse(missing.body.toString())).to.deep.equal({ error: 'no stub route', method: 'DELETE', path: '/nope' });
    });

    it('matches method, RegExp paths (with groups) and query matchers; callbacks see the request', async () => {
      stub = await startStubServer({
        routes: [
          { path: /^\/series\/(\w+)$/, query: { freq: /^(hourly|daily)$/, region: 'PL' }, json: (req) => ({ id: req.match?.[1], n: req.n, q: req.query }) },
          { path: /^\/series\//, json: { fallback: true } },
          { method: 'POST', path: '/submit', body: (req) => `got ${req.body} as ${String(req.headers['content-type'])}` },
        ],
      });
      const hit = JSON.parse((await raw(`${stub.url}/series/load?freq=hourly&region=PL`)).body.toString());
      expect(hit).to.deep.equal({ id: 'load', n: 1, q: { freq: 'hourly', region: 'PL' } });
      const miss = JSON.parse((await raw(`${stub.url}/series/load?freq=weekly&region=PL`)).body.toString());
      expect(miss).to.deep.equal({ fallback: true });
      const posted = await raw(`${stub.url}/submit`, { method: 'POST', body: 'abc', headers: { 'content-type': 'text/plain' } });
      expect(posted.body.toString()).to.equal('got abc as text/plain');
      expect((await raw(`${stub.url}/submit`)).status).to.equal(404);
      expect(stub.requests.map((r) => r.route)).to.deep.equal([String(/^\/series\/(\w+)$/), String(/^\/series\//), '/submit', undefined]);
    });

    it('serves fixture files with a content type from the extension, and a 500 naming a missing one', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'stub-'));
      try {
        await writeFile(join(dir, 'prices.json'), '{"price": 41.2}');
        await writeFile(join(dir, 'page.html'), '<p>hi</p>');
        stub = await startStubServer({
          routes: [
            { path: '/prices', file: join(dir, 'prices.json') },
            { path: '/page', file: join(dir, 'page.html') },
            { path: '/gone', file: join(dir, 'missing.json') },
          ],
        });
        const prices = await raw(`${stub.url}/prices`);
        expect(prices.headers['content-type']).to.match(/^application\/json/);
        expect(JSON.parse(prices.body.toString())).to.deep.equal({ price: 41.2 });
        expect((await raw(`${stub.url}/page`)).headers['content-type']).to.match(/^text\/html/);
        const gone = await raw(`${stub.url}/gone`);
        expect(gone.status).to.equal(500);
        expect(gone.body.toString()).to.include('missing.json');
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('route() adds a route that takes precedence; reset() restores the initial routes and clears the log', async () => {
      stub = await startStubServer({ routes: [{ path: '/x', json: 'initial' }] });
      stub.route({ path: '/x', json: 'override' });
      expect(JSON.parse((await raw(`${stub.url}/x`)).body.toString())).to.equal('override');
      expect(stub.count()).to.equal(1);
      stub.reset();
      expect(stub.count()).to.equal(0);
      expect(stub.requests).to.have.length(0);
      expect(JSON.parse((await raw(`${stub.url}/x`)).body.toString())).to.equal('initial');
      stub.setRoutes([]);
      expect((await raw(`${stub.url}/x`)).status).to.equal(404);
    });

    it('latencyMs delays the answer', async () => {
      stub = await startStubServer({ routes: [{ path: '/slow', json: 1, latencyMs: () => 120 }] });
      const started = Date.now();
      await raw(`${stub.url}/slow`);
      expect(Date.now() - started).to.be.at.least(110);
    });
  });

  describe('request log', () => {
    it('logs method, path, query, headers, body, time and connection; counts by path, RegExp and predicate', async () => {
      stub = await startStubServer({ routes: [{ path: '/a', json: 1 }, { method: 'POST', path: '/b', json: 2 }] });
      const before = Date.now();
      await raw(`${stub.url}/a?k=v&k=w`, { headers: { 'x-test': '1' } });
      await raw(`${stub.url}/a`);
      await raw(`${stub.url}/b`, { method: 'POST', body: 'payload' });
      const [first, , third] = stub.requests;
      expect(first).to.include({ id: 1, method: 'GET', path: '/a', url: '/a?k=v&k=w', status: 200, n: 1, aborted: false });
      expect(first!.query).to.deep.equal({ k: 'v' });
      expect(first!.headers['x-test']).to.equal('1');
      expect(first!.at).to.be.at.least(before);
      expect(first!.connection).to.be.a('number').and.above(0);
      expect(third).to.include({ method: 'POST', body: 'payload', n: 1 });
      expect(stub.count()).to.equal(3);
      expect(stub.count('/a')).to.equal(2);
      expect(stub.count(/^\/[ab]$/)).to.equal(3);
      expect(stub.count((r) => r.method === 'POST')).to.equal(1);
    });

    it('keeps at most maxLoggedRequests entries while counts stay exact', async () => {
      stub = await startStubServer({ routes: [{ path: '/a', json: 1 }], maxLoggedRequests: 2 });
      for (let i = 0; i < 5; i++) await raw(`${stub.url}/a`);
      expect(stub.requests.map((r) => r.id)).to.deep.equal([4, 5]);
      expect(stub.count('/a')).to.equal(5);
      expect(stub.stats().requests).to.equal(5);
    });

    it('until() rejects with a clear message when the condition never holds', async () => {
      stub = await startStubServer();
      const err = await failure(stub.until(() => false, 30));
      expect(err.message).to.include('not met within 30 ms');
    });
  });

  describe('faults', () => {
    it('status: the given status, body and Retry-After; `times` fails only the first requests', async () => {
      stub = await startStubServer({
        routes: [{ path: '/f', json: { ok: true }, faults: { kind: 'status', status: 503, times: 2, retryAfter: 7, body: 'down' } }],
      });
      const first = await raw(`${stub.url}/f`);
      expect([first.status, first.headers['retry-after'], first.body.toString()]).to.deep.equal([503, '7', 'down']);
      expect((await raw(`${stub.url}/f`)).status).to.equal(503);
      expect((await raw(`${stub.url}/f`)).status).to.equal(200);
      expect(stub.requests.map((r) => r.fault)).to.deep.equal(['status', 'status', undefined]);
    });

    it('selectors: after, every, and a fault list where the first match applies', async () => {
      stub = await startStubServer({
        routes: [
          {
            path: '/s',
            json: 'ok',
            faults: [
              { kind: 'status', status: 500, after: 4, times: 1 },
              { kind: 'status', status: 502, every: 3 },
            ],
          },
        ],
      });
      const statuses: number[] = [];
      for (let i = 0; i < 7; i++) statuses.push((await raw(`${stub.url}/s`)).status);
      expect(statuses).to.deep.equal([200, 200, 502, 200, 500, 502, 200]);
    });

    it('probability draws from the given random source (repeatable with a seed)', async () => {
      const run = async (): Promise<number[]> => {
        const s = await startStubServer({ routes: [{ path: '/p', json: 'ok', faults: { kind: 'status', status: 500, probability: 0.5 } }], random: seeded(42) });
        try {
          const out: number[] = [];
          for (let i = 0; i < 20; i++) out.push((await raw(`${s.url}/p`)).status);
          return out;
        } finally {
          await s.close();
        }
      };
      const a = await run();
      expect(a).to.deep.equal(await run());
      expect(a.filter((s) => s === 500).length).to.be.within(4, 16);
      expect(a.filter((s) => s === 200).length).to.be.within(4, 16);
    });

    it('a fault function picks the fault from the request and its count', async () => {
      stub = await startStubServer({
        routes: [{ path: '/fn', json: 'ok', faults: (req, n) => (req.query['fail'] === '1' || n === 3 ? { kind: 'status', status: 418 } : undefined) }],
      });
      const statuses = [];
      for (const q of ['', '?fail=1', '', '']) statuses.push((await raw(`${stub.url}/fn${q}`)).status);
      expect(statuses).to.deep.equal([200, 418, 418, 200]);
    });

    it('rateLimit: 429 with Retry-After', async () => {
      stub = await startStubServer({ routes: [{ path: '/r', faults: { kind: 'rateLimit', retryAfterSeconds: 12 } }] });
      const res = await raw(`${stub.url}/r`);
      expect(res.status).to.equal(429);
      expect(res.headers['retry-after']).to.equal('12');
    });

    it('malformed: a JSON content type with a body that does not parse', async () => {
      stub = await startStubServer({ routes: [{ path: '/m', faults: { kind: 'malformed' } }] });
      const res = await raw(`${stub.url}/m`);
      expect(res.status).to.equal(200);
      expect(res.headers['content-type']).to.match(/^application\/json/);
      expect(() => JSON.parse(res.body.toString())).to.throw(SyntaxError);
    });

    it('truncated: a full Content-Length, half of the body, then a closed connection', async () => {
      stub = await startStubServer({ routes: [{ path: '/t', json: { data: 'x'.repeat(1000) }, faults: { kind: 'truncated' } }] });
      const err = await failure(raw(`${stub.url}/t`));
      const declared = Number((err['headers'] as http.IncomingHttpHeaders)['content-length']);
      expect(declared).to.equal(JSON.stringify({ data: 'x'.repeat(1000) }).length);
      expect(err['received']).to.equal(Math.floor(declared / 2));
      expect(stub.requests[0]).to.include({ status: 200, fault: 'truncated', aborted: false });
    });

    it('html: an HTML error page, with 200 by default or the given status', async () => {
      stub = await startStubServer({ routes: [{ path: '/h', faults: { kind: 'html' } }, { path: '/h5', faults: { kind: 'html', status: 503 } }] });
      const ok = await raw(`${stub.url}/h`);
      expect(ok.status).to.equal(200);
      expect(ok.headers['content-type']).to.match(/^text\/html/);
      expect(ok.body.toString()).to.match(/^<!DOCTYPE html>/);
      const bad = await raw(`${stub.url}/h5`);
      expect(bad.status).to.equal(503);
      expect(bad.body.toString()).to.include('503 Service Unavailable');
    });

    it('reset: the connection is destroyed (ECONNRESET)', async () => {
      stub = await startStubServer({ routes: [{ path: '/x', faults: { kind: 'reset' } }] });
      const err = await failure(raw(`${stub.url}/x`));
      expect(err['code']).to.equal('ECONNRESET');
      expect(stub.requests[0]).to.include({ fault: 'reset', status: undefined, aborted: false });
    });

    it('huge: streams exactly `bytes` bytes, without Content-Length unless declareLength', async () => {
      stub = await startStubServer({
        routes: [{ path: '/big', faults: { kind: 'huge', bytes: 300_000 } }, { path: '/big-declared', faults: { kind: 'huge', bytes: 300_000, declareLength: true } }],
      });
      const big = await raw(`${stub.url}/big`);
      expect(big.body.length).to.equal(300_000);
      expect(big.headers['content-length']).to.equal(undefined);
      expect(big.headers['transfer-encoding']).to.equal('chunked');
      const declared = await raw(`${stub.url}/big-declared`);
      expect(declared.headers['content-length']).to.equal('300000');
      expect(declared.body.length).to.equal(300_000);
    });

    it('latency fault: adds its delay before the normal answer', async () => {
      stub = await startStubServer({ routes: [{ path: '/l', json: 'late', faults: { kind: 'latency', ms: 120 } }] });
      const started = Date.now();
      const res = await raw(`${stub.url}/l`);
      expect(Date.now() - started).to.be.at.least(110);
      expect(JSON.parse(res.body.toString())).to.equal('late');
    });

    it('hang: never answers, and the log shows the client giving up', async () => {
      stub = await startStubServer({ routes: [{ path: '/hang', faults: { kind: 'hang' } }] });
      const req = http.get(`${stub.url}/hang`, { agent: false });
      req.on('error', () => {});
      await stub.until(() => stub!.count('/hang') === 1);
      await new Promise((r) => setTimeout(r, 50));
      expect(stub.requests[0]!.status).to.equal(undefined);
      expect(stub.stats().inFlight).to.equal(1);
      req.destroy();
      await stub.until(() => stub!.requests[0]!.aborted);
      expect(stub.stats().inFlight).to.equal(0);
    });
  });

  describe('rate limits', () => {
    it('server-wide token bucket: `burst` requests pass at once, the rest get 429 with Retry-After', async () => {
      stub = await startStubServer({ routes: [{ path: '/a', json: 1 }, { path: '/b', json: 2 }], rateLimit: { perSecond: 0.5, burst: 3 } });
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => raw(`${stub!.url}/${i % 2 ? 'a' : 'b'}`)));
      const limited = results.filter((r) => r.status === 429);
      expect(results.filter((r) => r.status === 200)).to.have.length(3);
      expect(limited).to.have.length(5);
      for (const r of limited) expect(Number(r.headers['retry-after'])).to.be.at.least(1);
      expect(stub.count((r) => r.fault === 'rateLimit')).to.equal(5);
    });

    it('refills at perSecond', async () => {
      stub = await startStubServer({ routes: [{ path: '/a', json: 1, rateLimit: { perSecond: 10, burst: 1 } }] });
      expect((await raw(`${stub.url}/a`)).status).to.equal(200);
      expect((await raw(`${stub.url}/a`)).status).to.equal(429);
      await new Promise((r) => setTimeout(r, 130));
      expect((await raw(`${stub.url}/a`)).status).to.equal(200);
    });

    it('per-route limits are independent; the default burst of 1.39/s is 1', async () => {
      stub = await startStubServer({
        routes: [
          { path: '/eia', json: 1, rateLimit: { perSecond: 1.39 } },
          { path: '/free', json: 2 },
        ],
      });
      const eia = await Promise.all([raw(`${stub.url}/eia`), raw(`${stub.url}/eia`)]);
      expect(eia.map((r) => r.status).sort()).to.deep.equal([200, 429]);
      const free = await Promise.all([raw(`${stub.url}/free`), raw(`${stub.url}/free`)]);
      expect(free.map((r) => r.status)).to.deep.equal([200, 200]);
    });

    it('rejects a bad rate limit with an error naming the option', async () => {
      const err = await failure(startStubServer({ rateLimit: { perSecond: 0 } }));
      expect(err).to.be.instanceOf(RangeError);
      expect(err.message).to.include('rateLimit.perSecond');
    });
  });

  describe('connections and close()', () => {
    it('reports connections and concurrency', async () => {
      stub = await startStubServer({ routes: [{ path: '/slow', json: 1, latencyMs: 80 }] });
      await Promise.all([raw(`${stub.url}/slow`), raw(`${stub.url}/slow`), raw(`${stub.url}/slow`)]);
      const stats = stub.stats();
      expect(stats.peakInFlight).to.equal(3);
      expect(stats.connectionsOpened).to.equal(3);
      expect(new Set(stub.requests.map((r) => r.connection)).size).to.equal(3);
    });

    it('close() ends hanging requests, pending latencies and keep-alive sockets, leaving no socket or timer open', async () => {
      const sockets = (): number => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap' || r === 'TCPServerWrap').length;
      const stubTimers = new Set<number>();
      const hook = createHook({
        init(id, type) {
          if (type === 'Timeout' && /src[\\/]testing[\\/]stubServer/.test(new Error().stack ?? '')) stubTimers.add(id);
        },
        destroy(id) {
          stubTimers.delete(id);
        },
      }).enable();
      const baseline = sockets();
      const s = await startStubServer({ routes: [{ path: '/hang', faults: { kind: 'hang' } }, { path: '/slow', json: 1, latencyMs: 60_000 }, { path: '/ok', json: 1 }] });
      const agent = new http.Agent({ keepAlive: true });
      const errors: unknown[] = [];
      const get = (path: string): void => {
        http.get(`${s.url}${path}`, { agent }, (res) => res.resume()).on('error', (e) => errors.push(e));
      };
      try {
        get('/ok');
        get('/hang');
        get('/slow');
        await s.until(() => s.count() === 3 && s.requests[0]!.status === 200);
        expect(sockets()).to.be.above(baseline);
        expect(stubTimers.size).to.be.at.least(1);
        await s.close();
        expect(s.stats().connectionsOpen).to.equal(0);
        agent.destroy();
        // Client-side sockets close a few ticks later; a leaked socket or 60 s timer never would.
        for (let i = 0; i < 50 && (sockets() > baseline || stubTimers.size > 0); i++) await new Promise((r) => setTimeout(r, 10));
        expect(sockets(), process.getActiveResourcesInfo().join()).to.equal(baseline);
        expect(stubTimers.size).to.equal(0);
        expect(errors).to.have.length(2);
      } finally {
        hook.disable();
        agent.destroy();
        await s.close();
      }
    });
  });
});
