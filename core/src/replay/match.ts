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
  /** The dates and times that `loose` replaced, in order, as epoch ms (NaN where unreadable). */
  times: number[];
}

/**
 * @internal How far apart two requests' dates and times are, for choosing among recordings that
 * match loosely: a different span between the first and last time (a 6-hour window against a
 * 1-day one) weighs far more than a shift of the whole window, so the recording of the same kind
 * of request wins over one that merely has the same URL shape.
 */
export function timeDistance(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let shift = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    shift += Number.isFinite(d) ? d : 0;
  }
  const span = (t: readonly number[]): number => (t.length > 1 ? t[t.length - 1]! - t[0]! : 0);
  const spanDiff = Math.abs(span(a) - span(b));
  return (Number.isFinite(spanDiff) ? spanDiff : 0) * 1e6 + shift;
}

/** @internal Epoch ms of a time-like value (see {@link isTimeLike}), or NaN. */
export function parseTimeLike(value: string): number {
  if (/^1\d{9}$/.test(value)) return Number(value) * 1000;
  if (/^1\d{12}$/.test(value)) return Number(value);
  const compact = /^((?:19|20)\d{2})(\d{2})(\d{2})(\d{2})?(\d{2})?(\d{2})?$/.exec(value);
  if (compact) {
    const [, y, mo, d, h, mi, se] = compact;
    return Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h ?? 0), Number(mi ?? 0), Number(se ?? 0));
  }
  let iso = value.replace(' ', 'T');
  if (/T\d{2}$/.test(iso)) iso += ':00';
  if (!/(Z|[+-]\d{2}(:?\d{2})?)$/.test(iso) && iso.includes('T')) iso += 'Z';
  return Date.parse(iso);
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
    const times: number[] = [];
    const loosePath = path
      .split('/')
      .map((seg) => {
        const decoded = safeDecode(seg);
        if (!isTimeLike(decoded)) return seg;
        times.push(parseTimeLike(decoded));
        return TIME;
      })
      .join('/');
    const sorted = params.slice().sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0));
    for (const [, v] of sorted) if (isTimeLike(v)) times.push(parseTimeLike(v));
    const loose = `${m} ${host}${loosePath}?${serialize(params.map(([n, v]) => [n, isTimeLike(v) ? TIME : v]))}`;
    return { exact, loose, times };
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
