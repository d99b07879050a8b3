import { loadPipeline } from '../pipeline/config/load.js';
import { resolvePipeline } from '../pipeline/config/resolve.js';
import { EXIT, type CliIo } from './io.js';

/**
 * @internal `tributary validate <pipeline.yaml>`: loads the pipeline, loads its plugins and checks
 * their options and routes, without running anything. Prints a one-line summary to stdout and
 * resolves 0; a `ConfigError` propagates (the CLI prints it and exits 2).
 */
export async function validateCommand(file: string, io: CliIo): Promise<number> {
  const resolved = await resolvePipeline(await loadPipeline(file, { env: io.env }));
  const { config, topics } = resolved;
  const enabled = Object.values(config.sources).filter((s) => s.enabled);
  const disabled = Object.values(config.sources).length - enabled.length;
  const groups = Object.keys(config.groups);
  const topicNames = [...new Set(topics.map((t) => t.topic))];
  io.stdout.write(
    `${config.file}: valid. Pipeline "${config.name}": ${enabled.length} source${enabled.length === 1 ? '' : 's'} (${enabled.map((s) => s.id).join(', ')})` +
      `${disabled ? `, ${disabled} disabled` : ''}${groups.length ? `, groups ${groups.join(', ')}` : ''}; ` +
      `topics ${topicNames.join(', ') || '(none)'}; sink ${config.sink.type}.\n`,
  );
  return EXIT.OK;
}
