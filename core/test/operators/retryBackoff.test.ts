import { expect } from 'chai';
import sinon from 'sinon';
import { Observable, defer, throwError } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { retryBackoff, type RetryEvent } from '../../src/operators/retryBackoff.js';
import { CircuitOpenError } from '../../src/errors/CircuitOpenError.js';
import { HttpError } from '../../src/errors/HttpError.js';
import { NonRetriableError, TributaryError } from '../../src/errors/TributaryError.js';
import { TimeoutError } from '../../src/errors/TimeoutError.js';

const makeScheduler = (): TestScheduler =>
  new TestScheduler((actual, expected) => {
    expect(actual).to.deep.equal(expected);
  });

describe('retryBackoff', () => {
  const boom = new Error('boom');
  let warn: sinon.SinonStub;
  beforeEach(() => {
    warn = sinon.stub(process, 'emitWarning');
  });
  afterEach(() => {
    sinon.restore();
  });

  describe('the checklist', () => {
    it('never: stays silent and subscribed, no retry', () => {
      makeScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('-');
        expectObservable(source.pipe(retryBackoff())).toBe('-');
        expectSubscriptions(source.subscriptions).toBe('^');
      });
    });

    it('empty: completes at once', () => {
      makeScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('|');
        expectObservable(source.pipe(retryBackoff())).toBe('|');
        expectSubscriptions(source.subscriptions).toBe('(^!)');
      });
    });

    it('one value: passes it through and completes', () => {
      makeScheduler().run(({ cold, expectObservable }) => {
        expectObservable(cold('--a|').pipe(retryBackoff())).toBe('--a|');
      });
    });

    it('many values: passes them through unchanged', () => {
      makeScheduler().run(({ cold, expectObservable }) => {
        expectObservable(cold('a-b-c-d|', { a: 1, b: 2, c: 3, d: 4 }).pipe(retryBackoff())).toBe('a-b-c-d|', { a: 1, b: 2, c: 3, d: 4 });
      });
    });

    it('error: resubscribes after exactly 2 s, 4 s and 8 s with jitter none, then rethrows', () => {
      makeScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('-#', undefined, boom);
        expectObservable(source.pipe(retryBackoff({ jitter: 'none' }))).toBe('14004ms #', undefined, boom);
        expectSubscriptions(source.subscriptions).toBe(['^!', '2001ms ^!', '6002ms ^!', '14003ms ^!']);
      });
    });

    it('early unsubscribe during a delay cancels the delay: no further attempt', () => {
      makeScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('-#', undefined, boom);
        expectObservable(source.pipe(retryBackoff({ jitter: 'none' })), '^ 3s !').toBe('-');
        expectSubscriptions(source.subscriptions).toBe(['^!', '2001ms ^!']);
      });
    });

    it('early unsubscribe during an attempt unsubscribes the source', () => {
      makeScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('a---b|');
        expectObservable(source.pipe(retryBackoff()), '^-!').toBe('a-');
        expectSubscriptions(source.subscriptions).toBe('^-!');
      });
    });

    it('concurrent subscribers: each has its own attempt counter and delays', () => {
      makeScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('-#', undefined, boom);
        const retried = source.pipe(retryBackoff({ jitter: 'none', maxRetries: 1 }));
        expectObservable(retried).toBe('2002ms #', undefined, boom);
        expectObservable(retried, '500ms ^').toBe('2502ms #', undefined, boom);
        expectSubscriptions(source.subscriptions).toBe(['^!', '500ms ^!', '2001ms ^!', '2501ms ^!']);
      });
    });

    it('a throwing shouldRetry sends its error downstream and does not retry', () => {
      makeScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const bad = new Error('predicate failed');
        const source = cold('-#', undefined, boom);
        const retried = source.pipe(
          retryBackoff({
            shouldRetry: () => {
              throw bad;
            },
          }),
        );
        expectObservable(retried).toBe('-#', undefined, bad);
        expectSubscriptions(source.subscriptions).toBe('^!');
      });
    });

    it('a throwing onRetry is reported as a warning and the retry still happens', () => {
      makeScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('-#', undefined, boom);
        const retried = source.pipe(
          retryBackoff({
            maxRetries: 1,
            jitter: 'none',
            onRetry: () => {
              throw new Error('listener broke');
            },
          }),
        );
        expectObservable(retried).toBe('2002ms #', undefined, boom);
        expectSubscriptions(source.subscriptions).toBe(['^!', '2001ms ^!']);
      });
      expect(warn.callCount).to.equal(1);
      expect((warn.firstCall.args[0] as Error).message).to.equal('listener broke');
    });

    it('a throwing random sends its error downstream', () => {
      makeScheduler().run(({ cold, expectObservable }) => {
        const bad = new Error('no entropy');
        const retried = cold('-#', undefined, boom).pipe(
          retryBackoff({
            random: () => {
              throw bad;
            },
          }),
        );
        expectObservable(retried).toBe('-#', undefined, bad);
      });
    });
  });

  describe('delays', () => {
    it('rethrows the last error (not the first) when maxRetries is exhausted', () => {
      makeScheduler().run(({ expectObservable }) => {
        let n = 0;
        const source = defer(() => throwError(() => new Error(`fail ${++n}`)));
        expectObservable(source.pipe(retryBackoff({ jitter: 'none' }))).toBe('14s #', undefined, new Error('fail 4'));
      });
    });

    it('maxRetries: 0 never retries; maxDelay caps the growth; factor shapes it', () => {
      makeScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const once = cold('#', undefined, boom);
        expectObservable(once.pipe(retryBackoff({ maxRetries: 0 }))).toBe('#', undefined, boom);
        expectSubscriptions(once.subscriptions).toBe('(^!)');
      });
      const delays: number[] = [];
      makeScheduler().run(({ cold, expectObservable }) => {
        const retried = cold('#', undefined, boom).pipe(
          retryBackoff({ maxRetries: 5, initialDelay: 100, factor: 3, maxDelay: 1000, jitter: 'none', onRetry: (e) => delays.push(e.delayMs) }),
        );
        expectObservable(retried).toBe('3300ms #', undefined, boom);
      });
      expect(delays).to.deep.equal([100, 300, 900, 1000, 1000]);
    });

    it('passes attempt numbers, delays and errors to onRetry and shouldRetry', () => {
      const events: RetryEvent[] = [];
      const asked: [unknown, number][] = [];
      makeScheduler().run(({ cold, expectObservable }) => {
        const retried = cold('#', undefined, boom).pipe(
          retryBackoff({
            jitter: 'none',
            onRetry: (e) => events.push(e),
            shouldRetry: (err, attempt) => {
              asked.push([err, attempt]);
              return true;
            },
          }),
        );
        expectObservable(retried).toBe('14s #', undefined, boom);
      });
      expect(events).to.deep.equal([
        { attempt: 1, delayMs: 2000, error: boom },
        { attempt: 2, delayMs: 4000, error: boom },
        { attempt: 3, delayMs: 8000, error: boom },
      ]);
      expect(asked).to.deep.equal([
        [boom, 1],
        [boom, 2],
        [boom, 3],
      ]);
    });

    it("jitter 'equal' stays in [d/2, d]: both ends reached with an injected RNG", () => {
      const low: number[] = [];
      const high: number[] = [];
      makeScheduler().run(({ cold, expectObservable }) => {
        const src = cold('#', undefined, boom);
        expectObservable(src.pipe(retryBackoff({ jitter: 'equal', random: () => 0, onRetry: (e) => low.push(e.delayMs) }))).toBe(
          '7s #',
          undefined,
          boom,
        );
        expectObservable(
          src.pipe(retryBackoff({ jitter: 'equal', random: () => 0.9999999, onRetry: (e) => high.push(e.delayMs) })),
        ).toBe('14s #', undefined, boom);
      });
      expect(low).to.deep.equal([1000, 2000, 4000]);
      expect(high).to.deep.equal([2000, 4000, 8000]);
    });

    it("jitter 'full' stays in [0, d] and follows the RNG", () => {
      const seq = [0, 0.5, 0.25];
      const delays: number[] = [];
      makeScheduler().run(({ cold, expectObservable }) => {
        const retried = cold('#', undefined, boom).pipe(
          retryBackoff({ jitter: 'full', random: () => seq.shift()!, onRetry: (e) => delays.push(e.delayMs) }),
        );
        expectObservable(retried).toBe('4s #', undefined, boom);
      });
      expect(delays).to.deep.equal([0, 2000, 2000]);
    });

    it('the default jitter is equal: with Math.random every delay lies in [d/2, d]', () => {
      const delays: number[] = [];
      let gaveUpAt = -1;
      const ts = makeScheduler();
      ts.run(({ cold }) => {
        cold('#', undefined, boom)
          .pipe(retryBackoff({ maxRetries: 300, initialDelay: 1000, factor: 1, onRetry: (e) => delays.push(e.delayMs) }))
          .subscribe({ error: () => (gaveUpAt = ts.now()) });
      });
      expect(delays.length).to.equal(300);
      expect(gaveUpAt).to.equal(delays.reduce((a, b) => a + b, 0)); // the reported delays are the waits
      expect(Math.min(...delays)).to.be.at.least(500);
      expect(Math.max(...delays)).to.be.at.most(1000);
      expect(new Set(delays).size).to.be.greaterThan(10); // really randomised
    });

    it('an out-of-range RNG is clamped to [0, 1]', () => {
      const delays: number[] = [];
      makeScheduler().run(({ cold, expectObservable }) => {
        const seq = [-5, 7, Number.NaN];
        const retried = cold('#', undefined, boom).pipe(
          retryBackoff({ jitter: 'full', initialDelay: 100, factor: 1, random: () => seq.shift()!, onRetry: (e) => delays.push(e.delayMs) }),
        );
        expectObservable(retried).toBe('100ms #', undefined, boom);
      });
      expect(delays).to.deep.equal([0, 100, 0]);
    });

    it('resetOnSuccess: an attempt that emitted restarts the count and the delay', () => {
      const run = (resetOnSuccess: boolean): { delays: number[]; values: string } => {
        const delays: number[] = [];
        let values = '';
        makeScheduler().run(() => {
          let n = 0;
          // attempts 1-3 emit a value and then fail; later attempts fail at once
          const source = new Observable<string>((s) => {
            n++;
            if (n <= 3) s.next(`v${n}`);
            s.error(boom);
          });
          source.pipe(retryBackoff({ maxRetries: 1, jitter: 'none', resetOnSuccess, onRetry: (e) => delays.push(e.delayMs) })).subscribe({
            next: (v) => (values += v),
            error: () => (values += '!'),
          });
        });
        return { delays, values };
      };
      expect(run(true)).to.deep.equal({ delays: [2000, 2000, 2000], values: 'v1v2v3!' });
      expect(run(false)).to.deep.equal({ delays: [2000], values: 'v1v2!' });
    });

    it('values emitted by a failed attempt stay emitted; the retry emits from the start', () => {
      makeScheduler().run(({ cold, expectObservable }) => {
        const source = cold('a#', undefined, boom);
        expectObservable(source.pipe(retryBackoff({ maxRetries: 2, jitter: 'none' }))).toBe('a 2000ms a 4000ms a#', undefined, boom);
      });
    });
  });

  describe('Retry-After and non-retriable errors', () => {
    it('honours a Retry-After longer than the computed delay', () => {
      makeScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const limited = new HttpError({ status: 429, retryAfterMs: 5000 });
        const source = cold('#', undefined, limited);
        expectObservable(source.pipe(retryBackoff({ maxRetries: 1, jitter: 'none' }))).toBe('5s #', undefined, limited);
        expectSubscriptions(source.subscriptions).toBe(['(^!)', '5s (^!)']);
      });
    });

    it('keeps the computed delay when Retry-After is shorter', () => {
      makeScheduler().run(({ cold, expectObservable }) => {
        const limited = new HttpError({ status: 503, retryAfterMs: 500 });
        expectObservable(cold('#', undefined, limited).pipe(retryBackoff({ maxRetries: 1, jitter: 'none' }))).toBe('2s #', undefined, limited);
      });
    });

    it('caps Retry-After at maxRetryAfter (default maxDelay) and reads it from foreign errors', () => {
      const delays: number[] = [];
      makeScheduler().run(({ cold, expectObservable }) => {
        const huge = { status: 503, retryAfterMs: 3_600_000 };
        expectObservable(
          cold('#', undefined, huge).pipe(retryBackoff({ maxRetries: 1, jitter: 'none', maxRetryAfter: 10_000, onRetry: (e) => delays.push(e.delayMs) })),
        ).toBe('10s #', undefined, huge);
        expectObservable(
          cold('#', undefined, huge).pipe(retryBackoff({ maxRetries: 1, jitter: 'none', onRetry: (e) => delays.push(e.delayMs) })),
        ).toBe('60s #', undefined, huge);
      });
      expect(delays).to.deep.equal([10_000, 60_000]);
    });

    const notRetried: [string, unknown][] = [
      ['CircuitOpenError', new CircuitOpenError('api', 30_000)],
      ['HttpError 404', new HttpError({ status: 404, url: 'https://api.example.com/x' })],
      ['a plain object with status 400', { status: 400 }],
      ['TributaryError with retriable: false', new TributaryError('bad', { retriable: false })],
      ['NonRetriableError', new NonRetriableError('no')],
      ['a foreign error marked retriable: false', Object.assign(new Error('nope'), { retriable: false })],
    ];
    for (const [label, error] of notRetried) {
      it(`does not retry ${label}`, () => {
        let retries = 0;
        makeScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
          const source = cold('-#', undefined, error);
          expectObservable(source.pipe(retryBackoff({ onRetry: () => retries++ }))).toBe('-#', undefined, error);
          expectSubscriptions(source.subscriptions).toBe('^!');
        });
        expect(retries).to.equal(0);
      });
    }

    for (const [label, error] of [
      ['HttpError 503', new HttpError({ status: 503 })],
      ['HttpError 429 without Retry-After', new HttpError({ status: 429 })],
      ['TimeoutError', new TimeoutError('attempt', 100)],
      ['a plain Error', new Error('ECONNRESET')],
    ] as const) {
      it(`retries ${label}`, () => {
        makeScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
          const source = cold('#', undefined, error);
          expectObservable(source.pipe(retryBackoff({ maxRetries: 1, jitter: 'none' }))).toBe('2s #', undefined, error);
          expectSubscriptions(source.subscriptions).toBe(['(^!)', '2s (^!)']);
        });
      });
    }

    it('shouldRetry can veto a retriable error', () => {
      makeScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('-#', undefined, boom);
        expectObservable(source.pipe(retryBackoff({ shouldRetry: (_err, attempt) => attempt < 2, jitter: 'none' }))).toBe(
          '2002ms #',
          undefined,
          boom,
        );
        expectSubscriptions(source.subscriptions).toBe(['^!', '2001ms ^!']);
      });
    });
  });

  describe('real timers', () => {
    it('leaves no timer behind after unsubscribing during a delay', () => {
      const clock = sinon.useFakeTimers();
      let subscriptions = 0;
      const source = new Observable<number>((s) => {
        subscriptions++;
        s.error(boom);
      });
      const sub = source.pipe(retryBackoff()).subscribe({ error: () => undefined });
      expect(clock.countTimers()).to.equal(1);
      sub.unsubscribe();
      expect(clock.countTimers()).to.equal(0);
      clock.tick(120_000);
      expect(subscriptions).to.equal(1);
    });

    it('runs on asyncScheduler by default and leaves no timer behind after giving up', () => {
      const clock = sinon.useFakeTimers();
      let error: unknown;
      let subscriptions = 0;
      const source = new Observable<number>((s) => {
        subscriptions++;
        s.error(boom);
      });
      source.pipe(retryBackoff({ jitter: 'none' })).subscribe({ error: (e: unknown) => (error = e) });
      clock.tick(1999);
      expect(subscriptions).to.equal(1);
      clock.tick(1);
      expect(subscriptions).to.equal(2);
      clock.tick(12_000);
      expect(subscriptions).to.equal(4);
      expect(error).to.equal(boom);
      expect(clock.countTimers()).to.equal(0);
    });
  });

  describe('bad options', () => {
    const cases: [string, object, RegExp][] = [
      ['maxRetries', { maxRetries: -1 }, /maxRetries must be a non-negative integer/],
      ['maxRetries', { maxRetries: 1.5 }, /maxRetries/],
      ['initialDelay', { initialDelay: -10 }, /initialDelay must be a finite number/],
      ['maxDelay', { maxDelay: Number.NaN }, /maxDelay/],
      ['factor', { factor: 0.5 }, /factor must be a finite number >= 1/],
      ['jitter', { jitter: 'half' }, /jitter must be 'full', 'equal' or 'none'/],
      ['onRetry', { onRetry: 'log' }, /onRetry must be a function/],
    ];
    for (const [name, opts, message] of cases) {
      it(`rejects ${name} = ${String(Object.values(opts)[0])} with an error naming it`, () => {
        expect(() => retryBackoff(opts as never)).to.throw(message);
      });
    }

    it('accepts maxRetries: Infinity', () => {
      expect(() => retryBackoff({ maxRetries: Infinity })).not.to.throw();
    });
  });
});
