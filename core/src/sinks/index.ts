/**
 * Sinks: where envelopes end. `createSink(config)` builds the one a pipeline file asks for.
 * @packageDocumentation
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type avro from 'avsc';
import type { AvroSchemaLike } from '../plugin/types.js';
import type { Sink, SinkConfig } from '../pipeline/types.js';

export { FileSink, type FileSinkOptions } from './file.js';
export { StdoutSink, type StdoutSinkOptions } from './stdout.js';
export { MemorySink } from './memory.js';
export { toJsonSafe, stringifySafe } from './json.js';
export type { AvroCodec } from './avroFile.js';

/** What a sink factory receives besides the sink's own config. */
export interface SinkFactoryOptions {
  /** Logger of the run (a child named after the sink is advisable). */
  logger?: Logger;
  /** Registry for the sink's metrics. */
  registry?: Registry;
  /** Turns an Avro schema into an avsc Type (the runtime passes the serde compiler). */
  compile?: (schema: AvroSchemaLike) => avro.Type;
  /** Secrets to keep out of logs and errors. */
  secrets?: readonly string[];
  /** Where the `stdout` sink writes. Default `process.stdout`. */
  stdout?: NodeJS.WritableStream;
}

/** Builds a sink of one `type`. */
export type SinkFactory<C extends SinkConfig = SinkConfig> = (config: C, options: SinkFactoryOptions) => Sink | Promise<Sink>;

const factories = new Map<string, SinkFactory<never>>();

/**
 * Registers (or replaces) the factory of a sink type, so that `createSink({ type, … })` builds it
 * with this factory. `file` and `stdout` are built in; `kafka` is loaded lazily from
 * `./kafka/index.js` (see `createSink`). Returns a function that restores the previous factory.
 *
 * @example
 * ```ts
 * import { registerSinkFactory, MemorySink } from '@tributary/core';
 * const restore = registerSinkFactory('stdout', () => new MemorySink());
 * // … createSink({ type: 'stdout' }) now returns a MemorySink …
 * restore();
 * ```
 */
export function registerSinkFactory<T extends SinkConfig['type']>(type: T, factory: SinkFactory<Extract<SinkConfig, { type: T }>>): () => void {
  const previous = factories.get(type);
  factories.set(type, factory as SinkFactory<never>);
  return () => {
    if (previous) factories.set(type, previous);
    else factories.delete(type);
  };
}

/**
 * Builds the sink a pipeline's `sink:` section describes.
 *
 * - `file`: a {@link FileSink} (Avro object container files under `dir`, `codec`, `flushEveryMs`).
 * - `stdout`: a {@link StdoutSink} (JSON lines).
 * - `kafka`: loaded on demand, so that the Kafka client is only imported when used. The module
 *   `./kafka/index.js` (or `./kafka.js`) next to this one must export
 *   `createKafkaSink(config, options): Sink | Promise<Sink>`; a factory registered with
 *   {@link registerSinkFactory} takes precedence.
 *
 * The sink is returned unstarted: the runtime calls `start(topics)`.
 *
 * @example
 * ```ts
 * import { createSink } from '@tributary/core';
 * const sink = await createSink({ type: 'file', dir: './out', codec: 'deflate', flushEveryMs: 1000 });
 * ```
 */
export async function createSink(config: SinkConfig, options: SinkFactoryOptions = {}): Promise<Sink> {
  const registered = factories.get(config.type) as SinkFactory | undefined;
  if (registered) return registered(config, options);
  switch (config.type) {
    case 'file': {
      const { FileSink } = await import('./file.js');
      return new FileSink({
        dir: config.dir,
        codec: config.codec,
        flushEveryMs: config.flushEveryMs,
        ...(options.compile ? { compile: options.compile } : {}),
      });
    }
    case 'stdout': {
      const { StdoutSink } = await import('./stdout.js');
      return new StdoutSink(options.stdout ? { stream: options.stdout } : {});
    }
    case 'kafka': {
      // Hook for the Kafka sink: a module kept out of the static import graph, so that the CLI does
      // not load kafkajs unless a pipeline uses it. It lives in ./kafka/index.js (or ./kafka.js).
      let mod: { createKafkaSink?: SinkFactory<Extract<SinkConfig, { type: 'kafka' }>> } | undefined;
      const failures: string[] = [];
      for (const specifier of ['./kafka/index.js', './kafka.js']) {
        try {
          mod = (await import(specifier)) as typeof mod;
          break;
        } catch (err) {
          if ((err as { code?: unknown }).code !== 'ERR_MODULE_NOT_FOUND') throw err;
          failures.push((err as Error).message);
        }
      }
      if (!mod) throw new Error(`the kafka sink is not available in this build of @tributary/core (${failures.join('; ')})`);
      if (typeof mod.createKafkaSink !== 'function') throw new Error('the kafka sink module does not export createKafkaSink(config, options)');
      return mod.createKafkaSink(config, options);
    }
    default: {
      const unknown: { type?: unknown } = config;
      throw new TypeError(`unknown sink type ${JSON.stringify(unknown.type)}: expected file, stdout or kafka`);
    }
  }
}
