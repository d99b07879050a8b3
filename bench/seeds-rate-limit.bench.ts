/**
 * Seed 002/004's rate-limited API: the stub serves R requests/s (token bucket) and answers 429 with
 * Retry-After beyond it. The rate `adaptiveThrottle` sustains and its 429 share, against the seed's
 * fixed delays (0.72 s before, 0.3 s after), on a clock 20× faster than the wall clock.
 */
import { lastValueFrom, type Observable } from 'rxjs';
import { AdaptiveThrottle, HttpClient, adaptiveThrottle, statusOf, type AdaptiveThrottleOptions } from '@tributary/core';
import { startStubServer } from '@tributary/core/testing';
import { ScaledScheduler, fmt, fmtPct, fmtRatio, stats, type BenchContext, type Row, type Section, type Stats } from './lib.js';
import { SEED } from './scenarios.js';

const SCALE = 20;
const RATE = SEED.eia.perSecond; // requests per (seed) second
const LATENCY_MS = 100; // seed-world latency of one request
const BURST = 2;

interface Outcome {
  ok: number;
  limited: number;
  other: number;
  seconds: number;
}

type Candidate = { kind: 'fixed'; delayMs: number } | { kind: 'adaptive'; options: Omit<AdaptiveThrottleOptions, 'name' | 'scheduler'> };

export async function run(ctx: BenchContext): Promise<Section> {
  const durationMs = (ctx.quick ? 30 : 150) * 1000; // seed-world
  const runs = ctx.quick ? 1 : 3;
  const stub = await startStubServer({
    maxLoggedRequests: 0,
    routes: [{ path: '/v2/electricity/rto/region-data/data', latencyMs: LATENCY_MS / SCALE, json: { response: { data: [{ value: 1 }] } }, rateLimit: { perSecond: RATE * SCALE, burst: BURST } }],
  });
  const http = new HttpClient({ source: 'eia' });
  const call: Observable<unknown> = http.getJson$(`${stub.url}/v2/electricity/rto/region-data/data`);

  // One sequential caller for `durationMs` (seed-world): count successes, 429s and other failures.
  const drive = async (c: Candidate): Promise<Outcome> => {
    stub.reset(); // a full bucket, as after a pause
    const clock = new ScaledScheduler(SCALE);
    const throttle = c.kind === 'adaptive' ? new AdaptiveThrottle({ name: 'eia', scheduler: clock, ...c.options }) : undefined;
    const attempt = throttle ? call.pipe(adaptiveThrottle(throttle)) : call;
    const out: Outcome = { ok: 0, limited: 0, other: 0, seconds: durationMs / 1000 };
    const end = clock.now() + durationMs;
    while (clock.now() < end) {
      try {
        await lastValueFrom(attempt);
        if (clock.now() <= end) out.ok++;
      } catch (err) {
        if (statusOf(err) === 429) out.limited++;
        else out.other++;
      }
      if (c.kind === 'fixed') await clock.sleep(c.delayMs);
    }
    throttle?.dispose();
    return out;
  };

  const candidates: Record<string, Candidate> = {
    [`fixed delay ${SEED.eia.delayBeforeS} s (seed, before)`]: { kind: 'fixed', delayMs: SEED.eia.delayBeforeS * 1000 },
    [`fixed delay ${SEED.eia.delayAfterS} s (seed, after)`]: { kind: 'fixed', delayMs: SEED.eia.delayAfterS * 1000 },
    'adaptiveThrottle, seed factors (start 1 s, ×0.9 per 10 ok, ×2 on 429)': { kind: 'adaptive', options: { initialDelay: 1000 } },
    'adaptiveThrottle, finer steps (×0.95 per 10 ok, ×1.2 on 429)': { kind: 'adaptive', options: { initialDelay: 1000, speedUpFactor: 0.95, rateLimitFactor: 1.2 } },
    'adaptiveThrottle, minDelay = documented limit (720 ms)': { kind: 'adaptive', options: { initialDelay: 1000, minDelay: 720 } },
  };
  const results: Record<string, { rate: number[]; share: number[]; other: number }> = {};
  try {
    for (let r = 0; r < runs; r++) {
      for (const [name, c] of Object.entries(candidates)) {
        const o = await drive(c);
        const res = (results[name] ??= { rate: [], share: [], other: 0 });
        res.rate.push(o.ok / o.seconds);
        res.share.push(o.limited / Math.max(1, o.ok + o.limited + o.other));
        res.other += o.other;
      }
    }
  } finally {
    http.destroy();
    await stub.close();
  }

  const fixedBefore = stats(results[Object.keys(candidates)[0]!]!.rate);
  const rows: Row[] = [];
  const rateStats = (s: Stats): string => `${fmt(s.median, '/s')} = ${fmt(s.median / RATE, '')} R (${fmt(s.min / RATE, '')}–${fmt(s.max / RATE, '')})`;
  for (const [name, res] of Object.entries(results)) {
    const rate = stats(res.rate);
    const share = stats(res.share);
    const adaptive = candidates[name]!.kind === 'adaptive';
    const ok = rate.median >= 0.9 * RATE && share.median <= 0.02;
    rows.push({
      scenario: name,
      ours: `${rateStats(rate)}, 429s ${fmtPct(share.median)} (${fmtPct(share.min)}–${fmtPct(share.max)})${res.other ? `, ${res.other} other errors` : ''}`,
      baseline: adaptive ? `${fmt(fixedBefore.median / RATE, '')} R (fixed 0.72 s)` : '',
      ratio: adaptive ? fmtRatio(rate.median / fixedBefore.median) : '',
      target: adaptive ? '≥ 0.9 R, ≤ 2 % 429s' : '',
      ...(adaptive ? { met: ok } : {}),
    });
  }
  ctx.log(rows.map((r) => `${r.scenario}: ${r.ours}`).join('\n  '));
  return {
    title: 'Seed scenario: rate-limited API',
    description: `
Seed 002 paced EIA calls (limit 5000 an hour, R = ${RATE}/s) with fixed delays: 0.72 s before their
optimization, 0.3 s after (which, being faster than R, can only be sustained with 429s); seed 004's
adaptive limiter (×0.9 after 10 successes, ×2 on a 429 or Retry-After, ×1.5 on other errors) is what
\`adaptiveThrottle\` reproduces. The stub serves R requests per second (a token bucket with a burst of
${BURST}) and answers 429 with \`Retry-After: 1\` beyond it; each request takes ${LATENCY_MS} ms. One caller sends
requests one after the other for ${durationMs / 1000} s; a 429 is counted and the caller goes on (the throttle
holds the next start until Retry-After has passed). To keep it short, everything runs on a clock
${SCALE}× faster than the wall clock (\`ScaledScheduler\`): the stub's bucket refills at ${fmt(RATE * SCALE, '')}/s of real time,
a request takes ${LATENCY_MS / SCALE} ms, Retry-After 1 s lasts 50 ms and the fixed delays are ${(SEED.eia.delayBeforeS * 1000) / SCALE}
and ${(SEED.eia.delayAfterS * 1000) / SCALE} ms; figures are scaled back to seed seconds. Rates count successful requests per
second over the whole run (learning included), as a fraction of R; ${runs} runs, medians with the range.
`,
    notes: `
The fixed 0.72 s delay is the limit itself plus the request's own time, so it stays under R without
429s; the 0.3 s one tries 2.5 R and gets 429s for a large share of its requests. With the seed's
factors (the defaults, DESIGN's floor) the throttle never settles at R: every 10 successes it speeds
up by 10 %, and the first 429 halves its rate and holds it for the Retry-After, so it saw-tooths
between about 0.5 R and R and averages under 0.8 R; the 429 share is small because each 429 is followed
by ~60 slow requests. That is the target miss: the seed's factors are coarse steps, not a defect
of the mechanism. Finer steps (\`speedUpFactor: 0.95\`, \`rateLimitFactor: 1.2\`) probe the limit as
often but lose less after each 429, and reach the target without knowing the limit (tried while
writing this benchmark: ×0.97/×1.25, ×0.9/×1.5 every 20 and ×0.9/×1.25 every 30 each stayed at
0.85–0.86 R with 0.6 % 429s, because they also learn slowly from the 1 s start). When the API
documents its limit, \`minDelay\` set to it (720 ms for 5000/h) stops the probing altogether. What
would close it by default: finer default steps, or a throttle that remembers the delay at which the
last 429 came and slows its speed-ups near it.
`,
    rows,
  };
}
