import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import plugin from '../src/index.js';
import { assertRecordsMatchSchema, runPlugin, startStubServer, type StubServer } from '@tributary/core/testing';

const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const xml = (name: string): string => readFileSync(fixture(name), 'utf8');

const TOKEN = 'entsoe-token-5d2a9c71';
const NL = '10YNL----------L';
const DE_LU = '10Y1001A1001A82H';
const ES = '10YES-REE------0';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const D1 = Date.parse('2025-02-28T23:00:00Z'); // start of delivery day 2025-03-01 (CET)

type Price = { bidding_zone: string; zone: string; timestamp: number; resolution_minutes: number; price: number; sequence: number | null; contract_type: string | null };
const values = (records: { value: unknown }[]): Price[] => records.map((r) => r.value as Price);

describe('plugin-entsoe', () => {
  let stub: StubServer;

  before(async () => {
    stub = await startStubServer({
      routes: [
        { path: '/api', query: { in_Domain: NL }, file: fixture('a44-nl-pt60m-two-days.xml') },
        { path: '/api', query: { in_Domain: DE_LU }, file: fixture('a44-de-lu-pt15m-two-auctions.xml') },
        { path: '/api', query: { in_Domain: ES }, file: fixture('a44-es-day-ahead-and-intraday.xml') },
      ],
    });
  });
  afterEach(() => stub.reset());
  after(() => stub.close());

  const run = (config: Record<string, unknown>, options: Parameters<typeof runPlugin>[2] = {}) =>
    runPlugin(plugin, { securityToken: TOKEN, ...config }, { baseUrl: stub.url, secrets: [TOKEN], ...options });

  describe('happy path', () => {
    it('emits one price per hour, filling the positions an A03 curve leaves out', async () => {
      const { records, errors, deadLetters } = await run({ zones: ['NL'] });
      expect(errors).to.deep.equal([]);
      expect(deadLetters).to.deep.equal([]);
      expect(records).to.have.length(48);
      assertRecordsMatchSchema(records, plugin.streams.prices.schema);
      expect(records[0]).to.deep.include({ topic: 'prices', key: NL, timestamp: D1 });
      expect(records[0]!.value).to.deep.equal({
        bidding_zone: NL,
        zone: 'NL',
        timestamp: D1,
        resolution_minutes: 60,
        price: 61,
        currency: 'EUR',
        unit: 'MWH',
        sequence: null,
        contract_type: 'A01',
      });
      const prices = values(records);
      expect(prices.map((p) => p.timestamp)).to.deep.equal(Array.from({ length: 48 }, (_, i) => D1 + i * HOUR));
      // Positions 5 and 6 repeat position 4; position 24 repeats position 23.
      expect(prices.slice(3, 7).map((p) => p.price)).to.deep.equal([64, 64, 64, 67]);
      expect(prices[23]!.price).to.equal(83);
      expect(prices[24]!.price).to.equal(80.5);
    });

    it('asks for documentType A44 of the zone, from the start of yesterday to the start of the day after tomorrow (UTC)', async () => {
      const today = Math.floor(Date.now() / DAY) * DAY;
      await run({ zones: ['NL'] });
      const q = stub.requests[0]!.query;
      const fmt = (ms: number): string => new Date(ms).toISOString().replace(/[-:T]/g, '').slice(0, 12);
      expect(q).to.deep.equal({
        documentType: 'A44',
        in_Domain: NL,
        out_Domain: NL,
        'contract_MarketAgreement.type': 'A01',
        periodStart: fmt(today - DAY),
        periodEnd: fmt(today + 2 * DAY),
        securityToken: TOKEN,
      });
    });

    it('keeps both auctions of a zone apart by sequence, and fills a 15-minute curve to the end of its period', async () => {
      const { records } = await run({ zones: ['DE_LU'] });
      const prices = values(records);
      expect(prices).to.have.length(192);
      const seq1 = prices.filter((p) => p.sequence === 1);
      const seq2 = prices.filter((p) => p.sequence === 2);
      expect(seq1).to.have.length(96);
      expect(seq2).to.have.length(96);
      expect(seq1.every((p) => p.resolution_minutes === 15)).to.equal(true);
      expect(seq1.slice(0, 9).map((p) => p.price)).to.deep.equal([196.99, 184.4, 175.79, 170.59, 170.59, 170.59, 170.59, 170.59, 160]);
      expect(seq1[93]!.price).to.equal(160);
      expect(seq1[94]!.price).to.equal(99);
      expect(seq1[95]!).to.include({ price: 99, timestamp: D1 + 95 * 15 * 60_000 });
      expect(seq2[0]!.price).to.equal(192.55);
      expect(seq2[95]!.price).to.equal(101.25);

      stub.reset();
      const only1 = values((await run({ zones: ['DE_LU'], sequence: 1 })).records);
      expect(only1).to.have.length(96);
      expect(only1[0]!.price).to.equal(196.99);
    });

    it('keeps only the configured contract type (day-ahead A01 by default) and resolutions', async () => {
      const dayAhead = values((await run({ zones: [ES] })).records);
      expect(dayAhead).to.have.length(24);
      expect(dayAhead.every((p) => p.contract_type === 'A01' && p.resolution_minutes === 60 && p.zone === ES)).to.equal(true);

      stub.reset();
      const intraday = values((await run({ zones: [ES], contractType: 'A07' })).records);
      expect(stub.requests[0]!.query['contract_MarketAgreement.type']).to.equal('A07');
      expect(intraday).to.have.length(96);
      expect(intraday.slice(48, 50).map((p) => p.price)).to.deep.equal([12, 13]);

      stub.reset();
      const quarterHours = values((await run({ zones: ['DE_LU'], resolutions: [60] })).records);
      expect(quarterHours).to.deep.equal([]);
    });

    it('emits only new intervals in later polling cycles (checkpointed), unless onlyNew is off', async () => {
      const { records, state } = await run({ zones: ['NL'] }, { cycles: 2 });
      expect(records).to.have.length(48);
      expect(state.test![`last:${NL}`]).to.deep.equal({ '60/-/A01': D1 + 47 * HOUR });

      stub.reset();
      const again = await run({ zones: ['NL'] }, { state: { test: { [`last:${NL}`]: { '60/-/A01': D1 + 23 * HOUR } } } });
      expect(values(again.records).map((p) => p.timestamp)).to.deep.equal(Array.from({ length: 24 }, (_, i) => D1 + (24 + i) * HOUR));

      stub.reset();
      const all = await run({ zones: ['NL'], onlyNew: false }, { cycles: 2 });
      expect(all.records).to.have.length(96);
    });
  });

  describe('backfill windows', () => {
    it('asks for the window and keeps the intervals that start inside it', async () => {
      const window = { start: Date.parse('2025-03-01T00:00:00Z'), end: Date.parse('2025-03-02T00:00:00Z') };
      const { records, state } = await run({ zones: ['NL'] }, { window });
      expect(stub.requests[0]!.query).to.include({ periodStart: '202503010000', periodEnd: '202503020000' });
      const prices = values(records);
      expect(prices).to.have.length(24);
      expect(prices[0]!.timestamp).to.equal(window.start);
      expect(prices[23]!.timestamp).to.equal(window.end - HOUR);
      expect(state.test ?? {}).not.to.have.property(`last:${NL}`);
    });

    it('splits a window longer than a year into requests of at most a year', async () => {
      const start = Date.parse('2024-01-01T00:00:00Z');
      await run({ zones: ['NL'] }, { window: { start, end: start + 400 * DAY } });
      expect(stub.requests.map((r) => [r.query.periodStart, r.query.periodEnd])).to.deep.equal([
        ['202401010000', '202412310000'], // 2024 is a leap year: 365 days end on 31 December
        ['202412310000', '202502040000'],
      ]);
    });
  });

  describe('acknowledgements and errors', () => {
    it('treats "No matching data found" (reason 999) as an empty result', async () => {
      stub.route({ path: '/api', file: fixture('ack-no-matching-data.xml') });
      const { records, errors } = await run({ zones: ['NL', 'BE'] });
      expect(errors).to.deep.equal([]);
      expect(records).to.deep.equal([]);
      expect(stub.count('/api')).to.equal(2);
    });

    it('fails with the reason of any other acknowledgement, without retrying', async () => {
      stub.route({ path: '/api', file: fixture('ack-invalid-area.xml') });
      const { records, errors } = await run(
        { zones: ['NL'] },
        { resilience: { retry: { maxRetries: 2, initialDelayMs: 1, factor: 1, maxDelayMs: 1, jitter: 'none' } } },
      );
      expect(records).to.deep.equal([]);
      expect(errors).to.have.length(1);
      expect(errors[0]!.code).to.equal('ERR_NON_RETRIABLE');
      expect(errors[0]!.message).to.include('ENTSO-E rejected the request for zone NL (10YNL----------L)');
      expect(errors[0]!.message).to.include('reason 999: Delivered Area EIC 10Y1001A1001A016 is not valid.');
      expect(errors[0]!.message).to.include('source "test"');
      expect(stub.count('/api')).to.equal(1);
    });

    it('treats "No matching data found" sent with HTTP 400 as an empty result too (the whole document is read)', async () => {
      const ack = xml('ack-no-matching-data.xml');
      expect(ack.indexOf('<Reason>')).to.be.greaterThan(512); // past what an HttpError keeps of a body
      stub.route({ path: '/api', faults: { kind: 'status', status: 400, body: ack, headers: { 'content-type': 'text/xml' } } });
      const { records, errors } = await run(
        { zones: ['NL', 'BE'] },
        { resilience: { retry: { maxRetries: 2, initialDelayMs: 1, factor: 1, maxDelayMs: 1, jitter: 'none' } } },
      );
      expect(errors).to.deep.equal([]);
      expect(records).to.deep.equal([]);
      expect(stub.count('/api')).to.equal(2); // one per zone, no retries
    });

    it('fails with the full reason of another acknowledgement sent with HTTP 400, without retrying or showing the token', async () => {
      stub.route({ path: '/api', faults: { kind: 'status', status: 400, body: xml('ack-invalid-area.xml'), headers: { 'content-type': 'application/xml' } } });
      const { errors } = await run(
        { zones: ['NL'] },
        { resilience: { retry: { maxRetries: 2, initialDelayMs: 1, factor: 1, maxDelayMs: 1, jitter: 'none' } } },
      );
      expect(errors).to.have.length(1);
      expect(errors[0]!.code).to.equal('ERR_HTTP');
      expect(errors[0]!.message).to.include('ENTSO-E answered HTTP 400 for zone NL (10YNL----------L)');
      expect(errors[0]!.message).to.include('an acknowledgement document: reason 999: Delivered Area EIC 10Y1001A1001A016 is not valid.');
      expect(errors[0]!.message).to.include('securityToken=***').and.include('source "test"');
      expect(errors[0]!.message).not.to.include(TOKEN);
      expect(stub.count('/api')).to.equal(1);
    });

    it('fails with an HTTP error when a 400 answer is not an acknowledgement document', async () => {
      stub.route({ path: '/api', faults: { kind: 'status', status: 400, body: `<html>Bad request for ${TOKEN}</html>`, headers: { 'content-type': 'text/html' } } });
      const { errors } = await run({ zones: ['NL'] });
      expect(errors).to.have.length(1);
      expect(errors[0]!.code).to.equal('ERR_HTTP');
      expect(errors[0]!.message).to.include('ENTSO-E answered HTTP 400 for zone NL (10YNL----------L)').and.include('the body is not an acknowledgement document');
      expect(errors[0]!.message).not.to.include(TOKEN);
    });

    it('passes other error statuses on as HTTP errors that do not show the token', async () => {
      stub.route({ path: '/api', faults: { kind: 'status', status: 401, body: 'Unauthorized' } });
      const { errors } = await run({ zones: ['NL'] });
      expect(errors[0]!.code).to.equal('ERR_HTTP');
      expect(errors[0]!.message).to.include('401').and.include('source "test"');
      expect(errors[0]!.message).not.to.include(TOKEN);
    });

    it('fails with a clear error naming the source when the answer is not XML', async () => {
      stub.route({ path: '/api', faults: { kind: 'truncated' }, file: fixture('a44-nl-pt60m-two-days.xml') });
      const first = await run({ zones: ['NL'] });
      expect(first.records).to.deep.equal([]);
      expect(first.errors[0]!.code).to.equal('ERR_BODY_TRUNCATED');
      expect(first.errors[0]!.message).to.include('source "test"').and.not.include(TOKEN);

      stub.reset();
      stub.route({ path: '/api', body: '<Publication_MarketDocument><TimeSeries><Period></TimeSeries>' });
      const { errors } = await run({ zones: ['NL'] });
      expect(errors[0]!.code).to.equal('ERR_BAD_RESPONSE');
      expect(errors[0]!.message).to.include('ENTSO-E answer for zone NL').and.include('not well-formed XML').and.include('source "test"');
      expect(errors[0]!.message).not.to.include(TOKEN);
    });

    it('fails with a clear error when the XML is another document or has unusable points', async () => {
      stub.route({ path: '/api', faults: { kind: 'html', status: 200 } });
      const html = await run({ zones: ['NL'] });
      expect(html.errors[0]!.code).to.equal('ERR_BAD_RESPONSE');
      expect(html.errors[0]!.message).to.include('ENTSO-E answer for zone NL');

      stub.reset();
      stub.route({ path: '/api', body: '<?xml version="1.0"?><GL_MarketDocument><mRID>1</mRID></GL_MarketDocument>' });
      const other = await run({ zones: ['NL'] });
      expect(other.errors[0]!.message).to.include('expected a Publication_MarketDocument or an Acknowledgement_MarketDocument, got <GL_MarketDocument>');

      stub.reset();
      stub.route({ path: '/api', body: xml('a44-nl-pt60m-two-days.xml').replace('<price.amount>61.00</price.amount>', '<price.amount>n/a</price.amount>') });
      const price = await run({ zones: ['NL'] });
      expect(price.errors[0]!.message).to.include('TimeSeries 1, Period 1 has a Point (position 1) whose price.amount is not a number: "n/a"');

      stub.reset();
      stub.route({ path: '/api', body: xml('a44-nl-pt60m-two-days.xml').replace(/PT60M/g, 'PT7M') });
      const resolution = await run({ zones: ['NL'] });
      expect(resolution.errors[0]!.message).to.include('not a whole number of PT7M steps');

      stub.reset();
      stub.route({ path: '/api', body: xml('a44-nl-pt60m-two-days.xml').replace('<position>23</position>', '<position>25</position>') });
      const position = await run({ zones: ['NL'] });
      expect(position.errors[0]!.message).to.include('position "25" outside 1..24');
    });

    it('rejects an unknown zone and a missing token in the config', async () => {
      const bad = await runPlugin(plugin, { securityToken: TOKEN, zones: ['Atlantis'] }).catch((e: unknown) => e as Error);
      expect(String(bad)).to.include('expected a bidding zone name').and.include('DE_LU');
      const missing = await runPlugin(plugin, { zones: ['NL'] }).catch((e: unknown) => e as Error);
      expect(String(missing)).to.include('securityToken');
    });
  });
});
