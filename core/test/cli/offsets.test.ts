import { expect } from 'chai';
import { access, readFile } from 'node:fs/promises';
import { Registry } from 'prom-client';
import { main } from '../../src/cli/cli.js';
import { parseAssignment } from '../../src/cli/offsets.js';
import { startMetricsServer } from '../../src/observability/server.js';
import { FileCheckpointStore } from '../../src/state/file.js';
import { fakeIo, makeProject, PLUGIN_JS } from './helpers.js';

const PIPELINE = (metrics = 'metrics: { enabled: false }', stateDir = '') => `
name: offsets-test
${metrics}
${stateDir}
sources:
  air:
    plugin: ./plugin.js
    config: { count: 2 }
    topic: air.readings
    schedule: once
  water:
    plugin: ./plugin.js
    config: { count: 1 }
    topic: water.readings
    schedule: once
`;

const BACKFILL = '@tributary/backfill';

describe('cli offsets', () => {
  let project: Awaited<ReturnType<typeof makeProject>>;
  afterEach(async () => project?.cleanup());

  const offsets = async (...args: string[]) => {
    const io = fakeIo({}, project.dir);
    const code = await main(['offsets', project.path('pipeline.yaml'), ...args], io);
    return { code, out: io.out(), err: io.err() };
  };

  it('lists the checkpoints a run wrote, in the same state directory the runtime uses', async () => {
    project = await makeProject({ 'plugin.js': PLUGIN_JS, 'pipeline.yaml': PIPELINE() });
    const before = await offsets();
    expect(before.code).to.equal(0);
    expect(before.out).to.match(/source air: no checkpoint/);
    const io = fakeIo({}, project.dir);
    expect(await main(['run', project.path('pipeline.yaml'), '--once', '--summary', 'none', '--log-level', 'silent', '--no-progress'], io)).to.equal(0);
    const after = await offsets();
    expect(after.code).to.equal(0);
    expect(after.out).to.include('Checkpoints of pipeline "offsets-test" in ' + project.path('.tributary/state'));
    expect(after.out).to.match(/source air: updated \d{4}-/);
    expect(after.out).to.match(/lastCycle = 1/);
    const json = await offsets('--json');
    const parsed = JSON.parse(json.out) as { pipeline: string; running: boolean; checkpoints: Array<{ id: string; kind: string; values: Record<string, unknown>; updatedAt: string | null }> };
    expect(parsed.pipeline).to.equal('offsets-test');
    expect(parsed.running).to.equal(false);
    expect(parsed.checkpoints.map((c) => [c.id, c.kind, c.values])).to.deep.equal([
      ['air', 'source', { lastCycle: 1 }],
      ['water', 'source', { lastCycle: 1 }],
    ]);
    expect(parsed.checkpoints[0]!.updatedAt).to.be.a('string');
  });

  it('follows --state-dir like tributary run does', async () => {
    project = await makeProject({ 'plugin.js': PLUGIN_JS, 'pipeline.yaml': PIPELINE() });
    const io = fakeIo({}, project.dir);
    expect(await main(['run', project.path('pipeline.yaml'), '--once', '--state-dir', 'elsewhere', '--summary', 'none', '--log-level', 'silent', '--no-progress'], io)).to.equal(0);
    expect((await offsets('--json')).out).to.not.include('lastCycle');
    const moved = JSON.parse((await offsets('--json', '--state-dir', 'elsewhere')).out) as { store: string; checkpoints: Array<{ values: Record<string, unknown> }> };
    expect(moved.store).to.equal(project.path('elsewhere'));
    expect(moved.checkpoints[0]!.values).to.deep.equal({ lastCycle: 1 });
  });

  it('lists one checkpoint per shard of a source split into shards, and resets a shard on its own', async () => {
    project = await makeProject({
      'plugin.js': PLUGIN_JS,
      'pipeline.yaml': `
name: offsets-shards
metrics: { enabled: false }
sources:
  hist:
    plugin: ./plugin.js
    config: { count: 1 }
    topic: hist.readings
    schedule: { backfill: { from: 2024-01-01, to: 2024-01-05, chunk: 1d } }
    shards: 2
`,
    });
    const io = fakeIo({}, project.dir);
    expect(await main(['run', project.path('pipeline.yaml'), '--once', '--summary', 'none', '--log-level', 'silent', '--no-progress'], io)).to.equal(0);
    const parsed = JSON.parse((await offsets('--json')).out) as { checkpoints: Array<{ id: string; values: Record<string, unknown> }> };
    expect(parsed.checkpoints.map((c) => c.id)).to.deep.equal(['hist', 'hist#0', 'hist#1']);
    for (const id of ['hist#0', 'hist#1']) {
      expect((parsed.checkpoints.find((c) => c.id === id)!.values[BACKFILL] as { done: string[] }).done, id).to.have.length(2);
    }
    expect((await offsets('--reset', 'hist#1')).code).to.equal(0);
    const after = JSON.parse((await offsets('--json')).out) as { checkpoints: Array<{ id: string; values: Record<string, unknown> }> };
    expect(after.checkpoints.find((c) => c.id === 'hist#1')!.values).to.deep.equal({});
    expect(after.checkpoints.find((c) => c.id === 'hist#0')!.values[BACKFILL]).to.not.equal(undefined);
  });

  it("summarizes a backfill's progress in the text listing", async () => {
    project = await makeProject({ 'plugin.js': PLUGIN_JS, 'pipeline.yaml': PIPELINE() });
    const store = new FileCheckpointStore(project.path('.tributary/state'));
    await store.commit('air', { set: { [BACKFILL]: { from: 0, to: 4 * 3_600_000, chunkMs: 3_600_000, done: ['0-3600000', '3600000-7200000'] } }, delete: [] });
    const res = await offsets();
    expect(res.code).to.equal(0);
    expect(res.out).to.include('@tributary/backfill = 2/4 chunks done, 1970-01-01T00:00:00.000Z .. 1970-01-01T04:00:00.000Z by 3600000 ms');
  });

  it('--reset deletes the checkpoint of one source and leaves the others', async () => {
    project = await makeProject({ 'plugin.js': PLUGIN_JS, 'pipeline.yaml': PIPELINE() });
    const dir = project.path('.tributary/state');
    const store = new FileCheckpointStore(dir);
    await store.commit('air', { set: { [BACKFILL]: { from: 0, to: 10, chunkMs: 5, done: ['0-5', '5-10'] } }, delete: [] });
    await store.commit('water', { set: { lastSeen: 5 }, delete: [] });
    const res = await offsets('--reset', 'air');
    expect(res.code).to.equal(0);
    expect(res.out).to.match(/source "air": checkpoint deleted/);
    const fresh = new FileCheckpointStore(dir);
    expect(await fresh.load('air')).to.deep.equal({});
    expect(await fresh.load('water')).to.deep.equal({ lastSeen: 5 });
    let exists = true;
    await access(store.fileOf('air')).catch(() => (exists = false));
    expect(exists).to.equal(false);
    // a reset of a source without checkpoint is fine too
    expect((await offsets('--reset', 'air')).code).to.equal(0);
  });

  it('--set sets one key from JSON, keeping the other keys', async () => {
    project = await makeProject({ 'plugin.js': PLUGIN_JS, 'pipeline.yaml': PIPELINE() });
    const dir = project.path('.tributary/state');
    await new FileCheckpointStore(dir).commit('water', { set: { keep: 'me' }, delete: [] });
    const res = await offsets('--set', 'water', 'cursor={"page":"abc","n":[1,2]}');
    expect(res.code, res.err).to.equal(0);
    expect(res.out).to.include('source "water": cursor = {"page":"abc","n":[1,2]}');
    expect(await new FileCheckpointStore(dir).load('water')).to.deep.equal({ keep: 'me', cursor: { page: 'abc', n: [1, 2] } });
    const file = JSON.parse(await readFile(new FileCheckpointStore(dir).fileOf('water'), 'utf8')) as { version: number; source: string };
    expect(file).to.include({ version: 1, source: 'water' });
    expect((await offsets('--set', 'water', 'cursor="plain"')).code).to.equal(0);
    expect((await new FileCheckpointStore(dir).load('water')).cursor).to.equal('plain');
  });

  it('refuses an unknown source with exit code 2 and names the known ones', async () => {
    project = await makeProject({ 'plugin.js': PLUGIN_JS, 'pipeline.yaml': PIPELINE() });
    for (const args of [['--reset', 'fire'], ['--set', 'fire', 'x=1']]) {
      const res = await offsets(...args);
      expect(res.code).to.equal(2);
      expect(res.err).to.include('no source or group "fire" in pipeline "offsets-test" (known: air, water)');
      expect(res.err).to.include(project.path('pipeline.yaml'));
    }
  });

  it('refuses malformed --set values and --reset with --set, with exit code 2, changing nothing', async () => {
    project = await makeProject({ 'plugin.js': PLUGIN_JS, 'pipeline.yaml': PIPELINE() });
    const dir = project.path('.tributary/state');
    await new FileCheckpointStore(dir).commit('air', { set: { a: 1 }, delete: [] });
    const cases: Array<[string[], RegExp]> = [
      [['--set', 'air', 'a=abc'], /the value of "a" is not JSON/],
      [['--set', 'air', 'noequals'], /expected <key>=<json>/],
      [['--set', 'air'], /--set takes two values/],
      [['--set', 'air', 'a=1', 'b=2'], /--set takes two values/],
      [['--reset', 'air', '--set', 'air', 'a=2'], /either --reset or --set/],
    ];
    for (const [args, message] of cases) {
      const res = await offsets(...args);
      expect(res.code, args.join(' ')).to.equal(2);
      expect(res.err, args.join(' ')).to.match(message);
    }
    expect(await new FileCheckpointStore(dir).load('air')).to.deep.equal({ a: 1 });
    expect(parseAssignment('k=v=1')).to.be.a('string');
    expect(parseAssignment('k=[1]')).to.deep.equal({ key: 'k', value: [1] });
  });

  it('exits 2 for a pipeline file that does not exist', async () => {
    project = await makeProject({});
    const res = await offsets();
    expect(res.code).to.equal(2);
    expect(res.err).to.include(project.path('pipeline.yaml'));
  });

  describe('while the pipeline runs', () => {
    it('refuses --reset and --set with exit code 2 when the health endpoint answers with the pipeline name', async () => {
      const health = await startMetricsServer({ registry: new Registry(), port: 0, health: () => ({ status: 'ok', pipeline: 'offsets-test', sources: {} }) });
      try {
        project = await makeProject({ 'plugin.js': PLUGIN_JS, 'pipeline.yaml': PIPELINE(`metrics: { host: 127.0.0.1, port: ${health.port} }`) });
        const dir = project.path('.tributary/state');
        await new FileCheckpointStore(dir).commit('air', { set: { a: 1 }, delete: [] });
        for (const args of [['--reset', 'air'], ['--set', 'air', 'a=2']]) {
          const res = await offsets(...args);
          expect(res.code).to.equal(2);
          expect(res.err).to.include('pipeline "offsets-test" is running');
          expect(res.err).to.include(`${health.url}/healthz`);
          expect(res.err).to.include('stop it before changing checkpoints');
        }
        expect(await new FileCheckpointStore(dir).load('air')).to.deep.equal({ a: 1 });
        // listing still works, with a note
        const list = await offsets('--json');
        expect(list.code).to.equal(0);
        expect((JSON.parse(list.out) as { running: boolean }).running).to.equal(true);
        expect(list.err).to.include('is running');
      } finally {
        await health.close();
      }
    });

    it('detects a runner started with --metrics-port when offsets is given the same port', async () => {
      const health = await startMetricsServer({ registry: new Registry(), port: 0, health: () => ({ status: 'stopping', pipeline: 'offsets-test' }) });
      try {
        project = await makeProject({ 'plugin.js': PLUGIN_JS, 'pipeline.yaml': PIPELINE() });
        expect((await offsets('--reset', 'air', '--metrics-port', String(health.port))).code).to.equal(2);
      } finally {
        await health.close();
      }
    });

    it('is not fooled by another pipeline on the same port', async () => {
      const health = await startMetricsServer({ registry: new Registry(), port: 0, health: () => ({ status: 'ok', pipeline: 'someone-else' }) });
      try {
        project = await makeProject({ 'plugin.js': PLUGIN_JS, 'pipeline.yaml': PIPELINE(`metrics: { port: ${health.port} }`) });
        const res = await offsets('--set', 'air', 'a=3');
        expect(res.code, res.err).to.equal(0);
        expect(await new FileCheckpointStore(project.path('.tributary/state')).load('air')).to.deep.equal({ a: 3 });
      } finally {
        await health.close();
      }
    });
  });
});
