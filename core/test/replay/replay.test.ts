import { expect } from 'chai';
import { mkdtemp, readdir, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/cli.js';
import { readRecording, writeRecording, type ExchangeData } from '../../src/replay/format.js';
import { isTimeLike, RequestMatcher } from '../../src/replay/match.js';
import { startRecorder } from '../../src/replay/recorder.js';
import { startReplayServer, type ReplayServer } from '../../src/replay/server.js';
import { startStubServer, type StubServer } from '../../src/testing/stubServer.js';
import { fakeIo, makeProject } from '../cli/helpers.js';

const SECRET = 'sk-live-7c1e4a9b2d';

/**
 * A plain-JS plugin: pages through `${baseUrl}/readings` with the key in the query (`api_key`) and
 * in two headers, and emits one record per item.
 */
const KEYED_PLUGIN = `
import { z } from 'zod';
import { defer, from, mergeMap } from 'rxjs';
export default {
  kind: 'tributary-plugin',
  name: 'keyed-readings',
  version: '1.0.0',
  coreVersion: '*',
  description: 'Readings behind an API key',
  configSchema: z.strictObject({ baseUrl: z.string(), apiKey: z.string() }),
  streams: {
    readings: {
      key: 'station',
      schema: { type: 'record', name: 'Reading', namespace: 'replay.test', fields: [
        { name: 'station', type: 'string' },
        { name: 'value', type: 'double' },
      ] },
    },
  },
  create(config, ctx) {
    return {
      collect() {
        return defer(async () => {
          const out = [];
          for (let page = 1; ; page++) {
            const body = await ctx.http.getJson(config.baseUrl + '/readings', {
              query: { page, api_key: config.apiKey },
              headers: { 'x-api-key': config.apiKey, authorization: 'Bearer ' + config.apiKey, 'x-client': 'replay-test' },
            });
            for (const item of body.items) out.push({ stream: 'readings', value: { station: item.station, value: item.value } });
            if (!body.more) return out;
          }
        }).pipe(mergeMap((records) => from(records)));
      },
    };
  },
};
`;

const PIPELINE = (baseUrl: string) => `
name: replay-test
metrics: { enabled: false }
sources:
  readings:
    plugin: ./plugin.js
    config:
      baseUrl: ${baseUrl}
      apiKey: \${READINGS_API_KEY}
    topic: readings
    schedule: once
    resilience: { retry: false }
`;

async function keyedStub(): Promise<StubServer> {
  return startStubServer({
    routes: [
      {
        path: '/readings',
        json: (req) => {
          const authorized = req.query.api_key === SECRET && req.headers['x-api-key'] === SECRET && req.headers.authorization === `Bearer ${SECRET}`;
          if (!authorized) return { items: [], more: false, error: 'bad key' };
          const page = Number(req.query.page);
          return {
            items: [
              { station: `S${page}a`, value: page + 0.25 },
              { station: `S${page}b`, value: page + 0.75 },
            ],
            more: page < 2,
            request: { api_key: req.query.api_key }, // some APIs echo their parameters
          };
        },
        headers: { link: '<http://example.invalid/readings?page=2&api_key=' + SECRET + '>; rel="next"' },
      },
    ],
  });
}

async function allFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await allFiles(p)));
    else out.push(p);
  }
  return out;
}

function stdoutRecords(text: string): { topic: string; key: string; value: unknown }[] {
  return text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const r = JSON.parse(l) as { topic: string; key: string; value: unknown };
      return { topic: r.topic, key: r.key, value: r.value };
    });
}

describe('record and replay', () => {
  let tmp: string;
  const closers: (() => Promise<unknown>)[] = [];
  beforeEach(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'tributary-replay-'));
  });
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
    await rm(tmp, { recursive: true, force: true });
  });

  describe('the recording format', () => {
    const json = (url: string, body: string, status = 200): ExchangeData => ({
      method: 'GET',
      url,
      requestHeaders: { accept: 'application/json' },
      status,
      headers: { 'content-type': 'application/json' },
      body: Buffer.from(body),
    });

    it('writes an index and one body file per exchange, sorted by URL, and reads them back', async () => {
      const bytes = Buffer.from([0, 1, 2, 255]);
      await writeRecording(tmp, {
        pipeline: 'p',
        recordedAt: new Date('2025-03-01T10:00:00Z'),
        exchanges: [
          json('https://b.example/v1/x?page=2', '{"a":[1,2]}'),
          json('https://a.example/v1/y', '{ "kept": "as written" }'),
          { method: 'get', url: 'https://c.example/file', requestHeaders: {}, status: 200, headers: { 'content-type': 'application/octet-stream' }, body: bytes },
          { method: 'GET', url: 'https://c.example/xml', requestHeaders: {}, status: 200, headers: { 'content-type': 'text/xml' }, body: Buffer.from('<a>1</a>') },
          { method: 'GET', url: 'https://c.example/empty', requestHeaders: {}, status: 204, headers: {}, body: Buffer.alloc(0) },
        ],
      });
      const index = JSON.parse(await readFile(join(tmp, 'recording.json'), 'utf8')) as { format: string; recordedAt: string; exchanges: { url: string; body: string | null; method: string }[] };
      expect(index.format).to.equal('tributary-recording/1');
      expect(index.recordedAt).to.equal('2025-03-01T10:00:00.000Z');
      expect(index.exchanges.map((x) => x.url)).to.deep.equal([
        'https://a.example/v1/y',
        'https://b.example/v1/x?page=2',
        'https://c.example/empty',
        'https://c.example/file',
        'https://c.example/xml',
      ]);
      expect(index.exchanges.map((x) => x.body)).to.deep.equal([
        'bodies/0001-a.example-v1-y.json',
        'bodies/0002-b.example-v1-x.json',
        null,
        'bodies/0004-c.example-file.bin',
        'bodies/0005-c.example-xml.xml',
      ]);
      expect(index.exchanges[3]!.method).to.equal('GET');
      // a compact JSON body is indented; one that is not canonical is kept as it came
      expect(await readFile(join(tmp, 'bodies/0002-b.example-v1-x.json'), 'utf8')).to.equal('{\n  "a": [\n    1,\n    2\n  ]\n}\n');
      expect(await readFile(join(tmp, 'bodies/0001-a.example-v1-y.json'), 'utf8')).to.equal('{ "kept": "as written" }');

      const rec = await readRecording(tmp);
      expect(rec.exchanges.map((x) => x.status)).to.deep.equal([200, 200, 204, 200, 200]);
      expect(rec.exchanges[3]!.body.equals(bytes)).to.equal(true);
      expect(JSON.parse(rec.exchanges[1]!.body.toString())).to.deep.equal({ a: [1, 2] });
      expect(rec.exchanges[2]!.body.length).to.equal(0);
    });

    it('replaces an earlier recording in the same directory but leaves other files alone', async () => {
      await writeFile(join(tmp, 'README.md'), 'keep me');
      await writeRecording(tmp, { exchanges: [json('https://a.example/old', '{}'), json('https://a.example/old2', '{}')] });
      await writeRecording(tmp, { exchanges: [json('https://a.example/new', '[]')] });
      expect((await readdir(join(tmp, 'bodies'))).sort()).to.deep.equal(['0001-a.example-new.json']);
      expect(await readFile(join(tmp, 'README.md'), 'utf8')).to.equal('keep me');
    });

    it('names the file and the entry when a recording is missing or broken', async () => {
      const missing = await readRecording(join(tmp, 'nope')).catch((e: Error) => e);
      expect(missing).to.be.an('error');
      expect((missing as Error).message).to.include('recording.json not found').and.include('tributary record');
      await writeFile(join(tmp, 'recording.json'), JSON.stringify({ format: 'tributary-recording/1', exchanges: [{ id: 1, method: 'GET', url: 'https://a.example/x', status: 200, headers: {}, requestHeaders: {}, body: 'bodies/gone.json' }] }));
      const broken = await readRecording(tmp).catch((e: Error) => e);
      expect((broken as Error).message).to.include('exchanges[0].body').and.include('bodies/gone.json not found');
      await writeFile(join(tmp, 'recording.json'), JSON.stringify({ format: 'other/2', exchanges: [] }));
      expect(((await readRecording(tmp).catch((e: Error) => e)) as Error).message).to.include('expected "tributary-recording/1"');
    });
  });

  describe('request matching', () => {
    it('recognizes dates and times', () => {
      for (const v of ['2025-03-01', '2025-03-01T10:00:00Z', '2025-03-01T10:00:00.123+01:00', '2025-03-01T10', '202503010000', '20250301', '1740823200', '1740823200000']) {
        expect(isTimeLike(v), v).to.equal(true);
      }
      for (const v of ['NL10938', 'hourly', '42', '10YNL----------L', 'A44', '3.5', '2025']) expect(isTimeLike(v), v).to.equal(false);
    });

    it('ignores parameter order, sensitive parameters and secret values; keeps everything else', () => {
      const m = new RequestMatcher(['hunter2-secret']);
      const a = m.keys('get', 'https://API.example.com/v1/x?b=2&a=1&api_key=abc&securityToken=***');
      const b = m.keys('GET', 'https://api.example.com/v1/x?a=1&b=2&sig=hunter2-secret');
      expect(a.exact).to.equal(b.exact);
      expect(m.keys('GET', 'https://api.example.com/v1/x?a=1&b=3').exact).to.not.equal(a.exact);
      expect(m.keys('POST', 'https://api.example.com/v1/x?a=1&b=2').exact).to.not.equal(a.exact);
      expect(m.keys('GET', 'https://other.example.com/v1/x?a=1&b=2').exact).to.not.equal(a.exact);
      const t1 = m.keys('GET', 'https://h.example/i/2025-01-01T00:00Z/2025-01-02T00:00Z?start=202501010000&area=NL');
      const t2 = m.keys('GET', 'https://h.example/i/2026-05-01T00:00Z/2026-05-02T00:00Z?start=202605010000&area=NL');
      expect(t1.exact).to.not.equal(t2.exact);
      expect(t1.loose).to.equal(t2.loose);
      expect(m.keys('GET', 'https://h.example/i/2026-05-01T00:00Z/2026-05-02T00:00Z?start=202605010000&area=BE').loose).to.not.equal(t1.loose);
    });
  });

  describe('the replay server', () => {
    async function serve(exchanges: ExchangeData[], options: { matchTimes?: boolean; secrets?: string[] } = {}): Promise<ReplayServer> {
      await writeRecording(tmp, { exchanges });
      const server = await startReplayServer({ dir: tmp, ...options });
      closers.push(() => server.close());
      return server;
    }
    const x = (url: string, status: number, body: string, headers: Record<string, string> = { 'content-type': 'application/json' }): ExchangeData => ({
      method: 'GET',
      url,
      requestHeaders: {},
      status,
      headers,
      body: Buffer.from(body),
    });
    const get = async (server: ReplayServer, url: string): Promise<{ status: number; body: string; headers: Headers }> => {
      const u = new URL(url);
      const res = await fetch(`${server.url}/${u.protocol.slice(0, -1)}/${u.host}${u.pathname}${u.search}`);
      return { status: res.status, body: await res.text(), headers: res.headers };
    };

    it('serves a request recorded several times in order, then repeats the last answer', async () => {
      const server = await serve([
        x('https://api.example.com/v1/p?api_key=***', 503, '{"error":"busy"}', { 'content-type': 'application/json', 'retry-after': '1' }),
        x('https://api.example.com/v1/p?api_key=***', 200, '{"n":1}'),
        x('https://api.example.com/v1/p?api_key=***', 200, '{"n":2}'),
      ]);
      const first = await get(server, 'https://api.example.com/v1/p?api_key=other-key');
      expect(first.status).to.equal(503);
      expect(first.headers.get('retry-after')).to.equal('1');
      const answers = [];
      for (let i = 0; i < 3; i++) answers.push((await get(server, 'https://api.example.com/v1/p?api_key=other-key')).body);
      expect(answers.map((b) => JSON.parse(b) as unknown)).to.deep.equal([{ n: 1 }, { n: 2 }, { n: 2 }]);
      expect(server.served).to.equal(4);
    });

    it('answers 404 naming the URL and the recording directory, without secrets, and lists the miss', async () => {
      const server = await serve([x('https://api.example.com/v1/p', 200, '{}')], { secrets: ['very-secret-value'] });
      const miss = await get(server, 'https://api.example.com/v1/q?id=7&token=very-secret-value');
      expect(miss.status).to.equal(404);
      const message = (JSON.parse(miss.body) as { error: string }).error;
      expect(message).to.include('GET https://api.example.com/v1/q?id=7&token=***').and.include(tmp).and.include('tributary record');
      expect(miss.body).to.not.include('very-secret-value');
      expect(server.misses).to.deep.equal([{ method: 'GET', url: 'https://api.example.com/v1/q?id=7&token=***' }]);
    });

    it('matches a recording that differs only in dates and times, unless told not to', async () => {
      const recorded = x('https://api.example.com/v1/m?start=2025-01-01T00:00:00Z&end=2025-01-02T00:00:00Z&station=NL1', 200, '{"ok":true}');
      const later = 'https://api.example.com/v1/m?end=2026-07-02T10:11:12Z&start=2026-07-01T10:11:12Z&station=NL1';
      const server = await serve([recorded]);
      expect((await get(server, later)).status).to.equal(200);
      expect((await get(server, later.replace('NL1', 'NL2'))).status).to.equal(404);
      await server.close();
      const strict = await serve([recorded], { matchTimes: false });
      expect((await get(strict, later)).status).to.equal(404);
    });

    it('prefers an exact match over one that differs in times', async () => {
      const server = await serve([
        x('https://api.example.com/d?day=2025-01-01', 200, '"first day"'),
        x('https://api.example.com/d?day=2025-01-02', 200, '"second day"'),
      ]);
      expect(JSON.parse((await get(server, 'https://api.example.com/d?day=2025-01-02')).body)).to.equal('second day');
      expect(JSON.parse((await get(server, 'https://api.example.com/d?day=2025-01-01')).body)).to.equal('first day');
    });

    it('rejects requests that do not have the /<scheme>/<host>/ form', async () => {
      const server = await serve([]);
      const res = await fetch(`${server.url}/v1/x`);
      expect(res.status).to.equal(400);
      expect(await res.text()).to.include('/<scheme>/<host>/<path>');
    });
  });

  describe('the recorder', () => {
    it('forwards to the upstream, passes the answer back and records it under the asked URL', async () => {
      const stub = await startStubServer({ routes: [{ path: '/v1/x', json: { hello: 'world' }, headers: { 'x-other': 'dropped', 'retry-after': '5' } }] });
      closers.push(() => stub.close());
      const recorder = await startRecorder({ upstream: (u) => `${stub.url}${u.pathname}${u.search}` });
      closers.push(() => recorder.close());
      const res = await fetch(`${recorder.url}/https/api.example.com/v1/x?a=1`);
      expect(res.status).to.equal(200);
      expect(await res.json()).to.deep.equal({ hello: 'world' });
      expect(res.headers.get('x-other')).to.equal(null);
      expect(res.headers.get('retry-after')).to.equal('5');
      expect(stub.requests[0]!.url).to.equal('/v1/x?a=1');
      const [recorded] = recorder.exchanges();
      expect(recorded).to.deep.include({ method: 'GET', url: 'https://api.example.com/v1/x?a=1', status: 200 });
      expect(recorded!.headers).to.deep.equal({ 'content-type': 'application/json; charset=utf-8', 'retry-after': '5' });
    });

    it('answers 502 and records nothing when the API cannot be reached', async () => {
      const stub = await startStubServer({ routes: [] });
      const deadUrl = stub.url;
      await stub.close();
      const recorder = await startRecorder({ upstream: (u) => `${deadUrl}${u.pathname}` });
      closers.push(() => recorder.close());
      const res = await fetch(`${recorder.url}/https/api.example.com/v1/x?api_key=abcdef123`);
      expect(res.status).to.equal(502);
      const text = await res.text();
      expect(text).to.include('cannot reach https://api.example.com/v1/x?api_key=***');
      expect(text).to.not.include('abcdef123');
      expect(recorder.exchanges()).to.deep.equal([]);
      expect(recorder.failures).to.have.length(1);
    });
  });

  describe('tributary record and run --replay', () => {
    it('records a live run without any secret, and the replay gives the same records with no network', async () => {
      const stub = await keyedStub();
      closers.push(() => stub.close());
      const project = await makeProject({ 'plugin.js': KEYED_PLUGIN, 'pipeline.yaml': PIPELINE(stub.url) });
      closers.push(() => project.cleanup());
      const fixtures = project.path('fixtures');

      // the live run, recorded
      const live = fakeIo({ READINGS_API_KEY: SECRET }, project.dir);
      const code = await main(['record', project.path('pipeline.yaml'), '--to', 'fixtures', '--sink', 'stdout', '--log-level', 'silent', '--state-dir', 'state-live'], live);
      expect(code, live.err()).to.equal(0);
      expect(live.err()).to.include(`Recorded 2 HTTP exchanges to ${fixtures}`);
      const liveRecords = stdoutRecords(live.out());
      expect(liveRecords.map((r) => r.key)).to.deep.equal(['S1a', 'S1b', 'S2a', 'S2b']);
      expect(stub.count('/readings')).to.equal(2);

      // no secret anywhere in the recording: URLs, headers, Link headers, bodies
      const files = await allFiles(fixtures);
      expect(files.map((f) => f.slice(fixtures.length + 1)).sort()).to.deep.equal([
        'bodies/0001-127.0.0.1-readings.json',
        'bodies/0002-127.0.0.1-readings.json',
        'recording.json',
      ]);
      for (const f of files) expect(await readFile(f, 'utf8'), f).to.not.include(SECRET);
      const index = JSON.parse(await readFile(join(fixtures, 'recording.json'), 'utf8')) as {
        pipeline: string;
        exchanges: { url: string; requestHeaders: Record<string, string>; headers: Record<string, string> }[];
      };
      expect(index.pipeline).to.equal('replay-test');
      expect(index.exchanges[0]!.url).to.equal(`${stub.url}/readings?page=1&api_key=***`);
      expect(index.exchanges[0]!.requestHeaders).to.include({ 'x-client': 'replay-test' });
      expect(index.exchanges[0]!.requestHeaders).to.not.have.any.keys('x-api-key', 'authorization', 'host');
      expect(index.exchanges[0]!.headers.link).to.equal('<http://example.invalid/readings?page=2&api_key=***>; rel="next"');
      expect(await readFile(join(fixtures, 'bodies/0001-127.0.0.1-readings.json'), 'utf8')).to.include('"api_key": "***"');

      // the replay: the API is gone, another key is set; same records
      await stub.close();
      const replay = fakeIo({ READINGS_API_KEY: 'a-different-key' }, project.dir);
      const replayCode = await main(['run', project.path('pipeline.yaml'), '--once', '--replay', 'fixtures', '--sink', 'stdout', '--log-level', 'silent', '--state-dir', 'state-replay'], replay);
      expect(replayCode, replay.err()).to.equal(0);
      expect(stdoutRecords(replay.out())).to.deep.equal(liveRecords);
      expect(replay.err()).to.include(`Replay: 2 recorded responses served from ${fixtures}`);
    });

    it('reports requests without a recording, naming the URL and the directory, and exits 1', async () => {
      const project = await makeProject({ 'plugin.js': KEYED_PLUGIN, 'pipeline.yaml': PIPELINE('https://api.example.com/v2') });
      closers.push(() => project.cleanup());
      await mkdir(project.path('fixtures'));
      await writeRecording(project.path('fixtures'), { exchanges: [] });
      const io = fakeIo({ READINGS_API_KEY: SECRET }, project.dir);
      const code = await main(['run', project.path('pipeline.yaml'), '--once', '--replay', 'fixtures', '--sink', 'stdout', '--log-level', 'silent', '--state-dir', 'state'], io);
      expect(code).to.equal(1);
      expect(io.err()).to.include('Replay: 1 request had no recorded response (answered 404)');
      expect(io.err()).to.include('GET https://api.example.com/v2/readings?page=1&api_key=***');
      expect(io.err()).to.include('tributary record <pipeline.yaml> --to fixtures');
      expect(io.err()).to.not.include(SECRET);
    });

    it('exits 2 when the recording directory has no recording', async () => {
      const project = await makeProject({ 'plugin.js': KEYED_PLUGIN, 'pipeline.yaml': PIPELINE('https://api.example.com') });
      closers.push(() => project.cleanup());
      const io = fakeIo({ READINGS_API_KEY: SECRET }, project.dir);
      const code = await main(['run', project.path('pipeline.yaml'), '--once', '--replay', 'nowhere', '--log-level', 'silent'], io);
      expect(code).to.equal(2);
      expect(io.err()).to.include('recording.json not found');
    });
  });
});
