/**
 * From a validated pipeline file to a {@link PipelineConfig}: checks across entries (groups naming
 * sources, schedules, topic routing), defaults, and paths resolved against the file's directory.
 */
import path from 'node:path';
import type { ConfigIssue } from '../../errors/ConfigError.js';
import type { GroupConfig, PipelineConfig, ResilienceConfig, Schedule, SinkConfig, SourceConfig, StreamRoute, TopicConfig, WorkersConfig } from '../types.js';
import { formatDuration } from './durations.js';
import { closest, formatPath, isRecord, type ConfigPath } from './paths.js';
import type { PipelineFile, ResilienceInput } from './schema.js';

/**
 * Stream name under which `loadPipeline` stores a source's single-stream shorthand (`topic:` /
 * `key:` at source level). `resolvePipeline` replaces it by the plugin's only stream.
 *
 * @example
 * ```ts
 * import { SINGLE_STREAM, parsePipeline } from '@tributary/core';
 * const c = parsePipeline('sources:\n  air: { plugin: ./air.js, topic: air, schedule: once }\n');
 * c.sources.air.streams[SINGLE_STREAM]; // { topic: 'air' }
 * ```
 */
export const SINGLE_STREAM = '*';

/**
 * Defaults of the top-level settings and of each sink, as documented in docs/pipeline-config.md.
 *
 * @example
 * ```ts
 * import { PIPELINE_DEFAULTS } from '@tributary/core';
 * PIPELINE_DEFAULTS.metrics.port; // 9464
 * ```
 */
export const PIPELINE_DEFAULTS = {
  stateDir: './.tributary/state',
  metrics: { enabled: true, host: '127.0.0.1', port: 9464 },
  shutdownTimeoutMs: 30_000,
  sink: { type: 'file', dir: './out' },
  file: { dir: './out', codec: 'deflate', flushEveryMs: 1_000 },
  kafka: {
    client: 'kafkajs',
    compression: 'none',
    batch: { maxRecords: 500, lingerMs: 50 },
    buffer: { maxRecords: 10_000, maxBytes: 64 * 1024 * 1024 },
    exactlyOnce: false,
    transactionTimeoutMs: 60_000,
    deadLetterSuffix: '.dlq',
    compatibility: 'BACKWARD',
  },
} as const;

type Layer = 'retry' | 'circuitBreaker' | 'throttle' | 'cache' | 'staleFallback' | 'timed';

/** Built-in layer settings as written (durations in ms), and whether the layer is on by default. */
const BUILTIN: Record<Layer, { on: boolean; values: Record<string, unknown> }> = {
  retry: { on: true, values: { maxRetries: 3, initialDelay: 2_000, factor: 2, maxDelay: 60_000, jitter: 'equal' } },
  circuitBreaker: { on: true, values: { failureThreshold: 5, successThreshold: 2, resetTimeout: 60_000, halfOpenMaxConcurrent: 1 } },
  throttle: {
    on: false,
    values: { initialDelay: 1_000, minDelay: 100, maxDelay: 60_000, speedUpAfter: 10, speedUpFactor: 0.9, rateLimitFactor: 2, errorFactor: 1.5, maxConcurrent: 4 },
  },
  cache: { on: false, values: { ttl: 300_000 } },
  staleFallback: { on: false, values: { maxAge: 86_400_000 } },
  timed: { on: true, values: { warnAfter: 30_000, criticalAfter: 60_000 } },
};
const DEFAULT_TIMEOUT_MS = 30_000;

/** File key → `ResilienceConfig` key, per layer (durations get an `Ms` suffix). */
const RENAME: Record<Layer, Record<string, string>> = {
  retry: { maxRetries: 'maxRetries', initialDelay: 'initialDelayMs', factor: 'factor', maxDelay: 'maxDelayMs', jitter: 'jitter' },
  circuitBreaker: {
    failureThreshold: 'failureThreshold',
    successThreshold: 'successThreshold',
    resetTimeout: 'resetTimeoutMs',
    halfOpenMaxConcurrent: 'halfOpenMaxConcurrent',
    failureRateThreshold: 'failureRateThreshold',
    windowSize: 'windowSize',
    minimumCalls: 'minimumCalls',
    slowCallDuration: 'slowCallDurationMs',
    slowCallRateThreshold: 'slowCallRateThreshold',
  },
  throttle: {
    initialDelay: 'initialDelayMs',
    minDelay: 'minDelayMs',
    maxDelay: 'maxDelayMs',
    speedUpAfter: 'speedUpAfter',
    speedUpFactor: 'speedUpFactor',
    rateLimitFactor: 'rateLimitFactor',
    errorFactor: 'errorFactor',
    maxConcurrent: 'maxConcurrent',
  },
  cache: { ttl: 'ttlMs' },
  staleFallback: { maxAge: 'maxAgeMs' },
  timed: { warnAfter: 'warnAfterMs', criticalAfter: 'criticalAfterMs' },
};

const LAYERS = Object.keys(BUILTIN) as Layer[];

function rename(layer: Layer, values: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(values)) if (v !== undefined) out[RENAME[layer][k] ?? k] = v;
  return out;
}

/**
 * The resilience stack a source gets when the file says nothing: timeout 30 s; retry 3 times after
 * 2 s, 4 s, 8 s (equal jitter, at most 60 s); circuit breaker opening after 5 consecutive failures,
 * closing after 2 successful trials, 60 s open; timing with a warning after 30 s and an error after
 * 60 s. Throttle, cache and stale fallback are off; `true` turns them on with the values in
 * {@link RESILIENCE_LAYER_DEFAULTS}.
 *
 * @example
 * ```ts
 * import { RESILIENCE_DEFAULTS } from '@tributary/core';
 * RESILIENCE_DEFAULTS.retry?.maxRetries; // 3
 * ```
 */
export const RESILIENCE_DEFAULTS: Readonly<ResilienceConfig> = Object.freeze({
  timeoutMs: DEFAULT_TIMEOUT_MS,
  retry: rename('retry', BUILTIN.retry.values) as NonNullable<ResilienceConfig['retry']>,
  circuitBreaker: rename('circuitBreaker', BUILTIN.circuitBreaker.values) as NonNullable<ResilienceConfig['circuitBreaker']>,
  timed: rename('timed', BUILTIN.timed.values) as NonNullable<ResilienceConfig['timed']>,
});

/**
 * The values each layer gets when it is turned on without settings (`throttle: true`): throttle
 * 1 s initial delay (100 ms to 60 s, ×0.9 after 10 successes, ×2 on 429, ×1.5 on errors, 4 in
 * flight), cache TTL 5 min, stale fallback up to 24 h old, and the default-on layers as in
 * {@link RESILIENCE_DEFAULTS}.
 *
 * @example
 * ```ts
 * import { RESILIENCE_LAYER_DEFAULTS } from '@tributary/core';
 * RESILIENCE_LAYER_DEFAULTS.cache.ttlMs; // 300000
 * ```
 */
export const RESILIENCE_LAYER_DEFAULTS: Readonly<Required<Omit<ResilienceConfig, 'timeoutMs'>>> = Object.freeze(
  Object.fromEntries(LAYERS.map((l) => [l, rename(l, BUILTIN[l].values)])) as unknown as Required<Omit<ResilienceConfig, 'timeoutMs'>>,
);

/** @internal What the normalizer needs besides the data. */
export interface NormalizeContext {
  /** Absolute path of the pipeline file. */
  file: string;
  locate(path: ConfigPath, options?: { key?: boolean }): { line: number; column: number } | undefined;
}

function issueAt(ctx: NormalizeContext, p: ConfigPath, message: string, key = false): ConfigIssue {
  const pos = ctx.locate(p, { key });
  return { path: formatPath(p), message, ...(pos ? { line: pos.line, column: pos.column } : {}) };
}

/**
 * Checks between entries that a schema of one entry cannot see. Works on the data as written
 * (guarded), so it runs even when some entries failed their schema: every issue is reported.
 * @internal
 */
export function crossCheck(data: unknown, ctx: NormalizeContext): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  if (!isRecord(data)) return issues;
  const sources = isRecord(data.sources) ? data.sources : undefined;
  const groups = isRecord(data.groups) ? data.groups : {};
  const defaults = isRecord(data.defaults) ? data.defaults : {};
  const hasDefaultSchedule = defaults.schedule !== undefined;
  if (data.sources === undefined) {
    issues.push(issueAt(ctx, ['sources'], 'required key is missing (expected a mapping of source id to source, e.g. sources: { air: { plugin: ..., topic: ... } })'));
  } else if (sources && Object.keys(sources).length === 0) {
    issues.push(issueAt(ctx, ['sources'], 'expected at least one source'));
  }
  const sourceIds = sources ? Object.keys(sources) : [];

  // group membership
  const memberOf = new Map<string, string>();
  for (const [gid, group] of Object.entries(groups)) {
    if (!isRecord(group)) continue;
    if (sources && gid in sources) issues.push(issueAt(ctx, ['groups', gid], `group id ${JSON.stringify(gid)} is also a source id; give the group another id`, true));
    const members = Array.isArray(group.sources) ? group.sources : [];
    const seen = new Set<string>();
    members.forEach((m, i) => {
      if (typeof m !== 'string') return;
      const p = ['groups', gid, 'sources', i];
      if (sources && !(m in sources)) {
        const hint = closest(m, sourceIds);
        issues.push(issueAt(ctx, p, `unknown source ${JSON.stringify(m)}${hint ? ` (did you mean ${JSON.stringify(hint)}?)` : ''}; sources: ${sourceIds.join(', ') || '(none)'}`));
        return;
      }
      if (seen.has(m)) {
        issues.push(issueAt(ctx, p, `source ${JSON.stringify(m)} is listed twice`));
        return;
      }
      seen.add(m);
      const other = memberOf.get(m);
      if (other !== undefined) issues.push(issueAt(ctx, p, `source ${JSON.stringify(m)} is already in group ${JSON.stringify(other)}; a source can be in one group only`));
      else memberOf.set(m, gid);
    });
    const mode = group.mode ?? 'all';
    if (group.quorum !== undefined && mode !== 'quorum') {
      issues.push(issueAt(ctx, ['groups', gid, 'quorum'], `quorum only applies to mode: quorum (this group has mode: ${String(mode)})`));
    }
    if (mode === 'quorum' && typeof group.quorum === 'number' && sources) {
      const enabled = [...seen].filter((m) => !(isRecord(sources[m]) && sources[m].enabled === false)).length;
      if (group.quorum > enabled) {
        issues.push(
          issueAt(ctx, ['groups', gid, 'quorum'], `expected at most ${enabled} (the number of enabled sources in the group), got ${group.quorum}`),
        );
      }
    }
    if (group.schedule === undefined && !hasDefaultSchedule) {
      issues.push(issueAt(ctx, ['groups', gid, 'schedule'], 'required key is missing (expected a schedule such as { every: 1m }, or defaults.schedule)'));
    }
  }

  // sources
  for (const [sid, source] of Object.entries(sources ?? {})) {
    if (!isRecord(source)) continue;
    const p = ['sources', sid];
    const group = memberOf.get(sid);
    if (group !== undefined && source.schedule !== undefined) {
      issues.push(
        issueAt(ctx, [...p, 'schedule'], `source ${JSON.stringify(sid)} is in group ${JSON.stringify(group)} and runs on the group's schedule; remove this schedule or move it to groups.${group}.schedule`, true),
      );
    }
    if (group === undefined && source.schedule === undefined && !hasDefaultSchedule) {
      issues.push(issueAt(ctx, [...p, 'schedule'], 'required key is missing (expected a schedule such as { every: 15m }, { cron: "0 * * * *" }, once, or defaults.schedule)'));
    }
    const hasStreams = source.streams !== undefined;
    if (hasStreams && (source.topic !== undefined || source.key !== undefined)) {
      const which = source.topic !== undefined ? 'topic' : 'key';
      issues.push(issueAt(ctx, [...p, which], `use either topic/key (for a plugin with one stream) or streams (one entry per stream), not both`, true));
    } else if (!hasStreams && source.topic === undefined) {
      issues.push(
        issueAt(ctx, [...p, 'topic'], 'required key is missing (expected topic: <name> for a plugin with one stream, or streams: { <stream>: { topic: <name> } })'),
      );
    }
  }

  // sink
  const sink = data.sink;
  if (isRecord(sink) && sink.type === 'kafka') {
    const registry = isRecord(sink.schemaRegistry) ? sink.schemaRegistry : undefined;
    if (sink.wireFormat === 'registry' && sink.schemaRegistry === undefined) {
      issues.push(issueAt(ctx, ['sink', 'wireFormat'], 'wireFormat registry needs sink.schemaRegistry.url; without a registry use wireFormat: single-object'));
    }
    if (registry && (registry.username === undefined) !== (registry.password === undefined)) {
      const missing = registry.username === undefined ? 'username' : 'password';
      issues.push(issueAt(ctx, ['sink', 'schemaRegistry', missing], 'required key is missing (schemaRegistry.username and schemaRegistry.password go together)'));
    }
  }
  return issues;
}

interface Provenance {
  values: Record<string, unknown>;
  /** Where each explicitly set value was written. */
  from: Record<string, ConfigPath>;
}

/** Merges built-in ← defaults ← source for one layer; `undefined` = layer off. */
function mergeLayer(layer: Layer, def: unknown, src: unknown, defPath: ConfigPath, srcPath: ConfigPath): Provenance | undefined {
  const decide = (v: unknown): boolean | undefined => (v === undefined ? undefined : v !== false);
  const on = decide(src) ?? decide(def) ?? BUILTIN[layer].on;
  if (!on) return undefined;
  const out: Provenance = { values: { ...BUILTIN[layer].values }, from: {} };
  // a source that says `true` inherits the defaults' settings, like one that says nothing
  for (const [v, p] of [
    [def, defPath],
    [src, srcPath],
  ] as const) {
    if (!isRecord(v)) continue;
    for (const [k, value] of Object.entries(v)) {
      if (value === undefined) continue;
      out.values[k] = value;
      out.from[k] = [...p, layer, k];
    }
  }
  return out;
}

/** Builds one source's resilience config, fixing up defaults that conflict with set values. */
function buildResilience(
  def: ResilienceInput | undefined,
  src: ResilienceInput | undefined,
  srcPath: ConfigPath,
  ctx: NormalizeContext,
  issues: ConfigIssue[],
): ResilienceConfig {
  const defPath = ['defaults', 'resilience'];
  const out: ResilienceConfig = {};
  const timeout = src?.timeout ?? def?.timeout ?? DEFAULT_TIMEOUT_MS;
  if (timeout !== false) out.timeoutMs = timeout;

  /** `a` must be ≤ `b`; raises or lowers a default to fit a set value, reports two set values that conflict. */
  const order = (p: Provenance, a: string, b: string, what: string): void => {
    const va = p.values[a] as number;
    const vb = p.values[b] as number;
    if (va <= vb) return;
    const setA = p.from[a];
    const setB = p.from[b];
    if (setA && setB) {
      issues.push(issueAt(ctx, setB, `${what}: ${b} (${formatDuration(vb)}) must be at least ${a} (${formatDuration(va)})`));
    } else if (setA) p.values[b] = va;
    else p.values[a] = vb;
  };

  for (const layer of LAYERS) {
    const merged = mergeLayer(layer, def?.[layer], src?.[layer], defPath, srcPath);
    if (!merged) continue;
    if (layer === 'retry') order(merged, 'initialDelay', 'maxDelay', 'retry');
    if (layer === 'timed') order(merged, 'warnAfter', 'criticalAfter', 'timed');
    if (layer === 'throttle') {
      order(merged, 'minDelay', 'initialDelay', 'throttle');
      order(merged, 'initialDelay', 'maxDelay', 'throttle');
    }
    if (layer === 'circuitBreaker') {
      const v = merged.values;
      if (v.slowCallRateThreshold !== undefined && v.slowCallDuration === undefined) {
        issues.push(issueAt(ctx, merged.from.slowCallRateThreshold ?? srcPath, 'slowCallRateThreshold needs slowCallDuration (when is a call slow?)'));
      }
      if (typeof v.minimumCalls === 'number' && typeof v.windowSize === 'number' && v.minimumCalls > v.windowSize) {
        issues.push(issueAt(ctx, merged.from.minimumCalls ?? srcPath, `minimumCalls (${v.minimumCalls}) must not exceed windowSize (${v.windowSize})`));
      }
    }
    (out as Record<string, unknown>)[layer] = rename(layer, merged.values);
  }
  return out;
}

function resolveDir(file: string, dir: string): string {
  return path.resolve(path.dirname(file), dir);
}

/** @internal The default pipeline name: the file name without `.yaml`/`.yml`, made safe. */
export function defaultName(file: string): string {
  const base = path.basename(file).replace(/\.(ya?ml)$/i, '');
  const safe = base.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '');
  return safe || 'pipeline';
}

function buildSink(raw: PipelineFile['sink'], name: string, file: string): SinkConfig {
  const sink = raw ?? PIPELINE_DEFAULTS.sink;
  if (sink.type === 'stdout') return { type: 'stdout' };
  if (sink.type === 'file') {
    const f = sink as Extract<NonNullable<PipelineFile['sink']>, { type: 'file' }> | typeof PIPELINE_DEFAULTS.sink;
    const d = PIPELINE_DEFAULTS.file;
    return {
      type: 'file',
      dir: resolveDir(file, f.dir ?? d.dir),
      codec: ('codec' in f && f.codec) || d.codec,
      flushEveryMs: ('flushEvery' in f && f.flushEvery) || d.flushEveryMs,
    };
  }
  const k = sink;
  const d = PIPELINE_DEFAULTS.kafka;
  const topics: Record<string, Partial<TopicConfig>> = {};
  for (const [t, s] of Object.entries(k.topics ?? {})) {
    const entry: Partial<TopicConfig> = {};
    if (s.partitions !== undefined) entry.partitions = s.partitions;
    if (s.replicationFactor !== undefined) entry.replicationFactor = s.replicationFactor;
    if (s.config) entry.config = Object.fromEntries(Object.entries(s.config).map(([ck, cv]) => [ck, String(cv)]));
    topics[t] = entry;
  }
  const out: Extract<SinkConfig, { type: 'kafka' }> = {
    type: 'kafka',
    brokers: k.brokers,
    clientId: k.clientId ?? `tributary-${name}`,
    client: k.client ?? d.client,
    wireFormat: k.wireFormat ?? (k.schemaRegistry ? 'registry' : 'single-object'),
    compression: k.compression ?? d.compression,
    batch: { maxRecords: k.batch?.maxRecords ?? d.batch.maxRecords, lingerMs: k.batch?.linger ?? d.batch.lingerMs },
    buffer: { maxRecords: k.buffer?.maxRecords ?? d.buffer.maxRecords, maxBytes: k.buffer?.maxBytes ?? d.buffer.maxBytes },
    exactlyOnce: k.exactlyOnce ?? d.exactlyOnce,
    transactionTimeoutMs: k.transactionTimeout ?? d.transactionTimeoutMs,
    topics,
    deadLetterSuffix: k.deadLetterSuffix ?? d.deadLetterSuffix,
  };
  if (k.schemaRegistry) {
    const r = k.schemaRegistry;
    out.schemaRegistry = { url: r.url, compatibility: r.compatibility ?? d.compatibility };
    if (r.username !== undefined) out.schemaRegistry.username = r.username;
    if (r.password !== undefined) out.schemaRegistry.password = r.password;
  }
  if (k.sasl) out.sasl = { ...k.sasl };
  if (k.ssl !== undefined) out.ssl = typeof k.ssl === 'boolean' ? k.ssl : { ...k.ssl };
  return out;
}

/** Values in the file that are credentials whatever their origin: they join `secrets`. */
function credentialValues(sink: SinkConfig, sources: PipelineFile['sources']): string[] {
  const out: string[] = [];
  if (sink.type === 'kafka') {
    if (sink.sasl?.password) out.push(sink.sasl.password);
    if (sink.schemaRegistry?.password) out.push(sink.schemaRegistry.password);
    if (typeof sink.ssl === 'object' && sink.ssl.key) out.push(sink.ssl.key);
    if (sink.schemaRegistry) {
      try {
        const u = new URL(sink.schemaRegistry.url);
        if (u.password) out.push(decodeURIComponent(u.password));
      } catch {
        /* validated before */
      }
    }
  }
  const SECRET_KEY = /(password|passwd|secret|token|api[-_]?key|apikey|credential|private[-_]?key|auth)/i;
  const walk = (v: unknown, key: string, depth: number): void => {
    if (depth > 32) return;
    if (typeof v === 'string' && SECRET_KEY.test(key)) out.push(v);
    else if (Array.isArray(v)) v.forEach((x) => walk(x, key, depth + 1));
    else if (isRecord(v)) for (const [k, x] of Object.entries(v)) walk(x, k, depth + 1);
  };
  for (const s of Object.values(sources)) walk(s.config ?? {}, '', 0);
  return out;
}

/**
 * Builds the {@link PipelineConfig} from a file that passed its schema and {@link crossCheck}.
 * May still report issues that need merged values (e.g. `retry.maxDelay` below `initialDelay`).
 * @internal
 */
export function buildConfig(
  parsed: PipelineFile,
  ctx: NormalizeContext,
  envSecrets: Iterable<string>,
  minSecretLength: number,
): { config: PipelineConfig; issues: ConfigIssue[]; credentials: string[] } {
  const issues: ConfigIssue[] = [];
  const file = ctx.file;
  const name = parsed.name ?? defaultName(file);
  const defaults = parsed.defaults ?? {};

  const groups: Record<string, GroupConfig> = {};
  const groupOf = new Map<string, GroupConfig>();
  for (const [gid, g] of Object.entries(parsed.groups ?? {})) {
    const mode = g.mode ?? 'all';
    const members = [...new Set(g.sources)];
    const group: GroupConfig = { id: gid, mode, sources: members, schedule: (g.schedule ?? defaults.schedule) as Schedule };
    if (mode === 'quorum') {
      const enabled = members.filter((m) => parsed.sources[m]?.enabled !== false).length;
      group.quorum = g.quorum ?? Math.floor(enabled / 2) + 1;
    }
    groups[gid] = group;
    for (const m of members) groupOf.set(m, group);
  }

  const sources: Record<string, SourceConfig> = {};
  for (const [sid, s] of Object.entries(parsed.sources)) {
    const streams: Record<string, StreamRoute> = {};
    const dropped: string[] = [];
    if (s.streams) {
      for (const [stream, route] of Object.entries(s.streams)) {
        if (route === false) dropped.push(stream);
        else streams[stream] = route.key !== undefined ? { topic: route.topic, key: route.key } : { topic: route.topic };
      }
    } else if (s.topic !== undefined) {
      streams[SINGLE_STREAM] = s.key !== undefined ? { topic: s.topic, key: s.key } : { topic: s.topic };
    }
    const source: SourceConfig = {
      id: sid,
      plugin: s.plugin,
      config: s.config ?? {},
      schedule: (groupOf.get(sid)?.schedule ?? s.schedule ?? defaults.schedule) as Schedule,
      resilience: buildResilience(defaults.resilience, s.resilience, ['sources', sid, 'resilience'], ctx, issues),
      streams,
      shards: s.shards ?? 1,
      enabled: s.enabled ?? true,
    };
    if (dropped.length > 0) source.droppedStreams = dropped;
    sources[sid] = source;
  }

  const sink = buildSink(parsed.sink, name, file);
  const metricsRaw = parsed.metrics;
  const m = PIPELINE_DEFAULTS.metrics;
  const metrics =
    typeof metricsRaw === 'boolean' || metricsRaw === undefined
      ? { ...m, enabled: metricsRaw ?? m.enabled }
      : { enabled: metricsRaw.enabled ?? m.enabled, host: metricsRaw.host ?? m.host, port: metricsRaw.port ?? m.port };

  const secrets = new Set<string>(envSecrets);
  const credentials = credentialValues(sink, parsed.sources).filter((c) => c.length >= minSecretLength);
  for (const c of credentials) secrets.add(c);

  const config: PipelineConfig = {
    file,
    name,
    sources,
    groups,
    sink,
    stateDir: resolveDir(file, parsed.stateDir ?? PIPELINE_DEFAULTS.stateDir),
    metrics,
    shutdown: { timeoutMs: parsed.shutdown?.timeout ?? PIPELINE_DEFAULTS.shutdownTimeoutMs },
    workers: workersConfig(name, parsed.shutdown?.timeout ?? PIPELINE_DEFAULTS.shutdownTimeoutMs, parsed.workers),
    secrets: [...secrets],
  };
  return { config, issues, credentials };
}

/** @internal The `workers:` settings with their defaults (see docs/scaling.md). */
export function workersConfig(
  name: string,
  shutdownTimeoutMs: number,
  raw?: { topic?: string | undefined; group?: string | undefined; partitions?: number | undefined; sessionTimeout?: number | undefined; heartbeatInterval?: number | undefined; drainTimeout?: number | undefined },
): WorkersConfig {
  return {
    topic: raw?.topic ?? `_tributary_work.${name}`,
    groupId: raw?.group ?? `tributary.${name}.workers`,
    ...(raw?.partitions !== undefined ? { partitions: raw.partitions } : {}),
    sessionTimeoutMs: raw?.sessionTimeout ?? 10_000,
    heartbeatIntervalMs: raw?.heartbeatInterval ?? 1_000,
    drainTimeoutMs: raw?.drainTimeout ?? shutdownTimeoutMs + 5_000,
  };
}
