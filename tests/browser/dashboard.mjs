// The organiser's dashboard in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core).
//
//   node tests/browser/dashboard.mjs ADMIN_URL ROOM TOKEN
//
// Opens ADMIN_URL/dashboard?room=ROOM, waits for the room's 15-minute history to load and the charts to
// draw from at least two polls, checks that every chart's canvas has ink on it (and where on the time axis
// the queue line is drawn) and that no request leaves the admin address, then enters the token and
// presses Pause. Prints one JSON summary line on stdout (exit 0), or {"event":"error"} (exit 1). The
// Python side (tests/integration/test_dashboard.py) checks the room's state through the API. With
// WR_SCREENSHOT=FILE.png set, the page is also saved as it looked before Pause.
import { chromium } from 'playwright-core';

const [admin, room, token] = process.argv.slice(2);
if (!admin || !room || !token) {
  console.error('usage: node dashboard.mjs ADMIN_URL ROOM TOKEN');
  process.exit(2);
}
const origin = new URL(admin).origin;
const emit = (o) => process.stdout.write(JSON.stringify(o) + '\n');
let browser = null;
const hard = setTimeout(async () => {
  emit({ event: 'error', error: 'time limit' });
  if (browser) await browser.close().catch(() => {});
  process.exit(1);
}, 45000);

try {
  browser = await chromium.launch({
    executablePath: process.env.WR_CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking'],
  });
  const page = await browser.newPage();
  const requests = [];
  const consoleErrors = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  const resp = await page.goto(`${origin}/dashboard?room=${encodeURIComponent(room)}`);
  const status = resp ? resp.status() : 0;
  await page.waitForFunction(() => document.body.getAttribute('data-history') !== null, null, { timeout: 15000 });
  const history = Number(await page.getAttribute('body', 'data-history'));
  await page.waitForFunction((h) => Number(document.body.getAttribute('data-points') || 0) >= h + 2, history,
    { timeout: 15000 });
  // the queue line's pixels (#1f6feb) in each tenth of the plot's width, oldest on the left
  const queueLine = await page.evaluate(() => {
    const c = document.getElementById('c-waiting');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const tenths = new Array(10).fill(0), pad = 40, plot = c.width - pad - 10;
    for (let y = 0; y < c.height - 60; y++) {
      for (let x = pad; x < c.width - 10; x++) {
        const i = (y * c.width + x) * 4;
        if (Math.abs(d[i] - 0x1f) < 24 && Math.abs(d[i + 1] - 0x6f) < 24 && Math.abs(d[i + 2] - 0xeb) < 24 && d[i + 3] > 200) {
          tenths[Math.min(9, Math.floor((x - pad) / plot * 10))]++;
        }
      }
    }
    return tenths;
  });
  const ink = await page.evaluate(() => Array.from(document.querySelectorAll('canvas')).map((c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let painted = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) painted++;
    return { id: c.id, painted, points: Number(c.getAttribute('data-points') || 0) };
  }));
  if (process.env.WR_SCREENSHOT) await page.screenshot({ path: process.env.WR_SCREENSHOT, fullPage: true });
  const stateBefore = await page.getAttribute('body', 'data-state');
  await page.fill('#token', token);
  await page.click('#pause');
  await page.waitForFunction(() => /pause: done/.test(document.getElementById('msg').textContent), null,
    { timeout: 10000 });
  await page.waitForFunction(() => document.body.getAttribute('data-state') === 'paused', null, { timeout: 10000 });
  const msg = await page.textContent('#msg');
  const offsite = requests.filter((u) => !u.startsWith(origin + '/'));
  emit({ event: 'summary', status, ink, history, queueLine, stateBefore, stateAfter: 'paused', msg, offsite, consoleErrors,
         requests: requests.length });
  clearTimeout(hard);
  await browser.close();
  process.exit(0);
} catch (e) {
  emit({ event: 'error', error: String(e && e.stack || e) });
  clearTimeout(hard);
  if (browser) await browser.close().catch(() => {});
  process.exit(1);
}
