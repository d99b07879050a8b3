/**
 * Serialization: Avro through Tributary's `Serializer` (Confluent framing and single-object
 * encoding, validation included) against `JSON.stringify` + `Buffer.from`, for a typical collector
 * record; and decoding through `Deserializer` against `JSON.parse`.
 */
import { Deserializer, InMemorySchemaStore, Serializer, defineSchema, type AvroSchema, type SchemaRegistryApi } from '@tributary/core';
import { fmt, fmtRatio, nsPerCallAsync, nsPerCallInterleaved, stats, type BenchContext, type Row, type Section, type Stats } from './lib.js';

/** An air-quality measurement as the Luchtmeetnet collector emits it: 9 fields. */
export const measurementSchema = defineSchema({
  type: 'record',
  name: 'AirQualityMeasurement',
  namespace: 'nl.luchtmeetnet',
  fields: [
    { name: 'station', type: 'string' },
    { name: 'component', type: 'string' },
    { name: 'value', type: 'double' },
    { name: 'unit', type: 'string' },
    { name: 'measuredAt', type: { type: 'long', logicalType: 'timestamp-millis' } },
    { name: 'latitude', type: 'double' },
    { name: 'longitude', type: 'double' },
    { name: 'qualityIndex', type: ['null', 'int'], default: null },
    { name: 'source', type: 'string' },
  ],
});

/** The `i`-th record of a deterministic series of measurements. */
export function measurement(i: number): {
  station: string;
  component: string;
  value: number;
  unit: string;
  measuredAt: number;
  latitude: number;
  longitude: number;
  qualityIndex: number | null;
  source: string;
} {
  return {
    station: `NL${String(10000 + (i % 101)).padStart(5, '0')}`,
    component: ['NO2', 'PM10', 'PM25', 'O3'][i % 4]!,
    value: Math.round((10 + ((i * 7919) % 500) / 10) * 100) / 100,
    unit: 'µg/m³',
    measuredAt: 1_735_689_600_000 + i * 3_600_000,
    latitude: 52.0 + (i % 101) / 100,
    longitude: 4.5 + (i % 101) / 80,
    qualityIndex: i % 5 === 0 ? null : (i % 11) + 1,
    source: 'luchtmeetnet',
  };
}

/** A schema registry in the same process: one subject, one schema, id 1. Only what `Serializer` and `Deserializer` call. */
export function inProcessRegistry(): SchemaRegistryApi {
  const schemas = new Map<number, AvroSchema>();
  return {
    register: async (_subject, schema) => {
      schemas.set(1, schema);
      return 1;
    },
    getSchemaById: async (id) => {
      const s = schemas.get(id);
      if (!s) throw new Error(`no schema ${id}`);
      return s;
    },
    checkCompatibility: async () => ({ compatible: true, messages: [] }),
    getCompatibility: async () => 'BACKWARD',
    setCompatibility: async () => {},
  };
}

export async function run(ctx: BenchContext): Promise<Section> {
  const n = 1024;
  const records = Array.from({ length: n }, (_, i) => measurement(i));
  const registry = inProcessRegistry();
  const confluent = new Serializer({ topic: 'air.measurements', schema: measurementSchema, mode: 'registry', registry });
  await confluent.prepare();
  const store = new InMemorySchemaStore();
  const single = new Serializer({ topic: 'air.measurements', schema: measurementSchema, mode: 'single-object', store });
  await single.prepare();

  let k = 0;
  let sink: unknown;
  const encode = {
    'Avro, Confluent framing (Serializer, validated)': () => {
      sink = confluent.serialize(records[k++ & (n - 1)]!);
    },
    'Avro, single-object encoding (Serializer, validated)': () => {
      sink = single.serialize(records[k++ & (n - 1)]!);
    },
    'JSON.stringify + Buffer.from': () => {
      sink = Buffer.from(JSON.stringify(records[k++ & (n - 1)]!));
    },
  };
  const iterations = ctx.quick ? 5_000 : 200_000;
  const runs = ctx.quick ? 3 : 9;
  const enc = nsPerCallInterleaved(encode, iterations, runs, 'cpu');

  // Decoding: the downstream side.
  const confluentBufs = records.map((r) => confluent.serialize(r));
  const singleBufs = records.map((r) => single.serialize(r));
  const jsonBufs = records.map((r) => Buffer.from(JSON.stringify(r)));
  const bytes = (bufs: Buffer[]): number => bufs.reduce((s, b) => s + b.length, 0) / bufs.length;
  const deserializer = new Deserializer({ registry, resolver: (fp) => store.resolve(fp) });
  // Check the round trip once (and warm the reader cache).
  const back = await deserializer.deserialize(confluentBufs[3]!);
  if (JSON.stringify(back) !== JSON.stringify(records[3])) throw new Error(`serde bench: round trip changed the record: ${JSON.stringify(back)}`);
  await deserializer.deserialize(singleBufs[3]!);

  const decRuns = ctx.quick ? 3 : 9;
  const decIterations = ctx.quick ? 5_000 : 100_000;
  const dec: Record<string, Stats> = {};
  const decodeJson = (): void => {
    sink = JSON.parse(jsonBufs[k++ & (n - 1)]!.toString('utf8'));
  };
  // Interleave by hand: the Avro decode path is asynchronous (a schema lookup per message, cached).
  const samples: Record<string, number[]> = { confluent: [], single: [], json: [] };
  for (let r = 0; r < decRuns; r++) {
    samples.confluent!.push((await nsPerCallAsync(() => deserializer.deserialize(confluentBufs[k++ & (n - 1)]!), decIterations, 1, 'cpu')).median);
    samples.single!.push((await nsPerCallAsync(() => deserializer.deserialize(singleBufs[k++ & (n - 1)]!), decIterations, 1, 'cpu')).median);
    samples.json!.push(nsPerCallInterleaved({ json: decodeJson }, decIterations, 1, 'cpu').json!.median);
  }
  dec.confluent = stats(samples.confluent!);
  dec.single = stats(samples.single!);
  dec.json = stats(samples.json!);
  void sink;

  const perSec = (s: Stats): string => `${fmt(1e3 / s.median, 'M')} records/s (${fmt(1e3 / s.max, '')}–${fmt(1e3 / s.min, '')})`;
  const json = enc['JSON.stringify + Buffer.from']!;
  const rows: Row[] = [];
  for (const [name, s] of Object.entries(enc)) {
    if (s === json) continue;
    rows.push({ scenario: `encode: ${name}`, ours: perSec(s), baseline: `${perSec(json)} (JSON)`, ratio: fmtRatio(json.median / s.median), target: '' });
  }
  rows.push({
    scenario: 'decode: Deserializer, Confluent framing (async, schema by id)',
    ours: perSec(dec.confluent),
    baseline: `${perSec(dec.json)} (JSON.parse)`,
    ratio: fmtRatio(dec.json.median / dec.confluent.median),
    target: '',
  });
  rows.push({
    scenario: 'decode: Deserializer, single-object encoding (async, schema by fingerprint)',
    ours: perSec(dec.single),
    baseline: `${perSec(dec.json)} (JSON.parse)`,
    ratio: fmtRatio(dec.json.median / dec.single.median),
    target: '',
  });
  const jb = bytes(jsonBufs);
  for (const [name, b] of [
    ['bytes per record: Avro, Confluent framing (5-byte header)', bytes(confluentBufs)],
    ['bytes per record: Avro, single-object encoding (10-byte header)', bytes(singleBufs)],
  ] as const) {
    rows.push({ scenario: name, ours: `${fmt(b, 'B')}`, baseline: `${fmt(jb, 'B')} (JSON)`, ratio: fmtRatio(b / jb), target: 'smaller than JSON', met: b < jb });
  }
  ctx.log(`confluent ${fmt(enc['Avro, Confluent framing (Serializer, validated)']!.median, 'ns')}, json ${fmt(json.median, 'ns')}`);

  return {
    title: 'Serialization',
    description: `
Avro encoding of a typical collector record (an air-quality measurement with 9 fields: 5 strings,
3 doubles, a \`timestamp-millis\` long and an optional int) with Tributary's \`Serializer\`, which
validates every record against its schema and writes it with one allocation, in both wire formats:
Confluent framing (schema id from a schema registry; here an in-process registry, since the id is
fetched once by \`prepare()\`) and Avro single-object encoding (no registry). The baseline is what a
collector without schemas does: \`Buffer.from(JSON.stringify(record))\`. Decoding goes through
\`Deserializer\` (asynchronous: it resolves the writer schema by id or fingerprint, cached after the
first message) against \`JSON.parse\`. ${runs} interleaved runs of ${iterations.toLocaleString('en')}
records for encoding, ${decRuns} of ${decIterations.toLocaleString('en')} for decoding, cycling over
${n} distinct records. Times are CPU time of the process (\`process.cpuUsage()\`), which leaves out the
time spent waiting for a core on this shared machine; records/s = 1 / CPU time per record. "ratio"
is ours / JSON in throughput (above 1: faster than JSON) and in size
(below 1: smaller).
`,
    notes: `
No speed target: either way serialization costs about a µs per record or less, far below what the sink and
the broker spend on it (see the Kafka section). Avro's gain is size (about ${Math.round((1 - bytes(confluentBufs) / jb) * 100)} % smaller
here, before compression) and a schema every consumer can read; field names are not repeated in
every message. The decode rows include one \`await\` per message (the schema lookup is cached, the
promise is not), which a consumer pays once per message either way.
`,
    rows,
  };
}
