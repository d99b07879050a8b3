/**
 * Rebuilds fixtures/ without network: runs pipeline.yaml once through the recorder, with the three
 * APIs played by a local stub that answers in their documented formats:
 *
 * - CoinGecko `GET /api/v3/simple/price?ids=…&vs_currencies=usd&include_24hr_vol=true&include_last_updated_at=true`
 *   (https://docs.coingecko.com/reference/simple-price): `{ "<id>": { usd, usd_24h_vol, last_updated_at } }`;
 * - CoinCap API 3.0 `GET /v3/assets?ids=…` (https://pro.coincap.io/api-docs): here it is down and
 *   answers 503 with a gateway's HTML page, which is what the recording is meant to show;
 * - Binance `GET /api/v3/ticker/24hr?symbols=[…]&type=MINI` and `GET /api/v3/ticker/price?symbols=[…]`
 *   (https://developers.binance.com/docs/binance-spot-api-docs/rest-api/market-data-endpoints):
 *   lists of `{ symbol, lastPrice, quoteVolume, openTime, closeTime, … }` and `{ symbol, price }`,
 *   numbers as strings.
 *
 * Prices are made up but plausible. The recording is saved under the real API URLs, exactly as
 * `tributary record` would save a live run. To record the real APIs instead (network needed; a
 * CoinCap key for CoinCap to answer):
 *
 *   COINCAP_API_KEY=... npx tributary record pipeline.yaml --to fixtures
 *
 * Run: node --import tsx scripts/make-fixtures.ts   (from examples/crypto-screener)
 */
import { fileURLToPath } from 'node:url';
import { startRecorder } from '@tributary/core';
import { runPipeline, startStubServer, type StubRequest } from '@tributary/core/testing';

const here = (p: string): string => fileURLToPath(new URL(`../${p}`, import.meta.url));

/** Price (USD) and 24 h volume (USD) per asset, as each provider sees it (they differ a little). */
const MARKET: Record<string, { price: number; volume: number; symbol: string }> = {
  bitcoin: { price: 91_432.18, volume: 38_215_904_117.42, symbol: 'BTCUSDT' },
  ethereum: { price: 3_024.77, volume: 17_904_263_551.08, symbol: 'ETHUSDT' },
  solana: { price: 141.326, volume: 3_872_110_934.6, symbol: 'SOLUSDT' },
  cardano: { price: 0.4218, volume: 512_774_306.91, symbol: 'ADAUSDT' },
};
const bySymbol = new Map(Object.entries(MARKET).map(([id, m]) => [m.symbol, { id, ...m }]));
const now = Date.now();

function simplePrice(req: StubRequest) {
  const ids = (req.query.ids ?? '').split(',');
  return Object.fromEntries(
    ids
      .filter((id) => MARKET[id])
      .map((id) => [id, { usd: MARKET[id]!.price * 1.0004, usd_24h_vol: MARKET[id]!.volume * 1.07, last_updated_at: Math.floor(now / 1000) - 41 }]),
  );
}

function symbolsOf(req: StubRequest): string[] {
  return JSON.parse(req.query.symbols ?? '[]') as string[];
}

function ticker24hr(req: StubRequest) {
  return symbolsOf(req)
    .filter((s) => bySymbol.has(s))
    .map((s, i) => {
      const m = bySymbol.get(s)!;
      return {
        symbol: s,
        openPrice: (m.price * 0.981).toFixed(8),
        highPrice: (m.price * 1.012).toFixed(8),
        lowPrice: (m.price * 0.975).toFixed(8),
        lastPrice: m.price.toFixed(8),
        volume: (m.volume / m.price / 9).toFixed(8),
        quoteVolume: (m.volume / 9).toFixed(8),
        openTime: now - 86_400_000,
        closeTime: now - 1_200 - i,
        firstId: 5_102_331_807 + i * 1000,
        lastId: 5_104_994_216 + i * 1000,
        count: 2_662_409 - i * 1000,
      };
    });
}

function tickerPrice(req: StubRequest) {
  return symbolsOf(req)
    .filter((s) => bySymbol.has(s))
    .map((s) => ({ symbol: s, price: bySymbol.get(s)!.price.toFixed(8) }));
}

const GATEWAY_503 =
  '<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n';

const stub = await startStubServer({
  routes: [
    { path: '/api.coingecko.com/api/v3/simple/price', json: simplePrice },
    { path: '/rest.coincap.io/v3/assets', status: 503, body: GATEWAY_503, headers: { 'content-type': 'text/html' } },
    { path: '/api.binance.com/api/v3/ticker/24hr', json: ticker24hr },
    { path: '/api.binance.com/api/v3/ticker/price', json: tickerPrice },
  ],
});
const recorder = await startRecorder({ upstream: (url) => `${stub.url}/${url.host}${url.pathname}${url.search}` });
try {
  const { records, errors, summary } = await runPipeline(here('pipeline.yaml'), { baseUrl: recorder.rewriteOrigin, env: {} });
  const index = await recorder.save(here('fixtures'), {
    pipeline: summary.pipeline,
    note: 'Built by scripts/make-fixtures.ts from a stub that answers in the documented formats of the three APIs, with CoinCap down (503). Re-record live with: tributary record pipeline.yaml --to fixtures',
  });
  const topics = Object.entries(summary.topics).map(([t, s]) => `${t}=${s.records}`).join(', ');
  console.log(`fixtures: ${index.exchanges.length} exchanges; ${records.length} records (${topics}); failed: ${errors.map((e) => e.source).join(', ')}`);
} finally {
  await recorder.close();
  await stub.close();
}
