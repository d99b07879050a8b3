import { expect } from 'chai';
import sinon from 'sinon';
import { EMPTY, NEVER, Observable, of, throwError, timer, throwIfEmpty } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { firstAvailable, type FallbackEvent, type ServedEvent } from '../../src/operators/firstAvailable.js';
import { SourcesFailedError, isSourcesFailedError } from '../../src/errors/SourcesFailedError.js';
import { HttpError } from '../../src/errors/HttpError.js';

const makeScheduler = (): TestScheduler =>
  new TestScheduler((actual, expected) => {
    expect(actual).to.deep.equal(expected);
  });

describe('firstAvailable', () => {
  let warn: sinon.SinonStub;
  beforeEach(() => {
    warn = sinon.stub(process, 'emitWarning');
  });
  afterEach(() => sinon.restore());

  describe('the checklist', () => {
    it('never: waits on the first source and never tries the next', () => {
      makeScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const a = cold('-');
        const b = cold('b|');
        expectObservable(firstAvailable([a, b])).toBe('-');
        expectSubscriptions(a.subscriptions).toBe('^');
        expectSubscriptions(b.subscriptions).toBe([]);
      });
    });

    it('empty: a source that completes empty serves (empty counts as success)', () => {
      const served: ServedEvent[] = [];
      makeScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const b = cold('b|');
        expectObservable(firstAvailable([cold('--|'), b], { onServed: (e) => served.push(e) })).toBe('--|');
        expectSubscriptions(b.subscriptions).toBe([]);
      });
      expect(served).to.deep.equal([{ source: '0', index: 0 }]);
    });

    it('empty: with throwIfEmpty on a source, empty falls back', () => {
      makeScheduler().run(({ cold, expectObservable }) => {
        expectObservable(firstAvailable([cold('--|').pipe(throwIfEmpty()), cold('b|')])).toBe('---(b|)');
      });
    });

    it('one value: the first source serves it, the others are never subscribed', () => {
      makeScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const a = cold('-a|');
        const b = cold('b|');
        expectObservable(firstAvailable([a, b])).toBe('--(a|)');
        expectSubscriptions(b.subscriptions).toBe([]);
      });
    });

    it('many values: buffered until the serving source completes, then delivered in order', () => {
      makeScheduler().run(({ cold, expectObservable }) => {
        expectObservable(firstAvailable([cold('a-b-c|')])).toBe('-----(abc|)');
      });
    });

    it('error: falls back in order; a failed source contributes nothing', () => {
      const fallbacks: FallbackEvent[] = [];
      const served: ServedEvent[] = [];
      const e1 = new HttpError({ status: 503 });
      const e2 = new Error('bad json');
      makeScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const a = cold('x-#', undefined, e1);
        const b = cold('yy#', undefined, e2);
        const c = cold('-c-d|');
        expectObservable(
          firstAvailable({ coincap: a, binance: b, kraken: c }, { onFallback: (e) => fallbacks.push(e), onServed: (e) => served.push(e) }),
        ).toBe('--------(cd|)');
        expectSubscriptions(a.subscriptions).toBe('^-!');
        expectSubscriptions(b.subscriptions).toBe('--^-!');
        expectSubscriptions(c.subscriptions).toBe('----^---!');
      });
      expect(fallbacks).to.deep.equal([
        { source: 'coincap', index: 0, error: e1, next: 'binance' },
        { source: 'binance', index: 1, error: e2, next: 'kraken' },
      ]);
      expect(served).to.deep.equal([{ source: 'kraken', index: 2 }]);
    });

    it('error: when every source fails, a SourcesFailedError names each one in order', () => {
      const e1 = new HttpError({ status: 503 });
      const e2 = new Error('timeout');
      let caught: unknown;
      makeScheduler().run(({ cold, expectObservable }) => {
        const result = firstAvailable({ primary: cold('a#', undefined, e1), backup: cold('-#', undefined, e2) });
        expectObservable(result).toBe(
          '--#',
          undefined,
          new SourcesFailedError({
            failures: [
              { source: 'primary', error: e1 },
              { source: 'backup', error: e2 },
            ],
            required: 1,
          }),
        );
        result.subscribe({ error: (e: unknown) => (caught = e) });
      });
      expect(caught).to.be.instanceOf(AggregateError);
      expect(isSourcesFailedError(caught)).to.equal(true);
      const err = caught as SourcesFailedError;
      expect(err.message).to.equal('all 2 sources failed: "primary": HttpError: HTTP 503; "backup": Error: timeout');
      expect(err.errors).to.deep.equal([e1, e2]);
      expect(err.failures.map((f) => f.source)).to.deep.equal(['primary', 'backup']);
    });

    it('early unsubscribe stops the source being tried and tries no other', () => {
      makeScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const a = cold('-#');
        const b = cold('--b|');
        const c = cold('c|');
        expectObservable(firstAvailable([a, b, c]), '^--!').toBe('---');
        expectSubscriptions(a.subscriptions).toBe('^!');
        expectSubscriptions(b.subscriptions).toBe('-^-!');
        expectSubscriptions(c.subscriptions).toBe([]);
      });
    });

    it('early unsubscribe leaves no timer behind (real timers)', () => {
      const clock = sinon.useFakeTimers();
      const sub = firstAvailable([timer(5000), timer(1000)]).subscribe();
      expect(clock.countTimers()).to.equal(1);
      sub.unsubscribe();
      expect(clock.countTimers()).to.equal(0);
    });

    it('callbacks that throw are reported as warnings and the chain goes on', () => {
      makeScheduler().run(({ cold, expectObservable }) => {
        const result = firstAvailable([cold('#'), cold('-b|')], {
          onFallback: () => {
            throw new Error('onFallback broke');
          },
          onServed: () => {
            throw new Error('onServed broke');
          },
        });
        expectObservable(result).toBe('--(b|)');
      });
      expect(warn.getCalls().map((c) => (c.args[0] as Error).message)).to.deep.equal(['onFallback broke', 'onServed broke']);
    });

    it('concurrent subscribers: each runs the chain anew', () => {
      makeScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const a = cold('-#');
        const b = cold('-b|');
        const chain = firstAvailable([a, b]);
        expectObservable(chain).toBe('---(b|)');
        expectObservable(chain, '5ms ^').toBe('--------(b|)');
        expectSubscriptions(a.subscriptions).toBe(['^!', '5ms ^!']);
        expectSubscriptions(b.subscriptions).toBe(['-^-!', '6ms ^-!']);
      });
    });
  });

  describe('buffer: false (streaming)', () => {
    it('delivers values live and reports the serving source at its first value', () => {
      const served: ServedEvent[] = [];
      makeScheduler().run(({ cold, expectObservable }) => {
        expectObservable(firstAvailable([cold('-#'), cold('a-b|')], { buffer: false, onServed: (e) => served.push(e) })).toBe('-a-b|');
      });
      expect(served).to.deep.equal([{ source: '1', index: 1 }]);
    });

    it('once a source has delivered a value it is committed: its later error goes downstream as it is', () => {
      const late = new Error('connection reset');
      makeScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const b = cold('b|');
        expectObservable(firstAvailable([cold('a-#', undefined, late), b], { buffer: false })).toBe('a-#', undefined, late);
        expectSubscriptions(b.subscriptions).toBe([]);
      });
    });

    it('all failing before any value: SourcesFailedError', () => {
      let caught: unknown;
      firstAvailable([throwError(() => new Error('x')), throwError(() => new Error('y'))], { buffer: false }).subscribe({
        error: (e: unknown) => (caught = e),
      });
      expect((caught as SourcesFailedError).failures.map((f) => f.source)).to.deep.equal(['0', '1']);
    });
  });

  describe('inputs', () => {
    it('synchronous sources fail over synchronously and an unsubscribe reaches the current source', () => {
      let unsubscribed = 0;
      const live = new Observable<number>((s) => {
        s.next(1);
        return () => unsubscribed++;
      });
      const values: number[] = [];
      const sub = firstAvailable([throwError(() => new Error('a')), throwError(() => new Error('b')), live], { buffer: false }).subscribe((v) =>
        values.push(v),
      );
      expect(values).to.deep.equal([1]);
      sub.unsubscribe();
      expect(unsubscribed).to.equal(1);
    });

    it('accepts promises and arrays, and types the values as the union of the sources', async () => {
      const seen: (number | string)[] = [];
      await new Promise<void>((resolve, reject) =>
        firstAvailable({ p: Promise.reject<number>(new Error('no')), arr: ['x', 'y'], n: of(1) }).subscribe({
          next: (v) => seen.push(v),
          complete: resolve,
          error: reject,
        }),
      );
      expect(seen).to.deep.equal(['x', 'y']);
    });

    it('rejects an empty chain and bad sources with errors naming them', () => {
      expect(() => firstAvailable([])).to.throw(RangeError, /firstAvailable: give at least one source/);
      expect(() => firstAvailable({ a: EMPTY, b: 42 as never })).to.throw(TypeError, /firstAvailable: source "b" is not an Observable/);
      expect(() => firstAvailable(['https://api.example.com' as never])).to.throw(TypeError, /firstAvailable: source "0" is a string, not an Observable/);
      expect(() => firstAvailable([NEVER], { buffer: 'yes' as never })).to.throw(TypeError, /buffer must be a boolean/);
    });
  });
});
