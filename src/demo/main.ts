// The demo page: a feed from the demo catalog, ranked by the on-device learner, which learns
// from every reaction. The model, its initial head and the catalog are the project's own
// (`npm run models` rebuilds them into public/models/demo/); the simulated person is the same
// seeded world the model was trained on (models/demo/world.ts), with tastes the model never sees.
import { createWorld, DEMO_ITEMS, DEMO_SEED, SimulatedUser } from '../../models/demo/world.ts';
import { catalogExample } from '../../models/train/examples.ts';
import type { HeadJson } from '../learn/head_json.ts';
import { headFromJson } from '../learn/head_json.ts';
import { createLearner } from '../client/index.ts';

const FEED_SIZE = 8;
const WINDOW = 50;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const feed = $<HTMLOListElement>('feed');
const status = $<HTMLParagraphElement>('status');
const simulate = $<HTMLInputElement>('simulate');

const world = createWorld(DEMO_SEED, DEMO_ITEMS);
const person = new SimulatedUser(world, Date.now() % 1_000_000);
const head = headFromJson((await (await fetch('/models/demo/head.json')).json()) as HeadJson);
const learner = await createLearner({
  model: { url: '/models/demo/model.onnx' },
  head,
  scale: false,
  store: { name: 'localfit-demo' },
});
status.textContent = 'Model loaded; learning on this device.';

/** 1 when the learner's call (score ≥ 0.5) matched the reaction, per observed reaction. */
const hits: number[] = [];
let rounds = 0;

async function showRound(): Promise<void> {
  const shown = new Set<number>();
  while (shown.size < FEED_SIZE) shown.add(person.pick());
  const items = [...shown];
  const { scores } = await learner.predict(items.map((i) => catalogExample(world.catalog, i)));
  const order = items.map((_, k) => k).sort((a, b) => scores[b] - scores[a]);
  feed.replaceChildren(
    ...order.map((k, rank) => {
      const item = world.items[items[k]];
      const li = document.createElement('li');
      const button = document.createElement('button');
      button.type = 'button';
      const title = document.createElement('span');
      title.textContent = `${item.title} (${item.year}) · ${item.genres.join(', ')}`;
      const score = document.createElement('span');
      score.className = 'score';
      score.textContent = `${Math.round(scores[k] * 100)}%`;
      button.append(title, score);
      button.setAttribute(
        'aria-label',
        `Like ${item.title}, ranked ${rank + 1}, predicted ${Math.round(scores[k] * 100)} percent`,
      );
      button.addEventListener('click', () => void react(items, scores, items[k]));
      li.append(button);
      return li;
    }),
  );
  if (simulate.checked) requestAnimationFrame(() => void react(items, scores));
}

/** Learns from one round: the liked item (a click, or the simulated person's likes) and skips. */
async function react(items: number[], scores: Float32Array, clicked?: number): Promise<void> {
  const liked = items.map((i) => (clicked === undefined ? person.react(i) : i === clicked ? 1 : 0));
  for (const [k, label] of liked.entries()) hits.push((scores[k] >= 0.5 ? 1 : 0) === label ? 1 : 0);
  await Promise.all(
    items.map((i, k) => learner.observe(catalogExample(world.catalog, i), liked[k])),
  );
  rounds++;
  await render();
  await showRound();
}

async function render(): Promise<void> {
  const stats = await learner.stats();
  const recent = hits.slice(-WINDOW);
  const accuracy = recent.length ? recent.reduce((a, b) => a + b, 0) / recent.length : 0;
  const rows: [string, string][] = [
    ['Rounds', String(rounds)],
    ['Reactions learned (this device, all visits)', String(stats.lastSeq)],
    [`Prequential accuracy (last ${WINDOW})`, `${Math.round(accuracy * 100)}%`],
    ['Model version', `${stats.versionId.slice(0, 12)}…`],
  ];
  $('stats').replaceChildren(
    ...rows.flatMap(([term, value]) => {
      const dt = document.createElement('dt');
      dt.textContent = term;
      const dd = document.createElement('dd');
      dd.textContent = value;
      return [dt, dd];
    }),
  );
  const step = Math.max(1, Math.floor(hits.length / 300));
  const points: string[] = [];
  for (let i = step - 1; i < hits.length; i += step) {
    const window = hits.slice(Math.max(0, i - WINDOW + 1), i + 1);
    const y = window.reduce((a, b) => a + b, 0) / window.length;
    points.push(`${(i / Math.max(1, hits.length - 1)) * 300},${100 - y * 100}`);
  }
  $('chart').innerHTML =
    `<polyline fill="none" stroke="#2f5bd3" stroke-width="2" vector-effect="non-scaling-stroke" points="${points.join(' ')}"/>`;
}

$('step').addEventListener('click', () => void showRound());
$('shift').addEventListener('click', () => person.shift());
simulate.addEventListener('change', () => simulate.checked && void showRound());
await render();
await showRound();
