import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import plugin from '../src/index.js';
import { assertRecordsMatchSchema, runPlugin, startStubServer, type StubServer } from '@tributary/core/testing';

const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const json = (name: string): Record<string, unknown> => JSON.parse(readFileSync(fixture(name), 'utf8')) as Record<string, unknown>;

const T0 = Date.parse('2025-03-01T00:00:00Z');
const HOUR = 3_600_000;
const VARIABLES = ['temperature_2m', 'relative_humidity_2m', 'precipitation', 'wind_speed_10m'];
const LOCATIONS = [
  { name: 'utrecht', latitude: 52.09, longitude: 5.12 },
  { name: 'amsterdam', latitude: 52.37, longitude: 4.9 },
];

describe('plugin-open-meteo', () => {
  let stub: StubServer;

  before(async () => {
    stub = await startStubServer({
      routes: [
        { path: '/v1/forecast', file: fixture('forecast-unixtime.json') },
        { path: '/v1/air-quality', file: fixture('air-quality-unixtime.json') },
      ],
    });
  });
  afterEach(() => stub.reset());
  after(() => stub.close());

  describe('happy path', () => {
    it('emits one record per location and hour, with the variables as nullable doubles', async () => {
      const { records, errors, deadLetters } = await runPlugin(plugin, { locations: LOCATIONS, hourly: VARIABLES }, { baseUrl: stub.url });
      expect(errors).to.deep.equal([]);
      expect(deadLetters).to.deep.equal([]);
      expect(records).to.have.length(12);
      assertRecordsMatchSchema(records, plugin.streams.hourly.schema);
      const utrecht = records.filter((r) => r.key === 'utrecht');
      expect(utrecht.map((r) => r.timestamp)).to.deep.equal(Array.from({ length: 6 }, (_, i) => T0 + i * HOUR));
      expect(utrecht[0]!.value).to.deep.equal({
        location: 'utrecht',
        kind: 'forecast',
        latitude: 52.09,
        longitude: 5.12,
        grid_latitude: 52.1,
        grid_longitude: 5.1199994,
        elevation: 5,
        time: T0,
        values: { temperature_2m: 3.1, relative_humidity_2m: 88, precipitation: 0, wind_speed_10m: 11.2 },
        units: { temperature_2m: '°C', relative_humidity_2m: '%', precipitation: 'mm', wind_speed_10m: 'km/h' },
        timezone: 'GMT',
        utc_offset_seconds: 0,
      });
      // The API's nulls stay nulls.
      expect((utrecht[5]!.value as { values: Record<string, unknown> }).values).to.deep.equal({
        temperature_2m: null,
        relative_humidity_2m: null,
        precipitation: null,
        wind_speed_10m: null,
      });
    });

    it('asks for unix times, the variables and the location, once per location', async () => {
      await runPlugin(plugin, { locations: LOCATIONS, hourly: VARIABLES, forecastDays: 3, pastDays: 1, models: ['icon_seamless'] }, { baseUrl: stub.url });
      const calls = stub.requests.filter((r) => r.path === '/v1/forecast');
      expect(calls).to.have.length(2);
      const utrecht = calls.find((c) => c.query.latitude === '52.09')!;
      expect(utrecht.query).to.deep.equal({
        latitude: '52.09',
        longitude: '5.12',
        hourly: VARIABLES.join(','),
        timeformat: 'unixtime',
        timezone: 'GMT',
        models: 'icon_seamless',
        forecast_days: '3',
        past_days: '1',
      });
    });

    it('collects air quality from the air-quality endpoint with its default variables', async () => {
      const { records, errors } = await runPlugin(plugin, { kind: 'air-quality', locations: [LOCATIONS[0]] }, { baseUrl: stub.url });
      expect(errors).to.deep.equal([]);
      expect(stub.count('/v1/air-quality')).to.equal(1);
      expect(stub.requests[0]!.query.hourly).to.equal('pm10,pm2_5,nitrogen_dioxide,ozone,european_aqi');
      expect(records).to.have.length(3);
      expect(records[2]!.value).to.deep.include({
        kind: 'air-quality',
        time: T0 + 2 * HOUR,
        values: { pm10: 13.1, pm2_5: 9.1, nitrogen_dioxide: 18.2, ozone: 44, european_aqi: 27 },
      });
      expect((records[0]!.value as { units: Record<string, string> }).units.pm2_5).to.equal('μg/m³');
    });

    it('asks for the days of a backfill window and keeps the hours inside it', async () => {
      const window = { start: T0 + 2 * HOUR, end: T0 + 4 * HOUR };
      const { records } = await runPlugin(plugin, { locations: [LOCATIONS[0]], hourly: VARIABLES }, { baseUrl: stub.url, window });
      expect(stub.requests[0]!.query).to.include({ start_date: '2025-03-01', end_date: '2025-03-01' });
      expect(stub.requests[0]!.query).not.to.have.property('forecast_days');
      expect(records.map((r) => r.timestamp)).to.deep.equal([T0 + 2 * HOUR, T0 + 3 * HOUR]);
    });

    it('asks for several locations at most `concurrency` at a time', async () => {
      stub.route({ path: '/v1/forecast', file: fixture('forecast-unixtime.json'), latencyMs: 30 });
      const many = Array.from({ length: 6 }, (_, i) => ({ name: `p${i}`, latitude: 50 + i / 10, longitude: 5 }));
      const { records } = await runPlugin(plugin, { locations: many, hourly: VARIABLES, concurrency: 2 }, { baseUrl: stub.url });
      expect(records).to.have.length(36);
      expect(stub.stats().peakInFlight).to.equal(2);
    });
  });

  describe('errors', () => {
    it("turns the API's error answer (HTTP 400) into an error with its reason, not retried", async () => {
      stub.route({ path: '/v1/forecast', faults: { kind: 'status', status: 400, body: json('error-invalid-variable.json') } });
      const { records, errors } = await runPlugin(
        plugin,
        { locations: [LOCATIONS[0]], hourly: ['tempeture_2m'], apiKey: 'om-secret-key-123' },
        { baseUrl: stub.url, resilience: { retry: { maxRetries: 3, initialDelayMs: 1, factor: 1, maxDelayMs: 1, jitter: 'none' } } },
      );
      expect(records).to.deep.equal([]);
      expect(errors).to.have.length(1);
      expect(errors[0]!.code).to.equal('ERR_HTTP');
      expect(errors[0]!.message).to.include('Open-Meteo answered HTTP 400 for location "utrecht"');
      expect(errors[0]!.message).to.include('invalid String value tempeture_2m');
      expect(errors[0]!.message).to.include('source "test"');
      expect(errors[0]!.message).not.to.include('om-secret-key-123');
      expect(stub.count('/v1/forecast')).to.equal(1);
    });

    it('reports a server error as ERR_HTTP and lets the retry layer retry it', async () => {
      stub.route({ path: '/v1/forecast', faults: { kind: 'status', status: 503, times: 2 }, file: fixture('forecast-unixtime.json') });
      const { records, errors } = await runPlugin(
        plugin,
        { locations: [LOCATIONS[0]], hourly: VARIABLES },
        { baseUrl: stub.url, resilience: { retry: { maxRetries: 3, initialDelayMs: 1, factor: 1, maxDelayMs: 1, jitter: 'none' } } },
      );
      expect(errors).to.deep.equal([]);
      expect(records).to.have.length(6);
      expect(stub.count('/v1/forecast')).to.equal(3);
    });

    it('fails with a clear error naming the source when the answer is not JSON', async () => {
      stub.route({ path: '/v1/forecast', faults: { kind: 'malformed' } });
      const { records, errors } = await runPlugin(plugin, { locations: [LOCATIONS[0]] }, { baseUrl: stub.url });
      expect(records).to.deep.equal([]);
      expect(errors[0]!.code).to.equal('ERR_BAD_JSON');
      expect(errors[0]!.message).to.include('source "test"');
    });

    it('fails with a clear error when a requested variable is missing', async () => {
      const { errors } = await runPlugin(plugin, { locations: [LOCATIONS[0]], hourly: ['temperature_2m', 'dew_point_2m'] }, { baseUrl: stub.url });
      expect(errors[0]!.code).to.equal('ERR_BAD_RESPONSE');
      expect(errors[0]!.message).to.include('Open-Meteo forecast answer for location "utrecht"').and.include('"dew_point_2m" is missing');
    });

    it('fails with a clear error when the columns do not line up or times are not unix times', async () => {
      const body = json('forecast-unixtime.json') as { hourly: Record<string, unknown[]> };
      body.hourly.temperature_2m = body.hourly.temperature_2m!.slice(1);
      stub.route({ path: '/v1/forecast', json: body });
      const { errors } = await runPlugin(plugin, { locations: [LOCATIONS[0]], hourly: ['temperature_2m'] }, { baseUrl: stub.url });
      expect(errors[0]!.message).to.include('"hourly.temperature_2m" has 5 values for 6 times');

      stub.reset();
      const iso = json('forecast-unixtime.json') as { hourly: Record<string, unknown[]> };
      iso.hourly.time = iso.hourly.time!.map((t) => new Date((t as number) * 1000).toISOString().slice(0, 16));
      stub.route({ path: '/v1/forecast', json: iso });
      const second = await runPlugin(plugin, { locations: [LOCATIONS[0]], hourly: ['temperature_2m'] }, { baseUrl: stub.url });
      expect(second.errors[0]!.message).to.include('"hourly.time" to be a list of unix times');
    });

    it('fails when an error object comes with HTTP 200', async () => {
      stub.route({ path: '/v1/forecast', json: { error: true, reason: 'Latitude must be in range of -90 to 90°.' } });
      const { errors } = await runPlugin(plugin, { locations: [LOCATIONS[0]] }, { baseUrl: stub.url });
      expect(errors[0]!.code).to.equal('ERR_BAD_RESPONSE');
      expect(errors[0]!.message).to.include('the API reported an error: Latitude must be in range');
    });

    it('rejects locations that share a name', async () => {
      const err = await runPlugin(plugin, { locations: [LOCATIONS[0], { ...LOCATIONS[1], name: 'utrecht' }] }).catch((e: unknown) => e as Error);
      expect(String(err)).to.include('expected every location to have a name of its own');
    });
  });
});
