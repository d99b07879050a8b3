import type { CliIo } from './io.js';
import { runCommand, type RunCommandOptions } from './run.js';

/** Options of `tributary record`: those of `run` (without `--once` and `--replay`, which it implies or excludes) plus `to`. */
export interface RecordCommandOptions extends Omit<RunCommandOptions, 'once' | 'replay' | 'traffic'> {
  /** The recording directory. */
  to: string;
}

/**
 * @internal `tributary record <pipeline.yaml> --to <dir>`: runs the pipeline live for one cycle per
 * source (like `run --once`), sends its requests through a recording proxy, and writes every HTTP
 * exchange, secrets stripped, to `dir` (`recording.json` and `bodies/`). `run --replay <dir>` serves
 * them again. Resolves with the exit code of the run.
 */
export async function recordCommand(file: string, opts: RecordCommandOptions, io: CliIo): Promise<number> {
  const { recordTraffic } = await import('../replay/cli.js');
  const { to, ...rest } = opts;
  return runCommand(file, { ...rest, once: true, traffic: recordTraffic(to) }, io);
}
