import { expect } from 'chai';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { Registry } from 'prom-client';
import { InstrumentationEvents } from '../../core/src/observability/events.js';
import { startMetricsServer, type MetricsServer } from '../../core/src/observability/server.js';
import { StatusBoard } from '../../core/src/observability/status.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ARTIFACTS = join(ROOT, 'test-artifacts');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const DAY = 86_400_000;

describe('status page in a real browser (chromium)', function () {
  this.timeout(60_000);
  let browser: Browser | undefined;
  let server: MetricsServer | undefined;
  let events: InstrumentationEvents;
  let board: StatusBoard;
  let page: Page;

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      const message = `chromium not found at ${CHROMIUM}: install it (apt-get install chromium) or set CHROMIUM_PATH`;
      if (process.env.CI) throw new Error(message);
      console.warn(`      skipped: ${message}`);
      this.skip();
    }
    events = new InstrumentationEvents();
    board = new StatusBoard({
      events,
      pipeline: 'energy',
      units: [
        { id: 'prices', kind: 'source', schedule: 'every 5m', plugin: '@tributary/plugin-entsoe' },
        { id: 'air', kind: 'group', schedule: 'cron 0 * * * *', members: ['air-a', 'air-b'] },
        { id: 'history', kind: 'source', schedule: 'backfill 2024-01-01 → now, 1d chunks' },
      ],
    });
    events.emit('pipeline.start', { pipeline: 'energy', sources: ['prices', 'air-a', 'air-b', 'history'] });
    events.emit('worker.assignment', { worker: 'worker-1', units: ['prices', 'history'], owners: { prices: 'worker-1', history: 'worker-1', air: 'worker-2' }, members: 2 });
    events.emit('collector.cycle', { source: 'prices', cycle: 1, durationMs: 420, outcome: 'success', records: 96 });
    events.emit('records.delivered', { source: 'prices', topic: 'prices.v1', count: 96 });
    events.emit('checkpoint.committed', { source: 'prices', values: { since: '2024-06-01T00:00:00Z' } });
    events.emit('breaker.state', { source: 'air-a', breaker: 'air-a', from: 'closed', to: 'open', reason: '5 consecutive failures' });
    events.emit('throttle.delay', { source: 'air-b', delayMs: 2_500 });
    events.emit('cache.hit', { source: 'air-b', key: 'k' });
    events.emit('cache.hit', { source: 'air-b', key: 'k' });
    events.emit('cache.hit', { source: 'air-b', key: 'k' });
    events.emit('cache.miss', { source: 'air-b', key: 'k' });
    events.emit('collector.cycle', { source: 'air', group: 'air', cycle: 3, durationMs: 1_200, outcome: 'error', records: 0, error: { code: 'ERR_HTTP', message: '<script>window.pwned = 1</script> HTTP 503' } });
    events.emit('collector.error', { source: 'air', code: 'ERR_HTTP', message: '<img src=x onerror="window.pwned = 2">' });
    events.emit('backfill.progress', { source: 'history', done: 3, failed: 1, total: 10 });
    events.emit('checkpoint.committed', { source: 'history', values: { '@tributary/backfill': { from: Date.UTC(2024, 0, 1), to: Date.UTC(2024, 0, 11), chunkMs: DAY, done: ['c1', 'c2', 'c3'] } } });
    events.emit('sink.dead-letters', { sink: 'kafka', source: 'history', topic: 'history.dlq', code: 'ERR_SCHEMA', count: 2 });
    server = await startMetricsServer({ registry: new Registry(), port: 0, status: board });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${server.url}/`);
    await page.waitForSelector('[data-unit="history"]');
  });

  after(async () => {
    await browser?.close();
    await server?.close();
    board?.dispose();
  });

  const text = (unit: string, field: string) => page.locator(`[data-unit="${unit}"] [data-field="${field}"]`).first().innerText();

  it('renders the header and one card per unit and member', async () => {
    expect(await page.locator('#pipeline').innerText()).to.equal('energy');
    expect(await page.locator('#state').innerText()).to.equal('running');
    expect(await page.locator('#worker').innerText()).to.equal('worker-1');
    expect(await page.locator('#members').innerText()).to.equal('2');
    await page.waitForSelector('body[data-live="live"]');
    expect(await page.locator('#live').innerText()).to.equal('live');
    const units = await page.evaluate<string[]>(`[...document.querySelectorAll('[data-unit]')].map((e) => e.getAttribute('data-unit'))`);
    expect(units).to.deep.equal(['prices', 'air', 'air-a', 'air-b', 'history']);
  });

  it('renders the fields of each card', async () => {
    expect(await text('prices', 'owner')).to.equal('worker-1 (this worker)');
    expect(await text('prices', 'schedule')).to.include('every 5m');
    expect(await text('prices', 'last-cycle')).to.match(/^success · \d+ s ago · 420 ms · 96 records$/);
    expect(await text('prices', 'delivered')).to.equal('96');
    expect(await text('prices', 'cursor')).to.include('since = 2024-06-01T00:00:00Z');
    expect(await text('air', 'owner')).to.equal('worker-2');
    expect(await text('air-a', 'owner')).to.equal('worker-2');
    expect(await text('air-a', 'schedule')).to.include('in group air');
    expect(await text('air-a', 'breaker-state')).to.equal('open');
    // Page-side code is passed as strings: this tsconfig has no DOM types.
    const colour = await page.evaluate<string>(`getComputedStyle(document.querySelector('[data-unit="air-a"] [data-field="breaker-state"]')).color`);
    const closedColour = await page.evaluate<string>(`(() => {
      const probe = document.createElement('span');
      probe.className = 'pill st-closed';
      document.body.appendChild(probe);
      const c = getComputedStyle(probe).color;
      probe.remove();
      return c;
    })()`);
    expect(colour).to.not.equal(closedColour);
    expect(await text('air-b', 'throttle')).to.match(/^2\.5 s delay/);
    expect(await text('air-b', 'cache')).to.equal('75% hits (3 hit / 1 miss)');
    expect(await text('history', 'backfill')).to.include('3 / 10 chunks (30%) · 1 failed');
    expect(await text('history', 'backfill')).to.include('2024-01-01 → 2024-01-11');
    expect(await text('history', 'dead-letters')).to.match(/^2 · last ERR_SCHEMA → history\.dlq/);
    expect(await page.locator('[data-unit="history"]').innerText()).to.not.include('c1');
    const title = await page.locator('[data-unit="prices"] [data-field="last-cycle"] time').getAttribute('title');
    expect(title).to.match(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z/);
  });

  it('shows markup in error messages as text', async () => {
    expect(await text('air', 'cycle-error')).to.equal('ERR_HTTP: <script>window.pwned = 1</script> HTTP 503');
    expect(await text('air', 'errors')).to.include('<img src=x onerror="window.pwned = 2">');
    expect(await page.locator('[data-unit="air"] script, [data-unit="air"] img').count()).to.equal(0);
    expect(await page.evaluate<unknown>('window.pwned')).to.equal(undefined);
  });

  it('updates live without a reload', async () => {
    const navigations: string[] = [];
    page.on('framenavigated', (f) => navigations.push(f.url()));
    await page.evaluate('window.marker = true');
    events.emit('collector.cycle', { source: 'prices', cycle: 2, durationMs: 75, outcome: 'success', records: 12 });
    events.emit('breaker.state', { source: 'air-a', breaker: 'air-a', from: 'open', to: 'half-open', reason: 'reset timeout' });
    events.emit('backfill.progress', { source: 'history', done: 10, failed: 0, total: 10 });
    await page.locator('[data-unit="prices"] [data-field="last-cycle"]', { hasText: '12 records' }).waitFor({ timeout: 5_000 });
    expect(await text('air-a', 'breaker-state')).to.equal('half-open');
    expect(await text('history', 'backfill')).to.include('10 / 10 chunks (100%)');
    expect(await page.locator('[data-unit="air-a"] [data-field="breaker-history"] li').count()).to.equal(2);
    expect(await page.evaluate<unknown>('window.marker')).to.equal(true);
    expect(navigations).to.deep.equal([]);
  });

  it('fits a 375 px phone screen without horizontal scrolling, and keeps a screenshot', async () => {
    const phone = await browser!.newPage({ viewport: { width: 375, height: 800 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    try {
      await phone.goto(`${server!.url}/status`);
      await phone.waitForSelector('[data-unit="history"]');
      await phone.waitForSelector('body[data-live="live"]');
      await phone.locator('[data-unit="air-a"] summary').click();
      const widths = await phone.evaluate<{ scroll: number; client: number }>('({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth })');
      expect(widths.client).to.equal(375);
      expect(widths.scroll).to.be.at.most(widths.client);
      mkdirSync(ARTIFACTS, { recursive: true });
      const file = join(ARTIFACTS, 'status-page.png');
      const png = await phone.screenshot({ path: file, fullPage: true });
      expect(png.subarray(1, 4).toString('latin1')).to.equal('PNG');
      expect(existsSync(file)).to.equal(true);
    } finally {
      await phone.close();
    }
  });

  it('says "reconnecting" when the stream drops', async () => {
    await server!.close();
    server = undefined;
    await page.waitForSelector('body[data-live="reconnecting"]', { timeout: 10_000 });
    expect(await page.locator('#live').innerText()).to.equal('reconnecting');
  });
});
