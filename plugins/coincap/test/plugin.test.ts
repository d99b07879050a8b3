import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { isConfigError, isHttpError } from '@tributary/core';
import { assertRecordsMatchSchema, runPlugin, startStubServer, type StubServer } from '@tributary/core/testing';
import coincap, { priceSchema } from '../src/index.js';
import { collectDirect, memoryLogger } from '@tributary/crypto-common/testing';

const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const assetsFixture = JSON.parse(readFileSync(fixture('assets.json'), 'utf8')) as { data: { id: string }[]; timestamp: number };

describe('@tributary/plugin-coincap', () => {
  let stub: StubServer;

  before(async () => {
    stub = await startStubServer();
  });
  afterEach(() => stub.reset());
  after(() => stub.close());

  const config = (extra: Record<string, unknown> = {}) => ({ assets: ['bitcoin', 'ethereum'], apiKey: 'cc-test-key-0001', baseUrl: `${stub.url}/v3`, ...extra });

  it('parses the string numbers of /assets into Price records with CoinCap’s timestamp', async () => {
    stub.setRoutes([{ path: '/v3/assets', file: fixture('assets.json') }]);
    const { records, errors, deadLetters } = await runPlugin(coincap, config());
    expect(errors).to.deep.equal([]);
    expect(deadLetters).to.deep.equal([]);
    expect(records.map((r) => r.value)).to.deep.equal([
      { asset: 'bitcoin', quote_currency: 'usd', price: 96243.89576445049, volume_24h: 12724040223.145206, observed_at: 1733926338473, provider: 'coincap' },
      { asset: 'ethereum', quote_currency: 'usd', price: 3355.770622146832, volume_24h: null, observed_at: 1733926338473, provider: 'coincap' },
    ]);
    expect(records.map((r) => r.key)).to.deep.equal(['bitcoin', 'ethereum']);
    expect(records[0]!.timestamp).to.equal(1733926338473);
    assertRecordsMatchSchema(records, priceSchema);
    expect(stub.requests[0]!.query).to.deep.equal({ ids: 'bitcoin,ethereum', limit: '2' });
    expect(stub.requests[0]!.headers.authorization).to.equal('Bearer cc-test-key-0001');
  });

  it('calls rest.coincap.io/v3 by default and api.coincap.io/v2 for apiVersion: v2', async () => {
    stub.setRoutes([{ path: /^\/v[23]\/assets$/, file: fixture('assets.json') }]);
    const urls: string[] = [];
    await collectDirect(coincap, { assets: ['bitcoin'], apiKey: 'cc-test-key-0001' }, { rewriteTo: stub.url, urls });
    await collectDirect(coincap, { assets: ['bitcoin'], apiVersion: 'v2' }, { rewriteTo: stub.url, urls });
    expect(urls).to.deep.equal(['https://rest.coincap.io/v3/assets', 'https://api.coincap.io/v2/assets']);
    expect(stub.requests[1]!.headers.authorization).to.equal(undefined);
  });

  it('maps canonical ids to CoinCap ids, batches them, and warns about ids it did not get', async () => {
    stub.setRoutes([
      {
        path: '/v3/assets',
        json: (req) => {
          const ids = req.query.ids!.split(',');
          return { data: assetsFixture.data.filter((a) => ids.includes(a.id)), timestamp: assetsFixture.timestamp };
        },
      },
    ]);
    const { logger, lines } = memoryLogger();
    const { records, errors } = await runPlugin(coincap, config({ assets: [{ id: 'btc', coincap: 'bitcoin' }, 'ethereum', 'no-such-asset', { id: 'bnb', coincap: false }], batchSize: 2 }), { logger });
    expect(errors).to.deep.equal([]);
    expect(records.map((r) => r.value.asset)).to.deep.equal(['btc', 'ethereum']);
    expect(stub.requests.map((r) => r.query)).to.deep.equal([
      { ids: 'bitcoin,ethereum', limit: '2' },
      { ids: 'no-such-asset', limit: '1' },
    ]);
    expect(lines.join('')).to.include('CoinCap returned no price for these asset ids').and.include('no-such-asset');
  });

  describe('errors', () => {
    it('surfaces 429 with Retry-After as an HttpError with retryAfterMs', async () => {
      stub.setRoutes([{ path: '/v3/assets', faults: { kind: 'rateLimit', retryAfterSeconds: 60 } }]);
      const err = await collectDirect(coincap, config(), { source: 'prices-cc' }).catch((e: unknown) => e);
      expect(isHttpError(err)).to.equal(true);
      expect(err).to.include({ status: 429, retryAfterMs: 60_000, source: 'prices-cc', retriable: true });
      const { errors } = await runPlugin(coincap, config(), { source: 'prices-cc' });
      expect(errors[0]).to.include({ source: 'prices-cc', code: 'ERR_HTTP' });
      expect(errors[0]!.message).to.include('HTTP 429');
    });

    it('adds CoinCap’s error text to error statuses and keeps the key out of errors and logs', async () => {
      stub.setRoutes([{ path: '/v3/assets', faults: { kind: 'status', status: 403, body: { error: 'Invalid API key' } } }]);
      const { logger, lines } = memoryLogger();
      const { errors } = await runPlugin(coincap, config({ apiKey: 'cc-secret-key-9876' }), { logger, source: 'prices-cc' });
      expect(errors).to.have.length(1);
      expect(errors[0]!.message).to.include('HTTP 403').and.include('CoinCap says: Invalid API key').and.include('source "prices-cc"');
      const everything = JSON.stringify(errors) + lines.join('');
      expect(everything).not.to.include('cc-secret-key-9876');
    });

    it('reports a body that is not JSON as ERR_BAD_JSON naming the source', async () => {
      stub.setRoutes([{ path: '/v3/assets', faults: { kind: 'malformed' } }]);
      const { records, errors } = await runPlugin(coincap, config(), { source: 'prices-cc' });
      expect(records).to.deep.equal([]);
      expect(errors[0]).to.include({ source: 'prices-cc', code: 'ERR_BAD_JSON' });
    });

    it('reports JSON of the wrong shape as ERR_BAD_RESPONSE saying what was expected', async () => {
      const cases: [unknown, string][] = [
        [[{ id: 'bitcoin' }], 'expected { data: [...], timestamp }, got a list of 1'],
        [{ error: 'bitcoin,ethereum is not a valid id list' }, 'CoinCap says: bitcoin,ethereum is not a valid id list'],
        [{ data: [{ id: 'bitcoin', priceUsd: 'n/a' }], timestamp: 1 }, 'priceUsd of "bitcoin" is the string "n/a", expected a decimal string'],
        [{ data: ['bitcoin'], timestamp: 1 }, 'data[0] is the string "bitcoin", expected an asset with an id'],
        [{ data: [], timestamp: 1 }, 'returned no price for any of the 2 requested asset ids (bitcoin, ethereum)'],
      ];
      for (const [body, message] of cases) {
        stub.setRoutes([{ path: '/v3/assets', json: body as object }]);
        const { errors } = await runPlugin(coincap, config(), { source: 'prices-cc' });
        expect(errors, JSON.stringify(body)).to.have.length(1);
        expect(errors[0]).to.include({ code: 'ERR_BAD_RESPONSE' });
        expect(errors[0]!.message).to.include(message).and.include('source "prices-cc"');
      }
    });
  });

  it('asks for an API key with API 3.0', async () => {
    const err = await runPlugin(coincap, { assets: ['bitcoin'] }).catch((e: unknown) => e);
    expect(isConfigError(err)).to.equal(true);
    expect(String(err)).to.include('config.apiKey').and.include('CoinCap API 3.0 (rest.coincap.io/v3) needs one');
  });
});
