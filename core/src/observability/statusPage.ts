/**
 * The live status page served at `/` and `/status` by {@link startMetricsServer} when it is given a
 * `status` source: one self-contained HTML document (inline CSS and script, no external resources,
 * no build step).
 *
 * The page opens `new EventSource('/status/events')`; every message is a full `StatusSnapshot`,
 * which it renders as a header (pipeline, worker, group members, state, last update) and one card
 * per unit and member source (owner, schedule, last cycle, counters, breaker state and history,
 * throttle delay, cache hit rate, cursor, backfill progress, dead letters). Data only ever reaches
 * the DOM through `textContent`. Times are shown relative ("12 s ago") with the absolute time in
 * a tooltip, corrected for the clock difference between server and browser. A badge says `live`
 * while the stream is open and `reconnecting` while it is not. It fits a 375 px wide phone screen.
 *
 * @example
 * ```ts
 * import { STATUS_PAGE_HTML } from '@tributary/core';
 * import { createServer } from 'node:http';
 * createServer((req, res) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(STATUS_PAGE_HTML));
 * ```
 */
export const STATUS_PAGE_HTML: string = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>Tributary status</title>
<style>
:root { --bg:#f6f7f9; --card:#fff; --fg:#1d232b; --muted:#5f6b7a; --line:#dde2e8; --ok:#1a7f37; --warn:#9a6700; --bad:#cf222e; --info:#0969da; }
@media (prefers-color-scheme: dark) { :root { --bg:#0f1318; --card:#181d24; --fg:#e6edf3; --muted:#8b97a5; --line:#2b333d; --ok:#3fb950; --warn:#d29922; --bad:#f85149; --info:#58a6ff; } }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; background: var(--bg); color: var(--fg); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; overflow-wrap: anywhere; }
header { background: var(--card); border-bottom: 1px solid var(--line); padding: .6rem 1rem; display: flex; flex-wrap: wrap; gap: .3rem 1rem; align-items: center; }
header h1 { font-size: 1.1rem; margin: 0; flex: 1 1 auto; min-width: 0; }
header .meta { display: flex; flex-wrap: wrap; gap: .2rem .9rem; color: var(--muted); font-size: .85rem; }
header .meta b { color: var(--fg); font-weight: 600; }
main { padding: .8rem; display: grid; gap: .8rem; grid-template-columns: repeat(auto-fill, minmax(min(100%, 21rem), 1fr)); max-width: 110rem; margin: 0 auto; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: .5rem; padding: .7rem .8rem; min-width: 0; }
.card.member { border-left: 4px solid var(--line); }
.card.away { opacity: .7; }
.card h2 { font-size: 1rem; margin: 0 0 .1rem; display: flex; flex-wrap: wrap; gap: .35rem; align-items: baseline; }
.sub { color: var(--muted); font-size: .82rem; margin-bottom: .4rem; }
.pill { display: inline-block; border-radius: 999px; padding: 0 .5rem; font-size: .75rem; font-weight: 600; border: 1px solid currentColor; white-space: nowrap; }
.pill.ok, .st-closed, .st-success, .st-running { color: var(--ok); }
.pill.warn, .st-half-open, .st-cancelled, .st-starting, .st-stopping { color: var(--warn); }
.pill.bad, .st-open, .st-error, .st-failed { color: var(--bad); }
.pill.muted, .st-stopped { color: var(--muted); }
dl { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: .15rem .7rem; margin: 0; }
dt { color: var(--muted); }
dd { margin: 0; min-width: 0; }
code { font: .8rem/1.35 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; word-break: break-all; }
.err { color: var(--bad); }
.bar { height: .45rem; background: var(--line); border-radius: 999px; overflow: hidden; margin-top: .15rem; }
.bar > span { display: block; height: 100%; background: var(--info); }
details { margin-top: .3rem; }
summary { cursor: pointer; color: var(--muted); font-size: .82rem; }
ol.hist { margin: .2rem 0 0; padding-left: 1.2rem; font-size: .82rem; }
#live { font-size: .75rem; }
#empty { padding: 2rem 1rem; color: var(--muted); text-align: center; }
</style>
</head>
<body>
<header>
  <h1 id="pipeline">Tributary</h1>
  <span id="live" class="pill warn" role="status">connecting</span>
  <div class="meta">
    <span>state <b id="state" data-field="state">–</b></span>
    <span>worker <b id="worker">–</b></span>
    <span>members <b id="members">–</b></span>
    <span>started <b id="started">–</b></span>
    <span>updated <b id="updated">–</b></span>
  </div>
</header>
<main id="rows"><div id="empty">Waiting for the first status…</div></main>
<script>
"use strict";
(function () {
  var skew = 0;
  var last = null;
  var open = {};
  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function nowServer() { return Date.now() - skew; }
  function rel(t) {
    var s = Math.round((nowServer() - t) / 1000);
    var future = s < 0; s = Math.abs(s);
    var v = s < 60 ? s + ' s' : s < 3600 ? Math.floor(s / 60) + ' min' : s < 86400 ? Math.floor(s / 3600) + ' h' : Math.floor(s / 86400) + ' d';
    return future ? 'in ' + v : v + ' ago';
  }
  function time(t) {
    if (typeof t !== 'number') return el('span', null, '–');
    var e = el('time', null, rel(t));
    e.setAttribute('data-t', String(t));
    var d = new Date(t);
    e.dateTime = d.toISOString();
    e.title = d.toLocaleString() + ' (' + d.toISOString() + ')';
    return e;
  }
  function ms(v) {
    if (typeof v !== 'number') return '–';
    return v < 1000 ? Math.round(v) + ' ms' : v < 60000 ? (v / 1000).toFixed(1) + ' s' : (v / 60000).toFixed(1) + ' min';
  }
  function num(v) { return typeof v === 'number' ? v.toLocaleString('en-US') : '–'; }
  function day(t) { return typeof t === 'number' ? new Date(t).toISOString().replace(/T00:00:00\\.000Z$/, '').replace(/\\.000Z$/, 'Z') : '–'; }
  function short(v) {
    var s;
    try { s = typeof v === 'string' ? v : JSON.stringify(v); } catch (e) { s = String(v); }
    if (s === undefined) s = String(v);
    return s.length > 160 ? s.slice(0, 157) + '…' : s;
  }
  function field(dl, name, key, value) {
    var dt = el('dt', null, name);
    var dd = el('dd');
    dd.setAttribute('data-field', key);
    if (value instanceof Node) dd.appendChild(value); else dd.textContent = value === undefined || value === null ? '–' : String(value);
    dl.appendChild(dt); dl.appendChild(dd);
    return dd;
  }
  function span() {
    var s = el('span');
    for (var i = 0; i < arguments.length; i++) {
      var a = arguments[i];
      if (a === null || a === undefined) continue;
      s.appendChild(a instanceof Node ? a : document.createTextNode(String(a)));
    }
    return s;
  }
  function card(r) {
    var c = el('section', 'card' + (r.kind === 'member' ? ' member' : '') + (r.runsHere ? '' : ' away'));
    c.setAttribute('data-unit', r.id);
    var h = el('h2');
    h.appendChild(el('span', 'id', r.id));
    h.appendChild(el('span', 'pill muted', r.kind));
    if (r.breaker) {
      var b = el('span', 'pill st-' + r.breaker.state, r.breaker.state);
      b.setAttribute('data-field', 'breaker-state');
      b.title = 'breaker ' + r.breaker.name;
      h.appendChild(b);
    }
    c.appendChild(h);
    var sub = [];
    if (r.kind === 'member') sub.push('in group ' + r.group);
    if (r.members && r.members.length) sub.push(r.members.length + ' members');
    if (r.plugin) sub.push(r.plugin);
    sub.push(r.schedule || 'no schedule');
    var s = el('div', 'sub', sub.join(' · '));
    s.setAttribute('data-field', 'schedule');
    c.appendChild(s);
    var dl = el('dl');
    field(dl, 'owner', 'owner', r.owner === null ? 'unassigned' : r.owner + (r.runsHere && r.owner !== 'this runner' ? ' (this worker)' : ''));
    if (r.kind !== 'member' || r.lastCycle) {
      var lc = r.lastCycle;
      var cyc = lc ? span(el('span', 'st-' + lc.outcome, lc.outcome), ' · ', time(lc.at), ' · ', ms(lc.durationMs), ' · ', num(lc.records) + ' records') : '–';
      field(dl, 'last cycle', 'last-cycle', cyc);
      if (lc && lc.error) field(dl, 'cycle error', 'cycle-error', span(el('span', 'err', lc.error.code), ': ' + lc.error.message));
      field(dl, 'cycles', 'cycles', num(r.cycles) + ' · ' + num(r.records) + ' records');
    }
    field(dl, 'delivered', 'delivered', num(r.delivered));
    var errs = span(num(r.errors));
    if (r.lastError) errs.appendChild(span(' · last ', el('span', 'err', r.lastError.code), ' ', time(r.lastError.at), ': ', el('span', 'msg', r.lastError.message)));
    field(dl, 'errors', 'errors', errs);
    if (r.breaker) field(dl, 'breaker', 'breaker', span(el('span', 'st-' + r.breaker.state, r.breaker.state), ' since ', time(r.breaker.since)));
    if (r.throttle) field(dl, 'throttle', 'throttle', span(ms(r.throttle.delayMs) + ' delay · ', time(r.throttle.at)));
    if (r.cache.hits + r.cache.misses > 0) field(dl, 'cache', 'cache', (r.cache.hitRate === null ? '–' : Math.round(r.cache.hitRate * 100) + '% hits') + ' (' + num(r.cache.hits) + ' hit / ' + num(r.cache.misses) + ' miss)');
    if (r.retries || r.stale) field(dl, 'retries', 'retries', num(r.retries) + ' retries · ' + num(r.stale) + ' stale');
    if (r.backfill) {
      var bf = r.backfill;
      var pct = bf.total > 0 ? Math.min(100, Math.round((bf.done / bf.total) * 100)) : 100;
      var box = span(num(bf.done) + ' / ' + num(bf.total) + ' chunks (' + pct + '%)' + (bf.failed ? ' · ' + num(bf.failed) + ' failed' : ''));
      if (typeof bf.from === 'number') box.appendChild(el('div', 'sub', day(bf.from) + ' → ' + day(bf.to)));
      var bar = el('div', 'bar'); var fill = el('span'); fill.style.width = pct + '%'; bar.appendChild(fill); box.appendChild(bar);
      field(dl, 'backfill', 'backfill', box);
    }
    if (r.cursor) {
      var cur = el('div');
      var keys = Object.keys(r.cursor.values);
      if (!keys.length) cur.appendChild(el('span', null, 'empty'));
      keys.forEach(function (k) { var line = el('div'); line.appendChild(el('code', null, k + ' = ' + short(r.cursor.values[k]))); cur.appendChild(line); });
      var at = el('div', 'sub'); at.appendChild(span('committed ', time(r.cursor.at))); cur.appendChild(at);
      field(dl, 'cursor', 'cursor', cur);
    }
    if (r.deadLetters.count > 0) {
      var d = r.deadLetters.last;
      field(dl, 'dead letters', 'dead-letters', d ? span(num(r.deadLetters.count) + ' · last ', el('span', 'err', d.code), ' → ' + d.topic + ' ', time(d.at)) : num(r.deadLetters.count));
    }
    c.appendChild(dl);
    if (r.breakerHistory.length) {
      var det = el('details');
      det.open = !!open[r.id];
      det.addEventListener('toggle', function () { open[r.id] = det.open; });
      det.appendChild(el('summary', null, 'breaker history (' + r.breakerHistory.length + ')'));
      var ol = el('ol', 'hist');
      ol.setAttribute('data-field', 'breaker-history');
      r.breakerHistory.slice().reverse().forEach(function (t) {
        ol.appendChild(el('li')).appendChild(span(time(t.at), ' ', el('span', 'st-' + t.from, t.from), ' → ', el('span', 'st-' + t.to, t.to), t.reason ? ' (' + t.reason + ')' : '', t.breaker !== r.breaker.name ? ' [' + t.breaker + ']' : ''));
      });
      det.appendChild(ol);
      c.appendChild(det);
    }
    return c;
  }
  function render(snap) {
    last = snap;
    if (typeof snap.now === 'number') skew = Date.now() - snap.now;
    $('pipeline').textContent = snap.pipeline;
    document.title = snap.pipeline + ' · Tributary status';
    var st = $('state'); st.textContent = snap.status + (snap.stopReason ? ' (' + snap.stopReason + ')' : ''); st.className = 'st-' + snap.status;
    $('worker').textContent = snap.worker || (snap.mode === 'local' ? 'local' : '–');
    $('members').textContent = snap.mode === 'worker' ? String(snap.members) : '1 (local)';
    var started = $('started'); started.textContent = ''; started.appendChild(time(snap.startedAt));
    var updated = $('updated'); updated.textContent = ''; updated.appendChild(time(snap.updatedAt));
    var main = $('rows');
    var frag = document.createDocumentFragment();
    (snap.rows || []).forEach(function (r) { frag.appendChild(card(r)); });
    if (!snap.rows || !snap.rows.length) frag.appendChild(el('div', null, 'No sources.')).id = 'empty';
    main.textContent = '';
    main.appendChild(frag);
    document.body.setAttribute('data-updated', String(snap.updatedAt));
  }
  function tick() {
    var ts = document.querySelectorAll('time[data-t]');
    for (var i = 0; i < ts.length; i++) ts[i].textContent = rel(Number(ts[i].getAttribute('data-t')));
  }
  setInterval(tick, 1000);
  function live(on) {
    var l = $('live');
    l.textContent = on ? 'live' : 'reconnecting';
    l.className = 'pill ' + (on ? 'ok' : 'warn');
    document.body.setAttribute('data-live', on ? 'live' : 'reconnecting');
  }
  var es;
  function connect() {
    es = new EventSource('/status/events');
    es.onopen = function () { live(true); };
    es.onmessage = function (m) {
      var snap;
      try { snap = JSON.parse(m.data); } catch (e) { return; }
      if (snap && snap.error && !snap.rows) { live(false); return; }
      live(true);
      render(snap);
    };
    es.onerror = function () {
      live(false);
      if (es.readyState === 2) { es.close(); setTimeout(connect, 3000); }
    };
  }
  connect();
})();
</script>
</body>
</html>
`;
