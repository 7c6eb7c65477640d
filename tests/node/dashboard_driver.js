/*
 * dashboard_driver.js - drives the dashboard (GET / of logdistd) in headless
 * Chromium for tests/integration/test_dashboard.py, one command at a time.
 *
 * Protocol: one JSON command per stdin line, one JSON answer per stdout line
 * ({"ok":true,...} or {"ok":false,"error":...}). The first line printed is
 * {"ready":true,"browser_pid":N} once Chromium runs (the test kills that pid
 * if this script dies). Every wait is bounded (`timeout_ms`, default 15 s).
 * Commands:
 *   {"cmd":"open","url":U,"page":P}      new page P (its own context: its own
 *                                        sessionStorage); answers the status state
 *   {"cmd":"token","page":P,"token":T}    fill the token form, wait for live data
 *   {"cmd":"read","page":P,"fresh":N}     after N more successful polls: every
 *                                        displayed value (data-* attributes)
 *   {"cmd":"weight"|"drain"|"remove","page":P,"id":A[,"value":W]}
 *                                        click the action (remove accepts the
 *                                        confirmation), answer the message shown
 *   {"cmd":"cluster","page":P,"fresh":N} after N more successful polls of the page
 *                                        and N more reads of the cluster view
 *                                        (0: now): the cluster section as shown
 *   {"cmd":"screenshot","page":P,"path":F}
 *   {"cmd":"quit"}
 * Console errors and page errors (CSP violations are console errors) are
 * collected per page and returned by "read".
 * Used by test_dashboard.py and test_dashboard_cluster.py.
 * Usage: node dashboard_driver.js [chromium path]
 */
'use strict';

const readline = require('readline');
const { chromium } = require('playwright-core');

const CHROMIUM = process.argv[2] || '/usr/bin/chromium';
const pages = new Map(); /* name -> {ctx, page, errors} */
let browser = null;

function out(o) { process.stdout.write(JSON.stringify(o) + '\n'); }

function get(name) {
  const p = pages.get(name);
  if (!p) throw new Error('no page ' + name);
  return p;
}

async function polls(page) {
  return Number(await page.getAttribute('#status', 'data-polls')) || 0;
}

async function open(c, t) {
  const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const page = await ctx.newPage();
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  pages.set(c.page, { ctx, page, errors });
  const r = await page.goto(c.url, { timeout: t });
  await page.waitForSelector('#status:is([data-state="ok"],[data-state="auth"])', { timeout: t });
  return {
    http_status: r.status(),
    headers: r.headers(),
    state: await page.getAttribute('#status', 'data-state'),
    auth_visible: await page.isVisible('#auth'),
  };
}

async function token(c, t) {
  const { page } = get(c.page);
  await page.fill('#token-input', c.token, { timeout: t });
  await page.click('#token-form button[type=submit]', { timeout: t });
  await page.waitForFunction(() => {
    const s = document.getElementById('status');
    return s.dataset.state === 'ok' && Number(s.dataset.polls) > 0;
  }, null, { timeout: t });
  return { state: 'ok', auth_visible: await page.isVisible('#auth') };
}

async function read(c, t) {
  const p = get(c.page);
  const want = (await polls(p.page)) + (c.fresh === undefined ? 1 : c.fresh);
  await p.page.waitForFunction((n) => {
    const s = document.getElementById('status');
    return s.dataset.state === 'ok' && Number(s.dataset.polls) >= n;
  }, want, { timeout: t });
  const view = await p.page.evaluate(() => {
    const val = (el) => (el ? el.dataset.value : undefined);
    const rows = {};
    for (const tr of document.querySelectorAll('#analyzer-rows tr[data-analyzer]')) {
      const r = {};
      for (const e of tr.querySelectorAll('[data-field]')) {
        r[e.dataset.field] = e.dataset.value !== undefined ? e.dataset.value : e.textContent;
        r[e.dataset.field + '_text'] = e.textContent;
      }
      const q = tr.querySelector('[data-field="queued_records"]');
      r.queue_bytes = q.dataset.bytes;
      r.drained = tr.querySelector('[data-action="drain"]').dataset.drained;
      r.drain_label = tr.querySelector('[data-action="drain"]').textContent;
      rows[tr.dataset.analyzer] = r;
    }
    const routes = [];
    for (const tr of document.querySelectorAll('#route-rows tr[data-route]')) {
      const r = { route: tr.dataset.route, analyzer: tr.dataset.analyzer };
      for (const e of tr.querySelectorAll('[data-field]')) r[e.dataset.field] = e.dataset.value;
      routes.push(r);
    }
    const refusals = {};
    for (const tr of document.querySelectorAll('#refusals tr[data-reason]')) {
      refusals[tr.dataset.reason] = tr.cells[1].dataset.value;
    }
    const ids = ['rate-in', 'rate-out', 'total-accepted', 'total-delivered', 'total-queued',
      'total-queued-bytes', 'dl-records', 'dl-bytes'];
    const overall = {};
    for (const id of ids) overall[id] = val(document.getElementById(id));
    const line = document.getElementById('chart-in').getAttribute('points').trim();
    return {
      rows, routes, refusals, overall,
      chart_points: Number(document.getElementById('chart').dataset.points),
      chart_in_points: line ? line.split(/\s+/).length : 0,
      status: document.getElementById('status').textContent,
      polls: Number(document.getElementById('status').dataset.polls),
    };
  });
  view.errors = p.errors.slice();
  return view;
}

/* Clear the messages, run `act`, wait for the ok or error message. */
async function action(page, t, act) {
  await page.evaluate(() => {
    document.getElementById('action-error').hidden = true;
    document.getElementById('action-ok').hidden = true;
  });
  await act();
  const h = await page.waitForSelector('#action-ok:not([hidden]), #action-error:not([hidden])',
    { timeout: t });
  const id = await h.getAttribute('id');
  return {
    result: id === 'action-ok' ? 'ok' : 'error',
    message: await h.textContent(),
    status: id === 'action-error' ? Number(await h.getAttribute('data-status')) : 0,
  };
}

function rowSel(id) { return '#analyzer-rows tr[data-analyzer="' + id + '"]'; }

async function weight(c, t) {
  const { page } = get(c.page);
  return action(page, t, async () => {
    await page.fill(rowSel(c.id) + ' [data-action="weight-input"]', String(c.value), { timeout: t });
    await page.click(rowSel(c.id) + ' [data-action="weight"]', { timeout: t });
  });
}

async function drain(c, t) {
  const { page } = get(c.page);
  return action(page, t, () => page.click(rowSel(c.id) + ' [data-action="drain"]', { timeout: t }));
}

async function remove(c, t) {
  const { page } = get(c.page);
  let asked = '';
  page.once('dialog', (d) => { asked = d.message(); d.accept(); });
  const r = await action(page, t, () => page.click(rowSel(c.id) + ' [data-action="remove"]',
    { timeout: t }));
  r.confirm = asked;
  return r;
}

/* The cluster section (src/admin/dashboard/cluster.js): every data-* value. */
async function cluster(c, t) {
  const p = get(c.page);
  const n = c.fresh === undefined ? 1 : c.fresh;
  const want = await p.page.evaluate(() => ({
    polls: Number(document.getElementById('status').dataset.polls) || 0,
    cluster: Number(document.getElementById('cluster').dataset.polls) || 0,
  }));
  await p.page.waitForFunction((w) => {
    const s = document.getElementById('status');
    const cl = document.getElementById('cluster');
    return s.dataset.state === 'ok' && Number(s.dataset.polls) >= w.polls &&
      (w.cluster === 0 || Number(cl.dataset.polls) >= w.cluster);
  }, { polls: want.polls + n, cluster: n && want.cluster > 0 ? want.cluster + n : 0 },
  { timeout: t });
  const view = await p.page.evaluate(() => {
    const q = (id) => document.getElementById(id);
    const sec = q('cluster');
    const fields = (tr) => {
      const r = {};
      for (const e of tr.querySelectorAll('[data-field]')) {
        r[e.dataset.field] = e.dataset.value !== undefined ? e.dataset.value : e.textContent;
        r[e.dataset.field + '_text'] = e.textContent;
      }
      return r;
    };
    const nodes = {};
    for (const tr of document.querySelectorAll('#cluster-node-rows tr[data-node]')) {
      nodes[tr.dataset.node] = Object.assign(fields(tr),
        { row_alive: tr.dataset.alive, row_self: tr.dataset.self });
    }
    const order = [...document.querySelectorAll('#cluster-node-rows tr[data-node]')]
      .map((tr) => tr.dataset.node);
    const analyzers = {};
    for (const tr of document.querySelectorAll('#cluster-analyzer-rows tr[data-cluster-analyzer]')) {
      const r = fields(tr);
      r.per_node = {};
      for (const s of tr.querySelectorAll('[data-field="nodes"] [data-node]')) {
        r.per_node[s.dataset.node] = s.dataset.value;
      }
      analyzers[tr.dataset.clusterAnalyzer] = r;
    }
    const info = {};
    for (const id of ['cluster-node-id', 'cluster-etcd', 'cluster-endpoint', 'cluster-prefix',
      'cluster-config', 'cluster-revision', 'cluster-lease', 'cluster-last-error',
      'cluster-an-nodes']) {
      info[id] = q(id).dataset.value;
    }
    const banner = q('cluster-banner'), err = q('cluster-error');
    return {
      visible: !sec.hidden && sec.offsetParent !== null,
      state: sec.dataset.state,
      cluster_polls: Number(sec.dataset.polls),
      probes: Number(sec.dataset.probes),
      polls: Number(q('status').dataset.polls),
      info, nodes, node_order: order, analyzers,
      banner: banner.hidden ? '' : banner.textContent,
      error: err.hidden ? '' : err.textContent,
    };
  });
  view.errors = p.errors.slice();
  return view;
}

async function screenshot(c, t) {
  const { page } = get(c.page);
  await page.screenshot({ path: c.path, fullPage: true, timeout: t });
  return { path: c.path };
}

const COMMANDS = { open, token, read, cluster, weight, drain, remove, screenshot };

async function main() {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    timeout: 30000,
  });
  const proc = browser.process ? browser.process() : null;
  out({ ready: true, browser_pid: proc ? proc.pid : 0, version: browser.version() });
  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    if (!line.trim()) continue;
    let c;
    try { c = JSON.parse(line); } catch (e) { out({ ok: false, error: 'bad command' }); continue; }
    if (c.cmd === 'quit') break;
    const f = COMMANDS[c.cmd];
    if (!f) { out({ ok: false, error: 'unknown command ' + c.cmd }); continue; }
    try {
      out(Object.assign({ ok: true }, await f(c, c.timeout_ms || 15000)));
    } catch (e) {
      out({ ok: false, error: String(e && e.message || e).slice(0, 2000) });
    }
  }
  await browser.close();
}

main().then(() => process.exit(0), (e) => {
  out({ ok: false, fatal: true, error: String(e && e.stack || e) });
  const proc = browser && browser.process ? browser.process() : null;
  if (proc) proc.kill('SIGKILL');
  process.exit(1);
});
