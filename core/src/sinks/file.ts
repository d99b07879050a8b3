import { appendFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type avro from 'avsc';
import { compileSchema } from '../serde/avro.js';
import type { AvroSchema } from '../serde/types.js';
import type { AvroSchemaLike } from '../plugin/types.js';
import type { DeadLetter, Envelope, Sink, TopicSpec } from '../pipeline/types.js';
import { AvroFileWriter, type AvroCodec } from './avroFile.js';
import { stringifySafe } from './json.js';

/** Options of {@link FileSink}. */
export interface FileSinkOptions {
  /** Output directory (created when missing). */
  dir: string;
  /** Block compression: `'null'` (none) or `'deflate'`. Default `'deflate'`. */
  codec?: AvroCodec;
  /**
   * How often written data is forced to disk (`fsync`), in ms. `0` syncs on every write. Data is
   * always handed to the OS before `write()` resolves; this bounds what a power loss can take.
   * Default `1000`.
   */
  flushEveryMs?: number;
  /** A new file is started after this many records. Default `1_000_000`. */
  maxRecordsPerFile?: number;
  /** A new file is started after this many bytes. Default `256 MiB`. */
  maxBytesPerFile?: number;
  /** Turns a topic's Avro schema into an avsc `Type`. Default: `compileSchema` (Tributary's logical types). */
  compile?: (schema: AvroSchemaLike) => avro.Type;
  /** Prefix of this run's file names. Default: the start time, `YYYYMMDDTHHMMSSmmmZ`. */
  runId?: string;
}

interface TopicWriter {
  topic: string;
  type: avro.Type;
  dir: string;
  writer: AvroFileWriter | undefined;
  sequence: number;
  queue: Promise<void>;
  files: string[];
}

/**
 * The embedded sink: Avro object container files, one directory per topic, no server needed.
 *
 * Records of topic `t` go to `<dir>/t/<runId>-<n>.avro` (n = 1, 2, … as files rotate after
 * `maxRecordsPerFile` records or `maxBytesPerFile` bytes). Each file carries the topic's writer
 * schema in its header and is readable by any Avro tool (avsc's `createFileDecoder`, Python's
 * fastavro, Java's avro-tools). A run never appends to an older file: each run starts new files.
 * Files are created on the first record of their topic. Each `write()` encodes its records as
 * one block and resolves when the block was handed to the OS; blocks are forced to disk every
 * `flushEveryMs`, on `flush()` and on `close()`.
 *
 * Dead letters go to `<dir>/<topic>.dlq.jsonl`, one JSON object per line (appended across runs).
 *
 * @example
 * ```ts
 * import { FileSink } from '@tributary/core';
 * const sink = new FileSink({ dir: './out', codec: 'deflate' });
 * await sink.start([{ topic: 'prices', schema, source: 'eia', stream: 'prices' }]);
 * await sink.write(envelopes);
 * await sink.close();
 * ```
 */
export class FileSink implements Sink {
  readonly name = 'file';
  readonly dir: string;
  private readonly codec: AvroCodec;
  private readonly flushEveryMs: number;
  private readonly maxRecords: number;
  private readonly maxBytes: number;
  private readonly compile: (schema: AvroSchemaLike) => avro.Type;
  private readonly runId: string;
  private readonly topics = new Map<string, TopicWriter>();
  private timer: NodeJS.Timeout | undefined;
  private dlqQueue: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(options: FileSinkOptions) {
    if (!options || typeof options.dir !== 'string' || options.dir === '') throw new TypeError('FileSink: `dir` must be a non-empty path');
    this.dir = options.dir;
    this.codec = options.codec ?? 'deflate';
    if (this.codec !== 'null' && this.codec !== 'deflate') throw new TypeError(`FileSink: codec must be 'null' or 'deflate', got ${String(this.codec)}`);
    this.flushEveryMs = options.flushEveryMs ?? 1000;
    this.maxRecords = options.maxRecordsPerFile ?? 1_000_000;
    this.maxBytes = options.maxBytesPerFile ?? 256 * 1024 * 1024;
    this.compile = options.compile ?? ((schema) => compileSchema(schema as AvroSchema));
    this.runId = options.runId ?? new Date().toISOString().replace(/[-:.]/g, '');
  }

  async start(topics: readonly TopicSpec[]): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    for (const spec of topics) {
      const type = this.compile(spec.schema);
      const existing = this.topics.get(spec.topic);
      if (existing) {
        if (!existing.type.equals(type)) {
          throw new Error(
            `FileSink: topic "${spec.topic}" receives records of two different schemas (source "${spec.source}" stream "${spec.stream}" differs); one file holds one schema`,
          );
        }
        continue;
      }
      this.topics.set(spec.topic, {
        topic: spec.topic,
        type,
        dir: join(this.dir, safeName(spec.topic)),
        writer: undefined,
        sequence: 0,
        queue: Promise.resolve(),
        files: [],
      });
    }
    if (this.flushEveryMs > 0 && !this.timer) {
      this.timer = setInterval(() => void this.syncAll().catch(() => undefined), this.flushEveryMs);
      this.timer.unref();
    }
  }

  async write(batch: readonly Envelope[]): Promise<void> {
    if (this.closed) throw new Error('FileSink: write after close');
    const byTopic = new Map<string, unknown[]>();
    for (const envelope of batch) {
      let list = byTopic.get(envelope.topic);
      if (!list) byTopic.set(envelope.topic, (list = []));
      list.push(envelope.value);
    }
    await Promise.all([...byTopic].map(([topic, values]) => this.enqueue(this.topicOf(topic), (t) => this.append(t, values))));
  }

  async writeDeadLetters(letters: readonly DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    const byTopic = new Map<string, string[]>();
    for (const letter of letters) {
      let lines = byTopic.get(letter.topic);
      if (!lines) byTopic.set(letter.topic, (lines = []));
      lines.push(stringifySafe(letter) + '\n');
    }
    const run = this.dlqQueue.then(async () => {
      await mkdir(this.dir, { recursive: true });
      for (const [topic, lines] of byTopic) await appendFile(join(this.dir, `${safeName(topic)}.dlq.jsonl`), lines.join(''), 'utf8');
    });
    this.dlqQueue = run.catch(() => undefined);
    await run;
  }

  /** Forces everything written so far to disk. */
  async flush(): Promise<void> {
    await this.syncAll();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await Promise.all(
      [...this.topics.values()].map((t) =>
        this.enqueue(t, async () => {
          await t.writer?.close();
          t.writer = undefined;
        }),
      ),
    );
    await this.dlqQueue;
  }

  /** Paths of the Avro files written so far, by topic. */
  files(): Record<string, string[]> {
    return Object.fromEntries([...this.topics.values()].map((t) => [t.topic, [...t.files]]));
  }

  private topicOf(topic: string): TopicWriter {
    const t = this.topics.get(topic);
    if (!t) throw new Error(`FileSink: unknown topic "${topic}" (not announced in start())`);
    return t;
  }

  private enqueue(t: TopicWriter, task: (t: TopicWriter) => Promise<void>): Promise<void> {
    const run = t.queue.then(() => task(t));
    t.queue = run.catch(() => undefined);
    return run;
  }

  private async append(t: TopicWriter, values: unknown[]): Promise<void> {
    for (let i = 0; i < values.length; ) {
      if (t.writer && (t.writer.records >= this.maxRecords || t.writer.bytes >= this.maxBytes)) {
        await t.writer.close();
        t.writer = undefined;
      }
      if (!t.writer) {
        await mkdir(t.dir, { recursive: true });
        t.sequence += 1;
        const path = join(t.dir, `${this.runId}-${String(t.sequence).padStart(4, '0')}.avro`);
        t.writer = await AvroFileWriter.create(path, t.type, this.codec, { 'tributary.topic': t.topic });
        t.files.push(path);
      }
      const room = Math.max(1, this.maxRecords - t.writer.records);
      const chunk = values.slice(i, i + room);
      await t.writer.append(chunk);
      i += chunk.length;
    }
    if (this.flushEveryMs === 0) await t.writer?.fsync();
  }

  private async syncAll(): Promise<void> {
    await Promise.all([...this.topics.values()].map((t) => this.enqueue(t, async () => t.writer?.fsync())));
  }
}

/** Topic names become directory names: anything but `[A-Za-z0-9._-]` is percent-encoded. */
function safeName(topic: string): string {
  const name = topic.replace(/[^A-Za-z0-9._-]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return name === '.' || name === '..' ? name.replace(/\./g, '%2e') : name;
}
