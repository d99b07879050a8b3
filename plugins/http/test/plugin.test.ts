import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { HttpClient, isConfigError, isHttpError, loadPipeline, resolvePipeline } from '@tributary/core';
import { assertRecordsMatchSchema, runPipeline, runPlugin, startStubServer, type StubServer } from '@tributary/core/testing';
import plugin, { defineHttpPlugin, pointSchema } from '../src/index.js';
import { collectOnce, directContext, memoryLogger } from './helpers.js';

const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

/** Records of a paginated list: ids from..to, as `{ id, reading, at }`. */
function readings(from: number, to: number): { id: string; reading: string; at: string }[] {
  const out = [];
  for (let i = from; i <= to; i++) out.push({ id: `s${i}`, reading: `${i}.5`, at: `2025-01-01T00:0${i % 10}:00Z` });
  return out;
}

const pointFields = { series: 'id', value: 'reading', observed_at: 'at' };

describe('@tributary/plugin-http', () => {
  let stub: StubServer;

  before(async () => {
    stub = await startStubServer();
  });
  afterEach(() => stub.reset());
  after(() => stub.close());

  describe('happy path', () => {
    it('selects records, maps fields with conversions from the schema, and adds constants', async () => {
      stub.setRoutes([
        {
          path: '/v1/sensors/utrecht/readings',
          json: {
            meta: { published: '2025-03-01T10:00:00Z' },
            data: {
              items: [
                { sensor: { id: 'pm25-1', unit: 'ug/m3' }, value: '12.5', time: '2025-03-01T09:00:00Z' },
                { sensor: { id: 'pm25-2', unit: 'ug/m3' }, value: null, time: 1740819600, note: 'offline' },
              ],
            },
          },
        },
      ]);
      const { records, errors, deadLetters } = await runPlugin(
        plugin,
        {
          url: `${stub.url}/v1/sensors/{{city}}/readings`,
          vars: { city: 'utrecht' },
          records: '$.data.items',
          fields: {
            series: 'sensor.id',
            value: 'value',
            observed_at: { path: 'time', unit: 's' },
            text: 'note',
            'labels.unit': 'sensor.unit',
            'labels.published': '$root.meta.published',
          },
          constants: { 'labels.source': 'stub' },
        },
        { source: 'air' },
      );
      expect(errors).to.deep.equal([]);
      expect(deadLetters).to.deep.equal([]);
      expect(records.map((r) => r.value)).to.deep.equal([
        {
          series: 'pm25-1',
          value: 12.5,
          observed_at: Date.parse('2025-03-01T09:00:00Z'),
          text: null,
          labels: { unit: 'ug/m3', published: '2025-03-01T10:00:00Z', source: 'stub' },
        },
        {
          series: 'pm25-2',
          value: null,
          observed_at: 1740819600_000,
          text: 'offline',
          labels: { unit: 'ug/m3', published: '2025-03-01T10:00:00Z', source: 'stub' },
        },
      ]);
      expect(records.map((r) => r.key)).to.deep.equal(['pm25-1', 'pm25-2']);
      expect(records[0]!.timestamp).to.equal(Date.parse('2025-03-01T09:00:00Z'));
      assertRecordsMatchSchema(records, pointSchema);
    });

    it('renders window, now and vars into URL, query and headers, and sends the headers', async () => {
      stub.setRoutes([{ path: '/api/series/load%2Fnl', json: [{ t: '2025-01-01T00:00:00Z', v: 1 }] }]);
      const start = Date.parse('2025-01-01T00:00:00Z');
      const end = Date.parse('2025-01-02T00:00:00Z');
      const { records, errors } = await runPlugin(
        plugin,
        {
          url: '/api/series/{{series}}',
          baseUrl: stub.url,
          vars: { series: 'load/nl' },
          query: { from: '{{window.start}}', to_ms: '{{window.end.ms}}', day: '{{window.start.date}}', from_s: '{{window.start.s}}', fixed: 7 },
          headers: { authorization: 'Bearer tok-abcdef123', 'x-cycle': '{{cycle}}' },
          fields: { observed_at: 't', value: 'v' },
          constants: { series: 'load/nl' },
        },
        { window: { start, end } },
      );
      expect(errors).to.deep.equal([]);
      expect(records).to.have.length(1);
      const seen = stub.requests[0]!;
      expect(seen.query).to.deep.equal({ from: '2025-01-01T00:00:00.000Z', to_ms: String(end), day: '2025-01-01', from_s: String(start / 1000), fixed: '7' });
      expect(seen.headers.authorization).to.equal('Bearer tok-abcdef123');
      expect(seen.headers['x-cycle']).to.equal('1');
    });

    it('passes the schema fields through when no fields mapping is given', async () => {
      stub.setRoutes([{ path: '/points', json: { results: [{ series: 'a', observed_at: '2025-01-01T00:00:00Z', value: 3, extra: true }] } }]);
      const { records, deadLetters } = await runPlugin(plugin, { url: `${stub.url}/points`, records: 'results' });
      expect(deadLetters).to.deep.equal([]);
      expect(records[0]!.value).to.deep.equal({ series: 'a', observed_at: Date.parse('2025-01-01T00:00:00Z'), value: 3, text: null, labels: {} });
    });

    it('works with a schema of its own (defineHttpPlugin) and checks mapping targets against it', async () => {
      const orders = defineHttpPlugin({
        key: 'id',
        timestampField: 'created_at',
        schema: {
          type: 'record',
          name: 'Order',
          namespace: 'test.shop',
          fields: [
            { name: 'id', type: 'string' },
            { name: 'quantity', type: 'int' },
            { name: 'total', type: 'double' },
            { name: 'paid', type: 'boolean' },
            { name: 'created_at', type: { type: 'long', logicalType: 'timestamp-millis' } },
            { name: 'raw', type: ['null', 'string'], default: null },
          ],
        },
      });
      stub.setRoutes([{ path: '/orders', json: { orders: [{ id: 42, qty: '3', total: '9.90', paid: 'true', created: '2025-02-03T04:05:06Z', lines: [1, 2] }] } }]);
      const { records, deadLetters } = await runPlugin(orders, {
        url: `${stub.url}/orders`,
        records: 'orders',
        fields: { id: 'id', quantity: 'qty', total: 'total', paid: 'paid', created_at: 'created', raw: { path: 'lines', type: 'json' } },
      });
      expect(deadLetters).to.deep.equal([]);
      expect(records[0]).to.deep.include({ key: '42', timestamp: Date.parse('2025-02-03T04:05:06Z') });
      expect(records[0]!.value).to.deep.equal({ id: '42', quantity: 3, total: 9.9, paid: true, created_at: Date.parse('2025-02-03T04:05:06Z'), raw: '[1,2]' });

      const err = await runPlugin(orders, { url: `${stub.url}/orders`, fields: { id: 'id', price: 'p' } }).catch((e: unknown) => e);
      expect(isConfigError(err)).to.equal(true);
      expect(String(err)).to.include('config.fields.price').and.include('is not a field of the schema (fields: id, quantity, total, paid, created_at, raw)');
    });

    it('gives each source of a pipeline the schema of its own config (streamsFor), checked at resolve time', async () => {
      stub.setRoutes([
        { path: '/orders', json: { orders: [{ order_id: 'o1', amount: '12.50' }] } },
        { path: '/users', json: [{ login: 'ada', since: '2025-01-02T00:00:00Z' }] },
      ]);
      const dir = await mkdtemp(path.join(tmpdir(), 'plugin-http-'));
      try {
        const file = path.join(dir, 'pipeline.yaml');
        await writeFile(
          file,
          `name: shop
sources:
  orders:
    plugin: "@tributary/plugin-http"
    config:
      url: ${stub.url}/orders
      records: orders
      schema:
        type: record
        name: Order
        namespace: test.shop
        fields:
          - { name: id, type: string }
          - { name: total, type: double }
      fields: { id: order_id, total: amount }
    topic: shop.orders
    key: id
    schedule: once
  users:
    plugin: "@tributary/plugin-http"
    config:
      url: ${stub.url}/users
      schema:
        type: record
        name: User
        namespace: test.shop
        fields:
          - { name: login, type: string }
          - { name: since, type: { type: long, logicalType: timestamp-millis } }
      timestampField: since
    topic: shop.users
    schedule: once
`,
        );
        const { records, errors, deadLetters } = await runPipeline(file, { plugins: { '@tributary/plugin-http': plugin } });
        expect(errors).to.deep.equal([]);
        expect(deadLetters).to.deep.equal([]);
        const byTopic = Object.fromEntries(records.map((r) => [r.topic, r]));
        expect(byTopic['shop.orders']).to.deep.include({ key: 'o1', value: { id: 'o1', total: 12.5 } });
        expect(byTopic['shop.users']).to.deep.include({ key: null, timestamp: Date.parse('2025-01-02T00:00:00Z'), value: { login: 'ada', since: Date.parse('2025-01-02T00:00:00Z') } });

        const { topics } = await resolvePipeline(await loadPipeline(file), { plugins: { '@tributary/plugin-http': plugin } });
        expect(topics.map((t) => [t.topic, (t.schema as { name: string }).name])).to.deep.equal([
          ['shop.orders', 'Order'],
          ['shop.users', 'User'],
        ]);

        await writeFile(file, (await readFile(file, 'utf8')).replace('    key: id\n', '    key: price\n'));
        const err = await runPipeline(file, { plugins: { '@tributary/plugin-http': plugin } }).catch((e: unknown) => e);
        expect(isConfigError(err)).to.equal(true);
        expect(String(err)).to.include('sources.orders.key').and.include('key field "price" is not a field of the schema (fields: id, total)');
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('sends records that do not fit the schema to dead letters with the field named', async () => {
      stub.setRoutes([{ path: '/points', json: [{ id: 's1', reading: 'n/a', at: '2025-01-01T00:00:00Z' }] }]);
      const { records, deadLetters } = await runPlugin(plugin, { url: `${stub.url}/points`, fields: pointFields });
      expect(records).to.deep.equal([]);
      expect(deadLetters).to.have.length(1);
      expect(deadLetters[0]!.field).to.equal('value');
    });
  });

  describe('pagination', () => {
    it('page: follows page numbers and stops at a short page', async () => {
      stub.setRoutes([
        {
          path: '/list',
          json: (req) => {
            const page = Number(req.query.page);
            return { items: page === 1 ? readings(1, 2) : page === 2 ? readings(3, 4) : readings(5, 5) };
          },
        },
      ]);
      const { records, errors } = await runPlugin(plugin, {
        url: `${stub.url}/list`,
        records: 'items',
        fields: pointFields,
        pagination: { type: 'page', sizeParam: 'per_page', size: 2 },
      });
      expect(errors).to.deep.equal([]);
      expect(records.map((r) => r.value.series)).to.deep.equal(['s1', 's2', 's3', 's4', 's5']);
      expect(stub.requests.map((r) => r.query)).to.deep.equal([
        { page: '1', per_page: '2' },
        { page: '2', per_page: '2' },
        { page: '3', per_page: '2' },
      ]);
    });

    it('page: stops at the total page count from the body, and at maxPages', async () => {
      stub.setRoutes([{ path: '/list', json: (req) => ({ total_pages: 2, items: readings(Number(req.query.p), Number(req.query.p)) }) }]);
      const byTotal = await runPlugin(plugin, {
        url: `${stub.url}/list`,
        records: 'items',
        fields: pointFields,
        pagination: { type: 'page', param: 'p', totalPagesPath: 'total_pages' },
      });
      expect(byTotal.records.map((r) => r.value.series)).to.deep.equal(['s1', 's2']);
      expect(stub.count('/list')).to.equal(2);

      stub.setRoutes([{ path: '/list', json: (req) => ({ items: readings(Number(req.query.page), Number(req.query.page)) }) }]);
      const { logger, lines } = memoryLogger();
      const capped = await runPlugin(plugin, { url: `${stub.url}/list`, records: 'items', fields: pointFields, pagination: { type: 'page', maxPages: 3 } }, { logger });
      expect(capped.records).to.have.length(3);
      expect(lines.join('')).to.include('stopped at maxPages');
    });

    it('page: stops at an empty page', async () => {
      stub.setRoutes([{ path: '/list', json: (req) => ({ items: Number(req.query.page) <= 2 ? readings(Number(req.query.page), Number(req.query.page)) : [] }) }]);
      const { records } = await runPlugin(plugin, { url: `${stub.url}/list`, records: 'items', fields: pointFields, pagination: { type: 'page' } });
      expect(records).to.have.length(2);
      expect(stub.count('/list')).to.equal(3);
    });

    it('offset: advances by the records received and stops at the total count', async () => {
      const all = readings(1, 5);
      stub.setRoutes([
        {
          path: '/rows',
          json: (req) => {
            const offset = Number(req.query.offset);
            return { meta: { total: 5 }, rows: all.slice(offset, offset + Number(req.query.limit)) };
          },
        },
      ]);
      const { records, errors } = await runPlugin(plugin, {
        url: `${stub.url}/rows`,
        records: 'rows',
        fields: pointFields,
        pagination: { type: 'offset', limit: 2, totalPath: 'meta.total', stopOnShortPage: false },
      });
      expect(errors).to.deep.equal([]);
      expect(records.map((r) => r.value.series)).to.deep.equal(['s1', 's2', 's3', 's4', 's5']);
      expect(stub.requests.map((r) => r.query.offset)).to.deep.equal(['0', '2', '4']);
    });

    it('cursor: sends the next cursor from the body until there is none', async () => {
      const pages: Record<string, { data: unknown[]; meta: { next_cursor: string | null } }> = {
        '': { data: readings(1, 2), meta: { next_cursor: 'c2' } },
        c2: { data: readings(3, 4), meta: { next_cursor: 'c3' } },
        c3: { data: readings(5, 5), meta: { next_cursor: null } },
      };
      stub.setRoutes([{ path: '/feed', json: (req) => pages[req.query.after ?? '']! }]);
      const { records, errors } = await runPlugin(plugin, {
        url: `${stub.url}/feed`,
        query: { kind: 'load' },
        records: 'data',
        fields: pointFields,
        pagination: { type: 'cursor', param: 'after', path: 'meta.next_cursor' },
      });
      expect(errors).to.deep.equal([]);
      expect(records.map((r) => r.value.series)).to.deep.equal(['s1', 's2', 's3', 's4', 's5']);
      expect(stub.requests.map((r) => r.query)).to.deep.equal([{ kind: 'load' }, { kind: 'load', after: 'c2' }, { kind: 'load', after: 'c3' }]);
    });

    describe('link (RFC 8288 Link header, rel="next")', () => {
      const issueSchema = {
        type: 'record',
        name: 'Issue',
        namespace: 'test.github',
        fields: [
          { name: 'number', type: 'long' },
          { name: 'title', type: 'string' },
          { name: 'author', type: 'string' },
          { name: 'created_at', type: { type: 'long', logicalType: 'timestamp-millis' } },
        ],
      };
      const issuesConfig = (url: string) => ({
        schema: issueSchema,
        url: `${url}/repos/octocat/hello-world/issues`,
        query: { per_page: 2 },
        fields: { number: 'number', title: 'title', author: 'user.login', created_at: 'created_at' },
        timestampField: 'created_at',
        pagination: { type: 'link' },
      });
      const issuesRoutes = (nextLink: string) => [
        {
          path: '/repos/octocat/hello-world/issues',
          query: { page: '2' },
          file: fixture('github-issues-page2.json'),
          headers: { link: `<${stub.url}/repos/octocat/hello-world/issues?per_page=2&page=1>; rel="prev", <${stub.url}/repos/octocat/hello-world/issues?per_page=2&page=1>; rel="first"` },
        },
        { path: '/repos/octocat/hello-world/issues', file: fixture('github-issues-page1.json'), headers: { link: `<${nextLink}>; rel="next", <${nextLink}>; rel="last"` } },
      ];
      const issues = [
        { number: 1347, title: 'Found a bug', author: 'octocat', created_at: Date.parse('2011-04-22T13:33:48Z') },
        { number: 1346, title: 'Docs typo', author: 'hubot', created_at: Date.parse('2011-04-21T09:12:01Z') },
        { number: 1345, title: 'Add a feature', author: 'octocat', created_at: Date.parse('2011-04-20T17:00:00Z') },
      ];

      it('follows rel="next" until the last page, through ctx.http (the schema given in the config)', async () => {
        stub.setRoutes(issuesRoutes(`${stub.url}/repos/octocat/hello-world/issues?per_page=2&page=2`));
        const { records, errors, deadLetters } = await runPlugin(plugin, issuesConfig(stub.url), { streams: { records: { topic: 'github.issues', key: 'number' } } });
        expect(errors).to.deep.equal([]);
        expect(deadLetters).to.deep.equal([]);
        expect(records.map((r) => r.value)).to.deep.equal(issues);
        expect(records.map((r) => [r.topic, r.key, r.timestamp])).to.deep.equal(issues.map((i) => ['github.issues', String(i.number), i.created_at]));
        assertRecordsMatchSchema(records, issueSchema);
        expect(stub.requests.map((r) => r.query)).to.deep.equal([{ per_page: '2' }, { per_page: '2', page: '2' }]);
        expect(stub.requests[0]!.headers.accept).to.equal('application/json');
      });

      it('resolves a relative next link against the request URL, and follows cached pages with their Link header', async () => {
        stub.setRoutes(issuesRoutes('/repos/octocat/hello-world/issues?per_page=2&page=2'));
        const { records, errors } = await runPlugin(plugin, issuesConfig(stub.url), { cycles: 2, resilience: { cache: { ttlMs: 60_000 } } });
        expect(errors).to.deep.equal([]);
        expect(records.map((r) => r.value)).to.deep.equal([...issues, ...issues]);
        expect(records.map((r) => r.headers['tributary-origin'])).to.deep.equal(['live', 'live', 'live', 'cache', 'cache', 'cache']);
        expect(stub.count('/repos/octocat/hello-world/issues')).to.equal(2);
      });

      it('does not follow a next link to another origin', async () => {
        stub.setRoutes([{ path: '/repos/octocat/hello-world/issues', file: fixture('github-issues-page1.json'), headers: { link: '<https://elsewhere.example/issues?page=2>; rel="next"' } }]);
        const { errors } = await runPlugin(plugin, issuesConfig(stub.url), { source: 'issues' });
        expect(errors).to.have.length(1);
        expect(errors[0]).to.include({ source: 'issues', code: 'ERR_BAD_RESPONSE' });
        expect(errors[0]!.message).to.include('points to another origin').and.include('source "issues"');
        expect(stub.count()).to.equal(1);
      });

      it('works with a plugin of defineHttpPlugin too, and stops when there is no Link header', async () => {
        const issuesPlugin = defineHttpPlugin({ key: 'title', schema: issueSchema });
        stub.setRoutes([{ path: '/repos/octocat/hello-world/issues', file: fixture('github-issues-page2.json') }]);
        const { schema: _schema, ...config } = issuesConfig(stub.url);
        const { records, errors } = await runPlugin(issuesPlugin, config);
        expect(errors).to.deep.equal([]);
        expect(records.map((r) => r.key)).to.deep.equal(['Add a feature']);
        expect(stub.count()).to.equal(1);
      });
    });
  });

  describe('status policy and errors', () => {
    it('drops listed statuses: a 404 gives no records and no error', async () => {
      stub.setRoutes([{ path: '/gone', faults: { kind: 'status', status: 404, body: { error: 'not found' } } }]);
      const dropped = await runPlugin(plugin, { url: `${stub.url}/gone`, fields: pointFields, status: { drop: [404] } });
      expect(dropped.errors).to.deep.equal([]);
      expect(dropped.records).to.deep.equal([]);
      const failed = await runPlugin(plugin, { url: `${stub.url}/gone`, fields: pointFields });
      expect(failed.errors).to.have.length(1);
      expect(failed.errors[0]).to.include({ code: 'ERR_HTTP' });
    });

    it('ends pagination at a dropped page and keeps the records of the earlier pages', async () => {
      stub.setRoutes([
        { path: '/list', query: { page: '2' }, faults: { kind: 'status', status: 404 } },
        { path: '/list', json: { items: readings(1, 2) } },
      ]);
      const { records, errors } = await runPlugin(plugin, { url: `${stub.url}/list`, records: 'items', fields: pointFields, pagination: { type: 'page' }, status: { drop: [404] } });
      expect(errors).to.deep.equal([]);
      expect(records).to.have.length(2);
    });

    it('accepts the configured success statuses, through ctx.http; others fail with the status', async () => {
      stub.setRoutes([{ path: '/stale', status: 203, json: [{ id: 's1', reading: 1, at: 0 }] }]);
      const ok = await runPlugin(plugin, { url: `${stub.url}/stale`, fields: pointFields, status: { success: [200, 203] } });
      expect(ok.errors).to.deep.equal([]);
      expect(ok.records.map((r) => r.value.series)).to.deep.equal(['s1']);
      const failed = await runPlugin(plugin, { url: `${stub.url}/stale`, fields: pointFields, status: { success: [200] } });
      expect(failed.records).to.deep.equal([]);
      expect(failed.errors).to.have.length(1);
      expect(failed.errors[0]).to.include({ code: 'ERR_HTTP' });
      expect(failed.errors[0]!.message).to.include('HTTP 203');
      const byDefault = await runPlugin(plugin, { url: `${stub.url}/stale`, fields: pointFields });
      expect(byDefault.records).to.have.length(1); // 203 is in 200-299
    });

    it('reads the body of a non-2xx success status, and counts it as a success for the circuit breaker', async () => {
      stub.setRoutes([{ path: '/pending', status: 409, json: { state: 'pending', items: [{ id: 'p1', reading: 2, at: 0 }] } }]);
      const circuitBreaker = { failureThreshold: 1, successThreshold: 1, resetTimeoutMs: 60_000, halfOpenMaxConcurrent: 1 };
      const { records, errors, summary } = await runPlugin(
        plugin,
        { url: `${stub.url}/pending`, records: 'items', fields: pointFields, constants: { text: 'pending' }, status: { success: [200, 409] } },
        { cycles: 3, resilience: { circuitBreaker } },
      );
      expect(errors).to.deep.equal([]);
      expect(records.map((r) => [r.value.series, r.value.text])).to.deep.equal([
        ['p1', 'pending'],
        ['p1', 'pending'],
        ['p1', 'pending'],
      ]);
      expect(summary.sources.test!.cycles.success).to.equal(3);
      expect(stub.count('/pending')).to.equal(3);
    });

    it('a dropped status is not cached: the next cycle asks again', async () => {
      stub.setRoutes([{ path: '/later', json: [{ id: 'l1', reading: 1, at: 0 }], faults: { kind: 'status', status: 404, times: 1 } }]);
      const { records, errors } = await runPlugin(plugin, { url: `${stub.url}/later`, fields: pointFields, status: { drop: [404] } }, { cycles: 2, resilience: { cache: { ttlMs: 60_000 } } });
      expect(errors).to.deep.equal([]);
      expect(records.map((r) => r.value.series)).to.deep.equal(['l1']);
      expect(stub.count('/later')).to.equal(2);
    });

    it('surfaces 429 with Retry-After as an HttpError carrying retryAfterMs', async () => {
      stub.setRoutes([{ path: '/busy', faults: { kind: 'rateLimit', retryAfterSeconds: 30 } }]);
      const client = new HttpClient({ source: 'direct' });
      try {
        const err = await collectOnce(plugin, { url: `${stub.url}/busy`, fields: pointFields }, directContext(client)).catch((e: unknown) => e);
        expect(isHttpError(err)).to.equal(true);
        expect(err).to.include({ status: 429, retryAfterMs: 30_000 });
      } finally {
        client.destroy();
      }
      const { errors } = await runPlugin(plugin, { url: `${stub.url}/busy`, fields: pointFields });
      expect(errors[0]).to.include({ code: 'ERR_HTTP' });
      expect(errors[0]!.message).to.include('HTTP 429');
    });

    it('reports a body that is not JSON as ERR_BAD_JSON naming the source, without crashing', async () => {
      stub.setRoutes([{ path: '/broken', faults: { kind: 'malformed' } }]);
      const { records, errors } = await runPlugin(plugin, { url: `${stub.url}/broken`, fields: pointFields }, { source: 'orders-api' });
      expect(records).to.deep.equal([]);
      expect(errors).to.have.length(1);
      expect(errors[0]).to.include({ source: 'orders-api', code: 'ERR_BAD_JSON' });
      expect(errors[0]!.message).to.include('source "orders-api"');
    });

    it('reports a response without the records path as ERR_BAD_RESPONSE naming the source and the path', async () => {
      stub.setRoutes([{ path: '/shape', json: { status: 'maintenance', message: 'back soon' } }]);
      const { errors } = await runPlugin(plugin, { url: `${stub.url}/shape`, records: 'data.items', fields: pointFields }, { source: 'orders-api' });
      expect(errors).to.have.length(1);
      expect(errors[0]).to.include({ code: 'ERR_BAD_RESPONSE' });
      expect(errors[0]!.message).to.include('"data.items"').and.include('status, message').and.include('source "orders-api"');
    });

    it('keeps API keys out of errors and logs', async () => {
      stub.setRoutes([{ path: '/secure', faults: { kind: 'status', status: 503 } }]);
      const { logger, lines } = memoryLogger();
      const { errors } = await runPlugin(
        plugin,
        { url: `${stub.url}/secure`, query: { api_key: 'k-93f1c0ffee' }, headers: { 'x-api-key': 'h-77aa55bb' }, fields: pointFields },
        { logger, secrets: ['k-93f1c0ffee', 'h-77aa55bb'] },
      );
      expect(stub.requests[0]!.query.api_key).to.equal('k-93f1c0ffee');
      expect(errors).to.have.length(1);
      const everything = JSON.stringify(errors) + lines.join('');
      expect(everything).to.include('HTTP 503');
      expect(everything).not.to.include('k-93f1c0ffee');
      expect(everything).not.to.include('h-77aa55bb');
    });
  });

  describe('config validation', () => {
    it('names unknown template variables, bad paths and pagination conflicts', async () => {
      const err = await runPlugin(plugin, {
        url: 'https://api.example.com/{{regoin}}',
        vars: { region: 'nl' },
        records: 'data[',
        query: { page: 3 },
        pagination: { type: 'page' },
      }).catch((e: unknown) => e);
      expect(isConfigError(err)).to.equal(true);
      const text = String(err);
      expect(text).to.include('config.url').and.include('unknown template variable "{{regoin}}"').and.include('region');
      expect(text).to.include('config.records').and.include('"[" without "]"');
      expect(text).to.include('config.query.page').and.include('set by pagination');
    });

    it('needs a window (or lookbackMs) for window templates', async () => {
      stub.setRoutes([{ path: '/w', json: [] }]);
      const { errors } = await runPlugin(plugin, { url: `${stub.url}/w`, query: { from: '{{window.start}}' }, fields: pointFields });
      expect(errors[0]).to.include({ code: 'ERR_CONFIG' });
      expect(errors[0]!.message).to.include('has no time window');
      const before = Date.now();
      const ok = await runPlugin(plugin, { url: `${stub.url}/w`, query: { from: '{{window.start.ms}}' }, lookbackMs: 3_600_000, fields: pointFields });
      expect(ok.errors).to.deep.equal([]);
      const from = Number(stub.requests.at(-1)!.query.from);
      expect(from).to.be.within(before - 3_600_000, Date.now() - 3_600_000);
    });

    it('config.schema: must be an Avro record schema, and the mapping is checked against it', async () => {
      const bad = await runPlugin(plugin, { url: 'https://api.example.com/x', schema: { type: 'record', name: 'X', fields: [{ name: 'a', type: 'strng' }] } }).catch((e: unknown) => e);
      expect(isConfigError(bad)).to.equal(true);
      expect(String(bad)).to.include('config.schema').and.include('expected an Avro record schema').and.include('strng');
      const notRecord = await runPlugin(plugin, { url: 'https://api.example.com/x', schema: { type: 'enum', name: 'E', symbols: ['A'] } }).catch((e: unknown) => e);
      expect(String(notRecord)).to.include('config.schema').and.include('got an enum schema');
      const mapping = await runPlugin(plugin, {
        url: 'https://api.example.com/x',
        schema: { type: 'record', name: 'Y', fields: [{ name: 'id', type: 'string' }] },
        fields: { id: 'id', series: 'name' },
        timestampField: 'at',
      }).catch((e: unknown) => e);
      expect(String(mapping)).to.include('config.fields.series').and.include('is not a field of the schema (fields: id)');
      expect(String(mapping)).to.include('config.timestampField').and.include('expected a field of the schema (id)');
    });
  });
});
