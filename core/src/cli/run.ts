import path from 'node:path';
import type { LevelWithSilent } from 'pino';
import { loadPipeline } from '../pipeline/config/load.js';
import { PIPELINE_DEFAULTS } from '../pipeline/config/normalize.js';
import { resolvePipeline } from '../pipeline/config/resolve.js';
import type { PipelineConfig, SinkConfig } from '../pipeline/types.js';
import { PipelineRunner } from '../pipeline/runtime/runner.js';
import { installSignalHandlers } from '../pipeline/runtime/shutdown.js';
import { InstrumentationEvents } from '../observability/events.js';
import { createLogger, secretScrubber } from '../observability/logger.js';
import { formatSummary, type RunSummary } from '../observability/summary.js';
import { createProgress } from './progress.js';
import { EXIT, type CliIo } from './io.js';

/** Options of `tributary run`. */
export interface RunCommandOptions {
  once?: boolean;
  sink?: 'file' | 'stdout';
  out?: string;
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
  const config = await loadPipeline(file, { env: io.env });
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
  return exitCodeOf(summary);
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
