import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Observable } from 'rxjs';
import { z } from 'zod';
import { workersConfig } from '../../src/pipeline/config/normalize.js';
import type { PipelineConfig, Schedule, SourceConfig } from '../../src/pipeline/types.js';
import type { Collector, PluginContext, StreamDefinition, TributaryPlugin } from '../../src/plugin/types.js';

/** A record schema used by most runtime tests. */
export const READING_SCHEMA = {
  type: 'record',
  name: 'Reading',
  namespace: 'test',
  fields: [
    { name: 'station', type: 'string' },
    { name: 'value', type: 'double' },
    { name: 'meta', type: { type: 'record', name: 'Meta', fields: [{ name: 'unit', type: 'string' }] } },
  ],
} as const;

/** A plugin object built by hand (no definePlugin), with one stream `readings` by default. */
export function testPlugin(
  create: (config: Record<string, unknown>, ctx: PluginContext) => Collector | Promise<Collector>,
  options: { name?: string; version?: string; streams?: Record<string, StreamDefinition> } = {},
): TributaryPlugin {
  return {
    kind: 'tributary-plugin',
    name: options.name ?? 'test-plugin',
    version: options.version ?? '1.2.3',
    coreVersion: '*',
    configSchema: z.record(z.string(), z.unknown()) as unknown as TributaryPlugin['configSchema'],
    streams: options.streams ?? { readings: { schema: READING_SCHEMA as unknown as Record<string, unknown>, key: 'station' } },
    create: create as TributaryPlugin['create'],
  };
}

export function reading(station: string, value: number): { stream: string; value: Record<string, unknown> } {
  return { stream: 'readings', value: { station, value, meta: { unit: 'ug/m3' } } };
}

export function source(id: string, overrides: Partial<SourceConfig> = {}): SourceConfig {
  return {
    id,
    plugin: './plugin.js',
    config: {},
    schedule: { kind: 'once' },
    resilience: {},
    streams: { readings: { topic: `${id}.readings` } },
    shards: 1,
    enabled: true,
    ...overrides,
  };
}

export function pipeline(sources: SourceConfig[], overrides: Partial<PipelineConfig> = {}): PipelineConfig {
  return {
    file: '/virtual/pipeline.yaml',
    name: 'test',
    sources: Object.fromEntries(sources.map((s) => [s.id, s])),
    groups: {},
    sink: { type: 'stdout' },
    stateDir: '/virtual/state',
    metrics: { enabled: false, host: '127.0.0.1', port: 0 },
    shutdown: { timeoutMs: 5_000 },
    workers: workersConfig('test', 5_000),
    secrets: [],
    ...overrides,
  };
}

export function every(intervalMs: number): Schedule {
  return { kind: 'every', intervalMs };
}

/** A cold Observable that emits the values after `ms` (real or fake timers). */
export function later<T>(ms: number, values: T[]): Observable<T> {
  return new Observable<T>((subscriber) => {
    const timer = setTimeout(() => {
      for (const v of values) subscriber.next(v);
      subscriber.complete();
    }, ms);
    return () => clearTimeout(timer);
  });
}

export async function tempDir(prefix = 'tributary-test-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
