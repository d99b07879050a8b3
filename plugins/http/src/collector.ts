/**
 * The collector of the http plugin: one cycle renders the request, follows the pages, selects the
 * records of each page and maps them to the stream's schema.
 */
import { EMPTY, Observable, concatMap, defaultIfEmpty, defer, expand, from, map, throwError } from 'rxjs';
import { ConfigError, ResponseError, redactUrl, scrubSecrets } from '@tributary/core';
import type { CycleInfo, PluginContext, PluginRequestOptions, PluginResponse, StreamRecord } from '@tributary/core';
import type { HttpConfig, StreamSpec } from './config.js';
import { findLink } from './linkHeader.js';
import { compileField, mapRecord, readSchema, type AvroNode, type FieldRule } from './mapping.js';
import { compilePath, isObject, selectAll, selectOne, type JsonPath } from './path.js';
import { compileTemplate, renderTemplate, type Template, type TemplateScope } from './template.js';

/** One request of the page sequence. */
interface PageRequest {
  /** 1-based number of the page within the cycle. */
  n: number;
  url: string;
  query: Record<string, string | number | boolean>;
  /** Records fetched on the earlier pages. */
  seen: number;
  /** Page number (page), offset (offset) or cursor (cursor) of this request. */
  position: number | string | undefined;
}

interface Page {
  request: PageRequest;
  body: unknown;
  records: unknown[];
  link: string | null;
  dropped: boolean;
}

/**
 * Builds the collector of one source. `spec` is the source's stream: its schema (the config's own,
 * or the plugin's) and default event-time field.
 */
export function createCollector(config: HttpConfig, ctx: PluginContext, spec: StreamSpec): { collect(cycle: CycleInfo): Observable<StreamRecord<'records'>> } {
  const where = `sources.${ctx.source}.config`;

  const root = readSchema(spec.schema) as AvroNode & { kind: 'record' };
  const urlTemplate = compileTemplate(config.url, config.vars);
  const queryTemplates = Object.entries(config.query).map(([k, v]) => [k, typeof v === 'string' ? compileTemplate(v, config.vars) : v] as const);
  const headerTemplates = Object.entries(config.headers).map(([k, v]) => [k, compileTemplate(v, config.vars)] as const);
  const recordsPath = compilePath(config.records);
  const rules: FieldRule[] | undefined = config.fields ? Object.entries(config.fields).map(([t, s]) => compileField(t, s)) : undefined;
  const timestampField = config.timestampField ?? spec.timestampField;
  const p = config.pagination;
  const totalPath = p.type === 'page' || p.type === 'offset' ? (p.totalPath ? compilePath(p.totalPath) : undefined) : undefined;
  const totalPagesPath = p.type === 'page' && p.totalPagesPath ? compilePath(p.totalPagesPath) : undefined;
  const cursorPath = p.type === 'cursor' ? compilePath(p.path) : undefined;
  const success = config.status.success;
  const drop = config.status.drop;

  /** The URL as it may appear in errors and logs: sensitive parameters redacted, secrets scrubbed. */
  const safe = (url: string): string => scrubSecrets(redactUrl(url), ctx.secrets);

  const firstRequest = (scope: TemplateScope): PageRequest => {
    let url = renderTemplate(urlTemplate, scope, encodeURIComponent);
    if (config.baseUrl && !/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) url = `${config.baseUrl.replace(/\/+$/, '')}/${url.replace(/^\/+/, '')}`;
    const query: Record<string, string | number | boolean> = {};
    for (const [k, v] of queryTemplates) query[k] = isTemplate(v) ? renderTemplate(v, scope) : v;
    const req: PageRequest = { n: 1, url, query, seen: 0, position: undefined };
    if (p.type === 'page') {
      req.position = p.start;
      query[p.param] = p.start;
      if (p.sizeParam && p.size !== undefined) query[p.sizeParam] = p.size;
    } else if (p.type === 'offset') {
      req.position = p.start;
      query[p.param] = p.start;
      query[p.limitParam] = p.limit;
    }
    return req;
  };

  const fetchPage = (req: PageRequest, headers: Record<string, string>, signal: AbortSignal): Observable<Page> => {
    // A dropped status ends the call without a response (not cached, a success for the stack);
    // a success status outside 200-299 is a response like any other.
    const opts: PluginRequestOptions = {
      query: req.query,
      headers: { accept: 'application/json', ...headers },
      signal,
      emptyOn: drop,
      ...(success ? { expectStatus: success } : {}),
      ...(config.cacheTtlMs !== undefined ? { cacheTtlMs: config.cacheTtlMs } : {}),
    };
    return ctx.http.get$(req.url, opts).pipe(
      map((res: PluginResponse): Page => page(req, res.text().trim() === '' ? null : res.json(), res.headers.get('link'))),
      defaultIfEmpty<Page, Page>({ request: req, body: undefined, records: [], link: null, dropped: true }),
    );
  };

  const page = (req: PageRequest, body: unknown, link: string | null): Page => ({ request: req, body, records: selectRecords(body, req), link, dropped: false });

  const selectRecords = (body: unknown, req: PageRequest): unknown[] => {
    if (body === null) return [];
    const found = selectAll(body, recordsPath);
    if (recordsPath.wildcard) return found;
    if (found.length === 0) {
      throw new ResponseError(
        `no value at the records path ${JSON.stringify(config.records)} in the response (page ${req.n}; the response is ${describe(body)})`,
        { source: ctx.source, url: safe(req.url) },
      );
    }
    const v = found[0];
    if (v === null) return [];
    return Array.isArray(v) ? v : [v];
  };

  const nextRequest = (pg: Page): PageRequest | undefined => {
    const req = pg.request;
    if (pg.dropped || p.type === 'none' || pg.records.length === 0) return undefined;
    const seen = req.seen + pg.records.length;
    let next: PageRequest | undefined;
    switch (p.type) {
      case 'page': {
        if (p.stopOnShortPage && p.size !== undefined && pg.records.length < p.size) return undefined;
        const pageNo = req.position as number;
        const totalPages = totalPagesPath ? numberAt(pg.body, totalPagesPath) : undefined;
        if (totalPages !== undefined && pageNo - p.start + 1 >= totalPages) return undefined;
        const total = totalPath ? numberAt(pg.body, totalPath) : undefined;
        if (total !== undefined && seen >= total) return undefined;
        next = { n: req.n + 1, url: req.url, query: { ...req.query, [p.param]: pageNo + 1 }, seen, position: pageNo + 1 };
        break;
      }
      case 'offset': {
        if (p.stopOnShortPage && pg.records.length < p.limit) return undefined;
        const total = totalPath ? numberAt(pg.body, totalPath) : undefined;
        const offset = (req.position as number) + pg.records.length;
        if (total !== undefined && offset >= total) return undefined;
        next = { n: req.n + 1, url: req.url, query: { ...req.query, [p.param]: offset }, seen, position: offset };
        break;
      }
      case 'cursor': {
        const cursor = selectOne(pg.body, cursorPath!);
        if (cursor === undefined || cursor === null || cursor === '' || cursor === false) return undefined;
        if (typeof cursor !== 'string' && typeof cursor !== 'number') {
          throw new ResponseError(`the cursor at ${JSON.stringify(p.path)} is ${describe(cursor)}, expected a string or a number`, { source: ctx.source, url: safe(req.url) });
        }
        if (cursor === req.position) {
          ctx.log.warn({ page: req.n }, 'the API returned the same cursor again; stopping pagination');
          return undefined;
        }
        next = { n: req.n + 1, url: req.url, query: { ...req.query, [p.param]: cursor }, seen, position: cursor };
        break;
      }
      case 'link': {
        const target = findLink(pg.link, p.rel, req.url);
        if (!target) return undefined;
        if (new URL(target).origin !== new URL(req.url).origin) {
          throw new ResponseError(`the Link header points to another origin (${safe(target)}); not following it, so the request headers are not sent there`, {
            source: ctx.source,
            url: safe(req.url),
          });
        }
        next = { n: req.n + 1, url: target, query: {}, seen, position: target };
        break;
      }
    }
    if (req.n >= p.maxPages) {
      ctx.log.warn({ maxPages: p.maxPages, records: seen }, 'stopped at maxPages although the API has more pages');
      return undefined;
    }
    return next;
  };

  return {
    collect(cycle: CycleInfo): Observable<StreamRecord<'records'>> {
      return defer(() => {
        const now = Date.now();
        const window = cycle.window ?? (config.lookbackMs !== undefined ? { start: now - config.lookbackMs, end: now } : undefined);
        const scope: TemplateScope = { vars: config.vars, window, now, cycle: cycle.cycle };
        let first: PageRequest;
        const headers: Record<string, string> = {};
        try {
          first = firstRequest(scope);
          for (const [k, t] of headerTemplates) headers[k] = renderTemplate(t, scope);
        } catch (err) {
          return throwIt(new ConfigError(undefined, [{ path: where, message: (err as Error).message }]));
        }
        return fetchPage(first, headers, cycle.signal).pipe(
          expand((pg) => {
            const next = nextRequest(pg);
            return next ? fetchPage(next, headers, cycle.signal) : EMPTY;
          }, 1),
          concatMap((pg) => {
            ctx.log.debug({ page: pg.request.n, records: pg.records.length, dropped: pg.dropped }, 'page fetched');
            return from(pg.records.map((r) => toRecord(r, pg.body)));
          }),
        );
      });
    },
  };

  function toRecord(record: unknown, body: unknown): StreamRecord<'records'> {
    const value = mapRecord(record, body, root, rules, config.constants);
    const out: StreamRecord<'records'> = { stream: 'records', value };
    if (timestampField !== undefined) {
      const ts = value[timestampField];
      if (typeof ts === 'number' && Number.isFinite(ts)) out.timestamp = ts;
    }
    return out;
  }
}

function isTemplate(v: unknown): v is Template {
  return typeof v === 'object' && v !== null && 'parts' in v;
}

function numberAt(body: unknown, path: JsonPath): number | undefined {
  const v = selectOne(body, path);
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) ? n : undefined;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (isObject(v)) {
    const keys = Object.keys(v);
    return `an object with keys ${keys.slice(0, 8).join(', ')}${keys.length > 8 ? ', …' : ''}`;
  }
  return `a ${typeof v}`;
}

function throwIt(err: unknown): Observable<never> {
  return throwError(() => err);
}
