// forward_client.js - Fluent forward senders for tests/integration/test_proto_forward.py
// and bench/proto_forward.sh. Uses only third-party code from tests/node/node_modules:
//   logger: the real fluent-logger (requireAckResponse: true) in an eventMode, with or
//           without the shared-key handshake; prints one line per acked record id
//           ("acked <id>") and a last JSON summary line.
//   raw:    msgpack-lite (fluent-logger's own encoder) writes hand-shaped messages that
//           fluent-logger never produces (Forward mode, error cases) and reports what
//           the server answered: {"answers":[...], "closed":bool}.
// Usage: node forward_client.js '<json config>'
'use strict';
const path = require('path');
const NM = process.env.NODE_MODULES || path.join(__dirname, '..', '..', 'node', 'node_modules');
const net = require('net');
const zlib = require('zlib');
const crypto = require('crypto');
const msgpack = require(path.join(NM, 'msgpack-lite'));
const fluent = require(path.join(NM, 'fluent-logger'));
const EventTime = fluent.EventTime;

const cfg = JSON.parse(process.argv[2]);

function eventTime(sec, nsec) {
  return new EventTime(sec, nsec);
}

function runLogger() {
  const opts = {
    host: '127.0.0.1', port: cfg.port, timeout: 10.0, reconnectInterval: 200,
    requireAckResponse: true, ackResponseTimeout: cfg.ackTimeout || 5000,
    eventMode: cfg.eventMode || 'Message',
    flushInterval: 20, sendQueueSizeLimit: cfg.queueLimit || 16 * 1024,
  };
  if (cfg.noReconnect) opts.enableReconnect = false;
  if (cfg.sharedKey !== undefined) {
    opts.security = { clientHostname: cfg.clientHostname || 'fluent-client', sharedKey: cfg.sharedKey };
  }
  const sender = fluent.createFluentSender(cfg.tagPrefix || 'app', opts);
  let errors = 0, acked = 0, handshakeError = null;
  sender.on('error', (e) => {
    errors++;
    if (e && e.name === 'HandshakeError') handshakeError = String(e.message || e);
  });
  const n = cfg.count;
  let i = 0, inflight = 0, pendingCb = 0;
  const window = cfg.window || 50;
  const deadline = Date.now() + (cfg.seconds || 30) * 1000;
  let finished = false;
  function done() {
    if (finished) return;
    finished = true;
    process.stdout.write(JSON.stringify({ sent: i, acked, errors, handshakeError }) + '\n');
    sender.end();
    setTimeout(() => process.exit(0), 100);
  }
  function pump() {
    while (i < n && inflight < window) {
      const k = i++;
      const id = (cfg.idPrefix || 'fw') + '-' + k;
      const rec = { id: id, log: 'line ' + k, level: ['warning', 'info', 'Err'][k % 3], seq: k };
      const t = (cfg.eventTime && k % 2 === 0) ? eventTime(1700000000 + k, 123456789) : 1700000000 + k;
      inflight++;
      pendingCb++;
      sender.emit(cfg.label || 'web', rec, t, (err) => {
        inflight--;
        if (!err) {
          acked++;
          process.stdout.write('acked ' + id + '\n');
        }
        if (--pendingCb === 0 && i >= n) return done();
        if (Date.now() > deadline) return done();
        setImmediate(pump);
      });
    }
    if (handshakeError) return done();
  }
  setTimeout(done, (cfg.seconds || 30) * 1000);
  sender.on('error', () => { if (handshakeError) setTimeout(done, 200); });
  pump();
}

// ---- raw messages ----------------------------------------------------------

const codec = msgpack.createCodec({ usemap: true });
codec.addExtPacker(0x00, EventTime, EventTime.pack);
function enc(v) { return msgpack.encode(v, { codec }); }

function scenario(name) {
  const t0 = eventTime(1700000100, 500);
  switch (name) {
    case 'forward': // Forward mode: [tag, [[time, record]...], option]
      return [enc(['fw.forward', [[t0, { id: 'fwd-0', message: 'm0' }],
        [1700000101, { id: 'fwd-1', log: 'from log', severity: 'error' }],
        [1700000102, { id: 'fwd-2', source: 'own-source', timestamp: '2020-01-01T00:00:00Z' }]],
      { chunk: 'Y2h1bmstZm9yd2FyZA==' }])];
    case 'mapping': // every value type in one record (Message mode)
      return [enc(['fw.map', 1700000200, {
        id: 'map-0', message: 'both', log: 'kept as log', level: 'WARNING',
        n: -5, u: 42, f: 1.5, t: true, z: null,
        bin_utf8: Buffer.from('héllo'), bin_raw: Buffer.from([0xff, 0x00, 0xfe]),
        nested: { a: [1, 'two', { b: null }] }, ev: eventTime(1700000201, 7),
        ctl: 'tab\tquote"nl\n', bad_utf8: Buffer.from([0x61, 0xc3]),
      }, { chunk: 'map' }])];
    case 'intkeys': { // a record whose map keys are not strings (msgpack-lite writes them from a Map)
      const m = new Map([[1, 'one'], [true, 'yes'], ['id', 'keys-0']]);
      return [enc(['fw.keys', 1700000300, m, { chunk: 'keys' }])];
    }
    case 'packed_text': { // PackedForward as str-less bin, no compression, no chunk
      const entries = Buffer.concat([enc([1700000400, { id: 'pk-0' }]), enc([t0, { id: 'pk-1' }])]);
      return [enc(['fw.packed', entries, { chunk: 'packed', size: 2 }])];
    }
    case 'gzip_members': { // CompressedPackedForward with two gzip members concatenated
      const a = zlib.gzipSync(enc([1700000500, { id: 'gz-0' }]));
      const b = zlib.gzipSync(enc([1700000501, { id: 'gz-1' }]));
      return [enc(['fw.gz', Buffer.concat([a, b]), { chunk: 'gz', compressed: 'gzip' }])];
    }
    case 'nochunk': // fire and forget, two pipelined in one write
      return [Buffer.concat([enc(['fw.nc', 1700000600, { id: 'nc-0' }]),
        enc(['fw.nc', 1700000601, { id: 'nc-1' }])])];
    case 'empty_forward':
      return [enc(['fw.empty', [], { chunk: 'empty' }])];
    case 'bad_msgpack':
      return [Buffer.from([0x93, 0xa3, 0x61, 0x62, 0x63, 0xc1, 0x80])];
    case 'bad_shape_record':
      return [enc(['fw.bad', 1700000700, 'not a map', { chunk: 'bad1' }])];
    case 'bad_shape_tag':
      return [enc([42, 1700000700, { id: 'x' }, { chunk: 'bad2' }])];
    case 'bad_time':
      return [enc(['fw.bad', 'yesterday', { id: 'x' }, { chunk: 'bad3' }])];
    case 'bad_gzip':
      return [enc(['fw.bad', Buffer.from('not gzip at all'), { chunk: 'bad4', compressed: 'gzip' }])];
    case 'gzip_bomb': { // 64 MiB of zeros in a few KiB: over --max-decoded-bytes
      const bomb = zlib.gzipSync(Buffer.alloc(64 << 20), { level: 9 });
      return [enc(['fw.bomb', bomb, { chunk: 'bomb', compressed: 'gzip' }])];
    }
    case 'record_too_big': // fine for the decoder, over the scanner's --max-record-bytes
      return [enc(['fw.rec', 1700000800, { id: 'toobig', message: 'y'.repeat(3000) }])];
    case 'oversize': // one message over --max-body-bytes (the test sets 64 KiB)
      return [enc(['fw.big', 1700000800, { id: 'big', message: 'x'.repeat(200 * 1024) }, { chunk: 'big' }])];
    case 'huge_count': // an array header claiming 4 billion entries
      return [Buffer.concat([Buffer.from([0x93, 0xa1, 0x74, 0xdd, 0xff, 0xff, 0xff, 0xff]), Buffer.alloc(64)])];
    case 'after_bad': // a good message, then garbage: the good one is acked, then closed
      return [Buffer.concat([enc(['fw.ok', 1700000900, { id: 'ok-0' }, { chunk: 'ok0' }]),
        Buffer.from([0xc1])])];
    case 'flood': { // cfg.count fire-and-forget Forward messages of cfg.per records
      const out = [];
      for (let i = 0; i < cfg.count; i++) {
        const entries = [];
        for (let j = 0; j < cfg.per; j++)
          entries.push([1700001000 + i, { id: 'flood-' + i + '-' + j, log: 'x'.repeat(200) }]);
        out.push(enc(['fw.flood', entries]));
      }
      return out;
    }
    default:
      throw new Error('unknown scenario ' + name);
  }
}

function runRaw() {
  const sock = net.connect(cfg.port, '127.0.0.1');
  const answers = [];
  let closed = false;
  const finish = () => {
    process.stdout.write(JSON.stringify({ answers, closed }) + '\n');
    process.exit(0);
  };
  const ds = msgpack.createDecodeStream();
  sock.pipe(ds);
  ds.on('data', (v) => answers.push(v));
  ds.on('error', () => {});
  sock.on('error', () => { closed = true; });
  sock.on('close', () => { closed = true; finish(); });
  sock.on('connect', () => {
    for (const m of scenario(cfg.scenario)) sock.write(m);
    if (cfg.end) sock.end();
  });
  // cfg.end: wait for the close (everything written was taken), not for a timer
  if (!cfg.end) setTimeout(finish, cfg.waitMs || 1500);
}

// ---- bench: pre-encoded PackedForward messages of `records` records with acks ----
// Every connection keeps `window` messages in flight and counts the acks (all the
// same size: a fixed-length chunk), for `seconds`. Prints {"records":..,"messages":..}.
function runBench() {
  const per = cfg.records || 100, conns = cfg.connections || 4, window = cfg.window || 4;
  const regions = ['eu-west', 'us-east', 'ap-south'];
  const levels = ['INFO', 'INFO', 'INFO', 'DEBUG', 'WARN', 'ERROR'];
  const msgs = [];
  for (let m = 0; m < 64; m++) {
    const parts = [];
    for (let r = 0; r < per; r++) {
      const k = m * per + r;
      // the entries of one message share their second (as a tail input's flush does)
      parts.push(enc([eventTime(1700000000 + m, (k * 7919) % 1000000000), {
        id: 'bench-' + String(k).padStart(9, '0'), level: levels[k % levels.length],
        type: 'access',
        log: 'GET /api/items/' + k + ' 200 ' + (k % 977) + 'ms user=u' + (k % 1013) +
             ' agent=curl/8.5 path=/srv/www/app/releases/current/public',
        metadata: { host: 'web-' + (1 + k % 9), region: regions[k % 3] },
      }]));
    }
    msgs.push(enc(['svc.web', Buffer.concat(parts), { chunk: 'c'.repeat(24), size: per }]));
  }
  const ackLen = enc({ ack: 'c'.repeat(24) }).length;
  let acked = 0, stop = false, open = conns;
  const t0 = Date.now();
  for (let c = 0; c < conns; c++) {
    const sock = net.connect(cfg.port, '127.0.0.1');
    let next = c, inflight = 0, bytes = 0;
    const send = () => {
      while (!stop && inflight < window) {
        sock.write(msgs[next++ % msgs.length]);
        inflight++;
      }
    };
    sock.on('connect', send);
    sock.on('data', (d) => {
      bytes += d.length;
      const n = Math.floor(bytes / ackLen);
      bytes -= n * ackLen;
      inflight -= n;
      acked += n;
      send();
    });
    sock.on('error', () => {});
    sock.on('close', () => { if (--open === 0) finish(); });
  }
  const finish = () => {
    process.stdout.write(JSON.stringify({ records: acked * per, messages: acked,
      seconds: (Date.now() - t0) / 1000 }) + '\n');
    process.exit(0);
  };
  setTimeout(() => { stop = true; setTimeout(finish, 300); }, (cfg.seconds || 10) * 1000);
}

if (cfg.mode === 'logger') runLogger();
else if (cfg.mode === 'bench') runBench();
else runRaw();
