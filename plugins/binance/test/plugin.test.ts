import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { isConfigError, isHttpError } from '@tributary/core';
import { assertRecordsMatchSchema, runPlugin, startStubServer, type StubServer } from '@tributary/core/testing';
import binance, { priceSchema } from '../src/index.js';
import { collectDirect, memoryLogger } from '@tributary/crypto-common/testing';

const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const json = (name: string): unknown => JSON.parse(readFileSync(fixture(name), 'utf8'));
const TICKER = '/api/v3/ticker/24hr';

const ASSETS = [
  { id: 'bitcoin', coingecko: 'bitcoin', coincap: 'bitcoin', binance: 'BTCUSDT' },
  { id: 'ethereum', binance: 'ETHUSDT' },
];

describe('@tributary/plugin-binance', () => {
  let stub: StubServer;

  before(async () => {
    stub = await startStubServer();
  });
  afterEach(() => stub.reset());
  after(() => stub.close());

  const config = (extra: Record<string, unknown> = {}) => ({ assets: ASSETS, baseUrl: stub.url, ...extra });

  it('turns ticker/24hr (MINI) into Price records: lastPrice, quoteVolume, closeTime', async () => {
    stub.setRoutes([{ path: TICKER, file: fixture('ticker-24hr-mini.json') }]);
    const { records, errors, deadLetters } = await runPlugin(binance, config());
    expect(errors).to.deep.equal([]);
    expect(deadLetters).to.deep.equal([]);
    expect(records.map((r) => r.value)).to.deep.equal([
      { asset: 'bitcoin', quote_currency: 'usd', price: 20671.14, volume_24h: 1502240.91155513, observed_at: 1655446835460, provider: 'binance' },
      { asset: 'ethereum', quote_currency: 'usd', price: 1082.63, volume_24h: 444157.9329155, observed_at: 1655446835102, provider: 'binance' },
    ]);
    expect(records.map((r) => [r.key, r.timestamp])).to.deep.equal([
      ['bitcoin', 1655446835460],
      ['ethereum', 1655446835102],
    ]);
    assertRecordsMatchSchema(records, priceSchema);
    expect(stub.requests[0]!.query).to.deep.equal({ symbols: '["BTCUSDT","ETHUSDT"]', type: 'MINI' });
  });

  it('reads ticker/price (no volume; observed_at is the fetch time) and labels the quote currency as configured', async () => {
    stub.setRoutes([{ path: '/api/v3/ticker/price', file: fixture('ticker-price.json') }]);
    const before = Date.now();
    const { records, errors } = await runPlugin(binance, config({ endpoint: 'ticker/price', quoteCurrency: 'usdt' }));
    expect(errors).to.deep.equal([]);
    expect(records.map((r) => [r.value.asset, r.value.price, r.value.volume_24h, r.value.quote_currency])).to.deep.equal([
      ['bitcoin', 20671.14, null, 'usdt'],
      ['ethereum', 1082.63, null, 'usdt'],
    ]);
    expect(records[0]!.value.observed_at).to.be.within(before, Date.now());
    expect(stub.requests[0]!.query).to.deep.equal({ symbols: '["BTCUSDT","ETHUSDT"]' });
  });

  it('calls api.binance.com by default and batches the symbols', async () => {
    const all = json('ticker-24hr-mini.json') as { symbol: string }[];
    stub.setRoutes([{ path: TICKER, json: (req) => all.filter((t) => (JSON.parse(req.query.symbols!) as string[]).includes(t.symbol)) }]);
    const urls: string[] = [];
    const records = await collectDirect(binance, { assets: [...ASSETS, { id: 'solana', binance: 'SOLUSDT' }], batchSize: 2 }, { rewriteTo: stub.url, urls });
    expect(urls).to.deep.equal(['https://api.binance.com/api/v3/ticker/24hr', 'https://api.binance.com/api/v3/ticker/24hr']);
    expect(stub.requests.map((r) => r.query.symbols)).to.deep.equal(['["BTCUSDT","ETHUSDT"]', '["SOLUSDT"]']);
    expect(records.map((r) => r.value.asset)).to.deep.equal(['bitcoin', 'ethereum']);
  });

  describe('errors', () => {
    it('explains the error document {code, msg} of an HTTP 400', async () => {
      stub.setRoutes([{ path: TICKER, faults: { kind: 'status', status: 400, body: json('error-invalid-symbol.json') } }]);
      const err = await collectDirect(binance, config(), { source: 'prices-bn' }).catch((e: unknown) => e);
      expect(isHttpError(err)).to.equal(true);
      expect(err).to.include({ status: 400, retriable: false });
      expect((err as Error).message).to.include('Binance error -1121: Invalid symbol.').and.include('source "prices-bn"');
    });

    it('surfaces 429 and 418 with Retry-After as HttpErrors with retryAfterMs (418 is not retried)', async () => {
      stub.setRoutes([{ path: TICKER, faults: { kind: 'status', status: 429, retryAfter: 30, body: { code: -1003, msg: 'Too much request weight used; current limit is 6000 request weight per 1 MINUTE.' } } }]);
      const limited = await collectDirect(binance, config()).catch((e: unknown) => e);
      expect(isHttpError(limited)).to.equal(true);
      expect(limited).to.include({ status: 429, retryAfterMs: 30_000, retriable: true });
      expect((limited as Error).message).to.include('Binance error -1003').and.include('back off for 30 s');

      stub.setRoutes([{ path: TICKER, faults: { kind: 'status', status: 418, retryAfter: 120 } }]);
      const banned = await collectDirect(binance, config()).catch((e: unknown) => e);
      expect(isHttpError(banned)).to.equal(true);
      expect(banned).to.include({ status: 418, retryAfterMs: 120_000, retriable: false });
      expect((banned as Error).message).to.include('this IP is banned for 120 s');

      const { errors } = await runPlugin(binance, config(), { source: 'prices-bn', resilience: { retry: { maxRetries: 2, initialDelayMs: 1, factor: 1, maxDelayMs: 1, jitter: 'none' } } });
      expect(errors[0]).to.include({ source: 'prices-bn', code: 'ERR_HTTP' });
      expect(stub.count(TICKER)).to.equal(3); // 429, 418, then one 418 under runPlugin: not retried
    });

    it('explains HTTP 451 (restricted location)', async () => {
      stub.setRoutes([{ path: TICKER, faults: { kind: 'status', status: 451, body: json('error-restricted-location.json') } }]);
      const { errors } = await runPlugin(binance, config(), { source: 'prices-bn' });
      expect(errors[0]!.message).to.include('HTTP 451').and.include('restricted location');
    });

    it('reports a body that is not JSON as ERR_BAD_JSON naming the source', async () => {
      stub.setRoutes([{ path: TICKER, faults: { kind: 'malformed' } }]);
      const { records, errors } = await runPlugin(binance, config(), { source: 'prices-bn' });
      expect(records).to.deep.equal([]);
      expect(errors[0]).to.include({ source: 'prices-bn', code: 'ERR_BAD_JSON' });
    });

    it('reports JSON of the wrong shape as ERR_BAD_RESPONSE saying what was expected', async () => {
      const cases: [unknown, string][] = [
        [{ symbol: 'BTCUSDT', lastPrice: '1' }, 'expected a list of tickers, got an object with keys symbol, lastPrice'],
        [{ code: -1000, msg: 'An unknown error occured while processing the request.' }, 'Binance error -1000: An unknown error occured'],
        [[{ symbol: 'BTCUSDT', lastPrice: 'NaN?' }], 'lastPrice of BTCUSDT is the string "NaN?", expected a decimal string'],
        [[42], 'item 0 is the number 42, expected a ticker with a symbol'],
        [[], 'returned no ticker for any of the 2 requested symbols (BTCUSDT, ETHUSDT)'],
      ];
      for (const [body, message] of cases) {
        stub.setRoutes([{ path: TICKER, json: body as object }]);
        const { errors } = await runPlugin(binance, config(), { source: 'prices-bn' });
        expect(errors, JSON.stringify(body)).to.have.length(1);
        expect(errors[0]).to.include({ code: 'ERR_BAD_RESPONSE' });
        expect(errors[0]!.message).to.include(message).and.include('source "prices-bn"');
      }
    });

    it('warns about symbols missing from the answer and keeps the others', async () => {
      stub.setRoutes([{ path: TICKER, json: [(json('ticker-24hr-mini.json') as unknown[])[0]] }]);
      const { logger, lines } = memoryLogger();
      const { records, errors } = await runPlugin(binance, config(), { logger });
      expect(errors).to.deep.equal([]);
      expect(records.map((r) => r.value.asset)).to.deep.equal(['bitcoin']);
      expect(lines.join('')).to.include('Binance returned no ticker for these symbols').and.include('ETHUSDT');
    });
  });

  it('needs a Binance symbol for every asset (or binance: false)', async () => {
    const err = await runPlugin(binance, { assets: ['bitcoin', { id: 'ethereum', binance: 'ethusdt' }, { id: 'tether', binance: false }] }).catch((e: unknown) => e);
    expect(isConfigError(err)).to.equal(true);
    const text = String(err);
    expect(text).to.include('config.assets.0').and.include('asset "bitcoin" has no binance id: write { id: bitcoin, binance: BTCUSDT }');
    expect(text).to.include('config.assets.1.binance').and.include('expected a binance id such as BTCUSDT, got "ethusdt"');
  });
});
