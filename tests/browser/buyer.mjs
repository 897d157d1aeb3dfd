// A buyer's waiting page in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core).
//
//   node tests/browser/buyer.mjs GATEWAY_URL [PATH]      e.g. http://127.0.0.1:8080 /checkout/seat?x=1
//
// Run by tests/integration/test_browser.py, which starts Redis, the origin and wr-gateway, puts visitors
// ahead in the queue and admits them one at a time once this script says it is ready. This script only
// observes and reports; the Python side makes the assertions. It prints one JSON object per line on
// stdout:
//   {"event":"opened", ...}     the JavaScript page is open and read (nothing admitted yet)
//   {"event":"ready", ...}      the no-JavaScript page is open too: the Python side may admit from now on
//   {"event":"position", ...}   the number on the JavaScript page changed
//   {"event":"landed", ...}     the JavaScript page left the waiting page for the origin
//   {"event":"summary", ...}    everything seen, last line before a normal exit (code 0)
//   {"event":"error", ...}      something went wrong here (exit code 1)
// Two browser contexts: one with JavaScript (the page polls and moves on by itself) and one without
// (the <noscript> meta refresh reloads the page, and the gateway renders the position server-side).
import { chromium } from 'playwright-core';

const gateway = process.argv[2];
const path = process.argv[3] || '/checkout/seat?x=1';
if (!gateway) {
  console.error('usage: node buyer.mjs GATEWAY_URL [PATH]');
  process.exit(2);
}
const origin = new URL(gateway).origin; // http://127.0.0.1:PORT
const target = origin + path;
const LAND_TIMEOUT_MS = Number(process.env.WR_LAND_TIMEOUT_MS || 40000); // from ready to the origin page
const NOJS_WINDOW_MS = Number(process.env.WR_NOJS_WINDOW_MS || 12000); // how long the no-JS page is watched
const HARD_LIMIT_MS = LAND_TIMEOUT_MS + 20000;

const t0 = Date.now();
const ms = () => Date.now() - t0;
const emit = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const sleep = (n) => new Promise((r) => setTimeout(r, n));

let browser = null;
async function closeBrowser() {
  const b = browser;
  browser = null;
  if (b) await b.close().catch(() => {});
}

// bounded whatever happens: the Python side also kills this process (and its Chromium) on its own limit
const hard = setTimeout(async () => {
  emit({ event: 'error', message: 'hard time limit of ' + HARD_LIMIT_MS + ' ms reached', t: ms() });
  await closeBrowser();
  process.exit(1);
}, HARD_LIMIT_MS);
hard.unref();

// a snapshot of the page's state, read in the page; null while a navigation replaces the document
const SNAPSHOT = () => {
  const g = (id) => {
    const e = document.getElementById(id);
    return e ? e.textContent : null;
  };
  const place = document.getElementById('wr-place');
  const prog = document.getElementById('wr-progress');
  return {
    waiting: !!document.getElementById('wr-data'),
    state: document.body ? document.body.getAttribute('data-state') : null,
    headline: g('wr-headline'),
    message: g('wr-message'),
    position: g('wr-position'),
    ahead: g('wr-ahead'),
    eta: g('wr-eta'),
    updated: g('wr-updated'),
    place_visible: !!place && !place.hidden,
    progress: prog && !prog.hidden ? prog.value : null,
    leave_form: !!document.getElementById('wr-leave'),
    aria_live_polite: document.querySelectorAll('[aria-live="polite"]').length,
    title: document.title,
    text: document.body ? document.body.innerText : '',
  };
};
async function snapshot(page) {
  try {
    return await page.evaluate(SNAPSHOT);
  } catch (e) {
    return null; // "execution context was destroyed": the page is navigating
  }
}

// what the gateway rendered server-side, from the HTML itself (no script involved)
function rendered(html) {
  const pick = (re) => {
    const m = html.match(re);
    return m ? m[1] : null;
  };
  return {
    position: pick(/<p class="big" id="wr-position">([^<]*)<\/p>/),
    ahead: pick(/<span id="wr-ahead">([^<]*)<\/span>/),
    noscript_refresh: pick(/<noscript><meta http-equiv="refresh" content="(\d+)"><\/noscript>/),
  };
}

async function main() {
  browser = await chromium.launch({
    executablePath: process.env.WR_CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking'],
    timeout: 30000,
  });
  emit({ event: 'start', browser: browser.version(), target, t: ms() });

  // ---- the buyer, JavaScript on ------------------------------------------------------------------
  const requests = []; // every request either context makes: none may leave the gateway's origin
  const ctx = await browser.newContext();
  ctx.on('request', (r) => requests.push({ ctx: 'js', url: r.url(), t: ms() }));
  const page = await ctx.newPage();
  const consoleErrors = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  const navigations = []; // main-frame documents: the waiting page, then the origin's
  page.on('response', (r) => {
    if (r.request().isNavigationRequest() && r.frame() === page.mainFrame())
      navigations.push({ url: r.url(), status: r.status(), t: ms() });
  });
  const first = await page.goto(target, { waitUntil: 'load', timeout: 15000 });
  const html = await first.text();
  const snap = await snapshot(page);
  emit({
    event: 'opened',
    t: ms(),
    status: first.status(),
    content_type: first.headers()['content-type'] || null,
    rendered: rendered(html),
    ...snap,
  });

  // ---- a second buyer, JavaScript off (joins behind the first) ----------------------------------
  const nojs = { loads: [], positions: [], aheads: [], statuses: [], polls: 0, window_ms: NOJS_WINDOW_MS };
  const ctx2 = await browser.newContext({ javaScriptEnabled: false });
  ctx2.on('request', (r) => {
    requests.push({ ctx: 'nojs', url: r.url(), t: ms() });
    if (r.url().includes('/__waitroom/status')) nojs.polls++;
  });
  const page2 = await ctx2.newPage();
  let nojsStart = 0;
  page2.on('load', () => nojs.loads.push(ms() - nojsStart));
  page2.on('response', async (r) => {
    if (!(r.request().isNavigationRequest() && r.frame() === page2.mainFrame())) return;
    nojs.statuses.push(r.status());
    try {
      const rr = rendered(await r.text());
      nojs.positions.push(rr.position);
      nojs.aheads.push(rr.ahead);
      if (rr.noscript_refresh) nojs.refresh = rr.noscript_refresh;
    } catch (e) {
      nojs.positions.push(null); // the body was gone before it was read
    }
  });
  nojsStart = ms();
  await page2.goto(target, { waitUntil: 'load', timeout: 15000 });
  nojs.snapshot = await snapshot(page2); // read through the DevTools protocol: page scripts stay off
  delete nojs.snapshot?.text;
  const nojsDone = sleep(Math.max(0, NOJS_WINDOW_MS - (ms() - nojsStart))).then(() => ctx2.close());

  emit({ event: 'ready', t: ms(), nojs_first: nojs.positions[0] ?? null }); // the Python side admits from now on
  // ---- watch the JavaScript page until it reaches the origin ------------------------------------
  const positions = []; // [{value, t}] every change of #wr-position while the waiting page is up
  const updated = []; // distinct #wr-updated texts, in order
  const states = [];
  let landed = null;
  const deadline = Date.now() + LAND_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const s = await snapshot(page);
    if (s && s.waiting) {
      const p = s.position === null ? null : Number(s.position);
      if (s.place_visible && p !== null && (positions.length === 0 || positions[positions.length - 1].value !== p)) {
        positions.push({ value: p, ahead: s.ahead, t: ms() });
        emit({ event: 'position', value: p, ahead: s.ahead, progress: s.progress, t: ms() });
      }
      if (s.updated !== null && updated[updated.length - 1] !== s.updated) updated.push(s.updated);
      if (states[states.length - 1] !== s.state) states.push(s.state);
    } else if (s && !s.waiting && s.text.includes('hello from origin')) {
      landed = { t: ms(), url: page.url(), text: s.text.trim() };
      emit({ event: 'landed', ...landed });
      break;
    }
    await sleep(100);
  }
  await nojsDone;
  const u = new URL(page.url());
  emit({
    event: 'summary',
    t: ms(),
    landed,
    final_path: u.pathname + u.search,
    positions,
    updated,
    states,
    navigations,
    requests,
    offsite: requests.filter((r) => !r.url.startsWith(origin + '/')),
    status_polls: requests.filter((r) => r.ctx === 'js' && r.url.startsWith(origin + '/__waitroom/status?')).length,
    console_errors: consoleErrors,
    nojs,
  });
  await closeBrowser();
}

main().then(
  () => process.exit(0),
  async (e) => {
    emit({ event: 'error', message: String(e && e.stack ? e.stack : e), t: ms() });
    await closeBrowser();
    process.exit(1);
  },
);
