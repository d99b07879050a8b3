import { expect } from 'chai';
import { defer, from, mergeMap } from 'rxjs';
import { ConfigError } from '../../src/errors/ConfigError.js';
import { silentLogger } from '../../src/observability/logger.js';
import { PipelineRunner } from '../../src/pipeline/runtime/runner.js';
import type { CycleInfo } from '../../src/plugin/types.js';
import { inShard, shardOf } from '../../src/plugin/shard.js';
import { MemorySink } from '../../src/sinks/memory.js';
import { MemoryCheckpointStore } from '../../src/state/memory.js';
import { pipeline, reading, source, testPlugin } from './helpers.js';

const DAY = 86_400_000;
const FROM = Date.UTC(2024, 0, 1);

describe('sources split into shards', () => {
  it('a backfill in 3 shards runs every chunk exactly once, each shard every third chunk, with its own checkpoint', async () => {
    const seen: Array<{ window: string; shard: string }> = [];
    const plugin = testPlugin(() => ({
      collect: (cycle: CycleInfo) => {
        seen.push({ window: `${cycle.window!.start}`, shard: `${cycle.shard?.index}/${cycle.shard?.count}` });
        return from([reading(`S${cycle.window!.start}`, 1)]);
      },
    }));
    const sink = new MemorySink();
    const checkpoints = new MemoryCheckpointStore();
    await new PipelineRunner({
      pipeline: pipeline([source('hist', { shards: 3, schedule: { kind: 'backfill', from: FROM, to: FROM + 7 * DAY, chunkMs: DAY, concurrency: 1 } })]),
      plugins: { hist: { plugin } },
      sink,
      checkpoints,
      logger: silentLogger(),
    }).run();
    const starts = Array.from({ length: 7 }, (_, i) => `${FROM + i * DAY}`);
    expect(seen.map((s) => s.window).sort()).to.deep.equal([...starts].sort());
    for (const [i, start] of starts.entries()) expect(seen.find((s) => s.window === start)!.shard, `chunk ${i}`).to.equal(`${i % 3}/3`);
    expect(sink.records).to.have.length(7);
    expect(sink.records.map((r) => r.headers['tributary-shard']).sort()).to.deep.equal(['0', '0', '0', '1', '1', '2', '2']);
    for (let k = 0; k < 3; k++) {
      const progress = (await checkpoints.load(`hist#${k}`))['@tributary/backfill'] as { done: string[] };
      expect(progress.done, `shard ${k}'s checkpoint`).to.have.length(k === 0 ? 3 : 2);
    }
    expect(await checkpoints.load('hist')).to.deep.equal({});

    // a second run finds every shard done: nothing runs again
    seen.length = 0;
    await new PipelineRunner({
      pipeline: pipeline([source('hist', { shards: 3, schedule: { kind: 'backfill', from: FROM, to: FROM + 7 * DAY, chunkMs: DAY, concurrency: 1 } })]),
      plugins: { hist: { plugin } },
      sink: new MemorySink(),
      checkpoints,
      logger: silentLogger(),
    }).run();
    expect(seen).to.deep.equal([]);
  });

  it('a polling source of a plugin that declares shards gets cycle.shard, and ctx.state keeps one cursor per shard', async () => {
    const stations = ['NL01', 'NL02', 'NL03', 'NL04', 'NL05', 'NL06', 'NL07', 'NL08'];
    const base = testPlugin((_config, ctx) => ({
      collect: (cycle: CycleInfo) =>
        defer(async () => {
          const n = ((await ctx.state.get<number>('n')) ?? 0) + 1;
          await ctx.state.set('n', n);
          return stations.filter((s) => inShard(s, cycle)).map((s) => reading(s, n));
        }).pipe(mergeMap((records) => from(records))),
    }));
    const plugin = { ...base, shards: true };
    const sink = new MemorySink();
    const checkpoints = new MemoryCheckpointStore();
    await new PipelineRunner({
      pipeline: pipeline([source('air', { shards: 2, schedule: { kind: 'every', intervalMs: 60_000 } })]),
      plugins: { air: { plugin } },
      sink,
      checkpoints,
      logger: silentLogger(),
      cycles: 2,
    }).run();
    // every station once per cycle, split over the two shards
    const keys = sink.records.map((r) => r.key as string);
    expect([...keys].sort()).to.deep.equal([...stations, ...stations].sort());
    for (const r of sink.records) expect(r.headers['tributary-shard']).to.equal(String(shardOf(r.key as string, 2)));
    expect(await checkpoints.load('air#0')).to.deep.equal({ n: 2 });
    expect(await checkpoints.load('air#1')).to.deep.equal({ n: 2 });
    expect(sink.records.every((r) => (r.value as { value: number }).value <= 2)).to.equal(true);
  });

  it('refuses shards on a polling source whose plugin does not split its work, naming the path', async () => {
    const plugin = testPlugin(() => ({ collect: () => from([]) }));
    const runner = new PipelineRunner({
      pipeline: pipeline([source('air', { shards: 2, schedule: { kind: 'every', intervalMs: 1000 } })]),
      plugins: { air: { plugin } },
      sink: new MemorySink(),
      checkpoints: new MemoryCheckpointStore(),
      logger: silentLogger(),
    });
    const err = await runner.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(ConfigError);
    expect((err as ConfigError).issues[0]!.path).to.equal('sources.air.shards');
    expect((err as ConfigError).issues[0]!.message).to.match(/does not declare shards: true/);
  });
});

describe('shardOf', () => {
  it('is stable, in range, and spreads keys', () => {
    expect(shardOf('NL10938', 4)).to.equal(shardOf('NL10938', 4));
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 4000; i++) counts[shardOf(`station-${i}`, 4)]!++;
    for (const c of counts) expect(c).to.be.within(800, 1200);
    expect(shardOf('x', 1)).to.equal(0);
    expect(() => shardOf('x', 0)).to.throw(RangeError);
  });
});
