/**
 * The plugin contract (`definePlugin`) and plugin loading.
 * @packageDocumentation
 */
export type * from './types.js';
export { definePlugin, isTributaryPlugin, type PluginDefinition, type PluginRecord, type RecordValue, type StreamRecordOf } from './definePlugin.js';
export {
  loadPlugin,
  listInstalledPlugins,
  resolvePluginSpecifier,
  isPathSpecifier,
  CORE_VERSION,
  type LoadPluginOptions,
  type InstalledPlugin,
  type ResolvedSpecifier,
} from './loader.js';
export { shardOf, inShard } from './shard.js';
