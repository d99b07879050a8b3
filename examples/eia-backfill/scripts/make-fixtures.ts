/**
 * Rebuilds fixtures/ without network: runs the backfill of pipeline.yaml (every chunk) and one
 * live poll after it through the recorder, with the EIA API v2 played by a local stub that
 * answers `GET /v2/electricity/rto/region-data/data/` in its documented format
 * (https://www.eia.gov/opendata/documentation.php):
 *
 *   { "response": { "total": "<rows matching>", "dateFormat": "YYYY-MM-DD\"T\"HH24", "frequency": "hourly",
 *                   "data": [{ "period": "2024-01-01T05", "respondent": "PACW", "respondent-name": "PacifiCorp West",
 *                              "type": "D", "type-name": "Demand", "value": 2874, "value-units": "megawatthours" }, ...],
 *                   "description": "..." },
 *     "request": { "command": "/v2/electricity/rto/region-data/data/", "params": { ... } },
 *     "apiVersion": "2.1.8", "ExcelAddInVersion": "2.1.0" }
 *
 * honouring `facets[respondent][]`, `facets[type][]`, `start`, `end`, `offset` and `length`.
 *
 * To keep the repository small, the stub's data is thinned: a few sample hours per 60-day chunk
 * instead of every hour (a live run gets every hour: 1440 per chunk, respondent and type), and
 * the live poll's answer holds the last three hours only. Values are made up but plausible.
 * To record the real API instead (network and a free key needed; the recording is then large):
 *
 *   EIA_API_KEY=... npx tributary record pipeline.yaml --to fixtures
 *
 * Run: node --import tsx scripts/make-fixtures.ts   (from examples/eia-backfill)
 */
import { fileURLToPath } from 'node:url';
import { startRecorder, loadPipeline, resolvePipeline } from '@tributary/core';
import { runPipeline, runPlugin, startStubServer, type StubRequest } from '@tributary/core/testing';

const here = (p: string): string => fileURLToPath(new URL(`../${p}`, import.meta.url));
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

const RESPONDENTS: Record<string, { name: string; demand: number }> = {
  CISO: { name: 'California Independent System Operator', demand: 24_500 },
  PACW: { name: 'PacifiCorp West', demand: 2_750 },
};
const TYPES: Record<string, string> = { D: 'Demand', NG: 'Net generation', DF: 'Day-ahead demand forecast', TI: 'Total interchange' };

/** The sample hours inside [from, to]: one every 20 days, at a time of day that moves along. */
function sampleHours(from: number, to: number): number[] {
  const out: number[] = [];
  for (let t = Math.ceil(from / (20 * DAY)) * 20 * DAY; t <= to; t += 20 * DAY) {
    const hour = t + ((t / (20 * DAY)) % 24) * HOUR;
    if (hour >= from && hour <= to) out.push(hour);
  }
  return out;
}

function valueOf(respondent: string, type: string, t: number): number {
  const r = RESPONDENTS[respondent]!;
  const hour = new Date(t).getUTCHours();
  const seasonal = 1 + 0.18 * Math.cos(((new Date(t).getUTCMonth() - 7) / 12) * 2 * Math.PI); // summer peak
  const daily = 1 + 0.15 * Math.sin(((hour - 8) / 24) * 2 * Math.PI);
  const demand = r.demand * seasonal * daily;
  return Math.round(type === 'NG' ? demand * (respondent === 'PACW' ? 1.08 : 0.81) : demand);
}

const period = (t: number): string => new Date(t).toISOString().slice(0, 13);
const parsePeriod = (s: string): number => Date.parse(`${s}:00:00Z`);

function regionData(req: StubRequest) {
  const q = new URLSearchParams(req.url.slice(req.url.indexOf('?') + 1));
  const respondents = q.getAll('facets[respondent][]');
  const types = q.getAll('facets[type][]');
  const start = parsePeriod(q.get('start')!);
  // no end: a live poll; answer the last three hours before now
  const end = q.get('end') ? parsePeriod(q.get('end')!) : Math.floor(Date.now() / HOUR) * HOUR - HOUR;
  const hours = q.get('end') ? sampleHours(start, end) : [end - 2 * HOUR, end - HOUR, end].filter((h) => h >= start);
  const rows = hours.flatMap((t) =>
    [...respondents].sort().flatMap((respondent) =>
      [...types].sort().map((type) => ({
        period: period(t),
        respondent,
        'respondent-name': RESPONDENTS[respondent]?.name ?? respondent,
        type,
        'type-name': TYPES[type] ?? type,
        value: String(valueOf(respondent, type, t)), // this route sends numbers as strings
        'value-units': 'megawatthours',
      })),
    ),
  );
  const offset = Number(q.get('offset') ?? 0);
  const length = Number(q.get('length') ?? 5000);
  return {
    response: {
      total: String(rows.length),
      dateFormat: 'YYYY-MM-DD"T"HH24',
      frequency: 'hourly',
      data: rows.slice(offset, offset + length),
      description: 'Hourly demand, day-ahead demand forecast, net generation, and interchange by balancing authority.  Source: Form EIA-930 Product: Hourly Electric Grid Monitor',
    },
    request: {
      command: '/v2/electricity/rto/region-data/data/',
      params: {
        frequency: 'hourly',
        data: ['value'],
        facets: { respondent: respondents, type: types },
        start: q.get('start'),
        ...(q.get('end') ? { end: q.get('end') } : {}),
        sort: [0, 1, 2].map((i) => ({ column: q.get(`sort[${i}][column]`), direction: q.get(`sort[${i}][direction]`) })),
        offset,
        length,
        api_key: q.get('api_key'), // the API echoes its parameters: the recorder scrubs the key from bodies too
      },
    },
    apiVersion: '2.1.8',
    ExcelAddInVersion: '2.1.0',
  };
}

const stub = await startStubServer({ routes: [{ path: '/api.eia.gov/v2/electricity/rto/region-data/data/', json: regionData }] });
const recorder = await startRecorder({ upstream: (url) => `${stub.url}/${url.host}${url.pathname}${url.search}` });
try {
  // the backfill: every chunk of the window
  const backfill = await runPipeline(here('pipeline.yaml'), { baseUrl: recorder.rewriteOrigin, env: {} });
  if (backfill.errors.length > 0) throw new Error(`the backfill had errors: ${JSON.stringify(backfill.errors)}`);
  // then one live poll, from the checkpoint the backfill left
  const { config, plugins } = await resolvePipeline(await loadPipeline(here('pipeline.yaml'), { env: {} }));
  const grid = plugins.get('grid')!;
  const poll = await runPlugin(grid.plugin, config.sources.grid!.config, {
    source: 'grid',
    baseUrl: recorder.rewriteOrigin,
    state: { grid: { lastPeriod: backfill.state.grid!.lastPeriod } },
  });
  if (poll.errors.length > 0) throw new Error(`the poll had errors: ${JSON.stringify(poll.errors)}`);
  const index = await recorder.save(here('fixtures'), {
    pipeline: backfill.summary.pipeline,
    note: 'Built by scripts/make-fixtures.ts from a stub that answers in the documented format of the EIA API v2, thinned to a few hours per chunk. Re-record live with: tributary record pipeline.yaml --to fixtures',
  });
  console.log(`fixtures: ${index.exchanges.length} exchanges; backfill ${backfill.records.length} records, poll ${poll.records.length} records`);
} finally {
  await recorder.close();
  await stub.close();
}
