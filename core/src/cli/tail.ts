/**
 * `tributary tail <topic>`: prints a topic's records, decoded, as JSON lines.
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import type { KafkaTransport } from '../kafka/transport.js';
import type { CliIo } from './io.js';

/** Options of {@link runTail}. */
export interface TailOptions {
  /** The topic to print. */
  topic: string;
  /** Start at the oldest record (for a group without committed offsets). Default `false`: only new records. */
  fromBeginning?: boolean;
  /** Consumer group. Default: a new random group `tributary-tail-<random>` (so nothing else's offsets move). */
  group?: string;
  /** Bootstrap brokers. Default: `KAFKA_BROKERS` from the environment (comma-separated), else `127.0.0.1:9092`. */
  brokers?: string[];
  /** Schema registry URL (registry mode). Default: `SCHEMA_REGISTRY_URL` from the environment, else none. */
  registry?: string;
  /** The schema topic of the registry-less mode. Default `_tributary_schemas`. */
  schemaTopic?: string;
  /** Stop after this many records. Default: run until `signal` aborts. */
  max?: number;
  /** Where the JSON lines go. */
  stdout: NodeJS.WritableStream;
  /** Where problems go. */
  stderr: { write(text: string): unknown };
  /** Stops the tail (e.g. on SIGINT). Default: none. */
  signal?: AbortSignal;
  /** Environment for the defaults (`KAFKA_BROKERS`, `SCHEMA_REGISTRY_URL`, `SCHEMA_REGISTRY_USER`, `SCHEMA_REGISTRY_PASSWORD`, `KAFKA_CLIENT_ID`). Default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** The Kafka client. Default: kafkajs. */
  transport?: KafkaTransport;
}

/**
 * Prints the records of a topic as JSON lines until `max` records were printed or `signal`
 * aborts, and resolves with the exit code: 0, 1 after an error (which goes to `stderr`), 2 for
 * bad options.
 *
 * Each line is `{"topic","partition","offset","timestamp","key","headers","value"}` plus
 * `schemaId` (registry mode) or `fingerprint` (single-object mode). Avro values are decoded with
 * the writer's schema (from the registry or the schema topic); values that are not Avro (dead
 * letters) are printed as JSON, or as text. Longs beyond 2^53 are printed as strings, bytes as
 * base64.
 *
 * @example
 * ```ts
 * import { runTail } from '@tributary/core/cli';
 * const code = await runTail({ topic: 'energy.prices', fromBeginning: true, max: 10, stdout: process.stdout, stderr: process.stderr });
 * ```
 */
export async function runTail(options: TailOptions): Promise<number> {
  const [{ consume, randomGroupId }, { stringifySafe }] = await Promise.all([import('../source/consume.js'), import('../sinks/json.js')]);
  const env = options.env ?? process.env;
  const brokers = options.brokers?.length ? options.brokers : (env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',').map((b) => b.trim()).filter(Boolean);
  const registryUrl = options.registry ?? (env.SCHEMA_REGISTRY_URL || undefined);
  const max = options.max;
  if (max !== undefined && (!Number.isInteger(max) || max < 1)) {
    options.stderr.write(`error: --max must be a positive integer, got ${String(max)}\n`);
    return 2;
  }
  let closedConsumer = false;
  let onClosed: () => void = () => undefined;
  let records: ReturnType<typeof consume>;
  try {
    records = consume({
      brokers,
      clientId: env.KAFKA_CLIENT_ID || 'tributary-tail',
      topic: options.topic,
      groupId: options.group ?? randomGroupId('tributary-tail'),
      from: options.fromBeginning ? 'earliest' : 'latest',
      valueFormat: 'auto',
      ...(registryUrl ? { registryUrl } : {}),
      ...(env.SCHEMA_REGISTRY_USER && env.SCHEMA_REGISTRY_PASSWORD ? { registryAuth: { username: env.SCHEMA_REGISTRY_USER, password: env.SCHEMA_REGISTRY_PASSWORD } } : {}),
      ...(options.schemaTopic ? { schemaTopic: options.schemaTopic } : {}),
      ...(options.transport ? { transport: options.transport } : {}),
      onClose: () => {
        closedConsumer = true;
        onClosed();
      },
    });
  } catch (err) {
    options.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }
  return new Promise<number>((resolve) => {
    let printed = 0;
    let code = 0;
    let finished = false;
    const done = (): void => {
      if (finished && closedConsumer) resolve(code);
    };
    onClosed = done;
    const stop = (): void => {
      if (finished) return;
      finished = true;
      subscription.unsubscribe();
      options.signal?.removeEventListener('abort', stop);
      done();
    };
    const subscription = records.subscribe({
      next: (r) => {
        if (finished) return;
        const line: Record<string, unknown> = { topic: r.topic, partition: r.partition, offset: r.offset, timestamp: r.timestamp, key: r.key, headers: r.headers, value: r.value };
        if (r.schemaId !== undefined) line.schemaId = r.schemaId;
        if (r.fingerprint !== undefined) line.fingerprint = r.fingerprint;
        options.stdout.write(`${stringifySafe(line)}\n`);
        printed++;
        if (max !== undefined && printed >= max) stop();
      },
      error: (err: unknown) => {
        code = 1;
        options.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
        stop();
      },
    });
    if (options.signal?.aborted) stop();
    else options.signal?.addEventListener('abort', stop, { once: true });
  });
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

/**
 * @internal `tributary tail <topic>` with its options, as run by the CLI: stops on SIGINT/SIGTERM.
 */
export async function tailCommand(
  topic: string,
  opts: { fromBeginning?: boolean; group?: string; brokers?: string; registry?: string; schemaTopic?: string; max?: number },
  io: CliIo,
): Promise<number> {
  const controller = new AbortController();
  const onSignal = (): void => controller.abort();
  io.process.on('SIGINT', onSignal);
  io.process.on('SIGTERM', onSignal);
  try {
    return await runTail({
      topic,
      stdout: io.stdout,
      stderr: io.stderr,
      env: io.env,
      signal: controller.signal,
      ...(opts.fromBeginning ? { fromBeginning: true } : {}),
      ...(opts.group ? { group: opts.group } : {}),
      ...(opts.brokers ? { brokers: opts.brokers.split(',').map((b) => b.trim()).filter(Boolean) } : {}),
      ...(opts.registry ? { registry: opts.registry } : {}),
      ...(opts.schemaTopic ? { schemaTopic: opts.schemaTopic } : {}),
      ...(opts.max !== undefined ? { max: opts.max } : {}),
    });
  } finally {
    io.process.off('SIGINT', onSignal);
    io.process.off('SIGTERM', onSignal);
  }
}

/**
 * Adds the `tail` subcommand to the `tributary` program. `setCode` receives the exit code.
 *
 * @example
 * ```ts
 * import { Command } from 'commander';
 * import { registerTailCommand } from '@tributary/core/cli';
 * let code = 0;
 * registerTailCommand(new Command('tributary'), io, (c) => (code = c));
 * ```
 */
export function registerTailCommand(program: Command, io: CliIo, setCode: (code: number) => void): Command {
  return program
    .command('tail')
    .description('Print the records of a Kafka topic as JSON lines, decoded from Avro (registry or single-object).')
    .argument('<topic>', 'topic to read')
    .option('--from-beginning', 'start at the oldest record (default: only new records)')
    .option('--group <id>', 'consumer group (default: a new random group, so no one else\'s offsets move)')
    .option('--brokers <list>', 'bootstrap brokers, comma-separated (default: $KAFKA_BROKERS or 127.0.0.1:9092)')
    .option('--registry <url>', 'schema registry URL (default: $SCHEMA_REGISTRY_URL)')
    .option('--schema-topic <topic>', 'schema topic of the registry-less mode (default: _tributary_schemas)')
    .option('--max <n>', 'stop after n records', positiveInt)
    .action(async (topic: string, opts: { fromBeginning?: boolean; group?: string; brokers?: string; registry?: string; schemaTopic?: string; max?: number }) => {
      setCode(await tailCommand(topic, opts, io));
    });
}
