import { describe, expect, test } from 'vitest';
import { createHead } from '../../../src/learn/index.ts';
import { createSchedule } from '../../../src/learn/optim/schedules.ts';
import type { Head, HeadConfig } from '../../../src/learn/types.ts';
import { accuracy, separable } from './helpers.ts';

/** 3 informative features followed by 7 pure-noise ones. */
const sparseTrain = separable(6000, 21, [1, -2, 0.5], 7);
const sparseTest = separable(1000, 22, [1, -2, 0.5], 7);

function trainSparse(config: Omit<HeadConfig, 'task' | 'dim'>): Head {
  const head = createHead({ task: 'binary', dim: sparseTrain.d, ...config });
  head.partialFitMany(sparseTrain.xs, sparseTrain.ys);
  return head;
}

function zeros(head: Head): boolean[] {
  return Array.from(head.exportState().weights, (w) => w === 0);
}

const informativeKept = [false, false, false];
const noiseZeroed = Array(7).fill(true);

describe('L1 yields exact zeros on noise features and keeps the signal', () => {
  test('FTRL-Proximal (λ1 on the accumulated objective)', () => {
    // λ1 must beat the noise features' accumulated gradient, a random walk of ~sqrt(n) steps.
    const head = trainSparse({ l1: 20, l2: 0, optimizer: { kind: 'ftrl' } });
    expect(zeros(head)).toEqual([...informativeKept, ...noiseZeroed]);
    expect(accuracy((x) => head.predict(x), sparseTest)).toBeGreaterThanOrEqual(0.95);
  });

  test('SGD with the cumulative penalty', () => {
    const head = trainSparse({
      l1: 2e-3,
      l2: 0,
      optimizer: { kind: 'sgd', schedule: 'constant', eta0: 0.05 },
    });
    expect(zeros(head)).toEqual([...informativeKept, ...noiseZeroed]);
    expect(accuracy((x) => head.predict(x), sparseTest)).toBeGreaterThanOrEqual(0.95);
  });

  test('AdaGrad’s soft-threshold step zeroes a weight whose gradients stay below l1', () => {
    // Composite mirror descent thresholds each step, so a zero only sticks while the
    // coordinate's per-example gradient is below l1 (here: a feature that is almost always 0).
    const head = createHead({
      task: 'binary',
      dim: 2,
      l1: 0.05,
      l2: 0,
      optimizer: { kind: 'adagrad' },
    });
    const data = separable(3000, 23, [1]);
    for (let i = 0; i < data.ys.length; i++) {
      const rare = i % 500 === 0 ? 0.5 : 0;
      head.partialFit([data.row(i)[0], rare], data.ys[i]);
    }
    const w = head.exportState().weights;
    expect(w[0]).toBeGreaterThan(1);
    expect(w[1]).toBe(0);
  });

  test('AdaGrad’s L1 shrinks noise weights', () => {
    const noise = (head: Head) => Math.max(...head.exportState().weights.slice(3).map(Math.abs));
    const plain = trainSparse({ l1: 0, l2: 0, optimizer: { kind: 'adagrad' } });
    const lasso = trainSparse({ l1: 0.01, l2: 0, optimizer: { kind: 'adagrad' } });
    expect(noise(lasso)).toBeLessThan(noise(plain) / 2);
    expect(accuracy((x) => lasso.predict(x), sparseTest)).toBeGreaterThanOrEqual(0.95);
  });

  test.each([
    ['FTRL', { kind: 'ftrl' }],
    ['SGD', { kind: 'sgd', schedule: 'constant', eta0: 0.05 }],
    ['AdaGrad', { kind: 'adagrad' }],
  ] as const)('without L1, %s leaves no weight exactly zero', (_name, optimizer) => {
    expect(zeros(trainSparse({ l1: 0, optimizer })).some(Boolean)).toBe(false);
  });
});

test('FTRL weights are the closed form of Algorithm 1 applied to z and n', () => {
  const l1 = 0.5;
  const l2 = 0.25;
  const alpha = 0.2;
  const beta = 1;
  const head = trainSparse({ l1, l2, optimizer: { kind: 'ftrl', alpha, beta } });
  const { weights, slots } = head.exportState();
  for (let i = 0; i < weights.length; i++) {
    const z = slots.z[i];
    const expected =
      Math.abs(z) <= l1
        ? 0
        : -(z - Math.sign(z) * l1) / ((beta + Math.sqrt(slots.n[i])) / alpha + l2);
    expect(weights[i]).toBeCloseTo(expected, 14);
  }
  // n is the sum of squared gradients, so it only grows and is positive once a feature is seen.
  expect(slots.n.every((n) => n > 0)).toBe(true);
});

test('AdaGrad accumulates squared gradients per coordinate', () => {
  const head = createHead({ task: 'regression', dim: 2, l2: 0, optimizer: { kind: 'adagrad' } });
  head.partialFit([2, 0], 1); // gradient of ½(0 − 1)² is −1, so g = −x
  expect([...head.exportState().slots.g2]).toEqual([4, 0]);
  expect([...head.exportState().slots.g2Intercept]).toEqual([1]);
});

describe('SGD schedules follow scikit-learn’s definitions', () => {
  test('constant', () => {
    const s = createSchedule({ schedule: 'constant', eta0: 0.3, powerT: 0.5 }, 1e-4);
    expect([s.eta(1), s.eta(1000)]).toEqual([0.3, 0.3]);
  });

  test('invscaling: eta0 / t^powerT', () => {
    const s = createSchedule({ schedule: 'invscaling', eta0: 0.01, powerT: 0.25 }, 1e-4);
    expect(s.eta(1)).toBe(0.01);
    expect(s.eta(16)).toBeCloseTo(0.005, 15);
    expect(s.eta(10000)).toBeCloseTo(0.001, 15);
  });

  test('optimal: starts at typw = α^(−1/4) and then decays as 1 / (α·(t0 + t − 1))', () => {
    for (const alpha of [1e-4, 1e-2]) {
      const s = createSchedule({ schedule: 'optimal', eta0: 0, powerT: 0.5 }, alpha);
      expect(s.eta(1)).toBeCloseTo(alpha ** -0.25, 10);
      // 1/η grows by exactly α per update.
      expect(1 / s.eta(101) - 1 / s.eta(100)).toBeCloseTo(alpha, 10);
    }
  });

  test('optimal needs a positive regularisation strength', () => {
    expect(() => createSchedule({ schedule: 'optimal', eta0: 0, powerT: 0.5 }, 0)).toThrow(
      expect.objectContaining({ code: 'BAD_CONFIG' }),
    );
  });
});

describe('AdaGrad and FTRL converge', () => {
  test.each([
    ['AdaGrad', { kind: 'adagrad' }],
    ['FTRL', { kind: 'ftrl' }],
  ] as const)('%s: the loss on held-out data falls as it learns', (_name, optimizer) => {
    const head = createHead({ task: 'binary', dim: sparseTrain.d, optimizer });
    const heldOut = (h: Head) => {
      let sum = 0;
      for (let i = 0; i < sparseTest.ys.length; i++)
        sum += h.loss(sparseTest.row(i), sparseTest.ys[i]);
      return sum / sparseTest.ys.length;
    };
    const losses = [heldOut(head)];
    for (const n of [200, 1000, 6000]) {
      const fresh = createHead({ task: 'binary', dim: sparseTrain.d, optimizer });
      fresh.partialFitMany(
        sparseTrain.xs.subarray(0, n * sparseTrain.d),
        sparseTrain.ys.slice(0, n),
      );
      losses.push(heldOut(fresh));
    }
    for (let i = 1; i < losses.length; i++) expect(losses[i]).toBeLessThan(losses[i - 1]);
    expect(losses[0]).toBeCloseTo(Math.log(2), 12); // zero weights: p = ½ everywhere
    expect(losses.at(-1)).toBeLessThan(0.15);
  });
});
