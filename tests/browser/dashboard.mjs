// The organiser's dashboard in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core).
//
//   node tests/browser/dashboard.mjs ADMIN_URL ROOM TOKEN
//
// Opens ADMIN_URL/dashboard?room=ROOM, waits for the charts to draw from at least two polls, checks that
// every chart's canvas has ink on it and that no request leaves the admin address, then enters the token
// and presses Pause. Prints one JSON summary line on stdout (exit 0), or {"event":"error"} (exit 1). The
// Python side (tests/integration/test_dashboard.py) checks the room's state through the API.
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
  await page.waitForFunction(() => Number(document.body.getAttribute('data-points') || 0) >= 2, null,
    { timeout: 15000 });
  const ink = await page.evaluate(() => Array.from(document.querySelectorAll('canvas')).map((c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let painted = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) painted++;
    return { id: c.id, painted, points: Number(c.getAttribute('data-points') || 0) };
  }));
  const stateBefore = await page.getAttribute('body', 'data-state');
  await page.fill('#token', token);
  await page.click('#pause');
  await page.waitForFunction(() => /pause: done/.test(document.getElementById('msg').textContent), null,
    { timeout: 10000 });
  await page.waitForFunction(() => document.body.getAttribute('data-state') === 'paused', null, { timeout: 10000 });
  const msg = await page.textContent('#msg');
  const offsite = requests.filter((u) => !u.startsWith(origin + '/'));
  emit({ event: 'summary', status, ink, stateBefore, stateAfter: 'paused', msg, offsite, consoleErrors,
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
