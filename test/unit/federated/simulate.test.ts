// The fleet simulation (models/federated/simulate.ts) on a small generated world: the items'
// embeddings are random, the users' outcomes follow a logistic model the base head does not
// know (it was fitted on a world where part of the taste was the other way round), so the
// fleet has something to teach. Seeded: every figure below is the same on every run.
import { describe, expect, test } from 'vitest';
import { federatedPlot } from '../../../models/federated/bench.ts';
import {
  epsilonSeries,
  type FederatedContext,
  federatedReport,
} from '../../../models/federated/movielens.ts';
import {
  centralHead,
  type DeviceStream,
  evaluateHead,
  planRounds,
  simulateFederated,
  sliceTimes,
} from '../../../models/federated/simulate.ts';
import { epsilonOf } from '../../../src/federated/accountant.ts';
import { seededRandom } from '../../../src/federated/contribution.ts';
import { createHead } from '../../../src/learn/index.ts';
import type { HeadState } from '../../../src/learn/types.ts';

const DIM = 6;
const ITEMS = 200;

function world(seed: number) {
  const random = seededRandom(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const features = Float64Array.from({ length: ITEMS * DIM }, normal);
  const truth = [1, -1, 0.5, 0.8, -0.6, 0.3];
  const bias = -0.2;
  const user = (id: number, count: number, start: number): DeviceStream & { times: number[] } => {
    const items: number[] = [];
    const labels: number[] = [];
    const times: number[] = [];
    const own = normal() * 0.5; // the user's own bias: what per-device learning also picks up
    for (let t = 0; t < count; t++) {
      const item = Math.floor(random() * ITEMS);
      let z = bias + own;
      for (let j = 0; j < DIM; j++) z += truth[j] * features[item * DIM + j];
      items.push(item);
      labels.push(random() < 1 / (1 + Math.exp(-z)) ? 1 : 0);
      times.push(start + t + random());
    }
    return { user: id, items, labels, times };
  };
  const fleet = Array.from({ length: 200 }, (_, u) => user(u, 20 + (u % 30), u * 10));
  const heldOut = Array.from({ length: 60 }, (_, u) => user(1000 + u, 40, 5000 + u));
  // The base head: the first three weights are right, the rest reversed (an older taste).
  const base = createHead({ task: 'binary', dim: DIM, optimizer: { kind: 'sgd' } }).exportState();
  base.weights.set([1, -1, 0.5, -0.8, 0.6, -0.3]);
  base.intercepts[0] = bias;
  base.t = 5000;
  return { embedded: { features, dim: DIM }, fleet, heldOut, base };
}

const noHistory = { item: new Int32Array(0), label: new Uint8Array(0) };

describe('federated simulation', () => {
  const w = world(11);
  const staticFigures = evaluateHead(w.base, w.embedded, w.heldOut);

  test('the federated head beats the static one at ε = 8, and every field is there', () => {
    const run = simulateFederated(w.base, w.embedded, w.fleet, { epsilon: 8, seed: 3 });
    const figures = evaluateHead(run.head, w.embedded, w.heldOut);
    const central = evaluateHead(
      centralHead(w.embedded, noHistory, w.fleet),
      w.embedded,
      w.heldOut,
    );
    expect(figures.pooledAuc).toBeGreaterThan(staticFigures.pooledAuc + 0.02);
    expect(figures.userAuc).toBeGreaterThan(staticFigures.userAuc);
    // At least halfway from static to central, as the floor asks on MovieLens.
    expect(figures.pooledAuc - staticFigures.pooledAuc).toBeGreaterThanOrEqual(
      0.5 * (central.pooledAuc - staticFigures.pooledAuc),
    );
    expect(run.options.rounds).toBe(planRounds(8, 1e-5, w.fleet.length, DIM));
    expect(run.rounds).toHaveLength(run.options.rounds);
    expect(run.noiseMultiplier).toBeGreaterThan(0);
    // The accountant's ε over the rounds that ran is within the budget, and is what the
    // accountant says for those rounds.
    expect(run.epsilon).toBeLessThanOrEqual(8);
    expect(run.epsilon).toBeCloseTo(
      epsilonOf(
        { samplingRate: 1, noiseMultiplier: run.noiseMultiplier, steps: run.rounds.length },
        1e-5,
      ),
      10,
    );
    for (const round of run.rounds) {
      expect(round.applied).toBe(true);
      expect(round.clients).toBeGreaterThan(0);
      expect(round.clients).toBeLessThanOrEqual(round.active);
      expect(round.noiseStd).toBeCloseTo(
        (run.noiseMultiplier * run.options.clip) / round.clients,
        12,
      );
    }
    expect(figures.ondevice.pooledAuc).toBeGreaterThan(0.5);
  });

  test('seeded: the same run twice gives the same head; another seed, other noise', () => {
    const a = simulateFederated(w.base, w.embedded, w.fleet, { epsilon: 4, seed: 5 });
    const b = simulateFederated(w.base, w.embedded, w.fleet, { epsilon: 4, seed: 5 });
    const c = simulateFederated(w.base, w.embedded, w.fleet, { epsilon: 4, seed: 6 });
    expect(Array.from(a.head.weights)).toEqual(Array.from(b.head.weights));
    expect(Array.from(a.head.weights)).not.toEqual(Array.from(c.head.weights));
  });

  test('less budget, more noise: z falls as ε grows, and without noise ε is infinite', () => {
    const runs = [1, 8].map((epsilon) =>
      simulateFederated(w.base, w.embedded, w.fleet, { epsilon, rounds: 2 }),
    );
    expect(runs[0].noiseMultiplier).toBeGreaterThan(runs[1].noiseMultiplier);
    const free = simulateFederated(w.base, w.embedded, w.fleet, {
      epsilon: Number.POSITIVE_INFINITY,
      rounds: 2,
    });
    expect(free.noiseMultiplier).toBe(0);
    expect(free.epsilon).toBe(Number.POSITIVE_INFINITY);
    expect(free.rounds.every((round) => round.noiseStd === 0)).toBe(true);
  });

  test('rounds are chronological slices with equally many outcomes; k gates contributions', () => {
    const edges = sliceTimes(w.fleet, 4);
    const times = w.fleet.flatMap((device) => device.times);
    const counts = [0, 1, 2, 3].map(
      (r) => times.filter((t) => t >= edges[r] && t < edges[r + 1]).length,
    );
    expect(counts.reduce((s, n) => s + n, 0)).toBe(times.length);
    for (const n of counts) expect(Math.abs(n - times.length / 4)).toBeLessThanOrEqual(1);
    // k above every device's outcome count: nobody contributes, nothing is applied or spent.
    const none = simulateFederated(w.base, w.embedded, w.fleet, { rounds: 1, minOutcomes: 1000 });
    expect(none.rounds[0]).toMatchObject({ clients: 0, applied: false });
    expect(none.epsilon).toBe(0);
    expect(Array.from(none.head.weights)).toEqual(Array.from(w.base.weights));
  });

  test('device-side noise (local DP) costs accuracy against the same rounds without it', () => {
    const options = { epsilon: 8, rounds: 1, seed: 2 } as const;
    const central = simulateFederated(w.base, w.embedded, w.fleet, options);
    const local = simulateFederated(w.base, w.embedded, w.fleet, {
      ...options,
      localNoise: 4 * central.noiseMultiplier,
    });
    const gain = (head: HeadState) =>
      evaluateHead(head, w.embedded, w.heldOut).pooledAuc - staticFigures.pooledAuc;
    expect(gain(local.head)).toBeLessThan(gain(central.head));
  });

  test('planRounds: more budget or more devices afford more rounds, never fewer than one', () => {
    expect(planRounds(8, 1e-5, 70, 39)).toBe(3);
    expect(planRounds(4, 1e-5, 70, 39)).toBe(2);
    expect(planRounds(1, 1e-5, 70, 39)).toBe(1);
    expect(planRounds(0.1, 1e-5, 70, 39)).toBe(1);
    expect(planRounds(8, 1e-5, 7000, 39)).toBeGreaterThan(planRounds(8, 1e-5, 70, 39));
    // Without noise, the rounds are bounded by the devices each needs (and by the most planned).
    expect(planRounds(Number.POSITIVE_INFINITY, 1e-5, 70, 39)).toBe(3);
    expect(planRounds(Number.POSITIVE_INFINITY, 1e-5, 10_000, 39)).toBe(8);
    expect(planRounds(8, 1e-5, 30, 39)).toBe(1);
  });

  test('the ε series the benchmark plots, and the report beside it', () => {
    const context: FederatedContext = {
      base: w.base,
      embedded: w.embedded,
      history: noHistory,
      fleet: w.fleet,
      heldOut: w.heldOut.map((u) => ({
        user: u.user,
        items: Int32Array.from(u.items),
        labels: Uint8Array.from(u.labels),
      })),
      splitTime: 5000,
    };
    const series = epsilonSeries(context, [1, 8, Number.POSITIVE_INFINITY], {}, [1, 2]);
    expect(series.map((p) => p.epsilon)).toEqual([1, 8, Number.POSITIVE_INFINITY]);
    expect(series[0].noiseMultiplier).toBeGreaterThan(series[1].noiseMultiplier);
    expect(series[2].noiseMultiplier).toBe(0);
    for (const p of series) {
      expect(p.pooledAucMin).toBeLessThanOrEqual(p.pooledAuc);
      expect(p.pooledAucMax).toBeGreaterThanOrEqual(p.pooledAuc);
      expect(p.pooledAuc).toBeGreaterThan(staticFigures.pooledAuc);
    }
    expect(series[0].localDpPooledAuc).toBeTypeOf('number');
    expect(series[2].localDpPooledAuc).toBeUndefined();
    const report = federatedReport(context, { epsilon: 8 });
    expect(report.federated.run.epsilon).toBeLessThanOrEqual(8);
    expect(report.localDp?.run.options.localNoise).toBe(report.federated.run.noiseMultiplier);
    expect(report.bootstrap.central.se).toBeGreaterThan(0);
    expect(report.shareOfGap).toBeGreaterThan(0.5);
    const svg = federatedPlot(report, series);
    for (const name of ['federated (DP-FedAvg)', 'central retrain', 'static server model'])
      expect(svg).toContain(name);
  });
});
