// Opens websock's echo page in headless Chromium (Debian's, driven by playwright-core) and
// reads the page's self-test result from <body data-selftest>.
//
//   node browser.mjs --url http://127.0.0.1:PORT/ --screenshot FILE --expect-deflate 0|1
//                    [--chromium /usr/bin/chromium]
//
// Prints one line per self-test step, `PASS name` or `FAIL name: why`, plus `extensions`
// (permessage-deflate negotiated exactly when --expect-deflate 1; Chromium always offers it),
// and exits 1 if any failed. The page's raw result goes to standard error.
// Used by tests/interop/browser.sh.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    screenshot: { type: 'string' },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
    'expect-deflate': { type: 'string', default: '0' },
    // https with the echo server's self-signed certificate; the page must arrive over h2.
    'expect-h2': { type: 'boolean', default: false },
  },
});
if (!args.url || !args.screenshot) {
  console.error('usage: node browser.mjs --url URL --screenshot FILE [--chromium PATH]');
  process.exit(2);
}

// Turns the page's {ok, results: [[name, passed]...], extensions, error?} into result lines.
function judge(r) {
  let ok = true;
  const line = (name, why) => {
    if (why == null) console.log(`PASS ${name}`);
    else { ok = false; console.log(`FAIL ${name}: ${why}`); }
  };
  for (const [name, passed, note] of r.results ?? []) {
    if (passed) console.log(`PASS ${name}${note ? `: ${note}` : ''}`);
    else line(name, note ?? 'failed in the page');
  }
  if (r.error) line('page self-test', r.error);
  else if (!r.ok || !(r.results?.length > 0)) line('page self-test', 'not ok');
  const deflate = /(^|,)\s*permessage-deflate/.test(r.extensions ?? '');
  const want = args['expect-deflate'] === '1';
  line('extensions', deflate === want ? null
    : `negotiated ${JSON.stringify(r.extensions)}, expected ${want ? 'permessage-deflate' : 'none'}`);
  return ok;
}

const profile = mkdtempSync(join(tmpdir(), 'websock-chromium-'));
let context;
let code = 1;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: args.chromium,
    headless: true,
    timeout: 30_000,
    viewport: { width: 900, height: 640 },
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
      ...(args['expect-h2'] ? ['--ignore-certificate-errors'] : []),
    ],
  });
  const page = context.pages()[0] ?? await context.newPage();
  page.on('console', (m) => console.error(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  await page.goto(args.url, { timeout: 15_000 });
  const handle = await page.waitForFunction(() => document.body.dataset.selftest, null, { timeout: 30_000 });
  const result = await handle.jsonValue();
  await page.screenshot({ path: args.screenshot });
  console.error(`self-test result: ${result}`);
  code = judge(JSON.parse(result)) ? 0 : 1;
  if (args['expect-h2']) {
    // What the page itself came over; the WebSocket's protocol is checked in the server's log.
    const proto = await page.evaluate(() => performance.getEntriesByType('navigation')[0]?.nextHopProtocol);
    if (proto === 'h2') console.log('PASS page over h2');
    else { console.log(`FAIL page over h2: nextHopProtocol ${JSON.stringify(proto)}`); code = 1; }
  }
} catch (e) {
  console.log(`FAIL page self-test: ${e.message.split('\n')[0]}`);
  console.error(`browser: ${e.stack}`);
} finally {
  await context?.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}
process.exit(code);
