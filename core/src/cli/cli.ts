import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { EXIT, processIo, type CliIo } from './io.js';

function port(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65_535) throw new InvalidArgumentError('expected a port number from 0 to 65535 (0 picks a free port)');
  return n;
}

/**
 * Runs the `tributary` command line with `argv` (without `node` and the script) and resolves with
 * the exit code: 0 success (also after a clean shutdown on SIGINT/SIGTERM), 1 runtime failure,
 * 2 configuration or usage error (nothing ran), 130 second signal.
 *
 * @internal The `tributary` bin (core/src/cli/main.ts) calls it; tests call it with a fake `io`.
 */
export async function main(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  let code: number = EXIT.OK;
  const program = new Command('tributary')
    .description('Run Tributary data-collection pipelines.')
    .version(await coreVersion(), '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => void io.stdout.write(s), writeErr: (s) => void io.stderr.write(s) });

  program
    .command('run')
    .description('Run a pipeline until every schedule ended or SIGINT/SIGTERM; print a run summary to stderr.')
    .argument('<pipeline>', 'pipeline file (YAML)')
    .option('--once', 'run one cycle per source (backfills: their window), then stop')
    .option('--worker [id]', 'join the pipeline\'s worker group and run only the units it assigns here (needs the Kafka sink; id default: <host>-<pid>)')
    .addOption(new Option('--sink <type>', 'override the pipeline sink').choices(['file', 'stdout', 'kafka']))
    .option('--brokers <list>', 'Kafka brokers for --sink kafka, host:port[,host:port] (default: $KAFKA_BROKERS)')
    .option('--out <dir>', 'directory of the file sink (implies --sink file unless --sink says otherwise)')
    .option('--state-dir <dir>', 'directory of the source checkpoints (instead of the pipeline\'s stateDir)')
    .option('--replay <dir>', 'serve every HTTP request from a recording (made by tributary record); no network')
    .option('--force-refresh', 'bypass caches: every call goes out (results are still cached)')
    .option('--metrics-port <port>', 'serve /metrics and /healthz on this port (0 = any free port)', port)
    .option('--metrics-host <host>', 'bind address of the metrics server')
    .option('--no-metrics', 'do not serve metrics')
    .addOption(new Option('--log-level <level>', 'minimum log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']))
    .addOption(new Option('--log-format <format>', 'log format (auto: pretty on a terminal)').choices(['auto', 'pretty', 'json']).default('auto'))
    .option('--no-progress', 'no backfill progress output')
    .addOption(new Option('--summary <format>', 'run summary format on stderr').choices(['text', 'json', 'none']).default('text'))
    .action(async (file: string, opts: Record<string, unknown>) => {
      const { runCommand } = await import('./run.js');
      code = await runCommand(file, opts, io);
    });

  program
    .command('record')
    .description('Run a pipeline live for one cycle per source and record every HTTP exchange (secrets stripped) for run --replay.')
    .argument('<pipeline>', 'pipeline file (YAML)')
    .requiredOption('--to <dir>', 'recording directory (recording.json and bodies/; replaced if present)')
    .addOption(new Option('--sink <type>', 'override the pipeline sink').choices(['file', 'stdout', 'kafka']))
    .option('--brokers <list>', 'Kafka brokers for --sink kafka, host:port[,host:port] (default: $KAFKA_BROKERS)')
    .option('--out <dir>', 'directory of the file sink (implies --sink file unless --sink says otherwise)')
    .option('--state-dir <dir>', 'directory of the source checkpoints (instead of the pipeline\'s stateDir)')
    .option('--no-metrics', 'do not serve metrics')
    .addOption(new Option('--log-level <level>', 'minimum log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']))
    .addOption(new Option('--log-format <format>', 'log format (auto: pretty on a terminal)').choices(['auto', 'pretty', 'json']).default('auto'))
    .option('--no-progress', 'no backfill progress output')
    .addOption(new Option('--summary <format>', 'run summary format on stderr').choices(['text', 'json', 'none']).default('text'))
    .action(async (file: string, opts: Record<string, unknown>) => {
      const { recordCommand } = await import('./record.js');
      code = await recordCommand(file, opts as never, io);
    });

  program
    .command('validate')
    .description('Check a pipeline file and its plugins without running anything (exit 0 valid, 2 invalid).')
    .argument('<pipeline>', 'pipeline file (YAML)')
    .action(async (file: string) => {
      const { validateCommand } = await import('./validate.js');
      code = await validateCommand(file, io);
    });

  program
    .command('plugins')
    .description('List installed plugin packages with their streams, key fields and schemas.')
    .option('--dir <dir>', 'look in node_modules of this directory and its parents', '.')
    .option('--pipeline <file>', "list the sources of this pipeline instead, each with its own streams (from its options), keys, topics and schemas")
    .option('--json', 'print JSON')
    .action(async (opts: { dir?: string; json?: boolean; pipeline?: string }) => {
      const { pluginsCommand } = await import('./plugins.js');
      code = await pluginsCommand(opts, io);
    });

  const { registerTailCommand } = await import('./tail.js');
  registerTailCommand(program, io, (c) => (code = c));
  const { registerOffsetsCommand } = await import('./offsets.js');
  registerOffsetsCommand(program, io, (c) => (code = c));

  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (err) {
    code = await report(err, io);
  }
  return code;
}

async function report(err: unknown, io: CliIo): Promise<number> {
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return EXIT.OK;
    return err.exitCode === 0 ? EXIT.OK : EXIT.CONFIG;
  }
  const { isConfigError } = await import('../errors/ConfigError.js');
  if (isConfigError(err)) {
    io.stderr.write(`${err.message}\n`);
    return EXIT.CONFIG;
  }
  const message = err instanceof Error ? err.message : String(err);
  io.stderr.write(`error: ${message}\n`);
  if (io.env.TRIBUTARY_DEBUG && err instanceof Error && err.stack) io.stderr.write(`${err.stack}\n`);
  return EXIT.RUNTIME;
}

async function coreVersion(): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  try {
    const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}
