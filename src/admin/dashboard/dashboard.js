/*
 * dashboard.js - the live dashboard's logic (index.html). Polls the admin API
 * once a second (GET /api/v1/analyzers, /api/v1/metrics, /api/v1/deadletter,
 * /api/v1/history) with `Authorization: Bearer <token>` when a token is set,
 * and renders per-analyzer rows and the overall numbers and chart. A 401 (or
 * a 403 on a read) shows the token form; the token lives in sessionStorage
 * (this tab only). Actions (admin role): drain/undrain, re-weight, remove;
 * the API's error is shown as it came.
 *
 * For tests and scripts every displayed number also sits raw in a data-value
 * attribute ("" when the API did not send the field); rows are
 * tr[data-analyzer=<id>] with cells [data-field=<API field>].
 * No inline script or style: the CSP forbids both (bar widths are set
 * through the CSSOM, which the CSP allows).
 *
 * Shared with cluster.js (the cluster view, loaded after this file) through
 * window.logdistDashboard: the fetch helper (same token, same timeout), the
 * formatting and bar helpers, and onPoll(fn), called after every successful
 * poll (never while the page waits for a token).
 */
'use strict';

(function () {
  const TOKEN_KEY = 'logdist.token';
  const POLL_MS = 1000;
  const FETCH_TIMEOUT_MS = 5000;
  const CHART_W = 800, CHART_H = 200, CHART_SPAN_MS = 300000;
  const DASH = '\u2013';

  const $ = (id) => document.getElementById(id);
  let token = sessionStorage.getItem(TOKEN_KEY) || '';
  let polls = 0;
  let timer = null;
  let waitingForToken = false;
  let last = { analyzers: new Map() };
  const pollHooks = [];

  /* ---- formatting ---- */

  function isNum(v) { return typeof v === 'number' && isFinite(v); }

  function fmtCount(v) {
    if (!isNum(v)) return DASH;
    const a = Math.abs(v);
    if (a >= 1e9) return (v / 1e9).toFixed(a >= 1e10 ? 1 : 2) + 'G';
    if (a >= 1e6) return (v / 1e6).toFixed(a >= 1e7 ? 1 : 2) + 'M';
    if (a >= 1e4) return (v / 1e3).toFixed(a >= 1e5 ? 0 : 1) + 'k';
    return Number.isInteger(v) ? String(v) : v.toFixed(a < 10 ? 2 : 1);
  }
  function fmtBytes(v) {
    if (!isNum(v)) return DASH;
    const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
    return (i ? v.toFixed(v < 10 ? 1 : 0) : String(v)) + ' ' + u[i];
  }
  function fmtPct(v) { return isNum(v) ? (v * 100).toFixed(1) + '%' : DASH; }
  function fmtMs(v) {
    if (!isNum(v)) return DASH;
    if (v >= 1000) return (v / 1000).toFixed(2) + ' s';
    return (v < 10 ? v.toFixed(2) : v.toFixed(0)) + ' ms';
  }
  function fmtWeight(v) { return isNum(v) ? String(Math.round(v * 1000) / 1000) : DASH; }

  /* Show text and keep the raw value (undefined/null: "" and a dash). */
  function setVal(el, raw, text) {
    const absent = raw === undefined || raw === null;
    el.dataset.value = absent ? '' : String(raw);
    el.textContent = absent ? DASH : text;
  }

  /* ---- the API ---- */

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function api(method, path, body) {
    const headers = { Accept: 'application/json' };
    if (token) headers.Authorization = 'Bearer ' + token;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const ctl = new AbortController();
    const t = setTimeout(() => ctl.abort(), FETCH_TIMEOUT_MS);
    let r;
    try {
      r = await fetch(path, {
        method, headers, cache: 'no-store', signal: ctl.signal,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new ApiError(0, 'network', e.name === 'AbortError'
        ? 'no answer within ' + FETCH_TIMEOUT_MS / 1000 + ' s' : 'cannot reach logdistd');
    } finally {
      clearTimeout(t);
    }
    let j = null;
    try { j = await r.json(); } catch (e) { j = null; }
    if (!r.ok) {
      throw new ApiError(r.status, (j && j.error) || 'http_' + r.status,
        (j && j.message) || r.statusText || 'request failed');
    }
    return j;
  }

  /* ---- token ---- */

  function showAuth(reason) {
    waitingForToken = true;
    $('auth').hidden = false;
    $('auth-reason').textContent = reason;
    setStatus('auth', 'token required');
    $('token-input').focus();
  }

  function onTokenSubmit(ev) {
    ev.preventDefault();
    const v = $('token-input').value.trim();
    if (!v) return;
    token = v;
    sessionStorage.setItem(TOKEN_KEY, v);
    $('token-input').value = '';
    $('auth').hidden = true;
    $('token-change').hidden = false;
    waitingForToken = false;
    hideMessages();
    schedule(0);
  }

  /* ---- status and messages ---- */

  function setStatus(state, text) {
    const s = $('status');
    s.dataset.state = state;
    s.dataset.polls = String(polls);
    s.textContent = text;
  }

  function hideMessages() {
    $('action-error').hidden = true;
    $('action-ok').hidden = true;
  }

  function showError(what, e) {
    const el = $('action-error');
    const st = e instanceof ApiError ? e.status : 0;
    el.dataset.status = String(st);
    el.dataset.code = e instanceof ApiError ? e.code : 'error';
    el.textContent = what + ' failed: ' + (st ? 'HTTP ' + st + ' ' : '') +
      (e instanceof ApiError ? e.code + ' \u2013 ' : '') + e.message;
    el.hidden = false;
    $('action-ok').hidden = true;
  }

  function showOk(text) {
    const el = $('action-ok');
    el.textContent = text;
    el.hidden = false;
    $('action-error').hidden = true;
  }

  /* ---- overall numbers and the chart ---- */

  function rates(samples) {
    const out = [];
    for (let i = 1; i < samples.length; i++) {
      const a = samples[i - 1], b = samples[i];
      const dt = (b.t_ms - a.t_ms) / 1000;
      if (dt <= 0) continue;
      out.push({
        t: b.t_ms,
        in: Math.max(0, (b.records_accepted - a.records_accepted) / dt),
        out: Math.max(0, (b.records_delivered - a.records_delivered) / dt),
      });
    }
    return out;
  }

  function niceMax(v) {
    if (v <= 1) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  function renderChart(hist) {
    const pts = rates(hist.samples || []);
    const svg = $('chart');
    svg.dataset.points = String(pts.length);
    if (!pts.length) {
      $('chart-in').setAttribute('points', '');
      $('chart-out').setAttribute('points', '');
      return;
    }
    const end = pts[pts.length - 1].t, start = end - CHART_SPAN_MS;
    const max = niceMax(Math.max(...pts.map((p) => Math.max(p.in, p.out))));
    const xy = (p, k) => {
      const x = Math.max(0, (p.t - start) / CHART_SPAN_MS * CHART_W);
      const y = CHART_H - (p[k] / max) * (CHART_H - 8);
      return x.toFixed(1) + ',' + y.toFixed(1);
    };
    $('chart-in').setAttribute('points', pts.map((p) => xy(p, 'in')).join(' '));
    $('chart-out').setAttribute('points', pts.map((p) => xy(p, 'out')).join(' '));
    const grid = $('chart-grid');
    grid.textContent = '';
    for (const f of [0.25, 0.5, 0.75]) {
      const l = document.createElementNS('http://www.w3.org/2000/svg', 'line');
      const y = (CHART_H - f * (CHART_H - 8)).toFixed(1);
      l.setAttribute('x1', '0'); l.setAttribute('x2', String(CHART_W));
      l.setAttribute('y1', y); l.setAttribute('y2', y);
      l.setAttribute('class', 'grid');
      grid.appendChild(l);
    }
    $('chart-max').textContent = 'max ' + fmtCount(max) + '/s';
    $('chart-left').textContent = '\u2212' + Math.round(CHART_SPAN_MS / 60000) + ' min';
    const now = pts[pts.length - 1];
    setVal($('rate-in'), Math.round(now.in), fmtCount(Math.round(now.in)));
    setVal($('rate-out'), Math.round(now.out), fmtCount(Math.round(now.out)));
  }

  function renderOverall(m, dl) {
    setVal($('total-accepted'), m.records_accepted, fmtCount(m.records_accepted));
    setVal($('total-delivered'), m.records_delivered, fmtCount(m.records_delivered));
    setVal($('total-queued'), m.queued_records, fmtCount(m.queued_records));
    setVal($('total-queued-bytes'), m.queued_bytes, fmtBytes(m.queued_bytes));
    setVal($('dl-records'), dl.records, fmtCount(dl.records));
    setVal($('dl-bytes'), dl.bytes, fmtBytes(dl.bytes));
    const body = $('refusals').tBodies[0];
    body.textContent = '';
    const by = m.packets_rejected_by_reason || {};
    const reasons = Object.keys(by).filter((k) => by[k] > 0).sort((a, b) => by[b] - by[a]);
    for (const k of reasons) {
      const tr = body.insertRow();
      tr.dataset.reason = k;
      tr.insertCell().textContent = k.replace(/_/g, ' ');
      const c = tr.insertCell();
      c.className = 'num';
      setVal(c, by[k], fmtCount(by[k]));
    }
    if (!reasons.length) {
      const c = body.insertRow().insertCell();
      c.colSpan = 2;
      c.className = 'muted';
      c.textContent = 'none';
    }
  }

  /* ---- analyzers ---- */

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function bar(kind, label, field) {
    const b = el('div', 'bar ' + kind);
    b.append(el('span', 'lbl', label));
    const track = el('span', 'track');
    const fill = el('span', 'fill');
    fill.setAttribute('role', 'presentation');
    track.append(fill);
    b.append(track);
    const pct = el('span', 'pct');
    pct.dataset.field = field;
    b.append(pct);
    return b;
  }

  function setBar(row, field, v) {
    const pct = row.querySelector('[data-field="' + field + '"]');
    setVal(pct, v, fmtPct(v));
    const fill = pct.parentElement.querySelector('.fill');
    fill.style.width = isNum(v) ? Math.min(100, Math.max(0, v * 100)).toFixed(2) + '%' : '0';
  }

  function cell(row, field, cls) {
    const td = el('td', cls);
    td.dataset.field = field;
    row.append(td);
    return td;
  }

  /* A weight cell and a target / actual share cell from x's fields (the route
   * members here, the cluster-wide analyzers in cluster.js). */
  function weightAndShares(tr, x) {
    setVal(cell(tr, 'weight', 'num'), x.weight, fmtWeight(x.weight));
    const sh = el('td', 'shares');
    sh.append(bar('target', 'target', 'target_share'), bar('actual', 'actual', 'actual_share'));
    tr.append(sh);
    setBar(tr, 'target_share', x.target_share);
    setBar(tr, 'actual_share', x.actual_share);
  }

  function makeRow(id) {
    const tr = el('tr');
    tr.dataset.analyzer = id;
    const name = el('td');
    name.append(el('span', 'id', id));
    const url = el('span', 'url');
    url.dataset.field = 'url';
    name.append(url);
    tr.append(name);
    cell(tr, 'state');
    cell(tr, 'breaker');
    const sh = el('td', 'shares');
    sh.append(bar('target', 'target', 'target_share'), bar('actual', 'actual', 'actual_share'),
      bar('recent', 'last 10 s', 'actual_share_10s'));
    tr.append(sh);
    cell(tr, 'weight', 'num');
    cell(tr, 'effective_weight', 'num');
    cell(tr, 'latency_ms', 'num');
    const q = cell(tr, 'queued_records', 'num');
    q.append(el('span'), el('span', 'url'));
    cell(tr, 'inflight_batches', 'num');
    cell(tr, 'records_delivered', 'num');
    cell(tr, 'last_error', 'err');
    tr.append(makeActions(id));
    return tr;
  }

  function makeActions(id) {
    const td = el('td', 'actions');
    const f = el('form');
    f.dataset.action = 'weight-form';
    f.noValidate = true; /* reweight() says what is wrong, in the message area */
    const lbl = el('label', 'sr', 'new weight of ' + id);
    const inp = el('input');
    inp.type = 'number'; inp.min = '0'; inp.step = 'any'; inp.required = true;
    inp.id = 'w-' + id.replace(/[^A-Za-z0-9_-]/g, '_');
    inp.dataset.action = 'weight-input';
    lbl.htmlFor = inp.id;
    const set = el('button', '', 'Set');
    set.type = 'submit';
    set.setAttribute('aria-label', 'set the weight of ' + id);
    inp.placeholder = 'new';
    set.dataset.action = 'weight';
    f.append(lbl, inp, set);
    f.addEventListener('submit', (ev) => { ev.preventDefault(); reweight(id, inp); });
    const drain = el('button', '', 'Drain');
    drain.type = 'button';
    drain.dataset.action = 'drain';
    drain.addEventListener('click', () => toggleDrain(id));
    const rm = el('button', 'danger', 'Remove');
    rm.type = 'button';
    rm.dataset.action = 'remove';
    rm.setAttribute('aria-label', 'remove analyzer ' + id);
    rm.addEventListener('click', () => remove(id));
    td.append(f, drain, rm);
    return td;
  }

  function isDrained(a) {
    return a.drained === true;
  }

  function badgeClass(state) {
    if (state === 'up' || state === 'closed') return 'good';
    if (state === 'down' || state === 'open') return 'bad';
    return 'warn';
  }

  function setBadge(td, v) {
    td.textContent = '';
    td.dataset.value = v === undefined || v === null ? '' : String(v);
    td.append(el('span', 'badge ' + badgeClass(v), v === undefined ? DASH : String(v)));
  }

  function updateRow(tr, a) {
    const f = (k) => tr.querySelector('[data-field="' + k + '"]');
    f('url').textContent = a.url || '';
    f('url').title = a.url || '';
    setBadge(f('state'), a.state);
    setBadge(f('breaker'), a.breaker);
    setBar(tr, 'target_share', a.target_share);
    setBar(tr, 'actual_share', a.actual_share);
    setBar(tr, 'actual_share_10s', a.actual_share_10s);
    setVal(f('weight'), a.weight, fmtWeight(a.weight));
    setVal(f('effective_weight'), a.effective_weight, fmtWeight(a.effective_weight));
    /* why it differs from the configured weight (adaptive weights, slow start, hints) */
    const why = (a.weight_factors && a.weight_factors.reason) || '';
    f('effective_weight').title = why;
    f('effective_weight').classList.toggle('adapted', why !== '');
    setVal(f('latency_ms'), a.latency_ms, fmtMs(a.latency_ms));
    const q = f('queued_records');
    q.dataset.value = a.queued_records === undefined ? '' : String(a.queued_records);
    q.dataset.bytes = a.queue_bytes === undefined ? '' : String(a.queue_bytes);
    q.firstChild.textContent = fmtCount(a.queued_records);
    q.lastChild.textContent = fmtBytes(a.queue_bytes);
    setVal(f('inflight_batches'), a.inflight_batches, fmtCount(a.inflight_batches));
    setVal(f('records_delivered'), a.records_delivered, fmtCount(a.records_delivered));
    setVal(f('last_error'), a.last_error, a.last_error || DASH);
    const drained = isDrained(a);
    const d = tr.querySelector('[data-action="drain"]');
    d.textContent = drained ? 'Undrain' : 'Drain';
    d.dataset.drained = String(drained);
    d.setAttribute('aria-label', (drained ? 'undrain' : 'drain') + ' analyzer ' + a.id);
  }

  function renderAnalyzers(res) {
    const body = $('analyzer-rows');
    const list = (res && res.analyzers) || [];
    $('strategy').textContent = res.strategy ? '(' + res.strategy +
      (res.panic ? ', panic mode' : '') + ')' : '';
    const seen = new Set();
    for (const a of list) {
      seen.add(a.id);
      let tr = last.analyzers.get(a.id);
      if (!tr) {
        tr = makeRow(a.id);
        last.analyzers.set(a.id, tr);
      }
      updateRow(tr, a);
      body.append(tr); /* keeps the API's order; moving keeps focus and input */
    }
    for (const [id, tr] of last.analyzers) {
      if (!seen.has(id)) { tr.remove(); last.analyzers.delete(id); }
    }
    for (const tr of [...body.rows]) if (!tr.dataset.analyzer) tr.remove();
    if (!list.length) {
      const c = body.insertRow().insertCell();
      c.colSpan = 12; c.className = 'muted'; c.textContent = 'no analyzers';
    }
  }

  /* ---- routes (GET /api/v1/routes): one row per route and analyzer, rebuilt each poll ---- */

  function routeKind(r) {
    return (r.copy ? 'copy' : 'first') + (r.affinity_key ? ', key ' + r.affinity_key : '') +
      (r.implicit ? ' (implicit)' : '');
  }

  function routeRow(r, m, first) {
    const tr = el('tr');
    tr.dataset.route = r.name;
    tr.dataset.analyzer = m ? m.analyzer : '';
    tr.append(el('td', 'id', first ? r.name : ''));
    tr.append(el('td', null, first ? routeKind(r) : ''));
    const match = r.match && Object.keys(r.match).length ? JSON.stringify(r.match) : '';
    tr.append(el('td', 'match', first ? (match || (r.name === 'default' ? 'the rest' : 'all')) : ''));
    if (!m) {
      const c = el('td', 'muted', 'no analyzers: records that match no route are refused');
      c.colSpan = 4;
      tr.append(c);
      return tr;
    }
    tr.append(el('td', null, m.analyzer + (m.routable ? '' : ' (down)')));
    weightAndShares(tr, m);
    setVal(cell(tr, 'routed', 'num'), m.routed, fmtCount(m.routed));
    return tr;
  }

  function renderRoutes(res) {
    const body = $('route-rows');
    const rows = [];
    for (const r of (res && res.routes) || []) {
      const members = r.members || [];
      if (!members.length) rows.push(routeRow(r, null, true));
      members.forEach((m, i) => rows.push(routeRow(r, m, i === 0)));
    }
    body.replaceChildren(...rows);
  }

  /* ---- actions ---- */

  function path(id) { return '/api/v1/analyzers/' + encodeURIComponent(id); }

  async function reweight(id, inp) {
    const w = Number(inp.value);
    if (inp.value === '' || !isFinite(w) || w < 0) {
      showError('re-weight ' + id, new Error('the weight must be a number ≥ 0'));
      return;
    }
    try {
      const a = await api('PUT', path(id), { weight: w });
      inp.value = '';
      showOk('weight of ' + id + ' set to ' + fmtWeight(a && a.weight !== undefined ? a.weight : w));
    } catch (e) { return failed('re-weight ' + id, e); }
    schedule(0);
  }

  async function toggleDrain(id) {
    const tr = last.analyzers.get(id);
    const drain = !(tr && tr.querySelector('[data-action="drain"]').dataset.drained === 'true');
    try {
      await api('PUT', path(id), { drained: drain });
      showOk(id + (drain ? ' drained' : ' undrained'));
    } catch (e) { return failed((drain ? 'drain ' : 'undrain ') + id, e); }
    schedule(0);
  }

  async function remove(id) {
    if (!window.confirm('Remove analyzer ' + id + '? Its queued records move to the others.')) {
      return;
    }
    try {
      await api('DELETE', path(id));
      showOk(id + ' removed');
    } catch (e) { return failed('remove ' + id, e); }
    schedule(0);
  }

  function failed(what, e) {
    showError(what, e);
    if (e instanceof ApiError && e.status === 401) showAuth('The token was refused (401): enter a valid token.');
  }

  /* ---- the poll loop ---- */

  const HIST_MAX = 300; /* samples kept, as the server keeps them */
  let histSamples = [], histSince = 0;

  async function poll() {
    timer = null;
    if (waitingForToken) return;
    let res;
    try {
      res = await Promise.all([api('GET', '/api/v1/analyzers'), api('GET', '/api/v1/metrics'),
        api('GET', '/api/v1/deadletter'),
        api('GET', '/api/v1/history' + (histSince ? '?since_ms=' + histSince : '')),
        api('GET', '/api/v1/routes')]);
    } catch (e) {
      if (e instanceof ApiError && (e.status === 401 || e.status === 403)) {
        showAuth(e.status === 401
          ? (token ? 'The token was refused (401): enter a valid token.'
            : 'This logdistd requires a bearer token (401).')
          : 'This token may not read the API (403): a token with the read or admin role is needed.');
        return;
      }
      setStatus('error', 'update failed: ' + e.message + ' (retrying)');
      schedule(POLL_MS);
      return;
    }
    const [an, m, dl, hist, routes] = res;
    renderAnalyzers(an);
    renderRoutes(routes);
    renderOverall(m, dl);
    /* the first answer has the last 5 minutes, later ones only what is new */
    histSamples = histSamples.concat(hist.samples || []).slice(-HIST_MAX);
    if (histSamples.length) histSince = histSamples[histSamples.length - 1].t_ms;
    renderChart({ samples: histSamples });
    polls++;
    for (const h of pollHooks) {
      /* a view's bug must not stop the poll loop; it is a console error (the tests fail on one) */
      try { h(); } catch (e) { console.error('dashboard view:', e); }
    }
    setStatus('ok', 'live \u00b7 updated ' + new Date().toLocaleTimeString() + ' \u00b7 ' +
      (an.analyzers || []).length + ' analyzers' + (token ? ' \u00b7 token set' : ''));
    schedule(POLL_MS);
  }

  function schedule(ms) {
    if (timer) clearTimeout(timer);
    timer = setTimeout(poll, ms);
  }

  window.logdistDashboard = Object.freeze({
    api, ApiError, DASH, isNum, fmtCount, fmtWeight, setVal, el, cell, weightAndShares,
    onPoll(fn) { pollHooks.push(fn); },
  });

  document.addEventListener('DOMContentLoaded', () => {
    $('token-form').addEventListener('submit', onTokenSubmit);
    $('token-change').addEventListener('click', () => showAuth('Enter another token.'));
    $('token-change').hidden = !token;
    schedule(0);
  });
})();
