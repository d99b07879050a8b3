import type { Envelope, Sink } from '../types.js';

/**
 * Counts the records of one cycle on their way to the sink, so the cycle can wait until all of
 * them were acknowledged (and only then commit its checkpoint).
 */
export class DeliveryTracker {
  private pending = 0;
  private closed = false;
  private error: unknown;
  private failed = false;
  private waiters: (() => void)[] = [];
  /** Records acknowledged by the sink. */
  delivered = 0;

  /** @internal Called by the batcher when a record enters the buffer. */
  added(): void {
    this.pending++;
  }

  /** @internal Called by the batcher after a write: `count` records succeeded or failed. */
  settle(count: number, error?: unknown): void {
    this.pending -= count;
    if (error !== undefined) {
      if (!this.failed) this.error = error;
      this.failed = true;
    } else this.delivered += count;
    this.wake();
  }

  /** No more records will be added. */
  close(): void {
    this.closed = true;
    this.wake();
  }

  /** Resolves once closed and every record was written; with the first write error, if any. */
  settled(): Promise<{ ok: true } | { ok: false; error: unknown }> {
    return new Promise((resolve) => {
      const check = (): boolean => {
        if (!this.closed || this.pending > 0) return false;
        resolve(this.failed ? { ok: false, error: this.error } : { ok: true });
        return true;
      };
      if (!check()) this.waiters.push(() => void check());
    });
  }

  private wake(): void {
    if (!this.closed || this.pending > 0) return;
    const waiters = this.waiters.splice(0);
    for (const w of waiters) w();
  }
}

/** What {@link Batcher} reports after each write. */
export interface BatchReport {
  records: number;
  durationMs: number;
  outcome: 'success' | 'error';
  error?: unknown;
  /** Records per `[source, topic]` (source from the `tributary-source` header). */
  counts: Map<string, { source: string; topic: string; count: number }>;
}

/** Options of {@link Batcher}. */
export interface BatcherOptions {
  sink: Sink;
  /** Most records per `sink.write()`. Default `500`. */
  maxRecords?: number;
  /** How long a partial batch waits for more records, in ms. Default `50`. */
  lingerMs?: number;
  /** Most records buffered; `push()` waits while the buffer is full (back-pressure). Default `10_000`. */
  capacity?: number;
  /** Called after each write (metrics, events). A throw is ignored. */
  onBatch?: (report: BatchReport) => void;
}

interface Item {
  envelope: Envelope;
  tracker: DeliveryTracker | undefined;
}

/**
 * Groups envelopes into batches for the sink (by size and linger time) through a bounded buffer.
 *
 * `push()` resolves at once while there is room and waits while the buffer is full, so a source
 * that produces faster than the sink writes is slowed down rather than growing memory. One write
 * runs at a time, in order. A batch is written when it reaches `maxRecords`, when it has waited
 * `lingerMs`, or at once after `flushSoon()`. Each record's tracker learns whether its write
 * succeeded.
 *
 * @internal Used by the pipeline runner.
 */
export class Batcher {
  private readonly sink: Sink;
  private readonly maxRecords: number;
  private readonly lingerMs: number;
  private readonly capacity: number;
  private readonly onBatch: ((report: BatchReport) => void) | undefined;
  private queue: Item[] = [];
  private writing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private urgent = false;
  private spaceWaiters: (() => void)[] = [];
  private idleWaiters: (() => void)[] = [];
  private inFlight = 0;

  constructor(options: BatcherOptions) {
    this.sink = options.sink;
    this.maxRecords = Math.max(1, options.maxRecords ?? 500);
    this.lingerMs = Math.max(0, options.lingerMs ?? 50);
    this.capacity = Math.max(this.maxRecords, options.capacity ?? 10_000);
    this.onBatch = options.onBatch;
  }

  /** Records waiting in the buffer (not yet handed to the sink). */
  get buffered(): number {
    return this.queue.length;
  }

  /** Adds a record; waits while the buffer is full. */
  async push(envelope: Envelope, tracker?: DeliveryTracker): Promise<void> {
    while (this.queue.length >= this.capacity) {
      await new Promise<void>((resolve) => this.spaceWaiters.push(resolve));
    }
    tracker?.added();
    this.queue.push({ envelope, tracker });
    this.schedule();
  }

  /** Writes what is buffered without waiting for the linger time. */
  flushSoon(): void {
    if (this.queue.length === 0) return;
    this.urgent = true;
    this.schedule();
  }

  /** Writes everything buffered and waits until it is written (errors are reported to the trackers). */
  async drain(): Promise<void> {
    this.flushSoon();
    while (this.queue.length > 0 || this.writing) {
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    }
  }

  /** Stops the linger timer (after `drain()`). */
  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (this.writing) return;
    if (this.queue.length >= this.maxRecords || (this.urgent && this.queue.length > 0)) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      this.writing = this.writeNext();
      return;
    }
    if (this.queue.length > 0 && !this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.urgent = true;
        this.schedule();
      }, this.lingerMs);
    }
  }

  private async writeNext(): Promise<void> {
    const items = this.queue.splice(0, this.maxRecords);
    if (this.queue.length === 0) this.urgent = false;
    this.inFlight = items.length;
    const spaces = this.spaceWaiters.splice(0);
    for (const w of spaces) w();
    const started = Date.now();
    let error: unknown;
    let failed = false;
    try {
      await this.sink.write(items.map((i) => i.envelope));
    } catch (err) {
      error = err;
      failed = true;
    }
    const counts = new Map<string, { source: string; topic: string; count: number }>();
    const perTracker = new Map<DeliveryTracker, number>();
    for (const item of items) {
      const source = item.envelope.headers['tributary-source'] ?? '';
      const k = `${source}\u0000${item.envelope.topic}`;
      const c = counts.get(k);
      if (c) c.count++;
      else counts.set(k, { source, topic: item.envelope.topic, count: 1 });
      if (item.tracker) perTracker.set(item.tracker, (perTracker.get(item.tracker) ?? 0) + 1);
    }
    this.inFlight = 0;
    try {
      this.onBatch?.({ records: items.length, durationMs: Date.now() - started, outcome: failed ? 'error' : 'success', error, counts });
    } catch {
      /* reporting never breaks delivery */
    }
    for (const [tracker, n] of perTracker) tracker.settle(n, failed ? (error ?? new Error('sink write failed')) : undefined);
    this.writing = undefined;
    this.schedule();
    if (!this.writing && this.queue.length === 0) {
      const idle = this.idleWaiters.splice(0);
      for (const w of idle) w();
    } else if (this.queue.length > 0 && !this.writing) {
      // a partial batch is lingering; drain() callers asked for urgency
      if (this.idleWaiters.length > 0) this.flushSoon();
    }
  }

  /** Records handed to the sink and not yet acknowledged. */
  get writingRecords(): number {
    return this.inFlight;
  }
}
