import { expect } from 'chai';
import sinon from 'sinon';
import { Observable, defer, firstValueFrom, lastValueFrom, of, take, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { Registry } from 'prom-client';
import { cacheFirst, type CacheResultInfo } from '../../src/operators/cacheFirst.js';
import { MemoryStore, defaultStore, type KeyedStore, type StoreEntry } from '../../src/operators/store.js';
import { isConfigError } from '../../src/errors/ConfigError.js';

const makeScheduler = (): TestScheduler =>
  new TestScheduler((actual, expected) => {
    expect(actual).to.deep.equal(expected);
  });

/** A store that answers every call with a promise, like a Redis-backed one. */
class AsyncStore implements KeyedStore {
  readonly map = new Map<string, StoreEntry>();
  gets = 0;
  async get(key: string): Promise<StoreEntry | undefined> {
    this.gets++;
    return this.map.get(key);
  }
  async set(key: string, entry: StoreEntry): Promise<void> {
    this.map.set(key, entry);
  }
  async delete(key: string): Promise<void> {
    this.map.delete(key);
  }
  async clear(): Promise<void> {
    this.map.clear();
  }
}

/** A cold source that counts its subscriptions and emits `values` synchronously. */
function counted<T>(values: T[]): { source: Observable<T>; calls: () => number } {
  let calls = 0;
  return {
    source: defer(() => {
      calls++;
      return of(...values);
    }),
    calls: () => calls,
  };
}

describe('cacheFirst', () => {
  const boom = new Error('boom');
  let store: MemoryStore;
  let warn: sinon.SinonStub;
  beforeEach(() => {
    store = new MemoryStore();
    warn = sinon.stub(process, 'emitWarning');
  });
  afterEach(() => {
    sinon.restore();
  });

  describe('the checklist', () => {
    it('never: subscribes upstream, stays silent, stores nothing', () => {
      const ts = makeScheduler();
      ts.run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('-');
        expectObservable(source.pipe(cacheFirst({ key: 'k', ttl: 10, store, scheduler: ts })), '^---!').toBe('-');
        expectSubscriptions(source.subscriptions).toBe('^---!');
      });
      expect(store.size).to.equal(0);
    });

    it('empty: completes and is not stored, so the next call goes upstream again', () => {
      const ts = makeScheduler();
      ts.run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('-|');
        const cached = source.pipe(cacheFirst({ key: 'k', ttl: 100, store, scheduler: ts }));
        expectObservable(cached).toBe('-|');
        expectObservable(cached, '---^').toBe('----|');
        expectSubscriptions(source.subscriptions).toBe(['^!', '---^!']);
      });
      expect(store.size).to.equal(0);
    });

    it('one value: passes it through, then serves it from the store while fresh', () => {
      const ts = makeScheduler();
      ts.run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('--a|');
        const cached = source.pipe(cacheFirst({ key: 'k', ttl: 10, store, scheduler: ts }));
        expectObservable(cached).toBe('--a|');
        expectObservable(cached, '-----^').toBe('-----(a|)');
        expectSubscriptions(source.subscriptions).toBe('^--!');
      });
    });

    it('many values: all are stored and replayed in order', () => {
      const ts = makeScheduler();
      const values = { a: 1, b: 2, c: 3 };
      ts.run(({ cold, expectObservable }) => {
        const cached = cold('a-b-c|', values).pipe(cacheFirst({ key: 'k', ttl: 100, store, scheduler: ts }));
        expectObservable(cached).toBe('a-b-c|', values);
        expectObservable(cached, '--------^').toBe('--------(abc|)', values);
      });
      expect(store.get('cache:k')).to.deep.equal({ values: [1, 2, 3], storedAt: 5 });
    });

    it('error: passes it on and stores nothing, so the next call goes upstream again', () => {
      const ts = makeScheduler();
      ts.run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('-#', undefined, boom);
        const cached = source.pipe(cacheFirst({ key: 'k', ttl: 100, store, scheduler: ts }));
        expectObservable(cached).toBe('-#', undefined, boom);
        expectObservable(cached, '---^').toBe('----#', undefined, boom);
        expectSubscriptions(source.subscriptions).toBe(['^!', '---^!']);
      });
      expect(store.size).to.equal(0);
    });

    it('an error after some values is passed on and nothing is stored', () => {
      const ts = makeScheduler();
      ts.run(({ cold, expectObservable }) => {
        expectObservable(cold('a-#', undefined, boom).pipe(cacheFirst({ key: 'k', ttl: 100, store, scheduler: ts }))).toBe(
          'a-#',
          undefined,
          boom,
        );
      });
      expect(store.size).to.equal(0);
    });

    it('early unsubscribe on a miss cancels upstream and stores nothing', () => {
      const ts = makeScheduler();
      ts.run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('-a---b|');
        const cached = source.pipe(cacheFirst({ key: 'k', ttl: 100, store, scheduler: ts }));
        expectObservable(cached, '^--!').toBe('-a-');
        expectSubscriptions(source.subscriptions).toBe('^--!');
      });
      expect(store.size).to.equal(0);
    });

    it('early unsubscribe on a hit stops the replay', () => {
      store.set('cache:k', { values: [1, 2, 3], storedAt: Date.now() });
      const seen: number[] = [];
      of(9)
        .pipe(cacheFirst<number>({ key: 'k', ttl: 60_000, store }), take(2))
        .subscribe((v) => seen.push(v));
      expect(seen).to.deep.equal([1, 2]);
    });

    it('a key function that throws sends its error to the subscriber, without calling upstream', () => {
      const ts = makeScheduler();
      ts.run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('a|');
        const cached = source.pipe(
          cacheFirst({
            key: () => {
              throw boom;
            },
            ttl: 100,
            store,
            scheduler: ts,
          }),
        );
        expectObservable(cached).toBe('#', undefined, boom);
        expectSubscriptions(source.subscriptions).toBe([]);
      });
    });

    it('a key function that returns no string is an error naming cacheFirst', async () => {
      const cached = of(1).pipe(cacheFirst({ key: () => 42 as unknown as string, ttl: 100, store }));
      const err = await firstValueFrom(cached).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(TypeError);
      expect((err as Error).message).to.contain('cacheFirst').and.contain('key()');
    });

    it('an onResult callback that throws does not break the stream', () => {
      const seen: number[][] = [];
      const op = cacheFirst<number>({
        key: 'k',
        ttl: 60_000,
        store,
        onResult: () => {
          throw new Error('listener broke');
        },
      });
      of(1, 2).pipe(op, toArray()).subscribe((v) => seen.push(v));
      of(7).pipe(op, toArray()).subscribe((v) => seen.push(v));
      expect(seen).to.deep.equal([
        [1, 2],
        [1, 2],
      ]);
      expect(warn.callCount).to.equal(2);
      expect((warn.firstCall.args[0] as Error).message).to.equal('listener broke');
    });
  });

  describe('freshness', () => {
    it('serves while age < ttl and calls upstream again from age = ttl', () => {
      const ts = makeScheduler();
      ts.run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('--a|');
        const cached = source.pipe(cacheFirst({ key: 'k', ttl: 10, store, scheduler: ts }));
        expectObservable(cached).toBe('--a|'); // stored at frame 3
        expectObservable(cached, '------------^').toBe('------------(a|)'); // age 9
        expectObservable(cached, '-------------^').toBe('---------------a|'); // age 10: miss
        expectSubscriptions(source.subscriptions).toBe(['^--!', '-------------^--!']);
      });
      expect(store.get('cache:k')?.storedAt).to.equal(16);
    });

    it('ttl 0 never hits but still stores; ttl Infinity never expires', () => {
      const zero = counted([1]);
      const never = zero.source.pipe(cacheFirst({ key: 'zero', ttl: 0, store }));
      never.subscribe();
      never.subscribe();
      expect(zero.calls()).to.equal(2);
      expect(store.get('cache:zero')?.values).to.deep.equal([1]);

      const forever = counted([1]);
      store.set('cache:old', { values: [5], storedAt: 0 });
      const seen: number[] = [];
      forever.source.pipe(cacheFirst({ key: 'old', ttl: Infinity, store })).subscribe((v) => seen.push(v));
      expect(seen).to.deep.equal([5]);
      expect(forever.calls()).to.equal(0);
    });

    it('forceRefresh skips the read but still writes; a function decides per subscription', () => {
      const ts = makeScheduler();
      const refreshKeys: string[] = [];
      ts.run(({ cold, expectObservable, expectSubscriptions }) => {
        const first = cold('--a|');
        const second = cold('--b|');
        const read = first.pipe(cacheFirst({ key: 'k', ttl: 100, store, scheduler: ts }));
        let force = true;
        const refresh = second.pipe(
          cacheFirst({
            key: 'k',
            ttl: 100,
            store,
            scheduler: ts,
            forceRefresh: (key) => {
              refreshKeys.push(key);
              const now = force;
              force = false;
              return now;
            },
          }),
        );
        expectObservable(read).toBe('--a|');
        expectObservable(refresh, '-----^').toBe('-------b|');
        expectObservable(read, '----------^').toBe('----------(b|)');
        expectObservable(refresh, '-----------^').toBe('-----------(b|)');
        expectSubscriptions(first.subscriptions).toBe('^--!');
        expectSubscriptions(second.subscriptions).toBe('-----^--!');
      });
      expect(refreshKeys).to.deep.equal(['k', 'k']);
    });

    it('forceRefresh: true always calls upstream', () => {
      const c = counted(['x']);
      store.set('cache:k', { values: ['old'], storedAt: Date.now() });
      const seen: string[] = [];
      c.source.pipe(cacheFirst({ key: 'k', ttl: 60_000, store, forceRefresh: true })).subscribe((v) => seen.push(v));
      expect(seen).to.deep.equal(['x']);
      expect(c.calls()).to.equal(1);
      expect(store.get('cache:k')?.values).to.deep.equal(['x']);
    });

    it('a key function is called once per subscription and separates entries', () => {
      let window = 'a';
      let keyCalls = 0;
      const c = counted([1]);
      const cached = c.source.pipe(
        cacheFirst({
          key: () => {
            keyCalls++;
            return `prices:${window}`;
          },
          ttl: 60_000,
          store,
        }),
      );
      cached.subscribe();
      cached.subscribe();
      window = 'b';
      cached.subscribe();
      expect(keyCalls).to.equal(3);
      expect(c.calls()).to.equal(2);
      expect(store.keys().sort()).to.deep.equal(['cache:prices:a', 'cache:prices:b']);
    });
  });

  describe('concurrent subscribers (single flight)', () => {
    it('concurrent misses share one upstream subscription; a late joiner catches up', () => {
      const ts = makeScheduler();
      ts.run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('-a--b|');
        const cached = source.pipe(cacheFirst({ key: 'k', ttl: 100, store, scheduler: ts }));
        expectObservable(cached).toBe('-a--b|');
        expectObservable(cached, '--^').toBe('--a-b|');
        expectObservable(cached, '---^').toBe('---ab|');
        expectSubscriptions(source.subscriptions).toBe('^----!');
      });
    });

    it('one subscriber unsubscribing does not cancel the others', () => {
      const ts = makeScheduler();
      ts.run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('----a|');
        const cached = source.pipe(cacheFirst({ key: 'k', ttl: 100, store, scheduler: ts }));
        expectObservable(cached, '^-!').toBe('---');
        expectObservable(cached, '-^').toBe('----a|');
        expectSubscriptions(source.subscriptions).toBe('^----!');
      });
      expect(store.get('cache:k')?.values).to.deep.equal(['a']);
    });

    it('when all subscribers unsubscribe, upstream is cancelled and the next miss starts afresh', () => {
      const ts = makeScheduler();
      ts.run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('----a|');
        const cached = source.pipe(cacheFirst({ key: 'k', ttl: 100, store, scheduler: ts }));
        expectObservable(cached, '^-!').toBe('---');
        expectObservable(cached, '-^-!').toBe('----');
        expectObservable(cached, '------^').toBe('----------a|');
        expectSubscriptions(source.subscriptions).toBe(['^--!', '------^----!']);
      });
    });

    it('an error reaches every subscriber of the flight', () => {
      const ts = makeScheduler();
      ts.run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('---#', undefined, boom);
        const cached = source.pipe(cacheFirst({ key: 'k', ttl: 100, store, scheduler: ts }));
        expectObservable(cached).toBe('---#', undefined, boom);
        expectObservable(cached, '-^').toBe('---#', undefined, boom);
        expectSubscriptions(source.subscriptions).toBe('^--!');
      });
    });

    it('a forced refresh joins a call already in flight', () => {
      const ts = makeScheduler();
      ts.run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('---a|');
        const normal = source.pipe(cacheFirst({ key: 'k', ttl: 100, store, scheduler: ts }));
        const forced = source.pipe(cacheFirst({ key: 'k', ttl: 100, store, scheduler: ts, forceRefresh: true }));
        expectObservable(normal).toBe('---a|');
        expectObservable(forced, '-^').toBe('---a|');
        expectSubscriptions(source.subscriptions).toBe('^---!');
      });
    });

    it('the same key in two stores does not share a flight', () => {
      const ts = makeScheduler();
      const other = new MemoryStore();
      ts.run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('--a|');
        expectObservable(source.pipe(cacheFirst({ key: 'k', ttl: 100, store, scheduler: ts }))).toBe('--a|');
        expectObservable(source.pipe(cacheFirst({ key: 'k', ttl: 100, store: other, scheduler: ts })), '-^').toBe('---a|');
        expectSubscriptions(source.subscriptions).toBe(['^--!', '-^--!']);
      });
    });
  });

  describe('reporting', () => {
    it('onResult tells hit, miss and refresh before values flow, with the age of a hit', () => {
      const ts = makeScheduler();
      const infos: CacheResultInfo[] = [];
      ts.run(({ cold, expectObservable }) => {
        const source = cold('--a|');
        const onResult = (info: CacheResultInfo): void => {
          infos.push(info);
        };
        const cached = source.pipe(cacheFirst({ key: 'k', ttl: 100, store, scheduler: ts, onResult }));
        const forced = source.pipe(cacheFirst({ key: 'k', ttl: 100, store, scheduler: ts, onResult, forceRefresh: true }));
        expectObservable(cached).toBe('--a|');
        expectObservable(cached, '-------^').toBe('-------(a|)');
        expectObservable(forced, '---------^').toBe('-----------a|');
      });
      expect(infos).to.deep.equal([
        { key: 'k', result: 'miss', hit: false, ageMs: undefined },
        { key: 'k', result: 'hit', hit: true, ageMs: 4 },
        { key: 'k', result: 'refresh', hit: false, ageMs: undefined },
      ]);
    });

    it('counts hit / miss / refresh in tributary_cache_requests_total{cache,result}', async () => {
      const registry = new Registry();
      const c = counted([1]);
      c.source.pipe(cacheFirst({ key: 'stations', ttl: 60_000, store, registry })).subscribe();
      c.source.pipe(cacheFirst({ key: 'stations', ttl: 60_000, store, registry })).subscribe();
      c.source.pipe(cacheFirst({ key: 'stations', ttl: 60_000, store, registry })).subscribe();
      c.source.pipe(cacheFirst({ key: () => 'x', ttl: 60_000, store, registry, forceRefresh: true })).subscribe();
      const metric = await registry.getSingleMetric('tributary_cache_requests_total')!.get();
      const value = (cache: string, result: string): number | undefined =>
        metric.values.find((v) => v.labels.cache === cache && v.labels.result === result)?.value;
      expect(value('stations', 'miss')).to.equal(1);
      expect(value('stations', 'hit')).to.equal(2);
      expect(value('cacheFirst', 'refresh')).to.equal(1);
      const text = await registry.getSingleMetricAsString('tributary_cache_requests_total');
      expect(text).to.contain('tributary_cache_requests_total{cache="stations",result="hit"} 2');
    });

    it('the name option sets the cache label', async () => {
      const registry = new Registry();
      of(1).pipe(cacheFirst({ key: 'k', ttl: 1000, store, registry, name: 'air' })).subscribe();
      const text = await registry.getSingleMetricAsString('tributary_cache_requests_total');
      expect(text).to.contain('cache="air",result="miss"} 1');
    });
  });

  describe('stores', () => {
    it('uses the process-wide default store when none is given', () => {
      const key = `default-store-test-${Math.random()}`;
      try {
        const c = counted([1]);
        c.source.pipe(cacheFirst({ key, ttl: 60_000 })).subscribe();
        c.source.pipe(cacheFirst({ key, ttl: 60_000 })).subscribe();
        expect(c.calls()).to.equal(1);
        expect(defaultStore().get(`cache:${key}`)?.values).to.deep.equal([1]);
      } finally {
        defaultStore().delete(`cache:${key}`);
      }
    });

    it('works with an asynchronous store: miss, then hit without calling upstream', async () => {
      const async = new AsyncStore();
      const c = counted([1, 2]);
      const cached = c.source.pipe(cacheFirst({ key: 'k', ttl: 60_000, store: async }));
      expect(await lastValueFrom(cached.pipe(toArray()))).to.deep.equal([1, 2]);
      await Promise.resolve();
      expect(async.map.get('cache:k')?.values).to.deep.equal([1, 2]);
      expect(await lastValueFrom(cached.pipe(toArray()))).to.deep.equal([1, 2]);
      expect(c.calls()).to.equal(1);
      expect(async.gets).to.equal(2);
    });

    it('an asynchronous read that resolves after unsubscribe does not call upstream', async () => {
      const async = new AsyncStore();
      const c = counted([1]);
      const seen: number[] = [];
      const sub = c.source.pipe(cacheFirst({ key: 'k', ttl: 60_000, store: async })).subscribe((v) => seen.push(v));
      sub.unsubscribe();
      await new Promise((resolve) => setImmediate(resolve));
      expect(c.calls()).to.equal(0);
      expect(seen).to.deep.equal([]);
    });

    it('a store whose get fails (sync or async) counts as a miss and is reported', async () => {
      const failing: KeyedStore = {
        get: () => {
          throw new Error('disk gone');
        },
        set: () => undefined,
        delete: () => undefined,
        clear: () => undefined,
      };
      const seen: number[] = [];
      of(1).pipe(cacheFirst<number>({ key: 'k', ttl: 100, store: failing })).subscribe((v) => seen.push(v));
      expect(seen).to.deep.equal([1]);
      expect((warn.firstCall.args[0] as Error).message).to.equal('cacheFirst: store.get() failed: disk gone');

      const rejecting: KeyedStore = { ...failing, get: () => Promise.reject(new Error('redis down')) };
      expect(await lastValueFrom(of(2).pipe(cacheFirst<number>({ key: 'k', ttl: 100, store: rejecting })))).to.equal(2);
      expect((warn.secondCall.args[0] as Error).message).to.equal('cacheFirst: store.get() failed: redis down');
    });

    it('a store whose set fails still delivers the values and reports the failure', async () => {
      const rejecting: KeyedStore = {
        get: () => undefined,
        set: () => Promise.reject(new Error('read-only')),
        delete: () => undefined,
        clear: () => undefined,
      };
      expect(await lastValueFrom(of(3).pipe(cacheFirst<number>({ key: 'k', ttl: 100, store: rejecting })))).to.equal(3);
      await new Promise((resolve) => setImmediate(resolve));
      expect((warn.firstCall.args[0] as Error).message).to.equal('cacheFirst: store.set() failed: read-only');
    });

    it('an entry of the wrong shape counts as a miss', () => {
      store.set('cache:k', { values: 'nope', storedAt: Date.now() } as unknown as StoreEntry);
      const c = counted([1]);
      c.source.pipe(cacheFirst({ key: 'k', ttl: 60_000, store })).subscribe();
      expect(c.calls()).to.equal(1);
    });
  });

  describe('bad options', () => {
    it('rejects a missing or empty key, a negative or NaN ttl and a bad forceRefresh, naming the option', () => {
      const cases: [unknown, string][] = [
        [{ key: '', ttl: 1 }, 'cacheFirst.key'],
        [{ key: 5, ttl: 1 }, 'cacheFirst.key'],
        [{ key: 'k', ttl: -1 }, 'cacheFirst.ttl'],
        [{ key: 'k', ttl: Number.NaN }, 'cacheFirst.ttl'],
        [{ key: 'k' }, 'cacheFirst.ttl'],
        [{ key: 'k', ttl: 1, forceRefresh: 'yes' }, 'cacheFirst.forceRefresh'],
        [{ key: 'k', ttl: 1, onResult: 1 }, 'cacheFirst.onResult'],
        [{ key: 'k', ttl: 1, store: {} }, 'cacheFirst.store'],
        [{ key: 'k', ttl: 1, scheduler: {} }, 'cacheFirst.scheduler'],
        [{ key: 'k', ttl: 1, name: '' }, 'cacheFirst.name'],
      ];
      for (const [options, path] of cases) {
        let err: unknown;
        try {
          cacheFirst(options as never);
        } catch (e) {
          err = e;
        }
        expect(isConfigError(err), path).to.equal(true);
        expect((err as Error).message).to.contain(path);
      }
    });
  });
});
