/**
 * Seed 002's backfill: 24 years of EIA data in 60-day chunks (two requests per chunk: demand and
 * generation) against an API that allows 1.39 requests/s. Records/s with 1 and 3 requests in
 * flight, and how close that gets to the rate-limit bound; on a clock 20× faster than the wall clock.
 */
import { from, mergeMap } from 'rxjs';
import { AdaptiveThrottle, CircuitBreaker, HttpClient, adaptiveThrottle, circuitBreaker, retryBackoff, type AdaptiveThrottleOptions } from '@tributary/core';
import { startStubServer } from '@tributary/core/testing';
import { ScaledScheduler, fmt, fmtRatio, stats, type BenchContext, type Row, type Section } from './lib.js';
import { SEED, drain } from './scenarios.js';

const SCALE = 20;
const RATE = SEED.eia.perSecond;
const DAY_MS = 86_400_000;
const CHUNK_DAYS = 60;
/** Seed 002: 7,349 records from 8 requests (4 chunks × demand + generation). */
const ROWS_PER_REQUEST = Math.round(SEED.eia.records / SEED.eia.requests);
/** Seed 002: 1.36 s per chunk, whose two requests ran at the same time. */
const LATENCY_MS = 1360;
const BURST = 2;

interface Variant {
  concurrency: number;
  throttle: Omit<AdaptiveThrottleOptions, 'name' | 'scheduler' | 'maxConcurrent'>;
}

export async function run(ctx: BenchContext): Promise<Section> {
  const years = ctx.quick ? 2 : 24;
  const runs = ctx.quick ? 1 : 3;
  const start = Date.UTC(2001, 0, 1);
  const end = Date.UTC(2001 + years, 0, 1);
  const requests: { start: string; end: string; type: string }[] = [];
  for (let t = start; t < end; t += CHUNK_DAYS * DAY_MS) {
    const window = { start: new Date(t).toISOString().slice(0, 13), end: new Date(Math.min(end, t + CHUNK_DAYS * DAY_MS)).toISOString().slice(0, 13) };
    for (const type of ['D', 'NG']) requests.push({ ...window, type });
  }
  const rows = Array.from({ length: ROWS_PER_REQUEST }, (_, i) => ({ period: `2001-01-01T${String(i % 24).padStart(2, '0')}`, respondent: 'PACW', type: 'D', value: 2000 + (i % 700), 'value-units': 'megawatthours' }));
  const stub = await startStubServer({
    maxLoggedRequests: 0,
    routes: [{ path: '/v2/electricity/rto/region-data/data', latencyMs: LATENCY_MS / SCALE, json: { response: { total: ROWS_PER_REQUEST, data: rows } }, rateLimit: { perSecond: RATE * SCALE, burst: BURST } }],
  });
  const http = new HttpClient({ source: 'eia', maxSockets: 8 });
  const url = `${stub.url}/v2/electricity/rto/region-data/data`;

  const backfill = async (v: Variant): Promise<{ seconds: number; records: number; failed: number; limited: number }> => {
    stub.reset();
    const clock = new ScaledScheduler(SCALE);
    const throttle = new AdaptiveThrottle({ name: 'eia', scheduler: clock, maxConcurrent: v.concurrency, ...v.throttle });
    const breaker = new CircuitBreaker({ name: 'eia', scheduler: clock });
    let failed = 0;
    // DESIGN order, inside out: call → throttle → breaker → retry
    const call = async (r: (typeof requests)[number]): Promise<number> => {
      try {
        const [body] = await drain(
          http
            .getJson$<{ response: { data: unknown[] } }>(url, { query: { frequency: 'hourly', 'facets[respondent][]': 'PACW', 'facets[type][]': r.type, start: r.start, end: r.end } })
            .pipe(adaptiveThrottle(throttle), circuitBreaker(breaker), retryBackoff({ maxRetries: 8, scheduler: clock })),
        );
        return body!.response.data.length;
      } catch {
        failed++;
        return 0;
      }
    };
    const t0 = clock.now();
    const counts = await drain(from(requests).pipe(mergeMap((r) => call(r), v.concurrency)));
    const seconds = (clock.now() - t0) / 1000;
    throttle.dispose();
    breaker.dispose();
    return { seconds, records: counts.reduce((s, n) => s + n, 0), failed, limited: throttle.stats().rateLimited };
  };

  const variants: Record<string, Variant> = {
    'concurrency 1, adaptiveThrottle (seed factors, start 1 s)': { concurrency: 1, throttle: { initialDelay: 1000 } },
    'concurrency 3, adaptiveThrottle (seed factors, start 1 s)': { concurrency: 3, throttle: { initialDelay: 1000 } },
    'concurrency 3, adaptiveThrottle, finer steps (×0.95 per 10 ok, ×1.2 on 429)': { concurrency: 3, throttle: { initialDelay: 1000, speedUpFactor: 0.95, rateLimitFactor: 1.2 } },
    'concurrency 3, adaptiveThrottle, minDelay = documented limit (720 ms)': { concurrency: 3, throttle: { initialDelay: 1000, minDelay: 720 } },
  };
  const results: Record<string, { rps: number[]; failed: number; limited: number[]; seconds: number[] }> = {};
  try {
    for (let r = 0; r < runs; r++) {
      for (const [name, v] of Object.entries(variants)) {
        const o = await backfill(v);
        const res = (results[name] ??= { rps: [], failed: 0, limited: [], seconds: [] });
        res.rps.push(o.records / o.seconds);
        res.failed += o.failed;
        res.limited.push(o.limited);
        res.seconds.push(o.seconds);
      }
    }
  } finally {
    http.destroy();
    await stub.close();
  }

  const bound = RATE * ROWS_PER_REQUEST;
  const rows_: Row[] = [];
  for (const [name, res] of Object.entries(results)) {
    const s = stats(res.rps);
    const concurrency = variants[name]!.concurrency;
    const fraction = s.median / bound;
    rows_.push({
      scenario: name,
      ours: `${fmt(s.median, 'records/s')} (${fmt(s.min, '')}–${fmt(s.max, '')}) = ${fmt(fraction, '')} of the bound; ${fmt(stats(res.seconds).median, 's')} for ${years} years, ${Math.round(stats(res.limited).median)} 429s${res.failed ? `, **${res.failed} requests lost**` : ''}`,
      baseline: `seed: ${SEED.eia.recordsPerSecond} records/s (${fmt(SEED.eia.recordsPerSecond / bound, '')} of the bound)`,
      ratio: fmtRatio(s.median / SEED.eia.recordsPerSecond),
      target: concurrency > 1 ? '≥ 0.9 of the bound' : '',
      ...(concurrency > 1 ? { met: fraction >= 0.9 && res.failed === 0 } : {}),
    });
  }
  ctx.log(rows_.map((r) => `${r.scenario}: ${r.ours}`).join('\n  '));
  return {
    title: 'Seed scenario: backfill under a rate limit (EIA)',
    description: `
Seed 002 backfilled EIA data in 60-day chunks, two requests per chunk (demand and generation), 3
chunks at a time, under EIA's limit of 5000 requests an hour (${RATE}/s), and reported ${SEED.eia.recordsPerSecond} records/s.
Here ${years} years from 2001 make ${requests.length} requests; the stub answers each with ${ROWS_PER_REQUEST} rows (seed 002's
7,349 records from 8 requests) after ${LATENCY_MS / 1000} s (their 1.36 s per chunk), allows ${RATE} requests/s (token bucket,
burst ${BURST}) and answers 429 with \`Retry-After: 1\` beyond that. Every request goes through the real
\`HttpClient\` and the DESIGN stack: \`retryBackoff\` (up to 8 retries, Retry-After honoured) →
\`circuitBreaker\` → \`adaptiveThrottle\` (one per source, \`maxConcurrent\` = the concurrency) → call.
The clock runs ${SCALE}× faster than the wall clock (\`ScaledScheduler\`; the stub's rate and latency are
scaled to match), and records/s are scaled back to seed seconds. The bound is what the limit allows:
${RATE} requests/s × ${ROWS_PER_REQUEST} rows = ${fmt(bound, 'records/s')}. ${runs} runs, medians with the range.
`,
    notes: `
Comparability: the seed's ${SEED.eia.recordsPerSecond} records/s came from the real EIA API over 6 months (8 requests), so its time
includes EIA's real latency and no rate-limit pressure; our stub gives every request the latency
they reported per chunk and enforces the limit strictly. The fair comparison is the fraction of the
rate-limit bound each reaches (the seed ${fmt(SEED.eia.recordsPerSecond / bound, '')}). With one request in flight the backfill is
latency-bound (one request per ${LATENCY_MS / 1000} s + overhead, under the ${RATE}/s limit); with 3 in flight it is
limit-bound, and then how close it gets depends on the throttle: with the seed's factors it probes
past the limit, takes a 429, doubles its delay and slowly speeds up again (see the rate-limited
scenario); finer steps lose less after each 429; with the documented limit as \`minDelay\` it holds
just under the limit. Each run also includes the throttle learning down from its 1 s start. No request is lost
either way: a 429 is retried after its Retry-After.
`,
    rows: rows_,
  };
}
