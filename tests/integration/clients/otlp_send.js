// otlp_send.js - an OpenTelemetry JS SDK log sender for tests/integration/test_proto_otlp.py
// (and bench/proto_otlp.sh's seed capture): a real LoggerProvider + BatchLogRecordProcessor
// with @opentelemetry/exporter-logs-otlp-http (JSON) or -proto (protobuf), from
// tests/node/node_modules (pinned in tests/node/package.json).
//
// Usage: node otlp_send.js '<json options>'
//   {"url": "http://127.0.0.1:P/v1/logs", "protocol": "json"|"proto", "count": N,
//    "service": "svc", "prefix": "id-prefix", "headers": {...}, "batch": 100,
//    "compression": "gzip"|"none"}
// Record i: attribute id = prefix-i, n = i, severityNumber (i % 24) + 1, severityText
// "sev-<n>", body "message i" (every 5th: a map {"i": i, "nested": ["a", true]}), a span
// context (traceId = 32 hex digits ending in i, spanId = 16). Prints one JSON line:
// {"exported": records whose export succeeded, "failed": records whose export failed,
//  "errors": [messages]}. Exit 0 when nothing failed.
'use strict';
const path = require('path');
const NM = path.join(__dirname, '..', '..', 'node', 'node_modules');
const req = (m) => require(path.join(NM, m));

const api = req('@opentelemetry/api');
const { LoggerProvider, BatchLogRecordProcessor } = req('@opentelemetry/sdk-logs');
const { resourceFromAttributes } = req('@opentelemetry/resources');

const opts = JSON.parse(process.argv[2] || '{}');
const count = opts.count || 10;
const exporterMod = opts.protocol === 'proto' ? '@opentelemetry/exporter-logs-otlp-proto'
                                              : '@opentelemetry/exporter-logs-otlp-http';
const { OTLPLogExporter } = req(exporterMod);

const inner = new OTLPLogExporter({
  url: opts.url,
  headers: opts.headers || {},
  timeoutMillis: 10000,
  compression: opts.compression === 'gzip' ? 'gzip' : 'none',
});
const result = { exported: 0, failed: 0, errors: [] };
// Counts what the real exporter reports for each batch (it does the HTTP work).
const exporter = {
  export(records, done) {
    inner.export(records, (r) => {
      if (r.code === 0) result.exported += records.length;
      else {
        result.failed += records.length;
        result.errors.push(String(r.error && r.error.message || r.error));
      }
      done(r);
    });
  },
  shutdown() { return inner.shutdown(); },
  forceFlush() { return inner.forceFlush ? inner.forceFlush() : Promise.resolve(); },
};

const provider = new LoggerProvider({
  resource: resourceFromAttributes({ 'service.name': opts.service || 'otlp-itest',
                                     'host.name': 'itest-host' }),
  processors: [new BatchLogRecordProcessor(exporter, {
    maxExportBatchSize: opts.batch || 100,
    maxQueueSize: count + 10,
    scheduledDelayMillis: 20,
    exportTimeoutMillis: 15000,
  })],
});
const logger = provider.getLogger('itest-scope', '1.2.3');

function hex(i, digits) {
  const s = i.toString(16);
  return ('1' + '0'.repeat(digits)).slice(0, digits - s.length) + s;
}

(async () => {
  for (let i = 0; i < count; i++) {
    const sev = (i % 24) + 1;
    const ctx = api.trace.setSpanContext(api.context.active(), {
      traceId: hex(i, 32), spanId: hex(i, 16), traceFlags: 1,
    });
    logger.emit({
      severityNumber: sev,
      severityText: 'sev-' + sev,
      body: i % 5 === 0 ? { i: i, nested: ['a', true] } : 'message ' + i,
      attributes: { id: (opts.prefix || 'r') + '-' + i, n: i, ok: i % 2 === 0, f: 1.5 },
      context: ctx,
    });
  }
  await provider.forceFlush();
  await provider.shutdown();
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exit(result.failed ? 1 : 0);
})().catch((e) => {
  process.stdout.write(JSON.stringify({ exported: result.exported, failed: -1,
                                        errors: [String(e && e.stack || e)] }) + '\n');
  process.exit(2);
});
