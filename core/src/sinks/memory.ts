import type { DeadLetter, Envelope, Sink, TopicSpec } from '../pipeline/types.js';

/**
 * A sink that keeps everything in memory: for tests and for the testkit (`runPlugin`).
 *
 * `records`, `deadLetters` and `topics` hold what was written. `failNext(err)` makes the next
 * `write()` reject, and `delayMs` delays every write, to exercise error paths and back-pressure.
 *
 * @example
 * ```ts
 * import { MemorySink } from '@tributary/core';
 * const sink = new MemorySink();
 * // … run a pipeline with it …
 * console.log(sink.records.length);
 * ```
 */
export class MemorySink implements Sink {
  readonly name = 'memory';
  readonly records: Envelope[] = [];
  readonly deadLetters: DeadLetter[] = [];
  readonly batches: number[] = [];
  topics: TopicSpec[] = [];
  started = false;
  closed = false;
  flushes = 0;
  /** Delay of every write, in ms. Default `0`. */
  delayMs: number;
  private failure: unknown;

  constructor(options: { delayMs?: number } = {}) {
    this.delayMs = options.delayMs ?? 0;
  }

  /** Makes the next `write()` reject with `err`. */
  failNext(err: unknown): void {
    this.failure = err;
  }

  async start(topics: readonly TopicSpec[]): Promise<void> {
    this.topics = [...topics];
    this.started = true;
  }

  async write(batch: readonly Envelope[]): Promise<void> {
    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    if (this.failure !== undefined) {
      const err = this.failure;
      this.failure = undefined;
      throw err;
    }
    this.batches.push(batch.length);
    this.records.push(...batch);
  }

  async writeDeadLetters(letters: readonly DeadLetter[]): Promise<void> {
    this.deadLetters.push(...letters);
  }

  async flush(): Promise<void> {
    this.flushes++;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
