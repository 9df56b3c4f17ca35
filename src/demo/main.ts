// The demo page: a feed ranked by the on-device learner, learning from each click. Until the
// project ships a trained demo model, the page builds a small seeded backbone on the fly.
import { makeTestBackbone } from '../../models/testing.ts';
import type { Example } from '../client/index.ts';
import { createLearner } from '../client/index.ts';

const ITEMS_PER_ROUND = 6;
const WINDOW = 20;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const feed = $<HTMLOListElement>('feed');
const status = $<HTMLParagraphElement>('status');
const simulate = $<HTMLInputElement>('simulate');

const random = (() => {
  let state = 12345;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 4294967296;
  };
})();
const vector = (size: number) => Array.from({ length: size }, () => random() * 2 - 1);

// A simulated person with hidden tastes over the items' features.
const taste = vector(8);
const appeal = (example: Example) =>
  Array.from(example.item).reduce((sum, value, i) => sum + value * taste[i], 0);

const backbone = makeTestBackbone({ seed: 1, contextSize: 0, embedding: 8, hidden: 16 });
const learner = await createLearner({ model: { bytes: backbone.bytes } });
status.textContent = `Model ${learner.spec.output.size}-d embedding loaded; learning on this device.`;

let round = 0;
const hits: number[] = [];

async function showRound(): Promise<void> {
  const items: Example[] = Array.from({ length: ITEMS_PER_ROUND }, () => ({ item: vector(8) }));
  const { scores } = await learner.predict(items);
  const order = items.map((_, i) => i).sort((a, b) => scores[b] - scores[a]);
  feed.replaceChildren(
    ...order.map((index, rank) => {
      const li = document.createElement('li');
      const button = document.createElement('button');
      button.type = 'button';
      button.innerHTML = `<span>Item ${round * ITEMS_PER_ROUND + index + 1}</span><span class="score">${(scores[index] * 100).toFixed(0)}%</span>`;
      button.setAttribute(
        'aria-label',
        `Choose item ranked ${rank + 1}, predicted ${(scores[index] * 100).toFixed(0)} percent`,
      );
      button.addEventListener('click', () => void choose(items, order, index));
      li.append(button);
      return li;
    }),
  );
  if (simulate.checked) {
    const best = items.reduce((top, item, i) => (appeal(item) > appeal(items[top]) ? i : top), 0);
    requestAnimationFrame(() => void choose(items, order, best));
  }
}

async function choose(items: Example[], order: number[], chosen: number): Promise<void> {
  hits.push(order[0] === chosen ? 1 : 0);
  await Promise.all(items.map((item, i) => learner.observe(item, i === chosen ? 1 : 0)));
  round++;
  await render();
  await showRound();
}

async function render(): Promise<void> {
  const stats = await learner.stats();
  const recent = hits.slice(-WINDOW);
  const share = recent.length ? recent.reduce((a, b) => a + b, 0) / recent.length : 0;
  $('stats').innerHTML = [
    ['Rounds', round],
    ['Outcomes learned', stats.observed],
    ['Clicked item ranked first (last 20)', `${(share * 100).toFixed(0)}%`],
    ['Model version', `${stats.versionId.slice(0, 12)}…`],
  ]
    .map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`)
    .join('');
  const points = hits.map((_, i) => {
    const window = hits.slice(Math.max(0, i - WINDOW + 1), i + 1);
    const y = window.reduce((a, b) => a + b, 0) / window.length;
    return `${(i / Math.max(1, hits.length - 1)) * 300},${100 - y * 100}`;
  });
  $('chart').innerHTML =
    `<polyline fill="none" stroke="#2f5bd3" stroke-width="2" vector-effect="non-scaling-stroke" points="${points.join(' ')}"/>`;
}

$('step').addEventListener('click', () => void showRound());
simulate.addEventListener('change', () => simulate.checked && void showRound());
await render();
await showRound();
