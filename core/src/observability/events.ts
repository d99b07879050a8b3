import { randomUUID } from 'node:crypto';

/**
 * What each instrumentation event type carries. Event types are namespaced by the part of the
 * pipeline that emits them (`collector.*`, `breaker.*`, `sink.*`, …).
 */
export interface InstrumentationPayloads {
  /** The pipeline started: its name and the sources it runs. */
  'pipeline.start': { pipeline: string; sources: string[] };
  /** The pipeline stopped; `reason` is `completed` (every schedule ended), `signal` or `error`. */
  'pipeline.stop': { pipeline: string; reason: 'completed' | 'signal' | 'error' };
  /** Shutdown began (first SIGINT/SIGTERM or `runner.stop()`). */
  'pipeline.shutdown': { signal?: string; timeoutMs: number };
  /** One cycle of a source (or a group) ended. */
  'collector.cycle': {
    source: string;
    group?: string;
    cycle: number;
    durationMs: number;
    outcome: 'success' | 'error' | 'cancelled';
    records: number;
    window?: { start: number; end: number };
    error?: { code: string; message: string };
  };
  /** A collector reported an error (a failed cycle, a failed group member, a broken stream). */
  'collector.error': { source: string; code: string; message: string };
  /** Backfill progress of a source: `done` of `total` chunks finished, `failed` failed in this run. */
  'backfill.progress': { source: string; done: number; failed: number; total: number; window?: { start: number; end: number } };
  /** A circuit breaker of a source changed state. */
  'breaker.state': { source: string; breaker: string; from: string; to: string; reason?: string };
  /** The adaptive throttle of a source changed its delay. */
  'throttle.delay': { source: string; delayMs: number };
  /** A call was answered from the cache (`hit`) or had to go out (`miss`). */
  'cache.hit': { source: string; key: string };
  'cache.miss': { source: string; key: string };
  /** A failed call was answered with a stale value. */
  'stale.value': { source: string; key: string; ageMs?: number };
  /** A failed call is being retried. */
  'http.retry': { source: string; attempt: number; delayMs: number; code: string };
  /** Records were delivered to the sink as one batch. */
  'sink.batch': { sink: string; records: number; durationMs: number; outcome: 'success' | 'error'; topics: Record<string, number> };
  /** Records were dead-lettered. */
  'sink.dead-letters': { sink: string; source: string; topic: string; code: string; count: number };
  /** Records of a source were accepted by the sink (counted per topic). */
  'records.delivered': { source: string; topic: string; count: number };
  /** A source's checkpoint (cursor) was committed; `values` is the whole committed checkpoint. */
  'checkpoint.committed': { source: string; values: Record<string, unknown> };
  /**
   * Worker mode (`run --worker`): the units of work (sources and groups) changed hands. `units`
   * are the ones this worker runs now; `owners` names the worker of every unit the group assigned
   * (worker ids; a unit without an owner is missing).
   */
  'worker.assignment': { worker: string; units: string[]; owners: Record<string, string>; members: number };
}

/** A namespaced instrumentation event type, e.g. `collector.cycle`. */
export type InstrumentationEventType = keyof InstrumentationPayloads;

/** One instrumentation event: a unique id, its namespaced type, when it happened and what it carries. */
export interface InstrumentationEvent<T extends InstrumentationEventType = InstrumentationEventType> {
  id: string;
  type: T;
  /** Epoch ms. */
  timestamp: number;
  payload: InstrumentationPayloads[T];
}

/** A listener of one event type, or of every type (`'*'`). */
export type InstrumentationListener<T extends InstrumentationEventType = InstrumentationEventType> = (event: InstrumentationEvent<T>) => void;

/**
 * The instrumentation event bus of a pipeline run.
 *
 * The runtime emits events such as `collector.cycle`, `breaker.state` and `sink.batch`, each in the
 * envelope `{ id, type, timestamp, payload }`. Anyone may listen: the run summary, a progress bar,
 * a test. Listeners never break the pipeline: a listener that throws is reported as a process
 * warning (`TRIBUTARY_LISTENER_ERROR`) and the other listeners still run.
 *
 * @example
 * ```ts
 * import { InstrumentationEvents } from '@tributary/core';
 * const events = new InstrumentationEvents();
 * const off = events.on('collector.cycle', (e) => console.log(e.payload.source, e.payload.durationMs));
 * events.emit('collector.cycle', { source: 'air', cycle: 1, durationMs: 12, outcome: 'success', records: 3 });
 * off();
 * ```
 */
export class InstrumentationEvents {
  private readonly listeners = new Map<string, Set<InstrumentationListener<never>>>();
  private readonly now: () => number;

  /** @param options.now Clock for event timestamps. Default `Date.now`. */
  constructor(options: { now?: () => number } = {}) {
    this.now = options.now ?? Date.now;
  }

  /** Listens to one event type, or to all with `'*'`. Returns a function that removes the listener. */
  on<T extends InstrumentationEventType>(type: T | '*', listener: InstrumentationListener<T>): () => void {
    let set = this.listeners.get(type);
    if (!set) {
      set = new Set();
      this.listeners.set(type, set);
    }
    set.add(listener as InstrumentationListener<never>);
    return () => {
      set.delete(listener as InstrumentationListener<never>);
    };
  }

  /** Emits an event to the listeners of its type, then to the `'*'` listeners. Returns the event. */
  emit<T extends InstrumentationEventType>(type: T, payload: InstrumentationPayloads[T]): InstrumentationEvent<T> {
    const event: InstrumentationEvent<T> = { id: randomUUID(), type, timestamp: this.now(), payload };
    for (const key of [type, '*']) {
      const set = this.listeners.get(key);
      if (!set) continue;
      for (const listener of [...set]) {
        try {
          (listener as InstrumentationListener<T>)(event);
        } catch (err) {
          process.emitWarning(err instanceof Error ? err : new Error(String(err)), { code: 'TRIBUTARY_LISTENER_ERROR' });
        }
      }
    }
    return event;
  }

  /** Number of listeners of a type (or of `'*'`). */
  listenerCount(type: InstrumentationEventType | '*'): number {
    return this.listeners.get(type)?.size ?? 0;
  }
}
