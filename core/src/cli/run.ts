import path from 'node:path';
import { hostname } from 'node:os';
import type { LevelWithSilent, Logger } from 'pino';
import { PIPELINE_DEFAULTS } from '../pipeline/config/normalize.js';
import { resolvePipeline } from '../pipeline/config/resolve.js';
import type { PipelineConfig, SinkConfig } from '../pipeline/types.js';
import { PipelineRunner } from '../pipeline/runtime/runner.js';
import { installSignalHandlers } from '../pipeline/runtime/shutdown.js';
import { InstrumentationEvents } from '../observability/events.js';
import { createLogger, secretScrubber } from '../observability/logger.js';
import { formatSummary, type RunSummary } from '../observability/summary.js';
import { createProgress } from './progress.js';
import { loadWithSinkFlags } from './load.js';
import { EXIT, type CliIo } from './io.js';
import { acquireRunLock, type RunLock } from '../state/lock.js';

/**
 * @internal Routes a run's HTTP traffic through a local server (`--replay`, `tributary record`):
 * started after the pipeline was loaded, it gives the `rewriteOrigin` of every source's requests,
 * reports after the summary, and is closed at the end.
 */
export interface TrafficHook {
  start(ctx: { pipeline: PipelineConfig; logger: Logger; io: CliIo }): Promise<{
    rewriteOrigin: string;
    report(summary: RunSummary): Promise<void>;
    close(): Promise<void>;
  }>;
}

/** Options of `tributary run`. */
export interface RunCommandOptions {
  once?: boolean;
  /** Worker mode: `true` (id `<host>-<pid>`) or this worker's id. */
  worker?: boolean | string;
  sink?: 'file' | 'stdout' | 'kafka';
  /** Brokers for `--sink kafka` (default: the environment variable `KAFKA_BROKERS`). */
  brokers?: string;
  out?: string;
  /** Directory of the source checkpoints instead of the pipeline's `stateDir`. */
  stateDir?: string;
  /** Serve every HTTP request from this recording directory (`tributary record`). */
  replay?: string;
  /** @internal Record or replay traffic (set by `tributary record`; `replay` sets one too). */
  traffic?: TrafficHook;
  forceRefresh?: boolean;
  metricsPort?: number;
  metricsHost?: string;
  metrics?: boolean;
  logLevel?: LevelWithSilent;
  logFormat?: 'auto' | 'pretty' | 'json';
  progress?: boolean;
  summary?: 'text' | 'json' | 'none';
}

/**
 * @internal `tributary run <pipeline.yaml>`: loads and checks the pipeline (exit 2 on a config
 * error, nothing runs), runs it until every schedule ended or a signal came, prints the summary to
 * stderr. Resolves with the exit code.
 */
export async function runCommand(file: string, opts: RunCommandOptions, io: CliIo): Promise<number> {
  const overrides: Record<string, unknown> = {};
  if (opts.stateDir !== undefined) overrides.stateDir = path.resolve(io.cwd, opts.stateDir);
  const config = await loadWithSinkFlags(file, overrides, opts, io);
  applyOverrides(config, opts, io.cwd);
  const resolved = await resolvePipeline(config);
  const pipeline = resolved.config;

  const events = new InstrumentationEvents();
  const progress = await createProgress(events, io.stderr, { enabled: opts.progress !== false });
  const logger = createLogger({
    secrets: pipeline.secrets,
    ...(opts.logLevel ? { level: opts.logLevel } : {}),
    format: opts.logFormat ?? 'auto',
    destination: progress.logDestination,
  });
  const scrub = secretScrubber(pipeline.secrets);
  let traffic = opts.traffic;
  if (!traffic && opts.replay !== undefined) traffic = (await import('../replay/cli.js')).replayTraffic(opts.replay);
  const routed = await traffic?.start({ pipeline, logger, io });
  let lock: RunLock | undefined;
  try {
    // the run lock tells `tributary offsets` (and a second `run`) that this runner is alive
    lock = await acquireRunLock({
      stateDir: pipeline.stateDir,
      pipeline: pipeline.name,
      ...(opts.worker ? { id: workerId(opts.worker) } : {}),
      info: { sink: pipeline.sink.type, ...(pipeline.metrics.enabled ? { metrics: { host: pipeline.metrics.host, port: pipeline.metrics.port } } : {}) },
      logger,
    });
    const { Registry } = await import('prom-client');
    const registry = new Registry();
    const { createSink } = await import('../sinks/index.js');
    const { compileSchema } = await import('../serde/avro.js');
    const sink = await createSink(pipeline.sink, {
      logger: logger.child({ sink: pipeline.sink.type }),
      registry,
      compile: (s) => compileSchema(s as never),
      secrets: pipeline.secrets,
      stdout: io.stdout,
    });
    const runner = new PipelineRunner({
      pipeline,
      plugins: resolved.plugins,
      sink,
      registry,
      events,
      logger,
      once: opts.once ?? false,
      forceRefresh: opts.forceRefresh ?? false,
      ...(opts.worker ? { worker: { id: workerId(opts.worker) } } : {}),
      ...(routed ? { rewriteOrigin: routed.rewriteOrigin } : {}),
    });
    const signals = installSignalHandlers({
      onFirst: (signal) => {
        logger.info({ signal }, `${signal} received: stopping gracefully (send it again to exit at once)`);
        void runner.stop(signal);
      },
      onSecond: (signal) => {
        progress.stop();
        io.stderr.write(`${signal} received again: exiting at once\n`);
        io.exit(EXIT.SECOND_SIGNAL);
      },
      process: io.process,
    });
    let summary: RunSummary;
    try {
      summary = await runner.run();
    } finally {
      signals.remove();
      progress.stop();
    }
    if (opts.summary !== 'none') {
      const text = opts.summary === 'json' ? JSON.stringify(summary, null, 2) + '\n' : formatSummary(summary);
      io.stderr.write(scrub(text));
    }
    await routed?.report(summary);
    return exitCodeOf(summary);
  } finally {
    await lock?.release();
    await routed?.close();
  }
}

/**
 * The exit code of a finished run: 1 when it failed (a sink error) or when it ended by itself
 * (`--once`, finite schedules) with failed or cancelled cycles; 0 otherwise (a run stopped by a
 * signal exits 0 after a clean shutdown).
 */
export function exitCodeOf(summary: RunSummary): number {
  if (summary.outcome === 'failed') return EXIT.RUNTIME;
  if (summary.outcome === 'completed') {
    for (const s of Object.values(summary.sources)) if (s.cycles.error + s.cycles.cancelled > 0) return EXIT.RUNTIME;
  }
  return EXIT.OK;
}

/** Applies `--sink`, `--out` and the metrics flags to a loaded config (in place, keeping its metadata). */
export function applyOverrides(config: PipelineConfig, opts: RunCommandOptions, cwd: string): void {
  const current = config.sink;
  if (opts.sink === 'stdout') {
    config.sink = { type: 'stdout' };
  } else if (opts.sink === 'file' || opts.out !== undefined) {
    const file: Extract<SinkConfig, { type: 'file' }> =
      current.type === 'file'
        ? { ...current }
        : { type: 'file', dir: path.resolve(path.dirname(config.file), PIPELINE_DEFAULTS.file.dir), codec: PIPELINE_DEFAULTS.file.codec, flushEveryMs: PIPELINE_DEFAULTS.file.flushEveryMs };
    if (opts.out !== undefined) file.dir = path.resolve(cwd, opts.out);
    config.sink = file;
  }
  if (opts.metrics === false) config.metrics = { ...config.metrics, enabled: false };
  if (opts.metricsPort !== undefined) config.metrics = { ...config.metrics, enabled: opts.metrics !== false, port: opts.metricsPort };
  if (opts.metricsHost !== undefined) config.metrics = { ...config.metrics, host: opts.metricsHost };
}

/** The id of this worker: the one given to `--worker <id>`, else `<host>-<pid>`. */
export function workerId(worker: true | string): string {
  return typeof worker === 'string' && worker.length > 0 ? worker : `${hostname()}-${process.pid}`;
}
