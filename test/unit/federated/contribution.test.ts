import { describe, expect, test } from 'vitest';
import { aggregate, applyDelta } from '../../../src/federated/aggregate.ts';
import {
  clipDelta,
  contribution,
  deltaNorm,
  FederatedError,
  foldScaler,
  gaussian,
  headDelta,
  linearHead,
  seededRandom,
} from '../../../src/federated/contribution.ts';
import { createHead, restoreHead, StandardScaler, seedHead } from '../../../src/learn/index.ts';
import { takesPart } from '../../../src/protocol/federated.ts';

function trainedSingle(seed: number, n = 200) {
  const random = seededRandom(seed);
  const head = createHead({ task: 'binary', dim: 3, optimizer: { kind: 'sgd' } });
  for (let i = 0; i < n; i++) {
    const x = [random() * 2 - 1, random() * 2 - 1, random()];
    head.partialFit(x, x[0] + 0.5 * x[1] > 0 ? 1 : 0);
  }
  return head;
}

describe('headDelta', () => {
  test('a head that learned nothing has a zero delta; a single head its own difference', () => {
    const base = trainedSingle(1);
    const state = base.exportState();
    const same = headDelta(state, state);
    expect(deltaNorm(same)).toBe(0);
    const device = restoreHead(state);
    device.partialFit([1, 0, 0], 0);
    const delta = headDelta(device.exportState(), state);
    const after = device.exportState();
    expect(Array.from(delta.weights)).toEqual(
      Array.from(after.weights, (w, i) => w - state.weights[i]),
    );
    expect(delta.intercepts[0]).toBe(after.intercepts[0] - state.intercepts[0]);
  });

  test('a mixture seeded from the base starts at a zero delta and contributes the π-weighted average', () => {
    const base = trainedSingle(2).exportState();
    const device = seedHead(base);
    expect(deltaNorm(headDelta(device.exportState(), base))).toBeCloseTo(0, 12);
    for (let i = 0; i < 50; i++) device.partialFit([1, -1, 0.5], 1);
    const state = device.exportState();
    const linear = linearHead(state);
    const pi = device.candidates();
    expect(pi.length).toBe(2);
    const w0 = state.scalars['0.weight'];
    const w1 = state.scalars['1.weight'];
    expect(linear.weights[0]).toBeCloseTo(
      (w0 * state.weights[0] + w1 * state.weights[3]) / (w0 + w1),
      12,
    );
    // The averaged linear head scores close to the mixture it stands for.
    const x = [0.3, -0.2, 0.4];
    const z = linear.weights.reduce((s, w, j) => s + w * x[j], linear.intercepts[0]);
    expect(1 / (1 + Math.exp(-z))).toBeCloseTo(device.score(x), 2);
    expect(deltaNorm(headDelta(state, base))).toBeGreaterThan(0);
  });

  test('the scaler folds into the weights exactly', () => {
    const random = seededRandom(3);
    const scaler = new StandardScaler(3);
    const head = createHead({ task: 'binary', dim: 3, optimizer: { kind: 'sgd' } });
    const z = new Float64Array(3);
    for (let i = 0; i < 300; i++) {
      const x = [100 + 10 * random(), random() * 0.01, 7];
      scaler.transform(x, z);
      head.partialFit(z, x[0] > 105 ? 1 : 0);
      scaler.learn(x);
    }
    const folded = foldScaler(linearHead(head.exportState()), scaler.exportState());
    expect(folded.weights[2]).toBe(0); // a constant feature, which the scaler maps to 0
    const x = [103, 0.004, 7];
    const raw = folded.weights.reduce((s, w, j) => s + w * x[j], folded.intercepts[0]);
    expect(1 / (1 + Math.exp(-raw))).toBeCloseTo(head.score(scaler.transform(x)), 10);
  });

  test('shapes must agree', () => {
    const a = createHead({ task: 'binary', dim: 3, optimizer: { kind: 'sgd' } }).exportState();
    const b = createHead({ task: 'binary', dim: 4, optimizer: { kind: 'sgd' } }).exportState();
    expect(() => headDelta(a, b)).toThrow(FederatedError);
  });
});

describe('clip and noise', () => {
  test('clipping scales to the clip norm and leaves shorter deltas alone', () => {
    const long = { weights: Float64Array.of(3, 4), intercepts: Float64Array.of(0) };
    expect(deltaNorm(clipDelta(long, 1))).toBeCloseTo(1, 12);
    expect(Array.from(clipDelta(long, 1).weights)).toEqual([0.6000000000000001, 0.8]);
    expect(Array.from(clipDelta(long, 10).weights)).toEqual([3, 4]);
    expect(() => clipDelta(long, 0)).toThrow(/clip/);
  });

  test('contribution clips, and local noise has the asked spread', () => {
    const base = createHead({ task: 'binary', dim: 3, optimizer: { kind: 'sgd' } }).exportState();
    const device = trainedSingle(4).exportState();
    const plain = contribution(device, base, { clip: 0.1 });
    expect(plain.rawNorm).toBeGreaterThan(0.1);
    expect(plain.norm).toBeCloseTo(0.1, 12);
    const noisy = contribution(device, base, {
      clip: 0.1,
      localNoise: 1,
      random: seededRandom(5),
    });
    expect(noisy.localNoise).toBe(1);
    expect(noisy.norm).not.toBeCloseTo(0.1, 3);
  });

  test('the Gaussian sampler has mean 0 and variance 1', () => {
    const random = seededRandom(9);
    let sum = 0;
    let sumSq = 0;
    const n = 20000;
    for (let i = 0; i < n; i++) {
      const g = gaussian(random);
      sum += g;
      sumSq += g * g;
    }
    expect(Math.abs(sum / n)).toBeLessThan(0.03);
    expect(Math.abs(sumSq / n - 1)).toBeLessThan(0.04);
  });
});

describe('aggregate', () => {
  test('without noise it is the mean of the clipped deltas', () => {
    const result = aggregate(
      [
        { weights: [0.3, 0], intercepts: [0] },
        { weights: [0.1, 0], intercepts: [0.2] },
        { weights: [30, 40], intercepts: [0] }, // clipped to norm 1: (0.6, 0.8)
      ],
      { clip: 1, noiseMultiplier: 0 },
    );
    expect(result.n).toBe(3);
    expect(result.noiseStd).toBe(0);
    expect(result.mean.weights[0]).toBeCloseTo(1 / 3, 12);
    expect(result.mean.weights[1]).toBeCloseTo(0.8 / 3, 12);
    expect(result.mean.intercepts[0]).toBeCloseTo(0.2 / 3, 12);
  });

  test('the noise has standard deviation z·clip/n (seeded, so reproducible)', () => {
    const n = 50;
    const width = 4000;
    const deltas = Array.from({ length: n }, () => ({
      weights: new Array(width).fill(0),
      intercepts: [0],
    }));
    const options = { clip: 2, noiseMultiplier: 1.5, random: seededRandom(11) };
    const result = aggregate(deltas, options);
    expect(result.noiseStd).toBeCloseTo((1.5 * 2) / n, 12);
    const values = result.mean.weights;
    const variance = values.reduce((s, v) => s + v * v, 0) / values.length;
    expect(Math.abs(Math.sqrt(variance) / result.noiseStd - 1)).toBeLessThan(0.04);
    const again = aggregate(deltas, { ...options, random: seededRandom(11) });
    expect(again.mean.weights).toEqual(result.mean.weights);
  });

  test('applyDelta moves the base head and keeps its optimizer state', () => {
    const base = trainedSingle(6).exportState();
    const moved = applyDelta(base, { weights: [1, 0, 0], intercepts: [0.5] }, 0.5);
    expect(moved.weights[0]).toBeCloseTo(base.weights[0] + 0.5, 12);
    expect(moved.intercepts[0]).toBeCloseTo(base.intercepts[0] + 0.25, 12);
    expect(moved.t).toBe(base.t);
    expect(() => restoreHead(moved)).not.toThrow();
    expect(() => applyDelta(base, { weights: [1, 2], intercepts: [0] })).toThrow(FederatedError);
  });

  test('mismatched shapes are refused', () => {
    expect(() =>
      aggregate(
        [
          { weights: [1], intercepts: [0] },
          { weights: [1, 2], intercepts: [0] },
        ],
        { clip: 1, noiseMultiplier: 1 },
      ),
    ).toThrow(FederatedError);
  });
});

describe('takesPart', () => {
  test('samples about q of the installs, independently per round', () => {
    const ids = Array.from({ length: 4000 }, (_, i) => `install-${i}`);
    const r1 = ids.filter((id) => takesPart('r1', id, 0.25));
    const r2 = new Set(ids.filter((id) => takesPart('r2', id, 0.25)));
    expect(r1.length / ids.length).toBeGreaterThan(0.22);
    expect(r1.length / ids.length).toBeLessThan(0.28);
    const both = r1.filter((id) => r2.has(id)).length;
    expect(both / ids.length).toBeGreaterThan(0.04);
    expect(both / ids.length).toBeLessThan(0.085);
    expect(ids.every((id) => takesPart('r1', id, 1))).toBe(true);
  });
});
