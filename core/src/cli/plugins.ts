import path from 'node:path';
import { loadPipeline } from '../pipeline/config/load.js';
import { resolvePipeline } from '../pipeline/config/resolve.js';
import { listInstalledPlugins, loadPlugin } from '../plugin/loader.js';
import type { StreamDefinition } from '../plugin/types.js';
import { EXIT, type CliIo } from './io.js';

/** @internal One plugin as `tributary plugins --json` prints it. */
export interface PluginListing {
  name: string;
  version: string;
  description?: string;
  dir: string;
  coreVersion?: string;
  compatible?: boolean;
  streams?: Record<string, { key?: string; description?: string; schema: unknown }>;
  /** True when the plugin derives its streams from each source's options (`streamsFor`): `streams` are then its defaults. */
  streamsFromConfig?: boolean;
  /** Why the plugin could not be loaded, when it could not. */
  error?: string;
}

/** @internal One source as `tributary plugins --pipeline <file> --json` prints it. */
export interface SourceListing {
  source: string;
  plugin: string;
  version: string;
  /** The source's streams (from its options when the plugin has `streamsFor`), with their topics. */
  streams: Record<string, { key?: string; description?: string; topic?: string; schema: unknown }>;
}

/**
 * @internal `tributary plugins [--dir <dir>] [--json]`: the plugin packages installed in
 * `node_modules` of the directory and its parents, each with its streams, key fields and schemas.
 * A plugin whose streams depend on the options (`streamsFor`) shows its default streams and says
 * so. With `--pipeline <file>`: each enabled source of that pipeline with its plugin and its own
 * streams (derived from its options), key fields, topics and schemas; a `ConfigError` propagates.
 */
export async function pluginsCommand(opts: { dir?: string; json?: boolean; pipeline?: string }, io: CliIo): Promise<number> {
  if (opts.pipeline !== undefined) return sourcesListing(path.resolve(io.cwd, opts.pipeline), opts.json === true, io);
  const dir = path.resolve(io.cwd, opts.dir ?? '.');
  const installed = await listInstalledPlugins(dir);
  const listings: PluginListing[] = [];
  for (const p of installed) {
    const listing: PluginListing = { name: p.name, version: p.version, dir: p.dir };
    if (p.description) listing.description = p.description;
    if (p.coreVersion) listing.coreVersion = p.coreVersion;
    if (p.compatible !== undefined) listing.compatible = p.compatible;
    try {
      const plugin = await loadPlugin(p.name, { fromDir: dir });
      listing.streams = {};
      for (const [name, def] of Object.entries(plugin.streams) as [string, StreamDefinition][]) {
        listing.streams[name] = { ...(def.key ? { key: def.key } : {}), ...(def.description ? { description: def.description } : {}), schema: def.schema };
      }
      if (typeof plugin.streamsFor === 'function') listing.streamsFromConfig = true;
    } catch (err) {
      listing.error = err instanceof Error ? err.message : String(err);
    }
    listings.push(listing);
  }
  if (opts.json) {
    io.stdout.write(JSON.stringify(listings, null, 2) + '\n');
    return EXIT.OK;
  }
  if (listings.length === 0) {
    io.stdout.write(`No Tributary plugins installed in ${dir} or its parents (packages named @tributary/plugin-* or with the keyword "tributary-plugin").\n`);
    return EXIT.OK;
  }
  const lines: string[] = [];
  for (const l of listings) {
    const compat = l.coreVersion ? ` [core ${l.coreVersion}${l.compatible === false ? ', NOT compatible with this core' : ''}]` : '';
    lines.push(`${l.name} ${l.version}${l.description ? ` - ${l.description}` : ''}${compat}`);
    if (l.error) {
      lines.push(`  cannot be loaded: ${l.error.split('\n').join('\n  ')}`);
      continue;
    }
    if (l.streamsFromConfig) {
      lines.push(`  streams depend on each source's options${Object.keys(l.streams ?? {}).length ? '; the defaults' : ''} (see: tributary plugins --pipeline <file>)`);
    }
    for (const [name, s] of Object.entries(l.streams ?? {})) {
      lines.push(`  stream ${name}${s.key ? ` (key: ${s.key})` : ''}${s.description ? `: ${s.description}` : ''}`);
      lines.push(`    schema ${describeSchema(s.schema)}`);
    }
  }
  io.stdout.write(lines.join('\n') + '\n');
  return EXIT.OK;
}

async function sourcesListing(file: string, json: boolean, io: CliIo): Promise<number> {
  const { config, plugins, topics } = await resolvePipeline(await loadPipeline(file, { env: io.env }));
  const listings: SourceListing[] = [];
  for (const [id, { plugin, streams }] of plugins) {
    const listing: SourceListing = { source: id, plugin: plugin.name, version: plugin.version, streams: {} };
    for (const [name, def] of Object.entries(streams)) {
      const topic = topics.find((t) => t.source === id && t.stream === name)?.topic;
      const key = config.sources[id]?.streams[name]?.key ?? def.key;
      listing.streams[name] = {
        ...(key ? { key } : {}),
        ...(def.description ? { description: def.description } : {}),
        ...(topic !== undefined ? { topic } : {}),
        schema: def.schema,
      };
    }
    listings.push(listing);
  }
  if (json) {
    io.stdout.write(JSON.stringify(listings, null, 2) + '\n');
    return EXIT.OK;
  }
  const lines = [`Sources of pipeline "${config.name}" (${config.file}):`];
  for (const l of listings) {
    lines.push(`source ${l.source}: ${l.plugin} ${l.version}`);
    for (const [name, s] of Object.entries(l.streams)) {
      lines.push(`  stream ${name}${s.key ? ` (key: ${s.key})` : ''} -> ${s.topic ?? '(dropped)'}${s.description ? `: ${s.description}` : ''}`);
      lines.push(`    schema ${describeSchema(s.schema)}`);
    }
  }
  io.stdout.write(lines.join('\n') + '\n');
  return EXIT.OK;
}

/** A one-line description of an Avro schema: `Name { field: type, ... }`. */
export function describeSchema(schema: unknown): string {
  if (typeof schema === 'string') return schema;
  if (Array.isArray(schema)) return schema.map(describeSchema).join(' | ');
  if (typeof schema !== 'object' || schema === null) return String(schema);
  const s = schema as { type?: unknown; name?: unknown; namespace?: unknown; fields?: unknown; items?: unknown; values?: unknown; symbols?: unknown; logicalType?: unknown };
  if (typeof s.logicalType === 'string') return `${String(describeSchema(s.type))}(${s.logicalType})`;
  switch (s.type) {
    case 'record':
    case 'error': {
      const fields = Array.isArray(s.fields) ? (s.fields as { name: string; type: unknown }[]) : [];
      const name = typeof s.namespace === 'string' && typeof s.name === 'string' && !s.name.includes('.') ? `${s.namespace}.${s.name}` : String(s.name ?? 'record');
      return `${name} { ${fields.map((f) => `${f.name}: ${describeSchema(f.type)}`).join(', ')} }`;
    }
    case 'array':
      return `array<${describeSchema(s.items)}>`;
    case 'map':
      return `map<${describeSchema(s.values)}>`;
    case 'enum':
      return `enum ${String(s.name)} [${Array.isArray(s.symbols) ? s.symbols.join(', ') : ''}]`;
    case 'fixed':
      return `fixed ${String(s.name)}`;
    default:
      return describeSchema(s.type);
  }
}
