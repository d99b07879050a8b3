import { expect } from 'chai';
import sinon from 'sinon';
import { Registry } from 'prom-client';
import { Observable, defer, firstValueFrom, lastValueFrom, merge, of, take, throwError, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { AdaptiveThrottle, adaptiveThrottle, type AdaptiveThrottleOptions } from '../../src/operators/adaptiveThrottle.js';
import { HttpError, parseRetryAfter } from '../../src/errors/HttpError.js';
import { CircuitOpenError } from '../../src/errors/CircuitOpenError.js';
import { NonRetriableError } from '../../src/errors/TributaryError.js';
import { isConfigError } from '../../src/errors/ConfigError.js';

/** Fake timers and Date only (not nextTick/microtasks), so that countTimers() counts timers alone. */
const useFakeClock = (now: number): sinon.SinonFakeTimers =>
  sinon.useFakeTimers({ now, toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'clearImmediate', 'Date'] });

const makeScheduler = (): TestScheduler => new TestScheduler((actual, expected) => {
  expect(actual).to.deep.equal(expected);
});

/** A marble that puts `marble` at frame `t` (time progression syntax). */
const at = (t: number, marble: string): string => (t === 0 ? marble : `${t}ms ${marble}`);

const boom = new Error('boom');
const tooMany = (retryAfterMs?: number): HttpError => new HttpError({ status: 429, retryAfterMs });

/** Runs `body` in virtual time with a throttle named `api` on the test scheduler. */
function scenario(
  options: Partial<AdaptiveThrottleOptions>,
  body: (ctx: {
    throttle: AdaptiveThrottle;
    helpers: Parameters<Parameters<TestScheduler['run']>[0]>[0];
    later: (t: number, fn: () => void) => void;
  }) => void,
): { throttle: AdaptiveThrottle; delays: number[] } {
  const ts = makeScheduler();
  const throttle = new AdaptiveThrottle({ name: 'api', initialDelay: 10, scheduler: ts, ...options });
  const delays: number[] = [];
  throttle.delay$.subscribe((d) => delays.push(d));
  ts.run((helpers) => body({ throttle, helpers, later: (t, fn) => ts.schedule(fn, t) }));
  return { throttle, delays };
}

describe('adaptiveThrottle', () => {
  let warn: sinon.SinonStub;
  beforeEach(() => {
    warn = sinon.stub(process, 'emitWarning');
  });
  afterEach(() => {
    sinon.restore();
  });

  describe('the checklist', () => {
    it('never: an idle throttle starts it at once; it stays subscribed and holds its slot', () => {
      const { throttle } = scenario({}, ({ throttle, helpers: { cold, expectObservable, expectSubscriptions } }) => {
        const source = cold('-');
        expectObservable(source.pipe(adaptiveThrottle(throttle))).toBe('-');
        expectSubscriptions(source.subscriptions).toBe('^');
      });
      expect([throttle.stats().running, throttle.stats().successes]).to.deep.equal([1, 0]);
    });

    it('empty: completes at once and counts a success', () => {
      const { throttle } = scenario({}, ({ throttle, helpers: { cold, expectObservable, expectSubscriptions } }) => {
        const source = cold('|');
        expectObservable(source.pipe(adaptiveThrottle(throttle))).toBe('|');
        expectSubscriptions(source.subscriptions).toBe('(^!)');
      });
      expect([throttle.stats().running, throttle.stats().successes]).to.deep.equal([0, 1]);
    });

    it('one value: passes it through and completes', () => {
      scenario({}, ({ throttle, helpers: { cold, expectObservable } }) => {
        expectObservable(cold('--a|').pipe(adaptiveThrottle(throttle))).toBe('--a|');
      });
    });

    it('many values: passes them through unchanged', () => {
      const values = { a: 1, b: 2, c: 3 };
      scenario({}, ({ throttle, helpers: { cold, expectObservable } }) => {
        expectObservable(cold('a-b-c|', values).pipe(adaptiveThrottle(throttle))).toBe('a-b-c|', values);
      });
    });

    it('error: forwards the error unchanged and slows down by errorFactor', () => {
      const { throttle, delays } = scenario({}, ({ throttle, helpers: { cold, expectObservable } }) => {
        expectObservable(cold('-a#', undefined, boom).pipe(adaptiveThrottle(throttle))).toBe('-a#', undefined, boom);
      });
      expect(delays).to.deep.equal([10, 15]);
      expect(throttle.stats().errors).to.equal(1);
    });

    it('early unsubscribe of a running call: unsubscribes upstream, frees the slot for the next call, counts neither', () => {
      const { throttle, delays } = scenario({ initialDelay: 0 }, ({ throttle, helpers: { cold, expectObservable, expectSubscriptions } }) => {
        const op = adaptiveThrottle<string>(throttle);
        const first = cold('-----a|');
        const second = cold('-b|');
        expectObservable(first.pipe(op), '^-!').toBe('--');
        expectObservable(second.pipe(op)).toBe('---b|');
        expectSubscriptions(first.subscriptions).toBe('^-!');
        expectSubscriptions(second.subscriptions).toBe('--^-!');
      });
      expect([throttle.stats().cancelled, throttle.stats().successes, throttle.stats().running]).to.deep.equal([1, 1, 0]);
      expect(delays).to.deep.equal([0]);
    });

    it('classify throws: the error counts as an ordinary error, goes downstream unchanged, the exception is reported', () => {
      const oops = new Error('classify broke');
      const { delays } = scenario(
        {
          classify: () => {
            throw oops;
          },
        },
        ({ throttle, helpers: { cold, expectObservable } }) => {
          expectObservable(cold('-#', undefined, tooMany()).pipe(adaptiveThrottle(throttle))).toBe('-#', undefined, tooMany());
        },
      );
      expect(delays).to.deep.equal([10, 15]);
      expect(warn.calledOnceWith(oops)).to.equal(true);
    });

    it('a custom classify decides what is a rate limit', () => {
      const { delays, throttle } = scenario({ classify: (e) => (e === boom ? 'rate-limit' : 'ignore') }, ({ throttle, helpers: { cold, expectObservable } }) => {
        const op = adaptiveThrottle(throttle);
        expectObservable(cold('-#', undefined, boom).pipe(op)).toBe('-#', undefined, boom);
        expectObservable(cold('-#', undefined, tooMany()).pipe(op), at(30, '^')).toBe(at(31, '#'), undefined, tooMany());
      });
      expect(delays).to.deep.equal([10, 20]);
      expect([throttle.stats().rateLimited, throttle.stats().ignored]).to.deep.equal([1, 1]);
    });

    it('concurrent subscribers: queued first in, first out, each start at least `delay` after the previous one', () => {
      scenario({ initialDelay: 10, maxConcurrent: Infinity }, ({ throttle, helpers: { cold, expectObservable, expectSubscriptions } }) => {
        const op = adaptiveThrottle<string>(throttle);
        const a = cold('-----a|');
        const b = cold('-----b|');
        const c = cold('-----c|');
        expectObservable(a.pipe(op)).toBe('-----a|');
        expectObservable(b.pipe(op), '-^').toBe(at(15, 'b|'));
        expectObservable(c.pipe(op), '--^').toBe(at(25, 'c|'));
        expectSubscriptions(a.subscriptions).toBe('^-----!');
        expectSubscriptions(b.subscriptions).toBe(at(10, '^-----!'));
        expectSubscriptions(c.subscriptions).toBe(at(20, '^-----!'));
      });
    });
  });

  describe('pacing', () => {
    it('spaces starts by the delay even when a call arrives after the previous one finished', () => {
      scenario({ initialDelay: 10 }, ({ throttle, helpers: { cold, expectObservable, expectSubscriptions } }) => {
        const op = adaptiveThrottle<string>(throttle);
        const source = cold('-a|');
        expectObservable(source.pipe(op)).toBe('-a|');
        expectObservable(source.pipe(op), at(4, '^')).toBe(at(11, 'a|'));
        expectObservable(source.pipe(op), at(30, '^')).toBe(at(31, 'a|'));
        expectSubscriptions(source.subscriptions).toBe(['^-!', at(10, '^-!'), at(30, '^-!')]);
      });
    });

    it('runs at most maxConcurrent calls at once', () => {
      const running: number[] = [];
      scenario({ initialDelay: 0, maxConcurrent: 2 }, ({ throttle, later, helpers: { cold, expectObservable, expectSubscriptions } }) => {
        const op = adaptiveThrottle<string>(throttle);
        const source = cold('---a|');
        for (let i = 0; i < 4; i++) expectObservable(source.pipe(op)).toBe(i < 2 ? '---a|' : at(7, 'a|'));
        expectSubscriptions(source.subscriptions).toBe(['^---!', '^---!', at(4, '^---!'), at(4, '^---!')]);
        later(1, () => running.push(throttle.stats().running, throttle.stats().queued));
      });
      expect(running).to.deep.equal([2, 2]);
    });

    it('applies both limits: a start waits for a free slot and for the spacing', () => {
      scenario({ initialDelay: 5, maxConcurrent: 2 }, ({ throttle, helpers: { cold, expectObservable, expectSubscriptions } }) => {
        const op = adaptiveThrottle<string>(throttle);
        const source = cold('--------a|');
        for (let i = 0; i < 4; i++) expectObservable(source.pipe(op)).toBe(at([0, 5, 10, 15][i] as number, '--------a|'));
        // third: slot frees at 9, spacing allows 10; fourth: spacing allows 15, slot frees at 14
        expectSubscriptions(source.subscriptions).toBe(['^--------!', at(5, '^--------!'), at(10, '^--------!'), at(15, '^--------!')]);
      });
    });

    it('starts synchronously when idle and the delay allows it (no scheduler hop)', () => {
      const throttle = new AdaptiveThrottle({ name: 'sync', initialDelay: 0 });
      const seen: number[] = [];
      of(1).pipe(adaptiveThrottle(throttle)).subscribe((v) => seen.push(v));
      of(2).pipe(adaptiveThrottle(throttle)).subscribe((v) => seen.push(v));
      expect(seen).to.deep.equal([1, 2]);
      // with a delay, the very first call of an idle throttle also starts at once
      const spaced = new AdaptiveThrottle({ name: 'first', initialDelay: 1000 });
      of(3).pipe(adaptiveThrottle(spaced)).subscribe((v) => seen.push(v));
      expect(seen).to.deep.equal([1, 2, 3]);
    });
  });

  describe('adapting the delay', () => {
    it('speeds up by speedUpFactor after speedUpAfter consecutive successes', () => {
      const { delays } = scenario({ initialDelay: 8, speedUpAfter: 3, speedUpFactor: 0.5 }, ({ throttle, helpers: { cold, expectObservable, expectSubscriptions } }) => {
        const op = adaptiveThrottle<string>(throttle);
        const source = cold('a|');
        for (let i = 0; i < 5; i++) expectObservable(source.pipe(op)).toBe(at([0, 8, 16, 20, 24][i] as number, 'a|'));
        expectSubscriptions(source.subscriptions).toBe(['^!', at(8, '^!'), at(16, '^!'), at(20, '^!'), at(24, '^!')]);
      });
      expect(delays).to.deep.equal([8, 4]);
    });

    it('an error in between restarts the success count', () => {
      const { delays, throttle } = scenario({ initialDelay: 8, speedUpAfter: 2, speedUpFactor: 0.5 }, ({ throttle, later, helpers: { cold, expectObservable } }) => {
        const op = adaptiveThrottle<string>(throttle);
        expectObservable(cold('a|').pipe(op)).toBe('a|');
        expectObservable(cold('#', undefined, boom).pipe(op), at(20, '^')).toBe(at(20, '#'), undefined, boom);
        expectObservable(cold('a|').pipe(op), at(40, '^')).toBe(at(40, 'a|'));
        later(45, () => expect(throttle.stats().consecutiveSuccesses).to.equal(1));
      });
      expect(delays).to.deep.equal([8, 12]);
      expect(throttle.stats().consecutiveSuccesses).to.equal(1);
    });

    it('a 429 multiplies the delay by rateLimitFactor (doubles it by default)', () => {
      const { delays, throttle } = scenario({ initialDelay: 10 }, ({ throttle, helpers: { cold, expectObservable, expectSubscriptions } }) => {
        const op = adaptiveThrottle<string>(throttle);
        const limited = cold('-#', undefined, tooMany());
        const next = cold('a|');
        expectObservable(limited.pipe(op)).toBe('-#', undefined, tooMany());
        expectObservable(next.pipe(op)).toBe(at(20, 'a|'));
        expectSubscriptions(next.subscriptions).toBe(at(20, '^!'));
      });
      expect(delays).to.deep.equal([10, 20]);
      expect(throttle.stats().rateLimited).to.equal(1);
    });

    it('a 503 with Retry-After is a rate limit; without it, an ordinary error; 4xx client errors and open circuits change nothing', () => {
      const unavailable = new HttpError({ status: 503, retryAfterMs: 1 });
      const { delays, throttle } = scenario({ initialDelay: 10 }, ({ throttle, helpers: { cold, expectObservable } }) => {
        const op = adaptiveThrottle<string>(throttle);
        const notFound = { statusCode: 404 };
        expectObservable(cold('#', undefined, notFound).pipe(op)).toBe('#', undefined, notFound);
        const openCircuit = new CircuitOpenError('x', 5);
        expectObservable(cold('#', undefined, openCircuit).pipe(op), at(10, '^')).toBe(at(10, '#'), undefined, openCircuit);
        expectObservable(cold('#', undefined, unavailable).pipe(op), at(20, '^')).toBe(at(20, '#'), undefined, unavailable);
        const plain503 = { status: 503 };
        expectObservable(cold('#', undefined, plain503).pipe(op), at(50, '^')).toBe(at(50, '#'), undefined, plain503);
      });
      expect(delays).to.deep.equal([10, 20, 30]);
      expect([throttle.stats().ignored, throttle.stats().rateLimited, throttle.stats().errors]).to.deep.equal([2, 1, 1]);
    });

    it('honours Retry-After: no call starts before that moment, even when the delay is shorter', () => {
      const { throttle } = scenario({ initialDelay: 10 }, ({ throttle, helpers: { cold, expectObservable, expectSubscriptions } }) => {
        const op = adaptiveThrottle<string>(throttle);
        expectObservable(cold('-#', undefined, tooMany(50)).pipe(op)).toBe('-#', undefined, tooMany(50));
        const next = cold('a|');
        expectObservable(next.pipe(op)).toBe(at(51, 'a|'));
        expectObservable(next.pipe(op), at(30, '^')).toBe(at(71, 'a|'));
        expectSubscriptions(next.subscriptions).toBe([at(51, '^!'), at(71, '^!')]);
      });
      expect(throttle.stats().blockedUntil).to.equal(51);
    });

    it('honours Retry-After given in seconds, on the real scheduler (fake clock), leaving no timer', async () => {
      const clock = useFakeClock(0);
      try {
        const throttle = new AdaptiveThrottle({ name: 'real', initialDelay: 200 });
        const starts: number[] = [];
        let attempt = 0;
        const call = defer(() => {
          starts.push(Date.now());
          attempt++;
          return attempt === 1 ? throwError(() => new HttpError({ status: 429, retryAfterMs: parseRetryAfter('3') })) : of('ok');
        }).pipe(adaptiveThrottle(throttle));
        const first = firstValueFrom(call).catch((e: unknown) => e);
        const second = firstValueFrom(call);
        expect(await first).to.be.instanceOf(HttpError);
        await clock.tickAsync(2_999);
        expect(starts).to.deep.equal([0]);
        await clock.tickAsync(1);
        expect(await second).to.equal('ok');
        expect(starts).to.deep.equal([0, 3_000]);
        expect(throttle.delay).to.equal(400);
        expect(clock.countTimers()).to.equal(0);
      } finally {
        clock.restore();
      }
    });

    it('caps an absurd Retry-After at maxRetryAfter', () => {
      const tenDays = 10 * 24 * 3600 * 1000;
      scenario({ initialDelay: 10, maxRetryAfter: 100 }, ({ throttle, helpers: { cold, expectObservable, expectSubscriptions } }) => {
        const op = adaptiveThrottle<string>(throttle);
        expectObservable(cold('-#', undefined, tooMany(tenDays)).pipe(op)).toBe('-#', undefined, tooMany(tenDays));
        const next = cold('a|');
        expectObservable(next.pipe(op)).toBe(at(101, 'a|'));
        expectSubscriptions(next.subscriptions).toBe(at(101, '^!'));
      });
    });

    it('keeps the delay within [minDelay, maxDelay]', () => {
      const slow = scenario({ initialDelay: 10, maxDelay: 50 }, ({ throttle, helpers: { cold, expectObservable } }) => {
        const op = adaptiveThrottle<string>(throttle);
        for (const t of [0, 100, 200, 300]) expectObservable(cold('#', undefined, tooMany()).pipe(op), at(t, '^')).toBe(at(t, '#'), undefined, tooMany());
      });
      expect(slow.delays).to.deep.equal([10, 20, 40, 50]);
      expect(slow.throttle.delay).to.equal(50);

      const fast = scenario({ initialDelay: 8, minDelay: 5, speedUpAfter: 1, speedUpFactor: 0.5 }, ({ throttle, helpers: { cold, expectObservable } }) => {
        const op = adaptiveThrottle<string>(throttle);
        for (const t of [0, 100, 200]) expectObservable(cold('a|').pipe(op), at(t, '^')).toBe(at(t, 'a|'));
      });
      expect(fast.delays).to.deep.equal([8, 5]);
    });

    it('slows down from 0 (a 429 at delay 0 gives 200 ms), and snaps delays under 1 ms to 0', () => {
      const zero = scenario({ initialDelay: 0 }, ({ throttle, helpers: { cold, expectObservable } }) => {
        expectObservable(cold('#', undefined, tooMany()).pipe(adaptiveThrottle(throttle))).toBe('#', undefined, tooMany());
      });
      expect(zero.delays).to.deep.equal([0, 200]);
      const tiny = scenario({ initialDelay: 1, speedUpAfter: 1, speedUpFactor: 0.5 }, ({ throttle, helpers: { cold, expectObservable } }) => {
        expectObservable(cold('a|').pipe(adaptiveThrottle(throttle))).toBe('a|');
      });
      expect(tiny.delays).to.deep.equal([1, 0]);
    });

    it('reproduces the seeds example: 1.0 s, 0.9 s after 10 successes, 0.81 s, 1.62 s after a 429', () => {
      const { delays } = scenario({ initialDelay: 1000 }, ({ throttle, later, helpers: { cold } }) => {
        const op = adaptiveThrottle<string>(throttle);
        for (let i = 0; i < 20; i++) later(i * 1000, () => cold('a|').pipe(op).subscribe());
        later(20_000, () => cold('#', undefined, tooMany()).pipe(op).subscribe({ error: () => undefined }));
      });
      expect(delays.map((d) => Math.round(d))).to.deep.equal([1000, 900, 810, 1620]);
    });
  });

  describe('queue', () => {
    it('unsubscribing a queued call removes it: it never reaches upstream and the next call takes its place', () => {
      const queued: number[] = [];
      scenario({ initialDelay: 0 }, ({ throttle, later, helpers: { cold, expectObservable, expectSubscriptions } }) => {
        const op = adaptiveThrottle<string>(throttle);
        const a = cold('-----a|');
        const b = cold('b|');
        const c = cold('c|');
        expectObservable(a.pipe(op)).toBe('-----a|');
        expectObservable(b.pipe(op), '-^-!').toBe('');
        expectObservable(c.pipe(op), '--^').toBe(at(6, 'c|'));
        expectSubscriptions(b.subscriptions).toBe([]);
        expectSubscriptions(c.subscriptions).toBe(at(6, '^!'));
        later(4, () => queued.push(throttle.stats().queued));
      });
      expect(queued).to.deep.equal([1]);
    });

    it('a speed-up while calls wait lets them start earlier (the timer is moved)', () => {
      const { delays } = scenario({ initialDelay: 10, maxConcurrent: 2, speedUpAfter: 1, speedUpFactor: 0.5 }, ({ throttle, helpers: { cold, expectObservable, expectSubscriptions } }) => {
        const op = adaptiveThrottle<string>(throttle);
        expectObservable(cold('-a|').pipe(op)).toBe('-a|');
        const waiting = cold('b|');
        expectObservable(waiting.pipe(op)).toBe(at(5, 'b|'));
        expectSubscriptions(waiting.subscriptions).toBe(at(5, '^!'));
      });
      expect(delays).to.deep.equal([10, 5, 2.5]);
    });

    it('a queued call that its subscriber drops synchronously on start (take(1)) is torn down and frees its slot', () => {
      const clock = useFakeClock(0);
      try {
        const throttle = new AdaptiveThrottle({ name: 'take', initialDelay: 10 });
        let tornDown = false;
        const endless = new Observable<number>((subscriber) => {
          subscriber.next(1);
          return () => (tornDown = true);
        });
        const seen: number[] = [];
        of(0).pipe(adaptiveThrottle(throttle)).subscribe((v) => seen.push(v));
        endless.pipe(adaptiveThrottle(throttle), take(1)).subscribe((v) => seen.push(v));
        clock.tick(10);
        expect([seen, tornDown, throttle.stats().running]).to.deep.equal([[0, 1], true, 0]);
        of(2).pipe(adaptiveThrottle(throttle)).subscribe((v) => seen.push(v));
        clock.tick(10);
        expect(seen).to.deep.equal([0, 1, 2]);
        expect(clock.countTimers()).to.equal(0);
      } finally {
        clock.restore();
      }
    });

    it('no timer runs while nothing waits; unsubscribing the only waiting call clears the timer', () => {
      const clock = useFakeClock(0);
      try {
        const throttle = new AdaptiveThrottle({ name: 'timers', initialDelay: 1000 });
        let upstream = 0;
        const call = defer(() => {
          upstream++;
          return of(1);
        }).pipe(adaptiveThrottle(throttle));
        call.subscribe();
        expect([upstream, clock.countTimers()]).to.deep.equal([1, 0]);
        const waiting = call.subscribe();
        expect([upstream, clock.countTimers(), throttle.stats().queued]).to.deep.equal([1, 1, 1]);
        waiting.unsubscribe();
        expect([clock.countTimers(), throttle.stats().queued]).to.deep.equal([0, 0]);
        clock.tick(5_000);
        expect(upstream).to.equal(1);
      } finally {
        clock.restore();
      }
    });

    it('paces real calls on the default scheduler and lets the process exit (no timer left)', async () => {
      const throttle = new AdaptiveThrottle({ name: 'wall', initialDelay: 20 });
      const starts: number[] = [];
      const call = (v: number): Observable<number> =>
        defer(() => {
          starts.push(performance.now());
          return of(v);
        }).pipe(adaptiveThrottle(throttle));
      const values = await lastValueFrom(merge(call(1), call(2), call(3)).pipe(toArray()));
      expect(values).to.deep.equal([1, 2, 3]);
      expect((starts[2] as number) - (starts[0] as number)).to.be.at.least(38);
    });
  });

  describe('delay$, stats, dispose, metrics', () => {
    it('delay$ replays the current delay to a new subscriber, emits each change once, and completes on dispose()', () => {
      const clock = useFakeClock(0);
      try {
        const throttle = new AdaptiveThrottle({ name: 'd', initialDelay: 0 });
        const seen: Array<number | string> = [];
        throwError(() => boom).pipe(adaptiveThrottle(throttle)).subscribe({ error: () => undefined });
        throttle.delay$.subscribe({ next: (d) => seen.push(d), complete: () => seen.push('done') });
        throwError(() => tooMany()).pipe(adaptiveThrottle(throttle)).subscribe({ error: () => undefined });
        expect(seen).to.deep.equal([150]);
        clock.tick(150);
        let waitingError: unknown;
        of(1).pipe(adaptiveThrottle(throttle)).subscribe({ error: (e) => (waitingError = e) }); // waits until 450
        throttle.dispose();
        expect(seen).to.deep.equal([150, 300, 'done']);
        expect((waitingError as NonRetriableError).code).to.equal('ERR_THROTTLE_DISPOSED');
        expect(clock.countTimers()).to.equal(0);
      } finally {
        clock.restore();
      }
    });

    it('dispose() fails waiting calls, clears the timer, and rejects later calls; running calls finish', () => {
      const disposed = new NonRetriableError('throttle "api" was disposed', { code: 'ERR_THROTTLE_DISPOSED' });
      const { throttle } = scenario({ initialDelay: 10 }, ({ throttle, later, helpers: { cold, expectObservable, expectSubscriptions } }) => {
        const op = adaptiveThrottle<string>(throttle);
        const waiting = cold('b|');
        expectObservable(cold('-----a|').pipe(op)).toBe('-----a|');
        expectObservable(waiting.pipe(op)).toBe(at(3, '#'), undefined, disposed);
        later(3, () => throttle.dispose());
        expectObservable(waiting.pipe(op), at(20, '^')).toBe(at(20, '#'), undefined, disposed);
        expectSubscriptions(waiting.subscriptions).toBe([]);
      });
      expect([throttle.stats().queued, throttle.stats().running]).to.deep.equal([0, 0]);
      throttle.dispose();
    });

    it('stats() reports the delay, queue, counts and the next start', () => {
      const snapshots: unknown[] = [];
      scenario({ initialDelay: 10 }, ({ throttle, later, helpers: { cold, expectObservable } }) => {
        const op = adaptiveThrottle<string>(throttle);
        expectObservable(cold('--a|').pipe(op)).toBe('--a|');
        expectObservable(cold('a|').pipe(op)).toBe(at(10, 'a|'));
        later(1, () => {
          const s = throttle.stats();
          snapshots.push([s.delay, s.queued, s.running, s.successes, s.nextStartAt, s.blockedUntil]);
        });
      });
      expect(snapshots).to.deep.equal([[10, 1, 1, 0, 10, undefined]]);
    });

    it('maintains the Prometheus delay gauge, rate-limited counter and queue-length gauge', async () => {
      const registry = new Registry();
      const clock = useFakeClock(0);
      try {
        const throttle = new AdaptiveThrottle({ name: 'prom', initialDelay: 500, registry });
        const read = async (name: string): Promise<number | undefined> => (await registry.getSingleMetric(name)?.get())?.values.find((v) => v.labels['throttle'] === 'prom')?.value;
        expect(await read('tributary_throttle_delay_seconds')).to.equal(0.5);
        throwError(() => tooMany()).pipe(adaptiveThrottle(throttle)).subscribe({ error: () => undefined });
        const waiting = of(1).pipe(adaptiveThrottle(throttle)).subscribe();
        expect(await read('tributary_throttle_delay_seconds')).to.equal(1);
        expect(await read('tributary_throttle_rate_limited_total')).to.equal(1);
        expect(await read('tributary_throttle_queue_length')).to.equal(1);
        waiting.unsubscribe();
        expect(await read('tributary_throttle_queue_length')).to.equal(0);
        throttle.dispose();
      } finally {
        clock.restore();
      }
    });

    it('with an options object the operator has its own throttle, shared by every subscription through it', () => {
      const clock = useFakeClock(0);
      try {
        const op = adaptiveThrottle<number>({ name: 'own', initialDelay: 100 });
        const other = adaptiveThrottle<number>({ name: 'other', initialDelay: 100 });
        const seen: number[] = [];
        of(1).pipe(op).subscribe((v) => seen.push(v));
        of(2).pipe(op).subscribe((v) => seen.push(v));
        of(3).pipe(other).subscribe((v) => seen.push(v));
        expect(seen).to.deep.equal([1, 3]);
        clock.tick(100);
        expect(seen).to.deep.equal([1, 3, 2]);
        expect(clock.countTimers()).to.equal(0);
      } finally {
        clock.restore();
      }
    });

    const bad: Array<[string, Partial<AdaptiveThrottleOptions>, RegExp]> = [
      ['an empty name', { name: '' }, /name/],
      ['a negative minDelay', { minDelay: -1 }, /minDelay/],
      ['maxDelay below minDelay', { minDelay: 10, maxDelay: 5 }, /maxDelay.*minDelay \(10\)/],
      ['initialDelay outside the bounds', { initialDelay: 100_000 }, /initialDelay.*\[0, 60000\]/],
      ['speedUpAfter 0', { speedUpAfter: 0 }, /speedUpAfter/],
      ['speedUpFactor above 1', { speedUpFactor: 1.1 }, /speedUpFactor/],
      ['rateLimitFactor below 1', { rateLimitFactor: 0.5 }, /rateLimitFactor/],
      ['errorFactor NaN', { errorFactor: Number.NaN }, /errorFactor/],
      ['maxConcurrent 0', { maxConcurrent: 0 }, /maxConcurrent/],
      ['an infinite maxRetryAfter', { maxRetryAfter: Infinity }, /maxRetryAfter/],
      ['classify that is not a function', { classify: 'x' as unknown as () => 'error' }, /classify/],
    ];
    for (const [what, options, message] of bad) {
      it(`rejects ${what} with a ConfigError naming the option`, () => {
        expect(() => new AdaptiveThrottle({ name: 'cfg', ...options })).to.throw(message).that.satisfies(isConfigError);
      });
    }
  });
});
