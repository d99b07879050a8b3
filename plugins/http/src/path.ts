/**
 * A small JSON path selector: dotted paths (`data.items`), JSONPath-style roots (`$.data[*]`),
 * array indexes (`items[0]`), wildcards (`items[*].price`) and quoted keys (`['a.b']`).
 *
 * Written here rather than taken from a JSONPath library: the plugin needs only this subset, the
 * subset is easy to explain in an error message, and none of the JSONPath packages evaluates
 * script expressions safely by default (filter expressions are deliberately not supported).
 */

/** One step of a compiled path. */
type Step = { kind: 'key'; key: string } | { kind: 'index'; index: number } | { kind: 'all' };

/** A compiled path: its steps and the text it came from. */
export interface JsonPath {
  readonly source: string;
  readonly steps: readonly Step[];
  /** True when the path has a `[*]` step (it may match many values). */
  readonly wildcard: boolean;
}

const IDENT = /^[\w$@-]+/;

/**
 * Compiles a path; throws an `Error` saying where the path is malformed.
 * `''`, `'$'` and `'$.'` select the value itself.
 */
export function compilePath(source: string): JsonPath {
  let rest = source.trim();
  if (rest.startsWith('$')) rest = rest.slice(1);
  const steps: Step[] = [];
  let first = true;
  while (rest.length > 0) {
    if (rest.startsWith('.')) {
      rest = rest.slice(1);
      if (rest === '' && steps.length === 0) break; // "$."
    } else if (!first && !rest.startsWith('[')) {
      throw new Error(`invalid path ${JSON.stringify(source)}: expected "." or "[" before ${JSON.stringify(rest)}`);
    }
    first = false;
    if (rest.startsWith('[')) {
      const close = findClose(rest);
      if (close < 0) throw new Error(`invalid path ${JSON.stringify(source)}: "[" without "]"`);
      const inner = rest.slice(1, close).trim();
      rest = rest.slice(close + 1);
      if (inner === '*') steps.push({ kind: 'all' });
      else if (/^\d+$/.test(inner)) steps.push({ kind: 'index', index: Number(inner) });
      else if (/^(['"]).*\1$/s.test(inner)) steps.push({ kind: 'key', key: inner.slice(1, -1) });
      else throw new Error(`invalid path ${JSON.stringify(source)}: [${inner}] must be [*], an index such as [0], or a quoted key such as ['a.b']`);
      continue;
    }
    if (rest.startsWith('*')) {
      steps.push({ kind: 'all' });
      rest = rest.slice(1);
      continue;
    }
    const m = IDENT.exec(rest);
    if (!m) throw new Error(`invalid path ${JSON.stringify(source)}: unexpected ${JSON.stringify(rest[0])}`);
    steps.push({ kind: 'key', key: m[0] });
    rest = rest.slice(m[0].length);
  }
  return { source, steps, wildcard: steps.some((s) => s.kind === 'all') };
}

function findClose(text: string): number {
  const quote = text[1] === "'" || text[1] === '"' ? text[1] : undefined;
  if (quote) {
    const end = text.indexOf(quote, 2);
    return end < 0 ? -1 : text.indexOf(']', end);
  }
  return text.indexOf(']');
}

/**
 * Every value the path reaches in `value`. A missing key or index reaches nothing; `[*]` reaches
 * each element of an array (or each value of an object).
 */
export function selectAll(value: unknown, path: JsonPath): unknown[] {
  let current: unknown[] = [value];
  for (const step of path.steps) {
    const next: unknown[] = [];
    for (const v of current) {
      if (step.kind === 'all') {
        if (Array.isArray(v)) next.push(...v);
        else if (isObject(v)) next.push(...Object.values(v));
      } else if (step.kind === 'index') {
        if (Array.isArray(v) && step.index < v.length) next.push(v[step.index]);
      } else if (isObject(v) && Object.prototype.hasOwnProperty.call(v, step.key)) {
        next.push(v[step.key]);
      } else if (Array.isArray(v) && /^\d+$/.test(step.key) && Number(step.key) < v.length) {
        next.push(v[Number(step.key)]);
      }
    }
    current = next;
  }
  return current;
}

/**
 * The value at a path without wildcards (`undefined` when missing); with a wildcard, the list of
 * values it reaches.
 */
export function selectOne(value: unknown, path: JsonPath): unknown {
  const all = selectAll(value, path);
  return path.wildcard ? all : all[0];
}

/** True for plain objects (not arrays, not null). */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
