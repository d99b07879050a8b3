import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import plugin from '../src/index.js';
import { assertRecordsMatchSchema, runPipeline, runPlugin, startStubServer, type StubRequest, type StubServer } from '@tributary/core/testing';

const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const json = (name: string): Record<string, unknown> => JSON.parse(readFileSync(fixture(name), 'utf8')) as Record<string, unknown>;

const KEY = 'eia-key-7f3c91d2b8';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const PATH = '/v2/electricity/rto/region-data/data/';
const T0 = Date.parse('2024-01-01T00:00:00Z');

/** Every value of each query parameter (the stub keeps only the first). */
const params = (r: StubRequest): URLSearchParams => new URL(r.url, 'http://stub').searchParams;

/**
 * A stub data route over an hourly data set built on the fly: honours start/end (inclusive hours),
 * the respondent and type facets, offset and length, and answers in the documented envelope.
 */
function dataset(types = ['D', 'NG']): (req: StubRequest) => unknown {
  return (req) => {
    const q = params(req);
    const parse = (p: string | null): number | undefined => (p ? Date.parse(`${p}:00:00Z`) : undefined);
    const start = parse(q.get('start'))!;
    const end = parse(q.get('end')) ?? start + 3 * HOUR;
    const respondents = q.getAll('facets[respondent][]');
    const wanted = q.getAll('facets[type][]');
    const rows: Record<string, unknown>[] = [];
    for (let t = start; t <= end; t += HOUR) {
      for (const respondent of respondents) {
        for (const type of types.filter((x) => wanted.length === 0 || wanted.includes(x))) {
          rows.push({
            period: new Date(t).toISOString().slice(0, 13),
            respondent,
            'respondent-name': `${respondent} name`,
            type,
            'type-name': type === 'D' ? 'Demand' : 'Net generation',
            value: String((t - T0) / HOUR),
            'value-units': 'megawatthours',
          });
        }
      }
    }
    const offset = Number(q.get('offset') ?? 0);
    const length = Number(q.get('length') ?? 5000);
    const page = json('region-data-page.json') as { response: Record<string, unknown> };
    page.response.total = String(rows.length);
    page.response.data = rows.slice(offset, offset + length);
    return page;
  };
}

describe('plugin-eia', () => {
  let stub: StubServer;

  before(async () => {
    stub = await startStubServer({ routes: [{ path: PATH, file: fixture('region-data-page.json') }] });
  });
  afterEach(() => stub.reset());
  after(() => stub.close());

  const config = { apiKey: KEY, respondents: ['PACW'] };

  describe('happy path', () => {
    it('turns the rows of a window into records typed by the stream schema', async () => {
      const window = { start: T0, end: T0 + 3 * HOUR };
      const { records, errors, deadLetters, state } = await runPlugin(plugin, config, { baseUrl: stub.url, window });
      expect(errors).to.deep.equal([]);
      expect(deadLetters).to.deep.equal([]);
      expect(records).to.have.length(6);
      assertRecordsMatchSchema(records, plugin.streams.region_data.schema);
      expect(records[0]).to.deep.include({ topic: 'region_data', key: 'PACW', timestamp: T0 });
      expect(records[0]!.value).to.deep.equal({
        period: T0,
        respondent: 'PACW',
        respondent_name: 'PacifiCorp West',
        type: 'D',
        type_name: 'Demand',
        value: 2874,
        value_units: 'megawatthours',
      });
      expect(records[5]!.value).to.deep.include({ period: T0 + 2 * HOUR, type: 'NG', value: null });
      expect(state.test).to.deep.equal({ lastPeriod: T0 + 2 * HOUR });
    });

    it('asks for hourly values of the respondents and types, sorted, from offset 0 with the 5000-row limit', async () => {
      await runPlugin(plugin, { ...config, respondents: ['PACW', 'CISO'], types: ['D', 'NG'] }, { baseUrl: stub.url, window: { start: T0, end: T0 + 60 * DAY } });
      const q = params(stub.requests[0]!);
      expect(q.get('frequency')).to.equal('hourly');
      expect(q.get('data[0]')).to.equal('value');
      expect(q.getAll('facets[respondent][]')).to.deep.equal(['PACW', 'CISO']);
      expect(q.getAll('facets[type][]')).to.deep.equal(['D', 'NG']);
      expect(q.get('start')).to.equal('2024-01-01T00');
      expect(q.get('end')).to.equal('2024-02-29T23'); // the window's end is exclusive, EIA's end inclusive
      expect([q.get('sort[0][column]'), q.get('sort[1][column]'), q.get('sort[2][column]')]).to.deep.equal(['period', 'respondent', 'type']);
      expect(q.get('sort[0][direction]')).to.equal('asc');
      expect(q.get('offset')).to.equal('0');
      expect(q.get('length')).to.equal('5000');
      expect(q.get('api_key')).to.equal(KEY);
    });
  });

  describe('pagination', () => {
    it('follows offset/length until response.total rows were read', async () => {
      stub.route({ path: PATH, json: dataset() });
      const window = { start: T0, end: T0 + DAY };
      const { records, errors } = await runPlugin(plugin, { ...config, pageSize: 40 }, { baseUrl: stub.url, window });
      expect(errors).to.deep.equal([]);
      expect(stub.requests.map((r) => [params(r).get('offset'), params(r).get('length')])).to.deep.equal([
        ['0', '40'],
        ['40', '40'],
      ]);
      expect(records).to.have.length(48);
      const ids = records.map((r) => `${(r.value as { period: number }).period}/${(r.value as { type: string }).type}`);
      expect(new Set(ids).size).to.equal(48);
      expect((records[47]!.value as { period: number }).period).to.equal(T0 + 23 * HOUR);
    });

    it('stops at a short page when the answer has no usable total', async () => {
      const page = json('region-data-page.json') as { response: Record<string, unknown> };
      delete page.response.total;
      stub.route({ path: PATH, json: page });
      const { records } = await runPlugin(plugin, { ...config, pageSize: 10 }, { baseUrl: stub.url, window: { start: T0, end: T0 + 3 * HOUR } });
      expect(stub.count(PATH)).to.equal(1);
      expect(records).to.have.length(6);
    });
  });

  describe('live polling', () => {
    it('asks for the last lookbackHours the first time, and for the hours after the checkpoint afterwards', async () => {
      stub.route({ path: PATH, json: dataset(['D']) });
      const before = Math.floor(Date.now() / HOUR) * HOUR;
      const first = await runPlugin(plugin, { ...config, lookbackHours: 6 }, { baseUrl: stub.url });
      const q = params(stub.requests[0]!);
      expect(Date.parse(`${q.get('start')}:00:00Z`)).to.be.oneOf([before - 6 * HOUR, before - 5 * HOUR]);
      expect(q.has('end')).to.equal(false);
      const lastPeriod = first.state.test!.lastPeriod as number;
      expect(lastPeriod).to.equal(Date.parse(`${q.get('start')}:00:00Z`) + 3 * HOUR);

      stub.reset();
      stub.route({ path: PATH, json: dataset(['D']) });
      const next = await runPlugin(plugin, config, { baseUrl: stub.url, state: { test: { lastPeriod } } });
      expect(params(stub.requests[0]!).get('start')).to.equal(new Date(lastPeriod + HOUR).toISOString().slice(0, 13));
      expect((next.records[0]!.value as { period: number }).period).to.equal(lastPeriod + HOUR);
      expect(next.state.test!.lastPeriod).to.equal(lastPeriod + 4 * HOUR);
    });

    it('asks again for overlapHours before the checkpoint when configured', async () => {
      const lastPeriod = T0 + 10 * HOUR;
      stub.route({ path: PATH, json: dataset(['D']) });
      const { records } = await runPlugin(plugin, { ...config, overlapHours: 3 }, { baseUrl: stub.url, state: { test: { lastPeriod } } });
      expect(params(stub.requests[0]!).get('start')).to.equal('2024-01-01T08');
      expect((records[0]!.value as { period: number }).period).to.equal(T0 + 8 * HOUR);
    });
  });

  describe('backfill through the runtime: 60-day chunks, concurrency, resume', () => {
    let dir: string;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'tributary-eia-'));
      writeFileSync(
        join(dir, 'pipeline.yaml'),
        [
          'name: eia-backfill',
          'sources:',
          '  eia:',
          '    plugin: "@tributary/plugin-eia"',
          '    topic: eia.region-data',
          '    resilience: { retry: false }',
          '    config:',
          '      apiKey: ${EIA_API_KEY}',
          '      respondents: [PACW]',
          '      types: [D]',
          '    schedule:',
          '      backfill: { from: 2024-01-01, to: 2024-07-01, chunk: 60d, concurrency: 3 }',
          '      then: { every: 1h }',
          'sink: { type: stdout }',
          'metrics: false',
          '',
        ].join('\n'),
      );
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    const run = (state?: Record<string, Record<string, unknown>>) =>
      runPipeline(join(dir, 'pipeline.yaml'), {
        env: { EIA_API_KEY: KEY },
        plugins: { '@tributary/plugin-eia': plugin },
        baseUrl: stub.url,
        ...(state ? { state } : {}),
      });

    it('fetches each chunk once, at most three at a time, and records the finished chunks', async () => {
      stub.route({ path: PATH, json: dataset(['D']), latencyMs: 40 });
      const { records, errors, state } = await run();
      expect(errors).to.deep.equal([]);
      const windows = stub.requests.map((r) => [params(r).get('start'), params(r).get('end')]);
      expect(windows).to.have.deep.members([
        ['2024-01-01T00', '2024-02-29T23'],
        ['2024-03-01T00', '2024-04-29T23'],
        ['2024-04-30T00', '2024-06-28T23'],
        ['2024-06-29T00', '2024-06-30T23'],
      ]);
      expect(stub.stats().peakInFlight).to.equal(3);
      expect(records).to.have.length(182 * 24);
      expect(state.eia!['@tributary/backfill']).to.deep.include({ done: ['1704067200000-1709251200000', '1709251200000-1714435200000', '1714435200000-1719619200000', '1719619200000-1719792000000'] });
      expect(state.eia!.lastPeriod).to.equal(Date.parse('2024-06-30T23:00:00Z'));
    });

    it('resumes after a restart: only the chunk that failed is fetched again', async () => {
      stub.route({ path: PATH, json: dataset(['D']), faults: (req) => (params(req).get('start') === '2024-03-01T00' ? { kind: 'status', status: 503 } : undefined) });
      const first = await run();
      expect(first.errors).to.have.length(1);
      expect(first.errors[0]).to.include({ source: 'eia', code: 'ERR_HTTP' });
      expect(first.records).to.have.length((182 - 60) * 24);
      expect((first.state.eia!['@tributary/backfill'] as { done: string[] }).done).to.have.length(3);

      stub.reset();
      stub.route({ path: PATH, json: dataset(['D']) });
      const second = await run(first.state);
      expect(second.errors).to.deep.equal([]);
      expect(stub.requests.map((r) => params(r).get('start'))).to.deep.equal(['2024-03-01T00']);
      expect(second.records).to.have.length(60 * 24);
      expect((second.state.eia!['@tributary/backfill'] as { done: string[] }).done).to.have.length(4);

      stub.reset();
      const third = await run(second.state);
      expect(third.records).to.deep.equal([]);
      expect(stub.count()).to.equal(0);
    });
  });

  describe('errors', () => {
    it("reports EIA's API-key error (HTTP 403) with its code and message, never with the key", async () => {
      stub.route({ path: PATH, faults: { kind: 'status', status: 403, body: json('error-api-key-invalid.json') } });
      const { records, errors } = await runPlugin(plugin, config, { baseUrl: stub.url });
      expect(records).to.deep.equal([]);
      expect(errors).to.have.length(1);
      expect(errors[0]!.code).to.equal('ERR_HTTP');
      expect(errors[0]!.message).to.include('EIA API answered HTTP 403: API_KEY_INVALID: An invalid api_key was supplied.');
      expect(errors[0]!.message).to.include('source "test"').and.include('api_key=***');
      expect(errors[0]!.message).not.to.include(KEY);
    });

    it("reports EIA's parameter error (HTTP 400) with its message, not retried", async () => {
      stub.route({ path: PATH, faults: { kind: 'status', status: 400, body: json('error-invalid-frequency.json') } });
      const { errors } = await runPlugin(plugin, config, {
        baseUrl: stub.url,
        resilience: { retry: { maxRetries: 2, initialDelayMs: 1, factor: 1, maxDelayMs: 1, jitter: 'none' } },
      });
      expect(errors[0]!.message).to.include("EIA API answered HTTP 400: Invalid frequency 'hourl' provided.");
      expect(errors[0]!.message).not.to.include(KEY);
      expect(stub.count(PATH)).to.equal(1);
    });

    it('passes other error statuses on as HTTP errors without the key', async () => {
      stub.route({ path: PATH, faults: { kind: 'html', status: 502 } });
      const { errors } = await runPlugin(plugin, config, { baseUrl: stub.url });
      expect(errors[0]!.code).to.equal('ERR_HTTP');
      expect(errors[0]!.message).to.include('502').and.include('source "test"');
      expect(errors[0]!.message).not.to.include(KEY);
    });

    it('fails with a clear error naming the source when the answer is not JSON', async () => {
      stub.route({ path: PATH, faults: { kind: 'malformed' } });
      const { records, errors } = await runPlugin(plugin, config, { baseUrl: stub.url });
      expect(records).to.deep.equal([]);
      expect(errors[0]!.code).to.equal('ERR_BAD_JSON');
      expect(errors[0]!.message).to.include('source "test"').and.not.include(KEY);
    });

    it('fails with a clear error when the answer has the wrong shape or reports an error', async () => {
      stub.route({ path: PATH, json: { response: { total: '3', data: { rows: [] } } } });
      const shape = await runPlugin(plugin, config, { baseUrl: stub.url });
      expect(shape.errors[0]!.code).to.equal('ERR_BAD_RESPONSE');
      expect(shape.errors[0]!.message).to.include('EIA region data (offset 0): expected "response.data" to be a list').and.include('source "test"');

      stub.reset();
      stub.route({ path: PATH, json: json('error-invalid-frequency.json') });
      const inBody = await runPlugin(plugin, config, { baseUrl: stub.url });
      expect(inBody.errors[0]!.message).to.include('the API reported an error: Invalid frequency');
    });

    it('skips rows it cannot read and keeps the others', async () => {
      const page = json('region-data-page.json') as { response: { data: Record<string, unknown>[] } };
      page.response.data[0]!.period = '2024-01-01 00:00';
      delete page.response.data[1]!.type;
      stub.route({ path: PATH, json: page });
      const { records, errors } = await runPlugin(plugin, config, { baseUrl: stub.url, window: { start: T0, end: T0 + 3 * HOUR } });
      expect(errors).to.deep.equal([]);
      expect(records).to.have.length(4);
    });

    it('rejects a config without a key or respondents', async () => {
      const noKey = await runPlugin(plugin, { respondents: ['PACW'] }).catch((e: unknown) => e as Error);
      expect(String(noKey)).to.include('apiKey');
      const none = await runPlugin(plugin, { apiKey: KEY, respondents: [] }).catch((e: unknown) => e as Error);
      expect(String(none)).to.include('respondents');
    });
  });
});
