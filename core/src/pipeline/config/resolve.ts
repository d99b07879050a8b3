import path from 'node:path';
import type { Type } from 'avsc';
import type { ConfigIssue } from '../../errors/ConfigError.js';
import { isPluginLoadError } from '../../errors/PluginLoadError.js';
import { compileStreamSchema, keyFieldProblem, streamsOf } from '../../plugin/definePlugin.js';
import { loadPlugin as defaultLoadPlugin, type LoadPluginOptions } from '../../plugin/loader.js';
import type { StreamDefinition, TributaryPlugin } from '../../plugin/types.js';
import { canonicalForm } from '../../serde/avro.js';
import type { AvroSchema } from '../../serde/types.js';
import type { PipelineConfig, SourceConfig, StreamRoute, TopicSpec } from '../types.js';
import { safeParseCoercing } from './coerce.js';
import { mapZodIssues, scrubber } from './issues.js';
import { configError, copyPipelineMeta, envSecrets, isPluginConfigPath, pipelineMeta } from './load.js';
import { SINGLE_STREAM } from './normalize.js';
import { closest, formatPath, valueAt, type ConfigPath } from './paths.js';

/** One enabled source's plugin, its validated options and its streams. */
export interface ResolvedSource {
  plugin: TributaryPlugin;
  /** The source's `config:` after the plugin's `configSchema` (defaults and transforms applied). */
  config: unknown;
  /** The source's streams: `plugin.streamsFor(config)` when the plugin has it, else `plugin.streams`. */
  streams: Record<string, StreamDefinition>;
}

/** What {@link resolvePipeline} returns. */
export interface ResolvedPipeline {
  /**
   * The config with every enabled source's `streams` complete: the single-stream shorthand replaced
   * by the plugin's stream name and each route's `key` defaulted to the stream's own key field.
   */
  config: PipelineConfig;
  /** Source id → plugin and options, for every enabled source. */
  plugins: Map<string, ResolvedSource>;
  /** One entry per enabled source and routed stream: what a sink needs before the first record. */
  topics: TopicSpec[];
}

/** Options of {@link resolvePipeline}. */
export interface ResolvePipelineOptions {
  /**
   * Plugins by specifier, used instead of loading those specifiers (for tests and embedding).
   * Default: none.
   */
  plugins?: Readonly<Record<string, TributaryPlugin>>;
  /** Loads one plugin. Default: `loadPlugin` from `@tributary/core`. */
  loadPlugin?: (specifier: string, options: LoadPluginOptions) => Promise<TributaryPlugin>;
  /** Core version plugins are checked against. Default: the installed `@tributary/core`. */
  coreVersion?: string;
}

/**
 * Loads the plugin of every enabled source and checks the pipeline against them.
 *
 * For each enabled source: the plugin is loaded (package names resolve from the pipeline file's
 * directory), the source's `config` is validated against the plugin's `configSchema`, and its
 * routing against the source's streams (the plugin's `streams`, or what its `streamsFor` returns for
 * these options, checked like static streams): every stream needs a topic (or `false` to drop it), stream
 * names must exist, the single-stream `topic:` shorthand needs a plugin with one stream, and a key
 * field must be a scalar field of the stream's Avro schema. Across sources, two streams may write
 * the same topic only with the same Avro schema (e.g. two sources of the same plugin stream for
 * different stations); a topic may not also be another topic's dead-letter topic.
 *
 * All problems are reported at once in a `ConfigError` with paths such as
 * `sources.air.config.latitude` (and lines, when the config came from `loadPipeline`). Disabled
 * sources are not resolved.
 *
 * @param config A config from `loadPipeline`/`parsePipeline`.
 * @param options `plugins` (preloaded, by specifier), `loadPlugin`, `coreVersion`; all optional.
 * @example
 * ```ts
 * import { loadPipeline, resolvePipeline } from '@tributary/core';
 * const { config, plugins, topics } = await resolvePipeline(await loadPipeline('pipeline.yaml'));
 * for (const [id, { plugin }] of plugins) console.log(id, plugin.name, plugin.version);
 * ```
 */
export async function resolvePipeline(config: PipelineConfig, options: ResolvePipelineOptions = {}): Promise<ResolvedPipeline> {
  const meta = pipelineMeta(config);
  const scrub = scrubber(config.secrets);
  const fromDir = path.dirname(config.file);
  const load = options.loadPlugin ?? defaultLoadPlugin;
  const issues: ConfigIssue[] = [];
  const at = (p: ConfigPath, message: string, key = false): ConfigIssue => {
    const pos = meta?.locate(p, { key });
    return { path: formatPath(p), message: scrub(message), ...(pos ? { line: pos.line, column: pos.column } : {}) };
  };

  const enabled = Object.values(config.sources).filter((s) => s.enabled);
  const loads = new Map<string, Promise<TributaryPlugin>>();
  const loadOnce = (spec: string): Promise<TributaryPlugin> => {
    let p = loads.get(spec);
    if (!p) {
      const given = options.plugins?.[spec];
      p = given ? Promise.resolve(given) : load(spec, { fromDir, ...(options.coreVersion ? { coreVersion: options.coreVersion } : {}) });
      loads.set(spec, p);
    }
    return p;
  };
  const settled = await Promise.all(
    enabled.map(async (s) => {
      try {
        return { source: s, plugin: await loadOnce(s.plugin) };
      } catch (err) {
        const message = isPluginLoadError(err) ? err.message : `plugin ${JSON.stringify(s.plugin)} failed to load: ${(err as Error)?.message ?? String(err)}`;
        issues.push(at(['sources', s.id, 'plugin'], message));
        return { source: s, plugin: undefined };
      }
    }),
  );

  const plugins = new Map<string, ResolvedSource>();
  const sources: Record<string, SourceConfig> = { ...config.sources };
  const topics: TopicSpec[] = [];
  const writers = new Map<string, { source: string; stream: string; canonical: string; path: ConfigPath }>();
  const pluginData = new Map<string, unknown>();

  for (const { source, plugin } of settled) {
    if (!plugin) continue;
    const base: ConfigPath = ['sources', source.id];

    // plugin options
    const configPath: ConfigPath = [...base, 'config'];
    const coerced = await safeParseCoercing(plugin.configSchema, source.config, (p) => meta?.coercible([...configPath, ...p]) ?? false);
    const parsed = coerced.result;
    pluginData.set(source.id, coerced.data);
    if (!parsed.success) {
      issues.push(
        ...mapZodIssues(parsed.error.issues, {
          prefix: configPath,
          input: coerced.data,
          ...(meta ? { redacted: meta.redacted, locate: meta.locate } : {}),
          scrub,
          schema: plugin.configSchema,
        }).map((i) => ({ ...i, message: `${i.message} (plugin ${plugin.name})` })),
      );
    }
    let streams: Record<string, StreamDefinition> = plugin.streams;
    if (parsed.success) {
      const derived = streamsOf(plugin, parsed.data);
      if (derived.problems.length > 0) {
        issues.push(...derived.problems.map((p) => at(configPath, p)));
        continue;
      }
      streams = derived.streams;
      plugins.set(source.id, { plugin, config: parsed.data, streams });
    } else if (typeof plugin.streamsFor === 'function') {
      continue; // its streams depend on the options, which are invalid
    }

    // routing
    const declared = Object.keys(streams);
    const listed = `plugin ${plugin.name} has stream${declared.length === 1 ? '' : 's'}${streams === plugin.streams ? '' : ' (for these options)'}: ${declared.join(', ')}`;
    const routes: Record<string, StreamRoute> = {};
    const routePath = new Map<string, ConfigPath>();
    const shorthand = source.streams[SINGLE_STREAM];
    if (shorthand) {
      if (declared.length !== 1) {
        issues.push(at([...base, 'topic'], `the topic: shorthand needs a plugin with one stream, but ${listed}; route each under streams: { <stream>: { topic } }`, true));
      } else {
        routes[declared[0]!] = { ...shorthand };
        routePath.set(declared[0]!, base);
      }
    }
    for (const [name, route] of Object.entries(source.streams)) {
      if (name === SINGLE_STREAM) continue;
      if (!Object.hasOwn(streams, name)) {
        const hint = closest(name, declared);
        issues.push(at([...base, 'streams', name], `unknown stream ${JSON.stringify(name)}${hint ? ` (did you mean ${JSON.stringify(hint)}?)` : ''}; ${listed}`, true));
        continue;
      }
      routes[name] = { ...route };
      routePath.set(name, [...base, 'streams', name]);
    }
    for (const name of source.droppedStreams ?? []) {
      if (!Object.hasOwn(streams, name)) {
        const hint = closest(name, declared);
        issues.push(at([...base, 'streams', name], `unknown stream ${JSON.stringify(name)}${hint ? ` (did you mean ${JSON.stringify(hint)}?)` : ''}; ${listed}`, true));
      }
    }
    if (!shorthand) {
      for (const name of declared) {
        if (!(name in routes) && !(source.droppedStreams ?? []).includes(name)) {
          issues.push(at([...base, 'streams', name], `no topic for stream ${JSON.stringify(name)} of plugin ${plugin.name}: add streams.${name}.topic, or streams.${name}: false to drop its records`));
        }
      }
    }

    for (const [name, route] of Object.entries(routes)) {
      const def = streams[name] as StreamDefinition;
      const p = routePath.get(name)!;
      const type = compileStreamSchema(def.schema);
      if (typeof type === 'string') {
        issues.push(at(p, `stream ${JSON.stringify(name)} of plugin ${plugin.name}: ${type}`));
        continue;
      }
      if (route.key === undefined && def.key !== undefined) route.key = def.key;
      if (route.key !== undefined) {
        const problem = keyFieldProblem(type, route.key);
        if (problem) issues.push(at([...p, 'key'], `key field ${JSON.stringify(route.key)} ${problem} (stream ${JSON.stringify(name)} of plugin ${plugin.name})`));
      }
      const canonical = canonicalOf(def.schema, type);
      const prior = writers.get(route.topic);
      if (prior && prior.canonical !== canonical) {
        issues.push(
          at(
            [...p, 'topic'],
            `topic ${JSON.stringify(route.topic)} is also written by source ${JSON.stringify(prior.source)} (stream ${JSON.stringify(prior.stream)}) with a different Avro schema; one topic carries one schema: pick another topic`,
          ),
        );
      } else if (!prior) {
        writers.set(route.topic, { source: source.id, stream: name, canonical, path: [...p, 'topic'] });
      }
      topics.push({ topic: route.topic, schema: def.schema, source: source.id, stream: name });
    }
    const resolved: SourceConfig = { ...source, streams: routes };
    sources[source.id] = resolved;
  }

  const suffix = config.sink.type === 'kafka' ? config.sink.deadLetterSuffix : '.dlq';
  for (const [t, w] of writers) {
    if (t.endsWith(suffix) && writers.has(t.slice(0, -suffix.length))) {
      issues.push(at(w.path, `topic ${JSON.stringify(t)} is the dead-letter topic of ${JSON.stringify(t.slice(0, -suffix.length))}; pick another topic`));
    }
  }

  if (issues.length > 0) throw configError(config.file, issues);
  const out: PipelineConfig = { ...config, sources };
  if (meta) {
    // Environment values used in plugin options only as numbers or booleans are settings, not secrets.
    const secrets = envSecrets(meta.envUses, (use) => {
      if (!isPluginConfigPath(use.path)) return use.converted === true;
      const data = pluginData.get(String(use.path[1]));
      if (data === undefined) return false; // a disabled source: its options were never checked
      const v = valueAt(data, use.path.slice(3));
      return typeof v === 'number' || typeof v === 'boolean';
    });
    for (const s of meta.fileSecrets) secrets.add(s);
    out.secrets = [...secrets];
  }
  copyPipelineMeta(config, out);
  return { config: out, plugins, topics };
}

function canonicalOf(schema: unknown, type: Type): string {
  try {
    return canonicalForm(schema as AvroSchema);
  } catch {
    return JSON.stringify(type.schema());
  }
}
