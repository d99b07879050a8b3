import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { isConfigError, isHttpError } from '@tributary/core';
import { assertRecordsMatchSchema, runPlugin, startStubServer, type StubServer } from '@tributary/core/testing';
import coingecko, { priceSchema } from '../src/index.js';
import { collectDirect, memoryLogger } from '@tributary/crypto-common/testing';

const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const json = (name: string): unknown => JSON.parse(readFileSync(fixture(name), 'utf8'));
const PATH = '/api/v3/simple/price';

describe('@tributary/plugin-coingecko', () => {
  let stub: StubServer;

  before(async () => {
    stub = await startStubServer();
  });
  afterEach(() => stub.reset());
  after(() => stub.close());

  const config = (extra: Record<string, unknown> = {}) => ({ assets: ['bitcoin', { id: 'ethereum' }], baseUrl: `${stub.url}/api/v3`, ...extra });

  it('turns /simple/price into one Price record per coin, with CoinGecko’s own timestamp', async () => {
    stub.setRoutes([{ path: PATH, file: fixture('simple-price.json') }]);
    const { records, errors, deadLetters } = await runPlugin(coingecko, config({ apiKey: 'CG-demo-test-key-1' }));
    expect(errors).to.deep.equal([]);
    expect(deadLetters).to.deep.equal([]);
    expect(records.map((r) => r.value)).to.deep.equal([
      { asset: 'bitcoin', quote_currency: 'usd', price: 67187.3358936566, volume_24h: 31260929299.5248, observed_at: 1711356300_000, provider: 'coingecko' },
      { asset: 'ethereum', quote_currency: 'usd', price: 3510.1230998712, volume_24h: 14219817613.0457, observed_at: 1711356287_000, provider: 'coingecko' },
    ]);
    expect(records.map((r) => [r.topic, r.key, r.timestamp])).to.deep.equal([
      ['prices', 'bitcoin', 1711356300_000],
      ['prices', 'ethereum', 1711356287_000],
    ]);
    assertRecordsMatchSchema(records, priceSchema);
    const req = stub.requests[0]!;
    expect(req.query).to.deep.equal({ ids: 'bitcoin,ethereum', vs_currencies: 'usd', include_24hr_vol: 'true', include_last_updated_at: 'true', precision: 'full' });
    expect(req.headers['x-cg-demo-api-key']).to.equal('CG-demo-test-key-1');
  });

  it('calls api.coingecko.com by default and pro-api.coingecko.com with the pro header for apiPlan: pro', async () => {
    stub.setRoutes([{ path: PATH, file: fixture('simple-price.json') }]);
    const urls: string[] = [];
    await collectDirect(coingecko, { assets: ['bitcoin'] }, { rewriteTo: stub.url, urls });
    await collectDirect(coingecko, { assets: ['bitcoin'], apiKey: 'CG-pro-test-key-2', apiPlan: 'pro' }, { rewriteTo: stub.url, urls });
    expect(urls).to.deep.equal(['https://api.coingecko.com/api/v3/simple/price', 'https://pro-api.coingecko.com/api/v3/simple/price']);
    expect(stub.requests[0]!.headers['x-cg-demo-api-key']).to.equal(undefined);
    expect(stub.requests[1]!.headers['x-cg-pro-api-key']).to.equal('CG-pro-test-key-2');
  });

  it('maps canonical asset ids to CoinGecko ids, batches the ids and warns about coins it did not get', async () => {
    stub.setRoutes([
      {
        path: PATH,
        json: (req) => {
          const all = json('simple-price.json') as Record<string, unknown>;
          const out: Record<string, unknown> = {};
          for (const id of req.query.ids!.split(',')) if (all[id]) out[id] = all[id];
          return out;
        },
      },
    ]);
    const { logger, lines } = memoryLogger();
    const { records, errors } = await runPlugin(
      coingecko,
      { assets: [{ id: 'btc', coingecko: 'bitcoin' }, 'ethereum', 'no-such-coin', { id: 'tether', coingecko: false }], baseUrl: `${stub.url}/api/v3`, batchSize: 2 },
      { logger },
    );
    expect(errors).to.deep.equal([]);
    expect(records.map((r) => r.value.asset)).to.deep.equal(['btc', 'ethereum']);
    expect(stub.requests.map((r) => r.query.ids)).to.deep.equal(['bitcoin,ethereum', 'no-such-coin']);
    expect(lines.join('')).to.include('CoinGecko returned no price for these coin ids').and.include('no-such-coin');
  });

  describe('errors', () => {
    it('surfaces 429 with Retry-After as an HttpError with retryAfterMs and CoinGecko’s message', async () => {
      stub.setRoutes([{ path: PATH, faults: { kind: 'status', status: 429, retryAfter: 119, body: json('error-429.json') } }]);
      const err = await collectDirect(coingecko, config(), { source: 'prices-cg' }).catch((e: unknown) => e);
      expect(isHttpError(err)).to.equal(true);
      expect(err).to.include({ status: 429, retryAfterMs: 119_000, source: 'prices-cg', retriable: true });
      expect(String((err as Error).message)).to.include("CoinGecko error 429: You've exceeded the Rate Limit").and.include('source "prices-cg"');

      const { errors } = await runPlugin(coingecko, config(), { source: 'prices-cg' });
      expect(errors).to.have.length(1);
      expect(errors[0]).to.include({ source: 'prices-cg', code: 'ERR_HTTP' });
      expect(errors[0]!.message).to.include('HTTP 429').and.include('exceeded the Rate Limit');
    });

    it('reports a body that is not JSON as ERR_BAD_JSON naming the source', async () => {
      stub.setRoutes([{ path: PATH, faults: { kind: 'malformed' } }]);
      const { records, errors } = await runPlugin(coingecko, config(), { source: 'prices-cg' });
      expect(records).to.deep.equal([]);
      expect(errors[0]).to.include({ source: 'prices-cg', code: 'ERR_BAD_JSON' });
      expect(errors[0]!.message).to.include('source "prices-cg"');
    });

    it('reports JSON of the wrong shape as ERR_BAD_RESPONSE saying what was expected', async () => {
      const cases: [unknown, string][] = [
        [[{ id: 'bitcoin', usd: 1 }], 'expected an object keyed by coin id, got a list of 1'],
        [{ bitcoin: { usd: '67187.3' } }, 'bitcoin.usd is the string "67187.3", expected a number'],
        [{ bitcoin: 67187.3 }, 'the entry of "bitcoin" is the number 67187.3'],
        [{}, 'returned no price in usd for any of the 2 requested coin ids (bitcoin, ethereum)'],
        [{ status: { error_code: 10005, error_message: 'This request is limited Pro API subscribers' } }, 'answered with error 10005: This request is limited Pro API subscribers'],
      ];
      for (const [body, message] of cases) {
        stub.setRoutes([{ path: PATH, json: body as object }]);
        const { errors } = await runPlugin(coingecko, config(), { source: 'prices-cg' });
        expect(errors, JSON.stringify(body)).to.have.length(1);
        expect(errors[0]).to.include({ code: 'ERR_BAD_RESPONSE' });
        expect(errors[0]!.message).to.include(message).and.include('source "prices-cg"');
      }
    });

    it('keeps the API key out of errors and logs', async () => {
      stub.setRoutes([{ path: PATH, faults: { kind: 'status', status: 401, body: { status: { error_code: 10010, error_message: 'Invalid API Key' } } } }]);
      const { logger, lines } = memoryLogger();
      const { errors } = await runPlugin(coingecko, config({ apiKey: 'CG-secret-key-42' }), { logger });
      expect(stub.requests[0]!.headers['x-cg-demo-api-key']).to.equal('CG-secret-key-42');
      const everything = JSON.stringify(errors) + lines.join('');
      expect(everything).to.include('Invalid API Key');
      expect(everything).not.to.include('CG-secret-key-42');
    });
  });

  describe('config', () => {
    it('rejects duplicate and malformed asset ids with their paths', async () => {
      const err = await runPlugin(coingecko, { assets: ['bitcoin', 'Bitcoin', { id: 'btc', coingecko: 'bitcoin' }], vsCurrency: 'USD' }).catch((e: unknown) => e);
      expect(isConfigError(err)).to.equal(true);
      const text = String(err);
      expect(text).to.include('config.assets.1').and.include('expected a lower-case asset id');
      expect(text).to.include('config.assets.2').and.include('the coingecko id "bitcoin" is used by two assets');
      expect(text).to.include('config.vsCurrency').and.include('expected a lower-case currency code');
    });
  });
});
