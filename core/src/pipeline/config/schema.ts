/**
 * The zod schema of a pipeline file as written (before defaults), and the defaults.
 *
 * Durations are converted to milliseconds here and schedules to their {@link Schedule} form; every
 * other default is applied by `normalize.ts`, so that `defaults:` at the top of the file can be
 * merged first. Messages start with "expected ..."; the issue mapper appends what was found.
 */
import { CronExpressionParser } from 'cron-parser';
import { z } from 'zod';
import type { Schedule } from '../types.js';
import { parseByteSize, parseDuration } from './durations.js';

const DURATION_TEXT = 'a duration such as 500ms, 30s, 15m, 24h or 60d (a plain number is milliseconds)';

/** A duration (`30s`, `15m`, a number of ms) → milliseconds. */
function duration(options: { positive?: boolean } = {}) {
  const what = options.positive ? `a positive duration such as 500ms, 30s, 15m, 24h or 60d (a plain number is milliseconds)` : DURATION_TEXT;
  return z
    .union([z.number(), z.string()], { error: `expected ${what}` })
    .transform((value, ctx) => {
      const ms = parseDuration(value);
      if (ms === undefined || (options.positive && ms <= 0)) {
        ctx.addIssue({ code: 'custom', message: `expected ${what}`, input: value });
        return z.NEVER;
      }
      return ms;
    })
    .describe(`A duration: ${DURATION_TEXT}.`);
}

/** An integer ≥ `min`. */
function int(min: number) {
  const what = min === 0 ? 'expected a non-negative integer' : min === 1 ? 'expected a positive integer' : `expected an integer of at least ${min}`;
  return z.number({ error: what }).int({ error: what }).min(min, { error: what });
}

/** A number ≥ `min` (or > `min` with `exclusive`), ≤ `max`. */
function num(min: number, options: { exclusive?: boolean; max?: number } = {}) {
  const range = options.max !== undefined ? `between ${min} and ${options.max}` : options.exclusive ? `greater than ${min}` : `of at least ${min}`;
  const what = `expected a number ${range}`;
  let s = z.number({ error: what });
  s = options.exclusive ? s.gt(min, { error: what }) : s.min(min, { error: what });
  if (options.max !== undefined) s = s.max(options.max, { error: what });
  return s;
}

/** A fraction in (0, 1], written as a number (`0.5`) or a percentage (`50%`). */
function fraction() {
  const what = 'expected a fraction between 0 (exclusive) and 1, e.g. 0.5 or "50%"';
  return z.union([z.number(), z.string()], { error: what }).transform((value, ctx) => {
    const n = typeof value === 'number' ? value : /^\s*\d+(\.\d+)?\s*%\s*$/.test(value) ? Number.parseFloat(value) / 100 : Number.NaN;
    if (!(n > 0 && n <= 1)) {
      ctx.addIssue({ code: 'custom', message: what, input: value });
      return z.NEVER;
    }
    return n;
  });
}

function str(what: string) {
  return z.string({ error: `expected ${what}` }).min(1, { error: `expected ${what}` });
}

function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, { error: `expected one of ${values.map((v) => JSON.stringify(v)).join(', ')}` });
}

/** @internal Source ids, group ids and stream names: letters, digits, `_` and `-`, starting with a letter or digit. */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;
const idKey = (what: string) => z.string().regex(ID_PATTERN, { error: `expected ${what}: letters, digits, "_" and "-", starting with a letter or digit` });

/** @internal Kafka topic names: up to 249 of `[A-Za-z0-9._-]`, not `.` or `..`. */
export const TOPIC_PATTERN = /^(?!\.{1,2}$)[A-Za-z0-9._-]{1,249}$/;
const TOPIC_TEXT = 'a Kafka topic name (up to 249 letters, digits, ".", "_" and "-")';
const topic = () => z.string({ error: `expected ${TOPIC_TEXT}` }).regex(TOPIC_PATTERN, { error: `expected ${TOPIC_TEXT}` });

/** @internal Key fields: a field name or a dotted path into nested records (`station.id`). */
export const KEY_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;
const KEY_TEXT = 'a record field name, or a dotted path into nested records such as station.id';
const keyField = () => z.string({ error: `expected ${KEY_TEXT}` }).regex(KEY_PATTERN, { error: `expected ${KEY_TEXT}` });

// ---------------------------------------------------------------------------------------------
// schedules

const CRON_TEXT = 'a cron expression with 5 fields (minute hour day-of-month month day-of-week), 6 with seconds first, or @hourly/@daily/...';

const cronExpression = z.string({ error: `expected ${CRON_TEXT}` }).superRefine((expr, ctx) => {
  const text = expr.trim();
  const fields = text.split(/\s+/).length;
  if (!text.startsWith('@') && (fields < 5 || fields > 6)) {
    ctx.addIssue({ code: 'custom', message: `expected ${CRON_TEXT}; found ${fields} field${fields === 1 ? '' : 's'}`, input: expr });
    return;
  }
  try {
    CronExpressionParser.parse(text);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `expected ${CRON_TEXT} (${(err as Error).message})`, input: expr });
  }
});

const timezone = z.string({ error: 'expected an IANA time zone such as Europe/Amsterdam or UTC' }).superRefine((tz, ctx) => {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
  } catch {
    ctx.addIssue({ code: 'custom', message: 'expected an IANA time zone such as Europe/Amsterdam or UTC', input: tz });
  }
});

const INSTANT_TEXT = 'a date (2024-01-01), a date-time (2024-01-01T06:00:00Z; UTC when no offset) or epoch milliseconds';
const ISO = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/** @internal Parses an instant as written in a pipeline file (see {@link INSTANT_TEXT}) to epoch ms. */
export function parseInstant(value: unknown): number | undefined {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value.getTime();
  if (typeof value === 'number') return Number.isInteger(value) ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const m = ISO.exec(value.trim());
  if (!m) return undefined;
  let text = value.trim().replace(' ', 'T');
  if (text.length > 10 && !m[1]) text += 'Z';
  const ms = Date.parse(text.length === 10 ? `${text}T00:00:00Z` : text);
  return Number.isNaN(ms) ? undefined : ms;
}

const instant = z.union([z.string(), z.number(), z.date()], { error: `expected ${INSTANT_TEXT}` }).transform((value, ctx) => {
  const ms = parseInstant(value);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `expected ${INSTANT_TEXT}`, input: value });
    return z.NEVER;
  }
  return ms;
});

const everySchedule = z
  .strictObject({
    every: duration({ positive: true }).describe('Run every this long, e.g. 15m.'),
    jitter: duration().optional().describe('Random extra delay added to each run, up to this long (spreads load). Default: none.'),
  })
  .transform((s): Extract<Schedule, { kind: 'every' }> => (s.jitter ? { kind: 'every', intervalMs: s.every, jitterMs: s.jitter } : { kind: 'every', intervalMs: s.every }));

const cronSchedule = z
  .strictObject({
    cron: cronExpression.describe('A cron expression, e.g. "*/5 * * * *".'),
    timezone: timezone.optional().describe('IANA time zone the expression is read in. Default: the machine time zone.'),
  })
  .transform((s): Extract<Schedule, { kind: 'cron' }> => (s.timezone ? { kind: 'cron', expression: s.cron.trim(), timezone: s.timezone } : { kind: 'cron', expression: s.cron.trim() }));

const onceSchedule = z.literal('once', { error: 'expected "once"' }).transform((): Schedule => ({ kind: 'once' }));

/** @internal Defaults of a backfill schedule. */
export const BACKFILL_DEFAULTS = { chunkMs: 60 * 86_400_000, concurrency: 1 } as const;

const backfillSchedule = z
  .strictObject({
    backfill: z.strictObject({
      from: instant.describe(`Start of the window, inclusive: ${INSTANT_TEXT}.`),
      to: instant.optional().describe('End of the window, exclusive. Default: the moment the pipeline starts.'),
      chunk: duration({ positive: true }).optional().describe('Length of one chunk. Default: 60d.'),
      concurrency: int(1).optional().describe('How many chunks run at the same time. Default: 1.'),
    }),
    then: z
      .union([everySchedule, cronSchedule], { error: 'expected { every: <duration> } or { cron: "<expression>" }' })
      .optional()
      .describe('What runs once the window is done. Default: nothing (the source stops).'),
  })
  .superRefine((s, ctx) => {
    if (s.backfill.to !== undefined && s.backfill.to <= s.backfill.from) {
      ctx.addIssue({ code: 'custom', path: ['backfill', 'to'], message: 'backfill.to must be later than backfill.from' });
    }
  })
  .transform((s): Schedule => {
    const out: Extract<Schedule, { kind: 'backfill' }> = {
      kind: 'backfill',
      from: s.backfill.from,
      chunkMs: s.backfill.chunk ?? BACKFILL_DEFAULTS.chunkMs,
      concurrency: s.backfill.concurrency ?? BACKFILL_DEFAULTS.concurrency,
    };
    if (s.backfill.to !== undefined) out.to = s.backfill.to;
    if (s.then) out.then = s.then;
    return out;
  });

const SCHEDULE_TEXT = 'a schedule: once, { every: 15m }, { cron: "*/5 * * * *", timezone?: ... } or { backfill: { from: 2024-01-01, ... }, then?: { every: 1h } }';

/** @internal A source's or group's schedule. */
export const scheduleSchema = z
  .union([onceSchedule, everySchedule, cronSchedule, backfillSchedule], { error: `expected ${SCHEDULE_TEXT}` })
  .describe('When the source runs: once, { every }, { cron } or { backfill, then }.');

// ---------------------------------------------------------------------------------------------
// resilience (partial here; merged with defaults in normalize.ts)

function layer<T extends z.ZodType>(shape: T, what: string) {
  return z.union([z.boolean(), shape], { error: `expected true, false or a mapping of ${what} options` });
}

const retrySchema = z.strictObject({
  maxRetries: int(0).optional().describe('Retries after the first attempt. Default: 3.'),
  initialDelay: duration().optional().describe('Delay before the first retry. Default: 2s.'),
  factor: num(1).optional().describe('Each next delay is the previous one times this. Default: 2.'),
  maxDelay: duration().optional().describe('Upper bound of a delay. Default: 60s.'),
  jitter: oneOf(['full', 'equal', 'none']).optional().describe('How delays are randomised. Default: equal.'),
});

const breakerSchema = z.strictObject({
  failureThreshold: int(1).optional().describe('Consecutive failures that open the circuit. Default: 5.'),
  successThreshold: int(1).optional().describe('Successful trials that close it again. Default: 2.'),
  resetTimeout: duration({ positive: true }).optional().describe('How long it stays open before a trial. Default: 60s.'),
  halfOpenMaxConcurrent: int(1).optional().describe('Trials at the same time while half-open. Default: 1.'),
  failureRateThreshold: fraction().optional().describe('Window mode: failure rate that opens the circuit. Default: off.'),
  windowSize: int(1).optional().describe('Window mode: number of recent calls considered. Default: 20.'),
  minimumCalls: int(1).optional().describe('Window mode: calls needed before rates count. Default: min(10, windowSize).'),
  slowCallDuration: duration({ positive: true }).optional().describe('Calls longer than this count as slow. Default: off.'),
  slowCallRateThreshold: fraction().optional().describe('Window mode: slow-call rate that opens the circuit. Default: 1 when slowCallDuration is set.'),
});

const throttleSchema = z.strictObject({
  initialDelay: duration().optional().describe('Delay between calls at start. Default: 1s.'),
  minDelay: duration().optional().describe('Lowest delay. Default: 100ms.'),
  maxDelay: duration().optional().describe('Highest delay. Default: 60s.'),
  speedUpAfter: int(1).optional().describe('Successes in a row after which the delay shrinks. Default: 10.'),
  speedUpFactor: num(0, { exclusive: true, max: 1 }).optional().describe('Delay multiplier after speedUpAfter successes. Default: 0.9.'),
  rateLimitFactor: num(1).optional().describe('Delay multiplier on HTTP 429 without Retry-After. Default: 2.'),
  errorFactor: num(1).optional().describe('Delay multiplier on other errors. Default: 1.5.'),
  maxConcurrent: int(1).optional().describe('Calls in flight at the same time. Default: 4.'),
});

const cacheSchema = z.strictObject({ ttl: duration({ positive: true }).optional().describe('How long a response stays fresh. Default: 5m.') });
const staleSchema = z.strictObject({ maxAge: duration({ positive: true }).optional().describe('Oldest value that may be served. Default: 24h.') });
const timedSchema = z.strictObject({
  warnAfter: duration().optional().describe('Log a warning for calls longer than this. Default: 30s.'),
  criticalAfter: duration().optional().describe('Log an error for calls longer than this. Default: 60s.'),
});

/** @internal The `resilience:` mapping of a source (or of `defaults:`). */
export const resilienceSchema = z.strictObject({
  timeout: z
    .union([z.literal(false), duration({ positive: true })], { error: `expected a positive duration such as 30s, or false` })
    .optional()
    .describe('Time limit of one attempt, or false. Default: 30s.'),
  retry: layer(retrySchema, 'retry').optional().describe('Retries with exponential backoff. Default: on (3 retries, 2s/4s/8s).'),
  circuitBreaker: layer(breakerSchema, 'circuit breaker').optional().describe('Circuit breaker. Default: on (5 failures, 2 trials, 60s).'),
  throttle: layer(throttleSchema, 'throttle').optional().describe('Adaptive throttle. Default: off.'),
  cache: layer(cacheSchema, 'cache').optional().describe('Cache of HTTP GET responses. Default: off.'),
  staleFallback: layer(staleSchema, 'stale fallback').optional().describe('Serve the last good result when everything failed. Default: off.'),
  timed: layer(timedSchema, 'timing').optional().describe('Duration metrics and slow-call logs. Default: on (warn 30s, critical 60s).'),
});

// ---------------------------------------------------------------------------------------------
// sources, groups

const streamRoute = z.strictObject({
  topic: topic().describe('Kafka topic of this stream.'),
  key: keyField().optional().describe("Record field used as the Kafka key. Default: the stream's own key field, if any."),
});

/** @internal One entry under `sources:`. */
export const sourceSchema = z.strictObject({
  plugin: str('a plugin package name (e.g. "@tributary/plugin-luchtmeetnet") or a path such as ./plugins/air.js').describe('Plugin package name or path relative to this file.'),
  config: z.record(z.string(), z.unknown(), { error: 'expected a mapping of plugin options' }).optional().describe("The plugin's options, checked against its schema."),
  schedule: scheduleSchema.optional(),
  topic: topic().optional().describe('Single-stream shorthand: the topic of the plugin\'s only stream.'),
  key: keyField().optional().describe('Single-stream shorthand: the key field of the plugin\'s only stream.'),
  streams: z
    .record(idKey('a stream name'), z.union([z.literal(false), streamRoute], { error: 'expected { topic: <name>, key?: <field> } or false' }), {
      error: 'expected a mapping of stream name to { topic, key? } or false',
    })
    .optional()
    .describe('Stream name → { topic, key? }, or false to drop the stream.'),
  resilience: resilienceSchema.optional(),
  shards: z
    .number({ error: 'expected a whole number of shards, 1-1024' })
    .int({ error: 'expected a whole number of shards, 1-1024' })
    .min(1, { error: 'expected a whole number of shards, 1-1024' })
    .max(1024, { error: 'expected a whole number of shards, 1-1024' })
    .optional()
    .describe('Split the source into this many units of work that workers run apart (backfill chunks, or the plugin\'s own split). Default: 1.'),
  enabled: z.boolean({ error: 'expected true or false' }).optional().describe('Default: true.'),
});

/** @internal One entry under `groups:`. */
export const groupSchema = z.strictObject({
  mode: oneOf(['all', 'first-available', 'quorum']).optional().describe('How member results combine. Default: all.'),
  sources: z.array(idKey('a source id'), { error: 'expected a list of source ids' }).min(1, { error: 'expected at least one source id' }).describe('Member source ids.'),
  quorum: int(1).optional().describe('mode quorum: how many members must succeed. Default: a majority.'),
  schedule: scheduleSchema.optional(),
});

// ---------------------------------------------------------------------------------------------
// sinks

const BROKER_TEXT = 'a broker address host:port, e.g. localhost:9092';
const BROKER = /^(\[[0-9A-Fa-f:.]+\]|[^\s:/[\]]+):\d{1,5}$/;
const brokers = z
  .union([z.string(), z.array(z.string())], { error: `expected a list of broker addresses (host:port) or one comma-separated string` })
  .transform((value, ctx) => {
    const list = (Array.isArray(value) ? value : value.split(',')).map((b) => b.trim()).filter((b) => b !== '');
    if (list.length === 0) ctx.addIssue({ code: 'custom', message: 'expected at least one broker address (host:port)', input: value });
    list.forEach((b, i) => {
      if (!BROKER.test(b)) ctx.addIssue({ code: 'custom', message: `expected ${BROKER_TEXT}`, path: Array.isArray(value) ? [i] : [], input: b });
    });
    return list;
  });

const httpUrl = z.string({ error: 'expected an http(s) URL' }).superRefine((u, ctx) => {
  try {
    const url = new URL(u);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('protocol');
  } catch {
    ctx.addIssue({ code: 'custom', message: 'expected an http(s) URL such as http://localhost:8081', input: u });
  }
});

const topicSettings = z.strictObject({
  partitions: int(1).optional().describe('Partitions when the sink creates the topic. Default: 1.'),
  replicationFactor: int(1).optional().describe('Replication factor when the sink creates the topic. Default: 1.'),
  config: z
    .record(z.string(), z.union([z.string(), z.number(), z.boolean()]), { error: 'expected a mapping of topic settings (e.g. retention.ms: 604800000)' })
    .optional()
    .describe('Topic configuration entries, e.g. cleanup.policy: compact.'),
});

const fileSink = z.strictObject({
  type: z.literal('file'),
  dir: str('a directory path').optional().describe('Directory for the Avro files, relative to this file. Default: ./out.'),
  codec: oneOf(['null', 'deflate']).optional().describe('Avro block compression. Default: deflate.'),
  flushEvery: duration({ positive: true }).optional().describe('How often buffered records are written. Default: 1s.'),
});

const stdoutSink = z.strictObject({ type: z.literal('stdout') });

const kafkaSink = z.strictObject({
  type: z.literal('kafka'),
  brokers: brokers.describe('Bootstrap brokers, host:port.'),
  clientId: str('a client id').optional().describe('Kafka client id. Default: tributary-<pipeline name>.'),
  client: oneOf(['kafkajs', 'confluent']).optional().describe('Kafka client library. Default: kafkajs.'),
  wireFormat: oneOf(['registry', 'single-object']).optional().describe('registry (Confluent framing) or single-object. Default: registry when schemaRegistry is set, else single-object.'),
  schemaRegistry: z
    .strictObject({
      url: httpUrl,
      username: str('a user name').optional(),
      password: str('a password').optional(),
      compatibility: oneOf(['BACKWARD', 'BACKWARD_TRANSITIVE', 'FORWARD', 'FORWARD_TRANSITIVE', 'FULL', 'FULL_TRANSITIVE', 'NONE'])
        .optional()
        .describe('Compatibility level set on new subjects. Default: BACKWARD.'),
    })
    .optional(),
  sasl: z
    .strictObject({
      mechanism: oneOf(['plain', 'scram-sha-256', 'scram-sha-512']),
      username: str('a user name'),
      password: str('a password'),
    })
    .optional(),
  ssl: z
    .union(
      [
        z.boolean(),
        z.strictObject({
          ca: str('a PEM certificate').optional(),
          cert: str('a PEM certificate').optional(),
          key: str('a PEM private key').optional(),
          rejectUnauthorized: z.boolean({ error: 'expected true or false' }).optional(),
        }),
      ],
      { error: 'expected true, false or a mapping { ca?, cert?, key?, rejectUnauthorized? }' },
    )
    .optional(),
  compression: oneOf(['none', 'gzip', 'snappy', 'lz4', 'zstd']).optional().describe('Batch compression. Default: none.'),
  batch: z
    .strictObject({
      maxRecords: int(1).optional().describe('Records per produce request. Default: 500.'),
      linger: duration().optional().describe('How long to wait to fill a batch. Default: 50ms.'),
    })
    .optional(),
  buffer: z
    .strictObject({
      maxRecords: int(1).optional().describe('Records waiting for Kafka before sources pause. Default: 10000.'),
      maxBytes: z
        .union([z.number(), z.string()], { error: 'expected a size such as 64MiB or a number of bytes' })
        .transform((v, ctx) => {
          const n = parseByteSize(v);
          if (n === undefined || n <= 0) {
            ctx.addIssue({ code: 'custom', message: 'expected a size such as 64MiB or a number of bytes', input: v });
            return z.NEVER;
          }
          return n;
        })
        .optional()
        .describe('Bytes waiting for Kafka before sources pause. Default: 64MiB.'),
    })
    .optional(),
  exactlyOnce: z.boolean({ error: 'expected true or false' }).optional().describe('Write the records of a cycle and their checkpoint in one Kafka transaction per source (transactional id <pipeline>.<source>). Default: false.'),
  transactionTimeout: duration({ positive: true })
    .optional()
    .describe("With exactlyOnce: how long a cycle's transaction may stay open before the broker aborts it (at most the broker's transaction.max.timeout.ms, 15m by default). Default: 60s."),
  topics: z.record(topic(), topicSettings, { error: 'expected a mapping of topic name to settings' }).optional().describe('Per-topic settings used when topics are created.'),
  deadLetterSuffix: z
    .string({ error: 'expected a topic-name suffix such as .dlq' })
    .regex(/^[A-Za-z0-9._-]{1,40}$/, { error: 'expected a topic-name suffix such as .dlq' })
    .optional()
    .describe('Dead-letter topic = topic + this. Default: .dlq.'),
});

/** @internal The `sink:` mapping. */
export const sinkSchema = z.discriminatedUnion('type', [fileSink, stdoutSink, kafkaSink], { error: 'expected a sink mapping with type: file, stdout or kafka' });

// ---------------------------------------------------------------------------------------------
// the file

/** @internal Pipeline names: letters, digits, `.`, `_` and `-`, starting with a letter or digit. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** @internal The whole pipeline file as written. */
export const pipelineFileSchema = z.strictObject(
  {
    name: z
      .string({ error: 'expected a pipeline name' })
      .regex(NAME_PATTERN, { error: 'expected a pipeline name: letters, digits, ".", "_" and "-", starting with a letter or digit' })
      .optional()
      .describe('Pipeline name (client ids, logs, metrics). Default: the file name without extension.'),
    defaults: z
      .strictObject({ schedule: scheduleSchema.optional(), resilience: resilienceSchema.optional() })
      .optional()
      .describe('Schedule and resilience settings every source inherits; a source overrides them key by key.'),
    sources: z.record(idKey('a source id'), sourceSchema, { error: 'expected a mapping of source id to source' }).describe('The sources, by id.'),
    groups: z.record(idKey('a group id'), groupSchema, { error: 'expected a mapping of group id to group' }).optional().describe('Multi-source groups, by id.'),
    sink: sinkSchema.optional().describe('Where records go. Default: { type: file, dir: ./out }.'),
    stateDir: str('a directory path').optional().describe('Checkpoint directory, relative to this file. Default: ./.tributary/state.'),
    metrics: z
      .union(
        [
          z.boolean(),
          z.strictObject({
            enabled: z.boolean({ error: 'expected true or false' }).optional().describe('Default: true.'),
            host: str('a host name or address').optional().describe('Default: 127.0.0.1.'),
            port: z.number({ error: 'expected a port number 0-65535' }).int({ error: 'expected a port number 0-65535' }).min(0, { error: 'expected a port number 0-65535' }).max(65535, { error: 'expected a port number 0-65535' }).optional().describe('Default: 9464 (0 = any free port).'),
          }),
        ],
        { error: 'expected true, false or a mapping { enabled?, host?, port? }' },
      )
      .optional()
      .describe('Prometheus /metrics endpoint.'),
    shutdown: z.strictObject({ timeout: duration().optional().describe('How long a graceful shutdown may take. Default: 30s.') }).optional(),
    workers: z
      .strictObject({
        topic: str('a Kafka topic name').optional().describe('Control topic whose partitions stand for the units of work. Default: _tributary_work.<pipeline>.'),
        group: str('a consumer group id').optional().describe('Consumer group the workers form. Default: tributary.<pipeline>.workers.'),
        partitions: z.number({ error: 'expected a whole number of partitions' }).int({ error: 'expected a whole number of partitions' }).min(1, { error: 'expected at least 1 partition' }).optional().describe('Partitions of the control topic when it is created; never fewer than the units of work. Default: the number of units.'),
        sessionTimeout: duration().optional().describe('How long the group waits for a silent worker before moving its units. Default: 10s.'),
        heartbeatInterval: duration().optional().describe('How often a worker tells the group it is alive. Default: 1s.'),
        drainTimeout: duration().optional().describe('How long a new owner waits for the previous one to finish its cycle and release a unit. Default: shutdown.timeout + 5s.'),
      })
      .optional()
      .describe('Worker mode (`tributary run --worker`): how workers share the pipeline through a Kafka consumer group.'),
  },
  { error: 'expected a mapping with keys such as name, sources, groups, sink' },
);

/** @internal The pipeline file as parsed by {@link pipelineFileSchema}. */
export type PipelineFile = z.output<typeof pipelineFileSchema>;
/** @internal A `resilience:` mapping as parsed. */
export type ResilienceInput = z.output<typeof resilienceSchema>;

/**
 * JSON Schema of the pipeline file, for editor completion and checks.
 *
 * Describes the file as written (durations as `30s` or numbers, schedules in all their forms). Checks
 * that JSON Schema cannot express (cron syntax, references between sources and groups, plugin
 * options) are made by `loadPipeline` / `resolvePipeline` only.
 *
 * @example
 * ```ts
 * import { writeFileSync } from 'node:fs';
 * import { pipelineJsonSchema } from '@tributary/core';
 * writeFileSync('pipeline.schema.json', JSON.stringify(pipelineJsonSchema(), null, 2));
 * // then, first line of pipeline.yaml:  # yaml-language-server: $schema=./pipeline.schema.json
 * ```
 */
export function pipelineJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(pipelineFileSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}
