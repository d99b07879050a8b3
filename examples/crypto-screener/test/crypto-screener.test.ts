import { expect } from 'chai';
import { fileURLToPath } from 'node:url';
import { startReplayServer, type Envelope } from '@tributary/core';
import { assertRecordsMatchSchema, runPipeline } from '@tributary/core/testing';
import { priceSchema } from '@tributary/plugin-coingecko';

const here = (p: string): string => fileURLToPath(new URL(`../${p}`, import.meta.url));
const ASSETS = ['bitcoin', 'cardano', 'ethereum', 'solana'];

interface Price {
  asset: string;
  provider: string;
  price: number;
  quote_currency: string;
}

describe('example: crypto-screener', () => {
  it('degrades gracefully and fails over, as recorded while CoinCap answered 503', async () => {
    const replay = await startReplayServer({ dir: here('fixtures') });
    try {
      const { records, errors, deadLetters, summary } = await runPipeline(here('pipeline.yaml'), { baseUrl: replay.rewriteOrigin, env: {} });
      expect(replay.misses).to.deep.equal([]);
      expect(deadLetters).to.deep.equal([]);
      const value = (r: Envelope): Price => r.value as unknown as Price;

      // screen (mode all): CoinCap failed, the other two providers' prices went on, each tagged
      const screen = records.filter((r) => r.topic === 'crypto.prices');
      expect(screen.map((r) => `${value(r).provider}:${r.key}`).sort()).to.deep.equal([
        ...ASSETS.map((a) => `binance:${a}`),
        ...ASSETS.map((a) => `coingecko:${a}`),
      ]);
      expect(new Set(screen.map((r) => r.headers['tributary-group']))).to.deep.equal(new Set(['screen']));
      expect(screen.filter((r) => r.headers['tributary-source'] === 'coingecko')).to.have.length(4);
      assertRecordsMatchSchema(screen, priceSchema);

      // the failed provider is reported, not hidden
      expect(errors.filter((e) => e.source === 'coincap').map((e) => e.code)).to.deep.equal(['ERR_HTTP']);
      expect(errors.find((e) => e.source === 'coincap')!.message).to.include('503');
      expect(summary.sources.coincap!.breaker).to.equal('open');

      // reference (first-available): CoinCap failed, Binance answered, CoinGecko was not asked
      const reference = records.filter((r) => r.topic === 'crypto.reference');
      expect(reference.map((r) => r.key).sort()).to.deep.equal(ASSETS);
      expect(new Set(reference.map((r) => r.headers['tributary-source']))).to.deep.equal(new Set(['binance-ref']));
      expect(new Set(reference.map((r) => r.headers['tributary-group']))).to.deep.equal(new Set(['reference']));
      expect(errors.filter((e) => e.source === 'coincap-ref').map((e) => e.code)).to.deep.equal(['ERR_HTTP']);
      expect(errors.filter((e) => e.source === 'coingecko-ref')).to.deep.equal([]);
      expect(summary.sources['coingecko-ref']!.records).to.deep.equal({});

      // both groups' cycles succeeded: partial success beats total failure
      expect(summary.sources.screen!.cycles).to.include({ success: 1, error: 0 });
      expect(summary.sources.reference!.cycles).to.include({ success: 1, error: 0 });

      // the same asset priced by two providers, close to each other
      const btc = screen.filter((r) => r.key === 'bitcoin').map((r) => value(r).price);
      expect(Math.abs(btc[0]! - btc[1]!) / btc[0]!).to.be.lessThan(0.01);
    } finally {
      await replay.close();
    }
  });
});
