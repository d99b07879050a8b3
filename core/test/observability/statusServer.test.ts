import { expect } from 'chai';
import { request, type IncomingMessage } from 'node:http';
import { Registry } from 'prom-client';
import sinon from 'sinon';
import { InstrumentationEvents } from '../../src/observability/events.js';
import { startMetricsServer, type MetricsServer } from '../../src/observability/server.js';
import { StatusBoard, type StatusSnapshot } from '../../src/observability/status.js';

/** An open `/status/events` stream: parsed `data:` snapshots and raw comment lines as they come. */
interface SseClient {
  response: IncomingMessage;
  snapshots: StatusSnapshot[];
  comments: string[];
  /** Resolves once `count` snapshots arrived. */
  waitFor(count: number, timeoutMs?: number): Promise<void>;
  close(): void;
}

function openSse(url: string): Promise<SseClient> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/status/events`, (response) => {
      const snapshots: StatusSnapshot[] = [];
      const comments: string[] = [];
      const waiters: (() => void)[] = [];
      let buffer = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          for (const line of block.split('\n')) {
            if (line.startsWith('data: ')) snapshots.push(JSON.parse(line.slice(6)) as StatusSnapshot);
            else if (line.startsWith(':')) comments.push(line);
          }
        }
        for (const w of waiters.splice(0)) w();
      });
      response.on('error', () => undefined);
      resolve({
        response,
        snapshots,
        comments,
        waitFor: (count, timeoutMs = 3_000) =>
          new Promise<void>((done, fail) => {
            const deadline = setTimeout(() => fail(new Error(`expected ${count} snapshots, got ${snapshots.length}`)), timeoutMs);
            const check = (): void => {
              if (snapshots.length >= count) {
                clearTimeout(deadline);
                done();
              } else waiters.push(check);
            };
            check();
          }),
        close: () => req.destroy(),
      });
    });
    req.on('error', reject);
    req.end();
  });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

describe('metrics server: status routes', () => {
  let server: MetricsServer | undefined;
  let events: InstrumentationEvents;
  let board: StatusBoard;
  const clients: SseClient[] = [];
  /** Subscriptions the server holds on the board right now. */
  let active = 0;

  beforeEach(async () => {
    events = new InstrumentationEvents();
    board = new StatusBoard({ events, pipeline: 'energy', units: [{ id: 'prices', kind: 'source', schedule: 'every 5m' }] });
    active = 0;
    const status = {
      snapshot: () => board.snapshot(),
      subscribe: (listener: () => void) => {
        active++;
        const off = board.subscribe(listener);
        return () => {
          active--;
          off();
        };
      },
    };
    server = await startMetricsServer({ registry: new Registry(), port: 0, status });
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await server?.close();
    server = undefined;
    board.dispose();
  });

  it('serves the snapshot at /status.json', async () => {
    events.emit('collector.cycle', { source: 'prices', cycle: 1, durationMs: 5, outcome: 'success', records: 3 });
    const res = await fetch(`${server!.url}/status.json`);
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.equal('application/json');
    const snap = (await res.json()) as StatusSnapshot;
    expect(snap.pipeline).to.equal('energy');
    expect(snap.rows[0]).to.include({ id: 'prices', cycles: 1, records: 3 });
  });

  it('serves the page at / and /status as no-store HTML that loads /status/events', async () => {
    for (const path of ['/', '/status', '/status?x=1']) {
      const res = await fetch(`${server!.url}${path}`);
      expect(res.status, path).to.equal(200);
      expect(res.headers.get('content-type')).to.equal('text/html; charset=utf-8');
      expect(res.headers.get('cache-control')).to.equal('no-store');
      const html = await res.text();
      expect(html).to.match(/^<!doctype html>/);
      expect(html).to.include("new EventSource('/status/events')");
      expect(html).to.not.match(/(src|href)="https?:/);
    }
    const head = await fetch(`${server!.url}/status`, { method: 'HEAD' });
    expect(head.status).to.equal(200);
    expect(await head.text()).to.equal('');
  });

  it('streams the snapshot at connect, then an update after an event', async () => {
    const client = await openSse(server!.url);
    clients.push(client);
    expect(client.response.statusCode).to.equal(200);
    expect(client.response.headers['content-type']).to.equal('text/event-stream');
    expect(client.response.headers['cache-control']).to.equal('no-cache');
    expect(client.response.headers['x-accel-buffering']).to.equal('no');
    await client.waitFor(1);
    expect(client.snapshots[0]!.rows[0]!.cycles).to.equal(0);
    events.emit('collector.cycle', { source: 'prices', cycle: 1, durationMs: 5, outcome: 'success', records: 3 });
    await client.waitFor(2);
    expect(client.snapshots[1]!.rows[0]).to.include({ cycles: 1, records: 3 });
  });

  it('coalesces changes to at most one snapshot every 250 ms, the last one complete', async () => {
    const client = await openSse(server!.url);
    clients.push(client);
    await client.waitFor(1);
    const started = Date.now();
    for (let i = 0; i < 100; i++) {
      events.emit('cache.hit', { source: 'prices', key: 'k' });
      await sleep(5);
    }
    const elapsed = Date.now() - started;
    await sleep(400);
    const updates = client.snapshots.length - 1;
    expect(updates).to.be.at.least(1);
    expect(updates).to.be.at.most(Math.ceil(elapsed / 250) + 2);
    expect(updates).to.be.below(20);
    expect(client.snapshots.at(-1)!.rows[0]!.cache.hits).to.equal(100);
  });

  it('sends a ": ping" comment every 15 s', async () => {
    const clock = sinon.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      const client = await openSse(server!.url);
      clients.push(client);
      await client.waitFor(1);
      expect(client.comments).to.deep.equal([]);
      clock.tick(15_000);
      const deadline = Date.now() + 2_000;
      while (client.comments.length === 0 && Date.now() < deadline) await sleep(10);
      expect(client.comments).to.deep.equal([': ping']);
    } finally {
      clock.restore();
    }
  });

  it('unsubscribes from the board when the client goes away', async () => {
    const client = await openSse(server!.url);
    await client.waitFor(1);
    expect(active).to.equal(1);
    client.close();
    const deadline = Date.now() + 2_000;
    while (active > 0 && Date.now() < deadline) await sleep(10);
    expect(active).to.equal(0);
    const before = client.snapshots.length;
    events.emit('cache.hit', { source: 'prices', key: 'k' });
    await sleep(300);
    expect(client.snapshots.length).to.equal(before);
  });

  it('close() resolves promptly with an open event stream', async () => {
    const client = await openSse(server!.url);
    clients.push(client);
    await client.waitFor(1);
    const ended = new Promise<void>((resolve) => client.response.on('close', () => resolve()));
    const started = Date.now();
    await server!.close();
    server = undefined;
    expect(Date.now() - started).to.be.below(1_000);
    await ended;
    expect(active).to.equal(0);
  });

  it('answers 404 on the status paths when no status is given', async () => {
    const plain = await startMetricsServer({ registry: new Registry(), port: 0 });
    try {
      for (const path of ['/', '/status', '/status.json', '/status/events']) {
        const res = await fetch(`${plain.url}${path}`);
        expect(res.status, path).to.equal(404);
        expect(await res.text()).to.equal('not found: try /metrics or /healthz');
      }
    } finally {
      await plain.close();
    }
    const res = await fetch(`${server!.url}/nope`);
    expect(res.status).to.equal(404);
    expect(await res.text()).to.include('/status.json');
  });
});
