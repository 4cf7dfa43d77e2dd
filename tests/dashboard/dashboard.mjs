// SPDX-License-Identifier: Apache-2.0
// Drives headless Chromium through the dashboard once the lab alarm is in
// ALARM (dashboard.sh prepares that) and asserts what a person would check.
//   node dashboard.mjs --url URL --alarm NAME --role ARN --chromium PATH --screenshot FILE
//                      [--theme light|dark]
// Exits 0 when every check passed; prints one line per check.
import { chromium } from 'playwright-core';

const args = {};
for (let i = 2; i + 1 < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
for (const k of ['url', 'alarm', 'role', 'chromium', 'screenshot']) {
  if (!args[k]) {
    console.error(`usage: dashboard.mjs --${k} is missing`);
    process.exit(2);
  }
}

// A hung browser must not hang ctest: the whole run is bounded.
const watchdog = setTimeout(() => {
  console.error('FAIL: dashboard.mjs took longer than 90 s');
  process.exit(1);
}, 90000);

let failed = 0;
function check(cond, what) {
  console.log(`${cond ? 'ok' : 'FAIL'}: browser: ${what}`);
  if (!cond) failed++;
}

const browser = await chromium.launch({
  executablePath: args.chromium,
  headless: true,
  timeout: 30000,
  args: ['--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
});
try {
  const page = await browser.newPage({
    viewport: { width: 1440, height: 1000 },
    colorScheme: args.theme === 'dark' ? 'dark' : 'light',
  });
  page.setDefaultTimeout(15000);
  const problems = [];
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  page.on('console', (m) => {
    // failed loads are judged by the response handler below
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push('console: ' + m.text());
  });
  // /api/deliveries and /api/responses may not exist yet (the panel says
  // "none" on 404); any other failed request is a bug
  page.on('response', (r) => {
    const path = new URL(r.url()).pathname;
    if (r.status() >= 400 && !(r.status() === 404 && /^\/api\/(deliveries|responses)$/.test(path))) {
      problems.push(`HTTP ${r.status()} for ${path}`);
    }
  });
  // the page may talk to its daemon only (offline: no CDN, no fonts)
  const foreign = [];
  const origin = new URL(args.url).origin;
  page.on('request', (r) => {
    if (!r.url().startsWith(origin) && !r.url().startsWith('data:')) foreign.push(r.url());
  });

  await page.goto(args.url, { waitUntil: 'load' });
  check(!page.url().includes('token='), 'the token is taken out of the address bar');

  // the alarm list
  const row = page.locator(`[data-testid="alarm-row"][data-alarm="${args.alarm}"]`);
  await row.waitFor();
  await page.waitForFunction(
    (name) => document.querySelector(`[data-testid="alarm-row"][data-alarm="${name}"]`)?.dataset.state === 'ALARM',
    args.alarm);
  check((await row.getAttribute('data-state')) === 'ALARM', 'the alarm row is in ALARM');
  check((await row.locator('[data-testid="alarm-state"]').innerText()).trim() === 'ALARM',
    'the alarm row says ALARM');

  // the alarm's page
  await row.click();
  await page.waitForFunction((name) => window.location.hash === '#/alarm/' + encodeURIComponent(name), args.alarm);
  await page.locator('[data-testid="detail-name"]', { hasText: args.alarm }).waitFor();
  check((await page.locator('[data-testid="detail-state"]').innerText()).trim() === 'ALARM',
    'the alarm page says ALARM');
  check(/KMSSecurityError > 1 for 1 datapoint within 10 seconds/.test(
    await page.locator('[data-testid="detail-definition"]').innerText()), 'the definition reads like CloudWatch');

  // the chart: threshold, datapoints above it, an ALARM band
  const thr = page.locator('[data-testid="chart"] [data-testid="threshold-line"]');
  await thr.waitFor({ state: 'attached' });
  check((await thr.count()) === 1, 'the chart draws the threshold line');
  check((await thr.getAttribute('data-threshold')) === '1', 'the threshold line is at 1');
  const thrY = Number(await thr.getAttribute('y1'));
  const points = page.locator('[data-testid="chart"] [data-testid="datapoint"]');
  await points.first().waitFor({ state: 'attached' });
  const above = await points.evaluateAll((ps) => ps.filter((p) => Number(p.dataset.value) > 1).map((p) => Number(p.getAttribute('cy'))));
  check(above.length >= 1 && above.every((y) => y < thrY), 'the breaching datapoint is drawn above the threshold');
  check((await page.locator('[data-testid="state-band"][data-state="ALARM"]').count()) >= 1,
    'the chart has an ALARM state band');
  check((await page.locator('[data-testid="state-band"][data-state="OK"]').count()) >= 1,
    'the chart has an OK state band before it');
  check((await points.count()) >= 5, 'the chart draws the trickle before the burst');

  // history and context
  const trans = page.locator('[data-testid="history-item"][data-to="ALARM"]');
  await trans.first().waitFor();
  check(/Alarm updated from OK to ALARM/.test(await trans.first().innerText()),
    'the history shows the transition to ALARM');
  const ctx = page.locator('[data-testid="context-panel"]');
  await ctx.locator('[data-testid="top-principal"]', { hasText: args.role }).waitFor();
  check((await ctx.innerText()).includes(args.role), 'the context names the role');
  check((await ctx.locator('[data-testid="context-events"] tbody tr').count()) >= 2,
    'the context lists the recent events');
  // the actions panel agrees with /api/deliveries (which may not exist: 404)
  const api = await page.evaluate(async (name) => {
    const r = await fetch('/api/deliveries', { headers: { Authorization: 'Bearer ' + sessionStorage.getItem('keysentry.token') } });
    if (!r.ok) return { status: r.status, n: 0 };
    const d = await r.json();
    return { status: r.status, n: (d.deliveries || []).filter((x) => x.alarm === name).length };
  }, args.alarm);
  const deliveries = page.locator('[data-testid="deliveries"]');
  if (api.n > 0) {
    await deliveries.locator('tbody tr').first().waitFor();
    check((await deliveries.innerText()).includes('KMSAlarmTopic'), `the deliveries panel lists the alarm's ${api.n} delivery attempt(s)`);
  } else {
    await deliveries.getByText('none').waitFor();
    check(true, `the deliveries panel says none (API answered ${api.status} with no delivery)`);
  }

  // the event explorer: by error code, with the record's origin
  await page.locator('[data-testid="filter-errorCode"]').fill('IncorrectKeyException');
  await page.locator('[data-testid="event-search"]').click();
  const evRows = page.locator('[data-testid="event-row"]');
  await evRows.first().waitFor();
  const n = await evRows.count();
  check(n >= 1, `the explorer finds the IncorrectKeyException events (${n})`);
  const codes = await evRows.evaluateAll((rs) => rs.map((r) => r.children[2].innerText.trim()));
  check(codes.every((c) => c === 'IncorrectKeyException'), 'every row found has that error code');
  check(/http:push/.test(await evRows.first().locator('[data-testid="event-origin"]').innerText()),
    'each event shows its origin (http:push, offset)');
  await evRows.first().click();
  const rec = page.locator('[data-testid="event-record"]');
  await rec.waitFor();
  check((await rec.innerText()).includes('"errorCode": "IncorrectKeyException"'), 'a row opens to its CloudTrail record');
  await evRows.first().click();
  await rec.waitFor({ state: 'detached' });
  check(true, 'and closes again');
  check(/KMSFailureFilter\s*\d+/.test(await page.locator('[data-testid="filters"]').innerText()),
    'the metric filters panel counts the matches');

  check(problems.length === 0, 'no script errors or CSP violations' + (problems.length ? ': ' + problems.join('; ') : ''));
  check(foreign.length === 0, 'no request leaves the daemon' + (foreign.length ? ': ' + foreign.join(', ') : ''));

  // back to the top for a representative picture
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: args.screenshot, fullPage: true });
  console.log(`screenshot: ${args.screenshot}`);
} catch (e) {
  console.error('FAIL: browser: ' + (e && e.message ? e.message.split('\n')[0] : e));
  failed++;
} finally {
  await browser.close();
  clearTimeout(watchdog);
}
process.exit(failed ? 1 : 0);
