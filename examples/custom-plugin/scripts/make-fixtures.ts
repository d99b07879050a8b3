/**
 * Rebuilds fixtures/ without network: runs pipeline.yaml once through the recorder, with the
 * Carbon Intensity API played by a local stub that answers `GET /intensity/{from}/{to}` in its
 * documented format (https://carbon-intensity.github.io/api-definitions/):
 *
 *   { "data": [{ "from": "2025-01-01T00:00Z", "to": "2025-01-01T00:30Z",
 *                "intensity": { "forecast": 186, "actual": 190, "index": "moderate" } }, ...] }
 *
 * Values are made up but plausible. To record the real API instead (network needed, no key):
 *
 *   node --import tsx ../../node_modules/@tributary/core/dist/cli/main.js record pipeline.yaml --to fixtures
 *
 * Run: node --import tsx scripts/make-fixtures.ts   (from examples/custom-plugin)
 */
import { fileURLToPath } from 'node:url';
import { startRecorder } from '@tributary/core';
import { runPipeline, startStubServer, type StubRequest } from '@tributary/core/testing';

const here = (p: string): string => fileURLToPath(new URL(`../${p}`, import.meta.url));
const HALF_HOUR = 1_800_000;
const apiTime = (ms: number): string => new Date(ms).toISOString().slice(0, 16) + 'Z';

function band(g: number): string {
  return g < 40 ? 'very low' : g < 120 ? 'low' : g < 200 ? 'moderate' : g < 290 ? 'high' : 'very high';
}

function intensity(req: StubRequest) {
  const from = Date.parse(decodeURIComponent(req.match![1]!));
  const to = Date.parse(decodeURIComponent(req.match![2]!));
  const now = Date.now();
  const data = [];
  for (let t = from; t < to; t += HALF_HOUR) {
    const hour = new Date(t).getUTCHours() + new Date(t).getUTCMinutes() / 60;
    // more gas in the evening peak, more wind at night
    const forecast = Math.round(150 + 70 * Math.sin(((hour - 11) / 24) * 2 * Math.PI) + 25 * Math.sin(t / 5e7));
    const actual = t + HALF_HOUR <= now - HALF_HOUR ? forecast + Math.round(8 * Math.sin(t / 3e6)) : null;
    data.push({ from: apiTime(t), to: apiTime(t + HALF_HOUR), intensity: { forecast, actual, index: band(actual ?? forecast) } });
  }
  return { data };
}

const stub = await startStubServer({ routes: [{ path: /^\/api\.carbonintensity\.org\.uk\/intensity\/([^/]+)\/([^/]+)$/, json: intensity }] });
const recorder = await startRecorder({ upstream: (url) => `${stub.url}/${url.host}${url.pathname}${url.search}` });
try {
  const { records, errors, summary } = await runPipeline(here('pipeline.yaml'), { baseUrl: recorder.rewriteOrigin, env: {} });
  if (errors.length > 0) throw new Error(`the run had errors: ${JSON.stringify(errors)}`);
  const index = await recorder.save(here('fixtures'), {
    pipeline: summary.pipeline,
    note: 'Built by scripts/make-fixtures.ts from a stub that answers in the documented format of the Carbon Intensity API. Re-record live with: tributary record pipeline.yaml --to fixtures',
  });
  console.log(`fixtures: ${index.exchanges.length} exchanges; ${records.length} records`);
} finally {
  await recorder.close();
  await stub.close();
}
