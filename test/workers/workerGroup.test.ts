/**
 * Worker mode over the real broker: three `tributary run --worker` processes share a pipeline of
 * six polling sources through a Kafka consumer group.
 *
 * Each source keeps a cursor (`next`) in `ctx.state`; every cycle fetches the next five items of
 * its sequence and moves the cursor past them. With exactly-once, the topic must then hold each
 * source's sequence as `0 .. n-1` with no gap and no duplicate, however the sources moved between
 * workers: a moved source resumes from its durable cursor in its new worker.
 */
import { expect } from 'chai';
import { startStubServer, type StubServer } from '../../core/src/testing/stubServer.js';
import { ensureKafka, randomTopic, readCommitted, topicSize, type KafkaEnv } from '../support/kafka.js';
import { makeProject, startCli, type CliRun, type Project } from '../e2e/helpers.js';
import { metricsUrl, sleep, stopChild, until } from '../faults/helpers.js';

const SOURCES = ['s1', 's2', 's3', 's4', 's5', 's6'];
const PER_CYCLE = 5;

/**
 * The plugin of every test here. A polling cycle fetches the next items of the source's sequence
 * (`/items?source=&from=`, tagged with the worker in a header) and moves the cursor `next` past
 * them; a backfill cycle fetches its chunk (`/chunk?start=&end=`).
 */
const PLUGIN = `
import { z } from 'zod';
import { defer, from, mergeMap } from 'rxjs';

export default {
  kind: 'tributary-plugin',
  name: 'workers-items',
  version: '1.0.0',
  coreVersion: '*',
  configSchema: z.strictObject({ baseUrl: z.string() }),
  streams: {
    items: {
      key: 'id',
      schema: {
        type: 'record', name: 'Item', namespace: 'workers',
        fields: [{ name: 'id', type: 'string' }, { name: 'source', type: 'string' }, { name: 'seq', type: 'long' }],
      },
    },
  },
  create(config, ctx) {
    const items = async (cycle) => {
      if (cycle.window) return (await ctx.http.getJson(config.baseUrl + '/chunk', { query: { start: cycle.window.start, end: cycle.window.end } })).items;
      const next = (await ctx.state.get('next')) ?? 0;
      const body = await ctx.http.getJson(config.baseUrl + '/items', { query: { source: ctx.source, from: next }, headers: { 'x-test-worker': process.env.TEST_WORKER ?? '' } });
      await ctx.state.set('next', next + body.items.length);
      return body.items;
    };
    return {
      collect: (cycle) => defer(() => items(cycle)).pipe(mergeMap((list) => from(list.map((value) => ({ stream: 'items', value }))))),
    };
  },
};
`;

interface Health {
  status: string;
  worker?: { id: string; units: string[] };
}

describe('worker mode: three worker processes share a pipeline through a Kafka consumer group (real broker)', function () {
  let kafka: KafkaEnv;
  let stub: StubServer | undefined;
  let project: Project | undefined;
  const workers = new Map<string, { run: CliRun; url: string }>();

  before(async function () {
    kafka = await ensureKafka(this);
  });

  afterEach(async function () {
    this.timeout(60_000);
    for (const w of workers.values()) await stopChild(w.run);
    workers.clear();
    await stub?.close();
    await project?.cleanup();
    stub = undefined;
    project = undefined;
  });

  const env = () => ({ KAFKA_BROKERS: kafka.brokers.join(',') });

  async function startWorker(id: string): Promise<void> {
    const run = startCli(['run', project!.path('pipeline.yaml'), '--worker', id, '--metrics-port', '0', '--log-format', 'json', '--summary', 'json', '--no-progress'], {
      cwd: project!.dir,
      env: { ...env(), TEST_WORKER: id },
    });
    const url = await metricsUrl(run);
    workers.set(id, { run, url });
  }

  async function unitsOf(id: string): Promise<string[] | undefined> {
    const w = workers.get(id);
    if (!w || w.run.child.exitCode !== null) return undefined;
    try {
      const res = await fetch(`${w.url}/healthz`);
      const health = (await res.json()) as Health;
      return health.worker?.units;
    } catch {
      return undefined;
    }
  }

  async function ownership(): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    for (const id of workers.keys()) out.set(id, (await unitsOf(id)) ?? []);
    return out;
  }

  /** Waits until the live workers run every source exactly once, `perWorker` each. */
  async function balanced(ids: string[], perWorker: number, timeoutMs: number, units: readonly string[] = SOURCES): Promise<Map<string, string[]>> {
    let last = new Map<string, string[]>();
    await until(
      `${ids.join(', ')} to run ${perWorker} sources each`,
      async () => {
        last = await ownership();
        const all = ids.flatMap((id) => last.get(id) ?? []);
        return ids.every((id) => (last.get(id) ?? []).length === perWorker) && new Set(all).size === units.length && all.length === units.length && all.every((u) => units.includes(u));
      },
      timeoutMs,
      200,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; last seen: ${JSON.stringify(Object.fromEntries(last))}`);
    });
    return last;
  }

  it('spreads the sources, moves a killed worker\'s sources to the others in one rebalance, resumes them from their cursors (no gap, no duplicate with exactly-once) and spreads back when it returns', async function () {
    this.timeout(150_000);
    const topic = randomTopic('workers');
    stub = await startStubServer({
      routes: [
        {
          path: '/items',
          headers: { 'content-type': 'application/json' },
          latencyMs: 60,
          body: (req) => {
            const source = String(req.query.source);
            const start = Number(req.query.from);
            return JSON.stringify({ items: Array.from({ length: PER_CYCLE }, (_, i) => ({ id: `${source}-${start + i}`, source, seq: start + i })) });
          },
        },
      ],
    });
    const name = `workers-${topic.slice(-8)}`;
    project = await makeProject({
      'seq.js': PLUGIN,
      'pipeline.yaml': `
name: ${name}
defaults:
  schedule: { every: 250ms }
  resilience: { retry: false }
sources:
${SOURCES.map((s) => `  ${s}:\n    plugin: ./seq.js\n    config: { baseUrl: "${stub!.url}" }\n    topic: ${topic}`).join('\n')}
sink:
  type: kafka
  brokers: "\${KAFKA_BROKERS}"
  wireFormat: single-object
  exactlyOnce: true
  batch: { maxRecords: 50, linger: 5ms }
  topics:
    ${topic}: { partitions: 3 }
workers:
  sessionTimeout: 6s
  heartbeatInterval: 500ms
shutdown: { timeout: 5s }
`,
    });

    // three workers: two sources each
    await Promise.all(['w1', 'w2', 'w3'].map((id) => startWorker(id)));
    const first = await balanced(['w1', 'w2', 'w3'], 2, 40_000);
    await until('records to flow from every source', async () => (await topicSize(topic)) >= SOURCES.length * PER_CYCLE * 2, 30_000, 250);

    // every worker's status page names the owner of every source, its own and the others'
    const owners = new Map([...first].flatMap(([id, units]) => units.map((u) => [u, id] as const)));
    await until('the status pages to show every owner', async () => {
      for (const { url } of workers.values()) {
        const status = (await (await fetch(`${url}/status.json`)).json()) as { mode: string; members: number; rows: Array<{ id: string; owner: string | null }> };
        if (status.mode !== 'worker' || status.members !== 3) return false;
        for (const s of SOURCES) if (status.rows.find((r) => r.id === s)?.owner !== owners.get(s)) return false;
      }
      return true;
    }, 10_000, 200);
    const page = await (await fetch(`${workers.get('w1')!.url}/`)).text();
    expect(page).to.match(/<html/i);

    // kill -9 one worker: its two sources move to the other two, which keep their own
    const victim = first.get('w2')!;
    const killed = workers.get('w2')!.run;
    killed.child.kill('SIGKILL');
    expect(await killed.exited).to.equal(137);
    workers.delete('w2');
    const moved = await balanced(['w1', 'w3'], 3, 40_000);
    for (const id of ['w1', 'w3']) {
      for (const unit of first.get(id)!) expect(moved.get(id), `${id} keeps ${unit} (only the dead worker's units move)`).to.include(unit);
    }
    expect([...moved.get('w1')!, ...moved.get('w3')!].filter((u) => victim.includes(u)).sort()).to.deep.equal([...victim].sort());
    const afterMove = stub.requests.length;
    await until('the moved sources to poll again', () => victim.every((s) => stub!.requests.slice(afterMove).some((r) => r.query.source === s)), 20_000, 100);

    // the worker comes back: work spreads back to two each
    await startWorker('w2');
    const back = await balanced(['w1', 'w2', 'w3'], 2, 40_000);
    expect(back.get('w2')).to.have.length(2);
    const rejoined = stub.requests.length;
    await until('w2 to poll its sources', () => back.get('w2')!.every((s) => stub!.requests.slice(rejoined).some((r) => r.query.source === s)), 20_000, 100);
    await sleep(500);

    // stop everything gracefully
    for (const w of workers.values()) w.run.child.kill('SIGTERM');
    for (const [id, w] of workers) expect(await w.run.exited, `${id} exits 0 after SIGTERM:\n${w.run.stderr().slice(-2000)}`).to.equal(0);
    workers.clear();

    // read_committed: every source's sequence is 0..n-1, each once
    const records = await readCommitted(kafka.brokers, topic, 1, 3_000, 60_000);
    const bySource = new Map<string, number[]>();
    for (const r of records) {
      const v = r as { source: string; seq: number | bigint };
      bySource.set(v.source, [...(bySource.get(v.source) ?? []), Number(v.seq)]);
    }
    expect([...bySource.keys()].sort()).to.deep.equal(SOURCES);
    for (const s of SOURCES) {
      const seqs = bySource.get(s)!.sort((a, b) => a - b);
      expect(seqs.length, `${s}: records`).to.be.greaterThan(PER_CYCLE);
      expect(seqs, `${s}: 0..n-1, no gap and no duplicate`).to.deep.equal(Array.from({ length: seqs.length }, (_, i) => i));
    }
  });

  it('a backfill split into 4 shards: two workers share the shards; after a kill -9 the survivor finishes every chunk, each exactly once (exactly-once)', async function () {
    this.timeout(150_000);
    const topic = randomTopic('workers-shards');
    const DAY = 86_400_000;
    const FROM = Date.UTC(2024, 0, 1);
    const CHUNKS = 24;
    const SHARDS = ['hist#0', 'hist#1', 'hist#2', 'hist#3'];
    stub = await startStubServer({
      routes: [
        {
          path: '/chunk',
          headers: { 'content-type': 'application/json' },
          latencyMs: 150,
          body: (req) => JSON.stringify({ items: [0, 1, 2].map((i) => ({ id: `${req.query.start}-${i}`, source: String(req.query.start), seq: i })) }),
        },
      ],
    });
    project = await makeProject({
      'seq.js': PLUGIN,
      'pipeline.yaml': `
name: shards-${topic.slice(-8)}
sources:
  hist:
    plugin: ./seq.js
    config: { baseUrl: "${stub.url}" }
    topic: ${topic}
    schedule: { backfill: { from: 2024-01-01, to: 2024-01-25, chunk: 1d } }
    shards: 4
    resilience: { retry: false }
sink:
  type: kafka
  brokers: "\${KAFKA_BROKERS}"
  wireFormat: single-object
  exactlyOnce: true
  batch: { maxRecords: 50, linger: 5ms }
workers:
  sessionTimeout: 6s
  heartbeatInterval: 500ms
shutdown: { timeout: 5s }
`,
    });
    await Promise.all(['w1', 'w2'].map((id) => startWorker(id)));
    await balanced(['w1', 'w2'], 2, 40_000, SHARDS);
    await until('a few chunks fetched', () => stub!.requests.length >= 6, 30_000, 50);
    const killed = workers.get('w2')!.run;
    killed.child.kill('SIGKILL');
    expect(await killed.exited).to.equal(137);
    workers.delete('w2');
    await balanced(['w1'], 4, 40_000, SHARDS);
    // the survivor finishes every shard's backfill: the status page says so
    await until('every shard to finish its chunks', async () => {
      const status = (await (await fetch(`${workers.get('w1')!.url}/status.json`)).json()) as { rows: Array<{ id: string; backfill: { done: number; total: number } | null }> };
      return SHARDS.every((id) => {
        const b = status.rows.find((r) => r.id === id)?.backfill;
        return b !== null && b !== undefined && b.total === CHUNKS / 4 && b.done === b.total;
      });
    }, 60_000, 250);
    const w1 = workers.get('w1')!.run;
    w1.child.kill('SIGTERM');
    expect(await w1.exited, w1.stderr().slice(-2000)).to.equal(0);
    workers.clear();

    const records = await readCommitted(kafka.brokers, topic, 1, 3_000, 60_000);
    const ids = records.map((r) => (r as { id: string }).id).sort();
    const expected = Array.from({ length: CHUNKS }, (_, c) => [0, 1, 2].map((i) => `${FROM + c * DAY}-${i}`)).flat().sort();
    expect(ids, 'every chunk of the window, each record exactly once').to.deep.equal(expected);
  });

  it('at-least-once: a unit moving to a new worker starts there only after the old owner drained its running cycle', async function () {
    this.timeout(120_000);
    const topic = randomTopic('workers-drain');
    const CYCLE_MS = 1_500;
    stub = await startStubServer({
      routes: [
        {
          path: '/items',
          headers: { 'content-type': 'application/json' },
          latencyMs: CYCLE_MS,
          body: (req) => {
            const source = String(req.query.source);
            const start = Number(req.query.from);
            return JSON.stringify({ items: [{ id: `${source}-${start}`, source, seq: start }] });
          },
        },
      ],
    });
    project = await makeProject({
      'seq.js': PLUGIN,
      'pipeline.yaml': `
name: drain-${topic.slice(-8)}
defaults:
  schedule: { every: 100ms }
  resilience: { retry: false, timeout: 10s }
sources:
  a: { plugin: ./seq.js, config: { baseUrl: "${stub.url}" }, topic: ${topic} }
  b: { plugin: ./seq.js, config: { baseUrl: "${stub.url}" }, topic: ${topic} }
sink:
  type: kafka
  brokers: "\${KAFKA_BROKERS}"
  wireFormat: single-object
  batch: { maxRecords: 10, linger: 5ms }
workers:
  sessionTimeout: 6s
  heartbeatInterval: 500ms
shutdown: { timeout: 10s }
`,
    });
    await startWorker('w1');
    await balanced(['w1'], 2, 40_000, ['a', 'b']);
    await until('w1 to poll both sources', () => ['a', 'b'].every((s) => stub!.requests.some((r) => r.query.source === s)), 20_000, 50);
    await startWorker('w2');
    const after = await balanced(['w1', 'w2'], 1, 40_000, ['a', 'b']);
    const moved = after.get('w2')![0]!;
    await until('w2 to poll the unit it took over', () => stub!.requests.some((r) => r.query.source === moved && r.headers['x-test-worker'] === 'w2'), 20_000, 50);
    const ofMoved = stub.requests.filter((r) => r.query.source === moved);
    const firstByW2 = ofMoved.find((r) => r.headers['x-test-worker'] === 'w2')!;
    const byW1 = ofMoved.filter((r) => r.headers['x-test-worker'] === 'w1');
    expect(byW1.length, 'w1 ran the unit before').to.be.greaterThan(0);
    for (const r of byW1) {
      expect(r.at, 'w1 started no cycle of the unit once w2 had it').to.be.below(firstByW2.at);
      expect(r.at + CYCLE_MS, 'w1\'s last cycle ended before w2 started the unit').to.be.at.most(firstByW2.at + 50);
    }
    await workers.get('w2')!.run.waitFor(/waiting for the previous owner to drain the unit/, 1_000).catch(() => {
      throw new Error(`w2 did not wait for w1 to drain:\n${workers.get('w2')!.run.stderr().slice(-3000)}`);
    });
  });
});
