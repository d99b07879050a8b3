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
  /**
   * For a source split into shards (`shards: N` in the pipeline): which share of the work this
   * cycle does, `index` in `0 .. count - 1`. A plugin that declares `shards: true` collects only
   * its share (for instance the stations whose id hashes to `index`; see `shardOf`). Backfill
   * chunks are split by the runtime itself, so their cycles need not look at it.
   */
  shard?: { index: number; count: number };
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

/**
 * HTTP access handed to plugins (`ctx.http`); every call goes through the source's resilience
 * stack (timeout, throttle, circuit breaker, retries, cache, stale fallback).
 *
 * - `getJson$` / `getJson`: the body parsed as JSON (sends `Accept: application/json`).
 * - `getText$` / `getText`: the body decoded as text.
 * - `get$` / `get`: the whole response ({@link PluginResponse}: status, headers and body), for
 *   APIs whose status or headers matter (a `Link` header to the next page, a document sent with
 *   HTTP 400).
 *
 * The `$` forms return cold Observables (one subscription = one call through the stack); the
 * others return Promises. A status outside `expectStatus` (default 200–299) fails the call with
 * an `HttpError`; a status listed in `emptyOn` ends it without a value (the Observable completes
 * empty, the Promise resolves `undefined`).
 *
 * @example
 * ```ts
 * import type { PluginContext } from '@tributary/core';
 * async function items(ctx: PluginContext): Promise<{ id: string }[]> {
 *   const res = await ctx.http.get('https://api.example.com/v1/items', { query: { page: 1 }, expectStatus: [200, 400] });
 *   if (res.status === 400) throw new Error(`rejected: ${res.text()}`);
 *   ctx.log.debug({ next: res.headers.get('link') }, 'page read');
 *   return res.json<{ id: string }[]>();
 * }
 * ```
 */
export interface PluginHttp {
  getJson$<T = unknown>(url: string, opts?: PluginRequestOptions): Observable<T>;
  getText$(url: string, opts?: PluginRequestOptions): Observable<string>;
  getJson<T = unknown>(url: string, opts: PluginRequestOptions & { emptyOn: readonly number[] }): Promise<T | undefined>;
  getJson<T = unknown>(url: string, opts?: PluginRequestOptions): Promise<T>;
  getText(url: string, opts: PluginRequestOptions & { emptyOn: readonly number[] }): Promise<string | undefined>;
  getText(url: string, opts?: PluginRequestOptions): Promise<string>;
  /** The whole response (status, headers, body already read) as a cold Observable. */
  get$(url: string, opts?: PluginRequestOptions): Observable<PluginResponse>;
  /** The whole response (status, headers, body already read) as a Promise. */
  get(url: string, opts: PluginRequestOptions & { emptyOn: readonly number[] }): Promise<PluginResponse | undefined>;
  get(url: string, opts?: PluginRequestOptions): Promise<PluginResponse>;
}

/**
 * Options of one `ctx.http` call. All are optional.
 *
 * @example
 * ```ts
 * import type { PluginRequestOptions } from '@tributary/core';
 * const opts: PluginRequestOptions = {
 *   query: { zone: 'NL', page: 2, from: undefined }, // undefined values are left out
 *   headers: { 'x-api-version': '2' },
 *   expectStatus: (status) => status === 200 || status === 400,
 *   emptyOn: [404],
 *   cacheTtlMs: 60_000,
 *   signal: AbortSignal.timeout(30_000),
 * };
 * ```
 */
export interface PluginRequestOptions {
  /** Query parameters appended to the URL's own; `undefined` values are left out. Default: none. */
  query?: Record<string, string | number | boolean | undefined>;
  /** Request headers. Default: none (the client's `User-Agent`). */
  headers?: Record<string, string>;
  /** Cache this GET for `ttlMs` (overrides the source's cache setting; 0 = never). Default: the source's `resilience.cache`. */
  cacheTtlMs?: number;
  /** Aborts the call (the Promise forms reject with `signal.reason`). Default: none (the cycle's signal still applies). */
  signal?: AbortSignal;
  /**
   * Statuses whose answer is data: a list, or a predicate. A status outside it fails the call
   * with an `HttpError` (`status`, `retryAfterMs`, the start of the body). An expected status
   * is a success for every layer of the resilience stack (the circuit breaker, the throttle,
   * the cache), even when it is not 2xx. Default: 200–299.
   */
  expectStatus?: readonly number[] | ((status: number) => boolean);
  /**
   * Statuses that mean "no data" rather than failure (e.g. `[404]`): the Observable completes
   * without a value, the Promise resolves `undefined`; nothing is cached. Default: none.
   */
  emptyOn?: readonly number[];
}

/**
 * One HTTP response as `ctx.http.get$` / `ctx.http.get` deliver it: the body is already read
 * (within the client's size limit), so `text()` and `json()` can be called any number of times.
 * A response served from the cache or by stale fallback has the status, headers and body of the
 * original answer.
 *
 * @example
 * ```ts
 * import type { PluginResponse } from '@tributary/core';
 * function nextPage(res: PluginResponse): string | undefined {
 *   return /<([^>]+)>;\s*rel="next"/.exec(res.headers.get('link') ?? '')?.[1];
 * }
 * ```
 */
export interface PluginResponse {
  /** HTTP status code. */
  readonly status: number;
  /** The requested URL with its query, sensitive parameters redacted and secrets scrubbed (safe to log). */
  readonly url: string;
  /** Response headers; names are case-insensitive; `null` when absent. */
  readonly headers: { get(name: string): string | null };
  /** The body decoded as text (charset from `Content-Type`, default UTF-8). */
  text(): string;
  /**
   * The body parsed as JSON. Throws a `ResponseError` with code `ERR_BAD_JSON`, naming the
   * source and the URL, when the body is not JSON (or empty).
   */
  json<T = unknown>(): T;
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
  /**
   * The plugin's streams by name. When `streamsFor` is present, these are the streams shown
   * where no config is at hand (`tributary plugins`), and may be empty.
   */
  readonly streams: Streams;
  /**
   * The streams of one source, from its parsed options (for plugins whose record schema or
   * stream names come from the config, such as a generic HTTP plugin). Called once per source
   * when the pipeline is resolved; its streams are checked like static ones (valid Avro record
   * schemas, key fields that exist), with problems reported under `sources.<id>.config`.
   * Default: `streams` for every config.
   */
  streamsFor?(config: C): Record<string, StreamDefinition>;
  /**
   * True when `collect()` honours `cycle.shard` (collects only its share of the work), so that a
   * polling source of this plugin can be split into shards that run on different workers.
   * Default `false`: only backfills of the plugin can be sharded (by chunk).
   */
  readonly shards?: boolean;
  create(config: C, ctx: PluginContext): Collector | Promise<Collector>;
}
