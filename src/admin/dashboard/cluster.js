/*
 * cluster.js - the dashboard's cluster view (section#cluster of index.html),
 * loaded after dashboard.js and built on what it shares (window.logdistDashboard:
 * the fetch helper with the tab's token and the 5 s timeout, formatting, bars).
 *
 * Whether this node is in a cluster is asked once: GET /health carries "etcd"
 * only on a node started with --cluster-etcd (and needs no token, so a single
 * node's page logs no 404). A single node is asked again only every
 * REPROBE_MS (the option is fixed at start); the section stays hidden. On a
 * cluster node, after every successful poll of the page (once a second, never
 * while it waits for a token) it reads GET /api/v1/cluster and
 * /api/v1/cluster/analyzers and shows:
 *   - this node's id, etcd connectivity, endpoint, key prefix, config (synced/cached),
 *     revision, lease TTL, last error, and a banner while etcd is disconnected;
 *   - a node table, rows tr[data-node=<id>] (data-alive, data-self);
 *   - the cluster-wide analyzer table, rows tr[data-cluster-analyzer=<id>].
 * Cells are [data-field=<API field>] with the raw value in data-value ("" when
 * the API did not send it), like the analyzer rows. A failed read shows the
 * API's status, code and message in the section (#cluster-error) and leaves
 * the rest of the page alone; a 404 not_clustered hides the section again.
 * For tests: section#cluster data-polls counts the successful reads,
 * data-probes the /health probes, data-state is unknown|single|ok|error.
 */
'use strict';

(function () {
  const D = window.logdistDashboard;
  if (!D) return;
  const { api, ApiError, DASH, isNum, fmtCount, setVal, el, cell, weightAndShares } = D;
  const REPROBE_MS = 60000;     /* a single node: ask again this rarely */
  const RETRY_PROBE_MS = 5000;  /* the probe failed (draining, network): sooner */
  const $ = (id) => document.getElementById(id);

  let mode = 'unknown'; /* unknown | single | cluster */
  let nextProbe = 0;
  let busy = false;
  let polls = 0, probes = 0;

  /* ---- formatting ---- */

  function fmtAge(ms) {
    if (!isNum(ms) || ms < 0) return DASH;
    const s = Math.floor(ms / 1000);
    if (s < 60) return s + ' s';
    if (s < 3600) return Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
    if (s < 86400) return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
    return Math.floor(s / 86400) + ' d ' + Math.floor((s % 86400) / 3600) + ' h';
  }

  function isObj(v) { return v !== null && typeof v === 'object' && !Array.isArray(v); }

  /* A yes/no badge; data-value keeps the raw boolean ("" when absent). */
  function setFlag(td, v, yes, no) {
    td.textContent = '';
    const known = typeof v === 'boolean';
    td.dataset.value = known ? String(v) : '';
    td.append(el('span', 'badge ' + (!known ? 'warn' : v ? 'good' : 'bad'),
      !known ? DASH : v ? yes : no));
  }

  /* ---- the section ---- */

  function section() { return $('cluster'); }

  function setState(state) {
    const s = section();
    s.dataset.state = state;
    s.dataset.polls = String(polls);
    s.dataset.probes = String(probes);
  }

  function showError(e) {
    const box = $('cluster-error');
    const st = e instanceof ApiError ? e.status : 0;
    box.dataset.status = String(st);
    box.dataset.code = e instanceof ApiError ? e.code : 'error';
    box.textContent = 'cluster view not updated: ' + (st ? 'HTTP ' + st + ' ' : '') +
      (e instanceof ApiError ? e.code + ' \u2013 ' : '') + e.message;
    box.hidden = false;
  }

  function renderStatus(st) {
    setVal($('cluster-node-id'), st.node_id, st.node_id);
    setFlag($('cluster-etcd'), st.etcd_connected, 'connected', 'disconnected');
    setVal($('cluster-endpoint'), st.etcd_endpoint, st.etcd_endpoint);
    setVal($('cluster-prefix'), st.prefix, st.prefix);
    setVal($('cluster-config'), st.config, st.config === 'cached'
      ? 'cached (the last one applied)' : st.config);
    setVal($('cluster-revision'), st.revision, String(st.revision));
    setVal($('cluster-lease'), st.lease_ttl_s, st.lease_ttl_s + ' s');
    setVal($('cluster-last-error'), st.last_error, st.last_error || DASH);
    const banner = $('cluster-banner');
    const down = st.etcd_connected === false;
    banner.hidden = !down;
    banner.textContent = down ? 'etcd is disconnected (' + (st.etcd_endpoint || 'no endpoint') +
      '): running on the last configuration; admin writes refused (503 etcd_unavailable) ' +
      'until it is back' + (st.last_error ? '. Last error: ' + st.last_error : '.') : '';
  }

  function nodeRow(n, now) {
    const tr = el('tr');
    tr.dataset.node = n.id;
    tr.dataset.alive = String(n.alive === true);
    tr.dataset.self = String(n.self === true);
    const name = el('td');
    name.append(el('span', 'id', n.id));
    if (n.self) name.append(el('span', 'self', '(this node)'));
    tr.append(name);
    setFlag(cell(tr, 'alive'), n.alive, 'alive', 'not alive');
    const url = cell(tr, 'url', 'match');
    setVal(url, n.url, n.url);
    setVal(cell(tr, 'version'), n.version, n.version);
    const up = cell(tr, 'started_ms', 'num');
    setVal(up, n.started_ms, fmtAge(now - n.started_ms));
    if (isNum(n.started_ms)) up.title = 'started ' + new Date(n.started_ms).toISOString();
    setVal(cell(tr, 'records_per_s', 'num'), n.records_per_s, fmtCount(n.records_per_s));
    setVal(cell(tr, 'queued_records', 'num'), n.queued_records, fmtCount(n.queued_records));
    setVal(cell(tr, 'records_accepted', 'num'), n.records_accepted, fmtCount(n.records_accepted));
    setVal(cell(tr, 'records_delivered', 'num'), n.records_delivered,
      fmtCount(n.records_delivered));
    setFlag(cell(tr, 'etcd_connected'), n.etcd_connected, 'connected', 'disconnected');
    const age = cell(tr, 'age_ms', 'num');
    setVal(age, n.age_ms, n.age_ms >= 0 ? fmtAge(n.age_ms) + ' ago' : DASH);
    return tr;
  }

  function renderNodes(st) {
    const now = Date.now();
    const list = Array.isArray(st.nodes) ? st.nodes.filter(isObj) : [];
    const rows = list.map((n) => nodeRow(n, now));
    if (!rows.length) {
      const tr = el('tr');
      const c = el('td', 'muted', 'no nodes seen yet');
      c.colSpan = 11;
      tr.append(c);
      rows.push(tr);
    }
    $('cluster-node-rows').replaceChildren(...rows);
  }

  function perNode(td, nodes) {
    const ids = isObj(nodes) ? Object.keys(nodes).sort() : [];
    for (const id of ids) {
      const s = el('span');
      s.dataset.node = id;
      s.dataset.value = String(nodes[id]);
      s.append(el('span', 'k', id), document.createTextNode(fmtCount(nodes[id])));
      td.append(s);
    }
    if (!ids.length) td.textContent = DASH;
  }

  function analyzerRow(a) {
    const tr = el('tr');
    tr.dataset.clusterAnalyzer = a.id;
    tr.append(el('td', 'id', a.id));
    weightAndShares(tr, a);
    setVal(cell(tr, 'records_delivered', 'num'), a.records_delivered,
      fmtCount(a.records_delivered));
    perNode(cell(tr, 'nodes', 'per-node'), a.nodes);
    return tr;
  }

  function renderAnalyzers(res) {
    const list = Array.isArray(res.analyzers) ? res.analyzers.filter(isObj) : [];
    const rows = list.map(analyzerRow);
    if (!rows.length) {
      const tr = el('tr');
      const c = el('td', 'muted', 'no analyzers');
      c.colSpan = 5;
      tr.append(c);
      rows.push(tr);
    }
    $('cluster-analyzer-rows').replaceChildren(...rows);
    const n = res.nodes;
    setVal($('cluster-an-nodes'), n, '(summed over the counters ' + n + ' node' +
      (n === 1 ? '' : 's') + ' published)');
  }

  /* ---- polling ---- */

  async function probe() {
    probes++;
    let h;
    try {
      h = await api('GET', '/health');
    } catch (e) {
      nextProbe = Date.now() + RETRY_PROBE_MS;
      setState('unknown');
      return;
    }
    if (h && typeof h.etcd === 'string') {
      mode = 'cluster';
      section().hidden = false;
      await refresh();
    } else {
      mode = 'single';
      nextProbe = Date.now() + REPROBE_MS;
      section().hidden = true;
      setState('single');
    }
  }

  async function refresh() {
    let st, an;
    try {
      [st, an] = await Promise.all([api('GET', '/api/v1/cluster'),
        api('GET', '/api/v1/cluster/analyzers')]);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404 && e.code === 'not_clustered') {
        mode = 'single';
        nextProbe = Date.now() + REPROBE_MS;
        section().hidden = true;
        setState('single');
        return;
      }
      showError(e);
      setState('error');
      return;
    }
    if (!isObj(st) || !isObj(an)) {
      showError(new Error('the answer is not a JSON object'));
      setState('error');
      return;
    }
    $('cluster-error').hidden = true;
    renderStatus(st);
    renderNodes(st);
    renderAnalyzers(an);
    polls++;
    setState('ok');
  }

  function onPoll() {
    if (busy) return; /* the last read is still out: skip this round */
    let run = null;
    if (mode === 'cluster') run = refresh;
    else if (Date.now() >= nextProbe) run = probe;
    if (!run) return;
    busy = true;
    run().catch((e) => {
      showError(e); /* a bug here: said in the section, the rest of the page goes on */
      setState('error');
    }).finally(() => { busy = false; });
  }

  D.onPoll(onPoll);
})();
