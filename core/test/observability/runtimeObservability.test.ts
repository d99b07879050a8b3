import { expect } from 'chai';
import sinon from 'sinon';
import { Registry, Counter } from 'prom-client';
import { InstrumentationEvents } from '../../src/observability/events.js';
import { createLogger, secretScrubber } from '../../src/observability/logger.js';
import { startMetricsServer } from '../../src/observability/server.js';
import { RunSummaryCollector, durationStats, formatSummary } from '../../src/observability/summary.js';

describe('observability (runtime)', () => {
  describe('InstrumentationEvents', () => {
    it('delivers {id, type, timestamp, payload} to type listeners and * listeners; off() removes', () => {
      const events = new InstrumentationEvents({ now: () => 42 });
      const seen: string[] = [];
      const off = events.on('sink.batch', (e) => seen.push(`batch:${e.payload.records}:${e.timestamp}`));
      events.on('*', (e) => seen.push(`*:${e.type}`));
      const e = events.emit('sink.batch', { sink: 'file', records: 3, durationMs: 1, outcome: 'success', topics: { t: 3 } });
      expect(e.id).to.match(/^[0-9a-f-]{36}$/);
      off();
      events.emit('sink.batch', { sink: 'file', records: 4, durationMs: 1, outcome: 'success', topics: {} });
      expect(seen).to.deep.equal(['batch:3:42', '*:sink.batch', '*:sink.batch']);
      expect(events.listenerCount('sink.batch')).to.equal(0);
    });

    it('a throwing listener never breaks the emitter or the other listeners (reported as a warning)', () => {
      const events = new InstrumentationEvents();
      const emitWarning = sinon.stub(process, 'emitWarning');
      let after = 0;
      events.on('collector.error', () => {
        throw new Error('listener bug');
      });
      events.on('collector.error', () => void after++);
      expect(() => events.emit('collector.error', { source: 's', code: 'X', message: 'm' })).to.not.throw();
      emitWarning.restore();
      expect(after).to.equal(1);
      expect(emitWarning.calledOnce).to.equal(true);
      expect((emitWarning.firstCall.args[0] as Error).message).to.equal('listener bug');
    });
  });

  describe('logger', () => {
    it('scrubs secrets (raw, JSON-escaped and URL-encoded) from every JSON line, errors included', () => {
      const lines: string[] = [];
      const secret = 'k3y"with/special+chars';
      const log = createLogger({ format: 'json', secrets: [secret, 'ab'], destination: { write: (l) => void lines.push(l) } });
      log.child({ source: 'air' }).error({ err: new Error(`bad key ${secret}`), url: `https://x/?api_key=${encodeURIComponent(secret)}` }, `failed with ${secret} ab`);
      const text = lines.join('');
      expect(text).to.not.include(secret);
      expect(text).to.not.include(JSON.stringify(secret).slice(1, -1));
      expect(text).to.not.include(encodeURIComponent(secret));
      expect(text).to.include('***');
      expect(text).to.include(' ab'); // too short to be scrubbed
      const parsed = JSON.parse(lines[0]!) as { source: string; level: number; msg: string };
      expect(parsed).to.include({ source: 'air', level: 50 });
    });

    it('pretty-prints in pretty format (or on a terminal in auto format) and redacts password fields', () => {
      const lines: string[] = [];
      const log = createLogger({ format: 'auto', destination: { write: (l) => void lines.push(l), isTTY: true } });
      log.info({ password: 'hunter2hunter2' }, 'hello there');
      expect(lines[0]).to.match(/INFO/);
      expect(lines[0]).to.include('hello there');
      expect(lines[0]).to.not.include('hunter2hunter2');
      expect(() => JSON.parse(lines[0]!)).to.throw();
    });

    it('secretScrubber ignores empty and short values', () => {
      expect(secretScrubber(['', 'x'])('x marks')).to.equal('x marks');
      expect(secretScrubber(['abcd'])('abcd abcdabcd')).to.equal('*** ******');
    });
  });

  describe('metrics server', () => {
    it('serves /metrics and /healthz on a free port, 404 elsewhere, 503 when not ok', async () => {
      const registry = new Registry();
      new Counter({ name: 'tributary_test_total', help: 'test', registers: [registry] }).inc(3);
      let status: 'ok' | 'stopping' = 'ok';
      const server = await startMetricsServer({ registry, port: 0, health: () => ({ status, sources: { a: {} } }) });
      try {
        expect(server.port).to.be.above(0);
        const metrics = await fetch(`${server.url}/metrics`);
        expect(metrics.status).to.equal(200);
        expect(await metrics.text()).to.include('tributary_test_total 3');
        const health = await fetch(`${server.url}/healthz`);
        expect(health.status).to.equal(200);
        expect(await health.json()).to.deep.equal({ status: 'ok', sources: { a: {} } });
        status = 'stopping';
        expect((await fetch(`${server.url}/healthz`)).status).to.equal(503);
        expect((await fetch(`${server.url}/nope`)).status).to.equal(404);
        expect((await fetch(`${server.url}/metrics`, { method: 'POST' })).status).to.equal(405);
      } finally {
        await server.close();
      }
    });

    it('rejects when the port is taken', async () => {
      const registry = new Registry();
      const first = await startMetricsServer({ registry, port: 0 });
      try {
        let err: unknown;
        await startMetricsServer({ registry, port: first.port }).catch((e: unknown) => (err = e));
        expect((err as NodeJS.ErrnoException).code).to.equal('EADDRINUSE');
      } finally {
        await first.close();
      }
    });
  });

  describe('run summary', () => {
    it('collects records, dead letters, errors, cache, retries, stale values, breaker state, backfill and durations per source', () => {
      const events = new InstrumentationEvents();
      let now = 1_000;
      const collector = new RunSummaryCollector(events, { pipeline: 'p', sources: ['idle'], now: () => now });
      for (const d of [10, 20, 30, 40, 1000]) events.emit('collector.cycle', { source: 'a', cycle: 1, durationMs: d, outcome: 'success', records: 1 });
      events.emit('collector.cycle', { source: 'a', cycle: 6, durationMs: 5, outcome: 'error', records: 0 });
      events.emit('collector.error', { source: 'a', code: 'ERR_HTTP', message: 'x' });
      events.emit('records.delivered', { source: 'a', topic: 't', count: 7 });
      events.emit('sink.dead-letters', { sink: 'file', source: 'a', topic: 't', code: 'ERR_SCHEMA', count: 2 });
      events.emit('cache.hit', { source: 'a', key: 'k' });
      events.emit('cache.miss', { source: 'a', key: 'k' });
      events.emit('http.retry', { source: 'a', attempt: 1, delayMs: 1, code: 'ERR_HTTP' });
      events.emit('stale.value', { source: 'a', key: 'k' });
      events.emit('breaker.state', { source: 'a', breaker: 'a', from: 'closed', to: 'open' });
      events.emit('backfill.progress', { source: 'a', done: 2, failed: 0, total: 5 });
      now = 3_500;
      const s = collector.snapshot('interrupted');
      expect(s).to.deep.include({ pipeline: 'p', startedAt: 1_000, endedAt: 3_500, durationMs: 2_500, outcome: 'interrupted' });
      expect(s.sources.idle!.cycles).to.deep.equal({ success: 0, error: 0, cancelled: 0 });
      expect(s.sources.a).to.deep.include({
        records: { t: 7 },
        deadLetters: { t: 2 },
        errors: { ERR_HTTP: 1 },
        cacheHits: 1,
        cacheMisses: 1,
        retries: 1,
        staleValues: 1,
        breaker: 'open',
        backfill: { done: 2, total: 5 },
      });
      expect(s.sources.a!.durations).to.deep.equal({ count: 6, p50: 20, p95: 1000, p99: 1000, max: 1000 });
      expect(s.topics).to.deep.equal({ t: { records: 7, deadLetters: 2 } });
      expect(s.totals).to.deep.equal({ records: 7, deadLetters: 2, errors: 1, cycles: 6 });
      const text = formatSummary(s);
      expect(text).to.match(/pipeline "p" interrupted in 2500ms: 7 records, 2 dead letters, 1 error, 6 cycles/);
      expect(text).to.match(/breaker\s+open/);
      expect(text).to.match(/p50 20ms, p95 1000ms, p99 1000ms/);
      collector.dispose();
      events.emit('records.delivered', { source: 'a', topic: 't', count: 1 });
      expect(collector.snapshot().sources.a!.records.t).to.equal(7);
    });

    it('durationStats uses nearest rank', () => {
      expect(durationStats([])).to.deep.equal({ count: 0, p50: 0, p95: 0, p99: 0, max: 0 });
      expect(durationStats(Array.from({ length: 100 }, (_, i) => i + 1))).to.deep.equal({ count: 100, p50: 50, p95: 95, p99: 99, max: 100 });
    });
  });
});
