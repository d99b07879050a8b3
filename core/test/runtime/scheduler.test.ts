import { expect } from 'chai';
import sinon from 'sinon';
import { from, defer } from 'rxjs';
import { backfillChunks, chunkId, nextCronTime, runChunks, runPolling, sleep } from '../../src/pipeline/runtime/scheduler.js';
import { BACKFILL_KEY, PipelineRunner } from '../../src/pipeline/runtime/runner.js';
import { MemorySink } from '../../src/sinks/memory.js';
import { MemoryCheckpointStore } from '../../src/state/memory.js';
import { silentLogger } from '../../src/observability/logger.js';
import { HttpError } from '../../src/errors/HttpError.js';
import type { CycleInfo } from '../../src/plugin/types.js';
import { pipeline, reading, source, testPlugin } from './helpers.js';

describe('scheduler', () => {
  let clock: sinon.SinonFakeTimers;
  afterEach(() => clock?.restore());

  describe('runPolling', () => {
    it('every: a cycle slower than its interval delays the next one; cycles never overlap or pile up', async () => {
      clock = sinon.useFakeTimers({ now: 0 });
      const stop = new AbortController();
      const starts: number[] = [];
      let running = 0;
      let maxRunning = 0;
      const done = runPolling(
        { kind: 'every', intervalMs: 1_000 },
        async () => {
          starts.push(Date.now());
          running++;
          maxRunning = Math.max(maxRunning, running);
          await sleep(2_500); // slower than the interval
          running--;
        },
        { signal: stop.signal },
      );
      await clock.tickAsync(10_000);
      stop.abort();
      await clock.tickAsync(3_000);
      const count = await done;
      expect(maxRunning).to.equal(1);
      expect(starts).to.deep.equal([0, 2_500, 5_000, 7_500, 10_000]);
      expect(count).to.equal(5);
    });

    it('every: a fast cycle waits for the rest of its interval, counted from the previous start', async () => {
      clock = sinon.useFakeTimers({ now: 0 });
      const stop = new AbortController();
      const starts: number[] = [];
      const done = runPolling(
        { kind: 'every', intervalMs: 1_000, jitterMs: 100 },
        async () => {
          starts.push(Date.now());
          await sleep(300);
        },
        { signal: stop.signal, random: () => 0.5 },
      );
      await clock.tickAsync(3_200);
      stop.abort();
      await clock.tickAsync(1_000);
      await done;
      expect(starts).to.deep.equal([0, 1_050, 2_100, 3_150]);
    });

    it('stops scheduling when the signal aborts, without waiting for the interval', async () => {
      clock = sinon.useFakeTimers({ now: 0 });
      const stop = new AbortController();
      let cycles = 0;
      const done = runPolling({ kind: 'every', intervalMs: 60_000 }, async () => void cycles++, { signal: stop.signal });
      await clock.tickAsync(10);
      stop.abort();
      await clock.tickAsync(0);
      expect(await done).to.equal(1);
      expect(cycles).to.equal(1);
    });

    it('cron: runs at the next fire time, skipping fire times missed by a slow cycle', async () => {
      clock = sinon.useFakeTimers({ now: Date.UTC(2025, 0, 1, 10, 0, 30) });
      const stop = new AbortController();
      const starts: string[] = [];
      const done = runPolling(
        { kind: 'cron', expression: '* * * * *', timezone: 'UTC' },
        async () => {
          starts.push(new Date(Date.now()).toISOString());
          if (starts.length === 1) await sleep(150_000); // misses two fire times
        },
        { signal: stop.signal },
      );
      await clock.tickAsync(5 * 60_000);
      stop.abort();
      await done;
      expect(starts.slice(0, 3)).to.deep.equal(['2025-01-01T10:01:00.000Z', '2025-01-01T10:04:00.000Z', '2025-01-01T10:05:00.000Z']);
    });

    it('once: one cycle; and the once option stops any schedule after one cycle', async () => {
      const stop = new AbortController();
      let n = 0;
      expect(await runPolling({ kind: 'once' }, async () => void n++, { signal: stop.signal })).to.equal(1);
      expect(await runPolling({ kind: 'every', intervalMs: 1 }, async () => void n++, { signal: stop.signal, once: true })).to.equal(1);
      expect(n).to.equal(2);
    });
  });

  it('nextCronTime reads 5-field expressions in the given zone', () => {
    expect(new Date(nextCronTime('0 * * * *', 'UTC', Date.UTC(2025, 0, 1, 10, 30))).toISOString()).to.equal('2025-01-01T11:00:00.000Z');
    expect(new Date(nextCronTime('0 9 * * *', 'Europe/Amsterdam', Date.UTC(2025, 0, 1, 10, 30))).toISOString()).to.equal('2025-01-02T08:00:00.000Z');
    expect(() => nextCronTime('not a cron', 'UTC', 0)).to.throw();
  });

  describe('backfill chunks', () => {
    it('splits [from, to) into chunks, the last one shorter', () => {
      expect(backfillChunks(0, 25, 10)).to.deep.equal([
        { start: 0, end: 10 },
        { start: 10, end: 20 },
        { start: 20, end: 25 },
      ]);
      expect(backfillChunks(5, 5, 10)).to.deep.equal([]);
      expect(chunkId({ start: 1, end: 2 })).to.equal('1-2');
      expect(() => backfillChunks(0, 10, 0)).to.throw(RangeError);
    });

    it('runs at most `concurrency` chunks at once, in order', async () => {
      clock = sinon.useFakeTimers({ now: 0 });
      const chunks = backfillChunks(0, 100, 10);
      let running = 0;
      let peak = 0;
      const order: number[] = [];
      const result = runChunks({
        chunks,
        concurrency: 3,
        signal: new AbortController().signal,
        runChunk: async (chunk) => {
          order.push(chunk.start);
          running++;
          peak = Math.max(peak, running);
          await sleep(100);
          running--;
          return chunk.start !== 50;
        },
      });
      await clock.tickAsync(1_000);
      const { succeeded, failed, skipped } = await result;
      expect(peak).to.equal(3);
      expect(order).to.deep.equal([0, 10, 20, 30, 40, 50, 60, 70, 80, 90]);
      expect(succeeded).to.have.length(9);
      expect(failed).to.deep.equal([{ start: 50, end: 60 }]);
      expect(skipped).to.deep.equal([]);
    });

    it('stops starting chunks when the signal aborts; the rest are reported as skipped', async () => {
      const stop = new AbortController();
      const result = await runChunks({
        chunks: backfillChunks(0, 50, 10),
        concurrency: 1,
        signal: stop.signal,
        runChunk: async (chunk) => {
          if (chunk.start === 10) stop.abort();
          return true;
        },
      });
      expect(result.succeeded).to.have.length(2);
      expect(result.skipped.map((c) => c.start)).to.deep.equal([20, 30, 40]);
    });
  });

  describe('backfill in the runner', () => {
    const DAY = 86_400_000;
    const from0 = Date.UTC(2024, 0, 1);

    function backfillSource(concurrency = 1) {
      return source('eia', { schedule: { kind: 'backfill', from: from0, to: from0 + 10 * DAY, chunkMs: 2 * DAY, concurrency } });
    }

    it('records finished chunks in the checkpoint, so a restart resumes where it stopped', async () => {
      const checkpoints = new MemoryCheckpointStore();
      const windows: string[] = [];
      let failOn: number | undefined = from0 + 4 * DAY;
      const plugin = testPlugin(() => ({
        collect: (info: CycleInfo) =>
          defer(() => {
            windows.push(`${(info.window!.start - from0) / DAY}-${(info.window!.end - from0) / DAY}`);
            if (info.window!.start === failOn) throw new HttpError({ status: 503 });
            return from([reading(`day${(info.window!.start - from0) / DAY}`, 1)]);
          }),
      }));
      const progress: number[] = [];
      const first = new PipelineRunner({
        pipeline: pipeline([backfillSource()]),
        plugins: { eia: { plugin } },
        sink: new MemorySink(),
        checkpoints,
        logger: silentLogger(),
        once: true,
      });
      first.events.on('backfill.progress', (e) => progress.push(e.payload.done));
      const s1 = await first.run();
      expect(windows).to.deep.equal(['0-2', '2-4', '4-6', '6-8', '8-10']);
      expect(s1.sources.eia!.backfill).to.deep.equal({ done: 4, total: 5 });
      expect(progress).to.deep.equal([0, 1, 2, 2, 3, 4]);
      const saved = (await checkpoints.load('eia'))[BACKFILL_KEY] as { done: string[] };
      expect(saved.done).to.have.length(4);

      // restart: only the failed chunk runs again
      windows.length = 0;
      failOn = undefined;
      const sink = new MemorySink();
      const s2 = await new PipelineRunner({
        pipeline: pipeline([backfillSource()]),
        plugins: { eia: { plugin } },
        sink,
        checkpoints,
        logger: silentLogger(),
        once: true,
      }).run();
      expect(windows).to.deep.equal(['4-6']);
      expect(sink.records.map((r) => r.key)).to.deep.equal(['day4']);
      expect(s2.sources.eia!.backfill).to.deep.equal({ done: 5, total: 5 });
    });

    it('runs chunks with the configured concurrency', async () => {
      let running = 0;
      let peak = 0;
      const plugin = testPlugin(() => ({
        collect: () =>
          defer(async () => {
            running++;
            peak = Math.max(peak, running);
            await new Promise((r) => setTimeout(r, 20));
            running--;
            return reading('x', 1);
          }),
      }));
      const sink = new MemorySink();
      await new PipelineRunner({
        pipeline: pipeline([backfillSource(2)]),
        plugins: { eia: { plugin } },
        sink,
        checkpoints: new MemoryCheckpointStore(),
        logger: silentLogger(),
        once: true,
      }).run();
      expect(peak).to.equal(2);
      expect(sink.records).to.have.length(5);
    });
  });

  describe('polling sources in the runner', () => {
    it('a slow cycle delays the next one instead of piling up (fake timers)', async () => {
      clock = sinon.useFakeTimers({ now: 0, toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
      const starts: number[] = [];
      let running = 0;
      let peak = 0;
      const plugin = testPlugin(() => ({
        collect: () =>
          defer(async () => {
            starts.push(Date.now());
            running++;
            peak = Math.max(peak, running);
            await new Promise((r) => setTimeout(r, 25_000));
            running--;
            return reading('x', 1);
          }),
      }));
      const runner = new PipelineRunner({
        pipeline: pipeline([source('slow', { schedule: { kind: 'every', intervalMs: 10_000 } })]),
        plugins: { slow: { plugin } },
        sink: new MemorySink(),
        checkpoints: new MemoryCheckpointStore(),
        logger: silentLogger(),
      });
      await runner.start();
      await clock.tickAsync(60_000);
      const stopped = runner.stop('SIGTERM');
      await clock.tickAsync(30_000);
      const summary = await stopped;
      expect(peak).to.equal(1);
      expect(starts.slice(0, 3)).to.deep.equal([0, 25_000, 50_000]);
      expect(summary.outcome).to.equal('interrupted');
      // the third cycle was still running 5 s (shutdown.timeoutMs) after stop(): it was cancelled
      expect(summary.sources.slow!.cycles).to.deep.equal({ success: 2, error: 0, cancelled: 1 });
    });
  });
});
