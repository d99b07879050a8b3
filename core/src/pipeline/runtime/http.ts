import { Observable, map } from 'rxjs';
import type { HttpClient, HttpRequestOptions, HttpResponse } from '../../http/client.js';
import { redactUrl, scrubSecrets } from '../../http/redact.js';
import type { PluginHttp, PluginRequestOptions, PluginResponse } from '../../plugin/types.js';
import type { SourceResilience } from './resilience.js';
import { currentScope, runInScope, type CycleScope } from './scope.js';

/** Options of {@link ResilientHttp}. */
export interface ResilientHttpOptions {
  source: string;
  client: HttpClient;
  resilience: SourceResilience;
  /** `--force-refresh`: cache reads are skipped (results are still stored). */
  forceRefresh: boolean;
  /** Secrets scrubbed from cache keys. */
  secrets: readonly string[];
  /**
   * Sends every absolute URL to this origin instead (testkit: point a plugin with hard-coded API
   * hosts at a stub server). A path in it is put before each request's path; `{scheme}` and
   * `{host}` in that path are replaced by the original URL's scheme and `host[:port]`, so that one
   * local server can tell the hosts apart (record and replay: `http://127.0.0.1:8080/{scheme}/{host}`
   * sends `https://api.example.com/v1/x` to `http://127.0.0.1:8080/https/api.example.com/v1/x`).
   * Default: none.
   */
  rewriteOrigin?: string | undefined;
}

/**
 * @internal The `ctx.http` of one source: the HTTP client behind the source's resilience stack.
 *
 * Every call goes through the stack (see `buildResilience`), keyed for the cache and the stale
 * fallback by method, response kind (`json`, `text`, `response`) and the redacted URL with its
 * query. `expectStatus` and `emptyOn` go to the client: an expected status is a value, so every
 * layer sees a success; an `emptyOn` status completes the call without a value (never cached).
 * `get$`/`get` deliver a {@link PluginResponse} whose body was read by the client; the same object
 * is what the cache and the stale fallback keep, so a cached response has its status, headers and
 * body. A value served from the cache or by stale fallback marks the current cycle, which sets
 * the `tributary-origin` header of its records. Values are delivered inside the cycle's async context, so checkpoint writes made in
 * reaction to them are staged in the right cycle. Inside a cycle, every call is also aborted when
 * the cycle is cancelled.
 */
export class ResilientHttp implements PluginHttp {
  constructor(private readonly options: ResilientHttpOptions) {}

  getJson$<T = unknown>(url: string, opts?: PluginRequestOptions): Observable<T> {
    return this.call<T>(url, opts, 'json');
  }

  getText$(url: string, opts?: PluginRequestOptions): Observable<string> {
    return this.call<string>(url, opts, 'text');
  }

  getJson<T = unknown>(url: string, opts: PluginRequestOptions & { emptyOn: readonly number[] }): Promise<T | undefined>;
  getJson<T = unknown>(url: string, opts?: PluginRequestOptions): Promise<T>;
  getJson<T = unknown>(url: string, opts?: PluginRequestOptions): Promise<T | undefined> {
    return this.promise(this.call<T>(url, opts, 'json'), opts?.signal);
  }

  getText(url: string, opts: PluginRequestOptions & { emptyOn: readonly number[] }): Promise<string | undefined>;
  getText(url: string, opts?: PluginRequestOptions): Promise<string>;
  getText(url: string, opts?: PluginRequestOptions): Promise<string | undefined> {
    return this.promise(this.call<string>(url, opts, 'text'), opts?.signal);
  }

  get$(url: string, opts?: PluginRequestOptions): Observable<PluginResponse> {
    return this.call<PluginResponse>(url, opts, 'response');
  }

  get(url: string, opts: PluginRequestOptions & { emptyOn: readonly number[] }): Promise<PluginResponse | undefined>;
  get(url: string, opts?: PluginRequestOptions): Promise<PluginResponse>;
  get(url: string, opts?: PluginRequestOptions): Promise<PluginResponse | undefined> {
    return this.promise(this.call<PluginResponse>(url, opts, 'response'), opts?.signal);
  }

  /** The cache key of a request: `GET json <redacted URL with query>` (`json`, `text` or `response`). */
  keyOf(url: string, opts: PluginRequestOptions | undefined, mode: Mode): string {
    return `GET ${mode} ${scrubSecrets(redactUrl(this.resolve(url, opts?.query)), this.options.secrets)}`;
  }

  private resolve(url: string, query: PluginRequestOptions['query'], rewrite = true): string {
    const target = rewrite ? this.rewrite(url) : url;
    if (!query) return target;
    const base = 'http://relative.invalid';
    let u: URL;
    try {
      u = new URL(target, base);
    } catch {
      return target;
    }
    for (const [k, v] of Object.entries(query)) if (v !== undefined) u.searchParams.append(k, String(v));
    return u.origin === base && !target.startsWith(base) ? u.href.slice(base.length) : u.href;
  }

  private call<T>(url: string, opts: PluginRequestOptions | undefined, mode: Mode): Observable<T> {
    const { source, client, resilience, forceRefresh } = this.options;
    const created = currentScope();
    return new Observable<T>((subscriber) => {
      const scope: CycleScope | undefined = currentScope() ?? created;
      let key: string;
      let target: string;
      let shown = '';
      try {
        key = this.keyOf(url, opts, mode);
        target = this.rewrite(url);
        if (mode === 'response') shown = this.safeUrl(url, opts);
      } catch (err) {
        subscriber.error(err);
        return undefined;
      }
      const request: HttpRequestOptions = { source };
      if (opts?.query) request.query = opts.query;
      if (opts?.headers) request.headers = opts.headers;
      if (opts?.expectStatus !== undefined) request.expectStatus = opts.expectStatus;
      if (opts?.emptyOn !== undefined) request.emptyOn = opts.emptyOn;
      const signals = [opts?.signal, scope?.signal].filter((s): s is AbortSignal => s !== undefined);
      if (signals.length === 1) request.signal = signals[0]!;
      else if (signals.length > 1) request.signal = AbortSignal.any(signals);
      const attempt$: Observable<T> =
        mode === 'json'
          ? client.getJson$<T>(target, request)
          : mode === 'text'
            ? (client.getText$(target, request) as Observable<T>)
            : (client.get$(target, request).pipe(map((res) => pluginResponse(res, shown))) as Observable<T>);
      const wrapped = resilience.wrap(attempt$, {
        key,
        cacheTtlMs: opts?.cacheTtlMs,
        forceRefresh,
        onOrigin: (origin) => {
          const state = scope?.of(source);
          if (origin === 'cache') state?.markCache();
          else state?.markStale();
        },
      });
      const subscription = wrapped.subscribe({
        next: (value) => runInScope(scope, () => subscriber.next(value)),
        error: (err: unknown) => runInScope(scope, () => subscriber.error(err)),
        complete: () => runInScope(scope, () => subscriber.complete()),
      });
      return subscription;
    });
  }

  /** The URL as the plugin asked for it (with its query, before any origin rewrite), safe to show. */
  private safeUrl(url: string, opts: PluginRequestOptions | undefined): string {
    return scrubSecrets(redactUrl(this.resolve(url, opts?.query, false)), this.options.secrets);
  }

  private rewrite(url: string): string {
    const rewrite = this.options.rewriteOrigin;
    if (!rewrite || !/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) return url;
    const u = new URL(url);
    const base = new URL(rewrite.replaceAll('{scheme}', u.protocol.slice(0, -1)).replaceAll('{host}', u.host));
    const prefix = base.pathname.replace(/\/+$/, '');
    return `${base.origin}${prefix}${u.pathname}${u.search}`;
  }

  private promise<T>(obs: Observable<T>, signal: AbortSignal | undefined): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      let last: { value: T } | undefined;
      const onAbort = (): void => {
        subscription.unsubscribe();
        reject(signal!.reason);
      };
      const subscription = obs.subscribe({
        next: (value) => {
          last = { value };
        },
        error: (err: unknown) => {
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
        complete: () => {
          signal?.removeEventListener('abort', onAbort);
          if (last) resolve(last.value);
          else resolve(undefined as T);
        },
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

type Mode = 'json' | 'text' | 'response';

/**
 * The {@link PluginResponse} of a client response: status, the URL as the plugin asked for it,
 * headers, and the body the client already read (size-limited). `json()` is the client's, so a
 * body that is not JSON throws its `ResponseError` (`ERR_BAD_JSON`, naming source and URL).
 */
function pluginResponse(res: HttpResponse, url: string): PluginResponse {
  const headers = res.headers;
  return Object.freeze({
    status: res.status,
    url,
    headers: Object.freeze({ get: (name: string): string | null => headers.get(name) }),
    text: (): string => res.text(),
    json: <T = unknown>(): T => res.json<T>(),
  });
}
