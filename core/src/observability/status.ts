import type { InstrumentationEvent, InstrumentationEvents, InstrumentationEventType } from './events.js';

/** Prefix of the checkpoint keys the runtime keeps for itself (`@tributary/backfill`, …). */
const RUNTIME_PREFIX = '@tributary/';
/** The checkpoint key of a unit's backfill progress. */
const BACKFILL_KEY = `${RUNTIME_PREFIX}backfill`;
/** The checkpoint id under which a group keeps its runtime keys. */
const GROUP_PREFIX = `${RUNTIME_PREFIX}group:`;

/** One unit of work of a pipeline as the status board shows it. */
export interface StatusUnitInfo {
  /** Source or group id. */
  id: string;
  /** A single source, or a multi-source group. */
  kind: 'source' | 'group';
  /** Human description of the schedule, e.g. `"every 5m"`, `"cron 0 * * * *"`, `"backfill 2024-01-01 → now, 1d chunks"`. */
  schedule: string;
  /** Member source ids of a group; each gets a row of its own. */
  members?: string[];
  /** Plugin that collects the source. */
  plugin?: string;
}

/** Options of {@link StatusBoard}. */
export interface StatusBoardOptions {
  /** The instrumentation events of the run; the board listens to them. */
  events: InstrumentationEvents;
  /** Pipeline name. */
  pipeline: string;
  /** The pipeline's units of work (sources and groups). */
  units: StatusUnitInfo[];
  /** This process's worker id in worker mode. Default: none (taken from `worker.assignment` when it comes). */
  worker?: string;
  /** Breaker transitions kept per row. Default `20`. */
  historySize?: number;
  /** Clock (epoch ms) for `now` and `updatedAt`. Default `Date.now`. */
  now?: () => number;
}

/** State of the pipeline as a whole. */
export type StatusPipelineState = 'starting' | 'running' | 'stopping' | 'stopped' | 'failed';

/** One breaker transition. */
export interface StatusBreakerTransition {
  /** Epoch ms. */
  at: number;
  breaker: string;
  from: string;
  to: string;
  reason?: string;
}

/** The last cycle of a unit. */
export interface StatusCycle {
  /** When it ended (epoch ms). */
  at: number;
  cycle: number;
  durationMs: number;
  records: number;
  outcome: 'success' | 'error' | 'cancelled';
  window?: { start: number; end: number };
  error?: { code: string; message: string };
}

/** One row of the status board: a unit (source or group) or a member source of a group. */
export interface StatusRow {
  id: string;
  /** `member` is a source that runs inside the group named by `group`. */
  kind: 'source' | 'group' | 'member';
  /** The group of a member. */
  group?: string;
  /** The members of a group. */
  members?: string[];
  plugin?: string;
  schedule: string;
  /** Worker that runs the unit: `"this runner"` outside worker mode, `null` when no worker owns it. */
  owner: string | null;
  /** Whether this process runs the unit. */
  runsHere: boolean;
  lastCycle: StatusCycle | null;
  cycles: number;
  /** Records of all cycles. */
  records: number;
  errors: number;
  lastError: { at: number; code: string; message: string } | null;
  /** Latest breaker state, `null` before any transition. */
  breaker: { name: string; state: string; since: number } | null;
  /** The last `historySize` transitions, oldest first. */
  breakerHistory: StatusBreakerTransition[];
  /** Latest delay of the adaptive throttle, `null` before any. */
  throttle: { delayMs: number; at: number } | null;
  cache: { hits: number; misses: number; hitRate: number | null };
  retries: number;
  /** Calls answered with a stale value. */
  stale: number;
  /** The committed checkpoint without the runtime's keys; `null` before any commit. */
  cursor: { values: Record<string, unknown>; at: number } | null;
  /** Backfill progress (from `backfill.progress` and the committed `@tributary/backfill`). */
  backfill: { done: number; failed: number; total: number; from?: number; to?: number; chunkMs?: number; window?: { start: number; end: number }; at: number } | null;
  deadLetters: { count: number; last: { at: number; code: string; topic: string } | null };
  /** Records accepted by the sink. */
  delivered: number;
}

/** What {@link StatusBoard.snapshot} returns: plain JSON-able data. */
export interface StatusSnapshot {
  pipeline: string;
  /** This process's worker id, `null` outside worker mode. */
  worker: string | null;
  /** `worker` once a `worker.assignment` came, else `local`. */
  mode: 'local' | 'worker';
  /** Workers in the group (`1` outside worker mode). */
  members: number;
  status: StatusPipelineState;
  /** Why the pipeline stopped, once it did. */
  stopReason: string | null;
  /** When the pipeline started (epoch ms), `null` before `pipeline.start`. */
  startedAt: number | null;
  /** When the board last changed (epoch ms). */
  updatedAt: number;
  /** The board's clock when the snapshot was taken (epoch ms); pages use it to correct clock skew. */
  now: number;
  rows: StatusRow[];
}

/** The board's internal row; `snapshot()` copies it. */
type Row = StatusRow;

/**
 * Live per-source state of a run, built from its instrumentation events, for the status page.
 *
 * Listens to the run's events and keeps, per unit and per member source of a group: its owner
 * worker, schedule, last cycle, counters, breaker state with a bounded history, throttle delay,
 * cache hit rate, committed cursor, backfill progress, dead letters and delivered records; plus
 * the pipeline's name, worker, group size and state. A group's cycles land on the group's row,
 * the breaker/cache/throttle/checkpoint events of a member on the member's row. Events of ids the
 * board was not told about get a row of their own.
 *
 * `snapshot()` returns plain JSON-able data; `subscribe()` is told after every change;
 * `dispose()` stops listening.
 *
 * @example
 * ```ts
 * import { InstrumentationEvents, StatusBoard, startMetricsServer } from '@tributary/core';
 * import { register } from 'prom-client';
 * const events = new InstrumentationEvents();
 * const board = new StatusBoard({ events, pipeline: 'air', units: [{ id: 'air', kind: 'source', schedule: 'every 5m' }] });
 * const server = await startMetricsServer({ registry: register, port: 0, status: board });
 * console.log(`status page at ${server.url}/`);
 * ```
 */
export class StatusBoard {
  private readonly rows = new Map<string, Row>();
  private readonly groupOf = new Map<string, string>();
  private readonly listeners = new Set<() => void>();
  private readonly offs: (() => void)[] = [];
  private readonly historySize: number;
  private readonly now: () => number;
  private readonly pipeline: string;
  private worker: string | null;
  private mode: 'local' | 'worker' = 'local';
  private members = 1;
  private status: StatusPipelineState = 'starting';
  private stopReason: string | null = null;
  private startedAt: number | null = null;
  private updatedAt: number;

  /**
   * @param options.events The run's instrumentation events.
   * @param options.pipeline Pipeline name.
   * @param options.units Units of work: `{ id, kind, schedule, members?, plugin? }`.
   * @param options.worker This process's worker id. Default: none until a `worker.assignment`.
   * @param options.historySize Breaker transitions kept per row. Default `20`.
   * @param options.now Clock (epoch ms). Default `Date.now`.
   */
  constructor(options: StatusBoardOptions) {
    if (!options || typeof options !== 'object') throw new TypeError('StatusBoard: options must be an object');
    const { events, pipeline, units } = options;
    if (!events || typeof events.on !== 'function') throw new TypeError('StatusBoard: options.events must be an InstrumentationEvents');
    if (typeof pipeline !== 'string' || pipeline === '') throw new TypeError('StatusBoard: options.pipeline must be a non-empty string');
    if (!Array.isArray(units)) throw new TypeError('StatusBoard: options.units must be an array');
    const historySize = options.historySize ?? 20;
    if (!Number.isInteger(historySize) || historySize < 0) throw new TypeError(`StatusBoard: options.historySize must be a non-negative integer, got ${String(historySize)}`);
    if (options.worker !== undefined && (typeof options.worker !== 'string' || options.worker === '')) throw new TypeError('StatusBoard: options.worker must be a non-empty string');
    this.pipeline = pipeline;
    this.historySize = historySize;
    this.now = options.now ?? Date.now;
    this.worker = options.worker ?? null;
    this.updatedAt = this.now();
    units.forEach((unit, i) => {
      const where = `StatusBoard: options.units[${i}]`;
      if (!unit || typeof unit.id !== 'string' || unit.id === '') throw new TypeError(`${where}.id must be a non-empty string`);
      if (unit.kind !== 'source' && unit.kind !== 'group') throw new TypeError(`${where}.kind must be "source" or "group", got ${JSON.stringify(unit.kind)}`);
      if (typeof unit.schedule !== 'string') throw new TypeError(`${where}.schedule must be a string`);
      if (unit.members !== undefined && (!Array.isArray(unit.members) || unit.members.some((m) => typeof m !== 'string' || m === ''))) {
        throw new TypeError(`${where}.members must be an array of source ids`);
      }
      if (this.rows.has(unit.id)) throw new TypeError(`${where}.id "${unit.id}" appears twice`);
      this.rows.set(unit.id, newRow(unit.id, unit.kind, unit.schedule, {
        ...(unit.members ? { members: [...unit.members] } : {}),
        ...(unit.plugin !== undefined ? { plugin: unit.plugin } : {}),
      }));
      for (const member of unit.members ?? []) {
        if (this.rows.has(member)) throw new TypeError(`${where}.members: source "${member}" appears twice`);
        this.groupOf.set(member, unit.id);
        this.rows.set(member, newRow(member, 'member', unit.schedule, { group: unit.id }));
      }
    });
    const on = <T extends InstrumentationEventType>(type: T, handle: (event: InstrumentationEvent<T>) => void): void => {
      this.offs.push(
        events.on(type, (event) => {
          handle(event);
          this.changed();
        }),
      );
    };
    on('pipeline.start', (e) => {
      this.status = 'running';
      this.startedAt = e.timestamp;
      this.stopReason = null;
    });
    on('pipeline.shutdown', () => {
      if (this.status !== 'stopped' && this.status !== 'failed') this.status = 'stopping';
    });
    on('pipeline.stop', (e) => {
      this.status = e.payload.reason === 'error' ? 'failed' : 'stopped';
      this.stopReason = e.payload.reason;
    });
    on('worker.assignment', (e) => this.assign(e.payload));
    on('collector.cycle', (e) => {
      const p = e.payload;
      const row = this.row(p.group ?? p.source);
      row.cycles++;
      row.records += p.records;
      row.lastCycle = {
        at: e.timestamp,
        cycle: p.cycle,
        durationMs: p.durationMs,
        records: p.records,
        outcome: p.outcome,
        ...(p.window ? { window: { start: p.window.start, end: p.window.end } } : {}),
        ...(p.error ? { error: { code: p.error.code, message: p.error.message } } : {}),
      };
    });
    on('collector.error', (e) => {
      const row = this.row(e.payload.source);
      row.errors++;
      row.lastError = { at: e.timestamp, code: e.payload.code, message: e.payload.message };
    });
    on('backfill.progress', (e) => {
      const p = e.payload;
      const row = this.row(p.source);
      row.backfill = {
        ...(row.backfill ?? {}),
        done: p.done,
        failed: p.failed,
        total: p.total,
        at: e.timestamp,
        ...(p.window ? { window: { start: p.window.start, end: p.window.end } } : {}),
      };
    });
    on('breaker.state', (e) => {
      const p = e.payload;
      const row = this.row(p.source);
      row.breaker = { name: p.breaker, state: p.to, since: e.timestamp };
      if (this.historySize > 0) {
        row.breakerHistory.push({ at: e.timestamp, breaker: p.breaker, from: p.from, to: p.to, ...(p.reason !== undefined ? { reason: p.reason } : {}) });
        if (row.breakerHistory.length > this.historySize) row.breakerHistory.splice(0, row.breakerHistory.length - this.historySize);
      }
    });
    on('throttle.delay', (e) => {
      this.row(e.payload.source).throttle = { delayMs: e.payload.delayMs, at: e.timestamp };
    });
    on('cache.hit', (e) => {
      const cache = this.row(e.payload.source).cache;
      cache.hits++;
      cache.hitRate = cache.hits / (cache.hits + cache.misses);
    });
    on('cache.miss', (e) => {
      const cache = this.row(e.payload.source).cache;
      cache.misses++;
      cache.hitRate = cache.hits / (cache.hits + cache.misses);
    });
    on('stale.value', (e) => void this.row(e.payload.source).stale++);
    on('http.retry', (e) => void this.row(e.payload.source).retries++);
    on('sink.dead-letters', (e) => {
      const dl = this.row(e.payload.source).deadLetters;
      dl.count += e.payload.count;
      dl.last = { at: e.timestamp, code: e.payload.code, topic: e.payload.topic };
    });
    on('records.delivered', (e) => void (this.row(e.payload.source).delivered += e.payload.count));
    on('checkpoint.committed', (e) => {
      const id = e.payload.source.startsWith(GROUP_PREFIX) ? e.payload.source.slice(GROUP_PREFIX.length) : e.payload.source;
      const row = this.row(id);
      const values: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(e.payload.values ?? {})) {
        if (!key.startsWith(RUNTIME_PREFIX)) values[key] = jsonCopy(value);
      }
      if (Object.keys(values).length > 0 || row.cursor) row.cursor = { values, at: e.timestamp };
      const progress = backfillOf(e.payload.values?.[BACKFILL_KEY]);
      if (progress) {
        row.backfill = {
          failed: 0,
          ...(row.backfill ?? {}),
          ...progress,
          at: row.backfill?.at ?? e.timestamp,
        };
        // The event count is the live one; the checkpoint's is at least as far as the last commit.
        row.backfill.done = Math.max(row.backfill.done, progress.done);
      }
    });
  }

  /** A plain JSON-able copy of the board. */
  snapshot(): StatusSnapshot {
    return {
      pipeline: this.pipeline,
      worker: this.worker,
      mode: this.mode,
      members: this.members,
      status: this.status,
      stopReason: this.stopReason,
      startedAt: this.startedAt,
      updatedAt: this.updatedAt,
      now: this.now(),
      rows: [...this.rows.values()].map((row) => jsonCopy(row) as StatusRow),
    };
  }

  /** Calls `listener` after every change of the board. Returns a function that removes it. */
  subscribe(listener: () => void): () => void {
    if (typeof listener !== 'function') throw new TypeError('StatusBoard.subscribe: listener must be a function');
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Stops listening to the events (the board keeps its last state). */
  dispose(): void {
    for (const off of this.offs.splice(0)) off();
  }

  private assign(p: { worker: string; units: string[]; owners: Record<string, string>; members: number }): void {
    this.mode = 'worker';
    this.worker = p.worker;
    this.members = p.members;
    const mine = new Set(p.units);
    for (const row of this.rows.values()) {
      const unit = row.group ?? row.id;
      row.owner = p.owners[unit] ?? null;
      row.runsHere = mine.has(unit);
    }
  }

  private row(id: string): Row {
    let row = this.rows.get(id);
    if (!row) {
      row = newRow(id, 'source', '', {});
      if (this.mode === 'worker') {
        row.owner = null;
        row.runsHere = false;
      }
      this.rows.set(id, row);
    }
    return row;
  }

  private changed(): void {
    this.updatedAt = this.now();
    for (const listener of [...this.listeners]) {
      try {
        listener();
      } catch (err) {
        process.emitWarning(err instanceof Error ? err : new Error(String(err)), { code: 'TRIBUTARY_LISTENER_ERROR' });
      }
    }
  }
}

function newRow(id: string, kind: Row['kind'], schedule: string, extra: { group?: string; members?: string[]; plugin?: string }): Row {
  return {
    id,
    kind,
    ...extra,
    schedule,
    owner: 'this runner',
    runsHere: true,
    lastCycle: null,
    cycles: 0,
    records: 0,
    errors: 0,
    lastError: null,
    breaker: null,
    breakerHistory: [],
    throttle: null,
    cache: { hits: 0, misses: 0, hitRate: null },
    retries: 0,
    stale: 0,
    cursor: null,
    backfill: null,
    deadLetters: { count: 0, last: null },
    delivered: 0,
  };
}

/** `@tributary/backfill` as progress, without its list of done chunks. */
function backfillOf(value: unknown): { done: number; total: number; from: number; to: number; chunkMs: number } | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const p = value as { from?: unknown; to?: unknown; chunkMs?: unknown; done?: unknown };
  if (typeof p.from !== 'number' || typeof p.to !== 'number' || typeof p.chunkMs !== 'number' || !(p.chunkMs > 0) || !Array.isArray(p.done)) return undefined;
  return { done: p.done.length, total: Math.max(0, Math.ceil((p.to - p.from) / p.chunkMs)), from: p.from, to: p.to, chunkMs: p.chunkMs };
}

/** A JSON round trip (drops functions/undefined, turns bigints into strings so it never throws). */
function jsonCopy(value: unknown): unknown {
  if (value === undefined) return null;
  const text = JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  return text === undefined ? null : (JSON.parse(text) as unknown);
}
