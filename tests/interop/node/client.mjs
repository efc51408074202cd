// Node `ws` client against websock's echo server (examples/echo-server.rs).
//
//   node client.mjs --url ws://127.0.0.1:PORT/ --compression on|off --expect-deflate 0|1
//
// Prints one line per case, `PASS name` or `FAIL name: why`, and exits 1 if any case failed.
// `--compression on` offers permessage-deflate; it must then be negotiated exactly when
// `--expect-deflate 1` (websock's server supports it), and never with `--compression off`.
// Used by tests/interop/run.sh.
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    compression: { type: 'string', default: 'off' },
    'expect-deflate': { type: 'string', default: '0' },
  },
});
if (!args.url || !['on', 'off'].includes(args.compression)) {
  console.error('usage: node client.mjs --url URL --compression on|off --expect-deflate 0|1');
  process.exit(2);
}
const compression = args.compression === 'on';
const expectDeflate = compression && args['expect-deflate'] === '1';
const BIG = 16 << 20;
const TIMEOUT = 20_000; // ms for any one case

let failed = 0;
// A passing case's remark, for the table.
class Note { constructor(text) { this.text = text; } }

function report(name, why) {
  if (why == null) console.log(`PASS ${name}`);
  else if (why instanceof Note) console.log(`PASS ${name}: ${why.text}`);
  else {
    failed++;
    console.log(`FAIL ${name}: ${String(why).replace(/\n/g, ' ')}`);
  }
}

// A connection with a queue of received events, so a case can await "the next message".
class Conn {
  constructor(url) {
    this.queue = [];
    this.waiters = [];
    this.ws = new WebSocket(url, { perMessageDeflate: compression, maxPayload: 64 << 20 });
    this.headers = null;
    this.ws.on('upgrade', (res) => { this.headers = res.headers; });
    this.ws.on('message', (data, isBinary) => this.push({ type: 'message', data, isBinary }));
    this.ws.on('pong', (data) => this.push({ type: 'pong', data }));
    this.ws.on('close', (code, reason) => this.push({ type: 'close', code, reason: reason.toString() }));
    this.ws.on('error', (error) => this.push({ type: 'error', error }));
    this.opened = new Promise((ok, bad) => {
      this.ws.once('open', ok);
      this.ws.once('error', bad);
    });
  }
  push(ev) {
    const w = this.waiters.shift();
    if (w) w(ev); else this.queue.push(ev);
  }
  next() {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    return new Promise((ok) => this.waiters.push(ok));
  }
  // The next event other than a pong (unless pongs are wanted).
  async nextMessage() {
    for (;;) {
      const ev = await this.next();
      if (ev.type === 'pong') continue;
      if (ev.type === 'message') return ev;
      throw new Error(`expected a message, got ${describeEvent(ev)}`);
    }
  }
}

function describeEvent(ev) {
  switch (ev.type) {
    case 'message': return describe(ev.data, ev.isBinary);
    case 'pong': return `pong ${JSON.stringify(ev.data.toString('latin1'))}`;
    case 'close': return `close ${ev.code} ${JSON.stringify(ev.reason)}`;
    case 'error': return `error ${ev.error.message}`;
    default: return ev.type;
  }
}

function describe(data, isBinary) {
  if (!isBinary) {
    return data.length <= 60 ? `text ${JSON.stringify(data.toString())}` : `text of ${data.length} bytes`;
  }
  return data.length <= 16 ? `binary [${[...data].join(',')}]` : `binary of ${data.length} bytes`;
}

function withTimeout(promise) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, bad) => { timer = setTimeout(() => bad(new Error(`timed out after ${TIMEOUT} ms`)), TIMEOUT); }),
  ]).finally(() => clearTimeout(timer));
}

async function expectEcho(c, data, isBinary) {
  const ev = await c.nextMessage();
  if (ev.isBinary !== isBinary || !Buffer.from(data).equals(ev.data)) {
    return `sent ${describe(Buffer.from(data), isBinary)}, got ${describeEvent(ev)}`;
  }
  return null;
}

const echo = (data, isBinary) => async (c) => {
  c.ws.send(data, { binary: isBinary });
  return expectEcho(c, data, isBinary);
};

// Sends `parts` as fragments (fin: false, then true), with a ping between the first two;
// the pong must come back before the echo.
const fragmented = (parts, isBinary) => async (c) => {
  const ping = Buffer.from('ping-between-fragments');
  parts.forEach((p, i) => {
    c.ws.send(p, { binary: isBinary, fin: i === parts.length - 1 });
    if (i === 0) c.ws.ping(ping);
  });
  const first = await c.next();
  if (first.type !== 'pong' || !first.data.equals(ping)) {
    return `expected the pong to the ping between fragments first, got ${describeEvent(first)}`;
  }
  return expectEcho(c, Buffer.concat(parts), isBinary);
};

async function pingPong(c) {
  const payload = Buffer.from('interop \x00\xff ping', 'latin1');
  c.ws.ping(payload);
  const ev = await c.next();
  if (ev.type !== 'pong') return `expected a pong, got ${describeEvent(ev)}`;
  if (!ev.data.equals(payload)) return `pong payload ${describeEvent(ev)}`;
  return null;
}

async function close4001(c) {
  const started = Date.now();
  c.ws.close(4001, 'client-close');
  const ev = await c.next();
  if (ev.type !== 'close') return `expected the close, got ${describeEvent(ev)}`;
  // websock echoes the code (RFC 6455 5.5.1) and the reason.
  if (ev.code !== 4001 || ev.reason !== 'client-close') {
    return `expected the close echoed as 4001 "client-close", got ${ev.code} ${JSON.stringify(ev.reason)}`;
  }
  const took = Date.now() - started;
  if (took > 3000) return `close handshake and TCP close took ${took} ms`;
  return null;
}

async function handshake(c) {
  await c.opened;
  const ext = c.headers['sec-websocket-extensions'];
  if (expectDeflate) {
    if (!ext || !ext.trim().startsWith('permessage-deflate')) {
      return `offered permessage-deflate, response has extensions ${JSON.stringify(ext)}`;
    }
  } else if (ext !== undefined) {
    return `expected no Sec-WebSocket-Extensions, got ${JSON.stringify(ext)}`;
  }
  if ((c.ws.extensions !== '') !== expectDeflate) return `ws.extensions is ${JSON.stringify(c.ws.extensions)}`;
  return null;
}

const big = randomBytes(BIG);
const cases = [
  ['handshake', handshake],
  ['text', echo('héllo ✓ websock', false)],
  ['binary', echo(Buffer.from([0, 1, 2, 253, 254, 255]), true)],
  ['binary 16 MiB', echo(big, true)],
  ['text 16 MiB', echo('websock ✓ '.repeat(Math.floor(BIG / 12)), false)],
  // Text fragments split the code points of "é" and "✓".
  ['fragmented text', fragmented([
    Buffer.from('frag-1 caf\xc3', 'latin1'),
    Buffer.from('\xa9 frag-2 \xe2\x9c', 'latin1'),
    Buffer.from('\x93 frag-3', 'latin1'),
  ], false)],
  ['fragmented binary', fragmented([
    Buffer.from([0, 1, 2]), Buffer.alloc(70000, 0xab), Buffer.from([253, 254, 255]),
  ], true)],
  ['ping/pong', pingPong],
  ['close 4001 echoed', close4001],
];

let conn = null;
for (const [name, body] of cases) {
  let why;
  try {
    if (!conn) {
      conn = new Conn(args.url);
      if (name !== 'handshake') await withTimeout(conn.opened);
    }
    why = await withTimeout(body(conn));
  } catch (e) {
    why = e && e.message ? e.message : String(e);
  }
  report(name, why);
  if (why != null && !(why instanceof Note) && conn) {
    conn.ws.terminate(); // a fresh connection for the next case
    conn = null;
  }
}
process.exit(failed ? 1 : 0);
