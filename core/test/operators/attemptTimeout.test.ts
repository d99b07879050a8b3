import { expect } from 'chai';
import sinon from 'sinon';
import { Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { attemptTimeout } from '../../src/operators/attemptTimeout.js';
import { retryBackoff } from '../../src/operators/retryBackoff.js';
import { TimeoutError, isTimeoutError } from '../../src/errors/TimeoutError.js';
import { isRetriable } from '../../src/errors/retriable.js';

const makeScheduler = (): TestScheduler =>
  new TestScheduler((actual, expected) => {
    expect(actual).to.deep.equal(expected);
  });

describe('attemptTimeout', () => {
  afterEach(() => sinon.restore());

  describe('the checklist', () => {
    it('never: errors with a retriable TimeoutError after ms and unsubscribes the source', () => {
      makeScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('-');
        expectObservable(source.pipe(attemptTimeout(50))).toBe('50ms #', undefined, new TimeoutError('attempt', 50));
        expectSubscriptions(source.subscriptions).toBe('^ 49ms !');
      });
    });

    it('empty: completes and never times out later', () => {
      makeScheduler().run(({ cold, expectObservable }) => {
        expectObservable(cold('|').pipe(attemptTimeout(5))).toBe('|');
        expectObservable(cold('---|').pipe(attemptTimeout({ first: 5 }))).toBe('---|');
      });
    });

    it('one value: passes it through when the attempt completes in time', () => {
      makeScheduler().run(({ cold, expectObservable }) => {
        expectObservable(cold('--a|').pipe(attemptTimeout(4))).toBe('--a|');
      });
    });

    it('many values: the limit covers the whole attempt, up to completion, not the first value', () => {
      makeScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('a-b-c-d|');
        expectObservable(source.pipe(attemptTimeout(5, { what: 'price request' }))).toBe(
          'a-b-c#',
          undefined,
          new TimeoutError('price request', 5),
        );
        expectSubscriptions(source.subscriptions).toBe('^----!');
      });
    });

    it('error: a source error passes through before the limit, and the timer is dropped', () => {
      makeScheduler().run(({ cold, expectObservable }) => {
        const boom = new Error('boom');
        expectObservable(cold('-a-#', undefined, boom).pipe(attemptTimeout(10))).toBe('-a-#', undefined, boom);
      });
      const clock = sinon.useFakeTimers();
      const seen: unknown[] = [];
      new Observable<number>((s) => {
        const t = setTimeout(() => s.error(new Error('late failure')), 100);
        return () => clearTimeout(t);
      })
        .pipe(attemptTimeout({ total: 1000, each: 500 }))
        .subscribe({ error: (e: unknown) => seen.push(e) });
      clock.tick(100);
      expect(seen.map((e) => (e as Error).message)).to.deep.equal(['late failure']);
      expect(clock.countTimers()).to.equal(0);
    });

    it('early unsubscribe unsubscribes the source and leaves no timer (real timers)', () => {
      const clock = sinon.useFakeTimers();
      let unsubscribed = false;
      const source = new Observable<number>(() => () => (unsubscribed = true));
      const errors: unknown[] = [];
      const sub = source.pipe(attemptTimeout({ total: 1000, first: 500, each: 100 })).subscribe({ error: (e: unknown) => errors.push(e) });
      expect(clock.countTimers()).to.equal(2);
      sub.unsubscribe();
      expect(unsubscribed).to.equal(true);
      expect(clock.countTimers()).to.equal(0);
      clock.tick(5000);
      expect(errors).to.deep.equal([]);
    });

    it('early unsubscribe in virtual time', () => {
      makeScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('a----b|');
        expectObservable(source.pipe(attemptTimeout(100)), '^--!').toBe('a--');
        expectSubscriptions(source.subscriptions).toBe('^--!');
      });
    });

    it('concurrent subscribers: each subscription has its own clock', () => {
      makeScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('----a|');
        const limited = source.pipe(attemptTimeout(8));
        expectObservable(limited).toBe('----a|');
        expectObservable(limited, '6ms ^').toBe('----------a|');
        expectSubscriptions(source.subscriptions).toBe(['^----!', '6ms ^----!']);
      });
    });

    it('has no user callback; a source that throws while subscribing errors through', () => {
      makeScheduler().run(({ expectObservable }) => {
        const bad = new Error('cannot start');
        const source = new Observable<number>(() => {
          throw bad;
        });
        expectObservable(source.pipe(attemptTimeout(10))).toBe('#', undefined, bad);
      });
    });
  });

  describe('first and each', () => {
    it('first bounds the wait for the first value; nothing limits the rest', () => {
      makeScheduler().run(({ cold, expectObservable }) => {
        expectObservable(cold('---a--------b|').pipe(attemptTimeout({ first: 4 }))).toBe('---a--------b|');
        expectObservable(cold('-----a|').pipe(attemptTimeout({ first: 4 }))).toBe(
          '----#',
          undefined,
          new TimeoutError('attempt (waiting for the first value)', 4),
        );
      });
    });

    it('each bounds the silence between notifications, and the first value when first is absent', () => {
      makeScheduler().run(({ cold, expectObservable }) => {
        expectObservable(cold('--a--b--c--|').pipe(attemptTimeout({ each: 3 }))).toBe('--a--b--c--|');
        expectObservable(cold('--a-----b|').pipe(attemptTimeout({ each: 3 }))).toBe(
          '--a--#',
          undefined,
          new TimeoutError('attempt (waiting for the next value)', 3),
        );
        expectObservable(cold('-----a|').pipe(attemptTimeout({ each: 3 }))).toBe(
          '---#',
          undefined,
          new TimeoutError('attempt (waiting for the first value)', 3),
        );
        // last value to completion counts too
        expectObservable(cold('a-----|').pipe(attemptTimeout({ each: 3 }))).toBe(
          'a--#',
          undefined,
          new TimeoutError('attempt (waiting for the next value)', 3),
        );
      });
    });

    it('first overrides each for the first value; total still bounds the whole attempt', () => {
      makeScheduler().run(({ cold, expectObservable }) => {
        expectObservable(cold('-----a-b-c|').pipe(attemptTimeout({ first: 6, each: 2 }))).toBe('-----a-b-c|');
        expectObservable(cold('-----a-b-c|').pipe(attemptTimeout({ first: 6, each: 2, total: 8 }))).toBe(
          '-----a-b#',
          undefined,
          new TimeoutError('attempt', 8),
        );
      });
    });

    it('Infinity disables a limit; all Infinity leaves the source as it is', () => {
      makeScheduler().run(({ cold, expectObservable }) => {
        expectObservable(cold('-----a|').pipe(attemptTimeout({ first: Infinity, each: 2 }))).toBe('-----a|');
        expectObservable(cold('----------a|').pipe(attemptTimeout(Infinity))).toBe('----------a|');
      });
    });
  });

  describe('aborting and retrying', () => {
    it('unsubscribes upstream (aborting its AbortSignal) before the error is delivered', () => {
      const clock = sinon.useFakeTimers();
      const events: string[] = [];
      let signal: AbortSignal | undefined;
      const request = new Observable<string>(() => {
        const controller = new AbortController();
        signal = controller.signal;
        signal.addEventListener('abort', () => events.push('aborted'));
        return () => controller.abort();
      });
      let error: unknown;
      request.pipe(attemptTimeout(30_000, { what: 'GET /prices' })).subscribe({
        error: (e: unknown) => {
          events.push(`error seen, signal aborted: ${String(signal?.aborted)}`);
          error = e;
        },
      });
      clock.tick(29_999);
      expect(events).to.deep.equal([]);
      clock.tick(1);
      expect(events).to.deep.equal(['aborted', 'error seen, signal aborted: true']);
      expect(isTimeoutError(error) && isRetriable(error)).to.equal(true);
      expect((error as TimeoutError).message).to.equal('GET /prices timed out after 30000 ms');
      expect((error as TimeoutError).timeoutMs).to.equal(30_000);
      expect(clock.countTimers()).to.equal(0);
    });

    it('inside retryBackoff, each attempt has its own clock and a timed-out attempt is retried', () => {
      makeScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('-----a|');
        const call = source.pipe(attemptTimeout(3), retryBackoff({ maxRetries: 2, initialDelay: 10, jitter: 'none' }));
        expectObservable(call).toBe('3ms 10ms 3ms 20ms 3ms #', undefined, new TimeoutError('attempt', 3));
        expectSubscriptions(source.subscriptions).toBe(['^--!', '13ms ^--!', '36ms ^--!']);
      });
    });

    it('a synchronous source completes before any timer matters', () => {
      const clock = sinon.useFakeTimers();
      const values: number[] = [];
      new Observable<number>((s) => {
        s.next(1);
        s.next(2);
        s.complete();
      })
        .pipe(attemptTimeout({ total: 10, each: 5 }))
        .subscribe((v) => values.push(v));
      expect(values).to.deep.equal([1, 2]);
      expect(clock.countTimers()).to.equal(0);
    });
  });

  describe('bad arguments', () => {
    const cases: [string, unknown, RegExp][] = [
      ['0', 0, /total must be a number of milliseconds > 0/],
      ['-5', -5, /total must be/],
      ['NaN', Number.NaN, /total must be/],
      ['{}', {}, /give at least one of total, first or each/],
      ['{ each: "1s" }', { each: '1s' }, /each must be a number/],
      ['null', null, /limit must be a number of milliseconds or/],
    ];
    for (const [label, limit, message] of cases) {
      it(`rejects ${label}`, () => {
        expect(() => attemptTimeout(limit as never)).to.throw(message);
      });
    }
  });
});
