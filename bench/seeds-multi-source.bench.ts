/**
 * Seed 004's graceful degradation: three crypto sources, one dead and one slow. Time to a complete
 * merged result with `mergeSources` (all at once, failures reported) against the seed's sequential
 * fallbacks (one source after the other, a failure logged and skipped), on a clock 100× faster.
 */
import { catchError, concat, EMPTY, map, type Observable } from 'rxjs';
import { CircuitBreaker, HttpClient, attemptTimeout, circuitBreaker, mergeSources, retryBackoff } from '@tributary/core';
import { startStubServer } from '@tributary/core/testing';
import { ScaledScheduler, fmtMs, fmtMsStats, fmtRatio, stats, type BenchContext, type Row, type Section } from './lib.js';
import { drain } from './scenarios.js';

const SCALE = 100;
const SOURCES = {
  coincap: { latencyMs: 1500, dead: true }, // 503 after 1.5 s, every time
  coingecko: { latencyMs: 8000, dead: false }, // slow
  binance: { latencyMs: 400, dead: false },
} as const;
type Name = keyof typeof SOURCES;

export async function run(ctx: BenchContext): Promise<Section> {
  const runs = ctx.quick ? 2 : 7;
  const stub = await startStubServer({
    maxLoggedRequests: 0,
    routes: Object.entries(SOURCES).map(([name, s]) => ({
      path: `/${name}/assets`,
      latencyMs: s.latencyMs / SCALE,
      json: { data: Array.from({ length: 100 }, (_, i) => ({ symbol: `C${i}`, priceUsd: 1 + i })) },
      ...(s.dead ? { faults: { kind: 'status' as const, status: 503 } } : {}),
    })),
  });
  const http = new HttpClient({ source: 'crypto' });

  // The same per-source stack for both approaches: timeout per attempt, 3 retries (2/4/8 s), a breaker.
  const sourceCall = (name: Name, clock: ScaledScheduler, breaker?: CircuitBreaker): Observable<{ source: Name; count: number }> => {
    const inner = http.getJson$<{ data: unknown[] }>(`${stub.url}/${name}/assets`).pipe(attemptTimeout(30_000, { scheduler: clock }));
    return (breaker ? inner.pipe(circuitBreaker(breaker)) : inner).pipe(
      retryBackoff({ maxRetries: 3, jitter: 'none', scheduler: clock }),
      map((body) => ({ source: name, count: body.data.length })),
    );
  };
  const names = Object.keys(SOURCES) as Name[];

  interface Timing {
    settled: number;
    liveComplete: number;
    records: number;
  }
  const merged = async (openBreaker: boolean): Promise<Timing> => {
    const clock = new ScaledScheduler(SCALE);
    const breakers = openBreaker ? openBreakers(clock) : undefined;
    const t0 = clock.now();
    let last = t0;
    const values = await drain(
      mergeSources(Object.fromEntries(names.map((n) => [n, sourceCall(n, clock, breakers?.[n])])) as Record<Name, Observable<{ source: Name; count: number }>>).pipe(
        map((v) => {
          last = clock.now();
          return v.value;
        }),
      ),
    );
    return { settled: clock.now() - t0, liveComplete: last - t0, records: values.reduce((s, v) => s + v.count, 0) };
  };
  const sequential = async (openBreaker: boolean): Promise<Timing> => {
    const clock = new ScaledScheduler(SCALE);
    const breakers = openBreaker ? openBreakers(clock) : undefined;
    const t0 = clock.now();
    let last = t0;
    const values = await drain(
      concat(...names.map((n) => sourceCall(n, clock, breakers?.[n]).pipe(catchError(() => EMPTY)))).pipe(
        map((v) => {
          last = clock.now();
          return v;
        }),
      ),
    );
    return { settled: clock.now() - t0, liveComplete: last - t0, records: values.reduce((s, v) => s + v.count, 0) };
  };
  // Steady state after earlier cycles: the dead source's breaker is open.
  const openBreakers = (clock: ScaledScheduler): Record<Name, CircuitBreaker> => {
    const out = {} as Record<Name, CircuitBreaker>;
    for (const n of names) {
      out[n] = new CircuitBreaker({ name: n, scheduler: clock });
      if (SOURCES[n].dead) out[n] = CircuitBreaker.fromJSON({ version: 1, name: n, state: 'open', openedAt: clock.now(), consecutiveFailures: 0, halfOpenSuccesses: 0, window: [] }, { name: n, scheduler: clock });
    }
    return out;
  };

  const res: Record<string, Timing[]> = { merged: [], sequential: [], mergedOpen: [], sequentialOpen: [] };
  try {
    await merged(false); // warm up
    for (let r = 0; r < runs; r++) {
      res.merged!.push(await merged(false));
      res.sequential!.push(await sequential(false));
      res.mergedOpen!.push(await merged(true));
      res.sequentialOpen!.push(await sequential(true));
    }
  } finally {
    http.destroy();
    await stub.close();
  }
  for (const [k, ts] of Object.entries(res)) if (ts.some((t) => t.records !== 200)) throw new Error(`multi-source bench: ${k} delivered ${ts.map((t) => t.records).join(',')} records, expected 200`);
  const st = (k: string, f: 'settled' | 'liveComplete') => stats(res[k]!.map((t) => t[f]));
  const row = (scenario: string, ours: string, base: string, f: 'settled' | 'liveComplete'): Row => {
    const o = st(ours, f);
    const b = st(base, f);
    return { scenario, ours: fmtMsStats(o), baseline: `${fmtMsStats(b)} sequential`, ratio: fmtRatio(b.median / o.median), target: 'faster than sequential', met: o.median < b.median };
  };
  const rows: Row[] = [
    row('merged result complete (every source settled, the dead one reported)', 'merged', 'sequential', 'settled'),
    row("live sources' data all delivered", 'merged', 'sequential', 'liveComplete'),
    row("steady state, dead source's breaker open: merged result complete", 'mergedOpen', 'sequentialOpen', 'settled'),
  ];
  ctx.log(rows.map((r) => `${r.scenario}: ${r.ours} vs ${r.baseline}`).join('\n  '));
  return {
    title: 'Seed scenario: multi-source degradation',
    description: `
Seed 004 fetched crypto data from several free APIs one after the other, logging a failed source and
going on with the next (partial success beats total failure). Here three stub sources serve 100
assets each: "coincap" is dead (503 after 1.5 s, every time), "coingecko" is slow (8 s), "binance"
answers in 0.4 s. Every source call has the same stack in both approaches: \`attemptTimeout\` 30 s,
\`retryBackoff\` (3 retries after 2, 4 and 8 s) and, in the steady-state row, a \`circuitBreaker\` that
earlier cycles have opened for the dead source. Tributary's \`mergeSources\` subscribes to all three at
once and completes when each has completed or failed (the failure is reported, the others' records go
on); the baseline runs them in sequence (\`concat\`, a failure skipped). The clock runs ${SCALE}× faster than
the wall clock (\`ScaledScheduler\`); ${runs} runs, medians with the range, in seed seconds.
`,
    notes: `
In sequence the times add up: the dead source's ${fmtMs(4 * 1500 + 14_000)} of failing attempts and backoff, then the slow
one, then the fast one. Merged, they overlap: the live sources' data is all there after the slow one's
8 s, and the result is complete once the dead source has given up. Once its breaker is open, the dead
source fails in microseconds and the merged result is complete as soon as the slowest live source is.
`,
    rows,
  };
}
