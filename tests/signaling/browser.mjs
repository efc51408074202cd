// Two headless Chromium pages meet in one room of the signaling example and open a WebRTC data
// channel between them; checks that a message goes each way, and that closing one page is seen
// by the other as a "leave". Used by tests/signaling/run.sh.
//
//   node browser.mjs --url http://127.0.0.1:PORT/ [--url2 http://127.0.0.1:PORT2/] [--room NAME]
//                    [--chromium /usr/bin/chromium]
//                    [--chromium-arg ARG]... [--screenshot FILE] [--timeout SECONDS]
//                    [--expect-route REGEX]
//
// Prints `PASS name[: detail]` / `FAIL name: why` lines and `TIME ...` lines with the connect
// times the pages measured; exits 0 only if every check passed. Page logs go to standard error.
// playwright-core comes from tests/interop/node/node_modules (installed by tests/interop/lib.sh).
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const interopNode = fileURLToPath(new URL('../interop/node/', import.meta.url));
const { chromium } = createRequire(join(interopNode, 'package.json'))('playwright-core');

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    // The second page's server, when the two share rooms through Redis (default: --url).
    url2: { type: 'string' },
    room: { type: 'string', default: `e2e-${process.pid}` },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
    'chromium-arg': { type: 'string', multiple: true, default: [] },
    screenshot: { type: 'string' },
    timeout: { type: 'string', default: '60' },
    'expect-route': { type: 'string' },
    'grant-media': { type: 'boolean', default: false },
  },
});
if (!args.url) {
  console.error('usage: node browser.mjs --url http://127.0.0.1:PORT/ [--room NAME] [--chromium PATH]');
  process.exit(2);
}
const deadline = Date.now() + Number(args.timeout) * 1000;
const left = () => Math.max(1000, deadline - Date.now());

let ok = true;
function check(name, passed, detail) {
  if (passed) console.log(`PASS ${name}${detail ? `: ${detail}` : ''}`);
  else { ok = false; console.log(`FAIL ${name}: ${detail ?? 'failed'}`); }
  return passed;
}
const state = (page) => page.evaluate(() => window.signalingTest);
const roomUrl = (base) => `${base.replace(/\/?$/, '/')}?room=${encodeURIComponent(args.room)}&auto=1`;
const pageUrl = roomUrl(args.url);
const pageUrl2 = roomUrl(args.url2 ?? args.url);

let browser;
try {
  browser = await chromium.launch({
    executablePath: args.chromium,
    headless: true,
    timeout: 30_000,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
      ...args['chromium-arg'],
    ],
  });
  // Two contexts: two independent "users", as two people in two browsers would be.
  const pages = [];
  for (const name of ['A', 'B']) {
    const context = await browser.newContext({
      viewport: { width: 800, height: 600 },
      permissions: args['grant-media'] ? ['camera', 'microphone'] : [],
    });
    const page = await context.newPage();
    page.on('console', (m) => console.error(`${name} console.${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => console.error(`${name} page error: ${e.message}`));
    pages.push(page);
  }
  const [a, b] = pages;

  // A first, so that B is the newcomer that makes the offer.
  await a.goto(pageUrl, { timeout: left() });
  await a.waitForFunction(() => window.signalingTest?.id, null, { timeout: left() });
  const bStarted = Date.now();
  await b.goto(pageUrl2, { timeout: left() });
  const bothOpen = () => Promise.all(pages.map((p) => p.waitForFunction(
    () => window.signalingTest.channelOpen && window.signalingTest.received.length > 0,
    null, { timeout: left(), polling: 20 })));
  try {
    await bothOpen();
  } catch (e) {
    for (const [i, p] of pages.entries()) console.error(`${'AB'[i]} state: ${JSON.stringify(await state(p))}`);
    throw new Error(`the data channel did not open and carry a message in time (${e.message.split('\n')[0]})`);
  }
  const wall = Date.now() - bStarted;
  const [sa, sb] = await Promise.all(pages.map(state));
  check('ids', sa.id && sb.id && sa.id !== sb.id, `A is ${sa.id}, B is ${sb.id}`);
  check('join announced', sa.joins.includes(sb.id), `A was told ${JSON.stringify(sa.joins)}`);
  const greeting = (s, from) => s.received.some((m) => m.from === from.id && m.text === `hello from ${from.id}`);
  check('A -> B over the data channel', greeting(sb, sa), JSON.stringify(sb.received));
  check('B -> A over the data channel', greeting(sa, sb), JSON.stringify(sa.received));
  check('no page errors', !sa.errors.length && !sb.errors.length, JSON.stringify([sa.errors, sb.errors]));

  // The input box, both ways.
  for (const [from, to, text] of [[a, b, 'typed in A'], [b, a, 'typed in B']]) {
    await from.fill('#text', text);
    await from.press('#text', 'Enter');
    const got = await to.waitForFunction((t) => window.signalingTest.received.some((m) => m.text === t),
      text, { timeout: Math.min(left(), 10_000) }).then(() => true, () => false);
    check(`"${text}" arrived`, got);
  }

  const route = sa.route ?? '(none)';
  if (args['expect-route']) {
    check('ICE route', new RegExp(args['expect-route']).test(route), route);
  } else {
    console.log(`INFO route ${route}`);
  }
  // Times from the pages: ms since each page's navigation start. "Paired": when the page learnt
  // of the other peer (B from its welcome, A from B's join); from there to an open channel is
  // the offer/answer/ICE exchange through the server plus ICE checks and DTLS/SCTP set-up.
  console.log(`TIME B (newcomer, offers): page load to data channel open ${sb.openMs} ms ` +
    `(signaling socket open at ${sb.wsOpenMs} ms, join to open ${sb.connectMs} ms)`);
  console.log(`TIME A (first in the room, answers): B's join to data channel open ${sa.connectMs} ms`);
  console.log(`TIME wall clock from B's navigation to both channels open and greeted: ${wall} ms`);
  if (args.screenshot) await a.screenshot({ path: args.screenshot });

  // B goes away without a word: A must hear "leave" at once from the server.
  const gone = Date.now();
  await b.context().close();
  const heard = await a.waitForFunction((id) => window.signalingTest.leaves.includes(id), sb.id,
    { timeout: Math.min(left(), 10_000) }).then(() => true, () => false);
  check('leave announced when a page closes', heard, heard ? `after ${Date.now() - gone} ms` : 'not within 10 s');
} catch (e) {
  check('signaling e2e', false, e.message.split('\n')[0]);
  console.error(e.stack);
} finally {
  await browser?.close().catch(() => {});
}
process.exit(ok ? 0 : 1);
