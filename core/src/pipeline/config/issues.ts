/**
 * Turns zod issues into {@link ConfigIssue}s: full dotted paths, lines, messages that say what was
 * expected and what was found, and no secret values.
 */
import type { z } from 'zod';
import type { ConfigIssue } from '../../errors/ConfigError.js';
import type { Position } from './document.js';
import { closest, formatPath, isRecord, valueAt, type ConfigPath } from './paths.js';

type ZodIssue = z.core.$ZodIssue;

/** @internal What the issue mapper needs to know about the data that was validated. */
export interface IssueContext {
  /** Where the validated value sits in the file, e.g. `['sources', 'air', 'config']`. */
  prefix: ConfigPath;
  /** The validated value (at `prefix`). */
  input: unknown;
  /** Text to show instead of the value at a full path (a value that came from the environment). */
  redacted?: (path: ConfigPath) => string | undefined;
  /** Line of a full path (of its key with `key: true`). */
  locate?: (path: ConfigPath, options?: { key?: boolean }) => Position | undefined;
  /** Removes secret values from a message. */
  scrub?: (text: string) => string;
  /** The schema that was applied, to list the allowed keys of a mapping. */
  schema?: z.ZodType;
}

/**
 * Describes a found value for a message: strings quoted, long ones cut, containers by kind,
 * environment values as written (`${API_KEY}`).
 * @internal
 */
export function describeValue(value: unknown, redacted?: string): string {
  if (redacted !== undefined) return redacted;
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') {
    const cut = value.length > 60 ? `${value.slice(0, 57)}...` : value;
    return JSON.stringify(cut);
  }
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (Array.isArray(value)) return 'a list';
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (typeof value === 'object') return 'a mapping';
  return typeof value;
}

const EXPECTED_TYPE: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  object: 'a mapping',
  record: 'a mapping',
  array: 'a list',
  tuple: 'a list',
  null: 'null',
  date: 'a date',
  bigint: 'an integer',
  literal: 'a fixed value',
  enum: 'one of the allowed values',
};

const ZOD_DEFAULT = /^(Invalid input|Invalid option|Too small|Too big|Invalid|Unrecognized key|Invalid discriminator)/;

/** @internal Maps zod issues to configuration issues (every issue, deduplicated by path and message). */
export function mapZodIssues(issues: readonly ZodIssue[], ctx: IssueContext): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  const seen = new Set<string>();
  const push = (path: ConfigPath, message: string, key = false): void => {
    const text = ctx.scrub ? ctx.scrub(message) : message;
    const shown = formatPath(path);
    const id = `${shown}\u0000${text}`;
    if (seen.has(id)) return;
    seen.add(id);
    const pos = ctx.locate?.(path, { key });
    out.push({ path: shown, message: text, ...(pos ? { line: pos.line, column: pos.column } : {}) });
  };
  for (const issue of issues) mapOne(issue, [], ctx, push);
  return out;
}

type Push = (path: ConfigPath, message: string, key?: boolean) => void;

function mapOne(issue: ZodIssue, base: ConfigPath, ctx: IssueContext, push: Push): void {
  const rel = [...base, ...(issue.path as (string | number)[])];
  const full = [...ctx.prefix, ...rel];
  const value = valueAt(ctx.input, rel);
  const got = (): string => describeValue(value, ctx.redacted?.(full));
  const custom = !ZOD_DEFAULT.test(issue.message);
  const withGot = (msg: string): string => (/\bgot\b/.test(msg) ? msg : `${msg}, got ${got()}`);

  switch (issue.code) {
    case 'invalid_type': {
      const expected = custom ? issue.message.replace(/^expected /, '') : (EXPECTED_TYPE[issue.expected] ?? issue.expected);
      if (value === undefined) {
        push(full, `required key is missing (expected ${expected})`);
      } else {
        let msg = `expected ${expected}, got ${got()}`;
        const red = ctx.redacted?.(full);
        if (red !== undefined && typeof value !== 'string' && issue.expected === 'string') {
          msg += ` (an unquoted ${red} takes the type of its value; quote it, "${red}", to keep it text)`;
        }
        push(full, msg);
      }
      return;
    }
    case 'unrecognized_keys': {
      const allowed = ctx.schema ? keysAt(ctx.schema, rel) : undefined;
      for (const key of issue.keys) {
        const hint = allowed ? closest(key, allowed) : undefined;
        const list = allowed && allowed.length > 0 ? `; allowed: ${allowed.join(', ')}` : '';
        push([...full, key], `unknown key ${JSON.stringify(key)}${hint ? ` (did you mean ${JSON.stringify(hint)}?)` : ''}${list}`, true);
      }
      return;
    }
    case 'invalid_union': {
      if (issue.errors.length === 0 || 'note' in issue) {
        const options = 'options' in issue && Array.isArray(issue.options) ? (issue.options as unknown[]) : undefined;
        if (options) push(full, `expected one of ${options.map((o) => JSON.stringify(o)).join(', ')}, got ${got()}`);
        else push(full, withGot(custom ? issue.message : 'expected a value of one of the allowed forms'));
        return;
      }
      const branch = bestBranch(issue.errors, value);
      if (branch) {
        for (const sub of branch) mapOne(sub, rel, ctx, push);
      } else {
        push(full, withGot(custom ? issue.message : 'expected a value of one of the allowed forms'));
      }
      return;
    }
    case 'invalid_value': {
      if (custom) push(full, withGot(issue.message));
      else if (issue.values.length === 1) push(full, `expected ${JSON.stringify(issue.values[0])}, got ${got()}`);
      else push(full, `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, got ${got()}`);
      return;
    }
    case 'too_small':
    case 'too_big': {
      if (custom) {
        push(full, withGot(issue.message));
        return;
      }
      const small = issue.code === 'too_small';
      const limit = Number(small ? issue.minimum : issue.maximum);
      const inclusive = issue.inclusive !== false;
      let msg: string;
      if (issue.origin === 'string') {
        msg = small && limit <= 1 ? 'expected a non-empty string' : `expected a string of ${small ? 'at least' : 'at most'} ${limit} characters`;
      } else if (issue.origin === 'array' || issue.origin === 'set') {
        msg = `expected ${small ? 'at least' : 'at most'} ${limit} item${limit === 1 ? '' : 's'}`;
      } else {
        msg = `expected a number ${small ? (inclusive ? '>=' : '>') : inclusive ? '<=' : '<'} ${limit}`;
      }
      push(full, withGot(msg));
      return;
    }
    case 'invalid_format':
      push(full, withGot(custom ? issue.message : `expected ${issue.format === 'regex' ? 'a value in the allowed format' : `a valid ${issue.format}`}`));
      return;
    case 'invalid_key': {
      const key = rel.length > 0 ? String(rel[rel.length - 1]) : '';
      for (const sub of issue.issues) {
        const what = ZOD_DEFAULT.test(sub.message) ? 'a name in the allowed format' : sub.message.replace(/^expected /, '');
        push(full, `invalid key: expected ${what}, got ${JSON.stringify(key)}`, true);
      }
      return;
    }
    case 'invalid_element':
      for (const sub of issue.issues) mapOne(sub, rel, ctx, push);
      return;
    case 'not_multiple_of':
      push(full, withGot(custom ? issue.message : `expected a multiple of ${String(issue.divisor)}`));
      return;
    case 'custom':
    default:
      push(full, /^expected\b/.test(issue.message) ? withGot(issue.message) : issue.message);
      return;
  }
}

/**
 * Picks the union branch the user most likely meant. First the branches that accept the kind of
 * value found (no wrong type or value at the union's own level); if only one does, that one.
 * Among several, those with no unknown key and no missing key right at that level, fewest issues
 * first. None: `undefined` (the union's own message is shown).
 */
function bestBranch(branches: readonly (readonly ZodIssue[])[], value: unknown): readonly ZodIssue[] | undefined {
  const kindMatches = branches.filter(
    (b) => !b.some((i) => i.path.length === 0 && (i.code === 'invalid_type' || i.code === 'invalid_value' || (i.code === 'invalid_union' && !isRecord(value)))),
  );
  if (kindMatches.length === 1) return kindMatches[0];
  let best: readonly ZodIssue[] | undefined;
  for (const branch of kindMatches) {
    const shapeMismatch = branch.some(
      (i) =>
        (i.path.length === 0 && (i.code === 'unrecognized_keys' || i.code === 'invalid_union')) ||
        (i.path.length === 1 && i.code === 'invalid_type' && valueAt(value, i.path as (string | number)[]) === undefined),
    );
    if (!shapeMismatch && (best === undefined || branch.length < best.length)) best = branch;
  }
  return best;
}

interface ZodDef {
  type: string;
  innerType?: z.ZodType;
  in?: z.ZodType;
  out?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  options?: z.ZodType[];
  valueType?: z.ZodType;
  element?: z.ZodType;
  getter?: () => z.ZodType;
}

function defOf(schema: z.ZodType): ZodDef {
  return (schema as unknown as { _zod: { def: ZodDef } })._zod.def;
}

/** The schemas a value at `path` is validated by (several for unions). */
function schemasAt(schema: z.ZodType, path: ConfigPath, depth = 0): z.ZodType[] {
  if (depth > 32) return [];
  const def = defOf(schema);
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'catch':
    case 'nonoptional':
      return def.innerType ? schemasAt(def.innerType, path, depth + 1) : [];
    case 'pipe':
      return def.in ? schemasAt(def.in, path, depth + 1) : [];
    case 'lazy':
      return def.getter ? schemasAt(def.getter(), path, depth + 1) : [];
    case 'union':
      return (def.options ?? []).flatMap((o) => schemasAt(o, path, depth + 1));
    default:
      break;
  }
  if (path.length === 0) return [schema];
  const [head, ...rest] = path;
  if (def.type === 'object' && def.shape && typeof head === 'string' && head in def.shape) return schemasAt(def.shape[head]!, rest, depth + 1);
  if (def.type === 'record' && def.valueType) return schemasAt(def.valueType, rest, depth + 1);
  if (def.type === 'array' && def.element) return schemasAt(def.element, rest, depth + 1);
  return [];
}

/** @internal The keys an object schema at `path` allows (union of all object branches); `undefined` if unknown. */
export function keysAt(schema: z.ZodType, path: ConfigPath): string[] | undefined {
  const keys = new Set<string>();
  for (const s of schemasAt(schema, path)) {
    const def = defOf(s);
    if (def.type === 'object' && def.shape) for (const k of Object.keys(def.shape)) keys.add(k);
  }
  return keys.size > 0 ? [...keys] : undefined;
}

/** @internal Replaces every secret in `text` by `***`. Longest first, so a secret inside another goes too. */
export function scrubber(secrets: Iterable<string>): (text: string) => string {
  const list = [...new Set(secrets)].filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
  if (list.length === 0) return (t) => t;
  return (text) => {
    let out = text;
    for (const s of list) out = out.split(s).join('***');
    return out;
  };
}
