/**
 * @internal How a request is matched with a recorded one: method, host, path and query, with
 * secret parameters ignored; and a looser form in which dates and times may differ.
 */
import { REDACTED, SensitiveNames, prepareSecrets, scrubPrepared } from '../http/redact.js';

/** @internal The keys of one request. */
export interface RequestKeys {
  /** Method, host, path and the sorted query without secret parameters. */
  exact: string;
  /** Like `exact`, with every date or time (in the path or a query value) replaced by a placeholder. */
  loose: string;
}

const TIME = '\u0000time';

/**
 * @internal True for values that look like a date or a point in time: ISO 8601 dates and
 * date-times (`2025-03-01`, `2025-03-01T10:00:00Z`, `2025-03-01T10`), compact forms
 * (`202503010000`, `20250301`) and epoch seconds or milliseconds.
 */
export function isTimeLike(value: string): boolean {
  return (
    /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}(?::?\d{2}(?::?\d{2}(?:\.\d+)?)?)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?$/.test(value) ||
    /^(?:19|20)\d{6}(?:\d{2}){0,3}$/.test(value) ||
    /^1\d{9}(?:\d{3})?$/.test(value)
  );
}

/** @internal Builds request keys; make one per recording or server and reuse it. */
export class RequestMatcher {
  private readonly names: SensitiveNames;
  private readonly secrets: string[];

  constructor(secrets: readonly (string | undefined | null)[] = [], extraNames: readonly string[] = []) {
    this.names = new SensitiveNames(extraNames);
    this.secrets = prepareSecrets(secrets);
  }

  keys(method: string, url: string): RequestKeys {
    const u = new URL(url);
    const host = u.host.toLowerCase();
    const path = this.secrets.length > 0 ? scrubPrepared(u.pathname, this.secrets) : u.pathname;
    const params: [string, string][] = [];
    for (const [name, value] of u.searchParams) {
      if (this.names.has(name) || value === REDACTED || this.isSecret(value)) continue;
      params.push([name, value]);
    }
    const m = method.toUpperCase();
    const exact = `${m} ${host}${path}?${serialize(params)}`;
    const loosePath = path
      .split('/')
      .map((seg) => (isTimeLike(safeDecode(seg)) ? TIME : seg))
      .join('/');
    const loose = `${m} ${host}${loosePath}?${serialize(params.map(([n, v]) => [n, isTimeLike(v) ? TIME : v]))}`;
    return { exact, loose };
  }

  private isSecret(value: string): boolean {
    if (this.secrets.length === 0 || value.length === 0) return false;
    return scrubPrepared(value, this.secrets) !== value;
  }
}

function serialize(params: [string, string][]): string {
  return params
    .slice()
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([n, v]) => `${encodeURIComponent(n)}=${encodeURIComponent(v)}`)
    .join('&');
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
