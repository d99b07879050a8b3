import { expect } from 'chai';
import sinon from 'sinon';
import { NEVER, Subject, of, throwError } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { Histogram, Registry, register as globalRegistry, type MetricValueWithName } from 'prom-client';
import { timed, type TimedInfo, type TimedLogger } from '../../src/operators/timed.js';
import { DurationRecorder, percentiles } from '../../src/observability/percentiles.js';
import { isConfigError } from '../../src/errors/ConfigError.js';

const makeScheduler = (): TestScheduler =>
  new TestScheduler((actual, expected) => {
    expect(actual).to.deep.equal(expected);
  });

/** Observed count and sum of the default histogram for one operation and outcome. */
async function observed(registry: Registry, operation: string, outcome: string): Promise<{ count: number; sum: number }> {
  const metric = await registry.getSingleMetric('tributary_operation_duration_seconds')!.get();
  const values = metric.values as MetricValueWithName<string>[];
  const pick = (name: string): number =>
    values.find((v) => v.metricName === name && v.labels.operation === operation && v.labels.outcome === outcome)?.value ?? 0;
  return { count: pick('tributary_operation_duration_seconds_count'), sum: pick('tributary_operation_duration_seconds_sum') };
}

describe('timed', () => {
  const boom = new Error('boom');
  let registry: Registry;
  let infos: TimedInfo[];
  let warn: sinon.SinonStub;
  const onTimed = (info: TimedInfo): void => {
    infos.push(info);
  };
  beforeEach(() => {
    registry = new Registry();
    infos = [];
    warn = sinon.stub(process, 'emitWarning');
  });
  afterEach(() => {
    sinon.restore();
  });

  describe('the checklist', () => {
    it('never: nothing is reported until unsubscribe, then it is cancelled', () => {
      const ts = makeScheduler();
      ts.run(({ cold, expectObservable }) => {
        expectObservable(cold('-').pipe(timed({ name: 'op', registry, onTimed, scheduler: ts })), '^--!').toBe('-');
      });
      expect(infos).to.deep.equal([{ name: 'op', durationMs: 3, outcome: 'cancelled', values: 0 }]);
    });

    it('empty: success with 0 values and duration 0', () => {
      const ts = makeScheduler();
      ts.run(({ cold, expectObservable }) => {
        expectObservable(cold('|').pipe(timed({ name: 'op', registry, onTimed, scheduler: ts }))).toBe('|');
      });
      expect(infos).to.deep.equal([{ name: 'op', durationMs: 0, outcome: 'success', values: 0 }]);
    });

    it('one value: passes it through, success measured from subscribe to complete', () => {
      const ts = makeScheduler();
      ts.run(({ cold, expectObservable }) => {
        expectObservable(cold('--a--|').pipe(timed({ name: 'op', registry, onTimed, scheduler: ts })), '--^').toBe('----a--|');
      });
      expect(infos).to.deep.equal([{ name: 'op', durationMs: 5, outcome: 'success', values: 1 }]);
    });

    it('many values: counts them', () => {
      const ts = makeScheduler();
      ts.run(({ cold, expectObservable }) => {
        expectObservable(cold('a-b-c-d|').pipe(timed({ name: 'op', registry, onTimed, scheduler: ts }))).toBe('a-b-c-d|');
      });
      expect(infos).to.deep.equal([{ name: 'op', durationMs: 7, outcome: 'success', values: 4 }]);
    });

    it('error: passes it on, outcome error with the error', () => {
      const ts = makeScheduler();
      ts.run(({ cold, expectObservable }) => {
        expectObservable(cold('-a-#', undefined, boom).pipe(timed({ name: 'op', registry, onTimed, scheduler: ts }))).toBe('-a-#', undefined, boom);
      });
      expect(infos).to.deep.equal([{ name: 'op', durationMs: 3, outcome: 'error', values: 1, error: boom }]);
    });

    it('early unsubscribe: cancelled, upstream unsubscribed, reported once', () => {
      const ts = makeScheduler();
      ts.run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('-a------b|');
        expectObservable(source.pipe(timed({ name: 'op', registry, onTimed, scheduler: ts })), '^---!').toBe('-a--');
        expectSubscriptions(source.subscriptions).toBe('^---!');
      });
      expect(infos).to.deep.equal([{ name: 'op', durationMs: 4, outcome: 'cancelled', values: 1 }]);
    });

    it('concurrent subscribers are timed separately', () => {
      const ts = makeScheduler();
      ts.run(({ cold, expectObservable }) => {
        const op = cold('--a|').pipe(timed({ name: 'op', registry, onTimed, scheduler: ts }));
        expectObservable(op).toBe('--a|');
        expectObservable(op, '-^').toBe('---a|');
        expectObservable(op, '--^-!').toBe('----');
      });
      expect(infos.map((i) => `${i.outcome} ${i.durationMs}`).sort()).to.deep.equal(['cancelled 2', 'success 3', 'success 3']);
    });

    it('an onTimed callback that throws does not break the stream', () => {
      const seen: unknown[] = [];
      of(1, 2)
        .pipe(
          timed({
            name: 'op',
            registry,
            onTimed: () => {
              throw new Error('listener broke');
            },
          }),
        )
        .subscribe({ next: (v) => seen.push(v), complete: () => seen.push('done') });
      expect(seen).to.deep.equal([1, 2, 'done']);
      expect(warn.callCount).to.equal(1);
      expect((warn.firstCall.args[0] as Error).message).to.equal('listener broke');
    });

    it('a logger that throws does not break the stream either', () => {
      const logger: TimedLogger = {
        warn: () => {
          throw new Error('log broke');
        },
        error: () => undefined,
      };
      const ts = makeScheduler();
      ts.run(({ cold, expectObservable }) => {
        expectObservable(cold('5ms a|').pipe(timed({ name: 'op', registry, logger, warnAfter: 1, scheduler: ts }))).toBe('5ms a|');
      });
      expect((warn.firstCall.args[0] as Error).message).to.equal('log broke');
    });
  });

  describe('histogram', () => {
    it('observes seconds in tributary_operation_duration_seconds{operation, outcome}', async () => {
      const ts = makeScheduler();
      ts.run(({ cold, expectObservable }) => {
        const ok = cold('250ms a|').pipe(timed({ name: 'entsoe.prices', registry, scheduler: ts }));
        const bad = cold('1500ms #', undefined, boom).pipe(timed({ name: 'entsoe.prices', registry, scheduler: ts }));
        const slow = cold('-').pipe(timed({ name: 'entsoe.prices', registry, scheduler: ts }));
        expectObservable(ok).toBe('250ms a|');
        expectObservable(bad).toBe('1500ms #', undefined, boom);
        expectObservable(slow, '^ 99ms !').toBe('-');
      });
      expect(await observed(registry, 'entsoe.prices', 'success')).to.deep.equal({ count: 1, sum: 0.251 });
      expect(await observed(registry, 'entsoe.prices', 'error')).to.deep.equal({ count: 1, sum: 1.5 });
      expect(await observed(registry, 'entsoe.prices', 'cancelled')).to.deep.equal({ count: 1, sum: 0.1 });
      const text = await registry.getSingleMetricAsString('tributary_operation_duration_seconds');
      expect(text).to.contain('tributary_operation_duration_seconds_bucket{le="0.25",operation="entsoe.prices",outcome="success"} 0');
      expect(text).to.contain('tributary_operation_duration_seconds_bucket{le="0.5",operation="entsoe.prices",outcome="success"} 1');
    });

    it('uses the default prom-client registry when none is given', async () => {
      const name = `timed-default-registry-${Math.random()}`;
      of(1).pipe(timed({ name })).subscribe();
      const metric = await globalRegistry.getSingleMetric('tributary_operation_duration_seconds')!.get();
      const count = (metric.values as MetricValueWithName<string>[]).find(
        (v) => v.metricName === 'tributary_operation_duration_seconds_count' && v.labels.operation === name && v.labels.outcome === 'success',
      );
      expect(count?.value).to.equal(1);
    });

    it('observes a user-supplied histogram instead of the default one', async () => {
      const own = new Histogram({ name: 'my_call_seconds', help: 'x', labelNames: ['operation', 'outcome'] as const, registers: [registry] });
      const ts = makeScheduler();
      ts.run(({ cold, expectObservable }) => {
        expectObservable(cold('20ms |').pipe(timed({ name: 'op', histogram: own, registry, scheduler: ts }))).toBe('20ms |');
      });
      const text = await registry.getSingleMetricAsString('my_call_seconds');
      expect(text).to.contain('my_call_seconds_sum{operation="op",outcome="success"} 0.02');
      expect(registry.getSingleMetric('tributary_operation_duration_seconds')).to.equal(undefined);
    });

    it('histogram: false records no metric', () => {
      of(1).pipe(timed({ name: 'op', histogram: false, registry, onTimed })).subscribe();
      expect(registry.getMetricsAsArray()).to.have.length(0);
      expect(infos).to.have.length(1);
    });

    it('a user histogram without the operation/outcome labels is rejected when the operator is created', () => {
      const wrong = new Histogram({ name: 'wrong_seconds', help: 'x', labelNames: ['source'], registers: [registry] });
      expect(() => timed({ name: 'op', histogram: wrong as never })).to.throw(/timed\.histogram.*'operation' and 'outcome'/);
    });
  });

  describe('logging', () => {
    const logger = (): { warn: sinon.SinonSpy; error: sinon.SinonSpy } => ({ warn: sinon.spy(), error: sinon.spy() });

    it('warns above 30 s and logs an error above 60 s by default; at the threshold nothing', () => {
      const log = logger();
      const ts = makeScheduler();
      ts.run(({ cold, expectObservable }) => {
        const op = (marbles: string) => cold(marbles).pipe(timed({ name: 'slow', registry, logger: log, scheduler: ts }));
        expectObservable(op('30000ms |')).toBe('30000ms |');
        expectObservable(op('30001ms |')).toBe('30001ms |');
        expectObservable(op('60000ms |')).toBe('60000ms |');
        expectObservable(op('60001ms |')).toBe('60001ms |');
      });
      expect(log.warn.callCount).to.equal(2);
      expect(log.error.callCount).to.equal(1);
      expect(log.warn.firstCall.args[0]).to.deep.equal({ operation: 'slow', durationMs: 30_001, outcome: 'success', values: 0 });
      expect(log.warn.firstCall.args[1]).to.equal('slow took 30001 ms (over 30000 ms)');
      expect(log.error.firstCall.args[0]).to.deep.equal({ operation: 'slow', durationMs: 60_001, outcome: 'success', values: 0 });
      expect(log.error.firstCall.args[1]).to.equal('slow took 60001 ms (critical: over 60000 ms)');
    });

    it('custom thresholds; slow errors and cancellations are logged too, errors with err', () => {
      const log = logger();
      const ts = makeScheduler();
      ts.run(({ cold, expectObservable }) => {
        const options = { name: 'op', registry, logger: log, warnAfter: 10, criticalAfter: 20, scheduler: ts };
        expectObservable(cold('15ms #', undefined, boom).pipe(timed(options))).toBe('15ms #', undefined, boom);
        expectObservable(cold('-').pipe(timed(options)), '^ 24ms !').toBe('-');
        expectObservable(cold('5ms |').pipe(timed(options))).toBe('5ms |');
      });
      expect(log.warn.callCount).to.equal(1);
      expect(log.warn.firstCall.args[0]).to.deep.equal({ operation: 'op', durationMs: 15, outcome: 'error', values: 0, err: boom });
      expect(log.error.callCount).to.equal(1);
      expect(log.error.firstCall.args[0]).to.deep.include({ durationMs: 25, outcome: 'cancelled' });
    });

    it('no logger: no logging, even for very slow operations', () => {
      const spy = sinon.spy(console, 'warn');
      const ts = makeScheduler();
      ts.run(({ cold, expectObservable }) => {
        expectObservable(cold('90s |').pipe(timed({ name: 'op', registry, onTimed, scheduler: ts }))).toBe('90s |');
      });
      expect(spy.callCount).to.equal(0);
      expect(infos[0]?.durationMs).to.equal(90_000);
    });
  });

  describe('recorder and real time', () => {
    it('feeds every duration to a DurationRecorder', () => {
      const recorder = new DurationRecorder();
      const ts = makeScheduler();
      ts.run(({ cold, expectObservable }) => {
        const op = (marbles: string) => cold(marbles).pipe(timed({ name: 'op', registry, recorder, scheduler: ts }));
        expectObservable(op('10ms |')).toBe('10ms |');
        expectObservable(op('20ms #')).toBe('20ms #');
        expectObservable(op('30ms |')).toBe('30ms |');
      });
      expect(recorder.summary()).to.deep.equal({ count: 3, min: 10, max: 30, mean: 20, p50: 20, p95: 30, p99: 30 });
    });

    it('measures wall-clock time by default and leaves nothing running', () => {
      const clock = sinon.useFakeTimers({ now: 1_000, toFake: ['Date'] });
      const subject = new Subject<number>();
      subject.pipe(timed({ name: 'op', registry, onTimed })).subscribe();
      clock.tick(1234);
      subject.complete();
      const sub = NEVER.pipe(timed({ name: 'op', registry, onTimed })).subscribe();
      sub.unsubscribe();
      throwError(() => boom)
        .pipe(timed({ name: 'op', registry, onTimed }))
        .subscribe({ error: () => undefined });
      clock.restore();
      expect(infos.map((i) => [i.outcome, i.durationMs])).to.deep.equal([
        ['success', 1234],
        ['cancelled', 0],
        ['error', 0],
      ]);
    });
  });

  describe('bad options', () => {
    it('rejects a missing name, negative thresholds and a bad logger, naming the option', () => {
      const cases: [unknown, string][] = [
        [{}, 'timed.name'],
        [{ name: '' }, 'timed.name'],
        [{ name: 'op', warnAfter: -1 }, 'timed.warnAfter'],
        [{ name: 'op', criticalAfter: Number.NaN }, 'timed.criticalAfter'],
        [{ name: 'op', logger: { warn: () => undefined } }, 'timed.logger'],
        [{ name: 'op', onTimed: 'print' }, 'timed.onTimed'],
        [{ name: 'op', recorder: {} }, 'timed.recorder'],
        [{ name: 'op', scheduler: 5 }, 'timed.scheduler'],
      ];
      for (const [options, path] of cases) {
        let err: unknown;
        try {
          timed(options as never);
        } catch (e) {
          err = e;
        }
        expect(isConfigError(err), path).to.equal(true);
        expect((err as Error).message).to.contain(path);
      }
    });
  });
});

describe('percentiles', () => {
  it('uses nearest rank: every result is one of the inputs', () => {
    expect(percentiles([120, 80, 3000, 95, 110])).to.deep.equal({ p50: 110, p95: 3000, p99: 3000 });
    const hundred = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1, unsorted
    expect(percentiles(hundred)).to.deep.equal({ p50: 50, p95: 95, p99: 99 });
    expect(percentiles(hundred, [0, 100, 99.9])).to.deep.equal({ p0: 1, p100: 100, 'p99.9': 100 });
    expect(hundred[0]).to.equal(100); // input untouched
  });

  it('gives NaN for no durations and rejects percentiles outside [0, 100]', () => {
    const empty = percentiles([]);
    expect(Number.isNaN(empty.p50) && Number.isNaN(empty.p99)).to.equal(true);
    expect(() => percentiles([1], [101])).to.throw(RangeError, 'between 0 and 100');
    expect(() => percentiles([1], [Number.NaN])).to.throw(RangeError);
  });
});

describe('DurationRecorder', () => {
  it('is exact up to its capacity', () => {
    const recorder = new DurationRecorder({ capacity: 10 });
    for (const d of [5, 1, 4, 2, 3]) recorder.record(d);
    expect(recorder.summary()).to.deep.equal({ count: 5, min: 1, max: 5, mean: 3, p50: 3, p95: 5, p99: 5 });
    expect(recorder.summary([25])).to.deep.equal({ count: 5, min: 1, max: 5, mean: 3, p25: 2 });
  });

  it('keeps bounded memory beyond its capacity, with exact count/min/max/mean and sampled percentiles', () => {
    let seed = 42;
    const random = (): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const recorder = new DurationRecorder({ capacity: 500, random });
    for (let i = 1; i <= 100_000; i++) recorder.record(i % 1000); // uniform 0..999
    const s = recorder.summary();
    expect(s.count).to.equal(100_000);
    expect(s.min).to.equal(0);
    expect(s.max).to.equal(999);
    expect(s.mean).to.be.closeTo(499.5, 0.01);
    expect(s.p50).to.be.closeTo(500, 60);
    expect(s.p95).to.be.closeTo(950, 30);
    expect(s.p99).to.be.closeTo(990, 15);
  });

  it('ignores non-finite durations, resets, and reports NaN when empty', () => {
    const recorder = new DurationRecorder();
    recorder.record(Number.NaN);
    recorder.record(Infinity);
    expect(recorder.count).to.equal(0);
    recorder.record(7);
    expect(recorder.count).to.equal(1);
    recorder.reset();
    const s = recorder.summary();
    expect(s.count).to.equal(0);
    expect([s.min, s.max, s.mean, s.p50].every(Number.isNaN)).to.equal(true);
  });

  it('rejects a bad capacity with an error naming it', () => {
    expect(() => new DurationRecorder({ capacity: 0 })).to.throw('DurationRecorder.capacity');
  });
});
