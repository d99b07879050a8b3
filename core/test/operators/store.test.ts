import { expect } from 'chai';
import sinon from 'sinon';
import { Observable } from 'rxjs';
import {
  CACHE_PREFIX,
  MemoryStore,
  STALE_PREFIX,
  defaultSizeOf,
  defaultStore,
  readEntry,
  replayEntry,
  replayOrigin,
  writeEntry,
  type KeyedStore,
  type StoreEntry,
} from '../../src/operators/store.js';
import { isConfigError } from '../../src/errors/ConfigError.js';

const entry = (values: unknown[], storedAt = 0): StoreEntry => ({ values, storedAt });

describe('MemoryStore', () => {
  let warn: sinon.SinonStub;
  beforeEach(() => {
    warn = sinon.stub(process, 'emitWarning');
  });
  afterEach(() => {
    sinon.restore();
  });

  it('gets, sets, deletes and clears synchronously', () => {
    const store = new MemoryStore();
    const e = entry([1, 2], 5);
    expect(store.set('a', e)).to.equal(undefined);
    expect(store.get('a')).to.equal(e);
    expect(store.get('b')).to.equal(undefined);
    expect(store.size).to.equal(1);
    expect(store.delete('a')).to.equal(true);
    expect(store.delete('a')).to.equal(false);
    store.set('x', e);
    store.set('y', e);
    store.clear();
    expect(store.size).to.equal(0);
  });

  it('evicts the least recently used entry beyond maxEntries; a read counts as a use', () => {
    const store = new MemoryStore({ maxEntries: 2 });
    store.set('a', entry([1]));
    store.set('b', entry([2]));
    store.get('a');
    store.set('c', entry([3]));
    expect(store.keys().sort()).to.deep.equal(['a', 'c']);
  });

  it('defaults to 10 000 entries', () => {
    const store = new MemoryStore();
    for (let i = 0; i < 10_001; i++) store.set(`k${i}`, entry([i]));
    expect(store.size).to.equal(10_000);
    expect(store.get('k0')).to.equal(undefined);
    expect(store.get('k10000')?.values).to.deep.equal([10_000]);
  });

  it('bounds approximate bytes with maxBytes, evicting old entries and refusing one larger than the budget', () => {
    const store = new MemoryStore({ maxBytes: 10_000 });
    const big = 'x'.repeat(2_000); // about 4 kB each
    store.set('a', entry([big]));
    store.set('b', entry([big]));
    expect(store.size).to.equal(2);
    store.set('c', entry([big]));
    expect(store.keys().sort()).to.deep.equal(['b', 'c']);
    expect(store.bytes).to.be.within(8_000, 10_000);
    store.set('huge', entry(['y'.repeat(10_000)]));
    expect(store.get('huge')).to.equal(undefined);
  });

  it('uses a custom sizeOf', () => {
    const sizeOf = sinon.spy((e: StoreEntry, _key: string) => e.values.length * 100);
    const store = new MemoryStore({ maxBytes: 250, sizeOf });
    store.set('a', entry([1, 2]));
    store.set('b', entry([1]));
    expect(store.size).to.equal(1);
    expect(store.keys()).to.deep.equal(['b']);
    expect(sizeOf.firstCall.args[1]).to.equal('a');
  });

  it('rejects bad bounds with an error naming the option', () => {
    for (const [options, path] of [
      [{ maxEntries: 0 }, 'MemoryStore.maxEntries'],
      [{ maxEntries: 1.5 }, 'MemoryStore.maxEntries'],
      [{ maxBytes: -1 }, 'MemoryStore.maxBytes'],
      [{ sizeOf: 3 }, 'MemoryStore.sizeOf'],
    ] as const) {
      let err: unknown;
      try {
        new MemoryStore(options as never);
      } catch (e) {
        err = e;
      }
      expect(isConfigError(err), path).to.equal(true);
      expect((err as Error).message).to.contain(path);
    }
  });

  it('defaultStore() is one process-wide MemoryStore', () => {
    expect(defaultStore()).to.be.instanceOf(MemoryStore);
    expect(defaultStore()).to.equal(defaultStore());
  });

  it('namespaces: cacheFirst and staleFallback use distinct prefixes', () => {
    expect(CACHE_PREFIX).to.equal('cache:');
    expect(STALE_PREFIX).to.equal('stale:');
  });

  it('the default size estimate grows with content and survives cycles, typed arrays, maps and dates', () => {
    const small = defaultSizeOf(entry([{ a: 1 }]), 'k');
    const large = defaultSizeOf(entry([{ a: 'x'.repeat(1000) }]), 'k');
    expect(large - small).to.be.greaterThan(1900);
    const cyclic: Record<string, unknown> = { name: 'x' };
    cyclic.self = cyclic;
    const odd = defaultSizeOf(entry([cyclic, new Uint8Array(4096), new Map([['k', 1]]), new Set([1]), new Date(), 10n, null, undefined]), 'k');
    expect(odd).to.be.greaterThan(4096);
    expect(Number.isFinite(odd)).to.equal(true);
  });

  describe('internal helpers', () => {
    it('readEntry: a sync throw or a bad shape is "no entry"; a rejected promise resolves to undefined; both are reported', async () => {
      const throwing: KeyedStore = {
        get: () => {
          throw new Error('disk gone');
        },
        set: () => undefined,
        delete: () => undefined,
        clear: () => undefined,
      };
      expect(readEntry(throwing, 'k', 'op')).to.equal(undefined);
      expect((warn.firstCall.args[0] as Error).message).to.equal('op: store.get() failed: disk gone');

      const odd: KeyedStore = { ...throwing, get: () => ({ values: [1], storedAt: 'yesterday' }) as never };
      expect(readEntry(odd, 'k', 'op')).to.equal(undefined);

      const rejecting: KeyedStore = { ...throwing, get: () => Promise.reject(new Error('redis down')) };
      expect(await readEntry(rejecting, 'k', 'op')).to.equal(undefined);
      expect((warn.secondCall.args[0] as Error).message).to.equal('op: store.get() failed: redis down');

      const good = entry([1], 3);
      const resolving: KeyedStore = { ...throwing, get: () => Promise.resolve(good) };
      expect(await readEntry(resolving, 'k', 'op')).to.equal(good);
    });

    it('writeEntry reports sync and async failures without throwing', async () => {
      const failing: KeyedStore = {
        get: () => undefined,
        set: () => {
          throw new Error('full');
        },
        delete: () => undefined,
        clear: () => undefined,
      };
      writeEntry(failing, 'k', entry([1]), 'op');
      writeEntry({ ...failing, set: () => Promise.reject(new Error('gone')) }, 'k', entry([1]), 'op');
      await new Promise((resolve) => setImmediate(resolve));
      expect(warn.getCalls().map((c) => (c.args[0] as Error).message)).to.deep.equal(['op: store.set() failed: full', 'op: store.set() failed: gone']);
    });

    it('replayOrigin knows the storedAt of values being replayed, only for the same values and only during the replay', () => {
      const a = { id: 1 };
      const seen: (number | undefined)[] = [];
      new Observable<unknown>((subscriber) => replayEntry(subscriber, entry([a], 42))).subscribe({
        complete: () => {
          seen.push(replayOrigin([a]), replayOrigin([{ id: 1 }]), replayOrigin([a, a]));
        },
      });
      expect(seen).to.deep.equal([42, undefined, undefined]);
      expect(replayOrigin([a])).to.equal(undefined);
    });
  });
});
