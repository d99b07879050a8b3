/**
 * The three crypto plugins together, as the README shows them: one multi-source group writing
 * one topic (graceful degradation with `mode: all`, failover with `mode: first-available`).
 */
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { runPipeline, startStubServer, type StubServer } from '@tributary/core/testing';
import type { TributaryPlugin } from '@tributary/core';
import coingecko from '../src/index.js';
import coincap from '../../coincap/src/index.js';
import binance from '../../binance/src/index.js';

const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const PIPELINE = fixture('crypto-pipeline.yaml');
const plugins: Record<string, TributaryPlugin> = {
  '@tributary/plugin-coingecko': coingecko as TributaryPlugin,
  '@tributary/plugin-coincap': coincap as TributaryPlugin,
  '@tributary/plugin-binance': binance as TributaryPlugin,
};
const env = { COINCAP_API_KEY: 'cc-group-test-key' };

const PATHS = { coingecko: '/api/v3/simple/price', coincap: '/v3/assets', binance: '/api/v3/ticker/24hr' } as const;

describe('crypto plugins in one multi-source group', () => {
  let stub: StubServer;

  before(async () => {
    stub = await startStubServer({
      routes: [
        { path: PATHS.coingecko, file: fixture('simple-price.json') },
        { path: PATHS.coincap, file: fixture('coincap-assets.json') },
        { path: PATHS.binance, file: fixture('binance-ticker-24hr-mini.json') },
      ],
    });
  });
  afterEach(() => stub.reset());
  after(() => stub.close());

  const summary = (records: { value: Record<string, unknown>; topic: string; headers: Record<string, string> }[]) =>
    records.map((r) => `${r.topic} ${String(r.value.provider)} ${String(r.value.asset)} source=${r.headers['tributary-source']}`).sort();

  it('mode all: every provider’s prices land in one topic, each tagged with its provider and source', async () => {
    const { records, errors, deadLetters } = await runPipeline(PIPELINE, { plugins, env, baseUrl: stub.url });
    expect(errors).to.deep.equal([]);
    expect(deadLetters).to.deep.equal([]);
    expect(summary(records)).to.deep.equal([
      'crypto.prices binance bitcoin source=binance',
      'crypto.prices binance ethereum source=binance',
      'crypto.prices coincap bitcoin source=coincap',
      'crypto.prices coincap ethereum source=coincap',
      'crypto.prices coingecko bitcoin source=coingecko',
      'crypto.prices coingecko ethereum source=coingecko',
    ]);
    expect(stub.requests.find((r) => r.path === PATHS.coincap)!.headers.authorization).to.equal('Bearer cc-group-test-key');
  });

  it('mode all: a provider that fails is reported and the others’ prices still go on', async () => {
    stub.route({ path: PATHS.binance, faults: { kind: 'status', status: 503 } });
    const { records, errors } = await runPipeline(PIPELINE, { plugins, env, baseUrl: stub.url });
    expect(summary(records).map((s) => s.split(' ')[1])).to.deep.equal(['coincap', 'coincap', 'coingecko', 'coingecko']);
    expect(errors.map((e) => [e.source, e.code])).to.deep.include(['binance', 'ERR_HTTP']);
  });

  it('first-available: CoinGecko rate-limited, CoinCap delivers, Binance is not called', async () => {
    stub.route({ path: PATHS.coingecko, faults: { kind: 'rateLimit', retryAfterSeconds: 60 } });
    const { records } = await runPipeline(PIPELINE, { plugins, env, baseUrl: stub.url, overrides: { 'groups.crypto.mode': 'first-available' } });
    expect(summary(records)).to.deep.equal(['crypto.prices coincap bitcoin source=coincap', 'crypto.prices coincap ethereum source=coincap']);
    expect(stub.count(PATHS.coingecko)).to.equal(1);
    expect(stub.count(PATHS.binance)).to.equal(0);
  });
});
