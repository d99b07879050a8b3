import { expect } from 'chai';
import { startStubServer, type StubServer } from '../../src/testing/stubServer.js';
import { runPlugin } from '../../src/testing/runPlugin.js';
import plugin from '../fixtures/pipelines/plugins/air-quality.js';

// The example plugin of docs/writing-a-plugin.md, tested the way the guide tests it.
describe('writing-a-plugin guide: the air-quality plugin', () => {
  let stub: StubServer;

  before(async () => {
    stub = await startStubServer({
      routes: [
        { path: '/open_api/stations/NL10938', json: { data: { location: 'Utrecht-Griftpark' } } },
        {
          path: '/open_api/measurements',
          json: (req) => ({
            pagination: { current_page: 1, last_page: 1 },
            data: [
              { station_number: 'NL10938', formula: req.query.formula, value: 12.5, timestamp_measured: '2026-03-01T10:00:00+00:00' },
              { station_number: 'NL10938', formula: req.query.formula, value: null, timestamp_measured: '2026-03-01T09:00:00+00:00' },
            ],
          }),
        },
      ],
    });
  });
  afterEach(() => stub.reset());
  after(() => stub.close());

  it('emits one record per measurement, keyed by station, typed by the schema', async () => {
    const { records, errors, deadLetters } = await runPlugin(plugin, { stations: ['NL10938'], baseUrl: `${stub.url}/open_api` });
    expect(errors).to.deep.equal([]);
    expect(deadLetters).to.deep.equal([]);
    expect(records).to.have.length(4); // 2 formulas (the default) × 2 hours
    expect(records[0]).to.deep.include({ topic: 'measurements', key: 'NL10938', timestamp: Date.parse('2026-03-01T10:00:00Z') });
    expect(records[0]!.value).to.deep.equal({
      station_id: 'NL10938',
      station_name: 'Utrecht-Griftpark',
      formula: 'PM25',
      value: 12.5,
      measured_at: Date.parse('2026-03-01T10:00:00Z'),
    });
    expect(records.map((r) => (r.value as { formula: string }).formula)).to.deep.equal(['PM25', 'PM25', 'NO2', 'NO2']);
  });

  it('caches the station name and skips measurements it already delivered', async () => {
    const { records, state } = await runPlugin(plugin, { stations: ['NL10938'], baseUrl: `${stub.url}/open_api` }, { cycles: 2 });
    expect(records).to.have.length(4); // the second cycle found nothing new
    expect(stub.count('/open_api/stations/NL10938')).to.equal(1);
    expect(stub.count('/open_api/measurements')).to.equal(4);
    expect(Object.values(state)[0]).to.deep.include({ 'last-measured:NL10938:PM25': Date.parse('2026-03-01T10:00:00Z') });
  });

  it('reports a failing API as a cycle error', async () => {
    stub.route({ path: '/open_api/measurements', faults: { kind: 'status', status: 503 } });
    const { records, errors } = await runPlugin(plugin, { stations: ['NL10938'], baseUrl: `${stub.url}/open_api` });
    expect(records).to.deep.equal([]);
    expect(errors).to.have.length(1);
    expect(errors[0]).to.include({ source: 'test', code: 'ERR_HTTP' });
    expect(errors[0]!.message).to.include('503');
  });

  it('rejects bad options with the path of the option', async () => {
    const err = await runPlugin(plugin, { stations: ['Utrecht'] }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).to.include('config.stations.0');
    expect(err?.message).to.include('expected a station number such as NL10938');
  });
});
