import type { DeadLetter, Envelope, Sink, TopicSpec } from '../pipeline/types.js';
import { stringifySafe } from './json.js';

/** Options of {@link StdoutSink}. */
export interface StdoutSinkOptions {
  /** Where lines go. Default `process.stdout`. */
  stream?: NodeJS.WritableStream;
  /** Also write dead letters (as `{"deadLetter": …}` lines). Default `true`. */
  deadLetters?: boolean;
}

/**
 * A sink that prints every record as one JSON line, for debugging and for piping into `jq`.
 *
 * Each line is `{"topic", "key", "timestamp", "headers", "value"}`; bigints are written as decimal
 * strings and bytes as base64 (see `toJsonSafe`). Dead letters are written as
 * `{"deadLetter": {topic, source, code, field, reason, value, timestamp}}` lines. `write()`
 * resolves when the stream handed the lines to the OS (so a slow reader slows the pipeline down).
 * Logs never go to stdout, so the output stays machine-readable.
 *
 * @example
 * ```ts
 * import { StdoutSink } from '@tributary/core';
 * const sink = new StdoutSink();
 * await sink.write([{ topic: 't', key: null, value: { a: 1 }, timestamp: Date.now(), headers: {} }]);
 * ```
 */
export class StdoutSink implements Sink {
  readonly name = 'stdout';
  private readonly stream: NodeJS.WritableStream;
  private readonly withDeadLetters: boolean;

  constructor(options: StdoutSinkOptions = {}) {
    this.stream = options.stream ?? process.stdout;
    this.withDeadLetters = options.deadLetters ?? true;
  }

  async start(_topics: readonly TopicSpec[]): Promise<void> {}

  async write(batch: readonly Envelope[]): Promise<void> {
    if (batch.length === 0) return;
    const text = batch
      .map((e) => stringifySafe({ topic: e.topic, key: e.key, timestamp: e.timestamp, headers: e.headers, value: e.value }) + '\n')
      .join('');
    await this.push(text);
  }

  async writeDeadLetters(letters: readonly DeadLetter[]): Promise<void> {
    if (!this.withDeadLetters || letters.length === 0) return;
    await this.push(letters.map((l) => stringifySafe({ deadLetter: l }) + '\n').join(''));
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {}

  private push(text: string): Promise<void> {
    // The callback runs once the chunk was handed to the OS (or failed), which also waits out a
    // full pipe: that is the back-pressure.
    return new Promise<void>((resolve, reject) => {
      this.stream.write(text, (err?: Error | null) => (err ? reject(err) : resolve()));
    });
  }
}
