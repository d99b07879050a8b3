// Step 5 of docs/writing-a-plugin.md: test the plugin with the testkit, against a stub server.
import { expect } from 'chai';
import { fileURLToPath } from 'node:url';
import { assertRecordsMatchSchema, runPlugin, startStubServer, type StubRequest, type StubServer } from '@tributary/core/testing';
import plugin, { intensitySchema } from '../src/carbon-intensity.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/intensity-2025-03-01.json', import.meta.url));
const DAY = 86_400_000;

/** Answers any `/intensity/{from}/{to}` with one made-up period per half hour, in the API's format. */
function anyRange(req: StubRequest) {
  const from = Date.parse(decodeURIComponent(req.match![1]!));
  const to = Date.parse(decodeURIComponent(req.match![2]!));
  const data = [];
  for (let t = from; t < to; t += DAY / 48) {
    data.push({ from: new Date(t).toISOString().slice(0, 16) + 'Z', to: new Date(t + DAY / 48).toISOString().slice(0, 16) + 'Z', intensity: { forecast: 150, actual: 148, index: 'moderate' } });
  }
  return { data };
}

describe('custom plugin: carbon-intensity', () => {
  let stub: StubServer;

  before(async () => {
    stub = await startStubServer({
      routes: [
        // the fixture answers the live poll, whatever its range; the backfill test adds a route that computes answers
        { name: 'fixture', path: /^\/intensity\/([^/]+)\/([^/]+)$/, file: FIXTURE },
      ],
    });
  });
  afterEach(() => stub.reset());
  after(() => stub.close());

  const config = () => ({ baseUrl: stub.url });

  it('emits one record per half hour, keyed by region, with the API\'s index as an enum', async () => {
    const { records, errors, deadLetters } = await runPlugin(plugin, config());
    expect(errors).to.deep.equal([]);
    expect(deadLetters).to.deep.equal([]);
    expect(records).to.have.length(4);
    expect(records[0]).to.deep.include({ topic: 'intensity', key: 'GB', timestamp: Date.parse('2025-03-01T10:00Z') });
    expect(records[2]!.value).to.deep.equal({
      region: 'GB',
      from: Date.parse('2025-03-01T11:00Z'),
      to: Date.parse('2025-03-01T11:30Z'),
      forecast: 64,
      actual: 61,
      index: 'VERY_LOW',
    });
    expect(records[3]!.value).to.include({ actual: null });
    assertRecordsMatchSchema(records, intensitySchema);
    // live: the last 6 hours (the default) up to the current half hour, in the API's time format
    const [, from, to] = /^\/intensity\/([^/]+)\/([^/]+)$/.exec(stub.requests[0]!.path)!;
    expect(Date.parse(decodeURIComponent(to!)) - Date.parse(decodeURIComponent(from!))).to.equal(6 * 3_600_000);
    expect(decodeURIComponent(to!)).to.match(/^\d{4}-\d\d-\d\dT\d\d:[03]0Z$/);
  });

  it('does not deliver a half hour again once its actual value was delivered', async () => {
    const { records, state } = await runPlugin(plugin, config(), { cycles: 2 });
    // cycle 1: all four; cycle 2: only the half hour that has no actual value yet
    expect(records.map((r) => (r.value as { from: number }).from)).to.deep.equal([
      ...['10:00', '10:30', '11:00', '11:30'].map((t) => Date.parse(`2025-03-01T${t}Z`)),
      Date.parse('2025-03-01T11:30Z'),
    ]);
    expect(state.test!['last-actual']).to.equal(Date.parse('2025-03-01T11:00Z'));
  });

  it('backfills a window in requests of at most 14 days and keeps what is inside it', async () => {
    stub.route({ name: 'any range', path: /^\/intensity\/([^/]+)\/([^/]+)$/, json: anyRange });
    const window = { start: Date.UTC(2025, 0, 1), end: Date.UTC(2025, 0, 21) };
    const { records, errors } = await runPlugin(plugin, config(), { window });
    expect(errors).to.deep.equal([]);
    expect(stub.requests.map((r) => decodeURIComponent(r.path))).to.deep.equal([
      '/intensity/2025-01-01T00:00Z/2025-01-15T00:00Z',
      '/intensity/2025-01-15T00:00Z/2025-01-21T00:00Z',
    ]);
    expect(records).to.have.length(20 * 48);
    expect(records.every((r) => r.timestamp >= window.start && r.timestamp < window.end)).to.equal(true);
  });

  it('reports an error status as a failed cycle', async () => {
    stub.route({ path: /^\/intensity\//, faults: { kind: 'status', status: 503 } });
    const { records, errors } = await runPlugin(plugin, config());
    expect(records).to.deep.equal([]);
    expect(errors).to.have.length(1);
    expect(errors[0]).to.include({ source: 'test', code: 'ERR_HTTP' });
  });

  it('reports an answer that is not JSON, or not the expected shape, naming the source', async () => {
    stub.route({ path: /^\/intensity\//, faults: { kind: 'malformed' } });
    const notJson = await runPlugin(plugin, config());
    expect(notJson.errors[0]).to.include({ code: 'ERR_BAD_JSON' });
    expect(notJson.errors[0]!.message).to.include('source "test"');

    stub.reset();
    stub.route({ path: /^\/intensity\//, json: { error: { code: '400 Bad Request', message: 'Please enter a valid ISO 8601 datetime' } } });
    const wrongShape = await runPlugin(plugin, config());
    expect(wrongShape.errors[0]).to.include({ code: 'ERR_BAD_RESPONSE' });
    expect(wrongShape.errors[0]!.message).to.include('expected { "data": [...] }').and.include('test');
  });

  it('rejects bad options with a clear message', async () => {
    const err = await runPlugin(plugin, { lookbackHours: 0 }).catch((e: Error) => e);
    expect(String(err)).to.include('config.lookbackHours');
    const typo = await runPlugin(plugin, { lookbackHour: 3 }).catch((e: Error) => e);
    expect(String(typo)).to.include('lookbackHour');
  });
});
