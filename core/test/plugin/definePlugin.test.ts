import { expect } from 'chai';
import { firstValueFrom, of, toArray } from 'rxjs';
import { z } from 'zod';
import { isPluginLoadError, type PluginLoadError } from '../../src/errors/PluginLoadError.js';
import { definePlugin, isTributaryPlugin, pluginProblems, streamsOf } from '../../src/plugin/definePlugin.js';
import type { PluginContext, StreamDefinition, TributaryPlugin } from '../../src/plugin/types.js';

const measurement = {
  type: 'record',
  name: 'Measurement',
  namespace: 'test.air',
  fields: [
    { name: 'station_id', type: 'string' },
    { name: 'measured_at', type: { type: 'long', logicalType: 'timestamp-millis' } },
    { name: 'pm25', type: ['null', 'double'], default: null },
    { name: 'location', type: { type: 'record', name: 'Location', fields: [{ name: 'lat', type: 'double' }, { name: 'lon', type: 'double' }] } },
  ],
} as const;

const base = {
  name: '@acme/plugin-air',
  version: '1.0.0',
  coreVersion: '^0.1.0',
  configSchema: z.object({ station: z.string() }),
  streams: { measurements: { schema: measurement, key: 'station_id' } },
  create: () => ({ collect: () => of() }),
};

function thrown(fn: () => unknown): PluginLoadError {
  try {
    fn();
  } catch (err) {
    expect(isPluginLoadError(err), String(err)).to.equal(true);
    return err as PluginLoadError;
  }
  expect.fail('expected a PluginLoadError');
}

describe('definePlugin', () => {
  it('returns a frozen, branded plugin whose create gets the config and context', async () => {
    const plugin = definePlugin({
      ...base,
      description: 'Air-quality measurements',
      create(config, ctx) {
        return {
          collect: () =>
            of({
              stream: 'measurements' as const,
              value: { station_id: `${ctx.source}:${config.station}`, measured_at: 1_700_000_000_000, pm25: 4.5, location: { lat: 52.1, lon: 5.1 } },
            }),
        };
      },
    });
    expect(plugin.kind).to.equal('tributary-plugin');
    expect(isTributaryPlugin(plugin)).to.equal(true);
    expect(Object.isFrozen(plugin)).to.equal(true);
    expect(plugin.description).to.equal('Air-quality measurements');
    expect(Object.keys(plugin.streams)).to.deep.equal(['measurements']);
    const collector = await plugin.create({ station: 'NL10938' }, { source: 'air' } as PluginContext);
    const records = await firstValueFrom(collector.collect!({ cycle: 1, forceRefresh: false, signal: new AbortController().signal }).pipe(toArray()));
    expect(records).to.have.length(1);
    expect(records[0]!.value.station_id).to.equal('air:NL10938');
  });

  it('reports every metadata problem at once, naming the plugin', () => {
    const err = thrown(() => definePlugin({ ...base, name: 'air', version: '1.0', coreVersion: 'not a range' }));
    expect(err.code).to.equal('ERR_PLUGIN');
    expect(err.retriable).to.equal(false);
    expect(err.plugin).to.equal('air');
    expect(err.message).to.include('"air"');
    expect(err.message).to.include('version must be a semver version such as 1.0.0, got "1.0"');
    expect(err.message).to.include('coreVersion must be a semver range of @tributary/core such as ^0.1.0, got "not a range"');
  });

  it('rejects an empty name, a missing config schema and a create that is not a function', () => {
    const err = thrown(() => definePlugin({ ...base, name: ' ', configSchema: {} as never, create: 'no' as never }));
    expect(err.message).to.include('name must be a non-empty string');
    expect(err.message).to.include('configSchema must be a zod schema');
    expect(err.message).to.include('create must be a function');
  });

  it('rejects an invalid Avro schema, naming the plugin and the stream', () => {
    const broken = { type: 'record', name: 'Reading', fields: [{ name: 'no2', type: 'doubel' }] } as const;
    const err = thrown(() => definePlugin({ ...base, streams: { readings: { schema: broken as never } } }));
    expect(err.message).to.include('@acme/plugin-air');
    expect(err.message).to.include('stream "readings": schema is not a valid Avro schema');
    expect(err.message).to.include('doubel');
  });

  it('requires a record schema for every stream', () => {
    const err = thrown(() => definePlugin({ ...base, streams: { names: { schema: 'string' } } }));
    expect(err.message).to.include('stream "names": schema must be an Avro record schema');
    expect(err.message).to.include('got a string schema');
  });

  it('requires at least one stream and valid stream names', () => {
    expect(thrown(() => definePlugin({ ...base, streams: {} })).message).to.include('streams must declare at least one stream');
    expect(thrown(() => definePlugin({ ...base, streams: { 'bad name': { schema: measurement } } })).message).to.include('stream "bad name": a stream name must be');
  });

  it('checks that a default key is a scalar field of the stream (dotted paths into records allowed)', () => {
    expect(thrown(() => definePlugin({ ...base, streams: { m: { schema: measurement, key: 'station' } } })).message).to.include(
      'key "station" is not a field of the schema (fields: station_id, measured_at, pm25, location)',
    );
    expect(thrown(() => definePlugin({ ...base, streams: { m: { schema: measurement, key: 'location' } } })).message).to.include(
      'must be a string, number, boolean or enum field to be used as a key (it is a record)',
    );
    expect(() => definePlugin({ ...base, streams: { m: { schema: measurement, key: 'location.lat' } } })).not.to.throw();
    expect(() => definePlugin({ ...base, streams: { m: { schema: measurement, key: 'pm25' } } })).not.to.throw();
    const withLong = { type: 'record', name: 'Counted', fields: [{ name: 'station_number', type: 'long' }] } as const;
    expect(() => definePlugin({ ...base, streams: { m: { schema: withLong, key: 'station_number' } } })).not.to.throw();
  });

  it('pluginProblems also checks the brand of objects built by hand', () => {
    const { create, ...rest } = base;
    expect(pluginProblems({ ...rest, create })).to.deep.include('kind must be "tributary-plugin" (create the plugin with definePlugin()), got nothing');
    expect(pluginProblems({ ...rest, create, kind: 'tributary-plugin' })).to.deep.equal([]);
    expect(pluginProblems(null)).to.deep.equal(['expected a plugin object, got null']);
  });

  describe('streamsFor: streams derived from the config', () => {
    const table = (name: string, columns: string[]) => ({
      type: 'record',
      name,
      namespace: 'test.tables',
      fields: columns.map((c) => ({ name: c, type: 'string' })),
    });
    const dynamic = definePlugin({
      ...base,
      configSchema: z.object({ table: z.string(), columns: z.array(z.string()), key: z.string().optional() }),
      streams: {} as Record<string, StreamDefinition>,
      streamsFor: (config) => ({ [config.table]: { schema: table(config.table, config.columns), ...(config.key ? { key: config.key } : {}) } }),
      create: () => ({ collect: () => of({ stream: 'anything', value: { any: 'value' } }) }),
    });

    it('keeps streamsFor on the plugin and allows empty static streams', () => {
      expect(dynamic.streams).to.deep.equal({});
      expect(typeof dynamic.streamsFor).to.equal('function');
      expect(Object.isFrozen(dynamic)).to.equal(true);
      expect(pluginProblems(dynamic)).to.deep.equal([]);
    });

    it('streamsOf: the derived streams for one config, or the static ones without streamsFor', () => {
      const { streams, problems } = streamsOf(dynamic as TributaryPlugin, { table: 'orders', columns: ['id', 'total'], key: 'id' });
      expect(problems).to.deep.equal([]);
      expect(Object.keys(streams)).to.deep.equal(['orders']);
      expect(streams.orders).to.deep.include({ key: 'id' });
      expect((streams.orders!.schema as { fields: unknown[] }).fields).to.have.length(2);
      const fixed = definePlugin(base);
      expect(streamsOf(fixed as TributaryPlugin, { station: 'x' })).to.deep.equal({ streams: fixed.streams, problems: [] });
    });

    it('streamsOf checks the derived streams like static ones, naming the plugin and the stream', () => {
      const check = (config: unknown) => streamsOf(dynamic as TributaryPlugin, config).problems;
      expect(check({ table: 'orders', columns: ['id'], key: 'total' })).to.deep.equal([
        'plugin @acme/plugin-air, stream "orders": key "total" is not a field of the schema (fields: id)',
      ]);
      expect(check({ table: 'orders', columns: ['bad-name'] })[0]).to.include('stream "orders": schema is not a valid Avro schema');
      expect(check({ table: 'bad name', columns: ['id'] })[0]).to.include('stream "bad name": a stream name must be');
      expect(check({ table: 'orders', columns: undefined })[0]).to.match(/^plugin @acme\/plugin-air cannot derive its streams from these options: /);
      const empty = definePlugin({ ...base, streamsFor: () => ({}) });
      expect(streamsOf(empty as TributaryPlugin, { station: 'x' }).problems).to.deep.equal(['plugin @acme/plugin-air: streamsFor returned no stream for these options']);
      const notAMap = definePlugin({ ...base, streamsFor: () => [] as never });
      expect(streamsOf(notAMap as TributaryPlugin, { station: 'x' }).problems[0]).to.include('streamsFor must return a mapping');
    });

    it('rejects a streamsFor that is not a function, and empty streams without streamsFor', () => {
      expect(thrown(() => definePlugin({ ...base, streamsFor: 'records' as never })).message).to.include('streamsFor must be a function (config) => streams, got "records"');
      expect(thrown(() => definePlugin({ ...base, streams: {} })).message).to.include('or the plugin must have streamsFor');
    });

    it('types streamsFor with the parsed config (compile-time check)', () => {
      const typed = () =>
        definePlugin({
          ...base,
          // @ts-expect-error config.station is a string (it has no toFixed)
          streamsFor: (config) => ({ x: { schema: table('X', [config.station.toFixed(1)]) } }),
        });
      expect(typed).to.be.a('function');
    });
  });

  it('types the records of each stream from its Avro schema (compile-time checks)', () => {
    const typed = () => {
      definePlugin({
        ...base,
        create: () => ({
          // @ts-expect-error pm25 must be number | null, per the schema
          collect: () => of({ stream: 'measurements' as const, value: { station_id: 'a', measured_at: 1, pm25: 'high', location: { lat: 1, lon: 2 } } }),
        }),
      });
      definePlugin({
        ...base,
        create: () => ({
          // @ts-expect-error "readings" is not a stream of this plugin
          collect: () => of({ stream: 'readings' as const, value: { station_id: 'a', measured_at: 1, pm25: null, location: { lat: 1, lon: 2 } } }),
        }),
      });
      definePlugin({
        ...base,
        create: (config) => ({
          // @ts-expect-error config.station is a string, not a number
          collect: () => of({ stream: 'measurements' as const, value: { station_id: 'a', measured_at: config.station, pm25: null, location: { lat: 1, lon: 2 } } }),
        }),
      });
    };
    expect(typed).to.be.a('function');
  });
});
