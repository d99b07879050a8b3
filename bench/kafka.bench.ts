/**
 * End to end into a real Kafka broker (acks=all, idempotent, Avro, batches of 500): Tributary's Kafka
 * sink driven the way the runtime drives it, against a hand-written kafkajs producer loop over the
 * same pre-serialized records; the same sink on the @confluentinc/kafka-javascript adapter when it
 * loads; and the RSS over a long run.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import kafkajs from 'kafkajs';
import { Serializer, encodeStringKey } from '@tributary/core';
import { fmt, fmtRatio, stats, type BenchContext, type Row, type Section, type Stats } from './lib.js';
import { inProcessRegistry, measurement, measurementSchema } from './serde.bench.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const require = createRequire(import.meta.url);

const BATCH = 500;
const LINGER_MS = 50;
const POOL = 4096;

/** The parts of the runtime's delivery path the benchmark drives (compiled code in core/dist). */
interface Envelope {
  topic: string;
  key: string | null;
  value: Record<string, unknown>;
  timestamp: number;
  headers: Record<string, string>;
}
interface SinkLike {
  start(topics: readonly { topic: string; schema: unknown; source: string; stream: string }[]): Promise<void>;
  write(batch: readonly Envelope[]): Promise<void>;
  close(): Promise<void>;
}
type SinkFactory = (config: Record<string, unknown>, options: Record<string, unknown>) => SinkLike;
interface Measure {
  /** Records per second. */
  rate: number;
  /** CPU time of this process (every thread) per record, in µs. */
  cpuUs: number;
}
interface BatcherLike {
  push(envelope: Envelope): Promise<void>;
  drain(): Promise<void>;
  dispose(): void;
}
type BatcherClass = new (options: { sink: SinkLike; maxRecords: number; lingerMs: number; capacity: number }) => BatcherLike;

const env: Record<string, string> = {};

/** Broker and client versions for the machine table. */
export function environment(): Record<string, string> {
  return env;
}

async function importDist<T>(relative: string): Promise<T | undefined> {
  try {
    return (await import(pathToFileURL(path.join(root, 'core', 'dist', relative)).href)) as T;
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_MODULE_NOT_FOUND') return undefined;
    throw err;
  }
}

function packageVersion(name: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')) as { version: string }).version;
  } catch {
    return undefined;
  }
}

export async function run(ctx: BenchContext): Promise<Section> {
  const records = ctx.quick ? 20_000 : 100_000;
  const runs = ctx.quick ? 1 : 5;
  const rssRecords = ctx.quick ? 20_000 : 1_000_000;
  const rssEvery = rssRecords / 10;

  // --- the code under test: the sink (and the runtime's batcher) from core/dist -----------------
  const core = (await import('@tributary/core')) as Record<string, unknown>;
  const createKafkaSink = (core.createKafkaSink as SinkFactory | undefined) ?? (await importDist<{ createKafkaSink: SinkFactory }>('sinks/kafka.js'))?.createKafkaSink;
  if (!createKafkaSink) throw new Error('kafka bench: the Kafka sink (createKafkaSink) is not in core/dist; build core first');
  const Batcher = (await importDist<{ Batcher: BatcherClass }>('pipeline/runtime/batcher.js'))?.Batcher;
  const confluentAvailability = (await importDist<{ confluentAvailability: () => { available: boolean; librdkafkaVersion?: string; reason?: string } }>('kafka/confluent.js'))?.confluentAvailability;
  const confluent = confluentAvailability?.() ?? { available: false, reason: 'core/dist/kafka/confluent.js is missing' };

  // --- the broker ---------------------------------------------------------------------------------
  let brokers = process.env.KAFKA_BROKERS;
  let stop: (() => Promise<void>) | undefined;
  if (brokers) {
    env['kafka broker'] = `external (KAFKA_BROKERS=${brokers})`;
  } else {
    // Its own state dir and ports, so that it never stops a broker that tests started from this checkout.
    process.env.KAFKA_STATE_DIR = process.env.BENCH_KAFKA_STATE_DIR ?? path.join(root, '.kafka', 'bench');
    const harness = (await import(pathToFileURL(path.join(root, 'test', 'kafka', 'harness.mjs')).href)) as typeof import('../test/kafka/harness.mjs');
    if (!harness.javaAvailable()) throw new Error('kafka bench: Java 17+ is needed to start a broker (or set KAFKA_BROKERS)');
    const port = Number(process.env.BENCH_KAFKA_PORT ?? 39192);
    const started = await harness.startKafka({ registry: false, kafkaPort: port, controllerPort: port + 1, log: (m) => ctx.log(m) });
    brokers = started.brokers;
    stop = () => harness.stopKafka({ log: (m) => ctx.log(m) });
    env['kafka broker'] = `Apache Kafka ${started.version} (KRaft, single node, started by the bench)`;
  }
  env.kafkajs = packageVersion('kafkajs') ?? '?';
  env['@confluentinc/kafka-javascript'] = confluent.available ? `${packageVersion('@confluentinc/kafka-javascript') ?? '?'} (librdkafka ${confluent.librdkafkaVersion})` : `not available: ${confluent.reason}`;
  const brokerList = brokers.split(',');
  let admin: ReturnType<kafkajs.Kafka['admin']> | undefined;

  try {
    // --- the same records for everyone ------------------------------------------------------------
    const registry = inProcessRegistry();
    const serializer = new Serializer({ topic: 'bench', schema: measurementSchema, mode: 'registry', registry });
    await serializer.prepare();
    const pool = Array.from({ length: POOL }, (_, i) => measurement(i));
    const values = pool.map((r) => serializer.serialize(r));
    const keys = pool.map((r) => encodeStringKey(r.station));
    const envelope = (topic: string, i: number): Envelope => {
      const r = pool[i % POOL]!;
      return { topic, key: r.station, value: r, timestamp: r.measuredAt, headers: {} };
    };

    // --- candidates -------------------------------------------------------------------------------
    let seq = 0;
    const topicFor = (name: string): string => `bench.${name}.${process.pid}.${seq++}`;
    const kafkaAdmin = new kafkajs.Kafka({ clientId: 'bench-admin', brokers: brokerList, logLevel: kafkajs.logLevel.NOTHING }).admin();
    await kafkaAdmin.connect();
    admin = kafkaAdmin;
    const createTopic = async (topic: string): Promise<void> => {
      await kafkaAdmin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true });
    };

    /** Records/s and client CPU µs per record (all threads of this process) of a timed section. */
    const timed = async (n: number, body: () => Promise<void>): Promise<Measure> => {
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      await body();
      const ms = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      return { rate: (n / ms) * 1000, cpuUs: (cpu.user + cpu.system) / n };
    };

    const rawKafkajs = async (n: number): Promise<Measure> => {
      const topic = topicFor('raw');
      await createTopic(topic);
      const kafka = new kafkajs.Kafka({ clientId: 'bench-raw', brokers: brokerList, logLevel: kafkajs.logLevel.NOTHING });
      const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: kafkajs.Partitioners.DefaultPartitioner });
      await producer.connect();
      try {
        return await timed(n, async () => {
          for (let i = 0; i < n; i += BATCH) {
            const messages: { key: Buffer | null; value: Buffer; timestamp: string }[] = [];
            for (let j = i; j < Math.min(n, i + BATCH); j++) messages.push({ key: keys[j % POOL]!, value: values[j % POOL]!, timestamp: String(pool[j % POOL]!.measuredAt) });
            await producer.send({ topic, acks: -1, messages });
          }
        });
      } finally {
        await producer.disconnect();
      }
    };

    const rawConfluent = async (n: number): Promise<Measure> => {
      const { KafkaJS } = require('@confluentinc/kafka-javascript') as { KafkaJS: { Kafka: new (c: unknown) => { producer(c: unknown): { connect(): Promise<void>; send(r: unknown): Promise<unknown>; disconnect(): Promise<void> } } } };
      const topic = topicFor('rawrdkafka');
      await createTopic(topic);
      const producer = new KafkaJS.Kafka({ kafkaJS: { clientId: 'bench-raw-rdkafka', brokers: brokerList, logLevel: 0 } }).producer({ kafkaJS: { idempotent: true, acks: -1 }, 'linger.ms': LINGER_MS, 'batch.num.messages': BATCH });
      await producer.connect();
      try {
        return await timed(n, async () => {
          for (let i = 0; i < n; i += BATCH) {
            const messages: { key: Buffer | null; value: Buffer; timestamp: string }[] = [];
            for (let j = i; j < Math.min(n, i + BATCH); j++) messages.push({ key: keys[j % POOL]!, value: values[j % POOL]!, timestamp: String(pool[j % POOL]!.measuredAt) });
            await producer.send({ topic, messages });
          }
        });
      } finally {
        await producer.disconnect();
      }
    };

    // The runtime's delivery path: envelopes pushed into its Batcher (500 records, 50 ms linger,
    // one write in flight), which hands them to the sink; the sink validates, Avro-encodes,
    // partitions and sends them (acks=all, idempotent) and resolves once acknowledged.
    const tributary = async (client: 'kafkajs' | 'confluent', n: number, onProgress?: (i: number) => void): Promise<Measure> => {
      const topic = topicFor(`sink${client}`);
      const sink = createKafkaSink(
        { type: 'kafka', brokers: brokerList, clientId: `bench-${client}`, client, wireFormat: 'registry', compression: 'none', batch: { maxRecords: BATCH, lingerMs: LINGER_MS }, topics: { [topic]: { partitions: 1, replicationFactor: 1 } } },
        { schemaRegistry: registry, registry: new (await import('prom-client')).Registry() },
      );
      await sink.start([{ topic, schema: measurementSchema, source: 'bench', stream: 'measurements' }]);
      try {
        return await timed(n, async () => {
          if (Batcher) {
            const batcher = new Batcher({ sink, maxRecords: BATCH, lingerMs: LINGER_MS, capacity: 10_000 });
            for (let i = 0; i < n; i++) {
              await batcher.push(envelope(topic, i));
              if (onProgress && (i + 1) % rssEvery === 0) onProgress(i + 1);
            }
            await batcher.drain();
            batcher.dispose();
          } else {
            for (let i = 0; i < n; i += BATCH) {
              await sink.write(Array.from({ length: Math.min(BATCH, n - i) }, (_, j) => envelope(topic, i + j)));
              if (onProgress && (i + BATCH) % rssEvery === 0) onProgress(i + BATCH);
            }
          }
        });
      } finally {
        await sink.close();
      }
    };

    const candidates: Record<string, (n: number) => Promise<Measure>> = {
      'raw kafkajs loop': rawKafkajs,
      'Tributary sink, kafkajs': (n) => tributary('kafkajs', n),
    };
    if (confluent.available) {
      candidates['Tributary sink, confluent (librdkafka)'] = (n) => tributary('confluent', n);
      candidates['raw @confluentinc/kafka-javascript loop (KafkaJS API)'] = rawConfluent;
    }
    // Warm-up (JIT, connections, topic metadata), then interleaved runs.
    for (const fn of Object.values(candidates)) await fn(Math.min(records, 20_000));
    const rates: Record<string, number[]> = Object.fromEntries(Object.keys(candidates).map((k) => [k, []]));
    const cpus: Record<string, number[]> = Object.fromEntries(Object.keys(candidates).map((k) => [k, []]));
    for (let r = 0; r < runs; r++) {
      for (const [name, fn] of Object.entries(candidates)) {
        const m = await fn(records);
        rates[name]!.push(m.rate);
        cpus[name]!.push(m.cpuUs);
        ctx.log(`${name}: ${fmt(m.rate / 1000, 'k records/s')}, ${fmt(m.cpuUs, 'µs CPU/record')}`);
      }
    }

    // RSS over a long run through the Tributary sink on kafkajs.
    global.gc?.();
    const rss: number[] = [];
    const rssRate = (await tributary('kafkajs', rssRecords, () => rss.push(process.memoryUsage().rss))).rate;

    // --- report -------------------------------------------------------------------------------------
    const s: Record<string, Stats> = Object.fromEntries(Object.entries(rates).map(([k, v]) => [k, stats(v)]));
    const c: Record<string, Stats> = Object.fromEntries(Object.entries(cpus).map(([k, v]) => [k, stats(v)]));
    const raw = s['raw kafkajs loop']!;
    const kjs = s['Tributary sink, kafkajs']!;
    // Runs are interleaved, so run r of each candidate saw about the same machine: compare in pairs.
    const paired = (a: string, b: string): Stats => stats(rates[a]!.map((x, i) => x / rates[b]![i]!));
    const kjsVsRaw = paired('Tributary sink, kafkajs', 'raw kafkajs loop');
    const perSec = (name: string): string => {
      const x = s[name]!;
      return `${fmt(x.median / 1000, 'k records/s')} (${fmt(x.min / 1000, '')}–${fmt(x.max / 1000, '')}); ${fmt(c[name]!.median, 'µs')} CPU/record`;
    };
    const rows: Row[] = [
      { scenario: 'raw kafkajs producer loop (pre-serialized records)', ours: perSec('raw kafkajs loop'), baseline: '(this is the baseline)', ratio: '1x', target: '' },
      {
        scenario: 'Tributary Kafka sink on kafkajs (runtime batcher → sink)',
        ours: perSec('Tributary sink, kafkajs'),
        baseline: `${fmt(raw.median / 1000, 'k records/s')} raw kafkajs`,
        ratio: `${fmtRatio(kjsVsRaw.median)} (${fmtRatio(kjsVsRaw.min)}–${fmtRatio(kjsVsRaw.max)}), run by run`,
        target: '≥ 0.9x raw kafkajs',
        met: kjsVsRaw.median >= 0.9,
      },
      {
        scenario: 'client CPU per record: Tributary sink on kafkajs vs raw kafkajs loop',
        ours: fmt(c['Tributary sink, kafkajs']!.median, 'µs'),
        baseline: fmt(c['raw kafkajs loop']!.median, 'µs'),
        ratio: `+${fmt(c['Tributary sink, kafkajs']!.median - c['raw kafkajs loop']!.median, 'µs')}`,
        target: '',
      },
    ];
    const cf = s['Tributary sink, confluent (librdkafka)'];
    const rawCf = s['raw @confluentinc/kafka-javascript loop (KafkaJS API)'];
    if (cf && rawCf) {
      rows.push({ scenario: 'Tributary Kafka sink on @confluentinc/kafka-javascript', ours: perSec('Tributary sink, confluent (librdkafka)'), baseline: `${fmt(kjs.median / 1000, 'k records/s')} Tributary on kafkajs`, ratio: fmtRatio(cf.median / kjs.median), target: '' });
      rows.push({ scenario: 'raw @confluentinc/kafka-javascript loop (its KafkaJS-compatible API)', ours: perSec('raw @confluentinc/kafka-javascript loop (KafkaJS API)'), baseline: `${fmt(raw.median / 1000, 'k records/s')} raw kafkajs`, ratio: fmtRatio(rawCf.median / raw.median), target: '' });
    }
    // Flat RSS: the least-squares trend over the run, after the first sample (warm-up), against the mean.
    const mb = (b: number): string => `${Math.round(b / 2 ** 20)}`;
    const ys = rss.slice(1);
    const xs = ys.map((_, i) => i);
    const mx = xs.reduce((a, x) => a + x, 0) / xs.length;
    const my = ys.reduce((a, y) => a + y, 0) / ys.length;
    const slope = xs.length > 1 ? xs.reduce((a, x, i) => a + (x - mx) * (ys[i]! - my), 0) / xs.reduce((a, x) => a + (x - mx) ** 2, 0) : 0;
    const trend = (slope * Math.max(1, xs.length - 1)) / my; // fitted growth from the 2nd sample to the last, as a fraction
    rows.push({
      scenario: `RSS every ${rssEvery.toLocaleString('en')} records over ${rssRecords.toLocaleString('en')} (Tributary sink, kafkajs), MB`,
      ours: rss.map(mb).join(' → '),
      baseline: `${fmt(rssRate / 1000, 'k records/s')} during the run`,
      ratio: `trend ${trend >= 0 ? '+' : ''}${(trend * 100).toFixed(1)} % (least squares, after the first sample)`,
      target: 'flat (trend < 10 %)',
      met: trend < 0.1,
    });
    const fastest = Object.entries(s).sort((a, b) => b[1].median - a[1].median)[0]!;
    ctx.log(`fastest: ${fastest[0]}`);
    return {
      title: 'Kafka end to end',
      description: `
Records into a real broker: ${env['kafka broker']}; one topic with one partition per run, \`acks=all\`,
idempotent producers, batches of ${BATCH} records, Avro with Confluent framing (schema id from an in-process
registry stub: the registry is asked once per run). The records are the air-quality measurements of
the serialization section (${POOL.toLocaleString('en')} distinct ones, cycled; 70 bytes of Avro each), keyed by station.
The baseline is a hand-written kafkajs loop: \`producer.send({ acks: -1, messages })\` with ${BATCH} already
serialized records at a time, awaited one after the other (the idempotent producer allows one request
in flight). Tributary takes the records as objects and does all the work: the runtime's \`Batcher\`
(${BATCH} records or ${LINGER_MS} ms, one write in flight${Batcher ? '' : '; **not found in core/dist, so the sink was written to directly in batches of 500**'}) hands them to the Kafka sink, which
validates and Avro-encodes each record, picks its partition (murmur2, as Java), buffers and sends
them, and resolves the write once Kafka acknowledged them. ${records.toLocaleString('en')} records per run, ${runs} interleaved
runs after a warm-up, medians with the range; the sink's ratio is the median of the run-by-run
ratios (run r of every candidate ran back to back, on about the same machine). The confluent rows use \`client: confluent\` (librdkafka
through @confluentinc/kafka-javascript${confluent.available ? '' : `; **not measured: ${confluent.reason}**`}). RSS is the process's resident set size while
${rssRecords.toLocaleString('en')} records flow through the Tributary sink.
`,
      notes: `
Fastest here: ${fastest[0]} (${fmt(fastest[1].median / 1000, 'k records/s')})${cf ? `; inside Tributary the confluent adapter runs at ${fmtRatio(cf.median / kjs.median)} the kafkajs one` : ''}.
The broker runs on the same 2-core machine as the client and competes with it (and with whatever
else runs) for the CPU, so client CPU per record turns directly into throughput; the CPU column
(\`process.cpuUsage()\` over the timed section, every thread of the process) is the steadier figure.

Where Tributary's extra client CPU goes (CPU profiles of 200,000 records through the sink and
through the raw loop, compiled code, taken while writing this benchmark): roughly a third in the
sink's own work (Avro validation and encoding, key encoding, partitioning, the produce buffer's and
the runtime batcher's bookkeeping), a sixth in extra garbage collection (a value and a key
\`Buffer\` and three small objects per record, where the raw loop reuses its pre-serialized
buffers), and a third inside kafkajs, encoding the very same batches (its per-message object
spread and buffer copies now run over freshly allocated buffers). The raw loop
does none of the serialization, by design of the comparison. What would close the gap: encode a
batch's values into one pooled buffer instead of one \`Buffer\` per record; let the transport hand
kafkajs the sink's per-partition messages without building a second message object per record; and
let the runtime batcher hand records straight to the sink's own batching buffer (two layers batch
the same records today). The confluent adapter inside Tributary stays well below the raw loop on
the same package; it is not CPU-bound (its CPU profile, taken while writing this benchmark, shows
the main thread idle more than half of the time) but waits for each batch's delivery reports, one
write at a time. Not investigated further; likely causes are librdkafka's 5 ms linger before each
batch (the transport's \`batch.num.messages\` is 10 000, larger than the runtime's 500-record writes,
so a batch never fills up) and the single write in flight: a \`batch.num.messages\` equal to the
write size, or two or three writes in flight, should close most of it.

The bench starts its own broker (state in \`.kafka/bench\`, port ${process.env.BENCH_KAFKA_PORT ?? 39192}) so that it never stops one
that tests started; set \`KAFKA_BROKERS\` to use a running one.
`,
      rows,
    };
  } finally {
    await admin?.disconnect().catch(() => undefined);
    if (stop) await stop();
  }
}
