/**
 * Scale-out of worker mode: the same pipeline (S polling sources of one plugin, each bound by the
 * stub API's per-request latency) run by 1, 2 and 3 `tributary run --worker` processes of the
 * compiled CLI, which share the sources through a Kafka consumer group; records/s is the growth of
 * the output topic's end offsets over a fixed window.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import kafkajs from 'kafkajs';
import { startStubServer } from '@tributary/core/testing';
import { fmt, fmtPct, fmtRatio, sleep, stats, type BenchContext, type Row, type Section, type Stats } from './lib.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const CLI = path.join(root, 'core', 'dist', 'cli', 'main.js');

/** Sources of the pipeline (units of work the workers share). */
const SOURCES = 12;
/** Records per page (one request per cycle). */
const PAGE = 500;
/** The stub's latency per request, ms. */
const LATENCY_MS = 100;
/** Partitions of the output topic. */
const PARTITIONS = 6;
const WORKER_COUNTS = [1, 2, 3] as const;

const PLUGIN = `
import { z } from 'zod';
import { defer, from, mergeMap } from 'rxjs';

export default {
  kind: 'tributary-plugin',
  name: 'bench-pages',
  version: '1.0.0',
  coreVersion: '*',
  configSchema: z.strictObject({ baseUrl: z.string() }),
  streams: {
    readings: {
      key: 'id',
      schema: {
        type: 'record', name: 'Reading', namespace: 'bench',
        fields: [
          { name: 'id', type: 'string' },
          { name: 'source', type: 'string' },
          { name: 'seq', type: 'long' },
          { name: 'value', type: 'double' },
        ],
      },
    },
  },
  create(config, ctx) {
    return {
      collect(cycle) {
        return defer(() => ctx.http.getJson(config.baseUrl + '/page', { query: { source: ctx.source } })).pipe(
          mergeMap((body) => from(body.items.map((item) => ({
            stream: 'readings',
            value: { id: ctx.source + '-' + item.id, source: ctx.source, seq: cycle.cycle * 1000 + item.seq, value: item.value },
          })))),
        );
      },
    };
  },
};
`;

const env: Record<string, string> = {};

/** Broker version for the machine table. */
export function environment(): Record<string, string> {
  return env;
}

interface Worker {
  id: string;
  child: ChildProcess;
  url: string;
  exited: Promise<number>;
  stderr(): string;
}

interface Sample {
  workers: number;
  rate: number;
  /** CPU of each worker over the window, in cores (1 = one core busy all the time). */
  workerCpu: number[];
  brokerCpu: number | undefined;
  /** The bench process (stub API, offset polling). */
  benchCpu: number;
  /** Whole machine, from /proc/stat. */
  machineBusy: number | undefined;
  /** Cores busy with other processes (machine busy minus workers, broker and bench). */
  others: number | undefined;
  /** Sources each worker ran. */
  units: number[];
}

const TICKS = 100; // USER_HZ: 100 on Linux

/** utime + stime of a process, in seconds, or undefined when it cannot be read. */
function cpuSeconds(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS;
  } catch {
    return undefined;
  }
}

/** Busy and total jiffies of the whole machine. */
function machineTicks(): { busy: number; total: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const total = v.reduce((a, b) => a + b, 0);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

function brokerPid(stateDir: string, port: number): number | undefined {
  try {
    return Number(readFileSync(path.join(stateDir, 'run', String(port), 'broker.pid'), 'utf8').trim()) || undefined;
  } catch {
    return undefined;
  }
}

export async function run(ctx: BenchContext): Promise<Section> {
  const windowMs = ctx.quick ? 3_000 : 15_000;
  const warmupMs = ctx.quick ? 1_000 : 3_000;
  const rounds = ctx.quick ? 1 : 3;
  const counts: readonly number[] = ctx.quick ? [1, 2] : WORKER_COUNTS;
  try {
    readFileSync(CLI);
  } catch {
    throw new Error(`scaleout bench: ${CLI} is missing; build core first (npm run bench builds it)`);
  }

  // --- the broker ---------------------------------------------------------------------------------
  let brokers = process.env.KAFKA_BROKERS;
  let stop: (() => Promise<void>) | undefined;
  let bPid: () => number | undefined = () => undefined;
  if (brokers) {
    env['kafka broker'] ??= `external (KAFKA_BROKERS=${brokers})`;
  } else {
    const stateDir = process.env.BENCH_KAFKA_STATE_DIR ?? path.join(root, '.kafka', 'bench');
    process.env.KAFKA_STATE_DIR = stateDir;
    const harness = (await import(pathToFileURL(path.join(root, 'test', 'kafka', 'harness.mjs')).href)) as typeof import('../test/kafka/harness.mjs');
    if (!harness.javaAvailable()) throw new Error('scaleout bench: Java 17+ is needed to start a broker (or set KAFKA_BROKERS)');
    const port = Number(process.env.BENCH_KAFKA_PORT ?? 39192);
    const started = await harness.startKafka({ registry: false, kafkaPort: port, controllerPort: port + 1, log: (m) => ctx.log(m) });
    brokers = started.brokers;
    stop = () => harness.stopKafka({ log: (m) => ctx.log(m) });
    bPid = () => brokerPid(stateDir, port);
    env['kafka broker'] ??= `Apache Kafka ${started.version} (KRaft, single node, started by the bench)`;
  }
  const brokerList = brokers.split(',');

  const body = JSON.stringify({ items: Array.from({ length: PAGE }, (_, i) => ({ id: `k${i}`, seq: i, value: i * 0.5 })) });
  const stub = await startStubServer({ routes: [{ path: '/page', headers: { 'content-type': 'application/json' }, latencyMs: LATENCY_MS, body }], maxLoggedRequests: 100 });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tributary-scaleout-'));
  await symlink(path.join(root, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  await writeFile(path.join(dir, 'pages.js'), PLUGIN);
  const admin = new kafkajs.Kafka({ clientId: 'bench-scaleout', brokers: brokerList, logLevel: kafkajs.logLevel.NOTHING }).admin();
  await admin.connect();
  const live: Worker[] = [];
  const sourceIds = Array.from({ length: SOURCES }, (_, i) => `s${String(i + 1).padStart(2, '0')}`);

  const endOffsets = async (topic: string): Promise<number> => {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((a, o) => a + Number(o.high), 0);
  };

  const startWorker = (file: string, id: string): Promise<Worker> => {
    const child = spawn(process.execPath, [CLI, 'run', file, '--worker', id, '--metrics-port', '0', '--log-format', 'json', '--summary', 'none', '--no-progress'], {
      cwd: dir,
      env: { ...process.env, NO_COLOR: '1', KAFKA_BROKERS: brokers },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    const exited = new Promise<number>((resolve) => child.on('close', (code, signal) => resolve(code ?? (signal === 'SIGKILL' ? 137 : 128))));
    return new Promise<Worker>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`worker ${id}: no metrics address after 30 s:\n${err.slice(-2000)}`));
      }, 30_000);
      let found = false;
      child.stderr!.on('data', (c: Buffer) => {
        err = (err + c.toString('utf8')).slice(-20_000);
        if (found) return;
        const m = /"msg":"metrics at (http:\/\/[^"]+)\/metrics,/.exec(err);
        if (m) {
          found = true;
          clearTimeout(timer);
          resolve({ id, child, url: m[1]!, exited, stderr: () => err });
        }
      });
      void exited.then((code) => {
        if (found) return;
        clearTimeout(timer);
        reject(new Error(`worker ${id} exited with ${code} before it served metrics:\n${err.slice(-2000)}`));
      });
    });
  };

  const unitsOf = async (w: Worker): Promise<string[] | undefined> => {
    try {
      const res = await fetch(`${w.url}/healthz`);
      return ((await res.json()) as { worker?: { units: string[] } }).worker?.units;
    } catch {
      return undefined;
    }
  };

  /** Waits until the workers run every source exactly once between them; returns their unit counts. */
  const balanced = async (workers: Worker[], timeoutMs: number): Promise<number[]> => {
    const deadline = Date.now() + timeoutMs;
    let last: (string[] | undefined)[] = [];
    while (Date.now() < deadline) {
      last = await Promise.all(workers.map(unitsOf));
      const all = last.flatMap((u) => u ?? []);
      // Balanced: every source owned exactly once, spread evenly (a worker that joined late may
      // briefly see every unit covered but unevenly, mid-rebalance).
      const even = last.every((u) => u !== undefined && u.length >= Math.floor(SOURCES / workers.length) && u.length <= Math.ceil(SOURCES / workers.length));
      if (even && all.length === SOURCES && new Set(all).size === SOURCES) return last.map((u) => u!.length);
      await sleep(200);
    }
    throw new Error(`scaleout bench: ${workers.length} workers not balanced after ${timeoutMs / 1000} s; units: ${JSON.stringify(last)}`);
  };

  const stopAll = async (): Promise<void> => {
    for (const w of live) if (w.child.exitCode === null) w.child.kill('SIGTERM');
    for (const w of live.splice(0)) {
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([w.exited, new Promise<number>((resolve) => (timer = setTimeout(() => resolve(-1), 20_000)))]);
      clearTimeout(timer);
      if (code === -1) {
        ctx.log(`worker ${w.id} did not exit 20 s after SIGTERM; killing it`);
        w.child.kill('SIGKILL');
        await w.exited;
      } else if (code !== 0) {
        ctx.log(`worker ${w.id} exited with ${code}:\n${w.stderr().slice(-1500)}`);
      }
    }
  };

  let seq = 0;
  /** Windows during which the workers' ownership changed (a rebalance). */
  let moved = 0;
  /** One measurement: a fresh pipeline (topic, group) run by n workers. */
  const measure = async (n: number): Promise<Sample> => {
    const name = `scaleout-${process.pid}-${seq++}`;
    const topic = `bench.${name}`;
    const file = path.join(dir, `${name}.yaml`);
    await writeFile(
      file,
      `
name: ${name}
defaults:
  schedule: { every: 1ms }
  resilience: { retry: false }
sources:
${sourceIds.map((s) => `  ${s}:\n    plugin: ./pages.js\n    config: { baseUrl: "${stub.url}" }\n    topic: ${topic}`).join('\n')}
sink:
  type: kafka
  brokers: "\${KAFKA_BROKERS}"
  wireFormat: single-object
  topics:
    ${topic}: { partitions: ${PARTITIONS} }
workers:
  sessionTimeout: 6s
  heartbeatInterval: 500ms
shutdown: { timeout: 10s }
`,
    );
    try {
      const t0 = performance.now();
      // Each worker joins `live` as soon as it serves metrics, so that a failure of another still stops it.
      await Promise.all(Array.from({ length: n }, async (_, i) => live.push(await startWorker(file, `w${i + 1}`))));
      const units = await balanced(live, 60_000);
      const balancedAfter = performance.now() - t0;
      // Let the workers' connections, JIT and the topic's metadata warm up.
      await sleep(warmupMs);
      const cpu0 = live.map((w) => cpuSeconds(w.child.pid));
      const b0 = cpuSeconds(bPid());
      const m0 = machineTicks();
      const p0 = process.cpuUsage();
      const o0 = await endOffsets(topic);
      const t1 = performance.now();
      await sleep(windowMs);
      const o1 = await endOffsets(topic);
      const secs = (performance.now() - t1) / 1000;
      const cpu1 = live.map((w) => cpuSeconds(w.child.pid));
      const b1 = cpuSeconds(bPid());
      const m1 = machineTicks();
      const p = process.cpuUsage(p0);
      // Every worker must still own what it owned (no rebalance during the window).
      const after = await Promise.all(live.map(unitsOf));
      if (after.some((u, i) => (u?.length ?? -1) !== units[i])) {
        moved++;
        ctx.log(`  note: ownership changed during the window: ${JSON.stringify(after)}`);
      }
      const sample: Sample = {
        workers: n,
        rate: (o1 - o0) / secs,
        workerCpu: cpu1.map((c, i) => (c !== undefined && cpu0[i] !== undefined ? (c - cpu0[i]!) / secs : NaN)),
        brokerCpu: b0 !== undefined && b1 !== undefined ? (b1 - b0) / secs : undefined,
        benchCpu: (p.user + p.system) / 1e6 / secs,
        machineBusy: m0 && m1 ? (m1.busy - m0.busy) / (m1.total - m0.total) : undefined,
        others: undefined,
        units,
      };
      if (sample.machineBusy !== undefined && sample.brokerCpu !== undefined) {
        sample.others = Math.max(0, sample.machineBusy * os.cpus().length - sample.workerCpu.reduce((a, c) => a + c, 0) - sample.brokerCpu - sample.benchCpu);
      }
      ctx.log(
        `${n} worker(s) [units ${units.join('/')}, balanced after ${fmt(balancedAfter / 1000, 's')}]: ${fmt(sample.rate / 1000, 'k records/s')}; ` +
          `worker CPU ${sample.workerCpu.map((c) => fmt(c, '')).join(' + ')} cores, broker ${fmt(sample.brokerCpu ?? NaN, '')}, bench ${fmt(sample.benchCpu, '')}, machine busy ${sample.machineBusy === undefined ? '?' : fmtPct(sample.machineBusy)}, other processes ${fmt(sample.others ?? NaN, '')}`,
      );
      return sample;
    } finally {
      await stopAll();
      await admin.deleteTopics({ topics: [topic, `_tributary_work.${name}`] }).catch(() => undefined);
    }
  };

  try {
    const samples = new Map<number, Sample[]>(counts.map((n) => [n, []]));
    const ratioSamples = new Map<number, number[]>(counts.map((n) => [n, []]));
    for (let r = 0; r < rounds; r++) {
      // Interleaved: 1 2 3, 3 2 1, 1 2 3, ... so that a machine that slows down affects every N alike.
      const order = r % 2 === 0 ? counts : [...counts].reverse();
      const round = new Map<number, Sample>();
      for (const n of order) {
        const s = await measure(n);
        samples.get(n)!.push(s);
        round.set(n, s);
      }
      for (const n of counts) ratioSamples.get(n)!.push(round.get(n)!.rate / round.get(1)!.rate);
    }

    // --- report -------------------------------------------------------------------------------------
    const rate = new Map<number, Stats>(counts.map((n) => [n, stats(samples.get(n)!.map((s) => s.rate))]));
    const ratio = new Map<number, Stats>(counts.map((n) => [n, stats(ratioSamples.get(n)!)]));
    const med = (xs: number[]): number => stats(xs).median;
    const cpuText = (n: number): string => {
      const ss = samples.get(n)!;
      const perWorker = Array.from({ length: n }, (_, i) => med(ss.map((s) => s.workerCpu[i]!)));
      const broker = ss.every((s) => s.brokerCpu !== undefined) ? med(ss.map((s) => s.brokerCpu!)) : undefined;
      const busy = ss.every((s) => s.machineBusy !== undefined) ? med(ss.map((s) => s.machineBusy!)) : undefined;
      const usPerRecord = med(ss.map((s) => (s.workerCpu.reduce((a, c) => a + c, 0) / s.rate) * 1e6));
      const others = ss.every((s) => s.others !== undefined) ? med(ss.map((s) => s.others!)) : undefined;
      return `workers ${perWorker.map((c) => fmt(c, '')).join(' + ')} (${fmt(usPerRecord, 'µs')} worker CPU per record), broker ${broker === undefined ? '?' : fmt(broker, '')}, stub ${fmt(med(ss.map((s) => s.benchCpu)), '')}, other processes ${others === undefined ? '?' : fmt(others, '')}; machine ${busy === undefined ? '?' : fmtPct(busy)} busy`;
    };
    const bound = (SOURCES * PAGE * 1000) / LATENCY_MS;
    const base = rate.get(1)!;
    const rows: Row[] = [];
    for (const n of counts) {
      const s = rate.get(n)!;
      const q = ratio.get(n)!;
      rows.push({
        scenario: `${n} worker${n > 1 ? 's' : ''} (${samples.get(n)![0]!.units.join(' / ')} sources)`,
        ours: `${fmt(s.median / 1000, 'k records/s')} (${fmt(s.min / 1000, '')}–${fmt(s.max / 1000, '')}) = ${fmtPct(s.median / bound)} of the API bound`,
        baseline: n === 1 ? '(this is the baseline)' : `${fmt(base.median / 1000, 'k records/s')} with 1 worker`,
        ratio: n === 1 ? '1x' : `${fmtRatio(q.median)} (${fmtRatio(q.min)}–${fmtRatio(q.max)}), round by round`,
        target: '',
      });
    }
    for (const n of counts) {
      rows.push({ scenario: `CPU in cores while ${n} worker${n > 1 ? 's' : ''} ran (median over the windows)`, ours: cpuText(n), baseline: '', ratio: '', target: '' });
    }
    const cores = os.cpus().length;
    const sumCpu = (n: number): number => med(samples.get(n)!.map((s) => s.workerCpu.reduce((a, c) => a + c, 0)));
    const usPer = (n: number): number => med(samples.get(n)!.map((s) => (s.workerCpu.reduce((a, c) => a + c, 0) / s.rate) * 1e6));
    const brokerOf = (n: number): string => (samples.get(n)!.every((s) => s.brokerCpu !== undefined) ? fmt(med(samples.get(n)!.map((s) => s.brokerCpu!)), 'cores') : '? cores');
    const othersOf = (n: number): string => (samples.get(n)!.every((s) => s.others !== undefined) ? fmt(med(samples.get(n)!.map((s) => s.others!)), 'cores') : '? cores');
    const notes: string[] = [
      `One worker runs at ${fmt(base.median / 1000, 'k records/s')}, ${fmtPct(base.median / bound)} of the API bound, with its process at ${fmt(sumCpu(1), 'cores')}
of CPU (${fmt(usPer(1), 'µs')} per record: parsing the pages, building the records, Avro encoding, kafkajs produce
requests). A worker runs the pipeline on one thread, so about one core is its ceiling: it is bound by its own
per-record work, not by the API.`,
    ];
    const r2 = ratio.get(2);
    const r3 = ratio.get(3);
    if (r2) {
      notes.push(`Two workers run ${fmtRatio(r2.median)} the records of one: ${fmt(sumCpu(2), 'cores')} of worker CPU between them (${fmt(usPer(2), 'µs')} per
record) plus ${brokerOf(2)} for the broker and ${othersOf(2)} for other processes, out of the machine's ${cores}:
the cores, not the API, are the limit.`);
    }
    if (r3) {
      notes.push(`Three workers run ${fmtRatio(r3.median)} the records of one${r2 && r3.median < r2.median ? ', fewer than two' : ''}: there is no third core, so the three share what two
had (${fmt(sumCpu(3), 'cores')} of worker CPU between them) at ${fmt(usPer(3), 'µs')} of CPU per record${usPer(3) > usPer(2) * 1.05 ? ` (up from ${fmt(usPer(2), 'µs')} with two: more processes switching on ${cores} cores; not profiled further)` : ''}.${r2 && r3.median <= r2.median * 1.05 ? ' On this machine two workers are the most that helps.' : ''}`);
    }
    notes.push(`With a core per worker (or workers on separate machines) each worker should add about what the first one does,
until the API bound (${fmt(bound / 1000, 'k records/s')}) or the broker becomes the limit.${moved > 0 ? ` **${moved} window(s) saw a rebalance** (ownership changed while measuring).` : ''}
Other work on the machine (the "other processes" figures: machine busy time minus the workers, the broker
and the bench) makes the absolute figures noisy; the ratios are taken round by round for that reason.
The bench starts its own broker (state in \`.kafka/bench\`, port ${process.env.BENCH_KAFKA_PORT ?? 39192}); set \`KAFKA_BROKERS\` to use a running one.`);
    return {
      title: 'Scale-out: 1, 2 and 3 workers',
      description: `
Worker mode (\`tributary run <pipeline> --worker <id>\`, the compiled CLI, one Node process per worker) on
a pipeline of ${SOURCES} sources of one plain-JS plugin. Every source polls back to back
(\`schedule: { every: 1ms }\`: the next cycle starts as soon as the previous one ended); each cycle is one
request to a stub API on loopback that answers after ${LATENCY_MS} ms with a page of ${PAGE} records (the same
pre-built JSON body every time). The plugin maps each item to a record; the Kafka sink
(at-least-once, single-object Avro, batches of 500 / 50 ms, one topic of ${PARTITIONS} partitions, keyed) writes them to
${env['kafka broker'] ?? 'the broker'}. So each source can produce at most ${PAGE} records per ${LATENCY_MS} ms, and
the pipeline at most ${fmt(bound / 1000, 'k records/s')} (the API bound): a process that cannot keep up with
that is bound by its own per-record work, and more processes should help until the machine's cores run out.
For each number of workers a fresh pipeline (its own topic and worker group) is started, the bench waits until
\`/healthz\` of the workers shows every source owned exactly once and the sources spread evenly, lets it run ${warmupMs / 1000} s, then takes
records/s as the growth of the topic's end offsets over ${windowMs / 1000} s, and stops the workers (SIGTERM).
${rounds} rounds, the order of N alternating (1 2 3, 3 2 1, …); ratios are taken round by round against the
1-worker figure of the same round. CPU is read from \`/proc/<pid>/stat\` (workers, broker), \`process.cpuUsage()\`
(the bench process, which serves the stub API) and \`/proc/stat\` (the whole machine) over the same window.
`,
      rows,
      notes: notes.join('\n\n'),
    };
  } finally {
    await stopAll();
    await admin.disconnect().catch(() => undefined);
    await stub.close();
    await rm(dir, { recursive: true, force: true });
    if (stop) await stop();
  }
}
