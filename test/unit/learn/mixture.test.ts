/**
 * The default head (src/learn/mixture/): exponential weights over candidate heads, seeded by a
 * server head, exported and restored exactly (state.test.ts covers resume bit for bit).
 */
import { describe, expect, test } from 'vitest';
import { Prequential } from '../../../models/cli/prequential.ts';
import { suite } from '../../../models/streams/suite.ts';
import { isLearnerError } from '../../../src/errors.ts';
import { createHead, restoreHead, seedHead } from '../../../src/learn/index.ts';
import { ExponentialWeights } from '../../../src/learn/mixture/exp_weights.ts';
import type { Label, OptimizerConfig } from '../../../src/learn/types.ts';
import { separable } from './helpers.ts';

describe('exponential weights', () => {
  test('η = 1 on log loss is Bayes’ rule', () => {
    const w = new ExponentialWeights(2, 0);
    w.update(Float64Array.of(Math.log(2), Math.log(4)));
    expect(w.weights[0]).toBeCloseTo(2 / 3, 15);
    expect(w.weights[1]).toBeCloseTo(1 / 3, 15);
  });

  test('fixed share keeps every weight ≥ α/K, and a hopeless round does not make NaN', () => {
    const shared = new ExponentialWeights(2, 0.01);
    const bare = new ExponentialWeights(2, 0);
    for (let i = 0; i < 100; i++) {
      shared.update(Float64Array.of(0, 800));
      bare.update(Float64Array.of(0, 800));
    }
    expect(shared.weights[1]).toBeGreaterThanOrEqual(0.005);
    bare.update(Float64Array.of(900, 0));
    expect([...bare.weights]).toEqual([0, 1]);
  });

  test('weights that are not a distribution are refused', () => {
    const w = new ExponentialWeights(2, 0);
    expect(() => w.load([0.7, 0.7])).toThrow(/summing to 1/);
    expect([...w.weights]).toEqual([0.5, 0.5]);
  });
});

function cumulativeLogLoss(optimizer: OptimizerConfig | undefined, n: number) {
  const { xs, ys } = separable(n, 7);
  const head = createHead({ task: 'binary', dim: 3, optimizer });
  let total = 0;
  for (let i = 0; i < n; i++) {
    const x = xs.subarray(i * 3, i * 3 + 3);
    total += head.loss(x, ys[i]);
    head.partialFit(x, ys[i]);
  }
  return total;
}

test('the mixture’s cumulative log loss is within ln K (+ the share’s cost) of its best candidate', () => {
  const n = 2000;
  const mixture = cumulativeLogLoss({ kind: 'mixture', share: 0, smoothing: 0 }, n);
  const best = Math.min(
    cumulativeLogLoss({ kind: 'sgd' }, n),
    cumulativeLogLoss({ kind: 'adagrad' }, n),
  );
  expect(mixture).toBeLessThanOrEqual(best + Math.log(2) + 1e-9);
});

describe('seeded by a server head', () => {
  const { xs, ys } = separable(600, 3);
  const row = (i: number) => xs.subarray(i * 3, i * 3 + 3);
  const server = createHead({ task: 'binary', dim: 3, optimizer: { kind: 'sgd' } });
  for (let i = 0; i < 300; i++) server.partialFit(row(i), ys[i]);
  const state = server.exportState();

  test('it predicts what the server head predicts, and its SGD candidate continues it exactly', () => {
    const device = seedHead(state);
    expect(device.exportState().config.optimizer.kind).toBe('mixture');
    expect(device.score(row(400))).toBeCloseTo(server.score(row(400)), 15);
    const single = restoreHead(state);
    for (let i = 300; i < 600; i++) {
      device.partialFit(row(i), ys[i]);
      single.partialFit(row(i), ys[i]);
    }
    const weights = device.exportState().weights;
    expect([...weights.subarray(0, 3)]).toEqual([...single.exportState().weights]);
  });

  test('an FTRL candidate starts from the seed’s weights too', () => {
    const device = seedHead(state, {
      kind: 'mixture',
      candidates: [{ kind: 'ftrl' }],
    });
    expect(device.score(row(500))).toBeCloseTo(server.score(row(500)), 12);
  });

  test('a mixture’s own state is restored as it is', () => {
    const device = seedHead(state);
    device.partialFit(row(0), ys[0]);
    expect(seedHead(device.exportState()).exportState()).toEqual(device.exportState());
  });
});

test('candidates() names the leader first; a single head is its own only candidate', () => {
  const head = createHead({ task: 'binary', dim: 3 });
  const { xs, ys } = separable(500, 5);
  head.partialFitMany(xs, ys);
  const candidates = head.candidates();
  expect(candidates.map((c) => c.name).sort()).toEqual(['adagrad', 'sgd']);
  expect(candidates[0].weight).toBeGreaterThanOrEqual(candidates[1].weight);
  expect(candidates.reduce((s, c) => s + c.weight, 0)).toBeCloseTo(1, 12);
  expect(createHead({ task: 'binary', dim: 3, optimizer: { kind: 'ftrl' } }).candidates()).toEqual([
    { name: 'ftrl', weight: 1 },
  ]);
});

test('a bad row in partialFitMany changes nothing and names the row', () => {
  const head = createHead({ task: 'binary', dim: 2 });
  head.partialFit([1, 2], 1);
  const before = head.exportState();
  let error: unknown;
  try {
    head.partialFitMany(Float64Array.of(1, 0, 0, Number.NaN), [1, 0]);
  } catch (e) {
    error = e;
  }
  expect(isLearnerError(error) && error.code).toBe('BAD_INPUT');
  expect((error as Error).message).toMatch(/^row 1: /);
  expect(head.exportState()).toEqual(before);
  expect(() => head.partialFit([1, 2], 'maybe' as Label)).toThrow(/unknown class/);
  expect(head.exportState()).toEqual(before);
});

test('bad mixture configs are refused', () => {
  for (const optimizer of [
    { kind: 'mixture', candidates: [] },
    { kind: 'mixture', share: 1 },
    { kind: 'mixture', smoothing: -0.1 },
    { kind: 'mixture', candidates: [{ kind: 'mixture' }] },
  ]) {
    expect(() =>
      createHead({ task: 'binary', dim: 2, optimizer: optimizer as OptimizerConfig }),
    ).toThrow(expect.objectContaining({ code: 'BAD_CONFIG' }));
  }
});

/**
 * The floors on the generated streams at 3,000 rows (the benchmark checks them at full
 * length): the default against every single optimizer, and a fresh head's first outcomes.
 */
describe.each(suite({ rows: 3000 }).map((s) => [s.name, s] as const))(
  '%s, 3,000 rows',
  (_n, stream) => {
    const run = (optimizer?: OptimizerConfig) => {
      const p = new Prequential({
        task: stream.task,
        dim: stream.dim,
        classes: stream.task === 'regression' ? undefined : stream.classes,
        optimizer,
      });
      const early: number[] = [];
      let i = 0;
      let lossSum = 0;
      for (const [x, y] of stream.rows()) {
        if (stream.task !== 'regression') lossSum += p.head.loss(scaledFor(p, x), y);
        p.step(x, y);
        i++;
        if (i === 100 || i === 500) early.push(lossSum / i);
      }
      return { ...p.finish(), early };
    };
    const defaults = run();
    const singles = (['sgd', 'adagrad', 'ftrl'] as const).map((kind) => run({ kind }));

    test('accuracy ≥ best single − 0.005, log loss ≤ best single + 0.01 (RMSE ≤ best × 1.01)', () => {
      if (stream.task === 'regression') {
        const best = Math.min(...singles.map((r) => r.rmse!));
        expect(defaults.rmse!).toBeLessThanOrEqual(best * 1.01);
        return;
      }
      expect(defaults.accuracy!).toBeGreaterThanOrEqual(
        Math.max(...singles.map((r) => r.accuracy!)) - 0.005,
      );
      expect(defaults.logloss!).toBeLessThanOrEqual(
        Math.min(...singles.map((r) => r.logloss!)) + 0.01,
      );
    });

    // The fresh-head floor is for binary streams: the others get no such test.
    if (stream.task === 'binary') {
      test('fresh head: first-100 and first-500 log loss ≤ 0.743', () => {
        expect(defaults.early[0]).toBeLessThanOrEqual(0.743);
        expect(defaults.early[1]).toBeLessThanOrEqual(0.743);
      });
    }
  },
);

/** The head's input for x as Prequential will scale it (before it learns x). */
function scaledFor(p: Prequential, x: Float64Array): Float64Array {
  return (
    p as unknown as { scaler: { transform(x: Float64Array): Float64Array } }
  ).scaler.transform(x);
}
