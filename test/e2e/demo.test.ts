// End to end: `npm start`'s launcher (server/demo/launch.ts) on a free port with a temporary
// data directory — the real build (page + Workbox service worker), the real sync server with
// embedded PGlite — driven by Playwright in the system Chromium. A person clicks, the chart and
// the ranking move; the operator stages a version and the device serves it in its arm; the
// network goes away (CDP network emulation), the page reloads from the service worker and keeps
// learning; back online, the server receives exactly the windows that waited in the outbox. A new
// build is offered with an "update available" prompt and taken when the person agrees.
//
// Run: `npm run test:e2e` (node's test runner through tsx). Screenshots: test-results/e2e/.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright';
import { chromium } from 'playwright';
import { buildDemo } from '../../server/demo/build.ts';
import { launchDemo, type RunningDemo } from '../../server/demo/launch.ts';
import { CHROMIUM_ARGS, requireChromium } from '../support/chromium.mjs';

const ARTIFACTS = join(import.meta.dirname, '../../test-results/e2e');

let demo: RunningDemo;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let scratch: string;
const consoleErrors: string[] = [];
let offline = false;

before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'localfit-e2e-'));
  await mkdir(ARTIFACTS, { recursive: true });
  demo = await launchDemo({
    port: 0,
    dataDir: join(scratch, 'data'),
    outDir: join(scratch, 'dist'),
  });
  browser = await chromium.launch({ executablePath: requireChromium(), args: CHROMIUM_ARGS });
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  page.on('console', (message) => {
    // Offline, Chromium logs every request it could not send; those are the point of the test.
    if (message.type() === 'error' && !offline) consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => consoleErrors.push(error.message));
});

after(async () => {
  await browser?.close();
  await demo?.close();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

const data = (selector: string, key: string) =>
  page.locator(selector).evaluate((el, k) => (el as HTMLElement).dataset[k] ?? '', key);

async function waitData(selector: string, key: string, ok: (value: string) => boolean) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const value = await data(selector, key);
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`${selector} data-${key} stayed at "${value}"`);
    await page.waitForTimeout(100);
  }
}

/** The windows the server stored: read from its database, the source of truth. */
async function storedWindows(): Promise<number> {
  const { rows } = await demo.server.database.query<{ n: number }>(
    'select count(*)::int as n from metric_windows',
  );
  return rows[0].n;
}

/** Clicks the item ranked last, `rounds` times, each after the feed shows a new slate. */
async function clickRounds(rounds: number): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    const before = Number(await data('#stats', 'rounds'));
    await page.locator('#feed li button').last().click();
    await waitData('#stats', 'rounds', (value) => Number(value) > before);
  }
}

const feedItems = () =>
  page
    .locator('#feed li')
    .evaluateAll((items) => items.map((li) => Number((li as HTMLElement).dataset.item)));

const score = (items: number[]) =>
  page.evaluate(
    (list) =>
      (
        window as unknown as { localfitDemo: { score(i: number[]): Promise<number[]> } }
      ).localfitDemo.score(list),
    items,
  );

const rankOf = (scores: number[]) => scores.map((_, i) => i).sort((a, b) => scores[b] - scores[a]);

test('the demo: learning, a staged rollout from the operator panel, offline and back', async () => {
  try {
    await story();
  } catch (error) {
    await shot('failure').catch(() => {});
    throw error;
  }
});

async function story(): Promise<void> {
  await page.goto(demo.url);
  await page.waitForSelector('body[data-ready]');
  assert.equal(await page.evaluate(() => crossOriginIsolated), true, 'COOP/COEP are served');
  // The first visit installs the service worker, which takes control at once (clients.claim).
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null);
  // The device adopts the server's production version (the demo model it ships).
  await waitData('#arm', 'version', (v) => v === 'v1');

  // Clicking re-ranks: the same slate is ordered differently once the head has learned.
  const slate = await feedItems();
  const before = await score(slate);
  await clickRounds(12);
  const after = await score(slate);
  assert.notDeepEqual(rankOf(after), rankOf(before), 'the ranking of the first slate changed');
  assert.equal(await data('#chart', 'points'), String(12 * 8), 'one chart point per reaction');
  assert.equal((await page.locator('#chart canvas').count()) > 0, true);
  await page.getByRole('button', { name: 'Shift the person’s taste' }).click();
  assert.match((await page.locator('#drift').textContent()) ?? '', /taste shifted/);
  await shot('1-learning');

  // The operator stages the retrained version for everyone; the device serves it.
  await page.getByLabel('Staged weight (%)').fill('100');
  await page.getByRole('button', { name: 'Stage the retrained version' }).click();
  await waitData('#arm', 'arm', (arm) => arm === 'staged');
  assert.equal(await data('#arm', 'version'), 'v2');
  await page
    .locator('#versions tr[data-version-id="v2"][data-local="staged"][data-serving]')
    .waitFor();
  assert.match((await page.locator('#rollout-events').textContent()) ?? '', /staged v2/);
  // Its bytes came through the service worker, which keeps model files by sha256.
  const modelPath = `/v1/models/${demo.variant.sha256}`;
  const cachedModels = await page.evaluate(async () =>
    (await (await caches.open('localfit-models')).keys()).map((r) => new URL(r.url).pathname),
  );
  assert.deepEqual(cachedModels, [modelPath]);
  // The slate on screen was ranked by v1; the next two are v2's.
  await clickRounds(3);
  assert.equal(await data('#chart', 'staged'), String(2 * 8), 'the staged series has points');
  await shot('2-staged');

  // Everything so far reaches the server (the open window stays open: it is not full).
  await waitData('#outbox', 'queued', (q) => q === '0');

  // Offline: no request leaves the browser (page, its worker and the service worker).
  offline = true;
  await context.setOffline(true);
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.emulateNetworkConditions', {
    offline: true,
    latency: 0,
    downloadThroughput: -1,
    uploadThroughput: -1,
  });
  const storedBefore = await storedWindows();
  await page.reload();
  await page.waitForSelector('body[data-ready]');
  assert.equal(await page.evaluate(() => navigator.onLine), false);
  assert.match((await page.locator('#connection').textContent()) ?? '', /Offline/);
  // Served from IndexedDB: the staged version, with what it learned.
  assert.equal(await data('#arm', 'version'), 'v2');
  await clickRounds(16);
  const queued = Number(await waitData('#outbox', 'queued', (q) => Number(q) >= 3));
  const deliveredBefore = Number(await data('#outbox', 'delivered'));
  assert.equal(await storedWindows(), storedBefore, 'nothing reached the server while offline');
  await shot('3-offline');

  // Back online: the queued windows are delivered, each once.
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false,
    latency: 0,
    downloadThroughput: -1,
    uploadThroughput: -1,
  });
  await context.setOffline(false);
  await waitData('#outbox', 'queued', (q) => q === '0');
  offline = false;
  assert.equal(Number(await data('#outbox', 'delivered')), deliveredBefore + queued);
  assert.equal(
    await storedWindows(),
    storedBefore + queued,
    'the server has exactly the queued windows',
  );
  await shot('4-back-online');

  // A new build: the page offers it instead of mixing two builds, and switches when asked.
  const buildId = () =>
    page.evaluate(async () => ((await (await fetch('/build.json')).json()) as { id: string }).id);
  const oldBuild = await buildId();
  await buildDemo(join(scratch, 'dist'));
  const newBuild = (
    JSON.parse(await readFile(join(scratch, 'dist/build.json'), 'utf8')) as { id: string }
  ).id;
  assert.notEqual(newBuild, oldBuild);
  await page.evaluate(async () => {
    await (await navigator.serviceWorker.getRegistration())?.update();
  });
  await page.locator('#update').waitFor({ state: 'visible' });
  assert.equal(await buildId(), oldBuild, 'the open page keeps its build until the person agrees');
  await shot('5-update-available');
  await Promise.all([
    page.waitForEvent('load'),
    page.getByRole('button', { name: 'Reload to update' }).click(),
  ]);
  await page.waitForSelector('body[data-ready]');
  assert.equal(await buildId(), newBuild);

  // The rest of the rollout from the operator panel: promote, roll back. (Not a ramp down from
  // 100 %: a device that leaves the arm records the version as rolled back, and src/rollout/
  // plan.ts then never installs it when it is promoted — reported, not worked around here.)
  await page.getByRole('button', { name: 'Promote' }).click();
  await page
    .locator('#versions tr[data-version-id="v2"][data-local="production"][data-serving]')
    .waitFor();
  assert.equal(await data('#arm', 'arm'), 'production');
  await page.getByRole('button', { name: 'Roll back' }).click();
  // v1 comes back from IndexedDB: the device kept it.
  await waitData('#arm', 'version', (v) => v === 'v1');
  await page.locator('#versions tr[data-version-id="v2"] td', { hasText: 'rolled_back' }).waitFor();
  await shot('6-rolled-back');

  assert.deepEqual(consoleErrors, []);
}
