/**
 * Fault injection on the Kafka side, against the real broker of test/support/kafka.ts: the
 * broker stopped mid-run, `kill -9` of the runner mid-backfill, and Kafka down while sources keep
 * producing. `tributary run` runs as a child process with the Kafka sink (single-object wire
 * format); records are counted by consuming the topic afterwards.
 *
 * Durations are scaled down for CI (the issue's 30 s outage is `KAFKA_FAULTS_OUTAGE_MS`, default
 * 10 s; the 5-minute outage with a full buffer is the same with a 40-record buffer).
 */
import { expect } from 'chai';
import { consume } from '../../core/src/source/consume.js';
import { startStubServer, type StubRequest, type StubServer } from '../../core/src/testing/stubServer.js';
import { startBroker, stopBroker } from '../kafka/harness.mjs';
import { collect, ensureKafka, randomGroup, randomTopic, requireControllableBroker, topicSize, type KafkaEnv } from '../support/kafka.js';
import { makeFaultProject, metricsUrl, rssOf, runCli, scrape, sleep, startCli, stopChild, until, type CliRun, type Project } from './helpers.js';

const OUTAGE_MS = Number(process.env.KAFKA_FAULTS_OUTAGE_MS || 10_000);
const quiet = { log: () => undefined };

/** Every record value of a topic, decoded (single-object format), read from the beginning. */
async function readAll(brokers: string[], topic: string): Promise<Array<Record<string, unknown>>> {
  const n = await topicSize(topic);
  if (n === 0) return [];
  const got = await collect((onClose) => consume({ brokers, topic, groupId: randomGroup('faults'), from: 'earliest', onClose }), n, 30_000);
  return got.map((r) => r.value as Record<string, unknown>);
}

/** How often each identity occurs. */
function counts(ids: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const id of ids) m.set(id, (m.get(id) ?? 0) + 1);
  return m;
}

const json = { 'content-type': 'application/json' };

function kafkaSink(topic: string, extra = ''): string {
  return `
sink:
  type: kafka
  brokers: "\${KAFKA_BROKERS}"
  wireFormat: single-object
  batch: { maxRecords: 20, linger: 5ms }
  ${extra}
  topics:
    ${topic}: { partitions: 2 }
`;
}

describe('fault injection: Kafka side (real broker, tributary run as a child process)', function () {
  let kafka: KafkaEnv;
  let stub: StubServer | undefined;
  let project: Project | undefined;
  let run: CliRun | undefined;
  let brokerDown = false;

  before(async function () {
    kafka = await ensureKafka(this);
  });

  afterEach(async function () {
    this.timeout(60_000);
    await stopChild(run);
    if (brokerDown) await startBroker(quiet);
    brokerDown = false;
    await stub?.close();
    await project?.cleanup();
    run = undefined;
    stub = undefined;
    project = undefined;
  });

  const env = () => ({ KAFKA_BROKERS: kafka.brokers.join(',') });

  /**
   * The API of a polling source: each page holds `perPage` readings tagged with the cycle and the
   * page; `served` collects the identity (`cycle/page/station`) of every reading handed out. Once
   * `open` is false, answers are empty, so that the set of served records stops growing. While
   * `gate` is set, the first page of a cycle waits for it (`waiting` tells that one does).
   */
  async function pollingStub(perPage: number) {
    const served: string[] = [];
    const control: { open: boolean; gate?: Promise<void>; waiting: boolean } = { open: true, waiting: false };
    stub = await startStubServer({
      routes: [
        {
          path: '/items',
          headers: json,
          body: async (req: StubRequest) => {
            const cycle = Number(req.query.cycle);
            const page = Number(req.query.page);
            if (page === 1 && control.gate) {
              control.waiting = true;
              await control.gate;
              control.waiting = false;
            }
            const items = control.open
              ? Array.from({ length: perPage }, (_, i) => ({ station: `S${i}`, value: i + 0.5, cycle, page, window: null }))
              : [];
            for (const it of items) served.push(`${it.cycle}/${it.page}/${it.station}`);
            return JSON.stringify({ items });
          },
        },
      ],
    });
    return { served, control };
  }

  it('broker stopped mid-run, then started: the run keeps going, and every record the API handed out arrives exactly once (idempotent producer)', async function () {
    this.timeout(OUTAGE_MS + 50_000);
    requireControllableBroker(this, kafka);
    const topic = randomTopic('faults-outage');
    const { served, control } = await pollingStub(5);
    project = await makeFaultProject({
      'pipeline.yaml': `
name: faults-kafka-outage
metrics: { enabled: false }
sources:
  live:
    plugin: ./items.js
    config: { baseUrl: "${stub!.url}" }
    topic: ${topic}
    schedule: { every: 100ms }
    resilience: { retry: false }
${kafkaSink(topic)}
`,
    });
    run = startCli(['run', project.path('pipeline.yaml'), '--log-format', 'json', '--summary', 'json', '--no-progress'], { cwd: project.dir, env: env() });
    await until('records in the topic before the outage', async () => (await topicSize(topic)) >= 20, 20_000, 100);

    await stopBroker(quiet);
    brokerDown = true;
    const servedAtStop = served.length;
    await sleep(OUTAGE_MS);
    expect(run.child.exitCode, `the run ended during the outage:\n${run.stderr().slice(-3000)}`).to.equal(null);
    await startBroker(quiet);
    brokerDown = false;
    const servedAtStart = served.length;
    // a few more cycles with the broker back, then the API goes quiet
    await until('cycles after the outage', () => served.length >= servedAtStart + 20, 20_000, 50);
    control.open = false;
    const expected = [...served];
    expect(servedAtStop, 'records handed out before the outage').to.be.at.least(20);

    await until('every handed-out record in the topic', async () => (await topicSize(topic)) >= expected.length, 30_000, 200);
    expect(run.child.exitCode, 'still running after the outage').to.equal(null);
    run.child.kill('SIGTERM');
    const code = await run.exited;
    expect(code, run.stderr().slice(-3000)).to.equal(0);

    const got = await readAll(kafka.brokers, topic);
    const ids = got.map((v) => `${v.cycle as number}/${v.page as number}/${v.station as string}`);
    const c = counts(ids);
    expect([...c.keys()].sort(), 'the topic holds exactly what the API handed out').to.deep.equal([...new Set(expected)].sort());
    const dups = [...c].filter(([, n]) => n > 1);
    expect(dups, 'no duplicates').to.deep.equal([]);
    expect(ids.length).to.equal(expected.length);
  });

  it('kill -9 mid-backfill, then a restart: no gap in the range; duplicates only in chunks that were in flight and not checkpointed at the kill', async function () {
    this.timeout(60_000);
    const DAY = 24 * 60 * 60 * 1000;
    const FROM = Date.UTC(2024, 0, 1);
    const CHUNKS = 20;
    const PAGES = 3;
    const PER_PAGE = 2;
    const ALL = Array.from({ length: CHUNKS }, (_, i) => `${FROM + i * DAY}-${FROM + (i + 1) * DAY}`);
    const COMPLETE = Array.from({ length: PAGES }, (_, p) => Array.from({ length: PER_PAGE }, (_, i) => `${p + 1}/S${i}`)).flat().sort();
    const topic = randomTopic('faults-kill9');
    let latency = 80;
    stub = await startStubServer({
      routes: [
        {
          path: '/items',
          headers: json,
          latencyMs: () => latency,
          body: (req: StubRequest) => {
            const window = `${req.query.start}-${req.query.end}`;
            const p = Number(req.query.page);
            return JSON.stringify({ items: Array.from({ length: PER_PAGE }, (_, i) => ({ station: `S${i}`, value: p * 10 + i, cycle: Number(req.query.cycle), page: p, window })) });
          },
        },
      ],
    });
    project = await makeFaultProject({
      'pipeline.yaml': `
name: faults-kafka-kill9
metrics: { enabled: false }
sources:
  hist:
    plugin: ./items.js
    config: { baseUrl: "${stub.url}", pages: ${PAGES} }
    topic: ${topic}
    schedule: { backfill: { from: 2024-01-01, to: 2024-01-21, chunk: 1d, concurrency: 2 } }
    resilience: { retry: false }
${kafkaSink(topic)}
`,
    });
    // with the Kafka sink the checkpoints live in the offsets topic; `tributary offsets` reads them from there
    const doneChunks = async (): Promise<string[]> => {
      const res = await runCli(['offsets', project!.path('pipeline.yaml'), '--json'], { cwd: project!.dir, env: env() });
      expect(res.code, res.stderr).to.equal(0);
      const listing = JSON.parse(res.stdout) as { checkpoints: Array<{ id: string; location: string; values: Record<string, unknown> }> };
      const hist = listing.checkpoints.find((c) => c.id === 'hist')!;
      expect(hist.location).to.match(/^kafka:_tributary_offsets\/faults-kafka-kill9\/hist$/);
      return (hist.values['@tributary/backfill'] as { done?: string[] } | undefined)?.done ?? [];
    };
    run = startCli(['run', project.path('pipeline.yaml'), '--log-format', 'json', '--summary', 'json', '--no-progress'], { cwd: project.dir, env: env() });
    // kill -9 once about 8 of the 20 chunks were fetched (3 pages each, two chunks at a time)
    await until('8 chunks fetched', () => {
      if (run!.child.exitCode !== null) throw new Error(`the run ended (${run!.child.exitCode}) before the kill:\n${run!.stderr().slice(-3000)}`);
      return stub!.requests.length >= 8 * PAGES;
    }, 30_000, 5);
    run.child.kill('SIGKILL');
    expect(await run.exited).to.equal(137);
    run = undefined;
    const firstRequests = stub.requests.length;
    const started1 = new Set(stub.requests.map((r) => `${r.query.start}-${r.query.end}`));
    const done1 = await doneChunks();
    if (process.env.FAULTS_DEBUG) console.log({ done: done1.length, started: started1.size });
    expect(done1.length, 'chunks checkpointed before the kill').to.be.within(1, CHUNKS - 1);
    const inFlight = [...started1].filter((id) => !done1.includes(id));

    // every checkpointed chunk is complete in Kafka already: the cursor never runs ahead of the acks
    const before = await readAll(kafka.brokers, topic);
    for (const id of done1) {
      const got = before.filter((v) => v.window === id).map((v) => `${v.page as number}/${v.station as string}`);
      expect([...new Set(got)].sort(), `checkpointed chunk ${id} is in Kafka`).to.deep.equal(COMPLETE);
    }

    latency = 10;
    const second = await runCli(['run', project.path('pipeline.yaml'), '--log-format', 'json', '--summary', 'none', '--no-progress'], { cwd: project.dir, env: env() });
    expect(second.code, second.stderr.slice(-3000)).to.equal(0);
    const refetched = new Set(stub.requests.slice(firstRequests).map((r) => `${r.query.start}-${r.query.end}`));
    expect([...refetched].filter((id) => done1.includes(id)), 'checkpointed chunks fetched again').to.deep.equal([]);
    expect([...(await doneChunks())].sort()).to.deep.equal([...ALL].sort());

    const after = await readAll(kafka.brokers, topic);
    const byChunk = new Map<string, string[]>();
    for (const v of after) {
      const id = v.window as string;
      byChunk.set(id, [...(byChunk.get(id) ?? []), `${v.page as number}/${v.station as string}`]);
    }
    expect([...byChunk.keys()].sort(), 'no gap: every chunk of the range is in the topic').to.deep.equal([...ALL].sort());
    for (const id of ALL) {
      const got = byChunk.get(id)!;
      expect([...new Set(got)].sort(), `chunk ${id} complete`).to.deep.equal(COMPLETE);
      if (!inFlight.includes(id)) expect(got, `chunk ${id} exactly once (it was not in flight at the kill)`).to.have.length(COMPLETE.length);
      else expect(got.length, `chunk ${id}: at most one extra copy`).to.be.at.most(2 * COMPLETE.length);
    }

    // `tributary offsets --reset` deletes the checkpoint in the offsets topic: a next run would backfill again
    const reset = await runCli(['offsets', project.path('pipeline.yaml'), '--reset', 'hist'], { cwd: project.dir, env: env() });
    expect(reset.code, reset.stderr).to.equal(0);
    expect(await doneChunks()).to.deep.equal([]);
  });

  it('Kafka down while sources keep producing: the buffer fills to its cap, the source pauses, RSS stays bounded, and everything arrives afterwards', async function () {
    this.timeout(OUTAGE_MS + 50_000);
    requireControllableBroker(this, kafka);
    const CAP = 40;
    const RSS_CAP = 400 * 1024 * 1024;
    const topic = randomTopic('faults-buffer');
    // a cycle (4 pages of 25) holds more records than the buffer: a single cycle fills it
    const { served, control } = await pollingStub(25);
    project = await makeFaultProject({
      'pipeline.yaml': `
name: faults-kafka-buffer
sources:
  live:
    plugin: ./items.js
    config: { baseUrl: "${stub!.url}", pages: 4 }
    topic: ${topic}
    schedule: { every: 20ms }
    resilience: { retry: false }
${kafkaSink(topic, `buffer: { maxRecords: ${CAP} }`)}
`,
    });
    run = startCli(['run', project.path('pipeline.yaml'), '--metrics-port', '0', '--log-format', 'json', '--summary', 'json', '--no-progress'], { cwd: project.dir, env: env() });
    const base = await metricsUrl(run);
    await until('records in the topic before the outage', async () => (await topicSize(topic)) >= 50, 20_000, 100);

    // stop the broker between two cycles: the next cycle's first page waits until the broker is
    // down, so that all of that cycle's records (more than the buffer holds) meet the outage
    let release: () => void = () => undefined;
    control.gate = new Promise<void>((resolve) => (release = resolve));
    await until('a cycle waiting at the gate, the previous ones acknowledged', async () => control.waiting && (await topicSize(topic)) >= served.length, 20_000, 50);
    await stopBroker(quiet);
    brokerDown = true;
    const downAt = Date.now();
    delete control.gate;
    release();
    let peakRss = 0;
    let peakBuffer = 0;
    let peakRunnerBuffer = 0;
    const sample = async () => {
      peakRss = Math.max(peakRss, (await rssOf(run!.child.pid!)) ?? 0);
      const m = await scrape(base);
      peakBuffer = Math.max(peakBuffer, m.value('tributary_kafka_buffer_records'));
      peakRunnerBuffer = Math.max(peakRunnerBuffer, m.value('tributary_sink_buffer_records'));
      if (process.env.FAULTS_DEBUG) {
        console.log({ requests: stub!.requests.length, sink: m.value('tributary_kafka_buffer_records'), runner: m.value('tributary_sink_buffer_records'), inFlight: m.value('tributary_cycles_in_flight'), cycles: m.value('tributary_cycle_duration_seconds_count'), rss: peakRss });
      }
      return m;
    };
    // the runner's buffer in front of the sink (its capacity is the sink's buffer.maxRecords) fills up
    await until('the buffer full', async () => (await sample()).value('tributary_sink_buffer_records') >= CAP, OUTAGE_MS, 100);
    // the source pauses: over the rest of the outage, (almost) no more requests go out
    const requestsWhenFull = stub!.requests.length;
    while (Date.now() - downAt < OUTAGE_MS) {
      await sample();
      await sleep(200);
    }
    const requestsDuringFull = stub!.requests.length - requestsWhenFull;
    expect(run.child.exitCode, `the run ended during the outage:\n${run.stderr().slice(-3000)}`).to.equal(null);
    expect(requestsDuringFull, 'requests while the buffer was full (source paused)').to.be.at.most(4);
    expect(peakRunnerBuffer, "runner's buffer never above its capacity").to.equal(CAP);
    expect(peakBuffer, "sink's buffer never above its cap").to.be.at.most(CAP);
    expect(peakRss, 'RSS of the runner').to.be.above(0).and.below(RSS_CAP);

    await startBroker(quiet);
    brokerDown = false;
    const servedAtStart = served.length;
    await until('cycles after the outage', () => served.length >= servedAtStart + 200, 20_000, 50);
    control.open = false;
    const expected = [...served];
    await until('every handed-out record in the topic', async () => (await topicSize(topic)) >= expected.length, 30_000, 200);
    await sample();
    expect(peakRss, 'RSS of the runner').to.be.below(RSS_CAP);
    run.child.kill('SIGTERM');
    expect(await run.exited, run.stderr().slice(-3000)).to.equal(0);

    const got = await readAll(kafka.brokers, topic);
    const c = counts(got.map((v) => `${v.cycle as number}/${v.page as number}/${v.station as string}`));
    expect([...c.keys()].sort(), 'everything the API handed out arrived').to.deep.equal([...new Set(expected)].sort());
    expect([...c].filter(([, n]) => n > 1), 'no duplicates').to.deep.equal([]);
  });
});
