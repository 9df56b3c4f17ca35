// The demo page: a feed from the demo catalog, ranked by the on-device learner, which learns
// from every reaction; panels for its metrics, versions, drift and outbox; and an operator panel
// that drives a staged rollout through the sync server's admin API. The model, its initial head
// and the catalog are the project's own (public/models/demo/, `npm run models`); the simulated
// person is the seeded world the model was trained on (./world.ts). `npm start`
// serves it with the sync server (server/demo/launch.ts); under plain `vite` it learns alone.

import { catalogExample } from '../backbone/catalog.ts';
import type { LearnerOptions, WorkerStats } from '../client/index.ts';
import { createLearner } from '../client/index.ts';
import type { HeadJson } from '../learn/head_json.ts';
import { headFromJson } from '../learn/head_json.ts';
import type { AdminVersion } from '../protocol/admin.ts';
import { MetricChart } from './chart.ts';
import { type DemoConfig, loadDemoConfig, syncUrl } from './config.ts';
import { renderFeed } from './feed.ts';
import { registerServiceWorker } from './offline.ts';
import { Operator } from './operator.ts';
import {
  describeRollout,
  logLine,
  renderDrift,
  renderOutbox,
  renderStats,
  renderVersions,
  versionViews,
} from './panels.ts';
import { DemoSession, type Slate } from './session.ts';
import { createWorld, DEMO_ITEMS, DEMO_SEED, SimulatedUser } from './world.ts';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = $<HTMLParagraphElement>('status');
const simulate = $<HTMLInputElement>('simulate');
const operatorLog = $<HTMLOListElement>('operator-log');
const rolloutLog = $<HTMLOListElement>('rollout-events');

registerServiceWorker((handle) => {
  $('update').hidden = false;
  $('update-now').addEventListener('click', () => handle.update(), { once: true });
});

const config = await loadDemoConfig();
const world = createWorld(DEMO_SEED, DEMO_ITEMS);
const person = new SimulatedUser(world, Date.now() % 1_000_000);
const head = headFromJson((await (await fetch('/models/demo/head.json')).json()) as HeadJson);

/** One learner state per sync server (its signing key), so a fresh server starts fresh. */
function storeName(config: DemoConfig | undefined): string {
  return config
    ? `localfit-demo-${config.publicKey.replace(/[^a-z0-9]/gi, '').slice(0, 12)}`
    : 'localfit-demo';
}

const options: LearnerOptions = {
  model: { url: '/models/demo/model.onnx' },
  head,
  scale: false,
  store: { name: storeName(config) },
};
if (config) {
  options.sync = {
    url: syncUrl(config),
    appKey: config.appKey,
    // Windows of five rounds, sent as soon as one closes: the outbox moves while you watch.
    window: { maxOutcomes: 40, maxAgeMs: 5 * 60_000 },
    flushAtQueued: 1,
    backoff: { baseMs: 500, maxMs: 10_000 },
    client: { appVersion: 'localfit-demo' },
  };
  options.rollout = { publicKey: config.publicKey, live: true };
}
const learner = await createLearner(options);
const session = new DemoSession(learner, world, person);
const chart = new MetricChart($('chart'));
status.textContent = config
  ? 'Model loaded; learning on this device, reporting aggregates to the sync server.'
  : 'Model loaded; learning on this device (no sync server: run `npm start` for the rollout panels).';

learner.on('rollout', (event) => {
  logLine(rolloutLog, describeRollout(event));
  void render();
});
learner.on('error', (event) => {
  status.textContent = `The learner reports: ${event.code}: ${event.message}`;
});

let serverVersions: AdminVersion[] | undefined;
let current: Slate | undefined;
let busy = false;

async function refreshServer(operator: Operator | undefined): Promise<void> {
  if (!operator || !navigator.onLine) return;
  try {
    serverVersions = (await operator.versions()).versions;
  } catch {
    // Unreachable: the panel shows the device's side alone.
  }
}

async function render(stats?: WorkerStats): Promise<void> {
  const now = stats ?? (await learner.stats());
  session.stagedId = now.versions.staged?.id;
  renderStats($('stats'), session, now);
  renderVersions($('versions'), $('arm'), versionViews(now, serverVersions), now);
  renderDrift($<HTMLOListElement>('drift'), session.drifts);
  renderOutbox($('outbox'), now);
  chart.update(session.series);
}

async function showSlate(): Promise<void> {
  current = await session.slate();
  const slate = current;
  renderFeed(
    $<HTMLOListElement>('feed'),
    slate.items.map((index, k) => ({ index, item: world.items[index], score: slate.scores[k] })),
    (index) => void react(slate, index),
  );
  document.body.dataset.ready = 'true';
  if (simulate.checked) requestAnimationFrame(() => void react(slate));
}

/** One round's reactions; a click while the previous round is still being learned waits. */
async function react(slate: Slate, clicked?: number): Promise<void> {
  if (busy || slate !== current) return;
  busy = true;
  try {
    await session.react(slate, clicked);
    await render();
  } finally {
    busy = false;
  }
  await showSlate();
}

$('step').addEventListener('click', () => current && void react(current, -1));
$('shift').addEventListener('click', () => {
  session.shiftTaste(current?.versionId ?? '');
  renderDrift($<HTMLOListElement>('drift'), session.drifts);
});
simulate.addEventListener('change', () => simulate.checked && current && void react(current));

function showConnection(): void {
  $('connection').textContent = navigator.onLine
    ? 'Online.'
    : 'Offline: the learner keeps predicting and learning; metric windows wait in the outbox.';
}
// Back online, the reporter's next retry (at most 10 s away, see `backoff`) sends what waited.
window.addEventListener('online', showConnection);
window.addEventListener('offline', showConnection);
showConnection();

/** For tests and the console: the learner's scores for catalog items, in the given order. */
(window as unknown as { localfitDemo: unknown }).localfitDemo = {
  async score(items: number[]): Promise<number[]> {
    const { scores } = await learner.predict(items.map((i) => catalogExample(world.catalog, i)));
    return Array.from(scores);
  },
};

const operator = config ? new Operator(config) : undefined;
setupOperator(operator);
await refreshServer(operator);
await render();
await showSlate();
setInterval(() => void refreshServer(operator).then(() => render()), 2_000);

function setupOperator(operator: Operator | undefined): void {
  const buttons = ['publish', 'ramp', 'promote', 'rollback'].map((id) => $<HTMLButtonElement>(id));
  if (!operator) {
    for (const button of buttons) button.disabled = true;
    $<HTMLInputElement>('weight').disabled = true;
    $('operator-hint').textContent =
      'Needs the sync server: start the demo with `npm start` to drive a rollout from here.';
    return;
  }
  const weight = () => Math.min(1, Math.max(0, Number($<HTMLInputElement>('weight').value) / 100));
  /** The staged version, else production: what ramp, promote and roll back act on. */
  const target = () =>
    serverVersions?.find((v) => v.status === 'staging') ??
    serverVersions?.find((v) => v.status === 'production');
  const act = (label: string, run: () => Promise<AdminVersion | undefined>) => async () => {
    for (const button of buttons) button.disabled = true;
    try {
      const version = await run();
      logLine(
        operatorLog,
        version
          ? `${label}: ${version.id} (${version.semver}) is ${version.status}, weight ${Math.round(version.weight * 100)}%`
          : `${label}: nothing to act on`,
      );
      await refreshServer(operator);
      // The server pushes the new manifest too; asking now makes the device act at once.
      await learner.checkForUpdates();
      await render();
    } catch (error) {
      logLine(
        operatorLog,
        `${label} failed: ${error instanceof Error ? error.message : String(error)}`,
      );
    } finally {
      for (const button of buttons) button.disabled = false;
    }
  };
  const onTarget = (label: string, action: (id: string) => Promise<AdminVersion>) =>
    act(label, async () => {
      const version = target();
      return version ? action(version.id) : undefined;
    });
  $('publish').addEventListener(
    'click',
    act('Staged', () => operator.stageVariant(weight())),
  );
  $('ramp').addEventListener(
    'click',
    onTarget('Ramped', (id) => operator.ramp(id, weight())),
  );
  $('promote').addEventListener(
    'click',
    onTarget('Promoted', (id) => operator.promote(id)),
  );
  $('rollback').addEventListener(
    'click',
    onTarget('Rolled back', (id) => operator.rollback(id)),
  );
}
