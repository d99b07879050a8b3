import { expect } from 'chai';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EMPTY } from 'rxjs';
import { z } from 'zod';
import { isConfigError, type ConfigError } from '../../src/errors/ConfigError.js';
import { definePlugin } from '../../src/plugin/definePlugin.js';
import type { StreamDefinition } from '../../src/plugin/types.js';
import { loadPipeline, parsePipeline } from '../../src/pipeline/config/load.js';
import { resolvePipeline, type ResolvePipelineOptions } from '../../src/pipeline/config/resolve.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const pipelines = path.resolve(here, '../fixtures/pipelines');
const file = path.join(pipelines, 'resolve.yaml');

async function failure(text: string, env: Record<string, string> = {}, options: ResolvePipelineOptions = {}): Promise<ConfigError> {
  const config = parsePipeline(text, { file, env });
  try {
    await resolvePipeline(config, options);
  } catch (err) {
    expect(isConfigError(err), String(err)).to.equal(true);
    const e = err as ConfigError;
    expect(e.file).to.equal(file);
    expect(e.message).to.include('resolve.yaml');
    return e;
  }
  expect.fail('expected a ConfigError');
}

function expectIssue(err: ConfigError, at: string, fragment: string, line?: number): void {
  const issue = err.issues.find((i) => i.path === at && i.message.includes(fragment));
  expect(issue, `no issue at ${at} with "${fragment}" in:\n${err.message}`).to.not.equal(undefined);
  expect(err.message).to.include(`  - ${at} (resolve.yaml:`);
  if (line !== undefined) expect(issue!.line).to.equal(line);
}

describe('pipeline config: resolving plugins', () => {
  it('loads every enabled plugin, validates its options and completes the stream routes', async () => {
    const config = await loadPipeline(path.join(pipelines, 'energy-hub.yaml'), { env: { AIR_API_KEY: 'sk-live-4c1d9e', KAFKA_PASSWORD: 'x-kafka-pw' } });
    const resolved = await resolvePipeline(config);
    expect([...resolved.plugins.keys()]).to.deep.equal(['air', 'air-utrecht', 'grid', 'prices-a', 'prices-b']); // not the disabled one
    expect(resolved.plugins.get('air')!.plugin.name).to.equal('air-fixture');
    expect(resolved.plugins.get('air')!.config).to.deep.equal({ latitude: 52.1, longitude: 5.1, apiKey: 'sk-live-4c1d9e', radiusKm: 10 });
    expect(resolved.plugins.get('prices-a')!.config).to.deep.equal({ region: 'NL' });
    expect(resolved.plugins.get('grid')!.plugin.name).to.equal('@tributary/plugin-fixture');

    const sources = resolved.config.sources;
    expect(sources.air!.streams).to.deep.equal({ measurements: { topic: 'air.measurements', key: 'station_id' } });
    expect(sources.grid!.streams).to.deep.equal({ load: { topic: 'grid.load', key: 'area' } });
    expect(sources['prices-a']!.streams).to.deep.equal({ prices: { topic: 'energy.prices', key: 'area' } });
    expect(sources['prices-b']!.streams).to.deep.equal({ prices: { topic: 'energy.prices', key: 'area' }, load: { topic: 'energy.load' } });
    expect(config.sources.air!.streams).to.have.key('*'); // the input is left as it was

    expect(resolved.topics.map((t) => `${t.source}/${t.stream} -> ${t.topic}`)).to.deep.equal([
      'air/measurements -> air.measurements',
      'air-utrecht/measurements -> air.measurements',
      'grid/load -> grid.load',
      'prices-a/prices -> energy.prices',
      'prices-b/prices -> energy.prices',
      'prices-b/load -> energy.load',
    ]);
    expect(resolved.topics[0]!.schema).to.include({ type: 'record', name: 'Measurement' });
  });

  it('converts environment text to the types the plugin schema expects', async () => {
    const config = parsePipeline(
      `sources:
  air:
    plugin: ./plugins/air.js
    config: { latitude: "\${LAT}", longitude: "\${LON:-5.1}" }
    topic: air
    schedule: once
`,
      { file, env: { LAT: '52.1' } },
    );
    expect(config.secrets).to.include('52.1');
    const { plugins, config: out } = await resolvePipeline(config);
    expect(plugins.get('air')!.config).to.deep.include({ latitude: 52.1, longitude: 5.1 });
    // used only as a number by the plugin: a setting, not a secret
    expect(out.secrets).not.to.include('52.1');
  });

  it('keeps as secrets the environment values a plugin uses as text', async () => {
    const config = parsePipeline(
      'sources:\n  air:\n    plugin: ./plugins/air.js\n    config: { latitude: 1, longitude: 2, apiKey: "${AIR_KEY}" }\n    topic: air\n    schedule: once\n',
      { file, env: { AIR_KEY: 'ak-7f3e9d21c' } },
    );
    const { config: out } = await resolvePipeline(config);
    expect(out.secrets).to.deep.equal(['ak-7f3e9d21c']);
  });

  it('unknown plugin package: names the specifier and where it looked', async () => {
    const err = await failure('sources:\n  grid:\n    plugin: "@tributary/plugin-nowhere"\n    topic: grid\n    schedule: once\n');
    expectIssue(err, 'sources.grid.plugin', 'plugin package "@tributary/plugin-nowhere" is not installed', 3);
    expectIssue(err, 'sources.grid.plugin', path.join(pipelines, 'node_modules'));
  });

  it('plugin file that exports no plugin', async () => {
    const err = await failure('sources:\n  x:\n    plugin: ./plugins/not-a-plugin.js\n    topic: x\n    schedule: once\n');
    expectIssue(err, 'sources.x.plugin', 'exports no Tributary plugin', 3);
  });

  it('plugin whose core range the installed core does not satisfy', async () => {
    const err = await failure('sources:\n  f:\n    plugin: ./plugins/future-core.js\n    topic: ticks\n    schedule: once\n');
    expectIssue(err, 'sources.f.plugin', 'supports @tributary/core ^99.0.0', 3);
  });

  it('invalid plugin options, with paths into config', async () => {
    const err = await failure(`sources:
  air:
    plugin: ./plugins/air.js
    config:
      latitude: 95
      longitude: east
      radiusKm: -3
      colour: blue
    topic: air
    schedule: once
`);
    expectIssue(err, 'sources.air.config.latitude', 'expected a number <= 90, got 95 (plugin air-fixture)', 5);
    expectIssue(err, 'sources.air.config.longitude', 'expected a number, got "east"', 6);
    expectIssue(err, 'sources.air.config.radiusKm', 'expected a number > 0, got -3', 7);
    expectIssue(err, 'sources.air.config.colour', 'unknown key "colour"; allowed: latitude, longitude, apiKey, radiusKm', 8);
  });

  it('missing required plugin options', async () => {
    const err = await failure('sources:\n  air:\n    plugin: ./plugins/air.js\n    topic: air\n    schedule: once\n');
    expectIssue(err, 'sources.air.config.latitude', 'required key is missing (expected a number)');
  });

  it('unknown stream, a stream without topic, and the shorthand with a multi-stream plugin', async () => {
    const err = await failure(`sources:
  a:
    plugin: ./plugins/multi.js
    streams:
      prices: { topic: energy.prices }
      lod: { topic: energy.load }
    schedule: once
  b:
    plugin: ./plugins/multi.js
    topic: energy.all
    schedule: once
`);
    expectIssue(err, 'sources.a.streams.lod', 'unknown stream "lod" (did you mean "load"?); plugin multi-fixture has streams: prices, load', 6);
    expectIssue(err, 'sources.a.streams.load', 'no topic for stream "load" of plugin multi-fixture');
    expectIssue(err, 'sources.b.topic', 'the topic: shorthand needs a plugin with one stream', 10);
    expect(err.issues.filter((i) => i.path.startsWith('sources.b.streams'))).to.deep.equal([]);
  });

  it('key field not in the stream schema, or not usable as a key', async () => {
    const err = await failure(`sources:
  a:
    plugin: ./plugins/multi.js
    streams:
      prices: { topic: energy.prices, key: region }
      load: { topic: energy.load, key: detail }
    schedule: once
  b:
    plugin: ./plugins/air.js
    config: { latitude: 1, longitude: 2 }
    topic: air
    key: location.alt
    schedule: once
`);
    expectIssue(err, 'sources.a.streams.prices.key', 'key field "region" is not a field of the schema (fields: area, eur_mwh)', 5);
    expectIssue(err, 'sources.a.streams.load.key', 'must be a string, number, boolean or enum field to be used as a key (it is a map)', 6);
    expectIssue(err, 'sources.b.key', 'is not a field of the schema (fields of location: lat, lon)', 12);
  });

  it('duplicate topic: allowed for the same schema, an error for a different one', async () => {
    const err = await failure(`sources:
  air:
    plugin: ./plugins/air.js
    config: { latitude: 1, longitude: 2 }
    topic: shared
    schedule: once
  air2:
    plugin: ./plugins/air.js
    config: { latitude: 3, longitude: 4 }
    topic: shared
    schedule: once
  prices:
    plugin: ./plugins/multi.js
    streams:
      prices: { topic: shared }
      load: { topic: shared.dlq }
    schedule: once
`);
    expect(err.issues.filter((i) => i.path.startsWith('sources.air2'))).to.deep.equal([]);
    expectIssue(err, 'sources.prices.streams.prices.topic', 'topic "shared" is also written by source "air" (stream "measurements") with a different Avro schema', 15);
    expectIssue(err, 'sources.prices.streams.load.topic', 'is the dead-letter topic of "shared"');
  });

  it('skips disabled sources (their plugin is not even loaded)', async () => {
    const config = parsePipeline(
      'sources:\n  air:\n    plugin: ./plugins/air.js\n    config: { latitude: 1, longitude: 2 }\n    topic: air\n    schedule: once\n  old:\n    plugin: ./plugins/gone.js\n    topic: old\n    schedule: once\n    enabled: false\n',
      { file },
    );
    const { plugins, config: out } = await resolvePipeline(config);
    expect([...plugins.keys()]).to.deep.equal(['air']);
    expect(out.sources.old!.streams).to.deep.equal({ '*': { topic: 'old' } });
  });

  it('uses plugins passed in by specifier instead of loading them', async () => {
    const inline = definePlugin({
      name: 'inline',
      version: '1.0.0',
      coreVersion: '*',
      configSchema: z.object({ city: z.string() }),
      streams: { weather: { schema: { type: 'record', name: 'Weather', fields: [{ name: 'city', type: 'string' }, { name: 'temp_c', type: 'double' }] }, key: 'city' } },
      create: () => ({ collect: () => EMPTY }),
    });
    const config = parsePipeline('sources:\n  w:\n    plugin: inline\n    config: { city: Utrecht }\n    topic: weather\n    schedule: once\n', { file });
    const { plugins, config: out } = await resolvePipeline(config, { plugins: { inline } });
    expect(plugins.get('w')).to.deep.equal({ plugin: inline, config: { city: 'Utrecht' }, streams: inline.streams });
    expect(out.sources.w!.streams).to.deep.equal({ weather: { topic: 'weather', key: 'city' } });
  });

  describe('plugins whose streams depend on the config (streamsFor)', () => {
    const tables = definePlugin({
      name: 'tables',
      version: '1.0.0',
      coreVersion: '*',
      configSchema: z.object({ record: z.string(), columns: z.array(z.string()).default([]), key: z.string().optional(), extra: z.boolean().default(false) }),
      streams: {} as Record<string, StreamDefinition>,
      streamsFor: (c) => {
        if (c.record === 'Boom') throw new Error('record name Boom is reserved');
        const schema = { type: 'record', name: c.record, namespace: 'test.tables', fields: c.columns.map((name) => ({ name, type: 'string' })) };
        return {
          rows: { schema, ...(c.key ? { key: c.key } : {}) },
          ...(c.extra ? { audit: { schema: { type: 'record', name: 'Audit', fields: [{ name: 'at', type: 'long' }] } } } : {}),
        };
      },
      create: () => ({ collect: () => EMPTY }),
    });

    it('routes and checks each source against its own streams, and hands them on', async () => {
      const config = parsePipeline(
        `sources:
  orders:
    plugin: tables
    config: { record: Order, columns: [id, total], key: id }
    topic: shop.orders
    schedule: once
  users:
    plugin: tables
    config: { record: User, columns: [name], extra: true }
    streams:
      rows: { topic: shop.users, key: name }
      audit: false
    schedule: once
`,
        { file },
      );
      const { plugins, topics, config: out } = await resolvePipeline(config, { plugins: { tables } });
      expect(Object.keys(plugins.get('orders')!.streams)).to.deep.equal(['rows']);
      expect(Object.keys(plugins.get('users')!.streams)).to.deep.equal(['rows', 'audit']);
      expect(out.sources.orders!.streams).to.deep.equal({ rows: { topic: 'shop.orders', key: 'id' } });
      expect(out.sources.users!.streams).to.deep.equal({ rows: { topic: 'shop.users', key: 'name' } });
      expect(topics.map((t) => [t.topic, (t.schema as { name: string }).name])).to.deep.equal([
        ['shop.orders', 'Order'],
        ['shop.users', 'User'],
      ]);
    });

    it('reports bad derived streams at sources.<id>.config, and routes against the derived names', async () => {
      const err = await failure(
        `sources:
  a:
    plugin: tables
    config: { record: Order, columns: [id], key: total }
    topic: t.a
    schedule: once
  b:
    plugin: tables
    config: { record: Boom }
    topic: t.b
    schedule: once
  c:
    plugin: tables
    config: { record: Row, columns: [id] }
    streams:
      row: { topic: t.c }
    schedule: once
  d:
    plugin: tables
    config: { record: Order, columns: [id, total] }
    topic: t.a
    schedule: once
  e:
    plugin: tables
    config: { record: 7 }
    topic: t.e
    schedule: once
`,
        {},
        { plugins: { tables } },
      );
      expectIssue(err, 'sources.a.config', 'plugin tables, stream "rows": key "total" is not a field of the schema (fields: id)', 4);
      expectIssue(err, 'sources.b.config', 'plugin tables cannot derive its streams from these options: record name Boom is reserved', 9);
      expectIssue(err, 'sources.c.streams.row', 'unknown stream "row" (did you mean "rows"?); plugin tables has stream (for these options): rows', 16);
      expectIssue(err, 'sources.c.streams.rows', 'no topic for stream "rows"');
      expect(err.issues.filter((i) => i.path.startsWith('sources.d'))).to.deep.equal([]); // the a source failed: no writer of t.a yet
      expectIssue(err, 'sources.e.config.record', 'expected a string');
      expect(err.issues.filter((i) => i.path.startsWith('sources.e.') && !i.path.startsWith('sources.e.config.record'))).to.deep.equal([]);
    });

    it('one topic, one schema: two sources whose options give different schemas cannot share a topic', async () => {
      const err = await failure(
        'sources:\n  a:\n    plugin: tables\n    config: { record: Order, columns: [id] }\n    topic: shared\n    schedule: once\n' +
          '  b:\n    plugin: tables\n    config: { record: Order, columns: [id, total] }\n    topic: shared\n    schedule: once\n',
        {},
        { plugins: { tables } },
      );
      expectIssue(err, 'sources.b.topic', 'topic "shared" is also written by source "a" (stream "rows") with a different Avro schema', 10);
    });
  });

  it('never shows an environment value, even when a plugin message repeats the input', async () => {
    const secret = 'tok-Vx81-SECRET';
    const echo = definePlugin({
      name: 'echo',
      version: '1.0.0',
      coreVersion: '*',
      configSchema: z.object({
        token: z.string().refine((t) => t.startsWith('ok-'), { error: (iss) => `token ${String(iss.input)} must start with ok-` }),
        retries: z.number().int(),
        pin: z.string().length(6),
      }),
      streams: { s: { schema: { type: 'record', name: 'S', fields: [{ name: 'a', type: 'string' }] } } },
      create: () => ({ collect: () => EMPTY }),
    });
    const err = await failure(
      'sources:\n  e:\n    plugin: echo\n    config:\n      token: ${TOKEN}\n      retries: ${RETRIES}\n      pin: "${PIN}"\n    topic: t\n    schedule: once\n',
      { TOKEN: secret, RETRIES: secret, PIN: '12' },
      { plugins: { echo } },
    );
    expect(err.message).not.to.include(secret);
    expect(err.message).not.to.include('"12"');
    expectIssue(err, 'sources.e.config.token', 'must start with ok-', 5);
    expectIssue(err, 'sources.e.config.retries', 'expected a number, got ${RETRIES}', 6);
    expectIssue(err, 'sources.e.config.pin', 'got ${PIN}', 7);
  });
});
