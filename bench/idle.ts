import { readdirSync, readFileSync } from 'node:fs';
import { chromium } from 'playwright';
import { startServer } from '../server/start.ts';
import { CHROMIUM_ARGS, requireChromium } from '../test/support/chromium.mjs';
import { runBenchPage } from './lib/browser.ts';
import { buildPages } from './lib/built_pages.ts';
import type { Section } from './lib/report.ts';
import { progress } from './lib/report.ts';

/** CPU time (ns) a thread has run, from the kernel's scheduler statistics. */
function threadCpuNs(pid: number, tid: number): number {
  return Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
}

function threads(pid: number): { tid: number; name: string }[] {
  return readdirSync(`/proc/${pid}/task`).map((tid) => ({
    tid: Number(tid),
    name: readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim(),
  }));
}

interface Window {
  seconds: number;
  /** Share of one core, in %. */
  workerCpuPercent: number;
  mainCpuPercent: number;
  timersFired: number;
  wakeupsPerMinute: number;
  /** Where the fired timers were set (call sites in the built bundle) and how often. */
  timerSites: Record<string, number>;
  visibility: string;
}

const pct = (value: number) => `${value.toFixed(3)} %`;

/**
 * idle: a learner started with sync and rollout on (live events from a real sync server on
 * 127.0.0.1), then no activity, with the page visible and then hidden (as the page sees it:
 * visibilityState and its event; headless Chromium never hides a page itself). CPU: the kernel's per-thread run time (/proc/<pid>/task/<tid>/schedstat, in ns) of
 * the renderer's main thread and of the dedicated worker's thread(s), over the window, as a
 * share of one core. Wake-ups: timer callbacks fired in the worker (setTimeout/setInterval,
 * counted by a wrapper the bench worker installs first). The server's SSE heartbeats reach
 * the worker's EventSource but run no script (nothing listens to them).
 */
export async function idle(quick: boolean): Promise<Section> {
  const seconds = quick ? 5 : 60;
  progress(`idle: ${seconds} s visible and ${seconds} s hidden, sync and rollout on, Chromium…`);
  const appKey = `bench-app-${crypto.randomUUID()}`;
  const server = await startServer({
    port: 0,
    memory: true,
    appKey,
    adminToken: `bench-admin-${crypto.randomUUID()}`,
    policy: { enabled: false },
    logError: (message, error) => console.error(`server: ${message}`, error),
  });
  const pages = await buildPages(['bench/browser/idle.html']);
  // A browser of its own: no other page's worker shares the renderer being measured.
  const browser = await chromium.launch({ executablePath: requireChromium(), args: CHROMIUM_ARGS });
  const windows: Window[] = [];
  try {
    const context = await browser.newContext();
    const page = await context.newPage();
    const query = new URLSearchParams({
      server: server.url,
      appKey,
      publicKey: server.publicKey.raw,
    });
    await runBenchPage({ page, url: pages.url }, `bench/browser/idle.html?${query}`, 300_000);
    const cdp = await browser.newBrowserCDPSession();
    const { processInfo } = (await cdp.send('SystemInfo.getProcessInfo')) as {
      processInfo: { type: string; id: number }[];
    };
    const renderers = processInfo.filter((p) => p.type === 'renderer').map((p) => p.id);
    const isWorker = (name: string) => /worker/i.test(name) && !/pool|compositor/i.test(name);
    const pid = renderers.find((id) => threads(id).some((t) => isWorker(t.name)));
    if (pid === undefined) {
      const names = renderers.map(
        (id) =>
          `${id}: ${threads(id)
            .map((t) => t.name)
            .join(', ')}`,
      );
      throw new Error(`no renderer with a dedicated worker thread: ${names.join('; ')}`);
    }
    const workerTids = threads(pid)
      .filter((t) => isWorker(t.name))
      .map((t) => t.tid);
    const cpu = () => ({
      main: threadCpuNs(pid, pid),
      worker: workerTids.reduce((sum, tid) => sum + threadCpuNs(pid, tid), 0),
    });
    const timers = () =>
      page.evaluate(() =>
        (window as unknown as { timers: () => Promise<Record<string, number>> }).timers(),
      );
    const measure = async () => {
      const visibility = await page.evaluate(() => document.visibilityState);
      const firedBefore = await timers();
      const before = cpu();
      const started = performance.now();
      await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
      const after = cpu();
      const elapsedNs = (performance.now() - started) * 1e6;
      const firedAfter = await timers();
      const timerSites: Record<string, number> = {};
      for (const [site, count] of Object.entries(firedAfter)) {
        const more = count - (firedBefore[site] ?? 0);
        if (more > 0) timerSites[site] = more;
      }
      const timersFired = Object.values(timerSites).reduce((a, b) => a + b, 0);
      windows.push({
        seconds,
        workerCpuPercent: ((after.worker - before.worker) / elapsedNs) * 100,
        mainCpuPercent: ((after.main - before.main) / elapsedNs) * 100,
        timersFired,
        wakeupsPerMinute: timersFired / (elapsedNs / 60e9),
        timerSites,
        visibility,
      });
    };
    // Settle: the start's own work (first snapshot timers, the first delivery) is not idle.
    await new Promise((resolve) => setTimeout(resolve, quick ? 1000 : 5000));
    await measure();
    // Headless Chromium never hides a page (a tab brought to the front, a minimised window:
    // both leave it 'visible'), so the page is told it is hidden the way a browser tells it:
    // visibilityState and a visibilitychange event (the learner then saves and sends).
    // A string: tsx would wrap a function's inner arrows in a helper the page does not have.
    await page.evaluate(
      `Object.defineProperty(document, 'visibilityState', { get: () => 'hidden' });
       document.dispatchEvent(new Event('visibilitychange'));`,
    );
    await new Promise((resolve) => setTimeout(resolve, 1000)); // the hidden page's flush
    await measure();
  } finally {
    await browser.close();
    await pages.close();
    await server.close();
  }
  const [visible, hidden] = windows;
  const sites = (window: Window) =>
    Object.entries(window.timerSites)
      .map(([site, count]) => `${count}× ${site}`)
      .join('; ') || 'none';
  const row = (name: string, window: Window) =>
    `| ${name} (${window.visibility}) | ${pct(window.workerCpuPercent)} | ${pct(window.mainCpuPercent)} | ${window.timersFired} (${window.wakeupsPerMinute.toFixed(1)}/min) |`;
  return {
    key: 'idle',
    title: 'Idle cost: a started learner doing nothing',
    headline: `Idle with sync and rollout on: the worker uses ${pct(visible.workerCpuPercent)} of a core and wakes ${visible.wakeupsPerMinute.toFixed(1)} times a minute (hidden: ${hidden.timersFired} timers in ${seconds} s).`,
    results: { visible, hidden },
    floors: [
      {
        name: 'idle: worker CPU ≤ 0.2 % of one core (visible)',
        pass: visible.workerCpuPercent <= 0.2,
        measured: pct(visible.workerCpuPercent),
      },
      {
        name: 'idle: ≤ 6 wake-ups a minute in the worker (visible)',
        pass: visible.wakeupsPerMinute <= 6,
        measured: `${visible.wakeupsPerMinute.toFixed(1)}/min`,
      },
      {
        name: 'idle: no wake-ups beyond the heartbeat stream (hidden)',
        pass: hidden.timersFired === 0 && hidden.visibility === 'hidden',
        measured: `${hidden.timersFired} timers in ${seconds} s (page ${hidden.visibility})`,
      },
    ],
    markdown: [
      `A learner (demo model, IndexedDB) with \`sync\` and \`rollout\` on (live events) follows a`,
      'real sync server on 127.0.0.1 (SSE heartbeat every 15 s), in a production build in a',
      `Chromium of its own. After the start settles, ${seconds} s with the page visible, then ${seconds} s hidden`,
      "(headless Chromium never hides a page, so the page's visibilityState is set to hidden and",
      'a visibilitychange event sent: the learner saves and sends, as on a real hide; the worker',
      "itself does not see visibility). CPU is the kernel's run time of each thread",
      '(`/proc/<pid>/task/<tid>/schedstat`) over the window as a share of one core: the',
      "renderer's main thread, and the dedicated worker's thread. Wake-ups are timer callbacks",
      'fired in the worker (a wrapper the bench worker installs before the learner loads); the',
      'heartbeats arrive at the EventSource but run no script.',
      '',
      '| window | worker CPU | main thread CPU | worker timers fired |',
      '| --- | --- | --- | --- |',
      row('visible', visible),
      row('hidden', hidden),
      '',
      `Timers fired, by where they were set — visible: ${sites(visible)}; hidden: ${sites(hidden)}.`,
    ].join('\n'),
  };
}
