import { expect } from 'chai';
import { startStubServer, type StubFault, type StubRequest, type StubServer } from '../../core/src/testing/stubServer.js';
import { makeFaultProject, metricsUrl, readTopic, rssOf, scrape, sleep, startCli, stopChild, until, type CliRun, type Project } from './helpers.js';

const MiB = 1024 * 1024;

/** One kind of bad answer: the stub fault that makes it, and the error code a failed cycle gets. */
interface Chaos {
  name: string;
  fault: StubFault;
  code: string;
}

/** The bad answers of the chaos phase. */
const CHAOS: readonly Chaos[] = [
  { name: '500', fault: { kind: 'status', status: 500 }, code: 'ERR_HTTP' },
  { name: '503', fault: { kind: 'status', status: 503, body: '{"error":"upstream unavailable"}' }, code: 'ERR_HTTP' },
  { name: 'html 502 gateway page', fault: { kind: 'html', status: 502 }, code: 'ERR_HTTP' },
  { name: 'html 200 captive portal', fault: { kind: 'html' }, code: 'ERR_BAD_JSON' },
  { name: 'malformed JSON', fault: { kind: 'malformed' }, code: 'ERR_BAD_JSON' },
  {
    name: 'wrong content type (CSV)',
    fault: { kind: 'status', status: 200, body: 'station,value\nNL01,1.5\n', headers: { 'content-type': 'text/csv' } },
    code: 'ERR_BAD_JSON',
  },
  { name: 'truncated JSON', fault: { kind: 'truncated' }, code: 'ERR_BODY_TRUNCATED' },
  { name: 'hang', fault: { kind: 'hang' }, code: 'ERR_TIMEOUT' },
  { name: 'connection reset', fault: { kind: 'reset' }, code: 'ERR_NETWORK' },
  { name: 'body over maxBodyBytes (streamed)', fault: { kind: 'huge', bytes: 21 * MiB }, code: 'ERR_BODY_TOO_LARGE' },
  { name: '50 MB body (declared length)', fault: { kind: 'huge', bytes: 50_000_000, declareLength: true }, code: 'ERR_BODY_TOO_LARGE' },
];

/** A small deterministic PRNG (mulberry32), so that a failing order can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffled<T>(list: readonly T[], random: () => number): T[] {
  const out = [...list];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

type Phase = 'chaos' | 'outage' | 'healthy' | 'storm';

describe('fault injection: API chaos over many cycles (file sink)', function () {
  this.timeout(90_000);
  let stub: StubServer | undefined;
  let project: Project | undefined;
  let run: CliRun | undefined;
  afterEach(async () => {
    await stopChild(run);
    await stub?.close();
    await project?.cleanup();
    run = undefined;
    stub = undefined;
    project = undefined;
  });

  it('the pipeline stays up through 5xx, hangs, resets, truncated/HTML/non-JSON/oversized bodies and 429 storms: each failure is counted by its code, the breaker opens after 4 failures and stops calling, the throttle slows down on 429, RSS stays bounded', async () => {
    const seed = 7;
    const random = prng(seed);
    const rounds = 2;
    const chaosPlan = [...Array(rounds)].flatMap(() => shuffled(CHAOS, random));
    // What the stub answered, by request: the chaos entry's name, 'ok', 'outage 503' or 'storm 429'.
    const answered: string[] = [];
    let phase: Phase = 'chaos';
    let inPhase = 0;
    const setPhase = (p: Phase): void => {
      phase = p;
      inPhase = 0;
    };
    const items = (req: StubRequest): string =>
      JSON.stringify({ items: [1, 2].map((i) => ({ station: `NL0${i}`, value: i + 0.5, cycle: Number(req.query.cycle), page: 1, window: null })) });

    stub = await startStubServer({
      routes: [
        {
          path: '/items',
          headers: { 'content-type': 'application/json' },
          body: items,
          faults: () => {
            const k = inPhase++;
            switch (phase) {
              case 'chaos': {
                // a bad answer, then a good one: never 4 failures in a row, so the breaker stays closed
                const chaos = k % 2 === 0 ? chaosPlan[k / 2] : undefined;
                answered.push(chaos ? chaos.name : 'ok');
                return chaos?.fault;
              }
              case 'outage':
                answered.push('outage 503');
                return { kind: 'status', status: 503 };
              case 'storm':
                // three 429s out of four (no Retry-After): the breaker (threshold 4) stays closed
                if (k % 4 === 3) {
                  answered.push('ok');
                  return undefined;
                }
                answered.push('storm 429');
                return { kind: 'status', status: 429, body: { error: 'too many requests' } };
              default:
                answered.push('ok');
                return undefined;
            }
          },
        },
      ],
    });
    project = await makeFaultProject({
      'pipeline.yaml': `
name: faults-chaos
shutdown: { timeout: 5s }
sources:
  api:
    plugin: ./items.js
    config: { baseUrl: "${stub.url}" }
    topic: chaos.readings
    schedule: { every: 100ms }
    resilience:
      timeout: 800ms
      retry: false
      circuitBreaker: { failureThreshold: 4, successThreshold: 1, resetTimeout: 1500ms }
      throttle: { initialDelay: 20ms, minDelay: 20ms, maxDelay: 640ms, errorFactor: 1, speedUpAfter: 1000 }
`,
    });
    run = startCli(['run', project.path('pipeline.yaml'), '--metrics-port', '0', '--log-format', 'json', '--summary', 'json'], { cwd: project.dir });
    const pid = run.child.pid!;
    const rss: number[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const v = await rssOf(pid);
        if (v !== undefined) rss.push(v);
        await sleep(100);
      }
    })();
    const alive = (): boolean => run!.child.exitCode === null && run!.child.signalCode === null;

    try {
      const base = await metricsUrl(run);
      const cycles = async (): Promise<number> => (await scrape(base)).value('tributary_cycle_duration_seconds_count');

      // 1. chaos: every kind of bad answer, twice, in a seeded random order, each followed by a good answer
      await stub.until(() => answered.length >= chaosPlan.length * 2, 30_000);
      setPhase('healthy');
      await stub.until(() => answered.length >= chaosPlan.length * 2 + 2, 10_000);
      expect(alive(), 'alive after the chaos phase').to.equal(true);
      const rssAfterChaos = rss.at(-1)!;

      // 2. outage: every call fails; after 4 failures the breaker opens and rejects without calling
      setPhase('outage');
      await until('the breaker to open', async () => (await scrape(base)).value('tributary_circuit_breaker_state', { breaker: 'api' }) === 2, 10_000);
      const atOpen = await scrape(base);
      const requestsAtOpen = stub.count('/items');
      const cyclesAtOpen = await cycles();
      await sleep(1_000); // less than resetTimeout (1.5 s)
      const whileOpen = await scrape(base);
      expect(stub.count('/items'), 'no request while the circuit is open').to.equal(requestsAtOpen);
      expect(answered.filter((a) => a === 'outage 503')).to.have.length(4);
      expect(whileOpen.value('tributary_circuit_breaker_state', { breaker: 'api' })).to.equal(2);
      expect(await cycles(), 'cycles go on while the circuit is open').to.be.above(cyclesAtOpen + 3);
      expect(whileOpen.value('tributary_errors_total', { source: 'api', code: 'ERR_CIRCUIT_OPEN' })).to.be.above(
        atOpen.value('tributary_errors_total', { source: 'api', code: 'ERR_CIRCUIT_OPEN' }) + 3,
      );
      expect(whileOpen.value('tributary_circuit_breaker_rejected_total', { breaker: 'api' })).to.be.above(3);

      // the API comes back: after resetTimeout a trial call goes through and closes the circuit
      setPhase('healthy');
      await until('the breaker to close', async () => (await scrape(base)).value('tributary_circuit_breaker_state', { breaker: 'api' }) === 0, 10_000);
      expect(stub.count('/items')).to.be.above(requestsAtOpen);
      expect(alive(), 'alive after the outage').to.equal(true);

      // 3. 429 storm: the throttle doubles its delay on each 429 (20 ms → 640 ms, its maxDelay)
      const beforeStorm = await scrape(base);
      expect(beforeStorm.value('tributary_throttle_delay_seconds', { throttle: 'api' })).to.be.closeTo(0.02, 1e-9);
      setPhase('storm');
      await until('the throttle to reach its max delay', async () => (await scrape(base)).value('tributary_throttle_delay_seconds', { throttle: 'api' }) >= 0.64 - 1e-9, 20_000, 50);
      // calls are now spaced by the throttle (640 ms), not by the schedule (100 ms)
      const stormEnd = stub.count('/items');
      await sleep(1_400);
      expect(stub.count('/items') - stormEnd, 'requests in 1.4 s at a 640 ms spacing').to.be.at.most(3);
      expect((await scrape(base)).value('tributary_circuit_breaker_state', { breaker: 'api' }), 'three 429s of four never open the breaker').to.equal(0);

      // 4. healthy again, so that no faulted call is still running when counting
      setPhase('healthy');
      const settled = answered.length;
      await stub.until(() => answered.length >= settled + 1, 5_000);
      await until('the last call to finish', () => stub!.stats().inFlight === 0, 5_000);
      const final = await scrape(base);
      if (process.env.FAULTS_DEBUG) console.log({ answered, rss: rss.map((r) => Math.round(r / MiB)), errors: final.samples.filter((x) => x.name === 'tributary_errors_total') });
      expect(alive(), 'alive at the end').to.equal(true);

      // every failure counted under its code: exactly as many as the stub injected
      const expected = new Map<string, number>();
      for (const a of answered) {
        const code = a === 'outage 503' || a === 'storm 429' ? 'ERR_HTTP' : CHAOS.find((c) => c.name === a)?.code;
        if (code) expected.set(code, (expected.get(code) ?? 0) + 1);
      }
      for (const code of ['ERR_HTTP', 'ERR_BAD_JSON', 'ERR_BODY_TRUNCATED', 'ERR_TIMEOUT', 'ERR_NETWORK', 'ERR_BODY_TOO_LARGE']) {
        expect(final.value('tributary_errors_total', { source: 'api', code }), `tributary_errors_total{code="${code}"}`).to.equal(expected.get(code));
      }
      // and the HTTP statuses seen, by status
      const statuses = (s: string): number => final.value('tributary_http_requests_total', { source: 'api', status: s });
      expect(statuses('500')).to.equal(rounds);
      expect(statuses('502')).to.equal(rounds);
      expect(statuses('503')).to.equal(rounds + 4);
      expect(statuses('429')).to.equal(answered.filter((a) => a === 'storm 429').length);
      expect(final.value('tributary_throttle_rate_limited_total', { throttle: 'api' })).to.equal(answered.filter((a) => a === 'storm 429').length);

      // memory: the oversized bodies were dropped, nothing grew with the cycles
      const peak = Math.max(...rss);
      expect(rss.length).to.be.above(20);
      expect(peak, `peak RSS ${(peak / MiB).toFixed(0)} MiB`).to.be.below(400 * MiB);
      expect(rss.at(-1)!, `RSS after the chaos ${(rssAfterChaos / MiB).toFixed(0)} MiB, at the end ${(rss.at(-1)! / MiB).toFixed(0)} MiB`).to.be.below(rssAfterChaos + 64 * MiB);

      run.child.kill('SIGTERM');
      const code = await run.exited;
      expect(code, run.stderr().slice(-3000)).to.equal(0);
    } finally {
      sampling = false;
      await sampler;
    }

    // every good answer's records are in the files, once
    const records = await readTopic(project.path('out/chaos.readings'));
    const good = stub.requests.filter((r) => r.status === 200 && r.fault === undefined).map((r) => Number(r.query.cycle));
    expect(records).to.have.length(2 * good.length);
    expect([...new Set(records.map((r) => r.cycle as number))].sort((a, b) => a - b)).to.deep.equal([...good].sort((a, b) => a - b));
  });
});
