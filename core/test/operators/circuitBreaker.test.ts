import { expect } from 'chai';
import sinon from 'sinon';
import { Registry } from 'prom-client';
import { EMPTY, Observable, defer, firstValueFrom, of, retry, throwError, type SchedulerLike } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import {
  CircuitBreaker,
  circuitBreaker,
  type CircuitBreakerOptions,
  type CircuitBreakerSnapshot,
  type CircuitTransition,
} from '../../src/operators/circuitBreaker.js';
import { CircuitOpenError, isCircuitOpenError } from '../../src/errors/CircuitOpenError.js';
import { isConfigError } from '../../src/errors/ConfigError.js';
import { HttpError } from '../../src/errors/HttpError.js';

/** Fake timers and Date only (not nextTick/microtasks), so that countTimers() counts timers alone. */
const useFakeClock = (now: number): sinon.SinonFakeTimers =>
  sinon.useFakeTimers({ now, toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'clearImmediate', 'Date'] });

const makeScheduler = (): TestScheduler => new TestScheduler((actual, expected) => {
  expect(actual).to.deep.equal(expected);
});

/** A marble that puts `marble` at frame `t` (time progression syntax). */
const at = (t: number, marble: string): string => (t === 0 ? marble : `${t}ms ${marble}`);

const boom = new Error('boom');
const open = (retryAfterMs: number): CircuitOpenError => new CircuitOpenError('api', retryAfterMs);

/** Runs `body` in virtual time with a breaker named `api` on the test scheduler. */
function scenario(
  options: Partial<CircuitBreakerOptions>,
  body: (ctx: {
    ts: TestScheduler;
    breaker: CircuitBreaker;
    events: CircuitTransition[];
    helpers: Parameters<Parameters<TestScheduler['run']>[0]>[0];
    later: (t: number, fn: () => void) => void;
  }) => void,
): { breaker: CircuitBreaker; events: CircuitTransition[] } {
  const ts = makeScheduler();
  const breaker = new CircuitBreaker({ name: 'api', failureThreshold: 3, successThreshold: 2, resetTimeout: 100, scheduler: ts, ...options });
  const events: CircuitTransition[] = [];
  breaker.state$.subscribe((e) => events.push(e));
  ts.run((helpers) => {
    body({ ts, breaker, events, helpers, later: (t, fn) => ts.schedule(fn, t) });
  });
  return { breaker, events };
}

describe('circuitBreaker', () => {
  let warn: sinon.SinonStub;
  beforeEach(() => {
    warn = sinon.stub(process, 'emitWarning');
  });
  afterEach(() => {
    sinon.restore();
  });

  describe('the checklist', () => {
    it('never: stays subscribed, counts nothing', () => {
      const { breaker } = scenario({}, ({ breaker, helpers: { cold, expectObservable, expectSubscriptions } }) => {
        const source = cold('-');
        expectObservable(source.pipe(circuitBreaker(breaker))).toBe('-');
        expectSubscriptions(source.subscriptions).toBe('^');
      });
      const stats = breaker.stats();
      expect([stats.state, stats.successes, stats.failures, stats.cancelled]).to.deep.equal(['closed', 0, 0, 0]);
    });

    it('empty: completes at once and counts a success', () => {
      const { breaker } = scenario({}, ({ breaker, helpers: { cold, expectObservable, expectSubscriptions } }) => {
        const source = cold('|');
        expectObservable(source.pipe(circuitBreaker(breaker))).toBe('|');
        expectSubscriptions(source.subscriptions).toBe('(^!)');
      });
      expect(breaker.stats().successes).to.equal(1);
    });

    it('one value: passes it through and completes', () => {
      scenario({}, ({ breaker, helpers: { cold, expectObservable } }) => {
        expectObservable(cold('--a|').pipe(circuitBreaker(breaker))).toBe('--a|');
      });
    });

    it('many values: passes them through unchanged', () => {
      const values = { a: 1, b: 2, c: 3 };
      scenario({}, ({ breaker, helpers: { cold, expectObservable } }) => {
        expectObservable(cold('a-b-c|', values).pipe(circuitBreaker(breaker))).toBe('a-b-c|', values);
      });
    });

    it('error: forwards the error unchanged and counts a failure', () => {
      const { breaker } = scenario({}, ({ breaker, helpers: { cold, expectObservable } }) => {
        expectObservable(cold('-a#', undefined, boom).pipe(circuitBreaker(breaker))).toBe('-a#', undefined, boom);
      });
      const stats = breaker.stats();
      expect([stats.failures, stats.consecutiveFailures, stats.state]).to.deep.equal([1, 1, 'closed']);
    });

    it('early unsubscribe: unsubscribes upstream and counts neither success nor failure', () => {
      const { breaker } = scenario({}, ({ breaker, helpers: { cold, expectObservable, expectSubscriptions } }) => {
        const source = cold('-a---b|');
        expectObservable(source.pipe(circuitBreaker(breaker)), '^--!').toBe('-a-');
        expectSubscriptions(source.subscriptions).toBe('^--!');
      });
      const stats = breaker.stats();
      expect([stats.successes, stats.failures, stats.cancelled]).to.deep.equal([0, 0, 1]);
    });

    it('isFailure throws: the call counts as a failure, the original error goes downstream, the exception is reported', () => {
      const oops = new Error('isFailure broke');
      const { breaker } = scenario(
        {
          failureThreshold: 1,
          isFailure: () => {
            throw oops;
          },
        },
        ({ breaker, helpers: { cold, expectObservable } }) => {
          expectObservable(cold('-#', undefined, boom).pipe(circuitBreaker(breaker))).toBe('-#', undefined, boom);
        },
      );
      expect(breaker.state).to.equal('open');
      expect(breaker.stats().failures).to.equal(1);
      expect(warn.calledOnceWith(oops)).to.equal(true);
    });

    it('isFailure returning false makes an error count as a success', () => {
      const { breaker } = scenario({ failureThreshold: 1, isFailure: (e) => e !== boom }, ({ breaker, helpers: { cold, expectObservable } }) => {
        expectObservable(cold('-#', undefined, boom).pipe(circuitBreaker(breaker))).toBe('-#', undefined, boom);
      });
      expect([breaker.state, breaker.stats().successes]).to.deep.equal(['closed', 1]);
    });

    it('concurrent subscribers: all go through while closed and every failure counts', () => {
      const { breaker, events } = scenario({ failureThreshold: 3 }, ({ breaker, helpers: { cold, expectObservable, expectSubscriptions } }) => {
        const source = cold('--#', undefined, boom);
        const guarded = source.pipe(circuitBreaker(breaker));
        expectObservable(guarded).toBe('--#', undefined, boom);
        expectObservable(guarded).toBe('--#', undefined, boom);
        expectObservable(guarded, '-^').toBe('---#', undefined, boom);
        expectSubscriptions(source.subscriptions).toBe(['^-!', '^-!', '-^-!']);
      });
      expect(events.map((e) => [e.to, e.at])).to.deep.equal([['open', 3]]);
      expect(breaker.stats().failures).to.equal(3);
    });
  });

  describe('closed', () => {
    it('opens after failureThreshold consecutive failures; a success in between resets the count', () => {
      const { events } = scenario({ failureThreshold: 3 }, ({ breaker, helpers: { cold, expectObservable, expectSubscriptions } }) => {
        const fail = cold('-#', undefined, boom);
        const ok = cold('-a|');
        const op = circuitBreaker<string>(breaker);
        expectObservable(fail.pipe(op), at(0, '^')).toBe(at(1, '#'), undefined, boom);
        expectObservable(fail.pipe(op), at(2, '^')).toBe(at(3, '#'), undefined, boom);
        expectObservable(ok.pipe(op), at(4, '^')).toBe(at(5, 'a|'));
        expectObservable(fail.pipe(op), at(10, '^')).toBe(at(11, '#'), undefined, boom);
        expectObservable(fail.pipe(op), at(12, '^')).toBe(at(13, '#'), undefined, boom);
        expectObservable(fail.pipe(op), at(14, '^')).toBe(at(15, '#'), undefined, boom);
        expectObservable(fail.pipe(op), at(16, '^')).toBe(at(16, '#'), undefined, open(99));
        expectSubscriptions(fail.subscriptions).toBe([at(0, '^!'), at(2, '^!'), at(10, '^!'), at(12, '^!'), at(14, '^!')]);
      });
      expect(events).to.deep.equal([{ breaker: 'api', from: 'closed', to: 'open', reason: 'failure-threshold', at: 15 }]);
    });

    it('HTTP 4xx client errors (not 408/429) are not failures by default; 408, 429 and 5xx are', () => {
      const { breaker } = scenario({ failureThreshold: 2 }, ({ breaker, helpers: { cold, expectObservable } }) => {
        const op = circuitBreaker(breaker);
        const notFound = new HttpError({ status: 404 });
        const foreign400 = { statusCode: 400, message: 'bad request from another client' };
        const timedOut = new HttpError({ status: 408 });
        const unavailable = new HttpError({ status: 503 });
        for (let t = 0; t < 6; t += 2) expectObservable(cold('-#', undefined, notFound).pipe(op), at(t, '^')).toBe(at(t + 1, '#'), undefined, notFound);
        expectObservable(cold('-#', undefined, foreign400).pipe(op), at(6, '^')).toBe(at(7, '#'), undefined, foreign400);
        expectObservable(cold('-#', undefined, timedOut).pipe(op), at(10, '^')).toBe(at(11, '#'), undefined, timedOut);
        expectObservable(cold('-#', undefined, unavailable).pipe(op), at(12, '^')).toBe(at(13, '#'), undefined, unavailable);
        expectObservable(cold('-#', undefined, notFound).pipe(op), at(20, '^')).toBe(at(20, '#'), undefined, open(93));
      });
      const stats = breaker.stats();
      expect([stats.successes, stats.failures, stats.rejections]).to.deep.equal([4, 2, 1]);
      const tooMany = new CircuitBreaker({ name: 'b', failureThreshold: 1 });
      return firstValueFrom(throwError(() => ({ status: 429 })).pipe(circuitBreaker(tooMany))).then(
        () => expect.fail('should fail'),
        () => expect(tooMany.state).to.equal('open'),
      );
    });

    it('a cancelled call neither resets nor adds to the consecutive failures', () => {
      const { events } = scenario({ failureThreshold: 2 }, ({ breaker, helpers: { cold, expectObservable } }) => {
        const op = circuitBreaker(breaker);
        expectObservable(cold('-#', undefined, boom).pipe(op), '^').toBe('-#', undefined, boom);
        expectObservable(cold('-----a|').pipe(op), '--^-!').toBe('----');
        expectObservable(cold('-#', undefined, boom).pipe(op), at(6, '^')).toBe(at(7, '#'), undefined, boom);
      });
      expect(events.map((e) => [e.to, e.at])).to.deep.equal([['open', 7]]);
    });

    it('rejections reach a downstream retry synchronously: upstream is not called once the circuit is open', () => {
      const breaker = new CircuitBreaker({ name: 'sync', failureThreshold: 2 });
      let calls = 0;
      const failing = defer(() => {
        calls++;
        return throwError(() => boom);
      });
      let caught: unknown;
      failing.pipe(circuitBreaker(breaker), retry(5)).subscribe({ error: (e) => (caught = e) });
      expect(calls).to.equal(2);
      expect(isCircuitOpenError(caught)).to.equal(true);
      expect(breaker.stats().rejections).to.equal(4);
    });
  });

  describe('open', () => {
    it('rejects at once with CircuitOpenError (name, ms until the trial) without subscribing upstream', () => {
      const { breaker } = scenario({ failureThreshold: 1 }, ({ breaker, helpers: { cold, expectObservable, expectSubscriptions } }) => {
        const fail = cold('-#', undefined, boom);
        const ok = cold('-a|');
        const op = circuitBreaker<string>(breaker);
        expectObservable(fail.pipe(op)).toBe('-#', undefined, boom);
        expectObservable(ok.pipe(op), at(2, '^')).toBe(at(2, '#'), undefined, open(99));
        expectObservable(ok.pipe(op), at(60, '^')).toBe(at(60, '#'), undefined, open(41));
        expectSubscriptions(ok.subscriptions).toBe([]);
      });
      const rejected = breaker.stats();
      expect([rejected.rejections, rejected.openedAt, rejected.nextTrialAt]).to.deep.equal([2, 1, 101]);
    });

    it('after resetTimeout the next subscription is a half-open trial; `state` turns half-open lazily, with no timer', () => {
      const states: string[] = [];
      const { events } = scenario({ failureThreshold: 1 }, ({ breaker, later, helpers: { cold, expectObservable, expectSubscriptions } }) => {
        const ok = cold('-a|');
        const op = circuitBreaker<string>(breaker);
        expectObservable(cold('-#', undefined, boom).pipe(op)).toBe('-#', undefined, boom);
        later(100, () => states.push(breaker.state));
        expectObservable(ok.pipe(op), at(100, '^')).toBe(at(100, '#'), undefined, open(1));
        later(101, () => states.push(breaker.state));
        expectObservable(ok.pipe(op), at(101, '^')).toBe(at(102, 'a|'));
        expectSubscriptions(ok.subscriptions).toBe(at(101, '^-!'));
      });
      expect(states).to.deep.equal(['open', 'half-open']);
      expect(events.map((e) => [e.from, e.to, e.reason, e.at])).to.deep.equal([
        ['closed', 'open', 'failure-threshold', 1],
        ['open', 'half-open', 'reset-timeout', 101],
      ]);
    });

    it('failures of concurrent calls arriving after it opened do not restart the timer', () => {
      const { breaker, events } = scenario({ failureThreshold: 2 }, ({ breaker, helpers: { cold, expectObservable } }) => {
        const op = circuitBreaker(breaker);
        expectObservable(cold('-#', undefined, boom).pipe(op)).toBe('-#', undefined, boom);
        expectObservable(cold('--#', undefined, boom).pipe(op)).toBe('--#', undefined, boom);
        expectObservable(cold('---#', undefined, boom).pipe(op)).toBe('---#', undefined, boom);
        expectObservable(cold('----#', undefined, boom).pipe(op)).toBe('----#', undefined, boom);
        expectObservable(cold('-a|').pipe(op), at(101, '^')).toBe(at(101, '#'), undefined, open(1));
        expectObservable(cold('-a|').pipe(op), at(102, '^')).toBe(at(103, 'a|'));
      });
      expect(events.map((e) => [e.to, e.at])).to.deep.equal([
        ['open', 2],
        ['half-open', 102],
      ]);
      expect([breaker.stats().failures, breaker.stats().lateResults]).to.deep.equal([2, 2]);
    });

    it('late results (calls started before it opened) change nothing, in open or half-open', () => {
      const { breaker, events } = scenario({ failureThreshold: 1, successThreshold: 1 }, ({ breaker, helpers: { cold, expectObservable, expectSubscriptions } }) => {
        const op = circuitBreaker<string>(breaker);
        expectObservable(cold('-#', undefined, boom).pipe(op)).toBe('-#', undefined, boom);
        // started while closed; completes while open (frame 6) and while half-open (frame 150)
        expectObservable(cold('------a|').pipe(op)).toBe('------a|');
        expectObservable(cold('149ms a|').pipe(op)).toBe('149ms a|');
        expectObservable(cold('-a|').pipe(op), at(50, '^')).toBe(at(50, '#'), undefined, open(51));
        // the half-open slot is still free at 152: the late success at 150 was not taken for a trial
        const trial = cold('-a|');
        expectObservable(trial.pipe(op), at(152, '^')).toBe(at(153, 'a|'));
        expectSubscriptions(trial.subscriptions).toBe(at(152, '^-!'));
      });
      expect(events.map((e) => [e.to, e.reason, e.at])).to.deep.equal([
        ['open', 'failure-threshold', 1],
        ['half-open', 'reset-timeout', 101],
        ['closed', 'trials-succeeded', 154],
      ]);
      expect(breaker.stats().lateResults).to.equal(2);
    });
  });

  describe('half-open', () => {
    it('lets at most halfOpenMaxConcurrent trials run; others are rejected with the time until a slot frees', () => {
      const { events } = scenario(
        { failureThreshold: 1, halfOpenMaxConcurrent: 2, halfOpenTimeout: 50, successThreshold: 2 },
        ({ breaker, helpers: { cold, expectObservable, expectSubscriptions } }) => {
          const op = circuitBreaker<string>(breaker);
          expectObservable(cold('-#', undefined, boom).pipe(op)).toBe('-#', undefined, boom);
          const trial = cold('----a|');
          expectObservable(trial.pipe(op), at(101, '^')).toBe(at(105, 'a|'));
          expectObservable(trial.pipe(op), at(101, '^')).toBe(at(105, 'a|'));
          expectObservable(trial.pipe(op), at(101, '^')).toBe(at(101, '#'), undefined, open(50));
          expectObservable(trial.pipe(op), at(103, '^')).toBe(at(103, '#'), undefined, open(48));
          expectObservable(trial.pipe(op), at(107, '^')).toBe(at(111, 'a|'));
          expectSubscriptions(trial.subscriptions).toBe([at(101, '^----!'), at(101, '^----!'), at(107, '^----!')]);
        },
      );
      expect(events.map((e) => [e.to, e.at])).to.deep.equal([
        ['open', 1],
        ['half-open', 101],
        ['closed', 106],
      ]);
    });

    it('closes after successThreshold successful trials, not before', () => {
      const states: string[] = [];
      scenario({ failureThreshold: 1, successThreshold: 3 }, ({ breaker, later, helpers: { cold, expectObservable } }) => {
        const op = circuitBreaker<string>(breaker);
        expectObservable(cold('-#', undefined, boom).pipe(op)).toBe('-#', undefined, boom);
        const ok = cold('-a|');
        for (const t of [101, 104, 107]) {
          expectObservable(ok.pipe(op), at(t, '^')).toBe(at(t + 1, 'a|'));
          later(t + 3, () => states.push(`${breaker.state}/${breaker.stats().halfOpenSuccesses}`));
        }
      });
      expect(states).to.deep.equal(['half-open/1', 'half-open/2', 'closed/0']);
    });

    it('a failed trial reopens the circuit and restarts the reset timer from the failure', () => {
      const { events } = scenario({ failureThreshold: 1 }, ({ breaker, helpers: { cold, expectObservable, expectSubscriptions } }) => {
        const op = circuitBreaker<string>(breaker);
        const fail = cold('-#', undefined, boom);
        expectObservable(fail.pipe(op)).toBe('-#', undefined, boom);
        expectObservable(fail.pipe(op), at(101, '^')).toBe(at(102, '#'), undefined, boom);
        expectObservable(fail.pipe(op), at(150, '^')).toBe(at(150, '#'), undefined, open(52));
        expectObservable(fail.pipe(op), at(201, '^')).toBe(at(201, '#'), undefined, open(1));
        expectObservable(cold('-a|').pipe(op), at(202, '^')).toBe(at(203, 'a|'));
        expectSubscriptions(fail.subscriptions).toBe(['^!', at(101, '^!')]);
      });
      expect(events.map((e) => [e.from, e.to, e.reason, e.at])).to.deep.equal([
        ['closed', 'open', 'failure-threshold', 1],
        ['open', 'half-open', 'reset-timeout', 101],
        ['half-open', 'open', 'trial-failed', 102],
        ['open', 'half-open', 'reset-timeout', 202],
      ]);
    });

    it('a trial that never finishes is counted as failed once it ran longer than halfOpenTimeout (lazily, no timer)', () => {
      const { breaker, events } = scenario(
        { failureThreshold: 1, successThreshold: 1, halfOpenTimeout: 20 },
        ({ breaker, helpers: { cold, expectObservable, expectSubscriptions } }) => {
          const op = circuitBreaker<string>(breaker);
          expectObservable(cold('-#', undefined, boom).pipe(op)).toBe('-#', undefined, boom);
          const stuck = cold('-');
          expectObservable(stuck.pipe(op), at(101, '^')).toBe('-');
          expectObservable(cold('a|').pipe(op), at(110, '^')).toBe(at(110, '#'), undefined, open(11));
          expectObservable(cold('a|').pipe(op), at(121, '^')).toBe(at(121, '#'), undefined, open(0));
          // at 122 the trial has run 21 ms > 20: it counts as failed at 121 and the circuit reopened then
          expectObservable(cold('a|').pipe(op), at(122, '^')).toBe(at(122, '#'), undefined, open(99));
          expectObservable(cold('a|').pipe(op), at(221, '^')).toBe(at(221, 'a|'));
          expectSubscriptions(stuck.subscriptions).toBe(at(101, '^'));
        },
      );
      expect(events.map((e) => [e.to, e.reason, e.at])).to.deep.equal([
        ['open', 'failure-threshold', 1],
        ['half-open', 'reset-timeout', 101],
        ['open', 'trial-timeout', 121],
        ['half-open', 'reset-timeout', 221],
        ['closed', 'trials-succeeded', 222],
      ]);
      expect(breaker.stats().failures).to.equal(2);
    });

    it('a trial that completes after halfOpenTimeout is ignored: it had already counted as failed', () => {
      const { events } = scenario({ failureThreshold: 1, successThreshold: 1, halfOpenTimeout: 20 }, ({ breaker, helpers: { cold, expectObservable } }) => {
        const op = circuitBreaker<string>(breaker);
        expectObservable(cold('-#', undefined, boom).pipe(op)).toBe('-#', undefined, boom);
        expectObservable(cold('30ms a|').pipe(op), at(101, '^')).toBe(at(131, 'a|'));
      });
      expect(events.map((e) => [e.to, e.reason, e.at])).to.deep.equal([
        ['open', 'failure-threshold', 1],
        ['half-open', 'reset-timeout', 101],
        ['open', 'trial-timeout', 121],
      ]);
    });

    it('a cancelled trial frees its slot and counts as neither', () => {
      const { breaker } = scenario({ failureThreshold: 1, successThreshold: 2 }, ({ breaker, helpers: { cold, expectObservable, expectSubscriptions } }) => {
        const op = circuitBreaker<string>(breaker);
        expectObservable(cold('-#', undefined, boom).pipe(op)).toBe('-#', undefined, boom);
        const slow = cold('-----a|');
        expectObservable(slow.pipe(op), at(101, '^--!')).toBe('');
        expectObservable(cold('-a|').pipe(op), at(102, '^')).toBe(at(102, '#'), undefined, open(99));
        expectObservable(cold('-a|').pipe(op), at(104, '^')).toBe(at(105, 'a|'));
        expectSubscriptions(slow.subscriptions).toBe(at(101, '^--!'));
      });
      const stats = breaker.stats();
      expect([stats.state, stats.halfOpenSuccesses, stats.cancelled, stats.failures]).to.deep.equal(['half-open', 1, 1, 1]);
    });
  });

  describe('window mode', () => {
    it('opens on the failure rate, only once minimumCalls calls are in the window; failureThreshold is ignored', () => {
      const { events } = scenario(
        { failureThreshold: 1, failureRateThreshold: 0.5, windowSize: 4, minimumCalls: 4 },
        ({ breaker, helpers: { cold, expectObservable } }) => {
          const op = circuitBreaker<string>(breaker);
          for (const t of [0, 2, 4]) expectObservable(cold('-#', undefined, boom).pipe(op), at(t, '^')).toBe(at(t + 1, '#'), undefined, boom);
          expectObservable(cold('-a|').pipe(op), at(6, '^')).toBe(at(7, 'a|'));
          expectObservable(cold('-a|').pipe(op), at(10, '^')).toBe(at(10, '#'), undefined, open(98));
        },
      );
      expect(events.map((e) => [e.to, e.reason, e.at])).to.deep.equal([['open', 'failure-rate', 8]]);
    });

    it('the window slides: only the last windowSize calls count', () => {
      const states: string[] = [];
      const { events } = scenario(
        { failureRateThreshold: 0.75, windowSize: 4, minimumCalls: 4 },
        ({ breaker, later, helpers: { cold, expectObservable } }) => {
          const op = circuitBreaker<string>(breaker);
          // outcomes: f f s s s f f f -> windows: ffss .5, fsss .25, sssf .25, ssff .5, sfff .75
          'ffsssfff'.split('').forEach((o, i) => {
            const t = i * 2;
            if (o === 'f') expectObservable(cold('-#', undefined, boom).pipe(op), at(t, '^')).toBe(at(t + 1, '#'), undefined, boom);
            else expectObservable(cold('a|').pipe(op), at(t, '^')).toBe(at(t, 'a|'));
            // read after the outcome: actions scheduled now run before the notifications of that frame
            later(t + 2, () => states.push(breaker.state[0] ?? '?'));
          });
        },
      );
      expect(states.join('')).to.equal('ccccccco');
      expect(events.map((e) => [e.to, e.reason, e.at])).to.deep.equal([['open', 'failure-rate', 15]]);
    });

    it('slow calls: counted when slower than slowCallDuration, still successes downstream; a slow-call rate opens the circuit', () => {
      const { breaker, events } = scenario(
        { slowCallDuration: 5, slowCallRateThreshold: 0.6, windowSize: 3, minimumCalls: 3 },
        ({ breaker, helpers: { cold, expectObservable } }) => {
          const op = circuitBreaker<string>(breaker);
          expectObservable(cold('-----a|').pipe(op)).toBe('-----a|'); // 6 ms: slow
          expectObservable(cold('----a|').pipe(op), at(10, '^')).toBe(at(14, 'a|')); // 5 ms: not slow
          expectObservable(cold('-------a|').pipe(op), at(20, '^')).toBe(at(27, 'a|')); // 8 ms: slow; 2 of 3 slow
          expectObservable(cold('a|').pipe(op), at(30, '^')).toBe(at(30, '#'), undefined, open(98));
        },
      );
      expect(events.map((e) => [e.to, e.reason, e.at])).to.deep.equal([['open', 'slow-call-rate', 28]]);
      expect([breaker.stats().successes, breaker.stats().slowCalls]).to.deep.equal([3, 2]);
    });

    it('in consecutive mode slow calls are only counted', () => {
      const { breaker } = scenario({ slowCallDuration: 1 }, ({ breaker, helpers: { cold, expectObservable } }) => {
        for (const t of [0, 10, 20, 30, 40]) expectObservable(cold('-----a|').pipe(circuitBreaker(breaker)), at(t, '^')).toBe(at(t + 5, 'a|'));
      });
      expect([breaker.state, breaker.stats().slowCalls, breaker.stats().window]).to.deep.equal(['closed', 5, undefined]);
    });

    it('in window mode with slow-call counting a slow trial reopens the circuit', () => {
      const { events } = scenario(
        { failureRateThreshold: 0.5, windowSize: 1, minimumCalls: 1, slowCallDuration: 5 },
        ({ breaker, helpers: { cold, expectObservable } }) => {
          const op = circuitBreaker<string>(breaker);
          expectObservable(cold('-#', undefined, boom).pipe(op)).toBe('-#', undefined, boom);
          expectObservable(cold('-------a|').pipe(op), at(101, '^')).toBe(at(108, 'a|'));
        },
      );
      expect(events.map((e) => [e.to, e.reason, e.at])).to.deep.equal([
        ['open', 'failure-rate', 1],
        ['half-open', 'reset-timeout', 101],
        ['open', 'trial-slow', 109],
      ]);
    });
  });

  describe('state', () => {
    it('state$ emits every transition with its reason and time; dispose() completes it, the breaker keeps working', () => {
      let completed = false;
      const { breaker, events } = scenario({ failureThreshold: 1, successThreshold: 1 }, ({ breaker, later, helpers: { cold, expectObservable } }) => {
        breaker.state$.subscribe({ complete: () => (completed = true) });
        const op = circuitBreaker<string>(breaker);
        expectObservable(cold('-#', undefined, boom).pipe(op)).toBe('-#', undefined, boom);
        expectObservable(cold('-a|').pipe(op), at(101, '^')).toBe(at(102, 'a|'));
        later(110, () => breaker.dispose());
        expectObservable(cold('-#', undefined, boom).pipe(op), at(120, '^')).toBe(at(121, '#'), undefined, boom);
      });
      expect(events).to.deep.equal([
        { breaker: 'api', from: 'closed', to: 'open', reason: 'failure-threshold', at: 1 },
        { breaker: 'api', from: 'open', to: 'half-open', reason: 'reset-timeout', at: 101 },
        { breaker: 'api', from: 'half-open', to: 'closed', reason: 'trials-succeeded', at: 103 },
      ]);
      expect(completed).to.equal(true);
      expect(breaker.state).to.equal('open');
    });

    it('a late subscriber to state$ gets only later transitions', () => {
      const breaker = new CircuitBreaker({ name: 'late', failureThreshold: 1 });
      throwError(() => boom).pipe(circuitBreaker(breaker)).subscribe({ error: () => undefined });
      const seen: CircuitTransition[] = [];
      breaker.state$.subscribe((e) => seen.push(e));
      expect(seen).to.deep.equal([]);
      breaker.reset();
      expect(seen.map((e) => [e.from, e.to, e.reason])).to.deep.equal([['open', 'closed', 'reset']]);
    });

    it('reset() closes the circuit, forgets history and ignores results of calls already running', () => {
      const { breaker, events } = scenario({ failureThreshold: 2 }, ({ breaker, later, helpers: { cold, expectObservable } }) => {
        const op = circuitBreaker<string>(breaker);
        expectObservable(cold('-#', undefined, boom).pipe(op)).toBe('-#', undefined, boom);
        expectObservable(cold('---#', undefined, boom).pipe(op)).toBe('---#', undefined, boom);
        later(2, () => breaker.reset());
        // after reset: the failure at 3 is ignored, so one more failure does not open it
        expectObservable(cold('-#', undefined, boom).pipe(op), at(5, '^')).toBe(at(6, '#'), undefined, boom);
      });
      expect([breaker.state, breaker.stats().consecutiveFailures, breaker.stats().lateResults]).to.deep.equal(['closed', 1, 1]);
      expect(events).to.deep.equal([]);
    });

    it('reset() from open emits a reset transition and lets calls through again', () => {
      const breaker = new CircuitBreaker({ name: 'r', failureThreshold: 1 });
      const events: CircuitTransition[] = [];
      breaker.state$.subscribe((e) => events.push(e));
      throwError(() => boom).pipe(circuitBreaker(breaker)).subscribe({ error: () => undefined });
      expect(breaker.state).to.equal('open');
      breaker.reset();
      let value: unknown;
      of(42).pipe(circuitBreaker(breaker)).subscribe((v) => (value = v));
      expect([breaker.state, value, events.map((e) => e.reason)]).to.deep.equal(['closed', 42, ['failure-threshold', 'reset']]);
    });

    it('stats() reports counts, times and the window', () => {
      const snapshots: unknown[] = [];
      scenario(
        { failureRateThreshold: 0.9, windowSize: 4, minimumCalls: 2, slowCallDuration: 3 },
        ({ breaker, later, helpers: { cold, expectObservable } }) => {
          const op = circuitBreaker<string>(breaker);
          expectObservable(cold('-#', undefined, boom).pipe(op)).toBe('-#', undefined, boom);
          expectObservable(cold('----a|').pipe(op), at(2, '^')).toBe(at(6, 'a|'));
          later(10, () => {
            const s = breaker.stats();
            snapshots.push([s.state, s.successes, s.failures, s.slowCalls, s.consecutiveFailures, s.window, s.openedAt, s.nextTrialAt]);
          });
        },
      );
      expect(snapshots).to.deep.equal([['closed', 1, 1, 1, 0, { calls: 2, failures: 1, slowCalls: 1, failureRate: 0.5, slowCallRate: 0.5 }, undefined, undefined]]);
    });
  });

  describe('serialization', () => {
    it('toJSON() of an open breaker restores into one that rejects until the same moment', () => {
      let snapshot: CircuitBreakerSnapshot | undefined;
      scenario({ failureThreshold: 1 }, ({ breaker, later, helpers: { cold, expectObservable } }) => {
        expectObservable(cold('-#', undefined, boom).pipe(circuitBreaker(breaker))).toBe('-#', undefined, boom);
        later(50, () => (snapshot = JSON.parse(JSON.stringify(breaker)) as CircuitBreakerSnapshot));
      });
      expect(snapshot).to.deep.equal({ version: 1, name: 'api', state: 'open', openedAt: 1, consecutiveFailures: 0, halfOpenSuccesses: 0, window: [] });

      // a new process: same clock (epoch ms in real life), a fresh breaker restored from the snapshot
      const clock = { t: 50, now(): number { return this.t; } };
      const restored = CircuitBreaker.fromJSON(snapshot as CircuitBreakerSnapshot, { name: 'api', resetTimeout: 100, scheduler: clock as unknown as SchedulerLike });
      const errors: unknown[] = [];
      of(1).pipe(circuitBreaker(restored)).subscribe({ error: (e) => errors.push(e) });
      expect(errors).to.deep.equal([open(51)]);
      clock.t = 101;
      expect(restored.state).to.equal('half-open');
    });

    it('a snapshot opened "in the future" (clock skew) is restored as opened now', () => {
      const clock = { now: (): number => 1_000 };
      const snapshot: CircuitBreakerSnapshot = { version: 1, name: 'f', state: 'open', openedAt: 999_999, consecutiveFailures: 0, halfOpenSuccesses: 0, window: [] };
      const restored = CircuitBreaker.fromJSON(snapshot, { name: 'f', resetTimeout: 100, scheduler: clock as unknown as SchedulerLike });
      expect([restored.stats().openedAt, restored.stats().nextTrialAt]).to.deep.equal([1_000, 1_100]);
    });

    it('restores the closed state with its consecutive failures and window', () => {
      const counting = new CircuitBreaker({ name: 'c', failureThreshold: 3 });
      for (let i = 0; i < 2; i++) throwError(() => boom).pipe(circuitBreaker(counting)).subscribe({ error: () => undefined });
      const restored = new CircuitBreaker({ name: 'c', failureThreshold: 3, initialState: counting.toJSON() });
      expect(restored.stats().consecutiveFailures).to.equal(2);
      throwError(() => boom).pipe(circuitBreaker(restored)).subscribe({ error: () => undefined });
      expect(restored.state).to.equal('open');

      const windowed = new CircuitBreaker({ name: 'w', failureRateThreshold: 0.5, windowSize: 4, minimumCalls: 4 });
      throwError(() => boom).pipe(circuitBreaker(windowed)).subscribe({ error: () => undefined });
      of(1).pipe(circuitBreaker(windowed)).subscribe();
      throwError(() => boom).pipe(circuitBreaker(windowed)).subscribe({ error: () => undefined });
      const json = windowed.toJSON();
      expect(json.window).to.deep.equal([1, 0, 1]);
      const again = CircuitBreaker.fromJSON(json, { name: 'w', failureRateThreshold: 0.5, windowSize: 4, minimumCalls: 4 });
      expect(again.state).to.equal('closed');
      of(1).pipe(circuitBreaker(again)).subscribe();
      expect(again.state).to.equal('open');
    });

    it('restores half-open (with its trial successes, no running trials)', () => {
      const snapshot: CircuitBreakerSnapshot = { version: 1, name: 'h', state: 'half-open', openedAt: 0, consecutiveFailures: 0, halfOpenSuccesses: 1, window: [] };
      const breaker = CircuitBreaker.fromJSON(snapshot, { name: 'h', successThreshold: 2 });
      expect(breaker.stats().halfOpenSuccesses).to.equal(1);
      of(1).pipe(circuitBreaker(breaker)).subscribe();
      expect(breaker.state).to.equal('closed');
    });

    it('rejects a malformed snapshot with a ConfigError naming the field', () => {
      const bad = { version: 1, name: 'x', state: 'ajar', openedAt: null, consecutiveFailures: 0, halfOpenSuccesses: 0, window: [] };
      expect(() => CircuitBreaker.fromJSON(bad as unknown as CircuitBreakerSnapshot, { name: 'x' }))
        .to.throw(/initialState\.state/)
        .that.satisfies(isConfigError);
      const noTime = { ...bad, state: 'open' };
      expect(() => CircuitBreaker.fromJSON(noTime as unknown as CircuitBreakerSnapshot, { name: 'x' })).to.throw(/initialState\.openedAt/);
    });
  });

  describe('options and wiring', () => {
    it('with an options object the operator has its own breaker, shared by every subscription through it', () => {
      const op = circuitBreaker<number>({ name: 'own', failureThreshold: 1 });
      const other = circuitBreaker<number>({ name: 'other', failureThreshold: 1 });
      const errors: unknown[] = [];
      throwError(() => boom).pipe(op).subscribe({ error: (e) => errors.push(e) });
      of(1).pipe(op).subscribe({ error: (e) => errors.push(e) });
      let value: number | undefined;
      of(2).pipe(other).subscribe((v) => (value = v));
      expect(errors[0]).to.equal(boom);
      expect(isCircuitOpenError(errors[1])).to.equal(true);
      expect((errors[1] as CircuitOpenError).breaker).to.equal('own');
      expect(value).to.equal(2);
    });

    it('maintains the Prometheus state gauge, transitions and rejections counters', async () => {
      const registry = new Registry();
      const breaker = new CircuitBreaker({ name: 'prom', failureThreshold: 1, registry });
      const read = async (name: string): Promise<Array<{ labels: object; value: number }>> =>
        (await registry.getSingleMetric(name)?.get())?.values.map((v) => ({ labels: v.labels, value: v.value })) ?? [];
      expect(await read('tributary_circuit_breaker_state')).to.deep.equal([{ labels: { breaker: 'prom' }, value: 0 }]);
      throwError(() => boom).pipe(circuitBreaker(breaker)).subscribe({ error: () => undefined });
      EMPTY.pipe(circuitBreaker(breaker)).subscribe({ error: () => undefined });
      expect(await read('tributary_circuit_breaker_state')).to.deep.equal([{ labels: { breaker: 'prom' }, value: 2 }]);
      expect(await read('tributary_circuit_breaker_transitions_total')).to.deep.include({ labels: { breaker: 'prom', to: 'open' }, value: 1 });
      expect(await read('tributary_circuit_breaker_rejected_total')).to.deep.equal([{ labels: { breaker: 'prom' }, value: 1 }]);
      // a second breaker in the same registry shares the metrics under its own label
      new CircuitBreaker({ name: 'prom2', registry });
      expect(await read('tributary_circuit_breaker_state')).to.have.length(2);
    });

    it('works on the default scheduler (Date.now) and leaves no timer behind', () => {
      const clock = useFakeClock(1_000_000);
      try {
        const breaker = new CircuitBreaker({ name: 'real', failureThreshold: 1, resetTimeout: 60_000 });
        throwError(() => boom).pipe(circuitBreaker(breaker)).subscribe({ error: () => undefined });
        expect(breaker.state).to.equal('open');
        expect(clock.countTimers()).to.equal(0);
        clock.tick(59_999);
        expect(breaker.state).to.equal('open');
        clock.tick(1);
        expect(breaker.state).to.equal('half-open');
        expect(breaker.stats().openedAt).to.equal(1_000_000);
        expect(clock.countTimers()).to.equal(0);
      } finally {
        clock.restore();
      }
    });

    it('a never-ending call is unsubscribed cleanly (no leaked upstream subscription)', () => {
      let unsubscribed = false;
      const breaker = new CircuitBreaker({ name: 'n' });
      const sub = new Observable<number>(() => () => (unsubscribed = true)).pipe(circuitBreaker(breaker)).subscribe();
      sub.unsubscribe();
      expect([unsubscribed, breaker.stats().cancelled]).to.deep.equal([true, 1]);
    });

    const bad: Array<[string, Partial<CircuitBreakerOptions>, RegExp]> = [
      ['an empty name', { name: '' }, /name/],
      ['failureThreshold 0', { failureThreshold: 0 }, /failureThreshold.*positive integer/],
      ['successThreshold 1.5', { successThreshold: 1.5 }, /successThreshold/],
      ['a negative resetTimeout', { resetTimeout: -1 }, /resetTimeout/],
      ['halfOpenMaxConcurrent 0', { halfOpenMaxConcurrent: 0 }, /halfOpenMaxConcurrent/],
      ['an infinite halfOpenTimeout', { halfOpenTimeout: Infinity }, /halfOpenTimeout/],
      ['failureRateThreshold given in percent', { failureRateThreshold: 50 }, /failureRateThreshold.*0\.5 for 50 %/],
      ['minimumCalls above windowSize', { failureRateThreshold: 0.5, windowSize: 5, minimumCalls: 6 }, /minimumCalls.*windowSize \(5\)/],
      ['slowCallRateThreshold without slowCallDuration', { slowCallRateThreshold: 0.5 }, /slowCallRateThreshold.*slowCallDuration/],
      ['isFailure that is not a function', { isFailure: 'yes' as unknown as () => boolean }, /isFailure/],
    ];
    for (const [what, options, message] of bad) {
      it(`rejects ${what} with a ConfigError naming the option`, () => {
        expect(() => new CircuitBreaker({ name: 'cfg', ...options })).to.throw(message).that.satisfies(isConfigError);
      });
    }
  });
});
