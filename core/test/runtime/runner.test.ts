import { expect } from 'chai';
import { from, defer, throwError, Observable } from 'rxjs';
import { isConfigError } from '../../src/errors/ConfigError.js';
import { HttpError } from '../../src/errors/HttpError.js';
import { PipelineRunner } from '../../src/pipeline/runtime/runner.js';
import { MemorySink } from '../../src/sinks/memory.js';
import { MemoryCheckpointStore } from '../../src/state/memory.js';
import { silentLogger } from '../../src/observability/logger.js';
import type { InstrumentationEvent } from '../../src/observability/events.js';
import { pipeline, reading, source, testPlugin } from './helpers.js';

describe('PipelineRunner', () => {
  it('turns records into envelopes with key and provenance headers, and delivers them to the sink', async () => {
    const plugin = testPlugin(() => ({ collect: () => from([reading('NL01', 1.5), reading('NL02', 2.5)]) }), { name: 'air', version: '2.0.0' });
    const sink = new MemorySink();
    const runner = new PipelineRunner({
      pipeline: pipeline([source('air')]),
      plugins: { air: { plugin } },
      sink,
      checkpoints: new MemoryCheckpointStore(),
      logger: silentLogger(),
      once: true,
    });
    const summary = await runner.run();
    expect(sink.records.map((r) => r.key)).to.deep.equal(['NL01', 'NL02']);
    const [first] = sink.records;
    expect(first!.topic).to.equal('air.readings');
    expect(first!.value).to.deep.equal({ station: 'NL01', value: 1.5, meta: { unit: 'ug/m3' } });
    expect(first!.headers).to.include({
      'tributary-source': 'air',
      'tributary-plugin': 'air',
      'tributary-plugin-version': '2.0.0',
      'tributary-origin': 'live',
      'tributary-stream': 'readings',
    });
    expect(Date.parse(first!.headers['tributary-fetched-at']!)).to.be.closeTo(Date.now(), 5_000);
    expect(first!.timestamp).to.equal(Date.parse(first!.headers['tributary-fetched-at']!));
    expect(sink.started).to.equal(true);
    expect(sink.closed).to.equal(true);
    expect(sink.topics.map((t) => t.topic)).to.deep.equal(['air.readings']);
    expect(summary.outcome).to.equal('completed');
    expect(summary.sources.air!.records).to.deep.equal({ 'air.readings': 2 });
    expect(summary.sources.air!.cycles.success).to.equal(1);
  });

  it('takes the key from the route (dotted path) over the stream default, and keeps record timestamps and keys', async () => {
    const plugin = testPlugin(() => ({
      collect: () =>
        from([
          { ...reading('NL01', 1), timestamp: 1_700_000_000_000 },
          { ...reading('NL02', 2), key: 'own-key', headers: { 'x-extra': 'yes' } },
        ]),
    }));
    const sink = new MemorySink();
    await new PipelineRunner({
      pipeline: pipeline([source('air', { streams: { readings: { topic: 'air', key: 'meta.unit' } } })]),
      plugins: { air: { plugin } },
      sink,
      checkpoints: new MemoryCheckpointStore(),
      logger: silentLogger(),
      once: true,
    }).run();
    expect(sink.records.map((r) => r.key)).to.deep.equal(['ug/m3', 'own-key']);
    expect(sink.records[0]!.timestamp).to.equal(1_700_000_000_000);
    expect(sink.records[1]!.headers['x-extra']).to.equal('yes');
  });

  it('dead-letters records that fail the schema, with field and code, and counts them', async () => {
    const bad = { stream: 'readings', value: { station: 'NL03', value: 'high', meta: { unit: 'x' } } };
    const plugin = testPlugin(() => ({ collect: () => from([reading('NL01', 1), bad, { stream: 'nope', value: {} }]) }));
    const sink = new MemorySink();
    const runner = new PipelineRunner({
      pipeline: pipeline([source('air')]),
      plugins: { air: { plugin } },
      sink,
      checkpoints: new MemoryCheckpointStore(),
      logger: silentLogger(),
      once: true,
    });
    const summary = await runner.run();
    expect(sink.records).to.have.length(1);
    expect(sink.deadLetters).to.have.length(2);
    const [schema, unknown] = sink.deadLetters;
    expect(schema).to.include({ topic: 'air.readings', source: 'air', code: 'ERR_SCHEMA', field: 'value' });
    expect(schema!.reason).to.match(/double/);
    expect(schema!.value).to.deep.equal(bad.value);
    expect(unknown).to.include({ code: 'ERR_UNKNOWN_STREAM', topic: '_unrouted' });
    const metric = await runner.registry.getSingleMetric('tributary_dead_letters_total')!.get();
    expect(metric.values.find((v) => v.labels.code === 'ERR_SCHEMA')).to.deep.include({
      value: 1,
      labels: { source: 'air', topic: 'air.readings', code: 'ERR_SCHEMA' },
    });
    expect(summary.sources.air!.deadLetters).to.deep.equal({ 'air.readings': 1, _unrouted: 1 });
  });

  it('commits checkpoint writes of a cycle only after the sink acknowledged its records', async () => {
    const plugin = testPlugin((_c, ctx) => ({
      collect: (info) =>
        defer(async () => {
          await ctx.state.set('last', info.cycle);
          expect(await ctx.state.get('last')).to.equal(info.cycle);
          return reading('NL01', info.cycle);
        }),
    }));
    const checkpoints = new MemoryCheckpointStore();
    const sink = new MemorySink();
    sink.failNext(new Error('disk full'));
    const failed = await new PipelineRunner({
      pipeline: pipeline([source('air')]),
      plugins: { air: { plugin } },
      sink,
      checkpoints,
      logger: silentLogger(),
      once: true,
    }).run();
    expect(failed.outcome).to.equal('failed');
    expect(await checkpoints.load('air')).to.deep.equal({});

    const ok = await new PipelineRunner({
      pipeline: pipeline([source('air')]),
      plugins: { air: { plugin } },
      sink: new MemorySink(),
      checkpoints,
      logger: silentLogger(),
      once: true,
    }).run();
    expect(ok.outcome).to.equal('completed');
    expect(await checkpoints.load('air')).to.deep.equal({ last: 1 });
  });

  it('does not commit the checkpoint of a failed cycle but still delivers the records it emitted', async () => {
    const plugin = testPlugin((_c, ctx) => ({
      collect: () =>
        new Observable((subscriber) => {
          void ctx.state.set('cursor', 'x').then(() => {
            subscriber.next(reading('NL01', 1));
            subscriber.error(new HttpError({ status: 503 }));
          });
        }),
    }));
    const checkpoints = new MemoryCheckpointStore();
    const sink = new MemorySink();
    const events: InstrumentationEvent[] = [];
    const runner = new PipelineRunner({
      pipeline: pipeline([source('air')]),
      plugins: { air: { plugin } },
      sink,
      checkpoints,
      logger: silentLogger(),
      once: true,
    });
    runner.events.on('*', (e) => events.push(e));
    const summary = await runner.run();
    expect(sink.records).to.have.length(1);
    expect(await checkpoints.load('air')).to.deep.equal({});
    expect(summary.sources.air!.errors).to.deep.equal({ ERR_HTTP: 1 });
    const cycle = events.find((e) => e.type === 'collector.cycle')!;
    expect(cycle.payload).to.include({ source: 'air', outcome: 'error', records: 1 });
    expect(cycle.id).to.be.a('string');
    expect(cycle.timestamp).to.be.a('number');
  });

  it('rejects bad plugin options and streams without a declaration as a ConfigError before anything runs', async () => {
    let created = 0;
    const plugin = testPlugin(() => {
      created++;
      return { collect: () => from([]) };
    });
    const strict = { ...plugin, configSchema: (await import('zod')).z.strictObject({ station: (await import('zod')).z.string() }) } as typeof plugin;
    const sink = new MemorySink();
    const err = await new PipelineRunner({
      pipeline: pipeline([source('air', { config: { station: 5 } }), source('bad', { streams: { weather: { topic: 't' } } })]),
      plugins: { air: { plugin: strict }, bad: { plugin } },
      sink,
      checkpoints: new MemoryCheckpointStore(),
      logger: silentLogger(),
      once: true,
    })
      .run()
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(isConfigError(err)).to.equal(true);
    const issues = (err as { issues: { path: string }[] }).issues.map((i) => i.path);
    expect(issues).to.include('sources.air.config.station');
    expect(issues).to.include('sources.bad.streams.weather');
    expect(created).to.equal(0);
    expect(sink.started).to.equal(false);
  });

  it('derives the streams of a source from its options (streamsFor) when none are handed in, and checks them', async () => {
    const rowsFor = (config: unknown) => {
      const field = String((config as { field?: unknown }).field);
      return { rows: { schema: { type: 'record', name: 'Row', fields: [{ name: field, type: 'string' }] }, key: field } };
    };
    const plugin = { ...testPlugin((config) => ({ collect: () => from([{ stream: 'rows', value: { [String(config.field)]: 'r1' } }]) })), streamsFor: rowsFor };
    const sink = new MemorySink();
    await new PipelineRunner({
      pipeline: pipeline([source('a', { config: { field: 'id' }, streams: { rows: { topic: 'a.rows' } } })]),
      plugins: { a: { plugin } },
      sink,
      checkpoints: new MemoryCheckpointStore(),
      logger: silentLogger(),
      once: true,
    }).run();
    expect(sink.records.map((r) => [r.topic, r.key, r.value])).to.deep.equal([['a.rows', 'r1', { id: 'r1' }]]);
    expect(sink.topics.map((t) => (t.schema as { name: string }).name)).to.deep.equal(['Row']);

    const err = await new PipelineRunner({
      pipeline: pipeline([source('b', { config: { field: 'bad name' }, streams: { rows: { topic: 'b.rows' } } })]),
      plugins: { b: { plugin } },
      sink: new MemorySink(),
      checkpoints: new MemoryCheckpointStore(),
      logger: silentLogger(),
      once: true,
    })
      .run()
      .catch((e: unknown) => e);
    expect(isConfigError(err)).to.equal(true);
    expect((err as { issues: { path: string; message: string }[] }).issues[0]).to.deep.include({ path: 'sources.b.config' });
    expect((err as Error).message).to.include('stream "rows": schema is not a valid Avro schema');
  });

  it('runs group members together and tags records with the group; a failed member does not stop the others', async () => {
    const ok = testPlugin(() => ({ collect: () => from([reading('A', 1)]) }));
    const broken = testPlugin(() => ({ collect: () => throwError(() => new HttpError({ status: 500 })) }));
    const sink = new MemorySink();
    const summary = await new PipelineRunner({
      pipeline: pipeline([source('a'), source('b')], { groups: { both: { id: 'both', mode: 'all', sources: ['a', 'b'], schedule: { kind: 'once' } } } }),
      plugins: { a: { plugin: ok }, b: { plugin: broken } },
      sink,
      checkpoints: new MemoryCheckpointStore(),
      logger: silentLogger(),
      once: true,
    }).run();
    expect(sink.records).to.have.length(1);
    expect(sink.records[0]!.headers).to.include({ 'tributary-source': 'a', 'tributary-group': 'both' });
    expect(summary.sources.both!.cycles.success).to.equal(1);
    expect(summary.sources.b!.errors).to.deep.equal({ ERR_HTTP: 1 });
  });

  it('fails a quorum group cycle when too few members succeed', async () => {
    const ok = testPlugin(() => ({ collect: () => from([reading('A', 1)]) }));
    const broken = testPlugin(() => ({ collect: () => throwError(() => new HttpError({ status: 500 })) }));
    const sink = new MemorySink();
    const summary = await new PipelineRunner({
      pipeline: pipeline([source('a'), source('b'), source('c')], {
        groups: { q: { id: 'q', mode: 'quorum', sources: ['a', 'b', 'c'], schedule: { kind: 'once' } } },
      }),
      plugins: { a: { plugin: ok }, b: { plugin: broken }, c: { plugin: broken } },
      sink,
      checkpoints: new MemoryCheckpointStore(),
      logger: silentLogger(),
      once: true,
    }).run();
    expect(summary.sources.q!.cycles.error).to.equal(1);
    expect(summary.sources.q!.errors).to.have.property('ERR_SOURCES_FAILED', 1);
    expect(sink.records).to.have.length(1);
  });

  it('serves the first available member of a first-available group', async () => {
    const primary = testPlugin(() => ({ collect: () => throwError(() => new HttpError({ status: 503 })) }));
    const backup = testPlugin(() => ({ collect: () => from([reading('B', 2)]) }));
    const sink = new MemorySink();
    await new PipelineRunner({
      pipeline: pipeline([source('p'), source('s')], {
        groups: { chain: { id: 'chain', mode: 'first-available', sources: ['p', 's'], schedule: { kind: 'once' } } },
      }),
      plugins: { p: { plugin: primary }, s: { plugin: backup } },
      sink,
      checkpoints: new MemoryCheckpointStore(),
      logger: silentLogger(),
      once: true,
    }).run();
    expect(sink.records.map((r) => r.headers['tributary-source'])).to.deep.equal(['s']);
  });

  it('applies back-pressure: the buffer never holds more than its capacity', async () => {
    const values = Array.from({ length: 200 }, (_, i) => reading(`S${i}`, i));
    const plugin = testPlugin(() => ({ collect: () => from(values) }));
    const sink = new MemorySink({ delayMs: 2 });
    const runner = new PipelineRunner({
      pipeline: pipeline([source('air')]),
      plugins: { air: { plugin } },
      sink,
      checkpoints: new MemoryCheckpointStore(),
      logger: silentLogger(),
      once: true,
      batch: { maxRecords: 10, lingerMs: 1, capacity: 20 },
    });
    let peak = 0;
    runner.events.on('sink.batch', () => {
      peak = Math.max(peak, (runner as unknown as { batcher: { buffered: number } }).batcher.buffered);
    });
    await runner.run();
    expect(sink.records).to.have.length(200);
    expect(Math.max(...sink.batches)).to.be.at.most(10);
    expect(peak).to.be.at.most(20);
  });

  describe('shutdown', () => {
    it('stop() lets the running cycle finish, delivers its records, flushes and closes the sink and the collectors', async () => {
      let closed = 0;
      let release: (() => void) | undefined;
      const plugin = testPlugin(() => ({
        collect: (info) =>
          defer(async () => {
            if (info.cycle === 2) await new Promise<void>((r) => (release = r));
            return reading(`c${info.cycle}`, info.cycle);
          }),
        close: () => void closed++,
      }));
      const sink = new MemorySink();
      const runner = new PipelineRunner({
        pipeline: pipeline([source('air', { schedule: { kind: 'every', intervalMs: 10 } })]),
        plugins: { air: { plugin } },
        sink,
        checkpoints: new MemoryCheckpointStore(),
        logger: silentLogger(),
      });
      await runner.start();
      while (!release) await new Promise((r) => setTimeout(r, 5));
      const stopping = runner.stop('SIGTERM');
      expect(runner.health().status).to.equal('stopping');
      release();
      const summary = await stopping;
      expect(sink.records.map((r) => r.key)).to.deep.equal(['c1', 'c2']);
      expect(sink.flushes).to.be.at.least(1);
      expect(sink.closed).to.equal(true);
      expect(closed).to.equal(1);
      expect(summary.outcome).to.equal('interrupted');
      expect(summary.sources.air!.cycles).to.deep.equal({ success: 2, error: 0, cancelled: 0 });
      expect(await runner.stop()).to.deep.include({ outcome: 'interrupted' });
    });

    it('aborts a cycle still running after shutdown.timeoutMs through its AbortSignal, and commits nothing for it', async () => {
      let aborted = false;
      const plugin = testPlugin((_c, ctx) => ({
        collect: (info) =>
          new Observable((subscriber) => {
            void ctx.state.set('x', 1);
            subscriber.next(reading('early', 1));
            info.signal.addEventListener('abort', () => (aborted = true));
            // never completes on its own
          }),
      }));
      const checkpoints = new MemoryCheckpointStore();
      const sink = new MemorySink();
      const runner = new PipelineRunner({
        pipeline: pipeline([source('air')], { shutdown: { timeoutMs: 50 } }),
        plugins: { air: { plugin } },
        sink,
        checkpoints,
        logger: silentLogger(),
      });
      await runner.start();
      await new Promise((r) => setTimeout(r, 20));
      const summary = await runner.stop('SIGINT');
      expect(aborted).to.equal(true);
      expect(summary.sources.air!.cycles.cancelled).to.equal(1);
      expect(sink.records.map((r) => r.key)).to.deep.equal(['early']);
      expect(await checkpoints.load('air')).to.deep.equal({});
    });

    it('serves /metrics and /healthz while running when metrics are enabled', async () => {
      let release: (() => void) | undefined;
      const plugin = testPlugin(() => ({
        collect: () =>
          defer(async () => {
            await new Promise<void>((r) => (release = r));
            return reading('a', 1);
          }),
      }));
      const runner = new PipelineRunner({
        pipeline: pipeline([source('air', { resilience: { circuitBreaker: { failureThreshold: 5, successThreshold: 2, resetTimeoutMs: 1000, halfOpenMaxConcurrent: 1 } } })]),
        plugins: { air: { plugin } },
        sink: new MemorySink(),
        checkpoints: new MemoryCheckpointStore(),
        logger: silentLogger(),
        metrics: { port: 0 },
        once: true,
      });
      await runner.start();
      const url = runner.metricsUrl!;
      expect(url).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
      const health = (await (await fetch(`${url}/healthz`)).json()) as { status: string; sources: Record<string, { breaker?: string }> };
      expect(health.status).to.equal('ok');
      expect(health.sources.air!.breaker).to.equal('closed');
      while (!release) await new Promise((r) => setTimeout(r, 5));
      release();
      await runner.run();
      const text = await runner.registry.metrics();
      expect(text).to.match(/tributary_cycle_duration_seconds_count\{source="air",outcome="success"\} 1/);
      expect(text).to.match(/tributary_records_total\{source="air",topic="air.readings"\} 1/);
      expect(text).to.match(/tributary_circuit_breaker_state/);
      let refused: unknown;
      await fetch(`${url}/healthz`).catch((e: unknown) => (refused = e));
      expect(refused).to.be.instanceOf(Error);
    });
  });

  describe('streaming collectors', () => {
    it('subscribes stream() once, delivers its records, restarts it after an error, and unsubscribes at stop()', async () => {
      let subscriptions = 0;
      let unsubscribed = 0;
      let signalAborted = false;
      const plugin = testPlugin((_c, ctx) => ({
        stream: (signal) =>
          new Observable((subscriber) => {
            const n = ++subscriptions;
            signal.addEventListener('abort', () => (signalAborted = true));
            subscriber.next(reading(`s${n}`, n));
            if (n === 1) subscriber.error(new Error('socket closed'));
            else void ctx.state.set('seen', n);
            return () => void unsubscribed++;
          }),
      }));
      const sink = new MemorySink();
      const checkpoints = new MemoryCheckpointStore();
      const runner = new PipelineRunner({
        pipeline: pipeline([source('feed')]),
        plugins: { feed: { plugin } },
        sink,
        checkpoints,
        logger: silentLogger(),
      });
      await runner.start();
      while (subscriptions < 2 || sink.records.length < 2) await new Promise((r) => setTimeout(r, 20));
      const summary = await runner.stop('SIGTERM');
      expect(sink.records.map((r) => r.key)).to.deep.equal(['s1', 's2']);
      expect(summary.sources.feed!.errors).to.deep.equal({ ERR_UNKNOWN: 1 });
      expect(unsubscribed).to.equal(2);
      expect(signalAborted).to.equal(true);
      expect(await checkpoints.load('feed')).to.deep.equal({ seen: 2 });
    });
  });
});
