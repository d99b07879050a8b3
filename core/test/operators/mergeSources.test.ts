import { expect } from 'chai';
import sinon from 'sinon';
import { EMPTY, NEVER, of, throwError, timer, map } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { mergeSources, type MergeSourcesSummary } from '../../src/operators/mergeSources.js';
import { SourcesFailedError, isSourcesFailedError, type SourceFailure } from '../../src/errors/SourcesFailedError.js';
import { HttpError } from '../../src/errors/HttpError.js';
import { isTributaryError } from '../../src/errors/TributaryError.js';

const makeScheduler = (): TestScheduler =>
  new TestScheduler((actual, expected) => {
    expect(actual).to.deep.equal(expected);
  });

describe('mergeSources', () => {
  let warn: sinon.SinonStub;
  beforeEach(() => {
    warn = sinon.stub(process, 'emitWarning');
  });
  afterEach(() => sinon.restore());

  describe('the checklist', () => {
    it('never: a source that never settles keeps the merge open', () => {
      makeScheduler().run(({ cold, expectObservable }) => {
        const result = mergeSources({ a: cold('a|'), b: cold('-') });
        expectObservable(result).toBe('a', { a: { source: 'a', value: 'a' } });
      });
    });

    it('empty: sources that complete empty complete the merge; no sources at all completes at once', () => {
      makeScheduler().run(({ cold, expectObservable }) => {
        expectObservable(mergeSources({ a: cold('--|'), b: cold('-|') })).toBe('--|');
        expectObservable(mergeSources({})).toBe('|');
        expectObservable(mergeSources([])).toBe('|');
      });
    });

    it('one value: tagged with its source name', () => {
      makeScheduler().run(({ cold, expectObservable }) => {
        expectObservable(mergeSources({ prices: cold('-x|', { x: 42 }) })).toBe('-x|', { x: { source: 'prices', value: 42 } });
      });
    });

    it('many values: all sources run at once, values interleave as they arrive', () => {
      makeScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const a = cold('a-b---|');
        const b = cold('-c--d|');
        expectObservable(mergeSources({ a, b })).toBe('acb-d-|', {
          a: { source: 'a', value: 'a' },
          b: { source: 'a', value: 'b' },
          c: { source: 'b', value: 'c' },
          d: { source: 'b', value: 'd' },
        });
        expectSubscriptions(a.subscriptions).toBe('^-----!');
        expectSubscriptions(b.subscriptions).toBe('^----!');
      });
    });

    it('error: a failing source is reported and the others go on (partial success completes)', () => {
      const reported: SourceFailure[] = [];
      const summaries: MergeSourcesSummary[] = [];
      const outage = new HttpError({ status: 503, source: 'newsapi' });
      makeScheduler().run(({ cold, expectObservable }) => {
        const result = mergeSources(
          { newsapi: cold('-#', undefined, outage), google: cold('g--g|'), finnhub: cold('--f|') },
          { onSourceError: (f) => reported.push(f), onComplete: (s) => summaries.push(s) },
        );
        expectObservable(result).toBe('g-fg|', {
          g: { source: 'google', value: 'g' },
          f: { source: 'finnhub', value: 'f' },
        });
      });
      expect(reported).to.deep.equal([{ source: 'newsapi', error: outage }]);
      expect(summaries).to.deep.equal([{ succeeded: ['finnhub', 'google'], failed: [{ source: 'newsapi', error: outage }] }]);
    });

    it('early unsubscribe unsubscribes every running source', () => {
      makeScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const a = cold('a---a|');
        const b = cold('--#');
        const c = cold('-');
        expectObservable(mergeSources({ a, b, c }), '^--!').toBe('a--', { a: { source: 'a', value: 'a' } });
        expectSubscriptions(a.subscriptions).toBe('^--!');
        expectSubscriptions(b.subscriptions).toBe('^-!');
        expectSubscriptions(c.subscriptions).toBe('^--!');
      });
    });

    it('early unsubscribe: onComplete is not called', () => {
      const onComplete = sinon.spy();
      const sub = mergeSources({ a: NEVER, b: EMPTY }, { onComplete }).subscribe();
      sub.unsubscribe();
      expect(onComplete.called).to.equal(false);
    });

    it('callbacks that throw are reported as warnings and the merge goes on', () => {
      makeScheduler().run(({ cold, expectObservable }) => {
        const result = mergeSources(
          { a: cold('-#'), b: cold('--b|') },
          {
            onSourceError: () => {
              throw new Error('onSourceError broke');
            },
            onComplete: () => {
              throw new Error('onComplete broke');
            },
          },
        );
        expectObservable(result).toBe('--b|', { b: { source: 'b', value: 'b' } });
      });
      expect(warn.getCalls().map((c) => (c.args[0] as Error).message)).to.deep.equal(['onSourceError broke', 'onComplete broke']);
    });

    it('concurrent subscribers: each subscription runs every source anew', () => {
      makeScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const a = cold('-a|');
        const b = cold('--#');
        const merged = mergeSources({ a, b });
        const values = { a: { source: 'a', value: 'a' } };
        expectObservable(merged).toBe('-a|', values);
        expectObservable(merged, '3ms ^').toBe('----a|', values);
        expectSubscriptions(a.subscriptions).toBe(['^-!', '3ms ^-!']);
        expectSubscriptions(b.subscriptions).toBe(['^-!', '3ms ^-!']);
      });
    });
  });

  describe('minSuccesses and quorum', () => {
    it('fewer successes than minSuccesses: every value is delivered, then a SourcesFailedError naming the failures', () => {
      const e1 = new HttpError({ status: 503, url: 'https://a.example/x' });
      const e2 = new Error('socket hang up');
      let caught: unknown;
      makeScheduler().run(({ cold, expectObservable }) => {
        const result = mergeSources({ a: cold('-#', undefined, e1), b: cold('--#', undefined, e2), c: cold('c---c|') }, { minSuccesses: 2 });
        const failure = new SourcesFailedError({
          failures: [
            { source: 'a', error: e1 },
            { source: 'b', error: e2 },
          ],
          succeeded: ['c'],
          required: 2,
        });
        expectObservable(result).toBe('c---c#', { c: { source: 'c', value: 'c' } }, failure);
        result.subscribe({ error: (e: unknown) => (caught = e) });
      });
      expect(caught).to.be.instanceOf(AggregateError);
      expect(isSourcesFailedError(caught)).to.equal(true);
      expect(isTributaryError(caught)).to.equal(true);
      const err = caught as SourcesFailedError;
      expect(err.message).to.equal(
        '2 of 3 sources failed, 1 succeeded but 2 required: "a": HttpError: HTTP 503 from https://a.example/x; "b": Error: socket hang up',
      );
      expect(err.errors).to.deep.equal([e1, e2]);
      expect(err.errors[0]).to.equal(e1);
      expect(err.failures.map((f) => f.source)).to.deep.equal(['a', 'b']);
      expect(err.succeeded).to.deep.equal(['c']);
      expect(err.required).to.equal(2);
      expect(err.code).to.equal('ERR_SOURCES_FAILED');
      expect(err.retriable).to.equal(true);
    });

    it('default minSuccesses 1: all failing errors, with every source named', () => {
      let caught: unknown;
      mergeSources({ x: throwError(() => new HttpError({ status: 404 })), y: throwError(() => new Error('down')) }).subscribe({
        error: (e: unknown) => (caught = e),
      });
      expect((caught as Error).message).to.equal('all 2 sources failed: "x": HttpError: HTTP 404; "y": Error: down');
      expect((caught as SourcesFailedError).retriable).to.equal(true);
    });

    it('is not retriable when no failure is', () => {
      let caught: unknown;
      mergeSources([throwError(() => new HttpError({ status: 404 }))]).subscribe({ error: (e: unknown) => (caught = e) });
      expect((caught as SourcesFailedError).retriable).to.equal(false);
    });

    it("quorum: minSuccesses 'all' errors when any source fails, after the others' values", () => {
      const down = new Error('down');
      makeScheduler().run(({ cold, expectObservable }) => {
        const result = mergeSources({ a: cold('a--a|'), b: cold('-#', undefined, down) }, { minSuccesses: 'all' });
        expectObservable(result).toBe(
          'a--a#',
          { a: { source: 'a', value: 'a' } },
          new SourcesFailedError({ failures: [{ source: 'b', error: down }], succeeded: ['a'], required: 2 }),
        );
        expectObservable(mergeSources({ a: cold('a|'), b: cold('-b|') }, { minSuccesses: 'all' })).toBe('ab|', {
          a: { source: 'a', value: 'a' },
          b: { source: 'b', value: 'b' },
        });
      });
    });

    it('minSuccesses 0: even total failure completes (the seed behaviour), failures still reported', () => {
      const onComplete = sinon.spy();
      let completed = false;
      mergeSources({ a: throwError(() => new Error('x')), b: throwError(() => new Error('y')) }, { minSuccesses: 0, onComplete }).subscribe({
        complete: () => (completed = true),
      });
      expect(completed).to.equal(true);
      expect((onComplete.firstCall.args[0] as MergeSourcesSummary).failed.map((f) => f.source)).to.deep.equal(['a', 'b']);
    });

    it('rejects a minSuccesses that cannot be met or is not an integer', () => {
      expect(() => mergeSources({ a: EMPTY }, { minSuccesses: 2 })).to.throw(RangeError, /minSuccesses must be 'all' or an integer from 0 to the number of sources \(1\), got 2/);
      expect(() => mergeSources({ a: EMPTY }, { minSuccesses: 0.5 })).to.throw(RangeError, /minSuccesses/);
      expect(() => mergeSources([], { minSuccesses: 1 })).to.throw(RangeError, /minSuccesses/);
    });
  });

  describe('inputs', () => {
    it('an array names its sources by index', () => {
      const summaries: MergeSourcesSummary[] = [];
      makeScheduler().run(({ cold, expectObservable }) => {
        expectObservable(mergeSources([cold('a|'), cold('-#')], { onComplete: (s) => summaries.push(s) })).toBe('a|', {
          a: { source: '0', value: 'a' },
        });
      });
      expect(summaries[0]!.succeeded).to.deep.equal(['0']);
      expect(summaries[0]!.failed.map((f) => f.source)).to.deep.equal(['1']);
    });

    it('accepts promises and arrays (any ObservableInput)', async () => {
      const seen: unknown[] = [];
      await new Promise<void>((resolve, reject) =>
        mergeSources({ p: Promise.resolve(1), arr: [2, 3], o: of(4) }).subscribe({ next: (v) => seen.push(v), complete: resolve, error: reject }),
      );
      expect(seen).to.deep.include.members([
        { source: 'p', value: 1 },
        { source: 'arr', value: 2 },
        { source: 'arr', value: 3 },
        { source: 'o', value: 4 },
      ]);
      expect(seen).to.have.length(4);
    });

    it('types each value by its source (record input)', () => {
      const merged = mergeSources({ n: of(1), s: of('x') });
      const out: string[] = [];
      merged.pipe(map((v) => (v.source === 'n' ? v.value.toFixed(1) : v.value.toUpperCase()))).subscribe((x) => out.push(x));
      expect(out).to.deep.equal(['1.0', 'X']);
    });

    it('rejects a bad source with an error naming it', () => {
      expect(() => mergeSources({ good: EMPTY, bad: 42 as never })).to.throw(TypeError, /mergeSources: source "bad" is not an Observable/);
      expect(() => mergeSources(null as never)).to.throw(TypeError, /sources must be a record of Observables or an array/);
      expect(() => mergeSources({ a: EMPTY }, { onSourceError: 'x' as never })).to.throw(TypeError, /onSourceError must be a function/);
    });

    it('leaves no timer behind when sources use real timers and are unsubscribed', () => {
      const clock = sinon.useFakeTimers();
      const sub = mergeSources({ slow: timer(10_000), slower: timer(20_000) }).subscribe();
      expect(clock.countTimers()).to.equal(2);
      sub.unsubscribe();
      expect(clock.countTimers()).to.equal(0);
    });

    it('a source failing synchronously while others are still being subscribed is counted once', () => {
      const onComplete = sinon.spy();
      const events: string[] = [];
      mergeSources([throwError(() => new Error('sync')), of(1), EMPTY], { onComplete }).subscribe({ next: () => events.push('next'), complete: () => events.push('complete'), error: () => events.push('error') });
      expect(events).to.deep.equal(['next', 'complete']);
      expect(onComplete.calledOnce).to.equal(true);
    });
  });
});
