/**
 * The records the interoperability test produces: a collector-like schema that uses every Avro
 * type a plugin is likely to need (logical types included), values at the edges of each type,
 * and, for each record, the JSON the consumers must print for it (see test/interop/README.md for
 * the rules: integers as decimal strings, timestamps as epoch-millisecond strings, decimals as
 * plain strings, dates as YYYY-MM-DD).
 */
import { defineSchema, type InferAvroInput } from '../../core/src/serde/types.js';

/** Grid load and price readings, one per area and quarter hour. */
export const readingSchema = defineSchema({
  type: 'record',
  name: 'GridReading',
  namespace: 'dev.tributary.interop',
  doc: 'Grid load and day-ahead price of one bidding zone for one interval.',
  fields: [
    { name: 'area', type: 'string', doc: 'Bidding zone, e.g. DE-LU.' },
    { name: 'observedAt', type: { type: 'long', logicalType: 'timestamp-millis' } },
    { name: 'deliveryDay', type: { type: 'int', logicalType: 'date' } },
    { name: 'intervalMinutes', type: 'int' },
    { name: 'loadMw', type: 'double' },
    { name: 'forecastMw', type: ['null', 'double'], default: null },
    { name: 'status', type: { type: 'enum', name: 'Status', symbols: ['OK', 'ESTIMATED', 'MISSING'] } },
    { name: 'sequence', type: 'long', doc: 'Upstream sequence number; uses the full 64-bit range.' },
    { name: 'priceEurPerMwh', type: { type: 'bytes', logicalType: 'decimal', precision: 12, scale: 4 } },
    { name: 'volumeMwh', type: { type: 'fixed', name: 'Volume', size: 8, logicalType: 'decimal', precision: 18, scale: 3 } },
    { name: 'readingId', type: { type: 'string', logicalType: 'uuid' } },
    { name: 'quantiles', type: { type: 'array', items: 'double' } },
    { name: 'tags', type: { type: 'map', values: 'string' }, default: {} },
    { name: 'flagged', type: 'boolean' },
    { name: 'note', type: ['null', 'string'], default: null },
  ],
});

/** A record to produce, with the JSON the consumers must print for it. */
export interface InteropRecord {
  key: string;
  input: InferAvroInput<typeof readingSchema>;
  expected: Record<string, unknown>;
}

const AREAS = ['DE-LU', 'FR', 'NL', 'AT', 'PL', 'NO2'];

// Longs at the edges: beyond 2^53 (a double cannot hold them), the 64-bit limits, negatives
// (zig-zag), zero. Written as bigint or number.
const LONGS: (bigint | number)[] = [2n ** 62n + 1n, -(2n ** 62n + 1n), 2n ** 63n - 1n, -(2n ** 63n), 0, 2n ** 53n + 1n, 123_456_789, -1, Number.MAX_SAFE_INTEGER];

// decimal(12,4) on bytes: input (string, number or bigint) → the string every reader must print.
const PRICES: [string | number | bigint, string][] = [
  ['81.25', '81.2500'],
  [-0.0001, '-0.0001'],
  [0, '0.0000'],
  ['12345678.9012', '12345678.9012'],
  ['-99999999.9999', '-99999999.9999'],
  [42n, '42.0000'],
  ['-128.0000', '-128.0000'], // one-byte edge of the two's-complement encoding
  [3.1416, '3.1416'],
];

// decimal(18,3) on fixed(8).
const VOLUMES: [string | number | bigint, string][] = [
  ['123456789012345.678', '123456789012345.678'],
  ['-0.001', '-0.001'],
  [0, '0.000'],
  ['-999999999999999.999', '-999999999999999.999'],
  [1500.5, '1500.500'],
];

// Doubles whose shortest decimal forms differ between languages or that sit at the limits.
const LOADS = [50_123.4, 0.1 + 0.2, 5e-324, 1.7976931348623157e308, -273.15, 1e21, 123_456.789];

// Dates: input → YYYY-MM-DD. Before 1970 means a negative day count.
const DAYS: [string | Date, string][] = [
  ['2026-01-01', '2026-01-01'],
  [new Date(Date.UTC(2024, 1, 29, 23, 59)), '2024-02-29'],
  ['1969-12-31', '1969-12-31'],
  ['1900-03-01', '1900-03-01'],
  ['2099-12-31', '2099-12-31'],
];

const STATUSES = ['OK', 'ESTIMATED', 'MISSING'] as const;
const NOTES = [null, 'Zürich → Wien: ✓ 東京 "quoted" \\ back\tslash', 'plain', ''];

/** `n` records over several keys, deterministic. */
export function makeRecords(n: number): InteropRecord[] {
  const out: InteropRecord[] = [];
  const base = Date.UTC(2026, 2, 29, 1, 0, 0, 123); // a DST change day in Europe; irrelevant to UTC millis
  for (let i = 0; i < n; i++) {
    const key = AREAS[i % AREAS.length]!;
    // One timestamp before 1970 (negative millis).
    const at = i === 7 ? -1_234_567_890_123 : base + i * 900_000;
    const long = LONGS[i % LONGS.length]!;
    const [price, priceText] = PRICES[i % PRICES.length]!;
    const [volume, volumeText] = VOLUMES[i % VOLUMES.length]!;
    const [day, dayText] = DAYS[i % DAYS.length]!;
    const load = LOADS[i % LOADS.length]!;
    const forecast = i % 3 === 0 ? null : load * 0.99;
    const status = STATUSES[i % STATUSES.length]!;
    const readingId = `6f1c${((i * 40503) % 65536).toString(16).padStart(4, '0')}-0b9e-4c3a-8d2e-${i.toString(16).padStart(12, '0')}`;
    const quantiles = i % 4 === 0 ? [] : [load / 3, load, -load];
    const tags: Record<string, string> = i % 2 === 0 ? {} : { source: 'entsoe', unit: 'MW', 'ünïcode key': `#${i}` };
    const note = NOTES[i % NOTES.length]!;
    const input: InferAvroInput<typeof readingSchema> = {
      area: key,
      observedAt: i % 2 === 0 ? at : new Date(at),
      deliveryDay: day,
      intervalMinutes: i % 5 === 0 ? 60 : 15,
      loadMw: load,
      forecastMw: forecast,
      status,
      sequence: long,
      priceEurPerMwh: price,
      volumeMwh: volume,
      readingId,
      quantiles,
      tags,
      flagged: i % 7 === 3,
      note,
    };
    if (i % 6 === 5) delete input.tags; // left out: the default {} is written
    const expected: Record<string, unknown> = {
      area: key,
      observedAt: String(at),
      deliveryDay: dayText,
      intervalMinutes: String(i % 5 === 0 ? 60 : 15),
      loadMw: load,
      forecastMw: forecast,
      status,
      sequence: String(long),
      priceEurPerMwh: priceText,
      volumeMwh: volumeText,
      readingId,
      quantiles,
      tags: i % 6 === 5 ? {} : tags,
      flagged: i % 7 === 3,
      note,
    };
    out.push({ key, input, expected });
  }
  return out;
}
