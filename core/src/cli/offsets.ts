/**
 * `tributary offsets <pipeline.yaml>`: lists, resets or sets the checkpoints (cursors) of a
 * pipeline's sources.
 */
import { stat, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError, Option } from 'commander';
import type { PipelineConfig } from '../pipeline/types.js';
import { checkpointIdsOf, groupCheckpointId, RESERVED_PREFIX } from '../pipeline/runtime/sourceState.js';
import { FileCheckpointStore } from '../state/file.js';
import { findRunLocks, type FoundRunLock } from '../state/lock.js';
import type { CheckpointStore } from '../state/types.js';
import { EXIT, type CliIo } from './io.js';
import { loadWithSinkFlags } from './load.js';

/** The checkpoint key of a unit's backfill progress (the runner's `BACKFILL_KEY`). */
const BACKFILL_KEY = `${RESERVED_PREFIX}backfill`;

/** Options of {@link offsetsCommand}. */
export interface OffsetsCommandOptions {
  /** Directory of the checkpoints instead of the pipeline's `stateDir` (as `tributary run --state-dir`). Default: the pipeline's. */
  stateDir?: string;
  /** Print JSON instead of text. Default `false`. */
  json?: boolean;
  /** `kafka`: read the checkpoints where `tributary run --sink kafka` keeps them (the offsets topic). Default: the pipeline's sink. */
  sink?: 'file' | 'stdout' | 'kafka';
  /** Brokers for `sink: 'kafka'` (default: the environment variable `KAFKA_BROKERS`), as `run --brokers`. */
  brokers?: string;
  /** Delete the checkpoint of this source or group (its backfill runs again). Default: none. */
  reset?: string;
  /** `[source, "key=<json>"]`: set one key of a source's checkpoint (to skip ahead). Default: none. */
  set?: string[];
  /** Port of the running pipeline's health endpoint, when `run` was given `--metrics-port`. Default: the pipeline's `metrics.port`. */
  metricsPort?: number;
  /** Host of the running pipeline's health endpoint. Default: the pipeline's `metrics.host`. */
  metricsHost?: string;
  /** How long to wait for the health endpoint, in ms. Default 1000. */
  probeTimeoutMs?: number;
  /**
   * Change checkpoints even though a run lock of the pipeline exists (e.g. one left on another host
   * by a runner that is gone). A runner that answers on its health endpoint is still refused.
   * Default `false`.
   */
  force?: boolean;
}

/** One entry of the listing: a source's or a group's checkpoint. */
export interface OffsetsEntry {
  /** The source or group id. */
  id: string;
  kind: 'source' | 'group';
  /** Where the checkpoint is kept: the file, or `kafka:<topic>/<key>`. */
  location: string;
  /** Last write of the checkpoint (ISO 8601), or `null` when there is none or it is not known (Kafka). */
  updatedAt: string | null;
  /** The checkpoint's keys (empty when there is none). */
  values: Record<string, unknown>;
}

/** A unit (source or group) and the id its checkpoint is stored under. */
interface Unit {
  id: string;
  kind: 'source' | 'group';
  key: string;
}

/** The checkpoint store the runtime uses for a pipeline, and how to describe it. */
interface Store {
  store: CheckpointStore;
  /** Where the checkpoints are, for the listing header. */
  where: string;
  /** Where one unit's checkpoint is. */
  locationOf(key: string): string;
  /** Last write of a unit's checkpoint, when known. */
  updatedAt(key: string): Promise<string | null>;
  /** Deletes a unit's checkpoint. */
  reset(key: string): Promise<void>;
}

/**
 * The store `tributary run` uses: with the Kafka sink, the compacted offsets topic of the sink's
 * brokers (a `KafkaCheckpointStore`, keys `<pipeline>/<source>`); otherwise a
 * `FileCheckpointStore` in the state directory.
 */
async function openStore(config: PipelineConfig): Promise<Store> {
  const sink = config.sink;
  if (sink.type === 'kafka') {
    const [{ KafkaCheckpointStore, DEFAULT_OFFSETS_TOPIC }, { createKafkajsTransport }] = await Promise.all([import('../state/kafka.js'), import('../kafka/kafkajs.js')]);
    const topic = (sink as { offsetsTopic?: string }).offsetsTopic ?? DEFAULT_OFFSETS_TOPIC;
    const transport = createKafkajsTransport({
      brokers: [...sink.brokers],
      clientId: `${sink.clientId}-offsets`,
      ...(sink.sasl ? { sasl: { ...sink.sasl } } : {}),
      ...(sink.ssl !== undefined ? { ssl: sink.ssl } : {}),
      logLevel: 'nothing',
    });
    const store = new KafkaCheckpointStore({ transport, pipeline: config.name, topic, loadTimeoutMs: 15_000 });
    return {
      store,
      where: `Kafka topic ${topic} (${sink.brokers.length} broker${sink.brokers.length === 1 ? '' : 's'})`,
      locationOf: (key) => `kafka:${topic}/${store.keyOf(key)}`,
      updatedAt: async () => null,
      reset: async (key) => {
        const values = await store.load(key);
        if (Object.keys(values).length > 0) await store.commit(key, { set: {}, delete: Object.keys(values) });
      },
    };
  }
  const store = new FileCheckpointStore(config.stateDir);
  return {
    store,
    where: config.stateDir,
    locationOf: (key) => store.fileOf(key),
    updatedAt: (key) =>
      stat(store.fileOf(key)).then(
        (s) => s.mtime.toISOString(),
        () => null,
      ),
    reset: (key) => rm(store.fileOf(key), { force: true }),
  };
}

/**
 * @internal `tributary offsets`: reads the checkpoints through the store `tributary run` uses
 * (the Kafka sink's offsets topic, else a `FileCheckpointStore` in the pipeline's state directory). `--reset` and `--set` refuse with
 * exit code 2 while the pipeline is running: its `/healthz` answers with the pipeline's name, or
 * its state directory holds a run lock of a live process (or of one on another host; `--force`
 * overrides the lock, not the health answer).
 * An unknown source, a malformed `--set` or both `--reset` and `--set` exit 2.
 */
export async function offsetsCommand(file: string, opts: OffsetsCommandOptions, io: CliIo): Promise<number> {
  const overrides: Record<string, unknown> = {};
  if (opts.stateDir !== undefined) overrides.stateDir = path.resolve(io.cwd, opts.stateDir);
  const config = await loadWithSinkFlags(path.resolve(io.cwd, file), overrides, opts, io);
  if (opts.sink === 'file' || opts.sink === 'stdout') config.sink = { type: 'stdout' }; // checkpoints in the state directory, as run keeps them
  const units = unitsOf(config);
  const usage = (message: string): number => {
    io.stderr.write(`error: ${message}\n`);
    return EXIT.CONFIG;
  };
  if (opts.reset !== undefined && opts.set !== undefined) return usage('give either --reset or --set, not both');

  const target = opts.reset ?? opts.set?.[0];
  let unit: Unit | undefined;
  if (target !== undefined) {
    unit = units.find((u) => u.id === target);
    if (!unit) {
      const known = units.map((u) => u.id).join(', ') || '(none)';
      return usage(`${config.file}: no source or group "${target}" in pipeline "${config.name}" (known: ${known})`);
    }
  }
  let assignment: { key: string; value: unknown } | undefined;
  if (opts.set !== undefined) {
    if (opts.set.length !== 2) return usage('--set takes two values: <source> <key>=<json>, e.g. --set eia lastSeen=1700000000000');
    const parsed = parseAssignment(opts.set[1]!);
    if (typeof parsed === 'string') return usage(parsed);
    assignment = parsed;
  }

  const running = await probeRunning(config, opts);
  if (running && unit) {
    io.stderr.write(
      `error: pipeline "${config.name}" is running (its health endpoint ${running} answered): stop it before changing checkpoints, ` +
        'the runner keeps them in memory and would overwrite the change\n',
    );
    return EXIT.CONFIG;
  }
  const locks = (await findRunLocks({ stateDir: config.stateDir, pipeline: config.name })).filter((l) => l.alive !== false);
  if (locks.length > 0 && unit && !opts.force) {
    io.stderr.write(
      `error: pipeline "${config.name}" is running: ${locks.map(describeLock).join('; ')}. Stop it before changing checkpoints, ` +
        'the runner keeps them in memory and would overwrite the change (if that process is gone, e.g. on another host, give --force)\n',
    );
    return EXIT.CONFIG;
  }

  const opened = await openStore(config);
  try {
    if (opts.reset !== undefined && unit) {
      await opened.reset(unit.key);
      io.stdout.write(`${unit.kind} "${unit.id}": checkpoint deleted (${opened.locationOf(unit.key)}); the next run starts it afresh\n`);
      return EXIT.OK;
    }
    if (assignment && unit) {
      await opened.store.commit(unit.key, { set: { [assignment.key]: assignment.value }, delete: [] });
      io.stdout.write(`${unit.kind} "${unit.id}": ${assignment.key} = ${JSON.stringify(assignment.value)}\n`);
      return EXIT.OK;
    }
    const entries: OffsetsEntry[] = [];
    for (const u of units) {
      const values = await opened.store.load(u.key);
      const updatedAt = Object.keys(values).length > 0 ? await opened.updatedAt(u.key) : null;
      entries.push({ id: u.id, kind: u.kind, location: opened.locationOf(u.key), updatedAt, values });
    }
    print(config, opts, io, entries, running ?? (locks.length > 0 ? locks.map(describeLock).join('; ') : undefined), opened.where);
    return EXIT.OK;
  } finally {
    await opened.store.close?.();
  }
}

function print(config: PipelineConfig, opts: OffsetsCommandOptions, io: CliIo, entries: OffsetsEntry[], running: string | undefined, where: string): void {
  if (running) io.stderr.write(`note: pipeline "${config.name}" is running (${running}): these values may already have moved\n`);
  if (opts.json) {
    io.stdout.write(JSON.stringify({ pipeline: config.name, store: where, running: running !== undefined, checkpoints: entries }, null, 2) + '\n');
  } else {
    io.stdout.write(formatOffsets(config, entries, where));
  }
}

/** A live (or unknown) run lock in words: who holds it, where, since when, and its file. */
function describeLock(lock: FoundRunLock): string {
  const who = lock.id === undefined ? 'a runner' : `worker "${lock.id}"`;
  const where = lock.alive === 'unknown' ? `on host ${lock.hostname} (another host: not checked)` : `on this host`;
  return `${who}, process ${lock.pid} ${where}, since ${lock.startedAt} (run lock ${lock.file})`;
}

/** The sources (enabled or not), their shards and the groups of a pipeline, with the id of their checkpoint. */
function unitsOf(config: PipelineConfig): Unit[] {
  const units: Unit[] = Object.keys(config.sources).map((id) => ({ id, kind: 'source' as const, key: id }));
  // a source split into shards keeps one checkpoint per shard, `<source>#<k>`
  for (const source of Object.values(config.sources)) {
    if (source.shards > 1) for (const id of checkpointIdsOf(source.id, source.shards)) units.push({ id, kind: 'source', key: id });
  }
  for (const id of Object.keys(config.groups)) {
    if (!units.some((u) => u.id === id)) units.push({ id, kind: 'group', key: groupCheckpointId(id) });
  }
  return units;
}

/** @internal Parses `key=<json>` (of `--set`); returns an error message when malformed. */
export function parseAssignment(text: string): { key: string; value: unknown } | string {
  const eq = text.indexOf('=');
  if (eq <= 0) return `--set: expected <key>=<json>, got "${text}" (e.g. lastSeen=1700000000000 or cursor='"abc"')`;
  const key = text.slice(0, eq);
  const raw = text.slice(eq + 1);
  try {
    return { key, value: JSON.parse(raw) as unknown };
  } catch (err) {
    return `--set: the value of "${key}" is not JSON (${err instanceof Error ? err.message : String(err)}); quote strings: ${key}='"${raw}"'`;
  }
}

/**
 * Asks the pipeline's health endpoint whether the pipeline runs: resolves with the URL when a
 * server answers `/healthz` with this pipeline's name, else `undefined` (nothing listens, another
 * program answers, metrics are off and no port was given).
 */
async function probeRunning(config: PipelineConfig, opts: OffsetsCommandOptions): Promise<string | undefined> {
  if (!config.metrics.enabled && opts.metricsPort === undefined) return undefined;
  const port = opts.metricsPort ?? config.metrics.port;
  if (!port) return undefined;
  let host = opts.metricsHost ?? config.metrics.host;
  if (host === '0.0.0.0' || host === '') host = '127.0.0.1';
  if (host === '::') host = '::1';
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/healthz`;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(opts.probeTimeoutMs ?? 1000) });
    const body = (await res.json().catch(() => undefined)) as { pipeline?: unknown } | undefined;
    return body && body.pipeline === config.name ? url : undefined;
  } catch {
    return undefined;
  }
}

function formatOffsets(config: PipelineConfig, entries: OffsetsEntry[], where: string): string {
  const lines = [`Checkpoints of pipeline "${config.name}" in ${where}:`];
  for (const e of entries) {
    const keys = Object.keys(e.values);
    lines.push(`  ${e.kind} ${e.id}: ${keys.length === 0 ? 'no checkpoint' : e.updatedAt ? `updated ${e.updatedAt}` : `${keys.length} key${keys.length === 1 ? '' : 's'}`}`);
    for (const key of keys) lines.push(`    ${key} = ${describeValue(key, e.values[key])}`);
  }
  return lines.join('\n') + '\n';
}

function describeValue(key: string, value: unknown): string {
  if (key === BACKFILL_KEY && value && typeof value === 'object') {
    const p = value as { from?: unknown; to?: unknown; chunkMs?: unknown; done?: unknown };
    if (typeof p.from === 'number' && typeof p.to === 'number' && typeof p.chunkMs === 'number' && p.chunkMs > 0 && Array.isArray(p.done)) {
      const total = Math.max(0, Math.ceil((p.to - p.from) / p.chunkMs));
      return `${p.done.length}/${total} chunks done, ${new Date(p.from).toISOString()} .. ${new Date(p.to).toISOString()} by ${p.chunkMs} ms`;
    }
  }
  const text = JSON.stringify(value);
  return text.length > 200 ? `${text.slice(0, 197)}...` : text;
}

function port(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 65_535) throw new InvalidArgumentError('expected a port number from 1 to 65535');
  return n;
}

/** @internal Adds `tributary offsets` to the program; `setCode` receives the exit code. */
export function registerOffsetsCommand(program: Command, io: CliIo, setCode: (code: number) => void): void {
  program
    .command('offsets')
    .description("List the checkpoints (cursors) of a pipeline's sources; --reset or --set one while the pipeline is stopped.")
    .argument('<pipeline>', 'pipeline file (YAML)')
    .option('--state-dir <dir>', "directory of the source checkpoints (instead of the pipeline's stateDir)")
    .option('--json', 'print JSON')
    .addOption(new Option('--sink <type>', 'the sink the pipeline is run with, as given to run --sink (kafka: checkpoints in the offsets topic)').choices(['file', 'stdout', 'kafka']))
    .option('--brokers <list>', 'Kafka brokers for --sink kafka, as given to run (default: $KAFKA_BROKERS)')
    .option('--reset <source>', "delete a source's (or group's) checkpoint: its backfill runs again")
    .option('--set <source-and-key=json...>', "set one key of a source's checkpoint (two values), e.g. --set eia lastSeen=1700000000000")
    .option('--metrics-port <port>', 'health port of the running pipeline, if run was given --metrics-port', port)
    .option('--metrics-host <host>', 'health host of the running pipeline, if run was given --metrics-host')
    .option('--force', "--reset/--set even though a run lock exists (e.g. left on another host by a runner that is gone)")
    .action(async (file: string, opts: Record<string, unknown>) => {
      const options: OffsetsCommandOptions = {
        ...(opts.stateDir !== undefined ? { stateDir: opts.stateDir as string } : {}),
        ...(opts.json ? { json: true } : {}),
        ...(opts.sink !== undefined ? { sink: opts.sink as 'file' | 'stdout' | 'kafka' } : {}),
        ...(opts.brokers !== undefined ? { brokers: opts.brokers as string } : {}),
        ...(opts.reset !== undefined ? { reset: opts.reset as string } : {}),
        ...(opts.metricsPort !== undefined ? { metricsPort: opts.metricsPort as number } : {}),
        ...(opts.metricsHost !== undefined ? { metricsHost: opts.metricsHost as string } : {}),
        ...(opts.force ? { force: true } : {}),
      };
      if (opts.set !== undefined) options.set = opts.set as string[];
      setCode(await offsetsCommand(file, options, io));
    });
}
