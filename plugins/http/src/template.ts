/**
 * `{{name}}` templates of URLs, query values and headers.
 *
 * Names: a variable of the config's `vars` (`{{region}}` or `{{vars.region}}`); the cycle's time
 * window (`{{window.start}}`, `{{window.end}}`); the time the cycle started (`{{now}}`); the cycle
 * number (`{{cycle}}`). A time is an ISO 8601 string by default; a suffix picks another form:
 * `.ms` (epoch milliseconds), `.s` or `.epoch` (epoch seconds), `.date` (`YYYY-MM-DD`, UTC),
 * `.iso` (the default).
 */

/** What a template is rendered with. */
export interface TemplateScope {
  vars: Readonly<Record<string, string | number | boolean>>;
  /** The cycle's window, [start, end) in epoch ms; `undefined` when the cycle has none. */
  window: { start: number; end: number } | undefined;
  /** When the cycle started (epoch ms). */
  now: number;
  cycle: number;
}

/** A parsed reference inside `{{ }}`. */
type Ref = { kind: 'var'; name: string } | { kind: 'time'; base: 'window.start' | 'window.end' | 'now'; format: TimeFormat } | { kind: 'cycle' };

type TimeFormat = 'iso' | 'ms' | 's' | 'date';

type Part = string | Ref;

/** A compiled template. */
export interface Template {
  readonly source: string;
  readonly parts: readonly Part[];
  /** True when the template refers to the cycle window. */
  readonly usesWindow: boolean;
}

const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;
const FORMATS: Record<string, TimeFormat> = { iso: 'iso', ms: 'ms', s: 's', epoch: 's', date: 'date' };

/**
 * Compiles a template. Throws an `Error` naming the placeholder when a reference is unknown
 * (`vars` lists the variables that exist).
 */
export function compileTemplate(source: string, vars: Readonly<Record<string, unknown>>): Template {
  const parts: Part[] = [];
  let last = 0;
  let usesWindow = false;
  for (const m of source.matchAll(PLACEHOLDER)) {
    if (m.index > last) parts.push(source.slice(last, m.index));
    const ref = parseRef(m[1]!, vars);
    if (ref.kind === 'time' && ref.base !== 'now') usesWindow = true;
    parts.push(ref);
    last = m.index + m[0].length;
  }
  if (last < source.length) parts.push(source.slice(last));
  return { source, parts, usesWindow };
}

function parseRef(text: string, vars: Readonly<Record<string, unknown>>): Ref {
  if (text === 'cycle') return { kind: 'cycle' };
  const time = /^(window\.start|window\.end|now)(?:\.(\w+))?$/.exec(text);
  if (time) {
    const format = time[2] === undefined ? 'iso' : FORMATS[time[2]];
    if (!format) throw new Error(`unknown time format "{{${text}}}": use .iso, .ms, .s (or .epoch) or .date`);
    return { kind: 'time', base: time[1] as 'window.start' | 'window.end' | 'now', format };
  }
  const name = text.startsWith('vars.') ? text.slice(5) : text;
  if (!Object.prototype.hasOwnProperty.call(vars, name)) {
    const known = Object.keys(vars);
    throw new Error(
      `unknown template variable "{{${text}}}": expected a key of vars (${known.length ? known.join(', ') : 'none set'}), window.start, window.end, now or cycle`,
    );
  }
  return { kind: 'var', name };
}

/**
 * Renders a template. `encode` is applied to each substituted value (not to the literal text),
 * e.g. `encodeURIComponent` for a URL. Throws when the template needs a window and there is none.
 */
export function renderTemplate(t: Template, scope: TemplateScope, encode: (s: string) => string = (s) => s): string {
  let out = '';
  for (const part of t.parts) {
    if (typeof part === 'string') {
      out += part;
      continue;
    }
    out += encode(valueOf(part, scope, t.source));
  }
  return out;
}

function valueOf(ref: Ref, scope: TemplateScope, source: string): string {
  switch (ref.kind) {
    case 'cycle':
      return String(scope.cycle);
    case 'var':
      return String(scope.vars[ref.name]);
    case 'time': {
      let at: number;
      if (ref.base === 'now') at = scope.now;
      else if (!scope.window) {
        throw new Error(`the template ${JSON.stringify(source)} uses {{${ref.base}}}, but this cycle has no time window: run the source on a backfill schedule, or set lookbackMs`);
      } else at = ref.base === 'window.start' ? scope.window.start : scope.window.end;
      return formatTime(at, ref.format);
    }
  }
}

function formatTime(at: number, format: TimeFormat): string {
  switch (format) {
    case 'ms':
      return String(at);
    case 's':
      return String(Math.floor(at / 1000));
    case 'date':
      return new Date(at).toISOString().slice(0, 10);
    default:
      return new Date(at).toISOString();
  }
}
