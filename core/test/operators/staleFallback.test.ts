import { expect } from 'chai';
import sinon from 'sinon';
import { type Observable, defer, lastValueFrom, of, tap, throwError, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { Registry } from 'prom-client';
import { staleFallback, type StaleInfo } from '../../src/operators/staleFallback.js';
import { cacheFirst } from '../../src/operators/cacheFirst.js';
import { MemoryStore, type KeyedStore, type StoreEntry } from '../../src/operators/store.js';
import { isConfigError } from '../../src/errors/ConfigError.js';

const makeScheduler = (): TestScheduler =>
  new TestScheduler((actual, expected) => {
    expect(actual).to.deep.equal(expected);
  });

/** One observable per call, in order: call n subscribes to `calls[n]`. */
function sequence<T>(calls: Observable<T>[]): Observable<T> {
  let n = 0;
  return defer(() => calls[Math.min(n++, calls.length - 1)]!);
}

class AsyncStore implements KeyedStore {
  readonly map = new Map<string, StoreEntry>();
  async get(key: string): Promise<StoreEntry | undefined> {
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

describe('staleFallback', () => {
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
    it('never: stays silent and subscribed, stores nothing', () => {
      const ts = makeScheduler();
      ts.run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('-');
        expectObservable(source.pipe(staleFallback({ key: 'k', store, scheduler: ts })), '^--!').toBe('-');
        expectSubscriptions(source.subscriptions).toBe('^--!');
      });
      expect(store.size).to.equal(0);
    });

    it('empty: completes, and an empty success is remembered as the last good result', () => {
      const ts = makeScheduler();
      ts.run(({ cold, expectObservable }) => {
        const calls = sequence([cold('-a|'), cold('--|'), cold('-#', undefined, boom)]);
        const guarded = calls.pipe(staleFallback({ key: 'k', store, scheduler: ts }));
        expectObservable(guarded).toBe('-a|');
        expectObservable(guarded, '----^').toBe('------|');
        // The latest truth was "nothing": the older 'a' is not replayed in its place.
        expectObservable(guarded, '--------^').toBe('---------|');
      });
      expect(store.get('stale:k')).to.deep.equal({ values: [], storedAt: 6 });
    });

    it('one value: passes it through and remembers it', () => {
      const ts = makeScheduler();
      ts.run(({ cold, expectObservable }) => {
        expectObservable(cold('--a|').pipe(staleFallback({ key: 'k', store, scheduler: ts }))).toBe('--a|');
      });
      expect(store.get('stale:k')).to.deep.equal({ values: ['a'], storedAt: 3 });
    });

    it('many values: passes them through and replays them all, in order, on a later failure', () => {
      const ts = makeScheduler();
      const v = { a: 1, b: 2, c: 3 };
      ts.run(({ cold, expectObservable }) => {
        const guarded = sequence([cold('a-b-c|', v), cold('---#', undefined, boom)]).pipe(staleFallback({ key: 'k', store, scheduler: ts }));
        expectObservable(guarded).toBe('a-b-c|', v);
        expectObservable(guarded, '--------^').toBe('-----------(abc|)', v);
      });
    });

    it('error with no last good result: the original error goes through', () => {
      const ts = makeScheduler();
      ts.run(({ cold, expectObservable }) => {
        expectObservable(cold('--#', undefined, boom).pipe(staleFallback({ key: 'k', store, scheduler: ts }))).toBe('--#', undefined, boom);
      });
      expect(store.size).to.equal(0);
    });

    it('an error after some values were emitted is passed on: fresh and stale values never mix', () => {
      const ts = makeScheduler();
      ts.run(({ cold, expectObservable }) => {
        const guarded = sequence([cold('a|'), cold('-b-#', undefined, boom)]).pipe(staleFallback({ key: 'k', store, scheduler: ts }));
        expectObservable(guarded).toBe('a|');
        expectObservable(guarded, '---^').toBe('----b-#', undefined, boom);
      });
      expect(store.get('stale:k')?.values).to.deep.equal(['a']);
    });

    it('early unsubscribe cancels upstream and remembers nothing', () => {
      const ts = makeScheduler();
      ts.run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('-a---b|');
        expectObservable(source.pipe(staleFallback({ key: 'k', store, scheduler: ts })), '^--!').toBe('-a-');
        expectSubscriptions(source.subscriptions).toBe('^--!');
      });
      expect(store.size).to.equal(0);
    });

    it('concurrent subscribers each get their own call and their own fallback', () => {
      const ts = makeScheduler();
      ts.run(({ cold, expectObservable, expectSubscriptions }) => {
        const failing = cold('--#', undefined, boom);
        store.set('stale:k', { values: ['old'], storedAt: 0 });
        const guarded = failing.pipe(staleFallback({ key: 'k', store, scheduler: ts }));
        expectObservable(guarded).toBe('--(o|)', { o: 'old' });
        expectObservable(guarded, '-^').toBe('---(o|)', { o: 'old' });
        expectSubscriptions(failing.subscriptions).toBe(['^-!', '-^-!']);
      });
    });

    it('a key function that throws sends its error to the subscriber without calling upstream', () => {
      const ts = makeScheduler();
      ts.run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('a|');
        const guarded = source.pipe(
          staleFallback({
            key: () => {
              throw boom;
            },
            store,
            scheduler: ts,
          }),
        );
        expectObservable(guarded).toBe('#', undefined, boom);
        expectSubscriptions(source.subscriptions).toBe([]);
      });
    });

    it('an onStale callback that throws does not stop the stale values', () => {
      store.set('stale:k', { values: [1, 2], storedAt: Date.now() });
      const guarded = throwError(() => boom).pipe(
        staleFallback<number>({
          key: 'k',
          store,
          onStale: () => {
            throw new Error('listener broke');
          },
        }),
      );
      const seen: number[][] = [];
      guarded.pipe(toArray()).subscribe((v) => seen.push(v));
      expect(seen).to.deep.equal([[1, 2]]);
      expect(warn.callCount).to.equal(1);
      expect((warn.firstCall.args[0] as Error).message).to.equal('listener broke');
    });
  });

  describe('maxAge', () => {
    it('replays while age <= maxAge and rethrows the original error beyond it', () => {
      const ts = makeScheduler();
      const stale: StaleInfo[] = [];
      ts.run(({ cold, expectObservable }) => {
        const good = cold('a|');
        const bad = cold('#', undefined, boom);
        const guarded = sequence([good, bad, bad]).pipe(
          staleFallback({ key: 'k', maxAge: 10, store, scheduler: ts, onStale: (info) => stale.push(info) }),
        );
        expectObservable(guarded).toBe('a|'); // stored at frame 1
        expectObservable(guarded, '-----------^').toBe('-----------(a|)'); // age 10
        expectObservable(guarded, '------------^').toBe('------------#', undefined, boom); // age 11
      });
      expect(stale).to.deep.equal([{ key: 'k', ageMs: 10, error: boom, count: 1 }]);
    });

    it('defaults to Infinity: any old result beats no result', () => {
      store.set('stale:k', { values: ['ancient'], storedAt: 0 });
      const seen: string[] = [];
      throwError(() => boom)
        .pipe(staleFallback<string>({ key: 'k', store }))
        .subscribe({ next: (v) => seen.push(v), error: () => seen.push('error') });
      expect(seen).to.deep.equal(['ancient']);
    });
  });

  describe('marking stale values', () => {
    it('withMeta wraps fresh values as stale: false, ageMs 0 and replayed ones with their age', () => {
      const ts = makeScheduler();
      ts.run(({ cold, expectObservable }) => {
        const guarded = sequence([cold('-a-b|'), cold('--#', undefined, boom)]).pipe(staleFallback.withMeta({ key: 'k', store, scheduler: ts }));
        expectObservable(guarded).toBe('-a-b|', { a: { value: 'a', stale: false, ageMs: 0 }, b: { value: 'b', stale: false, ageMs: 0 } });
        expectObservable(guarded, '-------^').toBe('---------(ab|)', {
          a: { value: 'a', stale: true, ageMs: 5 },
          b: { value: 'b', stale: true, ageMs: 5 },
        });
      });
      // The store holds the plain values, not the wrappers.
      expect(store.get('stale:k')?.values).to.deep.equal(['a', 'b']);
    });

    it('onStale is called once, before the stale values, with key, age, error and count', () => {
      const ts = makeScheduler();
      const events: string[] = [];
      ts.run(({ cold, expectObservable }) => {
        const guarded = sequence([cold('ab|'), cold('---#', undefined, boom)]).pipe(
          staleFallback({ key: () => 'air', store, scheduler: ts, onStale: (i) => events.push(`stale ${i.key} ${i.ageMs} ${i.count} ${(i.error as Error).message}`) }),
          tap((v) => events.push(`value ${v}`)),
        );
        expectObservable(guarded).toBe('ab|');
        expectObservable(guarded, '----^').toBe('-------(ab|)');
      });
      expect(events).to.deep.equal(['value a', 'value b', 'stale air 5 2 boom', 'value a', 'value b']);
    });

    it('counts served stale results in tributary_stale_served_total{name}', async () => {
      const registry = new Registry();
      store.set('stale:k', { values: [1], storedAt: Date.now() });
      const guarded = throwError(() => boom).pipe(staleFallback({ key: 'k', store, registry, name: 'prices' }));
      guarded.subscribe();
      guarded.subscribe();
      throwError(() => boom)
        .pipe(staleFallback({ key: 'missing', store, registry, name: 'prices' }))
        .subscribe({ error: () => undefined });
      const text = await registry.getSingleMetricAsString('tributary_stale_served_total');
      expect(text).to.contain('tributary_stale_served_total{name="prices"} 2');
    });
  });

  describe('sharing a store with cacheFirst', () => {
    it('keeps separate entries (cache: and stale:) and falls back once the cache has expired and the call fails', () => {
      const ts = makeScheduler();
      const stale: StaleInfo[] = [];
      ts.run(({ cold, expectObservable }) => {
        const call = sequence([cold('--a|'), cold('-#', undefined, boom)]);
        const stack = call.pipe(
          cacheFirst({ key: 'k', ttl: 5, store, scheduler: ts }),
          staleFallback({ key: 'k', store, scheduler: ts, onStale: (i) => stale.push(i) }),
        );
        expectObservable(stack).toBe('--a|'); // fetched and stored at 3
        expectObservable(stack, '-----^').toBe('-----(a|)'); // cache hit at 5
        expectObservable(stack, '----------^').toBe('-----------(a|)'); // cache expired, call fails at 11: stale
      });
      expect(store.keys().sort()).to.deep.equal(['cache:k', 'stale:k']);
      // The age counts from the fetch at frame 3, not from the cache hit at frame 5 that passed through.
      expect(stale.map((i) => i.ageMs)).to.deep.equal([8]);
      expect(store.get('stale:k')?.storedAt).to.equal(3);
    });

    it('a cache hit passing through does not rewrite the stale copy', () => {
      const stack = of({ id: 1 }).pipe(cacheFirst({ key: 'k', ttl: 60_000, store }), staleFallback({ key: 'k', store }));
      stack.subscribe();
      const set = sinon.spy(store, 'set');
      const seen: unknown[] = [];
      stack.subscribe((v) => seen.push(v));
      expect(seen).to.deep.equal([{ id: 1 }]);
      expect(set.callCount).to.equal(0);
    });

    it('a cacheFirst miss that errors is never cached, while the stale copy stays', () => {
      const ts = makeScheduler();
      ts.run(({ cold, expectObservable }) => {
        const call = sequence([cold('a|'), cold('#', undefined, boom), cold('b|')]);
        const stack = call.pipe(cacheFirst({ key: 'k', ttl: 0, store, scheduler: ts }), staleFallback({ key: 'k', store, scheduler: ts }));
        expectObservable(stack).toBe('a|');
        expectObservable(stack, '---^').toBe('---(a|)');
        expectObservable(stack, '-----^').toBe('-----b|');
      });
      expect(store.get('cache:k')).to.deep.equal({ values: ['b'], storedAt: 6 });
      expect(store.get('stale:k')).to.deep.equal({ values: ['b'], storedAt: 6 });
    });
  });

  describe('stores', () => {
    it('works with an asynchronous store', async () => {
      const async = new AsyncStore();
      let fail = false;
      const call = defer(() => (fail ? throwError(() => boom) : of(1, 2)));
      const guarded = call.pipe(staleFallback<number>({ key: 'k', store: async }));
      expect(await lastValueFrom(guarded.pipe(toArray()))).to.deep.equal([1, 2]);
      await Promise.resolve();
      fail = true;
      expect(await lastValueFrom(guarded.pipe(toArray()))).to.deep.equal([1, 2]);
      await async.clear();
      const err = await lastValueFrom(guarded).catch((e: unknown) => e);
      expect(err).to.equal(boom);
    });

    it('an asynchronous read that resolves after unsubscribe emits nothing', async () => {
      const async = new AsyncStore();
      async.map.set('stale:k', { values: [1], storedAt: Date.now() });
      const seen: unknown[] = [];
      const onStale = sinon.spy();
      const sub = throwError(() => boom)
        .pipe(staleFallback({ key: 'k', store: async, onStale }))
        .subscribe({ next: (v) => seen.push(v), error: (e) => seen.push(e), complete: () => seen.push('done') });
      sub.unsubscribe();
      await new Promise((resolve) => setImmediate(resolve));
      expect(seen).to.deep.equal([]);
      expect(onStale.callCount).to.equal(0);
    });

    it('a failing store read rethrows the original error and reports the store failure', async () => {
      const rejecting: KeyedStore = {
        get: () => Promise.reject(new Error('redis down')),
        set: () => undefined,
        delete: () => undefined,
        clear: () => undefined,
      };
      const err = await lastValueFrom(throwError(() => boom).pipe(staleFallback({ key: 'k', store: rejecting }))).catch((e: unknown) => e);
      expect(err).to.equal(boom);
      expect((warn.firstCall.args[0] as Error).message).to.equal('staleFallback: store.get() failed: redis down');
    });
  });

  describe('bad options', () => {
    it('rejects a bad key, maxAge or onStale with an error naming the option', () => {
      const cases: [unknown, string][] = [
        [{ key: '' }, 'staleFallback.key'],
        [{}, 'staleFallback.key'],
        [{ key: 'k', maxAge: -5 }, 'staleFallback.maxAge'],
        [{ key: 'k', maxAge: 'long' }, 'staleFallback.maxAge'],
        [{ key: 'k', onStale: 'log' }, 'staleFallback.onStale'],
        [{ key: 'k', store: 'redis' }, 'staleFallback.store'],
        [{ key: 'k', scheduler: 'fast' }, 'staleFallback.scheduler'],
      ];
      for (const [options, path] of cases) {
        let err: unknown;
        try {
          staleFallback(options as never);
        } catch (e) {
          err = e;
        }
        expect(isConfigError(err), path).to.equal(true);
        expect((err as Error).message).to.contain(path);
      }
      expect(() => staleFallback.withMeta({ key: 'k', maxAge: -1 })).to.throw('staleFallback.withMeta.maxAge');
    });
  });
});
