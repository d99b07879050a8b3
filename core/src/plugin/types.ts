/**
 * The plugin contract: what a collector plugin declares, and what the runtime hands it.
 * `definePlugin` (plugin/definePlugin.ts) builds a {@link TributaryPlugin} from a definition.
 */
import type { Observable } from 'rxjs';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { ZodType } from 'zod';

/** A JSON Avro schema, as accepted by avsc (typed precisely by `AvroSchema` in serde/types). */
export type AvroSchemaLike = string | Record<string, unknown> | readonly unknown[];

/** One output stream of a plugin: its Avro schema and a default key field. */
export interface StreamDefinition<S extends AvroSchemaLike = AvroSchemaLike> {
  schema: S;
  /** Record field used as the Kafka key unless the pipeline says otherwise. */
  key?: string;
  /** One line on what a record of this stream is. */
  description?: string;
}

/** A record emitted by a collector, tagged with its stream. */
export interface StreamRecord<Stream extends string = string, V = Record<string, unknown>> {
  stream: Stream;
  value: V;
  /** Event time (epoch ms); default: when the record was fetched. */
  timestamp?: number;
  /** Overrides the key taken from the key field. */
  key?: string | null;
  /** Extra headers, merged over the provenance headers. */
  headers?: Record<string, string>;
}

/** What one cycle of a collector is asked to do. */
export interface CycleInfo {
  /** 1-based cycle number since start. */
  cycle: number;
  /** For backfill chunks: the time window this cycle covers, [start, end) in epoch ms. */
  window?: { start: number; end: number };
  /** True when the run was started with `--force-refresh`: caches must not be read. */
  forceRefresh: boolean;
  /** Aborted when the cycle is cancelled (shutdown, timeout). */
  signal: AbortSignal;
}

/** A collector: what `create(config, ctx)` returns. */
export interface Collector<R extends StreamRecord = StreamRecord> {
  /** One cycle: a cold Observable of records that completes when the cycle is done. */
  collect?(cycle: CycleInfo): Observable<R>;
  /** A long-lived feed (websocket, SSE): subscribed once, runs until unsubscribed. */
  stream?(signal: AbortSignal): Observable<R>;
  /** Releases resources (sockets, timers) at shutdown. */
  close?(): void | Promise<void>;
}

/** HTTP access handed to plugins; every call goes through the source's resilience stack. */
export interface PluginHttp {
  getJson$<T = unknown>(url: string, opts?: PluginRequestOptions): Observable<T>;
  getText$(url: string, opts?: PluginRequestOptions): Observable<string>;
  getJson<T = unknown>(url: string, opts?: PluginRequestOptions): Promise<T>;
  getText(url: string, opts?: PluginRequestOptions): Promise<string>;
}

export interface PluginRequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  headers?: Record<string, string>;
  /** Cache this GET for `ttlMs` (overrides the source's cache setting; 0 = never). */
  cacheTtlMs?: number;
  signal?: AbortSignal;
}

/** Keyed store with TTL (the one `cacheFirst` uses). */
export interface PluginCache {
  get<T>(key: string): T | undefined;
  set<T>(key: string, value: T, ttlMs: number): void;
  delete(key: string): void;
}

/**
 * Checkpoint store of one source (a backfill's finished chunks, the last timestamp seen).
 * `set` is staged: it becomes durable only after the records of the same cycle were
 * acknowledged by the sink, so a restart never skips records that were not delivered.
 */
export interface PluginState {
  get<T = unknown>(key: string): Promise<T | undefined>;
  set<T = unknown>(key: string, value: T): Promise<void>;
  delete(key: string): Promise<void>;
}

/** Everything the runtime hands to `create(config, ctx)`. */
export interface PluginContext {
  /** The source id (its key under `sources:` in the pipeline file). */
  source: string;
  http: PluginHttp;
  /** pino child logger named after the source. */
  log: Logger;
  /** prom-client registry for the plugin's own metrics. */
  metrics: Registry;
  cache: PluginCache;
  state: PluginState;
  /** Aborted at shutdown. */
  signal: AbortSignal;
  /** Secret values from the environment: scrub them from anything the plugin reports. */
  secrets: readonly string[];
}

/** What a plugin package exports (default export or named `plugin`). */
export interface TributaryPlugin<C = unknown, Streams extends Record<string, StreamDefinition> = Record<string, StreamDefinition>> {
  readonly kind: 'tributary-plugin';
  readonly name: string;
  readonly version: string;
  /** semver range of @tributary/core the plugin works with. */
  readonly coreVersion: string;
  readonly description?: string;
  readonly configSchema: ZodType<C>;
  readonly streams: Streams;
  create(config: C, ctx: PluginContext): Collector | Promise<Collector>;
}
