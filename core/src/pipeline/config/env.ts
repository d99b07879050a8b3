/**
 * `${VAR}` substitution in pipeline files.
 *
 * Rules (documented in docs/pipeline-config.md):
 * - `${NAME}` is replaced by the environment variable `NAME`; it is an error when `NAME` is unset.
 * - `${NAME:-default}` uses `default` when `NAME` is unset or empty.
 * - `$${` is a literal `${`. A `$` not followed by `{` is kept as is.
 * - Only values are substituted (not keys), in every string value of the file.
 * - A substituted value is text. Where the schema expects a number or `true`/`false` and the
 *   value is exactly one reference (`port: ${PORT}` or `port: "${PORT}"`), the text is converted
 *   (`9464` → 9464, `true`/`false` → booleans); see `coerce.ts`.
 * - Every value taken from the environment that is longer than 3 characters and used as text is a
 *   secret: it is listed in `PipelineConfig.secrets` and scrubbed from errors and logs (values used
 *   only as numbers or booleans are settings; see `envSecrets` in load.ts). Errors about a value
 *   that came from the environment show the text as written (`${API_KEY}`), never the value.
 */
import { isAlias, isMap, isScalar, isSeq, type Node, type Pair, type Scalar } from 'yaml';
import type { ConfigIssue } from '../../errors/ConfigError.js';
import { locate, type YamlSource } from './document.js';
import { formatPath, pathKey, type ConfigPath } from './paths.js';

/** @internal What substitution found out about one value. */
export interface Substitution {
  /** The value as written in the file, e.g. `Bearer ${TOKEN}`; shown in errors instead of the value. */
  raw: string;
  /** Names of the variables whose value came from the environment. */
  fromEnv: string[];
  /** True when the value was exactly one `${...}` reference (so it may be converted to a number or boolean). */
  whole: boolean;
  /** The environment values used (not shown anywhere; used to decide which values are secrets). */
  values: string[];
  /** Where the value is, inside the file. */
  path: ConfigPath;
}

/** @internal The outcome of substituting a whole file. */
export interface EnvResult {
  /** Path key (see `pathKey`) → what was substituted there (references and `$${` escapes). */
  substitutions: Map<string, Substitution>;
  /** Environment values longer than 3 characters, to be kept out of every message. */
  secrets: Set<string>;
  issues: ConfigIssue[];
}

/** @internal Environment values up to this length are not listed as secrets (scrubbing them would mangle text). */
export const MIN_SECRET_LENGTH = 4;

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Outcome of substituting one string. */
export interface StringSubstitution {
  value: string;
  /** True when the string contained at least one reference or escape. */
  changed: boolean;
  /** True when the whole string was exactly one `${...}` reference. */
  whole: boolean;
  fromEnv: { name: string; value: string }[];
  missing: string[];
  malformed: string[];
}

/**
 * Substitutes `${NAME}` / `${NAME:-default}` / `$${` in one string.
 *
 * @example
 * ```ts
 * import { substituteString } from '@tributary/core';
 * substituteString('Bearer ${TOKEN}', { TOKEN: 'abc123' }).value; // 'Bearer abc123'
 * ```
 */
export function substituteString(text: string, env: Readonly<Record<string, string | undefined>>): StringSubstitution {
  const out: StringSubstitution = { value: '', changed: false, whole: false, fromEnv: [], missing: [], malformed: [] };
  let refs = 0;
  let i = 0;
  let value = '';
  while (i < text.length) {
    const ch = text[i]!;
    if (ch === '$' && text.startsWith('$${', i)) {
      value += '${';
      i += 3;
      out.changed = true;
      continue;
    }
    if (ch === '$' && text[i + 1] === '{') {
      const end = text.indexOf('}', i + 2);
      if (end === -1) {
        out.malformed.push(text.slice(i));
        value += text.slice(i);
        break;
      }
      const body = text.slice(i + 2, end);
      const sep = body.indexOf(':-');
      const name = sep === -1 ? body : body.slice(0, sep);
      const fallback = sep === -1 ? undefined : body.slice(sep + 2);
      out.changed = true;
      refs++;
      if (!NAME.test(name)) {
        out.malformed.push(text.slice(i, end + 1));
      } else {
        const envValue = env[name];
        if (envValue !== undefined && !(fallback !== undefined && envValue === '')) {
          value += envValue;
          out.fromEnv.push({ name, value: envValue });
        } else if (fallback !== undefined) {
          value += fallback;
        } else {
          out.missing.push(name);
        }
      }
      if (i === 0 && end === text.length - 1) out.whole = true;
      i = end + 1;
      continue;
    }
    value += ch;
    i++;
  }
  out.whole = out.whole && refs === 1;
  out.value = value;
  return out;
}

const BOOL = /^(true|True|TRUE|false|False|FALSE)$/;
const NUMBER = /^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/;

/** @internal Converts text from a variable to the type a schema expects (`number`, `int`, `boolean`); `undefined` when it does not convert. */
export function convertText(text: string, expected: string): number | boolean | undefined {
  const t = text.trim();
  if (expected === 'boolean') return BOOL.test(t) ? t.toLowerCase() === 'true' : undefined;
  if (expected === 'number' || expected === 'int') {
    if (!NUMBER.test(t)) return undefined;
    const n = Number(t);
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

/**
 * Substitutes environment variables in every string value of a parsed YAML file, in place.
 * Values shared through anchors are substituted once and recorded under every path that uses them.
 * @internal
 */
export function substituteEnv(source: YamlSource, env: Readonly<Record<string, string | undefined>>): EnvResult {
  const result: EnvResult = { substitutions: new Map(), secrets: new Set(), issues: [] };
  const done = new WeakMap<Scalar, Substitution | null>();

  const visitScalar = (node: Scalar, path: ConfigPath): void => {
    let sub = done.get(node);
    if (sub === undefined) {
      sub = null;
      if (typeof node.value === 'string' && node.value.includes('$')) {
        const raw = node.value;
        const s = substituteString(raw, env);
        const where = formatPath(path);
        for (const name of s.missing) {
          const pos = locate(source, path);
          result.issues.push({
            path: where,
            message: `environment variable ${name} is not set (write \${${name}:-default} to give a default, or $\${ for a literal \${)`,
            ...(pos ? { line: pos.line, column: pos.column } : {}),
          });
        }
        for (const bad of s.malformed) {
          const pos = locate(source, path);
          result.issues.push({
            path: where,
            message: `malformed variable reference ${JSON.stringify(bad)}: expected \${NAME} or \${NAME:-default} (NAME: letters, digits, _), or $\${ for a literal \${`,
            ...(pos ? { line: pos.line, column: pos.column } : {}),
          });
        }
        for (const v of s.fromEnv) if (v.value.length >= MIN_SECRET_LENGTH) result.secrets.add(v.value);
        if (s.changed) {
          node.value = s.value;
          sub = { raw, fromEnv: s.fromEnv.map((v) => v.name), whole: s.whole, values: s.fromEnv.map((v) => v.value), path };
        }
      }
      done.set(node, sub);
    }
    if (sub) result.substitutions.set(pathKey(path), sub.path === path ? sub : { ...sub, path });
  };

  const visit = (node: unknown, path: ConfigPath, depth: number): void => {
    if (depth > 64) return;
    let cur = node;
    for (let n = 0; n < 16 && isAlias(cur); n++) cur = cur.resolve(source.doc);
    if (isScalar(cur)) visitScalar(cur, path);
    else if (isMap(cur)) {
      for (const pair of cur.items as Pair<unknown, unknown>[]) {
        const key = isScalar(pair.key) ? pair.key.value : undefined;
        if (key === '<<') {
          // merge key: its entries land in this mapping
          const targets = isSeq(pair.value) ? pair.value.items : [pair.value];
          for (const t of targets) visit(t, path, depth + 1);
        } else if (key !== undefined && key !== null) {
          visit(pair.value as Node, [...path, String(key)], depth + 1);
        }
      }
    } else if (isSeq(cur)) {
      cur.items.forEach((item, idx) => visit(item, [...path, idx], depth + 1));
    }
  };

  visit(source.doc.contents, [], 0);
  return result;
}
