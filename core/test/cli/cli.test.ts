import { expect } from 'chai';
import { readdir } from 'node:fs/promises';
import { main } from '../../src/cli/cli.js';
import { exitCodeOf } from '../../src/cli/run.js';
import { describeSchema } from '../../src/cli/plugins.js';
import { fakeIo, makeProject, PLUGIN_JS } from './helpers.js';

const PIPELINE = (extra = '') => `
name: cli-test
metrics: { enabled: false }
sources:
  air:
    plugin: ./plugin.js
    config: { count: 2${extra} }
    topic: air.readings
    schedule: once
`;

/** A plugin built by hand whose stream schema comes from the options (streamsFor). */
const ROWS_PLUGIN_JS = `
import { z } from 'zod';
import { EMPTY } from 'rxjs';
const schema = (name, columns) => ({ type: 'record', name, namespace: 'rows', fields: columns.map((c) => ({ name: c, type: 'string' })) });
export default {
  kind: 'tributary-plugin',
  name: 'rows-plugin',
  version: '2.0.0',
  coreVersion: '*',
  configSchema: z.strictObject({ record: z.string(), columns: z.array(z.string()), key: z.string().optional() }),
  streams: { rows: { schema: schema('Row', ['value']) } },
  streamsFor: (c) => ({ rows: { schema: schema(c.record, c.columns), ...(c.key ? { key: c.key } : {}) } }),
  create: () => ({ collect: () => EMPTY }),
};
`;

describe('cli', () => {
  let project: Awaited<ReturnType<typeof makeProject>>;
  afterEach(async () => project?.cleanup());

  describe('validate', () => {
    it('exits 0 and prints a summary line for a valid pipeline', async () => {
      project = await makeProject({ 'plugin.js': PLUGIN_JS, 'pipeline.yaml': PIPELINE() });
      const io = fakeIo();
      expect(await main(['validate', project.path('pipeline.yaml')], io)).to.equal(0);
      expect(io.out()).to.match(/valid\. Pipeline "cli-test": 1 source \(air\); topics air\.readings; sink file\./);
      expect(io.err()).to.equal('');
    });

    it('exits 2 with the ConfigError on stderr, naming the file and the path', async () => {
      project = await makeProject({ 'plugin.js': PLUGIN_JS, 'pipeline.yaml': PIPELINE(', nope: 1') });
      const io = fakeIo();
      expect(await main(['validate', project.path('pipeline.yaml')], io)).to.equal(2);
      expect(io.err()).to.include(project.path('pipeline.yaml'));
      expect(io.err()).to.include('sources.air.config');
      expect(io.out()).to.equal('');
    });

    it('exits 2 for a missing file and for usage errors', async () => {
      const io = fakeIo();
      expect(await main(['validate', '/nonexistent/pipeline.yaml'], io)).to.equal(2);
      expect(io.err()).to.match(/does not exist/);
      const usage = fakeIo();
      expect(await main(['run'], usage)).to.equal(2);
      expect(usage.err()).to.match(/missing required argument/);
      const unknown = fakeIo();
      expect(await main(['run', 'x.yaml', '--bogus'], unknown)).to.equal(2);
      const badPort = fakeIo();
      expect(await main(['run', 'x.yaml', '--metrics-port', 'abc'], badPort)).to.equal(2);
      expect(badPort.err()).to.match(/port number/);
    });

    it('prints help and the version with exit 0', async () => {
      const io = fakeIo();
      expect(await main(['--help'], io)).to.equal(0);
      expect(io.out()).to.match(/run \[options\] <pipeline>/);
      const v = fakeIo();
      expect(await main(['--version'], v)).to.equal(0);
      expect(v.out()).to.match(/^\d+\.\d+\.\d+/);
    });
  });

  describe('run', () => {
    it('--once --sink stdout prints JSON lines on stdout and the summary on stderr', async () => {
      project = await makeProject({ 'plugin.js': PLUGIN_JS, 'pipeline.yaml': PIPELINE() });
      const io = fakeIo();
      const code = await main(['run', project.path('pipeline.yaml'), '--once', '--sink', 'stdout', '--log-level', 'silent'], io);
      expect(code).to.equal(0);
      const lines = io
        .out()
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { topic: string; key: string; value: { station: string } });
      expect(lines.map((l) => [l.topic, l.key])).to.deep.equal([
        ['air.readings', 'S0'],
        ['air.readings', 'S1'],
      ]);
      expect(io.err()).to.match(/Run summary: pipeline "cli-test" completed/);
      expect(io.err()).to.match(/air\.readings=2/);
    });

    it('--out writes Avro files into the given directory; --summary json prints the summary object', async () => {
      project = await makeProject({ 'plugin.js': PLUGIN_JS, 'pipeline.yaml': PIPELINE() });
      const io = fakeIo({}, project.dir);
      const code = await main(['run', project.path('pipeline.yaml'), '--once', '--out', 'elsewhere', '--log-level', 'silent', '--summary', 'json'], io);
      expect(code).to.equal(0);
      expect(await readdir(project.path('elsewhere/air.readings'))).to.have.length(1);
      const summary = JSON.parse(io.err()) as { totals: { records: number }; outcome: string };
      expect(summary).to.deep.include({ outcome: 'completed' });
      expect(summary.totals.records).to.equal(2);
    });

    it('exits 1 when a finite run had failed cycles, 2 on a config error (nothing runs)', async () => {
      project = await makeProject({
        'plugin.js': PLUGIN_JS,
        'pipeline.yaml': PIPELINE().replace('config: { count: 2 }', 'config: { baseUrl: "http://127.0.0.1:1" }').replace('schedule: once', 'schedule: once\n    resilience: { retry: false, circuitBreaker: false }'),
      });
      const io = fakeIo();
      expect(await main(['run', project.path('pipeline.yaml'), '--once', '--sink', 'stdout', '--log-level', 'silent'], io)).to.equal(1);
      expect(io.err()).to.match(/1 failed/);

      const bad = fakeIo();
      expect(await main(['run', project.path('pipeline.yaml'), '--sink', 'kafka'], bad)).to.equal(2);
    });
  });

  describe('plugins', () => {
    it('lists installed plugin packages with streams, keys and schemas', async () => {
      const pkg = JSON.stringify({ name: '@tributary/plugin-e2e', version: '1.0.0', type: 'module', main: 'index.js', description: 'E2E plugin', peerDependencies: { '@tributary/core': '*' } });
      project = await makeProject({ 'app/node_modules/@tributary/plugin-e2e/package.json': pkg, 'app/node_modules/@tributary/plugin-e2e/index.js': PLUGIN_JS });
      const io = fakeIo({}, project.path('app'));
      expect(await main(['plugins'], io)).to.equal(0);
      expect(io.out()).to.include('@tributary/plugin-e2e 1.0.0 - E2E plugin');
      expect(io.out()).to.include('stream readings (key: station): One reading per station');
      expect(io.out()).to.include('schema e2e.Reading { station: string, value: double, cycle: int }');
      const json = fakeIo({}, project.path('app'));
      expect(await main(['plugins', '--json'], json)).to.equal(0);
      const list = JSON.parse(json.out()) as { name: string; streams: Record<string, { schema: { name: string } }> }[];
      expect(list.find((p) => p.name === '@tributary/plugin-e2e')!.streams.readings!.schema.name).to.equal('Reading');
    });

    it('says when streams depend on the options, and lists the streams of each source of a pipeline (--pipeline)', async () => {
      const pkg = JSON.stringify({ name: '@tributary/plugin-rows', version: '2.0.0', type: 'module', main: 'index.js', peerDependencies: { '@tributary/core': '*' } });
      project = await makeProject({
        'app/node_modules/@tributary/plugin-rows/package.json': pkg,
        'app/node_modules/@tributary/plugin-rows/index.js': ROWS_PLUGIN_JS,
        'app/rows.js': ROWS_PLUGIN_JS,
        'app/pipeline.yaml': `
name: rows
sources:
  orders:
    plugin: ./rows.js
    config: { record: Order, columns: [id, total], key: id }
    topic: shop.orders
    schedule: once
  users:
    plugin: ./rows.js
    config: { record: User, columns: [name] }
    topic: shop.users
    key: name
    schedule: once
`,
      });
      const io = fakeIo({}, project.path('app'));
      expect(await main(['plugins'], io)).to.equal(0);
      expect(io.out()).to.include("@tributary/plugin-rows 2.0.0 [core *]\n  streams depend on each source's options; the defaults (see: tributary plugins --pipeline <file>)");
      expect(io.out()).to.include('schema rows.Row { value: string }');

      const bySource = fakeIo({}, project.path('app'));
      expect(await main(['plugins', '--pipeline', 'pipeline.yaml'], bySource)).to.equal(0);
      expect(bySource.out()).to.include('source orders: rows-plugin 2.0.0\n  stream rows (key: id) -> shop.orders\n    schema rows.Order { id: string, total: string }');
      expect(bySource.out()).to.include('source users: rows-plugin 2.0.0\n  stream rows (key: name) -> shop.users\n    schema rows.User { name: string }');
      const json = fakeIo({}, project.path('app'));
      expect(await main(['plugins', '--pipeline', 'pipeline.yaml', '--json'], json)).to.equal(0);
      const list = JSON.parse(json.out()) as { source: string; streams: Record<string, { topic: string; schema: { name: string } }> }[];
      expect(list.map((l) => [l.source, l.streams.rows!.topic, l.streams.rows!.schema.name])).to.deep.equal([
        ['orders', 'shop.orders', 'Order'],
        ['users', 'shop.users', 'User'],
      ]);
    });
  });

  it('exitCodeOf: 1 for failed runs and finite runs with failed cycles; 0 for clean or interrupted runs', () => {
    const base = { pipeline: 'p', startedAt: 0, endedAt: 0, durationMs: 0, topics: {}, totals: { records: 0, deadLetters: 0, errors: 0, cycles: 1 } };
    const source = (error: number) => ({
      cycles: { success: 1, error, cancelled: 0 },
      records: {},
      deadLetters: {},
      errors: {},
      cacheHits: 0,
      cacheMisses: 0,
      retries: 0,
      staleValues: 0,
      durations: { count: 0, p50: 0, p95: 0, p99: 0, max: 0 },
    });
    expect(exitCodeOf({ ...base, outcome: 'completed', sources: { a: source(0) } })).to.equal(0);
    expect(exitCodeOf({ ...base, outcome: 'completed', sources: { a: source(1) } })).to.equal(1);
    expect(exitCodeOf({ ...base, outcome: 'interrupted', sources: { a: source(1) } })).to.equal(0);
    expect(exitCodeOf({ ...base, outcome: 'failed', sources: {} })).to.equal(1);
  });

  it('describeSchema renders unions, arrays, maps, enums and logical types', () => {
    expect(
      describeSchema({
        type: 'record',
        name: 'R',
        fields: [
          { name: 'a', type: ['null', 'string'] },
          { name: 'b', type: { type: 'array', items: 'int' } },
          { name: 'c', type: { type: 'map', values: 'double' } },
          { name: 'd', type: { type: 'enum', name: 'E', symbols: ['X', 'Y'] } },
          { name: 'e', type: { type: 'long', logicalType: 'timestamp-millis' } },
        ],
      }),
    ).to.equal('R { a: null | string, b: array<int>, c: map<double>, d: enum E [X, Y], e: long(timestamp-millis) }');
  });
});
