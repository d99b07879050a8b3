import { expect } from 'chai';
import sinon from 'sinon';
import { InstrumentationEvents } from '../../src/observability/events.js';
import { StatusBoard, type StatusRow, type StatusSnapshot } from '../../src/observability/status.js';

function setup(options: { historySize?: number; worker?: string } = {}) {
  let clock = 1_000;
  const events = new InstrumentationEvents({ now: () => clock });
  const board = new StatusBoard({
    events,
    pipeline: 'energy',
    now: () => clock,
    units: [
      { id: 'prices', kind: 'source', schedule: 'every 5m', plugin: '@tributary/plugin-entsoe' },
      { id: 'air', kind: 'group', schedule: 'cron 0 * * * *', members: ['air-a', 'air-b'] },
      { id: 'history', kind: 'source', schedule: 'backfill 2024-01-01 → now, 1d chunks' },
    ],
    ...options,
  });
  const row = (id: string, snap: StatusSnapshot = board.snapshot()): StatusRow => {
    const found = snap.rows.find((r) => r.id === id);
    if (!found) throw new Error(`no row ${id}`);
    return found;
  };
  return { events, board, row, at: (ms: number) => void (clock = ms) };
}

describe('StatusBoard', () => {
  it('starts with one row per unit and per group member, owned by this runner', () => {
    const { board } = setup();
    const snap = board.snapshot();
    expect(snap).to.include({ pipeline: 'energy', worker: null, mode: 'local', members: 1, status: 'starting', startedAt: null, stopReason: null });
    expect(snap.rows.map((r) => [r.id, r.kind, r.group, r.schedule])).to.deep.equal([
      ['prices', 'source', undefined, 'every 5m'],
      ['air', 'group', undefined, 'cron 0 * * * *'],
      ['air-a', 'member', 'air', 'cron 0 * * * *'],
      ['air-b', 'member', 'air', 'cron 0 * * * *'],
      ['history', 'source', undefined, 'backfill 2024-01-01 → now, 1d chunks'],
    ]);
    expect(snap.rows[0]).to.include({ owner: 'this runner', runsHere: true, plugin: '@tributary/plugin-entsoe', cycles: 0, lastCycle: null, breaker: null });
    expect(snap.rows[1]!.members).to.deep.equal(['air-a', 'air-b']);
    expect(JSON.parse(JSON.stringify(snap))).to.deep.equal(snap);
  });

  it('tracks the pipeline state from start, shutdown and stop', () => {
    const { events, board, at } = setup();
    at(5_000);
    events.emit('pipeline.start', { pipeline: 'energy', sources: ['prices'] });
    expect(board.snapshot()).to.include({ status: 'running', startedAt: 5_000, updatedAt: 5_000 });
    events.emit('pipeline.shutdown', { signal: 'SIGTERM', timeoutMs: 10_000 });
    expect(board.snapshot().status).to.equal('stopping');
    events.emit('pipeline.stop', { pipeline: 'energy', reason: 'signal' });
    expect(board.snapshot()).to.include({ status: 'stopped', stopReason: 'signal' });
    events.emit('pipeline.stop', { pipeline: 'energy', reason: 'error' });
    expect(board.snapshot().status).to.equal('failed');
  });

  it('keeps the last cycle and the counters; a group cycle lands on the group row', () => {
    const { events, row, at } = setup();
    at(2_000);
    events.emit('collector.cycle', { source: 'prices', cycle: 1, durationMs: 120, outcome: 'success', records: 5 });
    at(3_000);
    events.emit('collector.cycle', { source: 'prices', cycle: 2, durationMs: 80, outcome: 'error', records: 0, window: { start: 1, end: 2 }, error: { code: 'ERR_HTTP', message: 'HTTP 503' } });
    events.emit('collector.error', { source: 'prices', code: 'ERR_HTTP', message: 'HTTP 503' });
    events.emit('collector.cycle', { source: 'air', group: 'air', cycle: 1, durationMs: 40, outcome: 'success', records: 7 });
    events.emit('collector.error', { source: 'air-b', code: 'ERR_TIMEOUT', message: 'timed out' });
    const prices = row('prices');
    expect(prices).to.include({ cycles: 2, records: 5, errors: 1 });
    expect(prices.lastCycle).to.deep.equal({ at: 3_000, cycle: 2, durationMs: 80, records: 0, outcome: 'error', window: { start: 1, end: 2 }, error: { code: 'ERR_HTTP', message: 'HTTP 503' } });
    expect(prices.lastError).to.deep.equal({ at: 3_000, code: 'ERR_HTTP', message: 'HTTP 503' });
    expect(row('air')).to.include({ cycles: 1, records: 7 });
    expect(row('air-a').cycles).to.equal(0);
    expect(row('air-b')).to.include({ errors: 1 });
    expect(row('air-b').lastError?.code).to.equal('ERR_TIMEOUT');
  });

  it('routes per-member breaker, cache, throttle, checkpoint and delivery events to the member row', () => {
    const { events, row, at } = setup();
    at(4_000);
    events.emit('breaker.state', { source: 'air-a', breaker: 'air-a', from: 'closed', to: 'open', reason: '5 failures' });
    events.emit('throttle.delay', { source: 'air-a', delayMs: 1_500 });
    events.emit('throttle.delay', { source: 'air-a', delayMs: 3_000 });
    events.emit('cache.hit', { source: 'air-a', key: 'k' });
    events.emit('cache.hit', { source: 'air-a', key: 'k' });
    events.emit('cache.hit', { source: 'air-a', key: 'k' });
    events.emit('cache.miss', { source: 'air-a', key: 'k' });
    events.emit('checkpoint.committed', { source: 'air-a', values: { since: '2024-05-01T00:00:00Z' } });
    events.emit('records.delivered', { source: 'air-a', topic: 'air.v1', count: 4 });
    events.emit('records.delivered', { source: 'air-a', topic: 'air.v1', count: 6 });
    events.emit('http.retry', { source: 'air-a', attempt: 1, delayMs: 2_000, code: 'ERR_HTTP' });
    events.emit('stale.value', { source: 'air-a', key: 'k', ageMs: 10 });
    const a = row('air-a');
    expect(a.breaker).to.deep.equal({ name: 'air-a', state: 'open', since: 4_000 });
    expect(a.throttle).to.deep.equal({ delayMs: 3_000, at: 4_000 });
    expect(a.cache).to.deep.equal({ hits: 3, misses: 1, hitRate: 0.75 });
    expect(a.cursor).to.deep.equal({ values: { since: '2024-05-01T00:00:00Z' }, at: 4_000 });
    expect(a).to.include({ delivered: 10, retries: 1, stale: 1 });
    const group = row('air');
    expect(group).to.include({ breaker: null, throttle: null, cursor: null, delivered: 0 });
    expect(group.cache).to.deep.equal({ hits: 0, misses: 0, hitRate: null });
  });

  it('keeps the last historySize breaker transitions, oldest first', () => {
    const { events, row, at } = setup({ historySize: 3 });
    const states = ['closed', 'open', 'half-open', 'open', 'half-open', 'closed'];
    for (let i = 1; i < states.length; i++) {
      at(10_000 + i);
      events.emit('breaker.state', { source: 'prices', breaker: 'prices', from: states[i - 1]!, to: states[i]!, ...(i === 5 ? { reason: 'trial succeeded' } : {}) });
    }
    const prices = row('prices');
    expect(prices.breakerHistory).to.deep.equal([
      { at: 10_003, breaker: 'prices', from: 'half-open', to: 'open' },
      { at: 10_004, breaker: 'prices', from: 'open', to: 'half-open' },
      { at: 10_005, breaker: 'prices', from: 'half-open', to: 'closed', reason: 'trial succeeded' },
    ]);
    expect(prices.breaker).to.deep.equal({ name: 'prices', state: 'closed', since: 10_005 });
  });

  it('defaults the history to 20 transitions', () => {
    const { events, row } = setup();
    for (let i = 0; i < 25; i++) events.emit('breaker.state', { source: 'prices', breaker: 'prices', from: String(i), to: String(i + 1) });
    const history = row('prices').breakerHistory;
    expect(history).to.have.length(20);
    expect(history[0]!.from).to.equal('5');
    expect(history[19]!.to).to.equal('25');
  });

  it('shows @tributary/backfill as progress (without its done list) and keeps runtime keys out of the cursor', () => {
    const { events, row, at } = setup();
    const day = 86_400_000;
    at(7_000);
    events.emit('backfill.progress', { source: 'history', done: 0, failed: 0, total: 4 });
    at(8_000);
    events.emit('backfill.progress', { source: 'history', done: 1, failed: 1, total: 4, window: { start: 0, end: day } });
    expect(row('history').backfill).to.deep.equal({ done: 1, failed: 1, total: 4, at: 8_000, window: { start: 0, end: day } });
    at(9_000);
    events.emit('checkpoint.committed', { source: 'history', values: { page: 3, '@tributary/backfill': { from: 0, to: 4 * day, chunkMs: day, done: ['0-1', '1-2'] } } });
    const history = row('history');
    expect(history.cursor).to.deep.equal({ values: { page: 3 }, at: 9_000 });
    expect(history.backfill).to.deep.equal({ done: 2, failed: 1, total: 4, from: 0, to: 4 * day, chunkMs: day, at: 8_000, window: { start: 0, end: day } });
    expect(JSON.stringify(history)).to.not.include('0-1');
    // A group's runtime keys come under "@tributary/group:<id>".
    events.emit('checkpoint.committed', { source: '@tributary/group:air', values: { '@tributary/backfill': { from: 0, to: 2 * day, chunkMs: day, done: ['a'] } } });
    expect(row('air').backfill).to.include({ done: 1, total: 2 });
    expect(row('air').cursor).to.equal(null);
  });

  it('takes owners from worker.assignment; members follow their group', () => {
    const { events, board, row } = setup();
    events.emit('worker.assignment', { worker: 'w-1', units: ['prices'], owners: { prices: 'w-1', air: 'w-2' }, members: 2 });
    const snap = board.snapshot();
    expect(snap).to.include({ worker: 'w-1', mode: 'worker', members: 2 });
    expect(row('prices', snap)).to.include({ owner: 'w-1', runsHere: true });
    expect(row('air', snap)).to.include({ owner: 'w-2', runsHere: false });
    expect(row('air-b', snap)).to.include({ owner: 'w-2', runsHere: false });
    expect(row('history', snap)).to.include({ owner: null, runsHere: false });
    events.emit('worker.assignment', { worker: 'w-1', units: ['prices', 'air', 'history'], owners: { prices: 'w-1', air: 'w-1', history: 'w-1' }, members: 1 });
    expect(row('air-a')).to.include({ owner: 'w-1', runsHere: true });
    expect(board.snapshot().members).to.equal(1);
  });

  it('counts dead letters with the last code, topic and time', () => {
    const { events, row, at } = setup();
    at(12_000);
    events.emit('sink.dead-letters', { sink: 'kafka', source: 'prices', topic: 'dlq.prices', code: 'ERR_SCHEMA', count: 2 });
    at(13_000);
    events.emit('sink.dead-letters', { sink: 'kafka', source: 'prices', topic: 'dlq.prices', code: 'ERR_BAD_RECORD', count: 1 });
    expect(row('prices').deadLetters).to.deep.equal({ count: 3, last: { at: 13_000, code: 'ERR_BAD_RECORD', topic: 'dlq.prices' } });
  });

  it('gives events of an unknown source a row of their own', () => {
    const { events, row } = setup();
    events.emit('collector.error', { source: 'extra', code: 'X', message: 'm' });
    expect(row('extra')).to.include({ kind: 'source', errors: 1, schedule: '' });
  });

  it('tells subscribers after each change; unsubscribe and dispose stop it', () => {
    const { events, board } = setup();
    const listener = sinon.spy();
    const off = board.subscribe(listener);
    events.emit('cache.hit', { source: 'prices', key: 'k' });
    events.emit('cache.miss', { source: 'prices', key: 'k' });
    expect(listener.callCount).to.equal(2);
    off();
    events.emit('cache.miss', { source: 'prices', key: 'k' });
    expect(listener.callCount).to.equal(2);
    const again = sinon.spy();
    board.subscribe(again);
    expect(events.listenerCount('cache.hit')).to.equal(1);
    board.dispose();
    expect(events.listenerCount('cache.hit')).to.equal(0);
    expect(events.listenerCount('collector.cycle')).to.equal(0);
    events.emit('cache.hit', { source: 'prices', key: 'k' });
    expect(again.called).to.equal(false);
    expect(board.snapshot().rows[0]!.cache).to.deep.equal({ hits: 1, misses: 2, hitRate: 1 / 3 });
  });

  it('a throwing subscriber is reported as a warning and does not stop the others', () => {
    const { events, board } = setup();
    const emitWarning = sinon.stub(process, 'emitWarning');
    const other = sinon.spy();
    board.subscribe(() => {
      throw new Error('listener bug');
    });
    board.subscribe(other);
    try {
      events.emit('cache.hit', { source: 'prices', key: 'k' });
    } finally {
      emitWarning.restore();
    }
    expect(other.calledOnce).to.equal(true);
    expect((emitWarning.firstCall.args[0] as Error).message).to.equal('listener bug');
  });

  it('snapshots are copies', () => {
    const { events, board } = setup();
    events.emit('checkpoint.committed', { source: 'prices', values: { cursor: { page: 1 } } });
    const snap = board.snapshot();
    (snap.rows[0]!.cursor!.values.cursor as { page: number }).page = 99;
    expect(board.snapshot().rows[0]!.cursor!.values).to.deep.equal({ cursor: { page: 1 } });
  });

  it('rejects bad options with a clear error', () => {
    const events = new InstrumentationEvents();
    expect(() => new StatusBoard({ events, pipeline: '', units: [] })).to.throw(TypeError, /options\.pipeline/);
    expect(() => new StatusBoard({ events, pipeline: 'p', units: [{ id: 'a', kind: 'source', schedule: 'x' }, { id: 'a', kind: 'source', schedule: 'y' }] })).to.throw(TypeError, /units\[1\]\.id "a" appears twice/);
    expect(() => new StatusBoard({ events, pipeline: 'p', units: [{ id: 'a', kind: 'stream' as 'source', schedule: 'x' }] })).to.throw(TypeError, /units\[0\]\.kind/);
    expect(() => new StatusBoard({ events, pipeline: 'p', units: [], historySize: -1 })).to.throw(TypeError, /historySize/);
  });
});
