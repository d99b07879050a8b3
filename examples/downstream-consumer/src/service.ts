/**
 * A downstream service: reads a topic that Tributary writes, with `consume()`, and keeps a rolling
 * average per key (day-ahead price per bidding zone, NO2 per station, ...). Prints a table of the
 * keys that changed every few seconds.
 *
 *   KAFKA_BROKERS=127.0.0.1:9092 node --import tsx src/service.ts                       # energy.prices, 24 h averages of price
 *   KAFKA_BROKERS=... node --import tsx src/service.ts --topic air.measurements --field value \
 *       --group-by station_number,formula --window 6h
 *
 * Options: --topic (energy.prices), --field (price), --window (24h), --group-by (fields of the value
 * joined with "/"; default: the record key), --group-id (rolling-average), --from (earliest|latest;
 * earliest), --every (how often to print; 5s), --idle (stop after this long without records; default
 * never). SCHEMA_REGISTRY_URL is used for Confluent-framed topics; single-object topics need nothing.
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { EMPTY, bufferTime, filter, identity, share, timeout, type Observable } from 'rxjs';
import { consume, type ConsumedRecord, type ConsumeOptions } from '@tributary/core';
import { field, parseDuration, rollingAverage, RollingAverages, type KeyStats } from './rollingAverage.js';

/** Options of {@link rollingAverageService}. */
export interface ServiceOptions {
  topic: string;
  /** The value field to average (dotted path). */
  field: string;
  windowMs: number;
  /** Value fields whose values, joined with "/", make the key. Default: the record's Kafka key. */
  groupBy?: string[];
  /** Complete when no record came for this long (the first record may take up to 30 s more). Default: never. */
  idleMs?: number;
  /** The rest of `consume()`'s options: brokers, groupId, from, registryUrl, transport... */
  consume: Omit<ConsumeOptions, 'topic' | 'topics'>;
}

/** The service as an Observable of stats updates, and the state it keeps. */
export function rollingAverageService(options: ServiceOptions): { updates$: Observable<KeyStats>; state: RollingAverages } {
  const state = new RollingAverages(options.windowMs);
  const keyOf = options.groupBy
    ? (r: ConsumedRecord) => options.groupBy!.map((f) => String(field(r.value, f) ?? '')).join('/')
    : (r: ConsumedRecord) => r.key;
  const records$ = consume({ ...options.consume, topic: options.topic });
  const updates$ = records$.pipe(
    options.idleMs ? timeout({ first: options.idleMs + 30_000, each: options.idleMs, with: () => EMPTY }) : identity,
    rollingAverage<ConsumedRecord>({
      windowMs: options.windowMs,
      keyOf,
      valueOf: (r) => {
        const v = field(r.value, options.field);
        return typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : null;
      },
      timeOf: (r) => r.timestamp,
      state,
    }),
    share(),
  );
  return { updates$, state };
}

/** One line of the table: `NL  avg 81.42  min 35.10  max 131.20  n=96  latest 72.00 at 2026-11-26T22:45Z`. */
export function formatStats(s: KeyStats, width = 0): string {
  const n = (x: number): string => (Math.abs(x) >= 1000 ? x.toFixed(0) : x.toFixed(2));
  const at = new Date(s.latestAt).toISOString().slice(0, 16) + 'Z';
  return `${s.key.padEnd(width)}  avg ${n(s.average)}  min ${n(s.min)}  max ${n(s.max)}  n=${s.count}  latest ${n(s.latest)} at ${at}`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      topic: { type: 'string', default: 'energy.prices' },
      field: { type: 'string', default: 'price' },
      window: { type: 'string', default: '24h' },
      'group-by': { type: 'string' },
      'group-id': { type: 'string', default: 'rolling-average' },
      from: { type: 'string', default: 'earliest' },
      every: { type: 'string', default: '5s' },
      idle: { type: 'string' },
    },
  });
  const brokers = process.env.KAFKA_BROKERS;
  if (!brokers) {
    console.error('Set KAFKA_BROKERS (host:port[,host:port]), e.g. KAFKA_BROKERS=127.0.0.1:39092 after `npm run kafka:start`.');
    process.exit(2);
  }
  if (values.from !== 'earliest' && values.from !== 'latest') throw new Error(`--from: expected earliest or latest, got "${values.from}"`);
  const windowMs = parseDuration(values.window);
  const { updates$, state } = rollingAverageService({
    topic: values.topic,
    field: values.field,
    windowMs,
    ...(values['group-by'] ? { groupBy: values['group-by'].split(',').map((s) => s.trim()) } : {}),
    ...(values.idle ? { idleMs: parseDuration(values.idle) } : {}),
    consume: {
      brokers: brokers.split(',').map((b) => b.trim()),
      groupId: values['group-id'],
      from: values.from,
      ...(process.env.SCHEMA_REGISTRY_URL ? { registryUrl: process.env.SCHEMA_REGISTRY_URL } : {}),
    },
  });
  console.log(`Rolling ${values.window} average of "${values.field}" per ${values['group-by'] ?? 'key'} in ${values.topic} (Ctrl-C stops)`);
  const print = (stats: KeyStats[]): void => {
    const width = Math.max(0, ...stats.map((s) => s.key.length));
    for (const s of stats) console.log(formatStats(s, width));
  };
  const subscription = updates$
    .pipe(
      bufferTime(parseDuration(values.every)),
      filter((batch) => batch.length > 0),
    )
    .subscribe({
      next: (batch) => {
        const changed = [...new Set(batch.map((s) => s.key))].sort();
        console.log(`-- ${new Date().toISOString()}: ${batch.length} new values`);
        print(changed.map((k) => state.stats(k)!));
      },
      error: (err: unknown) => {
        console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
        process.exitCode = 1;
      },
      complete: () => {
        console.log('-- idle: final averages');
        print(state.all());
      },
    });
  const stop = (): void => {
    subscription.unsubscribe(); // commits what was handled, disconnects
    console.log('-- stopped: final averages');
    print(state.all());
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err: unknown) => {
    console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
