import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import plugin from '../src/index.js';
import { assertRecordsMatchSchema, runPlugin, startStubServer, type StubRequest, type StubServer } from '@tributary/core/testing';

const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const json = (name: string): unknown => JSON.parse(readFileSync(fixture(name), 'utf8')) as unknown;

const HOUR = 3_600_000;

/** A station-detail answer in the documented form, for the stations this test makes up. */
function stationDetail(number: string, lat: number, lon: number, components = ['NO2', 'PM10']): unknown {
  const detail = structuredClone(json('station-NL10938.json')) as { data: Record<string, unknown> };
  detail.data.location = `Station ${number}`;
  detail.data.components = components;
  detail.data.geometry = { type: 'point', coordinates: [lon, lat] };
  return detail;
}

/** A `/stations` page in the documented form. */
function stationPage(numbers: string[], page: number, lastPage: number): unknown {
  return {
    pagination: {
      last_page: lastPage,
      prev_page: Math.max(1, page - 1),
      first_page: 1,
      next_page: Math.min(lastPage, page + 1),
      current_page: page,
      page_list: Array.from({ length: lastPage }, (_, i) => i + 1),
    },
    data: numbers.map((n) => ({ number: n, location: `Station ${n}` })),
  };
}

const isStationRequest = (r: StubRequest): boolean => r.path.startsWith('/open_api/stations');
const isMeasurementRequest = (r: StubRequest): boolean => r.path === '/open_api/measurements';

describe('plugin-luchtmeetnet', () => {
  let stub: StubServer;

  before(async () => {
    stub = await startStubServer({
      routes: [
        { path: '/open_api/stations', query: { page: '1' }, file: fixture('stations-page-1.json') },
        { path: '/open_api/stations', query: { page: '2' }, file: fixture('stations-page-2.json') },
        { path: '/open_api/stations/NL10938', file: fixture('station-NL10938.json') },
        { path: '/open_api/stations/NL10636', file: fixture('station-NL10636.json') },
        { path: '/open_api/stations/NL49012', file: fixture('station-NL49012.json') },
        { path: '/open_api/measurements', file: fixture('measurements-NL10938.json') },
      ],
    });
  });
  afterEach(() => stub.reset());
  after(() => stub.close());

  describe('happy path', () => {
    it('collects the measurements of a configured station, typed by the stream schema', async () => {
      const { records, errors, deadLetters } = await runPlugin(plugin, { station: 'NL10938' }, { baseUrl: stub.url });
      expect(errors).to.deep.equal([]);
      expect(deadLetters).to.deep.equal([]);
      expect(records).to.have.length(4);
      assertRecordsMatchSchema(records, plugin.streams.measurements.schema);
      expect(records[0]).to.deep.include({ topic: 'measurements', key: 'NL10938', timestamp: Date.parse('2025-03-01T09:00:00Z') });
      expect(records[0]!.value).to.deep.equal({
        station_number: 'NL10938',
        station_name: 'Utrecht-Griftpark',
        station_latitude: 52.10149,
        station_longitude: 5.12894,
        distance_km: null,
        formula: 'NO2',
        value: 18.4,
        timestamp_measured: Date.parse('2025-03-01T09:00:00Z'),
      });
      expect(records.map((r) => (r.value as { formula: string }).formula)).to.deep.equal(['NO2', 'NO2', 'PM25', 'PM25']);
      // No station search with an explicit station: one detail call, no list.
      expect(stub.count('/open_api/stations')).to.equal(0);
      expect(stub.count('/open_api/stations/NL10938')).to.equal(1);
    });

    it('asks for the last lookbackHours of the station, in time order, one request per component', async () => {
      const before = Date.now();
      await runPlugin(plugin, { station: 'NL10938', components: ['no2', 'PM25'], lookbackHours: 6 }, { baseUrl: stub.url });
      const after = Date.now();
      const calls = stub.requests.filter(isMeasurementRequest);
      expect(calls.map((c) => c.query.formula)).to.deep.equal(['NO2', 'PM25']);
      for (const call of calls) {
        expect(call.query).to.include({ station_number: 'NL10938', order_by: 'timestamp_measured', order_direction: 'asc', page: '1' });
        const start = Date.parse(call.query.start!);
        const end = Date.parse(call.query.end!);
        expect(call.query.start).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
        expect(end - start).to.be.within(6 * HOUR - 1000, 6 * HOUR);
        expect(end).to.be.within(before - 1000, after);
      }
    });

    it('finds the nearest station to a point among every page of the station list', async () => {
      // A point in Amsterdam: NL49012 is nearest.
      const { records, errors } = await runPlugin(plugin, { latitude: 52.37, longitude: 4.9 }, { baseUrl: stub.url });
      expect(errors).to.deep.equal([]);
      expect(stub.requests.filter((r) => r.path === '/open_api/stations').map((r) => r.query.page)).to.deep.equal(['1', '2']);
      expect(stub.count('/open_api/stations/NL49012')).to.equal(1);
      expect(stub.requests.filter(isMeasurementRequest)[0]!.query.station_number).to.equal('NL49012');
      const first = records[0]!.value as { station_name: string; distance_km: number };
      expect(first.station_name).to.equal('Amsterdam-Van Diemenstraat');
      expect(first.distance_km).to.be.closeTo(2.3, 0.2);
    });

    it('prefers the nearest station that measures every configured component', async () => {
      // Near Kardinaal de Jongweg (NL10636), which measures no PM25; Griftpark (NL10938) does.
      await runPlugin(plugin, { latitude: 52.1052, longitude: 5.1078, components: ['PM25'] }, { baseUrl: stub.url });
      expect(stub.requests.filter(isMeasurementRequest)[0]!.query.station_number).to.equal('NL10938');
      stub.reset();
      await runPlugin(plugin, { latitude: 52.1052, longitude: 5.1078, components: ['NO2'] }, { baseUrl: stub.url });
      expect(stub.requests.filter(isMeasurementRequest)[0]!.query.station_number).to.equal('NL10636');
    });
  });

  describe('the seed scenario: 101 stations, a detail call each, cached for 24 hours', () => {
    const STATIONS = Array.from({ length: 101 }, (_, i) => `NL${String(10001 + i).padStart(5, '0')}`);
    const PER_PAGE = 25;
    const LAST_PAGE = Math.ceil(STATIONS.length / PER_PAGE);
    // Stations on a grid over the Netherlands; the target point is right next to station 57.
    const coords = (i: number): [number, number] => [51.0 + Math.floor(i / 10) * 0.2, 4.0 + (i % 10) * 0.3];
    const target = coords(57);

    let seed: StubServer;
    before(async () => {
      seed = await startStubServer({
        routes: [
          {
            path: '/open_api/stations',
            json: (req) => {
              const page = Number(req.query.page ?? '1');
              return stationPage(STATIONS.slice((page - 1) * PER_PAGE, page * PER_PAGE), page, LAST_PAGE);
            },
          },
          {
            path: /^\/open_api\/stations\/(NL\d{5})$/,
            json: (req) => {
              const i = STATIONS.indexOf(req.match![1]!);
              const [lat, lon] = coords(i);
              return stationDetail(req.match![1]!, lat, lon);
            },
          },
          {
            path: '/open_api/measurements',
            json: (req) => ({
              pagination: { last_page: 1, prev_page: 1, first_page: 1, next_page: 1, current_page: 1, page_list: [1] },
              data: Array.from({ length: 23 }, (_, h) => ({
                station_number: req.query.station_number,
                value: 10 + h,
                timestamp_measured: new Date(Date.UTC(2025, 2, 1, h)).toISOString().replace('.000Z', '+00:00'),
                formula: req.query.formula,
              })),
            }),
          },
        ],
      });
    });
    afterEach(() => seed.reset());
    after(() => seed.close());

    const config = { latitude: target[0] + 0.001, longitude: target[1] + 0.001, components: ['NO2'] };

    it('makes 100+ requests in a cold cycle and no station request at all in a warm cycle, with the same data', async () => {
      const { records, errors } = await runPlugin(plugin, config, { baseUrl: seed.url, cycles: 2 });
      expect(errors).to.deep.equal([]);

      const log = seed.requests;
      const firstMeasurement = log.findIndex(isMeasurementRequest);
      const coldStationRequests = log.slice(0, firstMeasurement).filter(isStationRequest).length;
      // Cold cycle: every list page plus one detail call per station.
      expect(coldStationRequests).to.equal(LAST_PAGE + STATIONS.length);
      expect(coldStationRequests).to.be.greaterThanOrEqual(100);
      // Warm cycle: after the first cycle's measurements, only measurements were asked for.
      expect(log.filter(isStationRequest)).to.have.length(coldStationRequests);
      expect(log.slice(firstMeasurement).filter(isStationRequest)).to.have.length(0);
      expect(log.filter(isMeasurementRequest)).to.have.length(2);
      expect(seed.count('/open_api/stations')).to.equal(LAST_PAGE);

      // Both cycles returned the same data, for the nearest station.
      expect(records).to.have.length(46);
      const values = records.map((r) => r.value);
      expect(values.slice(23)).to.deep.equal(values.slice(0, 23));
      expect(values[0]).to.deep.include({ station_number: STATIONS[57], station_name: `Station ${STATIONS[57]}`, formula: 'NO2', value: 10 });
      expect((values[0] as { distance_km: number }).distance_km).to.be.lessThan(0.2);
    });

    it('reads no cache with --force-refresh', async () => {
      const { errors } = await runPlugin(plugin, config, { baseUrl: seed.url, cycles: 2, forceRefresh: true });
      expect(errors).to.deep.equal([]);
      expect(seed.count('/open_api/stations')).to.equal(2 * LAST_PAGE);
      expect(seed.count(/^\/open_api\/stations\/NL/)).to.equal(2 * STATIONS.length);
    });

    it('keeps the details it already fetched when a detail call fails, and asks only for the rest next cycle', async () => {
      seed.route({ path: `/open_api/stations/${STATIONS[80]}`, faults: { kind: 'status', status: 503, times: 1 }, json: stationDetail(STATIONS[80]!, ...coords(80)) as object });
      const { records, errors } = await runPlugin(plugin, config, { baseUrl: seed.url, cycles: 2 });
      expect(errors).to.have.length(1);
      expect(errors[0]).to.include({ source: 'test', code: 'ERR_HTTP' });
      expect(records).to.have.length(23); // the second cycle succeeded
      expect(seed.count('/open_api/stations')).to.equal(LAST_PAGE); // the list was complete, and cached
      expect(seed.count(`/open_api/stations/${STATIONS[80]}`)).to.equal(2);
      // Cycle 2 asked again only for the failed station and the calls it cut short (at most detailConcurrency - 1).
      expect(seed.count(/^\/open_api\/stations\/NL/)).to.be.within(STATIONS.length + 1, STATIONS.length + 4);
    });
  });

  describe('pagination and windows', () => {
    it('follows the measurement pages up to pagination.last_page', async () => {
      stub.route({
        path: '/open_api/measurements',
        json: (req) => {
          const page = Number(req.query.page);
          return {
            pagination: { last_page: 3, prev_page: Math.max(1, page - 1), first_page: 1, next_page: Math.min(3, page + 1), current_page: page, page_list: [1, 2, 3] },
            data: [{ station_number: 'NL10938', value: page, timestamp_measured: `2025-03-01T0${page}:00:00+00:00`, formula: 'NO2' }],
          };
        },
      });
      const { records } = await runPlugin(plugin, { station: 'NL10938' }, { baseUrl: stub.url });
      expect(stub.requests.filter(isMeasurementRequest).map((r) => r.query.page)).to.deep.equal(['1', '2', '3']);
      expect(records.map((r) => (r.value as { value: number }).value)).to.deep.equal([1, 2, 3]);
    });

    it('asks for a backfill window in spans of at most 7 days and keeps only the measurements inside it', async () => {
      const start = Date.parse('2025-03-01T00:00:00Z');
      const window = { start, end: start + 10 * 24 * HOUR };
      stub.route({
        path: '/open_api/measurements',
        json: () => ({
          pagination: { last_page: 1, prev_page: 1, first_page: 1, next_page: 1, current_page: 1, page_list: [1] },
          data: [
            { station_number: 'NL10938', value: 1, timestamp_measured: '2025-02-28T23:00:00+00:00', formula: 'NO2' },
            { station_number: 'NL10938', value: 2, timestamp_measured: '2025-03-01T00:00:00+00:00', formula: 'NO2' },
            { station_number: 'NL10938', value: 3, timestamp_measured: '2025-03-11T00:00:00+00:00', formula: 'NO2' },
          ],
        }),
      });
      const { records } = await runPlugin(plugin, { station: 'NL10938' }, { baseUrl: stub.url, window });
      const spans = stub.requests.filter(isMeasurementRequest).map((r) => [r.query.start, r.query.end]);
      expect(spans).to.deep.equal([
        ['2025-03-01T00:00:00Z', '2025-03-08T00:00:00Z'],
        ['2025-03-08T00:00:00Z', '2025-03-11T00:00:00Z'],
      ]);
      // Value 2 inside the window, once per span answer; 1 and 3 lie outside.
      expect(records.map((r) => (r.value as { value: number }).value)).to.deep.equal([2, 2]);
    });
  });

  describe('errors', () => {
    it('reports an error status of the API as a failed cycle, without records', async () => {
      stub.route({ path: '/open_api/measurements', faults: { kind: 'status', status: 500 } });
      const { records, errors } = await runPlugin(plugin, { station: 'NL10938' }, { baseUrl: stub.url });
      expect(records).to.deep.equal([]);
      expect(errors).to.have.length(1);
      expect(errors[0]!.code).to.equal('ERR_HTTP');
      expect(errors[0]!.message).to.include('500').and.include('source "test"');
    });

    it('reports an unknown station (404) as a failed cycle', async () => {
      const { errors } = await runPlugin(plugin, { station: 'NL99999' }, { baseUrl: stub.url });
      expect(errors[0]).to.include({ code: 'ERR_HTTP' });
      expect(errors[0]!.message).to.include('404').and.include('/open_api/stations/NL99999');
    });

    it('fails with a clear error naming the source when an answer is not JSON', async () => {
      stub.route({ path: '/open_api/stations', faults: { kind: 'malformed' } });
      const { records, errors } = await runPlugin(plugin, { latitude: 52.1, longitude: 5.1 }, { baseUrl: stub.url });
      expect(records).to.deep.equal([]);
      expect(errors[0]!.code).to.equal('ERR_BAD_JSON');
      expect(errors[0]!.message).to.include('source "test"');
    });

    it('fails with a clear error when a list answer has the wrong shape', async () => {
      stub.route({ path: '/open_api/stations', json: { data: [{ number: 'NL10938' }] } });
      const { errors } = await runPlugin(plugin, { latitude: 52.1, longitude: 5.1 }, { baseUrl: stub.url });
      expect(errors[0]!.code).to.equal('ERR_BAD_RESPONSE');
      expect(errors[0]!.message).to.include('Luchtmeetnet station list (page 1)').and.include('"pagination"').and.include('source "test"');
    });

    it('fails with a clear error when a measurements answer has no data list', async () => {
      stub.route({ path: '/open_api/measurements', json: { pagination: { last_page: 1 }, data: 'none' } });
      const { errors } = await runPlugin(plugin, { station: 'NL10938' }, { baseUrl: stub.url });
      expect(errors[0]!.code).to.equal('ERR_BAD_RESPONSE');
      expect(errors[0]!.message).to.include('measurements of station NL10938').and.include('"data" list');
    });

    it('skips single measurements without a readable time, keeping the others', async () => {
      stub.route({
        path: '/open_api/measurements',
        json: {
          pagination: { last_page: 1 },
          data: [
            { station_number: 'NL10938', value: 1, timestamp_measured: 'yesterday', formula: 'NO2' },
            { station_number: 'NL10938', value: null, timestamp_measured: '2025-03-01T10:00:00+00:00', formula: 'NO2' },
          ],
        },
      });
      const { records, errors } = await runPlugin(plugin, { station: 'NL10938' }, { baseUrl: stub.url });
      expect(errors).to.deep.equal([]);
      expect(records).to.have.length(1);
      expect(records[0]!.value).to.include({ value: null, timestamp_measured: Date.parse('2025-03-01T10:00:00Z') });
    });

    it('fails when the nearest station is farther than maxDistanceKm', async () => {
      const { errors } = await runPlugin(plugin, { latitude: 53.2, longitude: 6.56, maxDistanceKm: 20 }, { baseUrl: stub.url });
      expect(errors[0]!.message).to.match(/nearest station, NL49012 .* km away, farther than maxDistanceKm 20/);
    });

    it('rejects a config without a station or a point', async () => {
      const err = await runPlugin(plugin, { components: ['NO2'] }).catch((e: unknown) => e as Error);
      expect(String(err)).to.include('expected either "station" or both "latitude" and "longitude"');
      const err2 = await runPlugin(plugin, { latitude: 52.1 }).catch((e: unknown) => e as Error);
      expect(String(err2)).to.include('"latitude" and "longitude" together');
    });
  });
});
