import { expect } from 'chai';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FileCheckpointStore } from '../../src/state/file.js';
import { MemoryCheckpointStore } from '../../src/state/memory.js';
import { tempDir } from '../runtime/helpers.js';

describe('state/checkpoint stores', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  beforeEach(async () => {
    tmp = await tempDir();
  });
  afterEach(() => tmp.cleanup());

  it('FileCheckpointStore: commits survive a new store on the same directory; deletes apply', async () => {
    const dir = join(tmp.dir, 'state');
    const a = new FileCheckpointStore(dir);
    expect(await a.load('eia')).to.deep.equal({});
    await a.commit('eia', { set: { cursor: 5, nested: { x: [1, 2] } }, delete: [] });
    await a.commit('eia', { set: { other: 'y' }, delete: ['cursor'] });
    const b = new FileCheckpointStore(dir);
    expect(await b.load('eia')).to.deep.equal({ nested: { x: [1, 2] }, other: 'y' });
    const file = JSON.parse(await readFile(b.fileOf('eia'), 'utf8')) as { version: number; source: string; values: unknown };
    expect(file).to.deep.include({ version: 1, source: 'eia' });
    expect(await readdir(dir)).to.deep.equal(['eia.json']); // no temporary files left behind
  });

  it('FileCheckpointStore: concurrent commits of one source are serialized and none is lost', async () => {
    const store = new FileCheckpointStore(tmp.dir);
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.commit('s', { set: { [`k${i}`]: i }, delete: [] })));
    const loaded = await new FileCheckpointStore(tmp.dir).load('s');
    expect(Object.keys(loaded)).to.have.length(20);
    await store.close();
  });

  it('FileCheckpointStore: encodes source ids into safe file names, rejects unserializable values, reports corrupt files', async () => {
    const store = new FileCheckpointStore(tmp.dir);
    await store.commit('../evil/..', { set: { a: 1 }, delete: [] });
    expect(await readdir(tmp.dir)).to.deep.equal(['%2E%2E%2Fevil%2F%2E%2E.json']);
    let err: unknown;
    await store.commit('s', { set: { big: 1n }, delete: [] }).catch((e: unknown) => (err = e));
    expect(String(err)).to.match(/checkpoint of source "s": the value of key "big" is not JSON-serializable/);
    await writeFile(join(tmp.dir, 'broken.json'), '{ not json');
    let corrupt: unknown;
    await new FileCheckpointStore(tmp.dir).load('broken').catch((e: unknown) => (corrupt = e));
    expect(String(corrupt)).to.match(/broken\.json is not valid JSON/);
  });

  it('MemoryCheckpointStore copies values in and out', async () => {
    const store = new MemoryCheckpointStore({ a: { n: 1 } });
    const loaded = await store.load('a');
    loaded.n = 2;
    expect(await store.load('a')).to.deep.equal({ n: 1 });
    await store.commit('a', { set: { d: new Date(0) }, delete: ['n'] });
    expect(store.snapshot()).to.deep.equal({ a: { d: '1970-01-01T00:00:00.000Z' } });
  });
});
