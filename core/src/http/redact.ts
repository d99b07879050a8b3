/**
 * Removing secrets from URLs and text before they reach an error message, a log line or a metric.
 */

/**
 * Query-parameter and header names whose values are always redacted.
 *
 * Names are compared without case and without `-` and `_`, so `apikey` also covers `api_key`,
 * `api-key`, `apiKey` and `API_KEY`. Covers the usual places where data APIs take their keys
 * (EIA and FRED `api_key`, ENTSO-E `securityToken`, OpenWeatherMap `appid`, CoinGecko
 * `x-cg-pro-api-key`, WAQI `token`, IQAir `key`, marketstack `access_key`, ...).
 *
 * @example
 * ```ts
 * import { DEFAULT_REDACT_NAMES } from '@tributary/core';
 * console.log(DEFAULT_REDACT_NAMES.includes('securityToken')); // true
 * ```
 */
export const DEFAULT_REDACT_NAMES: readonly string[] = Object.freeze([
  'apikey',
  'api_key',
  'api_token',
  'api_secret',
  'key',
  'token',
  'access_token',
  'refresh_token',
  'id_token',
  'auth_token',
  'session_token',
  'securityToken',
  'access_key',
  'secret_key',
  'private_key',
  'app_key',
  'appid',
  'client_secret',
  'secret',
  'password',
  'passwd',
  'pwd',
  'auth',
  'signature',
  'sig',
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'x-api-key',
  'x-auth-token',
  'x-cg-pro-api-key',
  'x-cg-demo-api-key',
  'x-rapidapi-key',
  'subscription-key',
  'ocp-apim-subscription-key',
]);

/**
 * What a redacted value is replaced with: `***`.
 *
 * @example
 * ```ts
 * import { REDACTED, redactUrl } from '@tributary/core';
 * redactUrl('https://h/x?token=abc').endsWith(`token=${REDACTED}`); // true
 * ```
 */
export const REDACTED = '***';

/**
 * Secret values shorter than this (4 characters) are not scrubbed: replacing them would mangle
 * ordinary text, and real keys are longer.
 *
 * @example
 * ```ts
 * import { MIN_SECRET_LENGTH, scrubSecrets } from '@tributary/core';
 * scrubSecrets('HTTP 503', ['503']); // 'HTTP 503': '503'.length < MIN_SECRET_LENGTH
 * ```
 */
export const MIN_SECRET_LENGTH = 4;

/** @internal Lower-case, without `-` and `_`: the form names are compared in. */
export function normalizeName(name: string): string {
  return name.replace(/[-_]/g, '').toLowerCase();
}

const DEFAULT_SET: ReadonlySet<string> = new Set(DEFAULT_REDACT_NAMES.map(normalizeName));

/**
 * @internal A name matcher: the defaults plus `extra` names, compared in normalized form.
 * Build it once and reuse it; `has` is a Set lookup.
 */
export class SensitiveNames {
  private readonly names: ReadonlySet<string>;

  constructor(extra: Iterable<string> = []) {
    const set = new Set(DEFAULT_SET);
    for (const n of extra) if (n) set.add(normalizeName(n));
    this.names = set;
  }

  /** True when values of the parameter or header `name` must be redacted. */
  has(name: string): boolean {
    return this.names.has(normalizeName(name));
  }
}

const DEFAULT_NAMES = new SensitiveNames();

/**
 * Returns `url` as a string with the values of sensitive query parameters replaced by `***`,
 * and the password of any `user:password@` part too (a lone `user@` part, often a token, is
 * replaced whole).
 *
 * Sensitive names are {@link DEFAULT_REDACT_NAMES} plus `names` (compared without case, `-`
 * and `_`). The rest of the URL is kept exactly as written (no re-encoding), and the fragment
 * gets the same treatment as the query (OAuth puts `access_token` there). Works on strings
 * that are not valid URLs too, so it is safe to call on anything.
 *
 * @param url - The URL (string or `URL`).
 * @param names - Extra parameter names to redact, on top of the defaults.
 *
 * @example
 * ```ts
 * import { redactUrl } from '@tributary/core';
 * redactUrl('https://api.eia.gov/v2/electricity?api_key=abc123&frequency=hourly');
 * // 'https://api.eia.gov/v2/electricity?api_key=***&frequency=hourly'
 * redactUrl('https://api.example.com/x?sid=42', ['sid']); // 'https://api.example.com/x?sid=***'
 * ```
 */
export function redactUrl(url: string | URL, names?: Iterable<string>): string {
  return redactUrlWith(typeof url === 'string' ? url : url.href, names === undefined ? DEFAULT_NAMES : new SensitiveNames(names));
}

/** @internal {@link redactUrl} with a prebuilt matcher (the HTTP client builds one per client). */
export function redactUrlWith(url: string, names: SensitiveNames): string {
  let out = url;
  const scheme = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)@/i.exec(out);
  if (scheme) {
    const info = scheme[1]!;
    const colon = info.indexOf(':');
    const start = scheme[0].length - info.length - 1;
    // user:password keeps the user; a lone user part is often a token (https://TOKEN@host), so it goes.
    out = out.slice(0, start) + (colon >= 0 ? info.slice(0, colon + 1) : '') + REDACTED + out.slice(start + info.length);
  }
  const q = out.indexOf('?');
  const h = out.indexOf('#');
  if (q < 0 && h < 0) return out;
  if (h >= 0 && (q < 0 || h < q)) {
    return out.slice(0, h + 1) + redactParams(out.slice(h + 1), names);
  }
  const queryEnd = h < 0 ? out.length : h;
  let result = out.slice(0, q + 1) + redactParams(out.slice(q + 1, queryEnd), names);
  if (h >= 0) result += '#' + redactParams(out.slice(h + 1), names);
  return result;
}

function redactParams(params: string, names: SensitiveNames): string {
  if (params === '' || params.indexOf('=') < 0) return params;
  const parts = params.split('&');
  let changed = false;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (names.has(decodeName(part.slice(0, eq)))) {
      parts[i] = part.slice(0, eq + 1) + REDACTED;
      changed = true;
    }
  }
  return changed ? parts.join('&') : params;
}

function decodeName(raw: string): string {
  if (raw.indexOf('%') < 0 && raw.indexOf('+') < 0) return raw;
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return raw;
  }
}

/**
 * Replaces every occurrence of each secret value in `text` by `***`.
 *
 * Each value is also looked for in its URL-encoded form (a key with `+` or `/` appears as
 * `%2B`, `%2F` in a URL). Longer secrets are replaced first, so a secret that contains another
 * is not left half visible. Empty values and values shorter than 4 characters are ignored:
 * replacing them would mangle the text and they are not real secrets.
 *
 * @param text - Any text: an error message, a response body, a log line.
 * @param secrets - Literal secret values (API keys, passwords); `undefined`/`null` entries are skipped,
 *   so `[process.env.EIA_API_KEY]` can be passed as is.
 *
 * @example
 * ```ts
 * import { scrubSecrets } from '@tributary/core';
 * scrubSecrets('invalid key abc123XYZ', [process.env.API_KEY]); // 'invalid key ***' when API_KEY=abc123XYZ
 * ```
 */
export function scrubSecrets(text: string, secrets: Iterable<string | undefined | null>): string {
  const list = prepareSecrets(secrets);
  return list.length === 0 ? text : scrubPrepared(text, list);
}

/**
 * @internal The forms to look for (raw and URL-encoded), longest first, without duplicates or
 * values that are too short. Compute once, then call {@link scrubPrepared} many times.
 */
export function prepareSecrets(secrets: Iterable<string | undefined | null>): string[] {
  const set = new Set<string>();
  for (const s of secrets) {
    if (typeof s !== 'string' || s.length < MIN_SECRET_LENGTH) continue;
    set.add(s);
    const encoded = encodeURIComponent(s);
    if (encoded !== s) set.add(encoded);
    const form = encoded.replace(/%20/g, '+');
    if (form !== encoded) set.add(form);
    const json = JSON.stringify(s).slice(1, -1); // as it appears inside a JSON string
    if (json !== s) set.add(json);
  }
  return [...set].sort((a, b) => b.length - a.length);
}

/** @internal {@link scrubSecrets} with a list from {@link prepareSecrets}. */
export function scrubPrepared(text: string, prepared: readonly string[]): string {
  let out = text;
  for (const s of prepared) {
    if (out.includes(s)) out = out.split(s).join(REDACTED);
  }
  return out;
}
