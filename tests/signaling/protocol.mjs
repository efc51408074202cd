// The signaling example's protocol and limits, checked with plain WebSocket clients (Node's
// `ws`, from tests/interop/node/node_modules): joins and leaves, relaying, bad input, the room
// size, message size and rate limits, the HTTP routes. Used by tests/signaling/run.sh.
//
//   node protocol.mjs --url http://127.0.0.1:PORT/
//
// Prints `PASS name[: detail]` / `FAIL name: why` lines; exits 0 only if every check passed.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const interopNode = fileURLToPath(new URL('../interop/node/', import.meta.url));
const WebSocket = createRequire(join(interopNode, 'package.json'))('ws');

const { values: args } = parseArgs({ options: { url: { type: 'string' } } });
if (!args.url) {
  console.error('usage: node protocol.mjs --url http://127.0.0.1:PORT/');
  process.exit(2);
}
const base = new URL(args.url);
const wsBase = `ws://${base.host}/ws`;
const tag = `p${process.pid}`;

let ok = true;
function check(name, passed, detail) {
  if (passed) console.log(`PASS ${name}${detail ? `: ${detail}` : ''}`);
  else { ok = false; console.log(`FAIL ${name}: ${detail ?? 'failed'}`); }
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const json = (x) => JSON.stringify(x);

// A client that records what it gets; `next(pred)` waits for a matching message.
function open(room, options = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${wsBase}?room=${room}`, options);
    ws.got = [];
    ws.waiting = [];
    ws.closed = new Promise((r) => ws.on('close', (code, reason) => r([code, reason.toString()])));
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString());
      ws.got.push(msg);
      ws.waiting = ws.waiting.filter(([pred, done]) => !(pred(msg) && (done(msg), true)));
    });
    ws.next = (pred, ms = 3000) => {
      const seen = ws.got.find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise((res) => {
        const t = setTimeout(() => res(null), ms);
        ws.waiting.push([pred, (m) => { clearTimeout(t); res(m); }]);
      });
    };
    ws.on('open', () => resolve(ws));
    ws.on('unexpected-response', (_, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.on('error', reject);
  });
}
const withClose = (ws, ms = 5000) => Promise.race([ws.closed, sleep(ms).then(() => ['not closed'])]);
const welcome = (ws) => ws.next((m) => m.type === 'welcome');

try {
  // Join order, welcome and join announcements.
  const a = await open(`${tag}-main`);
  const wa = await welcome(a);
  const b = await open(`${tag}-main`);
  const wb = await welcome(b);
  check('welcome lists the peers already there', wa?.peers?.length === 0 && json(wb?.peers) === json([wa.id]),
    `${json(wa)} then ${json(wb)}`);
  check('join announced', !!(await a.next((m) => m.type === 'join' && m.id === wb.id)));

  // Relay: "from" is the server's word, "to" targets one peer.
  b.send(json({ type: 'offer', sdp: 'v=0', from: 'p0' }));
  const offer = await a.next((m) => m.type === 'offer');
  check('offer relayed with the true sender', offer?.from === wb.id && offer?.sdp === 'v=0', json(offer));
  const c = await open(`${tag}-main`);
  const wc = await welcome(c);
  a.send(json({ type: 'candidate', to: wc.id, candidate: { candidate: 'x' } }));
  const cand = await c.next((m) => m.type === 'candidate');
  await sleep(100);
  check('"to" reaches only that peer', cand?.from === wa.id && !b.got.some((m) => m.type === 'candidate'), json(cand));

  // Bad input: an error message, the connection stays.
  const bad = [
    ['not json', 'invalid JSON'],
    ['[1,2]', 'expected a JSON object'],
    ['{"sdp":"x"}', 'missing "type"'],
    ['{"type":"bogus"}', 'unknown "type"'],
    ['{"type":"offer","to":"p999999999"}', 'no such peer in this room'],
    ['{"type":"offer","to":42}', '"to" is not a peer id'],
    [`{"type":"answer","to":"${wb.id}"}`, 'no such peer in this room'], // to oneself
  ];
  for (const [input] of bad) b.send(input);
  await sleep(300);
  const errors = b.got.filter((m) => m.type === 'error').map((m) => m.error);
  check('bad messages get error replies', json(errors) === json(bad.map(([, e]) => e)), json(errors));
  b.send(json({ type: 'answer', to: wa.id, sdp: 'ok' }));
  check('still relaying after errors', !!(await a.next((m) => m.type === 'answer' && m.sdp === 'ok')));

  // Leave by message: 1000, and the others hear it.
  c.send(json({ type: 'leave' }));
  const [cCode] = await withClose(c);
  const left = await a.next((m) => m.type === 'leave' && m.id === wc.id);
  check('leave message closes with 1000 and is announced', cCode === 1000 && !!left, `close ${cCode}`);

  // Abrupt disconnect: announced at once.
  const t0 = Date.now();
  b.terminate();
  const gone = await a.next((m) => m.type === 'leave' && m.id === wb.id);
  check('dropped connection announced as leave', !!gone, `after ${Date.now() - t0} ms`);
  a.close();

  // Close codes.
  const bin = await open(`${tag}-bin`);
  bin.send(Buffer.from([1, 2, 3]));
  check('binary message closed with 1003', (await withClose(bin))[0] === 1003);
  const big = await open(`${tag}-big`);
  big.send(json({ type: 'offer', sdp: 'x'.repeat(70 * 1024) }));
  check('message over 64 KiB closed with 1009', (await withClose(big))[0] === 1009);
  const utf = await open(`${tag}-utf`);
  utf.send(Buffer.from([0x7b, 0xff, 0x7d]), { binary: false });
  check('invalid UTF-8 closed with 1007', (await withClose(utf))[0] === 1007);
  const fast = await open(`${tag}-rate`);
  for (let i = 0; i < 150; i++) fast.send(json({ type: 'candidate', candidate: i }));
  const [rateCode, rateReason] = await withClose(fast);
  check('150 messages at once closed with 1008 (rate limit)', rateCode === 1008, `${rateCode} ${rateReason}`);
  const steady = await open(`${tag}-steady`);
  for (let i = 0; i < 60; i++) { steady.send(json({ type: 'candidate', candidate: i })); await sleep(25); }
  await sleep(100);
  check('40 messages per second for 1.5 s allowed', steady.readyState === WebSocket.OPEN);
  steady.close();

  // A peer that stops reading: once its queue is full the server drops it (1008), and the
  // others hear it leave. 4 senders x 100 messages x 60 KiB outrun the socket buffers.
  const victim = await open(`${tag}-slow`);
  const wv = await welcome(victim);
  victim._socket.pause();
  const senders = [];
  for (let i = 0; i < 4; i++) senders.push(await open(`${tag}-slow`));
  const blob = 'x'.repeat(60 * 1024);
  for (const s of senders) for (let i = 0; i < 100; i++) s.send(json({ type: 'offer', to: wv.id, sdp: blob }));
  const dropped = await senders[0].next((m) => m.type === 'leave' && m.id === wv.id, 10_000);
  check('a peer that stops reading is dropped', !!dropped);
  victim.terminate();
  for (const s of senders) s.close();

  // Room size.
  const full = [];
  for (let i = 0; i < 8; i++) full.push(await open(`${tag}-full`));
  const ninth = await open(`${tag}-full`);
  const [fullCode, fullReason] = await withClose(ninth);
  check('ninth peer of a room closed with 1008', fullCode === 1008, `${fullCode} ${fullReason}`);
  for (const ws of full) ws.close();

  // Refused handshakes and the HTTP routes.
  const refused = async (room, options) => open(room, options).then((ws) => { ws.close(); return 'accepted'; }, (e) => e.message);
  check('bad room name refused', await refused('a%20b') === 'HTTP 400');
  check('missing room refused', await refused('') === 'HTTP 400');
  check('cross-origin refused', await refused(`${tag}-x`, { origin: 'http://elsewhere.example' }) === 'HTTP 403');
  const page = await fetch(new URL('/', base));
  const body = await page.text();
  check('GET / serves the page', page.status === 200 && body.includes('signalingTest'), `${page.status}`);
  check('GET /nope is 404', (await fetch(new URL('/nope', base))).status === 404);
} catch (e) {
  check('protocol checks', false, e.stack);
}
process.exit(ok ? 0 : 1);
