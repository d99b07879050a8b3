import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, type ConfigIssue } from '../../errors/ConfigError.js';
import type { PipelineConfig } from '../types.js';
import { locate, parseYaml, type Position } from './document.js';
import { MIN_SECRET_LENGTH, substituteEnv } from './env.js';
import { safeParseCoercingSync } from './coerce.js';
import { mapZodIssues, scrubber } from './issues.js';
import { buildConfig, crossCheck } from './normalize.js';
import { isRecord, pathKey, valueAt, type ConfigPath } from './paths.js';
import { pipelineFileSchema } from './schema.js';

/** Options of {@link loadPipeline} and {@link parsePipeline}. */
export interface LoadPipelineOptions {
  /** Variables for `${VAR}` substitution. Default: `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /**
   * Values that replace parts of the file before validation, by dotted path (the whole subtree at
   * the path is replaced; numeric segments index lists), e.g. `{ 'sink': { type: 'stdout' },
   * 'metrics.port': 0, 'sources.air.enabled': false }`. Validated like the file; issues about them
   * carry no line. Default: none.
   */
  overrides?: Readonly<Record<string, unknown>>;
}

/** @internal One value that came from the environment. */
export interface EnvUse {
  path: ConfigPath;
  values: readonly string[];
  converted?: boolean;
}

/** @internal What `resolvePipeline` needs to cite lines and hide environment values. */
export interface PipelineMeta {
  locate(path: ConfigPath, options?: { key?: boolean }): Position | undefined;
  /** The text as written (`${API_KEY}`) for a value that came from the environment. */
  redacted(path: ConfigPath): string | undefined;
  /** True for a value that was exactly one `${...}` reference (converted to a number/boolean where one is expected). */
  coercible(path: ConfigPath): boolean;
  /**
   * Every value that came from the environment: where, which values, and whether it ended up as a
   * number or boolean (`undefined` for plugin options, which `resolvePipeline` decides).
   */
  envUses: readonly EnvUse[];
  /** Secrets that do not come from `${...}` (credentials written in the file). */
  fileSecrets: readonly string[];
}

/**
 * @internal Which environment values are secrets: every one of at least {@link MIN_SECRET_LENGTH}
 * characters that is used as text somewhere. A value used only where a number or boolean was
 * expected (`port: ${PORT}`) is a setting, not a credential, and is left out: scrubbing `9464` or
 * `true` from every log line would mangle the logs. `converted(path)` says whether the value at a
 * path ended up as a number or boolean.
 */
export function envSecrets(uses: readonly EnvUse[], converted: (use: EnvUse) => boolean): Set<string> {
  const out = new Set<string>();
  for (const use of uses) {
    if (converted(use)) continue;
    for (const v of use.values) if (v.length >= MIN_SECRET_LENGTH) out.add(v);
  }
  return out;
}

/** @internal Paths inside a source's plugin options: checked (and converted) by `resolvePipeline`, not here. */
export function isPluginConfigPath(p: ConfigPath): boolean {
  return p.length > 3 && p[0] === 'sources' && p[2] === 'config';
}

const META = new WeakMap<PipelineConfig, PipelineMeta>();

/** @internal The positions and substitutions recorded when `config` was loaded, if it was. */
export function pipelineMeta(config: PipelineConfig): PipelineMeta | undefined {
  return META.get(config);
}

/** @internal Records meta for a config derived from a loaded one. */
export function copyPipelineMeta(from: PipelineConfig, to: PipelineConfig): void {
  const meta = META.get(from);
  if (meta) META.set(to, meta);
}

/**
 * Reads, parses and validates a pipeline file (YAML) into a {@link PipelineConfig}.
 *
 * `${VAR}` and `${VAR:-default}` are replaced from `env` (`$${` is a literal `${`); durations
 * become milliseconds; schedules, resilience layers, sink settings and paths get their defaults
 * (paths are relative to the file's directory). Values from the environment are listed in
 * `secrets`, as are credentials written in the file.
 *
 * Checks the structure only; plugins are loaded and their options checked by
 * {@link resolvePipeline}. Every problem found is reported at once in one `ConfigError` (code
 * `ERR_CONFIG`) naming the file and, per problem, the path inside it, the line, what was expected and
 * what was found. A value that came from the environment is shown as written (`${API_KEY}`), never
 * as its value.
 *
 * @param file Path of the pipeline file (relative to the working directory or absolute).
 * @param options `env` (default `process.env`) and `overrides` (default none); see {@link LoadPipelineOptions}.
 * @example
 * ```ts
 * import { loadPipeline, resolvePipeline } from '@tributary/core';
 * const config = await loadPipeline('pipeline.yaml', { overrides: { 'metrics.port': 0 } });
 * const { plugins } = await resolvePipeline(config);
 * ```
 */
export async function loadPipeline(file: string, options: LoadPipelineOptions = {}): Promise<PipelineConfig> {
  const abs = path.resolve(file);
  let text: string;
  try {
    text = await readFile(abs, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'the file does not exist' : code === 'EISDIR' ? 'this is a directory, not a file' : `cannot read the file (${code ?? (err as Error).message})`;
    throw new ConfigError(abs, [{ path: '', message: why }], { cause: err });
  }
  return parsePipeline(text, { ...options, file: abs });
}

/**
 * Parses and validates pipeline YAML text, as {@link loadPipeline} does for a file.
 *
 * @param text The YAML text.
 * @param options `file`: the path the text stands for, used in errors and to resolve relative paths
 *   (default `./pipeline.yaml` in the working directory); plus `env` and `overrides` as in {@link loadPipeline}.
 * @example
 * ```ts
 * import { parsePipeline } from '@tributary/core';
 * const config = parsePipeline('sources:\n  air: { plugin: ./air.js, topic: air, schedule: once }\n', { file: '/srv/p.yaml' });
 * ```
 */
export function parsePipeline(text: string, options: LoadPipelineOptions & { file?: string } = {}): PipelineConfig {
  const file = path.resolve(options.file ?? 'pipeline.yaml');
  const env = options.env ?? process.env;
  const source = parseYaml(text);
  if (source.issues.length > 0) throw new ConfigError(file, source.issues);

  const envResult = substituteEnv(source, env);
  const issues: ConfigIssue[] = [...envResult.issues];
  const badPaths = new Set(envResult.issues.map((i) => i.path));

  let data: unknown = source.doc.toJS({ maxAliasCount: 1000 });
  // Top-level keys starting with `x-` are ignored: a place for YAML anchors (`x-air: &air {...}`).
  if (isRecord(data)) data = Object.fromEntries(Object.entries(data).filter(([k]) => !k.startsWith('x-')));
  const overridden: ConfigPath[] = [];
  if (options.overrides) {
    for (const [dotted, value] of Object.entries(options.overrides)) {
      const p = dotted.split('.').map((s) => (/^\d+$/.test(s) ? Number(s) : s));
      const applied = setAt(data, p, value);
      if (applied === FAILED) {
        issues.push({ path: dotted, message: 'override cannot be applied: a parent of this path is not a mapping (override)' });
        continue;
      }
      data = applied;
      overridden.push(p);
    }
  }
  const isOverridden = (p: ConfigPath): boolean => overridden.some((o) => o.length <= p.length && o.every((s, i) => String(s) === String(p[i])));

  const secrets = [...envResult.secrets];
  const scrub = scrubber(secrets);
  const meta: PipelineMeta = {
    locate: (p, opts) => (isOverridden(p) ? undefined : locate(source, p, opts)),
    redacted: (p) => {
      const sub = isOverridden(p) ? undefined : envResult.substitutions.get(pathKey(p));
      return sub && sub.fromEnv.length > 0 ? sub.raw : undefined;
    },
    coercible: (p) => !isOverridden(p) && envResult.substitutions.get(pathKey(p))?.whole === true,
    envUses: [...envResult.substitutions.values()].filter((sub) => sub.values.length > 0 && !isOverridden(sub.path)).map((sub) => ({ path: sub.path, values: sub.values })),
    fileSecrets: [],
  };

  if (data === null || data === undefined) {
    throw new ConfigError(file, [...issues, { path: '', message: 'the file is empty: expected a mapping with at least sources: (see docs/pipeline-config.md)' }]);
  }

  const coerced = safeParseCoercingSync(pipelineFileSchema, data, meta.coercible);
  const parsed = coerced.result;
  data = coerced.data;
  if (!parsed.success) {
    const mapped = mapZodIssues(parsed.error.issues, {
      prefix: [],
      input: data,
      redacted: meta.redacted,
      locate: meta.locate,
      scrub,
      schema: pipelineFileSchema,
    });
    issues.push(...mapped.filter((i) => !badPaths.has(i.path)));
  }
  const ctx = { file, locate: meta.locate };
  issues.push(...crossCheck(data, ctx).map((i) => ({ ...i, message: scrub(i.message) })));
  if (issues.length > 0 || !parsed.success) throw configError(file, issues);

  const finalData = data;
  const envUses: EnvUse[] = meta.envUses.map((use) => {
    if (isPluginConfigPath(use.path)) return use; // decided by resolvePipeline, against the plugin's schema
    const v = valueAt(finalData, use.path);
    return { ...use, converted: typeof v === 'number' || typeof v === 'boolean' };
  });
  const { config, issues: late, credentials } = buildConfig(parsed.data, ctx, envSecrets(envUses, (u) => u.converted === true), MIN_SECRET_LENGTH);
  if (late.length > 0) throw configError(file, late.map((i) => ({ ...i, message: scrub(i.message) })));
  META.set(config, { ...meta, envUses, fileSecrets: credentials });
  return config;
}

/** @internal A ConfigError with issues sorted by line (issues without a line last). */
export function configError(file: string, issues: ConfigIssue[]): ConfigError {
  const sorted = issues
    .map((issue, index) => ({ issue, index }))
    .sort((a, b) => (a.issue.line ?? Infinity) - (b.issue.line ?? Infinity) || a.index - b.index)
    .map((x) => x.issue);
  return new ConfigError(file, sorted);
}

const FAILED = Symbol('failed');

/** A copy of `root` with `value` at `p` (`undefined` removes the key); `FAILED` when a parent is not a mapping or list. */
function setAt(root: unknown, p: ConfigPath, value: unknown): unknown {
  if (p.length === 0) return value;
  const base: unknown = root === null || root === undefined ? {} : root;
  const [head, ...rest] = p as [string | number, ...(string | number)[]];
  if (Array.isArray(base)) {
    const copy = [...base] as unknown[];
    if (typeof head !== 'number') return FAILED;
    const child = setAt(copy[head], rest, value);
    if (child === FAILED) return FAILED;
    copy[head] = child;
    return copy;
  }
  if (!isRecord(base)) return FAILED;
  const copy: Record<string, unknown> = { ...base };
  const child = setAt(copy[String(head)], rest, value);
  if (child === FAILED) return FAILED;
  if (child === undefined) delete copy[String(head)];
  else copy[String(head)] = child;
  return copy;
}
