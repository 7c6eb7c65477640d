// es_client.js - drives logdistd's Elasticsearch listener with the official
// @elastic/elasticsearch 8.x client (tests/node/node_modules), for
// tests/integration/test_proto_elastic.py. One JSON argument:
//   {"url": "http://127.0.0.1:P", "mode": "info" | "helper" | "bulk",
//    "auth": {"apiKey": "..."} | {"apiKey": {"id","api_key"}} | {"username","password"},
//    "compression": bool,
//    helper: "count", "index", "prefix", "flushBytes", "wait", "retries", "concurrency",
//    bulk:   "operations": [action, doc, ...]}
// Prints one JSON line: {"ok": true, "result": ...} or {"ok": false, "status", "body", "error"}.
'use strict';
const path = require('path');
const { Client } = require(path.join(__dirname, '..', '..', 'node', 'node_modules',
                                     '@elastic', 'elasticsearch'));

const LEVELS = ['info', 'warning', 'error', 'debug', 'critical'];

function doc(prefix, i) {
  return {
    '@timestamp': new Date(Date.UTC(2024, 0, 1, 0, 0, 0, i % 1000)).toISOString(),
    message: `${prefix}-${i}`,
    log: { level: LEVELS[i % LEVELS.length] },
    service: { name: 'svc-' + prefix },
    seq: i,
  };
}

async function main() {
  const cfg = JSON.parse(process.argv[2]);
  const opts = { node: cfg.url, maxRetries: 3, requestTimeout: 20000 };
  if (cfg.auth) opts.auth = cfg.auth;
  if (cfg.compression) opts.compression = true;
  const client = new Client(opts);
  try {
    let result;
    if (cfg.mode === 'info') {
      result = await client.info();
    } else if (cfg.mode === 'helper') {
      const drops = [];
      const stats = await client.helpers.bulk({
        datasource: Array.from({ length: cfg.count }, (_, i) => doc(cfg.prefix, i)),
        onDocument: () => ({ create: { _index: cfg.index } }),
        onDrop: (d) => drops.push({ status: d.status, error: d.error }),
        flushBytes: cfg.flushBytes || 5000000,
        concurrency: cfg.concurrency || 2,
        wait: cfg.wait || 200,
        retries: cfg.retries === undefined ? 3 : cfg.retries,
        refreshOnCompletion: false,
      });
      result = { stats, drops: drops.slice(0, 5), dropped: drops.length };
    } else if (cfg.mode === 'bulk') {
      result = await client.bulk({ operations: cfg.operations });
    } else {
      throw new Error('unknown mode ' + cfg.mode);
    }
    process.stdout.write(JSON.stringify({ ok: true, result }) + '\n');
  } catch (e) {
    const out = { ok: false, error: String(e && e.message) };
    if (e && e.meta) {
      out.status = e.meta.statusCode;
      out.body = e.meta.body;
      out.headers = e.meta.headers;
    }
    process.stdout.write(JSON.stringify(out) + '\n');
  } finally {
    await client.close();
  }
}

main().catch((e) => {
  process.stdout.write(JSON.stringify({ ok: false, error: String(e) }) + '\n');
  process.exit(1);
});
