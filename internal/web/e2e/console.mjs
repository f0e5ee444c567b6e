// Browser test of the Vigil console, run by internal/web/e2e_test.go (or by hand):
//
//   VIGIL_URL=http://127.0.0.1:8080/ VIGIL_USER=alice VIGIL_PASSWORD=... node console.mjs
//
// Drives the system's Chromium (VIGIL_CHROMIUM, default /usr/bin/chromium; never a
// downloaded browser) through playwright-core: logs in, opens the riskiest incident
// from the queue with the keyboard, gives a false-positive verdict, checks the verdict
// is listed and the status and queue follow, visits an entity, search and the help,
// and saves screenshots in VIGIL_E2E_ARTIFACTS (default: a new temporary directory).
// Any page error, console error or CSP violation fails it. Exit status 0 on success.
import { chromium } from 'playwright-core';
import { mkdtempSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const url = process.env.VIGIL_URL || 'http://127.0.0.1:8080/';
const user = process.env.VIGIL_USER || 'analyst';
const password = process.env.VIGIL_PASSWORD || '';
const executablePath = process.env.VIGIL_CHROMIUM || '/usr/bin/chromium';
const artifacts = process.env.VIGIL_E2E_ARTIFACTS || mkdtempSync(join(tmpdir(), 'vigil-e2e-'));
mkdirSync(artifacts, { recursive: true });

const problems = [];

// scale (VIGIL_E2E_SCALE=1): a queue of thousands: time the first page, twenty
// "load more" and j through the loaded rows; prints the figures as JSON.
async function scale(page) {
  const rows = page.locator('#queue tbody tr');
  const t0 = Date.now();
  await page.goto(page.url().replace(/#.*$/, '') + '#/search');
  await page.goto(page.url().replace(/#.*$/, '') + '#/incidents');
  await rows.first().waitFor();
  const firstPage = Date.now() - t0;
  const loads = [];
  for (let i = 0; i < 20; i++) {
    const before = await rows.count();
    const t = Date.now();
    await page.click('#load-more');
    await page.waitForFunction((n) => document.querySelectorAll('#queue tbody tr').length > n, before);
    loads.push(Date.now() - t);
  }
  const loaded = await rows.count();
  const tj = Date.now();
  const presses = Math.min(500, loaded - 1);
  for (let i = 0; i < presses; i++) await page.keyboard.press('j');
  await page.waitForFunction((i) => document.querySelectorAll('#queue tbody tr')[i]?.getAttribute('aria-current') === 'true', presses);
  const jMs = (Date.now() - tj) / presses;
  // In-page: the handler's cost of j (selection + scrollIntoView, layout included), without the driver's round trip.
  const jInPage = await page.evaluate(() => {
    const t = performance.now();
    for (let i = 0; i < 200; i++) document.dispatchEvent(new KeyboardEvent('keydown', { key: 'k', bubbles: true }));
    document.body.getBoundingClientRect();
    return (performance.now() - t) / 200;
  });
  // The API alone: one page far down the queue.
  const apiMs = await page.evaluate(async () => {
    let cursor = '';
    for (let i = 0; i < 20; i++) {
      const r = await (await fetch(`/api/v1/incidents?sort=risk&limit=50${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)).json();
      cursor = r.next;
    }
    const out = [];
    for (let i = 0; i < 8; i++) {
      const t = performance.now();
      const r = await (await fetch(`/api/v1/incidents?sort=risk&limit=50&cursor=${encodeURIComponent(cursor)}`)).json();
      cursor = r.next;
      out.push(Math.round(performance.now() - t));
    }
    return out;
  });
  // In-page: "load more" from the click to the 50 new rows in the table (fetch + render + layout).
  const moreInPage = await page.evaluate(async () => {
    const times = [];
    for (let i = 0; i < 5; i++) {
      const tbody = document.querySelector('#queue tbody');
      const before = tbody.children.length;
      const t = performance.now();
      const done = new Promise((resolve) => {
        const mo = new MutationObserver(() => { if (tbody.children.length > before) { mo.disconnect(); resolve(); } });
        mo.observe(tbody, { childList: true });
      });
      document.getElementById('load-more').click();
      await done;
      document.body.getBoundingClientRect();
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    return times[2];
  });
  const heap = await page.evaluate(() => (performance.memory ? Math.round(performance.memory.usedJSHeapSize / 1e6) : -1));
  loads.sort((a, b) => a - b);
  console.log(JSON.stringify({ scale: { first_page_ms: firstPage, load_more_median_ms: loads[10], load_more_max_ms: loads[19], rows_loaded: loaded, j_ms_per_press: Number(jMs.toFixed(2)), j_in_page_ms: Number(jInPage.toFixed(2)), api_pages_21_28_ms: apiMs, load_more_in_page_median_ms: Math.round(moreInPage), rows_after: await rows.count(), render_page_ms: await page.evaluate(() => { const d = performance.getEntriesByName('vigil:queue-page').map((e) => e.duration).sort((a, b) => a - b); return { median: Number(d[d.length >> 1].toFixed(1)), max: Number(d[d.length - 1].toFixed(1)), pages: d.length }; }), js_heap_mb: heap } }));
  step(`scale: ${loaded} rows loaded`);
}
const steps = [];
function step(msg) { steps.push(msg); console.log(`ok - ${msg}`); }
function check(cond, msg) { if (!cond) throw new Error(`check failed: ${msg}`); }

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
let failed = false;
try {
  const context = await browser.newContext({ viewport: { width: 1366, height: 768 }, colorScheme: 'light' });
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const t = m.text();
    // The console asks GET /api/v1/session first: a 401 there is how it learns to show the login form.
    if (/status of 401/.test(t)) return;
    problems.push(`console error: ${t}`);
  });
  const shot = async (name, fullPage = false) => {
    const path = join(artifacts, `${name}.png`);
    await page.screenshot({ path, fullPage });
    step(`screenshot ${path}`);
  };

  // 1. Log in.
  await page.goto(url);
  await page.locator('#login-user').waitFor();
  await shot('01-login');
  await page.fill('#login-user', user);
  await page.fill('#login-pass', password);
  await page.click('form.login button[type=submit]');
  await page.locator('#queue tbody tr').first().waitFor();
  check((await page.textContent('#whoami')).includes(user), 'the top bar names the user');
  step('logged in; the queue is shown');

  if (process.env.VIGIL_E2E_SCALE === '1') {
    await scale(page);
    check(problems.length === 0, `no page errors:\n  ${problems.join('\n  ')}`);
    throw Object.assign(new Error('done'), { done: true });
  }

  // 2. The queue: riskiest first, the first row selected; j/k move the selection.
  const rows = page.locator('#queue tbody tr');
  const n = await rows.count();
  check(n > 0, 'the queue has incidents');
  const risks = await page.$$eval('#queue tbody tr .riskval', (els) => els.map((e) => Number(e.textContent)));
  for (let i = 1; i < risks.length; i++) check(risks[i - 1] >= risks[i], `queue sorted by risk (${risks.join(',')})`);
  check(await rows.nth(0).getAttribute('aria-current') === 'true', 'first row selected');
  await shot('02-queue');
  if (n > 1) {
    await page.keyboard.press('j');
    check(await rows.nth(1).getAttribute('aria-current') === 'true', 'j selects the next incident');
    await page.keyboard.press('k');
    check(await rows.nth(0).getAttribute('aria-current') === 'true', 'k selects the previous incident');
    step('j/k move the selection in the queue');
  }
  const topId = await rows.nth(0).getAttribute('data-id');
  const topTitle = (await rows.nth(0).locator('td.title a').textContent()).trim();

  // 3. Open it with Enter.
  await page.keyboard.press('Enter');
  await page.waitForURL((u) => u.hash === `#/incidents/${encodeURIComponent(topId)}`);
  await page.locator('#inc-title').waitFor();
  check((await page.textContent('#inc-title')).trim() === topTitle, 'the incident page shows the selected incident');
  await page.locator('#narrative').waitFor();
  check((await page.textContent('#narrative')).length > 20, 'the narrative is shown');
  check(await page.locator('.tactics > div').count() === 14, 'the ATT&CK strip has the 14 tactics');
  check(await page.locator('.tactics > div.on').count() > 0, 'the incident\'s tactics are highlighted');
  check(await page.locator('#timeline li').count() > 0, 'the timeline lists its signals');
  await page.locator('svg.graph').waitFor();
  await page.locator('#evidence p, #evidence details').first().waitFor();
  step(`Enter opened the top incident ${topId}`);
  await shot('03-incident');
  await shot('03-incident-full', true);
  await page.locator('svg.graph').screenshot({ path: join(artifacts, '03-graph.png') });

  // 4. A verdict with the keyboard: f opens the dialog preset to false positive.
  await page.keyboard.press('f');
  const dialog = page.locator('#verdict-dialog');
  await dialog.waitFor({ state: 'visible' });
  check(await page.isChecked('#verdict-form input[value=false_positive]'), 'f presets the verdict to false positive');
  await page.fill('#v-reason', 'e2e: the simulated campaign is a test');
  await page.selectOption('#v-scope', 'entity');
  await shot('04-verdict-dialog');
  await page.click('#verdict-submit');
  await dialog.waitFor({ state: 'hidden' });
  await page.locator('#verdicts li[data-verdict=false_positive]').waitFor();
  check((await page.textContent('#verdicts')).includes('e2e: the simulated campaign is a test'), 'the verdict lists its reason');
  await page.waitForFunction(() => document.querySelector('#status-value')?.textContent.includes('False positive'));
  step('the verdict is listed on the incident and its status is False positive');
  await shot('05-verdict-recorded');

  // 5. Back to the queue with u: the incident shows its new status; the open queue no longer lists it.
  await page.keyboard.press('u');
  await page.locator(`#queue tbody tr[data-id="${topId}"]`).waitFor();
  check((await page.locator(`#queue tbody tr[data-id="${topId}"] .status`).textContent()).includes('False positive'), 'the queue shows the new status');
  await page.selectOption('#f-status', 'open');
  await page.waitForURL((u) => u.hash.includes('status=open'));
  await page.locator('#queue tbody tr, main p.muted').first().waitFor();
  check(await page.locator(`#queue tbody tr[data-id="${topId}"]`).count() === 0, 'the open queue no longer lists it');
  step('u went back to the queue; the status filter is in the URL and excludes the incident');
  await shot('06-queue-open');

  // 6. Acknowledge the selected open incident with a.
  if (await rows.count() > 0) {
    const id2 = await rows.nth(0).getAttribute('data-id');
    await page.keyboard.press('a');
    await page.waitForFunction((id) => document.querySelector(`#queue tbody tr[data-id="${id}"] .status`)?.textContent.includes('Acknowledged'), id2);
    step(`a acknowledged ${id2}`);
  }

  // 7. Help with ?, closed with Escape.
  await page.keyboard.press('?');
  await page.locator('#help-dialog').waitFor({ state: 'visible' });
  await shot('07-help');
  await page.keyboard.press('Escape');
  await page.locator('#help-dialog').waitFor({ state: 'hidden' });
  step('? shows the shortcuts');

  // 8. An entity page, from the incident's first entity.
  await page.goto(`${url.replace(/\/$/, '')}/#/incidents/${encodeURIComponent(topId)}`);
  await page.locator('#inc-title').waitFor();
  const chip = page.locator('.incident-head .chips a.chip').first();
  const entityTitle = await chip.getAttribute('title');
  await chip.click();
  await page.locator('#ent-title').waitFor();
  check((await page.textContent('#ent-title')).includes(entityTitle.split(':').slice(1).join(':')), 'the entity page names the entity');
  step(`entity page of ${entityTitle}`);
  await shot('08-entity');

  // 9. Search with /, jump to the entity.
  await page.keyboard.press('/');
  check(await page.evaluate(() => document.activeElement?.id) === 'qs-input', '/ focuses the search');
  await page.keyboard.type(entityTitle);
  await page.keyboard.press('Enter');
  await page.locator('#entity-jump').waitFor();
  step('search finds the entity');
  await shot('09-search');

  // 10. Dark theme.
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.goto(`${url.replace(/\/$/, '')}/#/incidents/${encodeURIComponent(topId)}`);
  await page.locator('#inc-title').waitFor();
  await page.locator('svg.graph').waitFor();
  await shot('10-incident-dark');

  // 10b. Baseline against observed on an incident with a behavioral signal.
  const beh = process.env.VIGIL_E2E_BEHAVIORAL;
  if (beh) {
    await page.emulateMedia({ colorScheme: 'light' });
    await page.goto(`${url.replace(/\/$/, '')}/#/incidents/${encodeURIComponent(beh)}`);
    await page.locator('#h-bl').waitFor();
    check(await page.locator('svg.bars rect.obs').count() > 0, 'behavioral signals show baseline against observed bars');
    await page.locator('svg.bars').first().scrollIntoViewIfNeeded();
    await shot('11-baseline');
    step(`baseline against observed on ${beh}`);
  }

  // 11. The System page: version and store; this node is not in a cluster.
  await page.click('a[data-nav="system"]');
  await page.locator('#system-summary').waitFor();
  check(/store sqlite/.test(await page.locator('#system-summary').textContent()), 'the System page names the store');
  await page.locator('#cluster-none').waitFor();
  await shot('12-system');
  step('the System page shows the node, alone');

  // 12. g i goes to the queue; sign out returns to the login form.
  await page.keyboard.press('g');
  await page.keyboard.press('i');
  await page.locator('#queue').waitFor();
  step('g i goes to the incidents');
  await page.click('#logout-btn');
  await page.locator('#login-user').waitFor();
  step('signed out');

  check(problems.length === 0, `no page errors:\n  ${problems.join('\n  ')}`);
} catch (err) {
  if (err.done) {
    // the scale scenario ends here
  } else {
  failed = true;
  console.error(`not ok - ${err.message}`);
  if (problems.length) console.error(`page problems:\n  ${problems.join('\n  ')}`);
  try {
    const pages = browser.contexts().flatMap((c) => c.pages());
    if (pages[0]) await pages[0].screenshot({ path: join(artifacts, 'failure.png') });
  } catch { /* best effort */ }
  }
} finally {
  await browser.close();
}
console.log(`artifacts: ${artifacts}`);
console.log(JSON.stringify({ ok: !failed, steps: steps.length, artifacts }));
process.exit(failed ? 1 : 0);
