import { expect } from 'chai';
import sinon from 'sinon';
import { EventEmitter } from 'node:events';
import { buildEnvelope, getPath, HEADERS, keyToString } from '../../src/pipeline/runtime/envelope.js';
import { Batcher, DeliveryTracker } from '../../src/pipeline/runtime/batcher.js';
import { installSignalHandlers } from '../../src/pipeline/runtime/shutdown.js';
import { toDeadLetter } from '../../src/pipeline/runtime/deadLetters.js';
import { SchemaValidationError } from '../../src/errors/SchemaValidationError.js';
import { MemorySink } from '../../src/sinks/memory.js';
import type { Envelope } from '../../src/pipeline/types.js';

const ctx = { topic: 't', source: 's', stream: 'st', plugin: { name: 'p', version: '1.0.0' }, fetchedAt: Date.UTC(2025, 0, 1), origin: 'cache' as const };

describe('runtime: envelopes, batching, dead letters, signals', () => {
  describe('envelopes', () => {
    it('getPath reads dotted paths through objects, arrays and maps', () => {
      const v = { a: { b: [{ c: 1 }] }, m: new Map([['k', 'v']]) };
      expect(getPath(v, 'a.b.0.c')).to.equal(1);
      expect(getPath(v, 'm.k')).to.equal('v');
      expect(getPath(v, 'a.x.y')).to.equal(undefined);
      expect(getPath(null, 'a')).to.equal(undefined);
    });

    it('keyToString: strings, numbers, bigints, booleans, dates, bytes, objects; null for missing', () => {
      expect([keyToString('a'), keyToString(1.5), keyToString(12n), keyToString(true)]).to.deep.equal(['a', '1.5', '12', 'true']);
      expect(keyToString(new Date(0))).to.equal('1970-01-01T00:00:00.000Z');
      expect(keyToString(Buffer.from('hi'))).to.equal('aGk=');
      expect(keyToString({ a: 1n })).to.equal('{"a":"1"}');
      expect(keyToString(undefined)).to.equal(null);
      expect(keyToString(null)).to.equal(null);
    });

    it('buildEnvelope sets topic, key, timestamp and provenance headers; record headers win', () => {
      const e = buildEnvelope({ value: { id: { n: 7 } }, headers: { 'tributary-origin': 'override', x: 'y' } }, { ...ctx, keyField: 'id.n', group: 'g' });
      expect(e).to.deep.equal({
        topic: 't',
        key: '7',
        value: { id: { n: 7 } },
        timestamp: ctx.fetchedAt,
        headers: {
          [HEADERS.source]: 's',
          [HEADERS.plugin]: 'p',
          [HEADERS.pluginVersion]: '1.0.0',
          [HEADERS.stream]: 'st',
          [HEADERS.fetchedAt]: '2025-01-01T00:00:00.000Z',
          [HEADERS.origin]: 'override',
          [HEADERS.group]: 'g',
          x: 'y',
        },
      });
      expect(buildEnvelope({ value: {}, key: null, timestamp: 5 }, { ...ctx, keyField: 'id' })).to.deep.include({ key: null, timestamp: 5 });
      expect(buildEnvelope({ value: { id: 1 } }, ctx).key).to.equal(null);
    });
  });

  describe('Batcher', () => {
    const env = (i: number): Envelope => ({ topic: 't', key: null, value: { i }, timestamp: 0, headers: { 'tributary-source': 's' } });
    let clock: sinon.SinonFakeTimers | undefined;
    afterEach(() => clock?.restore());

    it('writes full batches at once and partial ones after the linger time', async () => {
      clock = sinon.useFakeTimers();
      const sink = new MemorySink();
      const reports: number[] = [];
      const batcher = new Batcher({ sink, maxRecords: 3, lingerMs: 100, onBatch: (r) => reports.push(r.records) });
      const tracker = new DeliveryTracker();
      for (let i = 0; i < 4; i++) await batcher.push(env(i), tracker);
      await clock.tickAsync(0);
      expect(sink.batches).to.deep.equal([3]);
      await clock.tickAsync(99);
      expect(sink.batches).to.deep.equal([3]);
      await clock.tickAsync(1);
      expect(sink.batches).to.deep.equal([3, 1]);
      tracker.close();
      expect(await tracker.settled()).to.deep.equal({ ok: true });
      expect(tracker.delivered).to.equal(4);
      expect(reports).to.deep.equal([3, 1]);
      batcher.dispose();
    });

    it('push() waits while the buffer is full (back-pressure), and trackers learn about failed writes', async () => {
      const sink = new MemorySink({ delayMs: 20 });
      const batcher = new Batcher({ sink, maxRecords: 2, lingerMs: 0, capacity: 2 });
      const tracker = new DeliveryTracker();
      sink.failNext(new Error('broken'));
      await batcher.push(env(1), tracker);
      await batcher.push(env(2), tracker); // a full batch: written (and failing, after 20 ms) in the background
      await batcher.push(env(3), tracker);
      await batcher.push(env(4), tracker);
      expect(batcher.buffered).to.equal(2);
      let fifthAccepted = false;
      const fifth = batcher.push(env(5), tracker).then(() => (fifthAccepted = true));
      await new Promise((r) => setTimeout(r, 5));
      expect(fifthAccepted).to.equal(false); // the buffer is full: the producer waits
      expect(batcher.buffered).to.equal(2);
      await fifth;
      expect(batcher.buffered).to.be.at.most(2);
      await batcher.drain();
      tracker.close();
      const result = await tracker.settled();
      expect(result.ok).to.equal(false);
      expect(String((result as { error: unknown }).error)).to.match(/broken/);
      expect(tracker.delivered).to.equal(3);
      expect(sink.records.map((r) => (r.value as { i: number }).i)).to.deep.equal([3, 4, 5]);
      batcher.dispose();
    });
  });

  it('toDeadLetter keeps the field of a schema error, the code, a scrubbed reason and a JSON-safe value', () => {
    const letter = toDeadLetter({
      topic: 't',
      source: 's',
      value: { n: 1n },
      error: new SchemaValidationError('R', 'n', 'expected int, got secret-value'),
      timestamp: 9,
      scrub: (t) => t.replace('secret-value', '***'),
    });
    expect(letter).to.deep.equal({ topic: 't', source: 's', code: 'ERR_SCHEMA', field: 'n', reason: 'record does not match schema R: n: expected int, got ***', value: { n: '1' }, timestamp: 9 });
  });

  it('toDeadLetter scrubs secrets that an API echoed into the record value', () => {
    const letter = toDeadLetter({
      topic: 't',
      source: 's',
      value: { echo: 'key=secret-value', nested: [{ token: 'secret-value' }], n: 3 },
      error: new SchemaValidationError('R', 'n', 'bad'),
      scrub: (t) => t.split('secret-value').join('***'),
    });
    expect(letter.value).to.deep.equal({ echo: 'key=***', nested: [{ token: '***' }], n: 3 });
  });

  it('installSignalHandlers: the first signal starts a graceful stop, the second exits; remove() uninstalls', () => {
    const proc = new EventEmitter();
    const calls: string[] = [];
    const handlers = installSignalHandlers({ onFirst: (s) => calls.push(`first:${s}`), onSecond: (s) => calls.push(`second:${s}`), process: proc as never });
    proc.emit('SIGTERM', 'SIGTERM');
    proc.emit('SIGINT', 'SIGINT');
    expect(calls).to.deep.equal(['first:SIGTERM', 'second:SIGINT']);
    expect(handlers.count).to.equal(2);
    handlers.remove();
    expect(proc.listenerCount('SIGINT') + proc.listenerCount('SIGTERM')).to.equal(0);
  });
});
