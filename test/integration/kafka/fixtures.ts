/** Schemas and records shared by the Kafka integration tests. */
import { Registry } from 'prom-client';
import { createKafkaSink, type KafkaSink, type KafkaSinkSettings } from '../../../core/src/sinks/kafka.js';
import type { Envelope, TopicSpec } from '../../../core/src/pipeline/types.js';
import { kafkaEnv } from '../../support/kafka.js';

export const readingV1 = {
  type: 'record',
  name: 'Reading',
  namespace: 'tributary.test',
  fields: [
    { name: 'station', type: 'string' },
    { name: 'seq', type: 'int' },
    { name: 'pm25', type: ['null', 'double'], default: null },
    { name: 'at', type: { type: 'long', logicalType: 'timestamp-millis' } },
    { name: 'counter', type: 'long' },
  ],
} as const;

/** v1 plus a field with a default: BACKWARD compatible. */
export const readingV2 = {
  ...readingV1,
  fields: [...readingV1.fields, { name: 'unit', type: 'string', default: 'ug/m3' }],
} as const;

/** v1 plus a field without a default: not BACKWARD compatible. */
export const readingV3Breaking = {
  ...readingV1,
  fields: [...readingV1.fields, { name: 'operator', type: 'string' }],
} as const;

export const STATIONS = ['NL01', 'NL02', 'DE-LU', 'FR', 'AT-7', 'ES', 'PL', 'BE'];

/** `n` envelopes over `STATIONS`, with a per-key sequence number and a long beyond 2^53. */
export function readings(topic: string, n: number, extra: (i: number) => Record<string, unknown> = () => ({})): Envelope[] {
  const seq = new Map<string, number>();
  const t0 = Date.UTC(2025, 0, 1);
  return Array.from({ length: n }, (_, i) => {
    const station = STATIONS[i % STATIONS.length]!;
    const s = (seq.get(station) ?? 0) + 1;
    seq.set(station, s);
    return {
      topic,
      key: station,
      value: { station, seq: s, pm25: i % 5 === 0 ? null : i / 4, at: t0 + i * 1000, counter: 2n ** 60n + BigInt(i), ...extra(i) },
      timestamp: t0 + i * 1000,
      headers: { 'tributary-source': 'air', 'tributary-plugin': 'test-plugin', 'x-index': String(i) },
    };
  });
}

export function spec(topic: string, schema: unknown, source = 'air'): TopicSpec {
  return { topic, schema: schema as TopicSpec['schema'], source, stream: 'readings' };
}

/** A Kafka sink for the tests' broker with a private metrics registry. */
export function testSink(settings: Partial<KafkaSinkSettings>, metrics = new Registry()): { sink: KafkaSink; metrics: Registry } {
  const sink = createKafkaSink(
    { brokers: kafkaEnv().brokers, clientId: 'tributary-it', batch: { maxRecords: 100, lingerMs: 5 }, ...settings },
    { registry: metrics, closeTimeoutMs: 20_000 },
  );
  return { sink, metrics };
}

/** Sum of a counter's values for one label set. */
export async function counterValue(metrics: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = metrics.getSingleMetric(name);
  if (!metric) return 0;
  const { values } = await metric.get();
  return values.filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l)).reduce((s, v) => s + v.value, 0);
}
