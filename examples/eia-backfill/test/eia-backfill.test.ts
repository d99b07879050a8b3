import { expect } from 'chai';
import { fileURLToPath } from 'node:url';
import { loadPipeline, MemoryCheckpointStore, MemorySink, PipelineRunner, resolvePipeline, silentLogger, startReplayServer, type ReplayServer } from '@tributary/core';
import { runPipeline, runPlugin } from '@tributary/core/testing';
import eia from '@tributary/plugin-eia';

const here = (p: string): string => fileURLToPath(new URL(`../${p}`, import.meta.url));
const FROM = Date.UTC(2022, 0, 1);
const TO = Date.UTC(2024, 6, 1);
const CHUNKS = Math.ceil((TO - FROM) / (60 * 86_400_000)); // 16

interface Row {
  period: number;
  respondent: string;
  type: string;
  value: number | null;
}

describe('example: eia-backfill', () => {
  let replay: ReplayServer;
  beforeEach(async () => {
    replay = await startReplayServer({ dir: here('fixtures') });
  });
  afterEach(() => replay.close());

  it('backfills two and a half years in 60-day chunks with progress, and checkpoints every chunk', async () => {
    const { config, plugins } = await resolvePipeline(await loadPipeline(here('pipeline.yaml'), { env: {} }));
    const sink = new MemorySink();
    const checkpoints = new MemoryCheckpointStore();
    const runner = new PipelineRunner({ pipeline: config, plugins, sink, checkpoints, once: true, metrics: false, logger: silentLogger(), rewriteOrigin: replay.rewriteOrigin });
    const progress: string[] = [];
    runner.events.on('backfill.progress', ({ payload }) => progress.push(`${payload.done}/${payload.total}`));
    const summary = await runner.run();

    expect(summary.sources.grid!.cycles).to.include({ success: CHUNKS, error: 0 });
    expect(progress[0]).to.equal(`0/${CHUNKS}`);
    expect(progress.at(-1)).to.equal(`${CHUNKS}/${CHUNKS}`);
    expect(replay.served).to.equal(CHUNKS);
    expect(replay.misses).to.deep.equal([]);

    const rows = sink.records.map((r) => r.value as unknown as Row);
    expect(rows.length).to.be.greaterThan(CHUNKS);
    expect(rows.every((r) => r.period >= FROM && r.period < TO)).to.equal(true);
    expect(new Set(sink.records.map((r) => r.key))).to.deep.equal(new Set(['CISO', 'PACW']));
    expect(new Set(rows.map((r) => r.type))).to.deep.equal(new Set(['D', 'NG']));
    expect(rows.every((r) => typeof r.value === 'number' && r.value > 0)).to.equal(true);

    const state = checkpoints.snapshot().grid!;
    expect((state['@tributary/backfill'] as { done: string[] }).done).to.have.length(CHUNKS);
    expect(state.lastPeriod).to.equal(Math.max(...rows.map((r) => r.period)));
  });

  it('resumes after a restart: finished chunks are not fetched again', async () => {
    const first = await runPipeline(here('pipeline.yaml'), { baseUrl: replay.rewriteOrigin, env: {} });
    expect(replay.served).to.equal(CHUNKS);

    // a restart after everything was done fetches nothing
    const again = await runPipeline(here('pipeline.yaml'), { baseUrl: replay.rewriteOrigin, env: {}, state: first.state });
    expect(again.records).to.deep.equal([]);
    expect(replay.served).to.equal(CHUNKS);

    // a restart after a crash in the middle fetches only the missing chunks, and the same records
    const progress = first.state.grid!['@tributary/backfill'] as { done: string[] };
    const crashed = { grid: { ...first.state.grid, '@tributary/backfill': { ...progress, done: progress.done.slice(0, 10) } } };
    const resumed = await runPipeline(here('pipeline.yaml'), { baseUrl: replay.rewriteOrigin, env: {}, state: crashed });
    expect(replay.served).to.equal(CHUNKS + CHUNKS - 10);
    const lastTen = Number(progress.done[9]!.split('-')[1]);
    expect(resumed.records.map((r) => r.value)).to.deep.equal(first.records.map((r) => r.value).filter((v) => (v as unknown as Row).period >= lastTen));
  });

  it('then polls live for the hours after the latest one delivered', async () => {
    const backfill = await runPipeline(here('pipeline.yaml'), { baseUrl: replay.rewriteOrigin, env: {} });
    const latest = backfill.state.grid!.lastPeriod as number;
    const config = (await loadPipeline(here('pipeline.yaml'), { env: {} })).sources.grid!.config;
    const poll = await runPlugin(eia, config, { source: 'grid', baseUrl: replay.rewriteOrigin, state: { grid: backfill.state.grid! } });
    expect(poll.errors).to.deep.equal([]);
    expect(poll.records.length).to.be.greaterThan(0);
    expect(poll.records.every((r) => (r.value as unknown as Row).period > latest)).to.equal(true);
    expect(poll.state.grid!.lastPeriod).to.be.greaterThan(latest);
  });
});
