import { concatMap, defer, from, map, Observable, type SchedulerLike, type Subscription } from 'rxjs';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import type { Type } from 'avsc';
import { ConfigError, type ConfigIssue } from '../../errors/ConfigError.js';
import { NonRetriableError } from '../../errors/TributaryError.js';
import { HttpClient, type HttpClientOptions } from '../../http/client.js';
import { firstAvailable } from '../../operators/firstAvailable.js';
import { mergeSources } from '../../operators/mergeSources.js';
import { InstrumentationEvents } from '../../observability/events.js';
import { createLogger, secretScrubber } from '../../observability/logger.js';
import { counter, DURATION_BUCKETS, gauge, histogram } from '../../observability/metrics.js';
import { startMetricsServer, type HealthReport, type MetricsServer } from '../../observability/server.js';
import { StatusBoard, type StatusUnitInfo } from '../../observability/status.js';
import { RunSummaryCollector, type RunSummary } from '../../observability/summary.js';
import { streamsOf } from '../../plugin/definePlugin.js';
import type { Collector, CycleInfo, PluginContext, StreamDefinition, StreamRecord, TributaryPlugin } from '../../plugin/types.js';
import { compileSchema, validateRecord } from '../../serde/avro.js';
import type { AvroSchema } from '../../serde/types.js';
import { createSink } from '../../sinks/index.js';
import { FileCheckpointStore } from '../../state/file.js';
import type { CheckpointStore } from '../../state/types.js';
import type { DeadLetter, GroupConfig, PipelineConfig, Schedule, Sink, SourceConfig, TopicSpec } from '../types.js';
import { Batcher, DeliveryTracker } from './batcher.js';
import { toDeadLetter, UNROUTED_TOPIC } from './deadLetters.js';
import { buildEnvelope } from './envelope.js';
import { ResilientHttp } from './http.js';
import { StorePluginCache } from './pluginCache.js';
import { buildResilience, codeOf, type SourceResilience } from './resilience.js';
import { backfillChunks, chunkId, describeSchedule, runChunks, runPolling, sleep, type Chunk, type PollingSchedule } from './scheduler.js';
import { CycleScope, runInScope } from './scope.js';
import { checkpointIdsOf, groupCheckpointId, RESERVED_PREFIX, ShardedState, shardId, SourceState } from './sourceState.js';
import { WorkGroup, type WorkGroupOptions } from '../../workers/group.js';

/** The checkpoint key under which a unit's backfill progress is kept. */
export const BACKFILL_KEY = `${RESERVED_PREFIX}backfill`;

/** Backfill progress as kept in a checkpoint. */
export interface BackfillProgress {
  from: number;
  to: number;
  chunkMs: number;
  /** Ids (`"<start>-<end>"`) of the chunks whose records were acknowledged. */
  done: string[];
}

/** A source's plugin, as `resolvePipeline` returns it (`ResolvedSource`). */
export interface SourcePlugin {
  plugin: TributaryPlugin;
  /**
   * The plugin's options, already checked by its `configSchema`. When the key is absent, the
   * source's `config` is parsed here with the plugin's `configSchema`.
   */
  config?: unknown;
  /**
   * The source's streams (`resolvePipeline` puts them here). When absent, they are
   * `plugin.streamsFor(config)` when the plugin has it, else `plugin.streams`.
   */
  streams?: Record<string, StreamDefinition>;
}

/** Options of {@link PipelineRunner}. */
export interface PipelineRunnerOptions {
  /** The validated pipeline, with its streams resolved (`resolvePipeline(...).config`). */
  pipeline: PipelineConfig;
  /** The plugin of each enabled source, by source id (`resolvePipeline(...).plugins`). */
  plugins: Readonly<Record<string, SourcePlugin>> | ReadonlyMap<string, SourcePlugin>;
  /** Where envelopes go. Default: `createSink(pipeline.sink)`. */
  sink?: Sink;
  /**
   * Where checkpoints live. Default: with a sink that keeps them itself (the Kafka sink: the
   * compacted topic `_tributary_offsets`), there; otherwise a `FileCheckpointStore` in
   * `pipeline.stateDir`.
   */
  checkpoints?: CheckpointStore;
  /** Root logger. Default: `createLogger({ secrets: pipeline.secrets })` (stderr). */
  logger?: Logger;
  /** Metrics registry (also `ctx.metrics`). Default: a new registry per runner. */
  registry?: Registry;
  /** Instrumentation events. Default: a new bus. */
  events?: InstrumentationEvents;
  /** Run one cycle per source (backfills: their window, without `then`), then stop. Default `false`. */
  once?: boolean;
  /**
   * Run exactly this many cycles per source back to back, ignoring the schedule's timing (testkit).
   * Backfill schedules still cover their window chunk by chunk. Default: follow the schedule.
   */
  cycles?: number;
  /** The window handed to every cycle of a non-backfill schedule (testkit). Default none. */
  window?: { start: number; end: number };
  /** Bypass caches (`--force-refresh`). Default `false`. */
  forceRefresh?: boolean;
  /** Serve `/metrics` and `/healthz`: `false`, or overrides of `pipeline.metrics`. Default: `pipeline.metrics`. */
  metrics?: false | { host?: string; port?: number };
  /** Batching to the sink. Defaults: the Kafka sink's `batch`/`buffer` when configured, else 500 records, 50 ms, 10 000 buffered. */
  batch?: { maxRecords?: number; lingerMs?: number; capacity?: number };
  /** Extra options of each source's HTTP client (timeouts, pool size, `baseUrl`). */
  http?: Omit<HttpClientOptions, 'source' | 'secrets' | 'logger' | 'metrics'>;
  /** Send every absolute request URL to this origin instead (testkit). Default none. */
  rewriteOrigin?: string;
  /** RxJS scheduler of the resilience operators. Default `asyncScheduler`. */
  scheduler?: SchedulerLike;
  /** Randomness for schedule jitter. Default `Math.random`. */
  random?: () => number;
  /**
   * Worker mode (`tributary run --worker`): run only the units of work (sources, groups, streams)
   * that the worker group assigns to this process, and hand them over on rebalances. Needs the
   * Kafka sink (the group lives in its cluster). Default: run every unit here.
   */
  worker?: WorkerModeOptions;
}

/** Options of worker mode (see {@link PipelineRunnerOptions.worker} and docs/scaling.md). */
export interface WorkerModeOptions {
  /** This worker's id, unique in the group (shown on the status page and in logs). */
  id: string;
  /** Builds the group membership. Default: a {@link WorkGroup} on the Kafka sink's cluster. */
  createGroup?: (options: WorkGroupOptions) => { start(): Promise<void>; stop(): Promise<void> };
}

type Route = { topic: string; keyField: string | undefined; type: Type; schemaName: string };

interface SourceRuntime {
  id: string;
  config: SourceConfig;
  plugin: TributaryPlugin;
  /** The source's streams (static, or from the plugin's `streamsFor`). */
  streams: Record<string, StreamDefinition>;
  log: Logger;
  state: SourceState;
  /** For a source split into shards: each shard's state (checkpoint `<source>#<shard>`). */
  shardStates: SourceState[];
  resilience: SourceResilience;
  client: HttpClient;
  collector: Collector | undefined;
  routes: Map<string, Route>;
  ready: Promise<void>;
}

interface Unit {
  id: string;
  kind: 'source' | 'group';
  schedule: Schedule;
  log: Logger;
  /** For a shard of a source: which one. */
  shard?: { index: number; count: number };
  /** What the unit's cycles commit under: checkpoint ids, which are also its transactions under exactly-once. */
  checkpointIds: string[];
  /** Reads the unit's checkpoints again (worker mode, when the unit arrives here). */
  reload(): Promise<void>;
  /** Runs one cycle; resolves true on success. Never throws. */
  cycle(info: CycleRequest, onSuccess?: () => Record<string, unknown>): Promise<boolean>;
  /** Commits runtime keys (backfill progress) for a group (sources commit them with the cycle). */
  loadProgress(): Promise<BackfillProgress | undefined>;
}

type Outcome = 'success' | 'error' | 'cancelled';

/** A cycle to run: its number, its window, and what cancels it (default: the runner's shutdown). */
interface CycleRequest {
  cycle: number;
  window?: Chunk | undefined;
  cancel?: AbortSignal;
  shard?: { index: number; count: number } | undefined;
}

/** What stops a unit's schedule (no new cycles) and what cancels its running cycle. */
interface UnitSignals {
  stop: AbortSignal;
  cancel: AbortSignal;
}

/**
 * Runs a pipeline: schedules its sources, wraps their calls in the resilience stack, turns records
 * into envelopes, validates them, batches them to the sink and commits checkpoints.
 *
 * - Each source (or group) runs its schedule in its own loop; sources run in parallel, cycles of
 *   one source never overlap. Backfills split their window into chunks run `concurrency` at a
 *   time; finished chunks are recorded in the source's checkpoint so a restart resumes.
 * - Every `ctx.http` call goes through the source's resilience stack (see `buildResilience`).
 * - Every record becomes an envelope with provenance headers; a record that does not fit its
 *   stream's Avro schema becomes a dead letter (`sink.writeDeadLetters`) and is counted.
 * - A cycle's checkpoint writes (`ctx.state.set`) are committed only after the sink acknowledged
 *   all of the cycle's records; a failed or cancelled cycle commits nothing.
 * - `stop()` stops scheduling, lets running cycles finish (at most `shutdown.timeoutMs`, then
 *   aborts them), drains the buffer, flushes and closes the sink. A sink write that fails stops
 *   the pipeline (outcome `failed`).
 *
 * @example
 * ```ts
 * import { loadPipeline, resolvePipeline, PipelineRunner } from '@tributary/core';
 * const { config, plugins } = await resolvePipeline(await loadPipeline('pipeline.yaml'));
 * const runner = new PipelineRunner({ pipeline: config, plugins, once: true });
 * const summary = await runner.run();
 * console.log(summary.totals.records);
 * ```
 */
export class PipelineRunner {
  readonly events: InstrumentationEvents;
  readonly registry: Registry;
  readonly logger: Logger;
  readonly pipeline: PipelineConfig;
  private readonly options: PipelineRunnerOptions;
  private readonly scrub: (text: string) => string;
  private readonly summaryCollector: RunSummaryCollector;
  private sink: Sink | undefined;
  private checkpoints: CheckpointStore | undefined;
  private batcher: Batcher | undefined;
  private readonly sources = new Map<string, SourceRuntime>();
  private readonly units: Unit[] = [];
  private readonly stopController = new AbortController();
  private readonly cancelController = new AbortController();
  private readonly streamSubscriptions: Subscription[] = [];
  private metricsServer: MetricsServer | undefined;
  private statusBoard: StatusBoard | undefined;
  private status: HealthReport['status'] = 'starting';
  private outcome: RunSummary['outcome'] = 'completed';
  private stopReason: 'completed' | 'signal' | 'error' = 'completed';
  private started: Promise<void> | undefined;
  private finished: Promise<RunSummary> | undefined;
  private fatal: unknown;
  private dlqQueue: Promise<void> = Promise.resolve();
  private readonly lastCycle = new Map<string, { at: number; outcome: Outcome }>();
  private workGroup: { start(): Promise<void>; stop(): Promise<void> } | undefined;
  /** Worker mode: the units running here, with what stops them. */
  private readonly running = new Map<string, { stop: AbortController; cancel: AbortController; done: Promise<void>; unlink: () => void }>();
  private readonly metrics: {
    cycleDuration: ReturnType<typeof histogram<'source' | 'outcome'>>;
    records: ReturnType<typeof counter<'source' | 'topic'>>;
    errors: ReturnType<typeof counter<'source' | 'code'>>;
    deadLetters: ReturnType<typeof counter<'source' | 'topic' | 'code'>>;
    batches: ReturnType<typeof counter<'sink' | 'outcome'>>;
    batchDuration: ReturnType<typeof histogram<'sink'>>;
    buffered: ReturnType<typeof gauge<never>>;
    inFlight: ReturnType<typeof gauge<'source'>>;
    backfill: ReturnType<typeof gauge<'source' | 'state'>>;
  };

  constructor(options: PipelineRunnerOptions) {
    this.options = options;
    this.pipeline = options.pipeline;
    this.scrub = secretScrubber(this.pipeline.secrets);
    this.registry = options.registry ?? new Registry();
    this.events = options.events ?? new InstrumentationEvents();
    this.logger = options.logger ?? createLogger({ secrets: this.pipeline.secrets });
    const enabled = Object.values(this.pipeline.sources).filter((s) => s.enabled);
    this.summaryCollector = new RunSummaryCollector(this.events, { pipeline: this.pipeline.name, sources: enabled.map((s) => s.id) });
    const r = this.registry;
    this.metrics = {
      cycleDuration: histogram(r, {
        name: 'tributary_cycle_duration_seconds',
        help: 'Duration of collector cycles, by source (or group) and outcome (success, error, cancelled).',
        labelNames: ['source', 'outcome'] as const,
        buckets: DURATION_BUCKETS,
      }),
      records: counter(r, { name: 'tributary_records_total', help: 'Records acknowledged by the sink, by source and topic.', labelNames: ['source', 'topic'] as const }),
      errors: counter(r, { name: 'tributary_errors_total', help: 'Failed cycles and source errors, by source and error code.', labelNames: ['source', 'code'] as const }),
      deadLetters: counter(r, {
        name: 'tributary_dead_letters_total',
        help: 'Records dead-lettered (schema mismatch, unknown stream), by source, topic and code.',
        labelNames: ['source', 'topic', 'code'] as const,
      }),
      batches: counter(r, { name: 'tributary_sink_batches_total', help: 'Batches written to the sink, by sink and outcome.', labelNames: ['sink', 'outcome'] as const }),
      batchDuration: histogram(r, {
        name: 'tributary_sink_write_duration_seconds',
        help: 'Duration of sink writes, by sink.',
        labelNames: ['sink'] as const,
        buckets: DURATION_BUCKETS,
      }),
      buffered: gauge(r, { name: 'tributary_sink_buffer_records', help: 'Records waiting in the buffer in front of the sink.' }),
      inFlight: gauge(r, { name: 'tributary_cycles_in_flight', help: 'Cycles running now, by source (or group).', labelNames: ['source'] as const }),
      backfill: gauge(r, { name: 'tributary_backfill_chunks', help: 'Backfill chunks of a source, by state (done, total).', labelNames: ['source', 'state'] as const }),
    };
  }

  /** The URL of the metrics server, once started (when enabled). */
  get metricsUrl(): string | undefined {
    return this.metricsServer?.url;
  }

  /** The `/healthz` report: `ok` while running, with the last cycle of each source. */
  health(): HealthReport {
    const sources: Record<string, unknown> = {};
    for (const [id, last] of this.lastCycle) sources[id] = { lastCycleAt: new Date(last.at).toISOString(), lastOutcome: last.outcome };
    for (const [id, s] of this.sources) if (s.resilience.breaker) ((sources[id] ??= {}) as Record<string, unknown>).breaker = s.resilience.breaker.state;
    return {
      status: this.status,
      pipeline: this.pipeline.name,
      ...(this.options.worker ? { worker: { id: this.options.worker.id, units: [...this.running.keys()].sort() } } : {}),
      sources,
    };
  }

  /** The run summary so far. */
  summary(): RunSummary {
    return this.summaryCollector.snapshot(this.outcome);
  }

  /** Runs the pipeline until every schedule ended or `stop()` was called; resolves with the summary. */
  async run(): Promise<RunSummary> {
    await this.start();
    return this.finished!;
  }

  /**
   * Prepares everything and starts the schedules: checks routes and schemas, starts the sink,
   * loads checkpoints, creates the collectors, starts the metrics server. Throws a `ConfigError`
   * for problems found before anything ran (a plugin's options, a stream without route).
   */
  start(): Promise<void> {
    this.started ??= this.doStart();
    return this.started;
  }

  /**
   * Stops gracefully: no new cycles, running ones finish within `shutdown.timeoutMs` (then they are
   * aborted through their `AbortSignal`), the buffer is drained, the sink flushed and closed.
   * Resolves with the summary. Calling it again returns the same promise.
   */
  async stop(signal?: string): Promise<RunSummary> {
    if (!this.stopController.signal.aborted) {
      if (signal) {
        this.stopReason = 'signal';
        if (this.outcome === 'completed') this.outcome = 'interrupted';
      }
      this.status = 'stopping';
      const timeoutMs = this.pipeline.shutdown.timeoutMs;
      this.events.emit('pipeline.shutdown', { ...(signal ? { signal } : {}), timeoutMs });
      this.logger.info({ signal, timeoutMs }, 'shutting down: no new cycles; waiting for running cycles');
      this.stopController.abort();
      for (const s of this.streamSubscriptions.splice(0)) s.unsubscribe();
      const timer = setTimeout(() => {
        if (!this.cancelController.signal.aborted) {
          this.logger.warn({ timeoutMs }, 'shutdown timeout: aborting running cycles');
          this.cancelController.abort(new NonRetriableError('cycle cancelled by shutdown', { code: 'ERR_CANCELLED' }));
        }
      }, timeoutMs);
      timer.unref();
      void this.finished?.finally(() => clearTimeout(timer));
    }
    if (!this.started) {
      this.status = 'stopping';
      return this.summaryCollector.snapshot(this.outcome);
    }
    await this.started.catch(() => undefined);
    return this.finished ?? this.summaryCollector.snapshot(this.outcome);
  }

  /** Aborts running cycles at once (a second signal); `stop()`'s promise still resolves. */
  abort(): void {
    this.stopController.abort();
    this.cancelController.abort(new NonRetriableError('cycle cancelled', { code: 'ERR_CANCELLED' }));
  }

  // ------------------------------------------------------------------------------------------
  // start-up

  private async doStart(): Promise<void> {
    const { pipeline } = this;
    if (this.options.worker) {
      if (this.options.once || this.options.cycles !== undefined) {
        throw new NonRetriableError('worker mode follows the schedules; it cannot be combined with --once or a cycle count', { code: 'ERR_WORKERS' });
      }
      if (pipeline.sink.type !== 'kafka' && !this.options.worker.createGroup) {
        throw new ConfigError(pipeline.file, [{ path: 'sink.type', message: `worker mode needs the Kafka sink (workers coordinate through its cluster); this pipeline writes to ${pipeline.sink.type}` }]);
      }
    }
    const plugins = toMap(this.options.plugins);
    const issues: ConfigIssue[] = [];
    const topicSpecs: TopicSpec[] = [];
    const prepared: { config: SourceConfig; plugin: TributaryPlugin; options: unknown; streams: Record<string, StreamDefinition>; routes: Map<string, Route> }[] = [];
    for (const config of Object.values(pipeline.sources)) {
      if (!config.enabled) continue;
      const entry = plugins.get(config.id);
      if (!entry) {
        issues.push({ path: `sources.${config.id}.plugin`, message: `no plugin was resolved for source "${config.id}" (${config.plugin})` });
        continue;
      }
      const { plugin } = entry;
      let options = entry.config;
      if (!('config' in entry)) {
        const parsed = plugin.configSchema.safeParse(config.config ?? {});
        if (!parsed.success) {
          for (const issue of parsed.error.issues) {
            issues.push({ path: ['sources', config.id, 'config', ...issue.path.map(String)].join('.'), message: this.scrub(issue.message) });
          }
          continue;
        }
        options = parsed.data;
      }
      let streams = entry.streams;
      if (!streams) {
        const derived = streamsOf(plugin, options);
        if (derived.problems.length > 0) {
          for (const problem of derived.problems) issues.push({ path: `sources.${config.id}.config`, message: this.scrub(problem) });
          continue;
        }
        streams = derived.streams;
      }
      const routes = new Map<string, Route>();
      for (const [stream, route] of Object.entries(config.streams)) {
        const def = Object.hasOwn(streams, stream) ? streams[stream] : undefined;
        if (!def) {
          issues.push({
            path: `sources.${config.id}.streams.${stream}`,
            message: `plugin "${plugin.name}" has no stream "${stream}" (streams: ${Object.keys(streams).join(', ') || 'none'})`,
          });
          continue;
        }
        let type: Type;
        try {
          type = compileSchema(def.schema as AvroSchema);
        } catch (err) {
          issues.push({ path: `sources.${config.id}.streams.${stream}`, message: `the Avro schema of stream "${stream}" of plugin "${plugin.name}" is invalid: ${(err as Error).message}` });
          continue;
        }
        const keyField = route.key ?? def.key;
        routes.set(stream, { topic: route.topic, keyField, type, schemaName: type.name ?? stream });
        topicSpecs.push({ topic: route.topic, schema: def.schema, source: config.id, stream });
      }
      if (config.shards > 1) {
        const backfillOnly = config.schedule.kind === 'backfill' && !config.schedule.then;
        const grouped = Object.values(pipeline.groups).find((g) => g.sources.includes(config.id));
        if (grouped) issues.push({ path: `sources.${config.id}.shards`, message: `source "${config.id}" runs in group "${grouped.id}"; a group member cannot be split into shards` });
        else if (!backfillOnly && plugin.shards !== true) {
          issues.push({
            path: `sources.${config.id}.shards`,
            message: `plugin "${plugin.name}" does not split its work into shards (it does not declare shards: true); only a backfill without "then" can be sharded (by chunk) with this plugin`,
          });
        }
      }
      prepared.push({ config, plugin, options, streams, routes });
    }
    if (issues.length > 0) throw new ConfigError(pipeline.file, issues);
    this.statusBoard = new StatusBoard({
      events: this.events,
      pipeline: pipeline.name,
      units: statusUnits(pipeline, prepared.map((p) => ({ id: p.config.id, plugin: p.plugin.name }))),
      ...(this.options.worker ? { worker: this.options.worker.id } : {}),
    });

    this.sink = this.options.sink ?? (await createSink(pipeline.sink, { logger: this.logger.child({ sink: pipeline.sink.type }), registry: this.registry, compile: (s) => compileSchema(s as AvroSchema), secrets: pipeline.secrets }));
    await this.sink.start(topicSpecs);
    this.checkpoints = this.options.checkpoints ?? defaultCheckpoints(this.sink, pipeline);
    this.logger.debug({ store: this.checkpoints.name }, 'checkpoint store chosen');
    const kafka = pipeline.sink.type === 'kafka' ? pipeline.sink : undefined;
    const sinkName = this.sink.name;
    this.batcher = new Batcher({
      sink: this.sink,
      maxRecords: this.options.batch?.maxRecords ?? kafka?.batch.maxRecords ?? 500,
      lingerMs: this.options.batch?.lingerMs ?? kafka?.batch.lingerMs ?? 50,
      capacity: this.options.batch?.capacity ?? kafka?.buffer.maxRecords ?? 10_000,
      onBatch: (report) => {
        this.metrics.batches.inc({ sink: sinkName, outcome: report.outcome });
        this.metrics.batchDuration.observe({ sink: sinkName }, report.durationMs / 1000);
        this.metrics.buffered.set(this.batcher?.buffered ?? 0);
        const topics: Record<string, number> = {};
        for (const c of report.counts.values()) topics[c.topic] = (topics[c.topic] ?? 0) + c.count;
        this.events.emit('sink.batch', { sink: sinkName, records: report.records, durationMs: report.durationMs, outcome: report.outcome, topics });
        if (report.outcome === 'success') {
          for (const c of report.counts.values()) {
            this.metrics.records.inc({ source: c.source, topic: c.topic }, c.count);
            this.events.emit('records.delivered', { source: c.source, topic: c.topic, count: c.count });
          }
        } else {
          this.onFatal(report.error, 'sink write failed');
        }
      },
    });

    // Exactly-once: take every transactional id over before reading the cursors, so that another
    // runner of the same sources still writing is fenced first and cannot commit a cycle after
    // this one read where to start (worker mode does this per unit as it arrives).
    const claiming = this.sink as Partial<ClaimingSink & TransactionalSink>;
    if (!this.options.worker && claiming.exactlyOnce === true && typeof claiming.claimSource === 'function') {
      const ids = prepared.flatMap((p) => checkpointIdsOf(p.config.id, p.config.shards));
      for (const group of Object.values(pipeline.groups)) ids.push(groupCheckpointId(group.id));
      try {
        await Promise.all(ids.map((id) => claiming.claimSource!(id)));
      } catch (err) {
        await this.teardown();
        throw err;
      }
    }

    // collectors
    for (const p of prepared) this.sources.set(p.config.id, this.createSourceRuntime(p.config, p.plugin, p.options, p.streams, p.routes));
    try {
      await Promise.all([...this.sources.values()].map((s) => s.ready));
    } catch (err) {
      await this.teardown();
      throw err;
    }

    // metrics server
    const metricsCfg = this.options.metrics === false ? undefined : { ...pipeline.metrics, ...(this.options.metrics ?? {}) };
    if (metricsCfg && (this.options.metrics !== undefined || metricsCfg.enabled)) {
      try {
        this.metricsServer = await startMetricsServer({ registry: this.registry, host: metricsCfg.host, port: metricsCfg.port, health: () => this.health(), status: this.statusBoard });
        this.logger.info({ url: `${this.metricsServer.url}/metrics` }, `metrics at ${this.metricsServer.url}/metrics, health at ${this.metricsServer.url}/healthz, status page at ${this.metricsServer.url}/`);
      } catch (err) {
        await this.teardown();
        throw new NonRetriableError(`cannot serve metrics on ${metricsCfg.host}:${metricsCfg.port}: ${(err as Error).message}`, { code: 'ERR_METRICS_SERVER', cause: err });
      }
    }

    // units
    const members = new Set<string>();
    const streamOnly = Object.values(pipeline.groups).flatMap((g) =>
      g.sources.filter((id) => this.sources.get(id) && typeof this.sources.get(id)!.collector?.collect !== 'function').map((id) => ({ g, id })),
    );
    if (streamOnly.length > 0) {
      await this.teardown();
      throw new ConfigError(
        pipeline.file,
        streamOnly.map(({ g, id }) => ({
          path: `groups.${g.id}.sources`,
          message: `source "${id}" (plugin "${this.sources.get(id)!.plugin.name}") only streams (no collect()), so it cannot run in a group; remove it from the group`,
        })),
      );
    }
    const shardedStreams = [...this.sources.values()].filter((rt) => rt.shardStates.length > 0 && typeof rt.collector?.collect !== 'function');
    if (shardedStreams.length > 0) {
      await this.teardown();
      throw new ConfigError(
        pipeline.file,
        shardedStreams.map((rt) => ({ path: `sources.${rt.id}.shards`, message: `source "${rt.id}" (plugin "${rt.plugin.name}") only streams (no collect()), so it cannot be split into shards` })),
      );
    }
    for (const group of Object.values(pipeline.groups)) {
      const live = group.sources.filter((id) => this.sources.has(id));
      for (const id of live) members.add(id);
      if (live.length > 0) this.units.push(this.groupUnit(group, live.map((id) => this.sources.get(id)!)));
    }
    const streamUnits: SourceRuntime[] = [];
    for (const rt of this.sources.values()) {
      if (members.has(rt.id)) continue;
      if (!rt.collector?.collect && rt.collector?.stream) {
        if (this.options.worker) {
          streamUnits.push(rt);
          continue;
        }
        if (this.options.once || this.options.cycles !== undefined) {
          rt.log.warn('this source streams continuously (no collect()); it is not started in a run of single cycles (--once)');
          continue;
        }
        this.startStream(rt);
        continue;
      }
      if (rt.shardStates.length > 0) rt.shardStates.forEach((_, k) => this.units.push(this.sourceUnit(rt, k)));
      else this.units.push(this.sourceUnit(rt));
    }

    if (this.options.worker) {
      try {
        await this.startWorker(this.options.worker, streamUnits);
      } catch (err) {
        await this.workGroup?.stop().catch(() => undefined);
        await this.teardown();
        throw err;
      }
      this.status = 'ok';
      this.events.emit('pipeline.start', { pipeline: pipeline.name, sources: [...this.sources.keys()] });
      this.logger.info({ pipeline: pipeline.name, worker: this.options.worker.id, sink: this.sink.name }, 'worker started; running the units the group assigns');
      const stopped = new Promise<void>((resolve) => {
        if (this.stopController.signal.aborted) resolve();
        else this.stopController.signal.addEventListener('abort', () => resolve(), { once: true });
      });
      this.finished = stopped
        .then(() => this.workGroup!.stop())
        .catch((err: unknown) => this.logger.error({ err }, 'leaving the worker group failed'))
        .then(() => this.finish());
      return;
    }
    this.status = 'ok';
    this.events.emit('pipeline.start', { pipeline: pipeline.name, sources: [...this.sources.keys()] });
    this.logger.info({ pipeline: pipeline.name, sources: [...this.sources.keys()], sink: this.sink.name }, 'pipeline started');
    const loops = Promise.all([...this.units.map((u) => this.runUnit(u)), ...this.streamDone]);
    this.finished = loops.then(() => this.finish());
  }

  private streamDone: Promise<void>[] = [];

  /**
   * Worker mode: joins the group. Each unit the group assigns here is claimed (with exactly-once,
   * its transactional producers fence the previous owner's), its cursors are read again from
   * Kafka, and its schedule starts; a unit taken away stops scheduling, its running cycle finishes
   * (at most `shutdown.timeoutMs`, then it is cancelled) and it is released.
   */
  private async startWorker(worker: WorkerModeOptions, streams: SourceRuntime[]): Promise<void> {
    // `claims`: the unit's checkpoint ids, which are also its transactions under exactly-once
    const runners = new Map<string, { claims: string[]; reload: () => Promise<void>; run: (signals: UnitSignals) => Promise<void> }>();
    for (const u of this.units) runners.set(u.id, { claims: u.checkpointIds, reload: () => u.reload(), run: (signals) => this.runUnit(u, signals) });
    for (const rt of streams) runners.set(rt.id, { claims: [rt.id], reload: () => rt.state.load(), run: (signals) => this.runStream(rt, signals.stop) });
    const sink = this.sink as Partial<ClaimingSink>;
    const log = this.logger.child({ worker: worker.id });
    const link = (from: AbortSignal, to: AbortController): (() => void) => {
      const forward = (): void => to.abort(from.reason);
      if (from.aborted) forward();
      else from.addEventListener('abort', forward, { once: true });
      return () => from.removeEventListener('abort', forward);
    };
    const hooks: WorkGroupOptions['hooks'] = {
      acquire: async (id) => {
        const unit = runners.get(id);
        if (!unit || this.running.has(id)) return;
        for (const id of unit.claims) await sink.claimSource?.(id);
        await this.checkpoints!.refresh?.(unit.claims);
        await unit.reload();
        const stop = new AbortController();
        const cancel = new AbortController();
        const unlinks = [link(this.stopController.signal, stop), link(this.cancelController.signal, cancel)];
        const done = unit.run({ stop: stop.signal, cancel: cancel.signal }).catch((err: unknown) => log.error({ err, unit: id }, 'unit failed'));
        this.running.set(id, { stop, cancel, done, unlink: () => unlinks.forEach((u) => u()) });
      },
      release: async (id) => {
        const run = this.running.get(id);
        if (!run) return;
        run.stop.abort();
        if (!(await withTimeout(run.done, this.pipeline.shutdown.timeoutMs))) {
          log.warn({ unit: id, timeoutMs: this.pipeline.shutdown.timeoutMs }, 'the unit\'s cycle did not finish in time; cancelling it');
          run.cancel.abort(new NonRetriableError('cycle cancelled: the unit moves to another worker', { code: 'ERR_CANCELLED' }));
          await run.done;
        }
        run.unlink();
        this.running.delete(id);
        for (const claim of runners.get(id)?.claims ?? []) await sink.releaseSource?.(claim);
      },
    };
    const kafka = this.pipeline.sink.type === 'kafka' ? this.pipeline.sink : undefined;
    const options: WorkGroupOptions = {
      connection: {
        brokers: kafka ? [...kafka.brokers] : [],
        clientId: kafka?.clientId ?? 'tributary',
        ...(kafka?.sasl ? { sasl: { ...kafka.sasl } } : {}),
        ...(kafka?.ssl !== undefined ? { ssl: kafka.ssl } : {}),
      },
      pipeline: this.pipeline.name,
      worker: worker.id,
      units: [...runners.keys()].sort(),
      config: this.pipeline.workers,
      replicationFactor: Math.max(1, ...Object.values(kafka?.topics ?? {}).map((t) => t?.replicationFactor ?? 1)),
      hooks,
      logger: log,
      onAssignment: (a) => this.events.emit('worker.assignment', { worker: worker.id, units: [...a.units].sort(), owners: a.owners, members: a.members }),
      onError: (err) => this.onFatal(err, 'the worker group failed'),
    };
    this.workGroup = worker.createGroup ? worker.createGroup(options) : new WorkGroup(options);
    await this.workGroup.start();
  }

  private createSourceRuntime(config: SourceConfig, plugin: TributaryPlugin, options: unknown, streams: Record<string, StreamDefinition>, routes: Map<string, Route>): SourceRuntime {
    const log = this.logger.child({ source: config.id });
    const resilience = buildResilience(config.id, config.resilience, {
      registry: this.registry,
      events: this.events,
      log,
      ...(this.options.scheduler ? { scheduler: this.options.scheduler } : {}),
    });
    if (resilience.breaker) this.summaryCollector.setBreakerState(config.id, resilience.breaker.state);
    // The client adds `source` to its own log lines, so it gets the root logger.
    const client = new HttpClient({ ...(this.options.http ?? {}), source: config.id, secrets: this.pipeline.secrets, logger: this.logger, metrics: this.registry });
    const forceRefresh = this.options.forceRefresh ?? false;
    const state = new SourceState(config.id, this.checkpoints!, () => this.batcher!.drain(), (values) => this.events.emit('checkpoint.committed', { source: config.id, values }));
    const shardStates = Array.from({ length: config.shards > 1 ? config.shards : 0 }, (_, k) => {
      const id = shardId(config.id, k);
      return new SourceState(config.id, this.checkpoints!, () => this.batcher!.drain(), (values) => this.events.emit('checkpoint.committed', { source: id, values }), id);
    });
    const http = new ResilientHttp({ source: config.id, client, resilience, forceRefresh, secrets: this.pipeline.secrets, rewriteOrigin: this.options.rewriteOrigin });
    const ctx: PluginContext = {
      source: config.id,
      http,
      log,
      metrics: this.registry,
      cache: new StorePluginCache(resilience.store, { forceRefresh }),
      state: shardStates.length > 0 ? new ShardedState(state, shardStates) : state,
      signal: this.cancelController.signal,
      secrets: this.pipeline.secrets,
    };
    const rt: SourceRuntime = { id: config.id, config, plugin, streams, log, state, shardStates, resilience, client, collector: undefined, routes, ready: Promise.resolve() };
    rt.ready = (async () => {
      await state.load();
      for (const s of shardStates) await s.load();
      let collector: Collector;
      try {
        collector = await plugin.create(options, ctx);
      } catch (err) {
        throw new NonRetriableError(`plugin "${plugin.name}" of source "${config.id}" failed to start: ${this.scrub((err as Error)?.message ?? String(err))}`, {
          code: 'ERR_PLUGIN_CREATE',
          cause: err,
        });
      }
      if (!collector || (typeof collector.collect !== 'function' && typeof collector.stream !== 'function')) {
        throw new NonRetriableError(`plugin "${plugin.name}" of source "${config.id}": create() must return a collector with collect() or stream()`, {
          code: 'ERR_PLUGIN_CREATE',
        });
      }
      rt.collector = collector;
    })();
    return rt;
  }

  // ------------------------------------------------------------------------------------------
  // units and cycles

  /** The unit of a source, or of one of its shards (`<source>#<index>`). */
  private sourceUnit(rt: SourceRuntime, shardIndex?: number): Unit {
    const state = shardIndex === undefined ? rt.state : rt.shardStates[shardIndex]!;
    const id = shardIndex === undefined ? rt.id : shardId(rt.id, shardIndex);
    const shard = shardIndex === undefined ? undefined : { index: shardIndex, count: rt.shardStates.length };
    const log = shard ? rt.log.child({ shard: shard.index }) : rt.log;
    return {
      id,
      kind: 'source',
      ...(shard ? { shard } : {}),
      checkpointIds: [state.checkpointId],
      reload: () => state.load(),
      schedule: rt.config.schedule,
      log,
      loadProgress: async () => state.committedValue(BACKFILL_KEY) as BackfillProgress | undefined,
      cycle: (info, onSuccess) =>
        this.runCycle(id, undefined, log, { ...info, shard }, (scope) => {
          const ci = this.cycleInfo({ ...info, shard }, scope);
          return runInScope(scope, () => rt.collector!.collect!(ci)).pipe(map((record) => ({ rt, record })));
        }, async (scope, succeeded, complete) => {
          if (complete && succeeded.has(rt.id)) await state.commit(scope.has(rt.id) ? scope.of(rt.id) : undefined, onSuccess?.() ?? {});
        }, [rt.id], [state.checkpointId]),
    };
  }

  private groupUnit(group: GroupConfig, members: SourceRuntime[]): Unit {
    const log = this.logger.child({ group: group.id });
    const progressKey = groupCheckpointId(group.id);
    return {
      id: group.id,
      kind: 'group',
      checkpointIds: [...members.map((m) => m.id), progressKey],
      reload: async () => {
        for (const m of members) await m.state.load();
      },
      schedule: group.schedule,
      log,
      loadProgress: async () => {
        // read each time: in worker mode the group may have run elsewhere since
        const progress = await this.checkpoints!.load(progressKey);
        return progress[BACKFILL_KEY] as BackfillProgress | undefined;
      },
      cycle: (info, onSuccess) =>
        this.runCycle(group.id, group.id, log, info, (scope, succeeded) => {
          const ci = this.cycleInfo(info, scope);
          const streams: Record<string, Observable<{ rt: SourceRuntime; record: StreamRecord }>> = {};
          for (const m of members) {
            streams[m.id] = defer(() => runInScope(scope, () => m.collector!.collect!(ci))).pipe(map((record) => ({ rt: m, record })));
          }
          const onSourceError = ({ source, error }: { source: string; error: unknown }): void => {
            const code = codeOf(error);
            this.metrics.errors.inc({ source, code });
            this.events.emit('collector.error', { source, code, message: this.scrub(errorMessage(error)) });
            this.sources.get(source)?.log.warn({ err: error, group: group.id }, 'group member failed');
          };
          if (group.mode === 'first-available') {
            return firstAvailable(streams, {
              buffer: true,
              onFallback: ({ source, error }) => onSourceError({ source, error }),
              onServed: ({ source }) => succeeded.add(source),
            }) as Observable<{ rt: SourceRuntime; record: StreamRecord }>;
          }
          const required = group.mode === 'quorum' ? (group.quorum ?? Math.floor(members.length / 2) + 1) : 1;
          return mergeSources(streams, {
            minSuccesses: Math.min(required, members.length),
            onSourceError,
            onComplete: ({ succeeded: ok }) => ok.forEach((s) => succeeded.add(s)),
          }).pipe(map(({ value }) => value as { rt: SourceRuntime; record: StreamRecord }));
        }, async (scope, succeeded, complete) => {
          for (const m of members) {
            if (succeeded.has(m.id)) await m.state.commit(scope.has(m.id) ? scope.of(m.id) : undefined);
          }
          const extra = complete ? onSuccess?.() : undefined;
          if (extra && Object.keys(extra).length > 0) await this.checkpoints!.commit(progressKey, { set: extra, delete: [] });
        }, undefined, members.map((m) => m.id)),
    };
  }

  private cycleInfo(info: CycleRequest, scope: CycleScope): CycleInfo {
    const window = info.window ?? this.options.window;
    return {
      cycle: info.cycle,
      ...(window ? { window: { start: window.start, end: window.end } } : {}),
      forceRefresh: this.options.forceRefresh ?? false,
      signal: scope.signal!,
      ...(info.shard ? { shard: { index: info.shard.index, count: info.shard.count } } : {}),
    };
  }

  /**
   * Runs one cycle of a source or group: subscribes the records, handles each, waits for the sink
   * to acknowledge them, then commits. Never throws.
   */
  private async runCycle(
    unitId: string,
    group: string | undefined,
    log: Logger,
    info: CycleRequest,
    records$: (scope: CycleScope, succeeded: Set<string>) => Observable<{ rt: SourceRuntime; record: StreamRecord }>,
    commit: (scope: CycleScope, succeeded: Set<string>, complete: boolean) => Promise<void>,
    single: string[] | undefined,
    involved: readonly string[],
  ): Promise<boolean> {
    const controller = new AbortController();
    const cancel = info.cancel ?? this.cancelController.signal;
    const onCancel = (): void => controller.abort(cancel.reason);
    if (cancel.aborted) onCancel();
    else cancel.addEventListener('abort', onCancel, { once: true });
    const scope = new CycleScope(info.cycle, controller.signal);
    scope.shard = info.shard?.index;
    const tracker = new DeliveryTracker();
    const succeeded = new Set<string>();
    const started = Date.now();
    let count = 0;
    let outcome: Outcome = 'success';
    let error: unknown;
    this.metrics.inFlight.inc({ source: unitId });
    try {
      await consume(
        scope,
        controller.signal,
        () => records$(scope, succeeded),
        async ({ rt, record }) => {
          if (await this.handleRecord(rt, record, scope, tracker, group)) count++;
        },
      );
      if (single) single.forEach((s) => succeeded.add(s));
    } catch (err) {
      error = err;
      outcome = controller.signal.aborted ? 'cancelled' : 'error';
    }
    this.batcher!.flushSoon();
    tracker.close();
    const delivery = await tracker.settled();
    if (!delivery.ok) {
      if (outcome === 'success') error = delivery.error;
      outcome = outcome === 'cancelled' ? 'cancelled' : 'error';
      succeeded.clear();
    }
    if (outcome === 'cancelled') succeeded.clear();
    if (succeeded.size > 0 || outcome === 'success') {
      try {
        await commit(scope, succeeded, outcome === 'success');
      } catch (err) {
        log.error({ err }, 'checkpoint commit failed');
        this.onFenced(unitId, err);
        if (outcome === 'success') {
          outcome = 'error';
          error = err;
        }
      }
    }
    const transactional = this.sink as Partial<TransactionalSink> | undefined;
    if (transactional?.exactlyOnce === true && typeof transactional.commitCycle === 'function') {
      // Exactly-once: each source's records of this cycle sit in its open transaction. The
      // checkpoint commit above committed it (cursor included) when the source staged a change;
      // a source that succeeded without one commits its records here, a failed one aborts them.
      for (const source of involved) {
        const ok = outcome === 'success' || succeeded.has(source);
        try {
          if (ok) await transactional.commitCycle(source);
          else await transactional.abortCycle!(source);
        } catch (err) {
          log.error({ err, source }, ok ? 'committing the cycle\'s transaction failed' : 'aborting the cycle\'s transaction failed');
          this.onFenced(unitId, err);
          if (outcome === 'success') {
            outcome = 'error';
            error = err;
          }
        }
      }
    }
    controller.abort();
    cancel.removeEventListener('abort', onCancel);
    this.metrics.inFlight.dec({ source: unitId });
    const durationMs = Date.now() - started;
    this.metrics.cycleDuration.observe({ source: unitId, outcome }, durationMs / 1000);
    this.lastCycle.set(unitId, { at: Date.now(), outcome });
    const window = info.window;
    const payloadError = error !== undefined ? { code: codeOf(error), message: this.scrub(errorMessage(error)) } : undefined;
    if (outcome !== 'success' && error !== undefined) {
      this.metrics.errors.inc({ source: unitId, code: payloadError!.code });
      this.events.emit('collector.error', { source: unitId, code: payloadError!.code, message: payloadError!.message });
      log.warn({ err: error, cycle: info.cycle, ...(window ? { window } : {}) }, outcome === 'cancelled' ? 'cycle cancelled' : 'cycle failed');
    } else {
      log.debug({ cycle: info.cycle, records: count, durationMs, ...(window ? { window } : {}) }, 'cycle done');
    }
    this.events.emit('collector.cycle', {
      source: unitId,
      ...(group ? { group } : {}),
      cycle: info.cycle,
      durationMs,
      outcome,
      records: count,
      ...(window ? { window: { start: window.start, end: window.end } } : {}),
      ...(payloadError ? { error: payloadError } : {}),
    });
    return outcome === 'success';
  }

  /** Turns one record into an envelope (or a dead letter) and hands it on. True when it went to the sink. */
  private async handleRecord(rt: SourceRuntime, record: StreamRecord, scope: CycleScope | undefined, tracker: DeliveryTracker | undefined, group?: string): Promise<boolean> {
    const fetchedAt = Date.now();
    if (typeof record !== 'object' || record === null || typeof record.stream !== 'string') {
      await this.deadLetter(rt, UNROUTED_TOPIC, record, new NonRetriableError('collector emitted something that is not a { stream, value } record', { code: 'ERR_BAD_RECORD' }));
      return false;
    }
    const route = rt.routes.get(record.stream);
    if (!route) {
      if (Object.hasOwn(rt.streams, record.stream)) return false; // a stream the pipeline drops (streams.<name>: false)
      await this.deadLetter(
        rt,
        UNROUTED_TOPIC,
        record.value,
        new NonRetriableError(`record of unknown stream "${record.stream}" (plugin "${rt.plugin.name}" declares: ${Object.keys(rt.streams).join(', ')})`, {
          code: 'ERR_UNKNOWN_STREAM',
        }),
      );
      return false;
    }
    try {
      validateRecord(route.type, record.value, { schemaName: route.schemaName });
    } catch (err) {
      await this.deadLetter(rt, route.topic, record.value, err, scope?.shard);
      return false;
    }
    const envelope = buildEnvelope(record, {
      topic: route.topic,
      keyField: route.keyField,
      source: rt.id,
      stream: record.stream,
      plugin: { name: rt.plugin.name, version: rt.plugin.version },
      fetchedAt,
      origin: scope && scope.has(rt.id) ? scope.of(rt.id).origin : 'live',
      group,
      shard: scope?.shard,
    });
    await this.batcher!.push(envelope, tracker);
    this.metrics.buffered.set(this.batcher!.buffered);
    return true;
  }

  private async deadLetter(rt: SourceRuntime, topic: string, value: unknown, error: unknown, shard?: number): Promise<void> {
    const letter: DeadLetter = toDeadLetter({ topic, source: rt.id, value, error, scrub: this.scrub, shard });
    this.metrics.deadLetters.inc({ source: rt.id, topic, code: letter.code });
    rt.log.warn({ topic, code: letter.code, field: letter.field, reason: letter.reason }, 'record dead-lettered');
    const write = this.dlqQueue.then(() => this.sink!.writeDeadLetters([letter]));
    this.dlqQueue = write.catch(() => undefined);
    try {
      await write;
      this.events.emit('sink.dead-letters', { sink: this.sink!.name, source: rt.id, topic, code: letter.code, count: 1 });
    } catch (err) {
      rt.log.error({ err }, 'writing a dead letter failed');
      this.metrics.errors.inc({ source: rt.id, code: 'ERR_DEAD_LETTER_WRITE' });
    }
  }

  private async runUnit(unit: Unit, signals: UnitSignals = { stop: this.stopController.signal, cancel: this.cancelController.signal }): Promise<void> {
    const stop = signals.stop;
    const limit = this.options.cycles;
    let n = 0;
    const cycle = async (info: { cycle: number; window?: Chunk }, onSuccess?: () => Record<string, unknown>): Promise<boolean> => {
      n = Math.max(n, info.cycle);
      return unit.cycle({ ...info, cancel: signals.cancel }, onSuccess);
    };
    try {
      const schedule = unit.schedule;
      let then: PollingSchedule | undefined;
      if (schedule.kind === 'backfill') {
        await this.runBackfill(unit, schedule, cycle, stop);
        if (this.options.once || limit !== undefined || !schedule.then) return;
        then = schedule.then;
      } else {
        then = schedule;
      }
      if (stop.aborted) return;
      if (limit !== undefined || this.options.once) {
        // single cycles start at once, whatever the schedule's timing (a cron schedule does not wait)
        const count = limit ?? 1;
        for (let i = 0; i < count && !stop.aborted; i++) await cycle({ cycle: n + 1 });
        return;
      }
      await runPolling(then, (c) => cycle({ cycle: c }).then(() => undefined), {
        signal: stop,
        once: this.options.once ?? false,
        firstCycle: n + 1,
        ...(this.options.random ? { random: this.options.random } : {}),
      });
    } catch (err) {
      unit.log.error({ err }, 'schedule failed');
      this.metrics.errors.inc({ source: unit.id, code: codeOf(err) });
      this.events.emit('collector.error', { source: unit.id, code: codeOf(err), message: this.scrub(errorMessage(err)) });
    }
  }

  private async runBackfill(
    unit: Unit,
    schedule: Extract<Schedule, { kind: 'backfill' }>,
    cycle: (info: { cycle: number; window?: Chunk }, onSuccess?: () => Record<string, unknown>) => Promise<boolean>,
    stop: AbortSignal,
  ): Promise<void> {
    const stored = await unit.loadProgress();
    const compatible = stored && stored.from === schedule.from && stored.chunkMs === schedule.chunkMs && (schedule.to === undefined || stored.to === schedule.to);
    const to = schedule.to ?? (compatible ? stored!.to : Date.now());
    // a shard runs every count-th chunk, starting at its index
    const chunks = backfillChunks(schedule.from, to, schedule.chunkMs).filter((_, i) => !unit.shard || i % unit.shard.count === unit.shard.index);
    const done = new Set(compatible ? stored!.done : []);
    const todo = chunks.filter((c) => !done.has(chunkId(c)));
    const total = chunks.length;
    this.metrics.backfill.set({ source: unit.id, state: 'total' }, total);
    let failed = 0;
    const progress = (window?: Chunk): void => {
      this.metrics.backfill.set({ source: unit.id, state: 'done' }, done.size);
      this.events.emit('backfill.progress', { source: unit.id, done: done.size, failed, total, ...(window ? { window: { start: window.start, end: window.end } } : {}) });
    };
    if (todo.length < total) unit.log.info({ done: total - todo.length, total }, 'backfill resumes from its checkpoint');
    progress();
    let cycleNo = 0;
    const result = await runChunks({
      chunks: todo,
      // Exactly-once: one transaction per source at a time, so its chunks run one after the other.
      concurrency: (this.sink as Partial<TransactionalSink> | undefined)?.exactlyOnce === true ? 1 : schedule.concurrency,
      signal: stop,
      runChunk: async (chunk) => {
        const ok = await cycle({ cycle: ++cycleNo, window: chunk }, () => {
          done.add(chunkId(chunk));
          const value: BackfillProgress = { from: schedule.from, to, chunkMs: schedule.chunkMs, done: chunks.map(chunkId).filter((id) => done.has(id)) };
          return { [BACKFILL_KEY]: value };
        });
        if (!ok) {
          done.delete(chunkId(chunk));
          failed++;
        }
        progress(chunk);
        return ok;
      },
    });
    if (result.failed.length > 0) {
      unit.log.warn({ failed: result.failed.length, total }, 'backfill chunks failed; they are retried on the next start');
    } else if (result.skipped.length === 0) {
      unit.log.info({ total }, 'backfill done');
    }
  }

  private startStream(rt: SourceRuntime): void {
    this.streamDone.push(this.runStream(rt, this.stopController.signal));
  }

  /** Runs a streaming source until `stop` aborts (restarting it with back-off when it fails). */
  private runStream(rt: SourceRuntime, stop: AbortSignal): Promise<void> {
    const collector = rt.collector!;
    return (async () => {
      let attempt = 0;
      while (!stop.aborted) {
        const controller = new AbortController();
        const onStop = (): void => controller.abort();
        stop.addEventListener('abort', onStop, { once: true });
        const started = Date.now();
        try {
          await new Promise<void>((resolve, reject) => {
            const sub = collector
              .stream!(controller.signal)
              .pipe(concatMap((record) => from(this.handleRecord(rt, record, undefined, undefined))))
              .subscribe({ error: reject, complete: resolve });
            this.streamSubscriptions.push(sub);
            sub.add(() => resolve());
            const onStop = (): void => sub.unsubscribe();
            if (stop.aborted) onStop();
            else stop.addEventListener('abort', onStop, { once: true });
            sub.add(() => stop.removeEventListener('abort', onStop));
          });
          if (!stop.aborted) rt.log.info('stream completed');
          return;
        } catch (err) {
          attempt = Date.now() - started > 60_000 ? 1 : attempt + 1;
          const code = codeOf(err);
          this.metrics.errors.inc({ source: rt.id, code });
          this.events.emit('collector.error', { source: rt.id, code, message: this.scrub(errorMessage(err)) });
          const delay = Math.min(60_000, 1000 * 2 ** (attempt - 1));
          rt.log.warn({ err, delayMs: delay }, 'stream failed; restarting');
          await sleep(delay, stop);
        } finally {
          stop.removeEventListener('abort', onStop);
          controller.abort();
        }
      }
    })();
  }

  /**
   * A transactional producer of this runner was fenced: another runner of the same pipeline took
   * the source over. Writing on would fail every cycle, so the runner stops (exit code 1).
   */
  private onFenced(unitId: string, error: unknown): void {
    if (codeOf(error) !== 'ERR_PRODUCER_FENCED') return;
    if (this.options.worker) {
      // Another worker claimed the unit: the group moved it; this worker stops running it.
      this.logger.warn({ unit: unitId }, 'the unit was claimed by another worker (transactional producer fenced); it stops here');
      this.running.get(unitId)?.stop.abort();
      return;
    }
    this.onFatal(error, `source "${unitId}" was taken over by another runner of pipeline "${this.pipeline.name}" (transactional producer fenced)`);
  }

  private onFatal(error: unknown, what: string): void {
    if (this.fatal !== undefined) return;
    this.fatal = error ?? new Error(what);
    this.outcome = 'failed';
    this.stopReason = 'error';
    this.logger.error({ err: error }, `${what}: stopping the pipeline`);
    void this.stop();
  }

  // ------------------------------------------------------------------------------------------
  // shutdown

  private async finish(): Promise<RunSummary> {
    this.status = 'stopping';
    const deadline = this.pipeline.shutdown.timeoutMs;
    let drained = true;
    try {
      drained = await withTimeout(this.batcher!.drain(), deadline);
      if (!drained) this.logger.error({ timeoutMs: deadline }, 'the sink did not take the buffered records in time; they are lost (no checkpoint was committed for them)');
      await this.dlqQueue;
      await this.sink!.flush();
    } catch (err) {
      this.logger.error({ err }, 'flushing the sink failed');
      this.outcome = 'failed';
    }
    if (!drained) this.outcome = 'failed';
    // ctx.signal: everything is over now; plugins' own background work must stop.
    if (!this.cancelController.signal.aborted) this.cancelController.abort(new NonRetriableError('pipeline stopped', { code: 'ERR_CANCELLED' }));
    await this.teardown();
    const reason = this.outcome === 'failed' ? 'error' : this.stopReason;
    this.events.emit('pipeline.stop', { pipeline: this.pipeline.name, reason });
    this.logger.info({ reason }, 'pipeline stopped');
    this.status = this.outcome === 'failed' ? 'failed' : 'stopping';
    return this.summaryCollector.snapshot(this.outcome);
  }

  private async teardown(): Promise<void> {
    this.batcher?.dispose();
    await Promise.allSettled([...this.sources.values()].map((s) => s.state.settle()));
    for (const rt of this.sources.values()) {
      try {
        await rt.ready.catch(() => undefined);
        await rt.collector?.close?.();
      } catch (err) {
        rt.log.warn({ err }, 'collector close failed');
      }
      rt.client.destroy();
      rt.resilience.dispose();
    }
    try {
      await this.sink?.close();
    } catch (err) {
      this.logger.error({ err }, 'closing the sink failed');
      this.outcome = 'failed';
    }
    await this.checkpoints?.close?.();
    await this.metricsServer?.close();
    this.metricsServer = undefined;
    this.statusBoard?.dispose();
  }

  /** Whether the run failed (a fatal error) or any cycle failed. */
  get failed(): boolean {
    return this.outcome === 'failed';
  }
}

/**
 * Subscribes to a cycle's records inside its scope and handles them one after another
 * (back-pressure: the next record waits until the previous one was buffered). Rejects with the
 * collector's error, or with the cancellation reason when `signal` aborts.
 */
function consume<T>(scope: CycleScope, signal: AbortSignal, source: () => Observable<T>, handle: (value: T) => Promise<void>): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    let subscription: Subscription | undefined;
    const onAbort = (): void => {
      subscription?.unsubscribe();
      reject(signal.reason ?? new NonRetriableError('cycle cancelled', { code: 'ERR_CANCELLED' }));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    runInScope(scope, () => {
      try {
        subscription = defer(source)
          .pipe(concatMap((value) => from(handle(value))))
          .subscribe({
            error: (err: unknown) => {
              signal.removeEventListener('abort', onAbort);
              reject(err);
            },
            complete: () => {
              signal.removeEventListener('abort', onAbort);
              resolve();
            },
          });
      } catch (err) {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      }
    });
  });
}

/** The units of work as the status page lists them: groups (with their members), then sources in no group. */
function statusUnits(pipeline: PipelineConfig, sources: { id: string; plugin: string }[]): StatusUnitInfo[] {
  // a source split into shards shows one row per shard
  const enabled = new Map(sources.map((s) => [s.id, s.plugin]));
  const units: StatusUnitInfo[] = [];
  const grouped = new Set<string>();
  for (const group of Object.values(pipeline.groups)) {
    const members = group.sources.filter((id) => enabled.has(id));
    if (members.length === 0) continue;
    members.forEach((id) => grouped.add(id));
    units.push({ id: group.id, kind: 'group', schedule: describeSchedule(group.schedule), members });
  }
  for (const [id, plugin] of enabled) {
    if (grouped.has(id)) continue;
    const config = pipeline.sources[id]!;
    const schedule = describeSchedule(config.schedule);
    checkpointIdsOf(id, config.shards).forEach((unit, k) =>
      units.push({ id: unit, kind: 'source', schedule: config.shards > 1 ? `${schedule}, shard ${k + 1} of ${config.shards}` : schedule, plugin }),
    );
  }
  return units;
}

function toMap<T>(value: Readonly<Record<string, T>> | ReadonlyMap<string, T>): ReadonlyMap<string, T> {
  return value instanceof Map ? value : new Map(Object.entries(value as Record<string, T>));
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function withTimeout(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A sink that writes each cycle in a transaction (the Kafka sink with `exactlyOnce: true`). */
interface TransactionalSink extends Sink {
  readonly exactlyOnce: boolean;
  commitCycle(source: string): Promise<void>;
  abortCycle(source: string): Promise<void>;
}

/** A sink that keeps source checkpoints itself (the Kafka sink). */
/** A sink that can hand a source's writes over between workers (the Kafka sink). */
interface ClaimingSink extends Sink {
  claimSource(source: string): Promise<void>;
  releaseSource(source: string): Promise<void>;
}

interface CheckpointingSink extends Sink {
  checkpointStore(pipeline: string): CheckpointStore;
}

function defaultCheckpoints(sink: Sink, pipeline: PipelineConfig): CheckpointStore {
  const own = (sink as Partial<CheckpointingSink>).checkpointStore;
  return typeof own === 'function' ? own.call(sink, pipeline.name) : new FileCheckpointStore(pipeline.stateDir);
}
