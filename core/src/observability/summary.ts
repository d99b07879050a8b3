import type { InstrumentationEvents } from './events.js';

/** Percentiles of a set of durations, in milliseconds (0 when there are none). */
export interface DurationStats {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** What one source did during a run. */
export interface SourceSummary {
  cycles: { success: number; error: number; cancelled: number };
  /** Records delivered (acknowledged by the sink), per topic. */
  records: Record<string, number>;
  /** Records dead-lettered, per topic. */
  deadLetters: Record<string, number>;
  /** Errors by code (`ERR_HTTP`, `ERR_TIMEOUT`, …). */
  errors: Record<string, number>;
  cacheHits: number;
  cacheMisses: number;
  retries: number;
  staleValues: number;
  /** Last known circuit breaker state, when the source has a breaker. */
  breaker?: string;
  /** Cycle durations. */
  durations: DurationStats;
  /** Backfill progress, for backfill sources. */
  backfill?: { done: number; total: number };
}

/** The summary of a pipeline run, printed at the end of `tributary run` and returned by the runner. */
export interface RunSummary {
  pipeline: string;
  /** Epoch ms. */
  startedAt: number;
  endedAt: number;
  durationMs: number;
  /** `completed`: every schedule ended; `interrupted`: stopped by a signal; `failed`: a fatal error. */
  outcome: 'completed' | 'interrupted' | 'failed';
  sources: Record<string, SourceSummary>;
  topics: Record<string, { records: number; deadLetters: number }>;
  totals: { records: number; deadLetters: number; errors: number; cycles: number };
}

/** Keeps at most this many cycle durations per source (a uniform sample beyond that). */
const MAX_SAMPLES = 10_000;

/**
 * Builds a {@link RunSummary} from the instrumentation events of a run.
 *
 * Listens to `collector.cycle`, `collector.error`, `records.delivered`, `sink.dead-letters`,
 * `cache.hit`, `cache.miss`, `http.retry`, `stale.value`, `breaker.state` and `backfill.progress`.
 * Call `snapshot()` at any time; `dispose()` stops listening.
 *
 * @example
 * ```ts
 * import { InstrumentationEvents, RunSummaryCollector, formatSummary } from '@tributary/core';
 * const events = new InstrumentationEvents();
 * const summary = new RunSummaryCollector(events, { pipeline: 'energy', sources: ['eia'] });
 * // … run …
 * process.stderr.write(formatSummary(summary.snapshot('completed')));
 * ```
 */
export class RunSummaryCollector {
  private readonly sources = new Map<string, SourceSummary & { samples: number[]; seen: number }>();
  private readonly offs: (() => void)[] = [];
  private readonly now: () => number;
  private readonly startedAt: number;
  private readonly pipeline: string;

  /**
   * @param events The run's event bus.
   * @param options.pipeline Pipeline name. @param options.sources Source ids listed even when idle.
   * @param options.now Clock. Default `Date.now`.
   */
  constructor(events: InstrumentationEvents, options: { pipeline: string; sources?: readonly string[]; now?: () => number }) {
    this.now = options.now ?? Date.now;
    this.startedAt = this.now();
    this.pipeline = options.pipeline;
    for (const id of options.sources ?? []) this.source(id);
    this.offs.push(
      events.on('collector.cycle', ({ payload }) => {
        const s = this.source(payload.source);
        s.cycles[payload.outcome]++;
        s.seen++;
        if (s.samples.length < MAX_SAMPLES) s.samples.push(payload.durationMs);
        else {
          const i = Math.floor(Math.random() * s.seen);
          if (i < MAX_SAMPLES) s.samples[i] = payload.durationMs;
        }
      }),
      events.on('collector.error', ({ payload }) => {
        const s = this.source(payload.source);
        s.errors[payload.code] = (s.errors[payload.code] ?? 0) + 1;
      }),
      events.on('records.delivered', ({ payload }) => {
        const s = this.source(payload.source);
        s.records[payload.topic] = (s.records[payload.topic] ?? 0) + payload.count;
      }),
      events.on('sink.dead-letters', ({ payload }) => {
        const s = this.source(payload.source);
        s.deadLetters[payload.topic] = (s.deadLetters[payload.topic] ?? 0) + payload.count;
      }),
      events.on('cache.hit', ({ payload }) => void this.source(payload.source).cacheHits++),
      events.on('cache.miss', ({ payload }) => void this.source(payload.source).cacheMisses++),
      events.on('http.retry', ({ payload }) => void this.source(payload.source).retries++),
      events.on('stale.value', ({ payload }) => void this.source(payload.source).staleValues++),
      events.on('breaker.state', ({ payload }) => {
        this.source(payload.source).breaker = payload.to;
      }),
      events.on('backfill.progress', ({ payload }) => {
        this.source(payload.source).backfill = { done: payload.done, total: payload.total };
      }),
    );
  }

  private source(id: string): SourceSummary & { samples: number[]; seen: number } {
    let s = this.sources.get(id);
    if (!s) {
      s = {
        cycles: { success: 0, error: 0, cancelled: 0 },
        records: {},
        deadLetters: {},
        errors: {},
        cacheHits: 0,
        cacheMisses: 0,
        retries: 0,
        staleValues: 0,
        durations: emptyStats(),
        samples: [],
        seen: 0,
      };
      this.sources.set(id, s);
    }
    return s;
  }

  /** Marks a source's breaker state (used for the initial `closed`). */
  setBreakerState(source: string, state: string): void {
    this.source(source).breaker = state;
  }

  /** The summary so far. `outcome` defaults to `'completed'`. */
  snapshot(outcome: RunSummary['outcome'] = 'completed'): RunSummary {
    const endedAt = this.now();
    const sources: Record<string, SourceSummary> = {};
    const topics: Record<string, { records: number; deadLetters: number }> = {};
    const totals = { records: 0, deadLetters: 0, errors: 0, cycles: 0 };
    for (const [id, s] of [...this.sources].sort(([a], [b]) => a.localeCompare(b))) {
      const { samples, seen: _seen, ...rest } = s;
      const out: SourceSummary = {
        ...rest,
        cycles: { ...s.cycles },
        records: { ...s.records },
        deadLetters: { ...s.deadLetters },
        errors: { ...s.errors },
        durations: durationStats(samples),
      };
      if (s.backfill) out.backfill = { ...s.backfill };
      sources[id] = out;
      for (const [topic, n] of Object.entries(s.records)) {
        (topics[topic] ??= { records: 0, deadLetters: 0 }).records += n;
        totals.records += n;
      }
      for (const [topic, n] of Object.entries(s.deadLetters)) {
        (topics[topic] ??= { records: 0, deadLetters: 0 }).deadLetters += n;
        totals.deadLetters += n;
      }
      for (const n of Object.values(s.errors)) totals.errors += n;
      totals.cycles += s.cycles.success + s.cycles.error + s.cycles.cancelled;
    }
    return { pipeline: this.pipeline, startedAt: this.startedAt, endedAt, durationMs: endedAt - this.startedAt, outcome, sources, topics, totals };
  }

  /** Stops listening to the events. */
  dispose(): void {
    for (const off of this.offs.splice(0)) off();
  }
}

function emptyStats(): DurationStats {
  return { count: 0, p50: 0, p95: 0, p99: 0, max: 0 };
}

/**
 * Count, p50, p95, p99 (nearest rank) and max of a list of durations in ms (all 0 when empty).
 *
 * @example
 * ```ts
 * import { durationStats } from '@tributary/core';
 * durationStats([120, 80, 3000]); // { count: 3, p50: 120, p95: 3000, p99: 3000, max: 3000 }
 * ```
 */
export function durationStats(samples: readonly number[]): DurationStats {
  if (samples.length === 0) return emptyStats();
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = (p: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
  return { count: sorted.length, p50: rank(50), p95: rank(95), p99: rank(99), max: sorted[sorted.length - 1]! };
}

/**
 * Formats a run summary as plain text for a terminal or a log file (no colours).
 *
 * @example
 * ```ts
 * import { formatSummary } from '@tributary/core';
 * process.stderr.write(formatSummary(runner.summary()));
 * ```
 */
export function formatSummary(summary: RunSummary): string {
  const lines: string[] = [];
  const secs = (ms: number): string => (ms >= 10_000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.round(ms)}ms`);
  lines.push(
    `Run summary: pipeline "${summary.pipeline}" ${summary.outcome} in ${secs(summary.durationMs)}: ` +
      `${plural(summary.totals.records, 'record')}, ${plural(summary.totals.deadLetters, 'dead letter')}, ${plural(summary.totals.errors, 'error')}, ${plural(summary.totals.cycles, 'cycle')}`,
  );
  for (const [id, s] of Object.entries(summary.sources)) {
    const records = Object.entries(s.records)
      .map(([t, n]) => `${t}=${n}`)
      .join(', ');
    const dead = Object.entries(s.deadLetters)
      .map(([t, n]) => `${t}=${n}`)
      .join(', ');
    const errors = Object.entries(s.errors)
      .map(([c, n]) => `${c}=${n}`)
      .join(', ');
    lines.push(`  source ${id}`);
    lines.push(`    cycles      ${s.cycles.success} ok, ${s.cycles.error} failed, ${s.cycles.cancelled} cancelled`);
    lines.push(`    records     ${records || '0'}`);
    if (dead) lines.push(`    dead letters ${dead}`);
    if (errors) lines.push(`    errors      ${errors}`);
    lines.push(`    cache       ${s.cacheHits} hits, ${s.cacheMisses} misses; retries ${s.retries}; stale values ${s.staleValues}`);
    if (s.breaker) lines.push(`    breaker     ${s.breaker}`);
    if (s.backfill) lines.push(`    backfill    ${s.backfill.done}/${s.backfill.total} chunks`);
    if (s.durations.count > 0) {
      const d = s.durations;
      lines.push(`    durations   p50 ${secs(d.p50)}, p95 ${secs(d.p95)}, p99 ${secs(d.p99)}, max ${secs(d.max)} (${plural(d.count, 'cycle')})`);
    }
  }
  const topics = Object.entries(summary.topics);
  if (topics.length > 0) {
    lines.push('  topics');
    for (const [t, n] of topics) lines.push(`    ${t}: ${plural(n.records, 'record')}${n.deadLetters ? `, ${plural(n.deadLetters, 'dead letter')}` : ''}`);
  }
  return lines.join('\n') + '\n';
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
