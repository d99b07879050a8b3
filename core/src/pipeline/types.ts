/**
 * The contract between the pipeline config loader, the runtime and the sinks.
 *
 * A pipeline file (YAML) is loaded and validated into a {@link PipelineConfig}; every duration is
 * already in milliseconds and every `${VAR}` already substituted. The runtime turns each source's
 * records into {@link Envelope}s and hands them to a {@link Sink}.
 */
import type { AvroSchemaLike } from '../plugin/types.js';

/** How often a source runs. */
export type Schedule =
  | { kind: 'every'; intervalMs: number; jitterMs?: number }
  | { kind: 'cron'; expression: string; timezone?: string }
  | { kind: 'once' }
  | {
      kind: 'backfill';
      /** Start of the window, inclusive (epoch ms). */
      from: number;
      /** End of the window, exclusive (epoch ms); `undefined` = now at start-up. */
      to?: number;
      /** Length of one chunk in ms (default 60 days). */
      chunkMs: number;
      /** How many chunks run at once (default 1). */
      concurrency: number;
      /** What to do once the window is done: poll on, or stop. */
      then?: { kind: 'every'; intervalMs: number } | { kind: 'cron'; expression: string; timezone?: string };
    };

/** The resilience stack of one source; every layer is optional (`undefined` = off). */
export interface ResilienceConfig {
  timeoutMs?: number;
  retry?: { maxRetries: number; initialDelayMs: number; factor: number; maxDelayMs: number; jitter: 'full' | 'equal' | 'none' };
  circuitBreaker?: {
    failureThreshold: number;
    successThreshold: number;
    resetTimeoutMs: number;
    halfOpenMaxConcurrent: number;
    failureRateThreshold?: number;
    windowSize?: number;
    minimumCalls?: number;
    slowCallDurationMs?: number;
    slowCallRateThreshold?: number;
  };
  throttle?: {
    initialDelayMs: number;
    minDelayMs: number;
    maxDelayMs: number;
    speedUpAfter: number;
    speedUpFactor: number;
    rateLimitFactor: number;
    errorFactor: number;
    maxConcurrent: number;
  };
  /** HTTP GET responses cached per URL for `ttlMs`. */
  cache?: { ttlMs: number };
  staleFallback?: { maxAgeMs: number };
  timed?: { warnAfterMs: number; criticalAfterMs: number };
}

/** Where one output stream of a source goes. */
export interface StreamRoute {
  topic: string;
  /** Record field used as the Kafka key (dotted path allowed); none = null key. */
  key?: string;
}

/** One source of a pipeline, validated. */
export interface SourceConfig {
  /** The source's id (its key under `sources:`). */
  id: string;
  /** Plugin specifier as written: a package name or a path relative to the pipeline file. */
  plugin: string;
  /** The plugin's own options, validated later against the plugin's `configSchema`. */
  config: Record<string, unknown>;
  schedule: Schedule;
  resilience: ResilienceConfig;
  /**
   * Stream name → route. A single-stream plugin may use the source-level `topic`/`key`: after
   * `loadPipeline` that shorthand sits under the name `'*'` (`SINGLE_STREAM`); `resolvePipeline`
   * replaces it by the plugin's only stream and fills in each stream's default key, so after
   * `resolvePipeline` every key here is a real stream name of the plugin.
   */
  streams: Record<string, StreamRoute>;
  /** Streams the pipeline turned off (`streams: { name: false }`): their records are discarded. */
  droppedStreams?: string[];
  /** Units of work the source is split into (`shards:`; 1 = not split). */
  shards: number;
  enabled: boolean;
}

/** A multi-source group: several sources combined per cycle. */
export interface GroupConfig {
  id: string;
  mode: 'all' | 'first-available' | 'quorum';
  sources: string[];
  /** For `quorum`: how many sources must succeed (default: a majority). */
  quorum?: number;
  schedule: Schedule;
}

export interface TopicConfig {
  partitions: number;
  replicationFactor: number;
  config: Record<string, string>;
}

export type SinkConfig =
  | { type: 'file'; dir: string; codec: 'null' | 'deflate'; flushEveryMs: number }
  | { type: 'stdout' }
  | {
      type: 'kafka';
      brokers: string[];
      clientId: string;
      client: 'kafkajs' | 'confluent';
      wireFormat: 'registry' | 'single-object';
      schemaRegistry?: { url: string; username?: string; password?: string; compatibility: string };
      sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
      ssl?: boolean | { ca?: string; cert?: string; key?: string; rejectUnauthorized?: boolean };
      compression: 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';
      batch: { maxRecords: number; lingerMs: number };
      buffer: { maxRecords: number; maxBytes: number };
      exactlyOnce: boolean;
      /** With `exactlyOnce`: how long a cycle's transaction may stay open before the broker aborts it, in ms. */
      transactionTimeoutMs: number;
      topics: Record<string, Partial<TopicConfig>>;
      deadLetterSuffix: string;
    };

/** How workers of a pipeline share its units of work (`workers:` in the pipeline file). */
export interface WorkersConfig {
  /** Control topic; one partition per unit of work. Default `_tributary_work.<pipeline>`. */
  topic: string;
  /** Consumer group of the workers. Default `tributary.<pipeline>.workers`. */
  groupId: string;
  /** Partitions of the control topic when it is created (at least the number of units). */
  partitions?: number;
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  drainTimeoutMs: number;
}

export interface PipelineConfig {
  /** Absolute path of the pipeline file. */
  file: string;
  name: string;
  sources: Record<string, SourceConfig>;
  groups: Record<string, GroupConfig>;
  sink: SinkConfig;
  /** Where `ctx.state` checkpoints live when the sink has no store of its own. */
  stateDir: string;
  metrics: { enabled: boolean; host: string; port: number };
  shutdown: { timeoutMs: number };
  /** Worker mode settings (`tributary run --worker`); see docs/scaling.md. */
  workers: WorkersConfig;
  /** Values that came from the environment and must never be logged. */
  secrets: string[];
}

/** A record on its way to a sink. */
export interface Envelope<V = Record<string, unknown>> {
  topic: string;
  key: string | null;
  value: V;
  /** Epoch ms. */
  timestamp: number;
  /** Provenance: `tributary-source`, `tributary-plugin`, `tributary-plugin-version`, `tributary-fetched-at`, `tributary-origin` (`live` | `cache` | `stale`). */
  headers: Record<string, string>;
}

/** A record that could not be delivered as is, with the reason. */
export interface DeadLetter {
  /** The topic the record was meant for. */
  topic: string;
  source: string;
  /** Stable error code, e.g. `ERR_SCHEMA`. */
  code: string;
  /** Dotted path of the bad field, when known. */
  field?: string;
  /** The shard of the source that produced the record, for a source split into shards. */
  shard?: number;
  reason: string;
  /** The record as JSON-safe data (bigints as strings, buffers as base64). */
  value: unknown;
  timestamp: number;
}

/** What a sink needs to know about each topic before the first record. */
export interface TopicSpec {
  topic: string;
  schema: AvroSchemaLike;
  source: string;
  stream: string;
}

/**
 * Where envelopes end. `write` resolves only when the records are durable (acknowledged), which
 * is when the runtime commits the source's checkpoint.
 */
export interface Sink {
  readonly name: string;
  start(topics: readonly TopicSpec[]): Promise<void>;
  write(batch: readonly Envelope[]): Promise<void>;
  writeDeadLetters(letters: readonly DeadLetter[]): Promise<void>;
  flush(): Promise<void>;
  close(): Promise<void>;
}
