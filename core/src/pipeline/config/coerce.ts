/**
 * Validation that converts text from `${VAR}` references where a number or boolean is expected.
 *
 * Environment variables are text. Rather than guessing types when substituting, the value stays a
 * string, and only where the schema then reports "expected a number" (or integer, or boolean) at a
 * path whose value was exactly one reference is the text converted and the value validated again.
 * So `port: ${PORT}` becomes 9464 while `password: ${PASSWORD}` stays text even if it is `12345`.
 */
import type { z } from 'zod';
import type { ConfigPath } from './paths.js';
import { convertText } from './env.js';
import { isRecord, valueAt } from './paths.js';

type ZodIssue = z.core.$ZodIssue;

/** @internal The outcome of {@link safeParseCoercing}: zod's result and the data it was last run on. */
export interface CoercedParse<T> {
  result: z.ZodSafeParseResult<T>;
  data: unknown;
}

/**
 * Runs `schema.safeParseAsync(data)`, converting numeric and boolean text at the paths `coercible`
 * accepts (relative to `data`) and retrying, at most 8 rounds.
 * @internal
 */
export async function safeParseCoercing<T>(schema: z.ZodType<T>, data: unknown, coercible: (path: ConfigPath) => boolean): Promise<CoercedParse<T>> {
  let current = data;
  for (let round = 0; ; round++) {
    const result = await schema.safeParseAsync(current);
    if (result.success || round >= 8) return { result, data: current };
    const fixes = new Map<string, { path: ConfigPath; value: number | boolean }>();
    collect(result.error.issues, [], current, coercible, fixes);
    if (fixes.size === 0) return { result, data: current };
    for (const { path, value } of fixes.values()) current = setIn(current, path, value);
  }
}

/** @internal Synchronous {@link safeParseCoercing}, for schemas without async refinements. */
export function safeParseCoercingSync<T>(schema: z.ZodType<T>, data: unknown, coercible: (path: ConfigPath) => boolean): CoercedParse<T> {
  let current = data;
  for (let round = 0; ; round++) {
    const result = schema.safeParse(current);
    if (result.success || round >= 8) return { result, data: current };
    const fixes = new Map<string, { path: ConfigPath; value: number | boolean }>();
    collect(result.error.issues, [], current, coercible, fixes);
    if (fixes.size === 0) return { result, data: current };
    for (const { path, value } of fixes.values()) current = setIn(current, path, value);
  }
}

function collect(
  issues: readonly ZodIssue[],
  base: ConfigPath,
  data: unknown,
  coercible: (path: ConfigPath) => boolean,
  fixes: Map<string, { path: ConfigPath; value: number | boolean }>,
): void {
  for (const issue of issues) {
    const path = [...base, ...(issue.path as (string | number)[])];
    if (issue.code === 'invalid_type') {
      const value = valueAt(data, path);
      if (typeof value === 'string' && coercible(path)) {
        const converted = convertText(value, issue.expected);
        if (converted !== undefined) fixes.set(JSON.stringify(path), { path, value: converted });
      }
    } else if (issue.code === 'invalid_value') {
      const value = valueAt(data, path);
      if (typeof value === 'string' && coercible(path)) {
        for (const expected of issue.values) {
          const converted = typeof expected === 'boolean' ? convertText(value, 'boolean') : typeof expected === 'number' ? convertText(value, 'number') : undefined;
          if (converted !== undefined && converted === expected) fixes.set(JSON.stringify(path), { path, value: converted });
        }
      }
    } else if (issue.code === 'invalid_union') {
      for (const branch of issue.errors) collect(branch, path, data, coercible, fixes);
    } else if (issue.code === 'invalid_element' || issue.code === 'invalid_key') {
      collect(issue.issues, path, data, coercible, fixes);
    }
  }
}

function setIn(root: unknown, path: ConfigPath, value: unknown): unknown {
  if (path.length === 0) return value;
  const [head, ...rest] = path as [string | number, ...(string | number)[]];
  if (Array.isArray(root)) {
    const copy = [...root] as unknown[];
    copy[head as number] = setIn(copy[head as number], rest, value);
    return copy;
  }
  if (isRecord(root)) return { ...root, [head]: setIn(root[String(head)], rest, value) };
  return root;
}
