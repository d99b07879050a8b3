/**
 * Testkit: run a plugin (or a pipeline file) for a few cycles in memory and look at what came out.
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { ConfigError } from '../errors/ConfigError.js';
import type { HttpClientOptions } from '../http/client.js';
import { silentLogger } from '../observability/logger.js';
import type { RunSummary } from '../observability/summary.js';
import { loadPipeline, type LoadPipelineOptions } from '../pipeline/config/load.js';
import { resolvePipeline } from '../pipeline/config/resolve.js';
import { workersConfig } from '../pipeline/config/normalize.js';
import { PipelineRunner } from '../pipeline/runtime/runner.js';
import type { DeadLetter, Envelope, PipelineConfig, ResilienceConfig, StreamRoute } from '../pipeline/types.js';
import { streamsOf } from '../plugin/definePlugin.js';
import type { AvroSchemaLike, StreamDefinition, StreamRecord, TributaryPlugin } from '../plugin/types.js';
import { compileSchema, validateRecord } from '../serde/avro.js';
import type { AvroSchema } from '../serde/types.js';
import { MemorySink } from '../sinks/memory.js';
import { MemoryCheckpointStore } from '../state/memory.js';

/** One error reported during a test run: a failed cycle or a failed group member. */
export interface RunError {
  source: string;
  code: string;
  message: string;
}

/** What {@link runPlugin} and {@link runPipeline} return. */
export interface RunResult {
  /** Envelopes the sink acknowledged, in order: `{ topic, key, value, timestamp, headers }`. */
  records: Envelope[];
  /** Failed cycles and sources, with their error codes. */
  errors: RunError[];
  /** Records that failed their schema (or named no known stream). */
  deadLetters: DeadLetter[];
  /** The run's prom-client registry (`await metrics.metrics()` for the text format). */
  metrics: Registry;
  /** The run summary (records per topic, cache hits, retries, durations…). */
  summary: RunSummary;
  /** The checkpoints after the run, by source id. */
  state: Record<string, Record<string, unknown>>;
}

/** Options shared by {@link runPlugin} and {@link runPipeline}. */
export interface TestRunOptions {
  /** Cycles per source, run back to back (schedules' timing is ignored). Default `1`. */
  cycles?: number;
  /** The time window handed to each cycle (`cycle.window`). Default: none. */
  window?: { start: number; end: number };
  /**
   * Where HTTP calls go: relative URLs resolve against it, and absolute URLs have their origin
   * replaced by it (so a plugin with a hard-coded API host talks to a stub server). A path in it
   * is put before each request's path. Default: calls go where the plugin sends them.
   */
  baseUrl?: string;
  /** Skip cache reads, like `--force-refresh`. Default `false`. */
  forceRefresh?: boolean;
  /** Checkpoints to start from, by source id. Default: none. */
  state?: Record<string, Record<string, unknown>>;
  /** Logger. Default: silent. */
  logger?: Logger;
  /** Extra HTTP client options (timeouts, …). Default: the client's defaults. */
  http?: Omit<HttpClientOptions, 'source' | 'secrets' | 'logger' | 'metrics' | 'baseUrl'>;
}

/** Options of {@link runPlugin}. */
export interface RunPluginOptions extends TestRunOptions {
  /** Source id. Default `'test'`. */
  source?: string;
  /** Resilience layers. Default: none (calls go straight out; failures show at once). */
  resilience?: ResilienceConfig;
  /** Routes by stream. Default: each stream (of this config, see `streamsFor`) to a topic of its own name, keyed by its key field. */
  streams?: Record<string, StreamRoute>;
  /** Values to scrub from logs and errors. Default none. */
  secrets?: string[];
}

/**
 * Runs a plugin for one cycle (or `cycles`) in memory and returns what it produced.
 *
 * The plugin's `config` is checked against its `configSchema` first (a `ConfigError` on failure),
 * then the streams are those of that config: `plugin.streamsFor(config)` when the plugin has it
 * (checked like static streams; a `ConfigError` at `config` when they are invalid), else
 * `plugin.streams`.
 * Records go through the real runtime: envelopes with keys and provenance headers, Avro validation
 * (failures end in `deadLetters`), checkpoints (`state`). No resilience layers are applied unless
 * given, no metrics server is started, and nothing is written to disk.
 *
 * @example
 * ```ts
 * import { runPlugin, startStubServer } from '@tributary/core';
 * import plugin from '../src/index.js';
 * const stub = await startStubServer({ routes: [{ path: '/v1/latest', json: { results: [] } }] });
 * const { records, errors } = await runPlugin(plugin, { station: 'NL01' }, { baseUrl: stub.url });
 * await stub.close();
 * ```
 */
export async function runPlugin<C>(plugin: TributaryPlugin<C>, config: unknown, options: RunPluginOptions = {}): Promise<RunResult> {
  const id = options.source ?? 'test';
  const parsed = await plugin.configSchema.safeParseAsync(config ?? {});
  if (!parsed.success) {
    throw new ConfigError(
      undefined,
      parsed.error.issues.map((i) => ({ path: ['config', ...i.path.map(String)].join('.'), message: `${i.message} (plugin ${plugin.name})` })),
    );
  }
  const derived = streamsOf(plugin as TributaryPlugin, parsed.data);
  if (derived.problems.length > 0) throw new ConfigError(undefined, derived.problems.map((message) => ({ path: 'config', message })));
  const streams: Record<string, StreamRoute> = {};
  for (const [name, def] of Object.entries(derived.streams)) {
    const route = options.streams?.[name] ?? { topic: name };
    streams[name] = route.key === undefined && def.key !== undefined ? { ...route, key: def.key } : route;
  }
  const pipeline: PipelineConfig = {
    file: `<runPlugin ${plugin.name}>`,
    name: `test-${plugin.name}`,
    sources: {
      [id]: {
        id,
        plugin: plugin.name,
        config: (config ?? {}) as Record<string, unknown>,
        schedule: { kind: 'once' },
        resilience: options.resilience ?? {},
        streams,
        shards: 1,
        enabled: true,
      },
    },
    groups: {},
    sink: { type: 'stdout' },
    stateDir: '',
    metrics: { enabled: false, host: '127.0.0.1', port: 0 },
    shutdown: { timeoutMs: 30_000 },
    workers: workersConfig(`test-${id}`, 30_000),
    secrets: options.secrets ?? [],
  };
  return execute(pipeline, new Map([[id, { plugin: plugin as TributaryPlugin, config: parsed.data, streams: derived.streams }]]), options);
}

/** Options of {@link runPipeline}. */
export interface RunPipelineOptions extends TestRunOptions, LoadPipelineOptions {
  /** Plugins by specifier, used instead of loading them. Default: load as the pipeline says. */
  plugins?: Readonly<Record<string, TributaryPlugin>>;
}

/**
 * Loads a pipeline file and runs each of its sources for one cycle (or `cycles`) in memory, with
 * the resilience stacks the file configures. Like {@link runPlugin}, but for a whole pipeline: the
 * file's sink, metrics server and state directory are not used.
 *
 * @example
 * ```ts
 * import { runPipeline } from '@tributary/core';
 * const { records, deadLetters } = await runPipeline('examples/air/pipeline.yaml', { env: { API_KEY: 'test' } });
 * ```
 */
export async function runPipeline(file: string, options: RunPipelineOptions = {}): Promise<RunResult> {
  const loaded = await loadPipeline(file, { ...(options.env ? { env: options.env } : {}), ...(options.overrides ? { overrides: options.overrides } : {}) });
  const resolved = await resolvePipeline(loaded, options.plugins ? { plugins: options.plugins } : {});
  return execute(resolved.config, resolved.plugins, options);
}

async function execute(
  pipeline: PipelineConfig,
  plugins: Map<string, { plugin: TributaryPlugin; config: unknown; streams: Record<string, StreamDefinition> }>,
  options: TestRunOptions,
): Promise<RunResult> {
  const sink = new MemorySink();
  const checkpoints = new MemoryCheckpointStore(options.state ?? {});
  const runner = new PipelineRunner({
    pipeline,
    plugins,
    sink,
    checkpoints,
    logger: options.logger ?? silentLogger(),
    metrics: false,
    cycles: options.cycles ?? 1,
    ...(options.window ? { window: options.window } : {}),
    forceRefresh: options.forceRefresh ?? false,
    ...(options.baseUrl ? { rewriteOrigin: options.baseUrl, http: { ...(options.http ?? {}), baseUrl: options.baseUrl } } : options.http ? { http: options.http } : {}),
  });
  const errors: RunError[] = [];
  runner.events.on('collector.error', ({ payload }) => errors.push({ source: payload.source, code: payload.code, message: payload.message }));
  const summary = await runner.run();
  return { records: [...sink.records], errors, deadLetters: [...sink.deadLetters], metrics: runner.registry, summary, state: checkpoints.snapshot() };
}

/**
 * Asserts that every record fits an Avro schema; throws an `Error` naming the first record that
 * does not (its index and the bad field) otherwise.
 *
 * Accepts envelopes (`runPlugin(...).records`), stream records (`{ stream, value }`) or plain values.
 *
 * @example
 * ```ts
 * import { runPlugin, assertRecordsMatchSchema } from '@tributary/core';
 * const { records } = await runPlugin(plugin, config);
 * assertRecordsMatchSchema(records, plugin.streams.measurements.schema);
 * ```
 */
export function assertRecordsMatchSchema(records: readonly (Envelope | StreamRecord | Record<string, unknown>)[], schema: AvroSchemaLike): void {
  const type = compileSchema(schema as AvroSchema);
  records.forEach((record, index) => {
    const value = isWrapped(record) ? record.value : record;
    try {
      validateRecord(type, value);
    } catch (err) {
      throw new Error(`record ${index} does not match the schema: ${(err as Error).message}`, { cause: err });
    }
  });
}

function isWrapped(record: unknown): record is { value: unknown } {
  if (typeof record !== 'object' || record === null || !('value' in record)) return false;
  const r = record as Record<string, unknown>;
  return ('topic' in r && 'headers' in r) || ('stream' in r && typeof r.stream === 'string');
}
