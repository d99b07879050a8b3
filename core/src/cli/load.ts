import { ConfigError } from '../errors/ConfigError.js';
import { loadPipeline } from '../pipeline/config/load.js';
import type { PipelineConfig } from '../pipeline/types.js';
import type { CliIo } from './io.js';

/**
 * @internal Loads a pipeline file with `--sink kafka` / `--brokers` applied: a Kafka sink in the
 * file keeps its settings (`--brokers` replaces its brokers); otherwise a Kafka sink with the
 * defaults and the brokers of `--brokers` or `KAFKA_BROKERS`. `run` and `offsets` share it, so
 * that `offsets` finds the checkpoints where such a run keeps them.
 */
export async function loadWithSinkFlags(file: string, overrides: Record<string, unknown>, opts: { sink?: string; brokers?: string }, io: CliIo): Promise<PipelineConfig> {
  const load = (extra: Record<string, unknown> = {}) => loadPipeline(file, { env: io.env, overrides: { ...overrides, ...extra } });
  const config = await load();
  if (opts.sink !== 'kafka') return config;
  const brokers = opts.brokers ?? (config.sink.type === 'kafka' ? undefined : io.env.KAFKA_BROKERS);
  if (brokers) return load(config.sink.type === 'kafka' ? { 'sink.brokers': brokers } : { sink: { type: 'kafka', brokers } });
  if (config.sink.type !== 'kafka') {
    throw new ConfigError(config.file, [{ path: 'sink', message: '--sink kafka needs the brokers: give --brokers host:port[,host:port] or set KAFKA_BROKERS' }]);
  }
  return config;
}
