/**
 * `Head.learningRateMultiplier`: the hook a drift policy uses to learn faster after a change.
 * Default 1 changes nothing (bit for bit); other values scale the step; bad values are refused
 * and change nothing. (No allocation per event: rate_multiplier_allocation.test.ts.)
 */
import { describe, expect, test } from 'vitest';
import { isLearnerError } from '../../../src/errors.ts';
import { createHead, restoreHead } from '../../../src/learn/index.ts';
import type { HeadConfig, OptimizerConfig } from '../../../src/learn/types.ts';
import { separable } from './helpers.ts';

const optimizers: [string, OptimizerConfig][] = [
  ['sgd optimal', { kind: 'sgd' }],
  ['sgd constant', { kind: 'sgd', schedule: 'constant', eta0: 0.05 }],
  ['adagrad', { kind: 'adagrad' }],
  ['ftrl', { kind: 'ftrl' }],
];

const data = separable(400, 1);

describe.each(optimizers)('%s', (_name, optimizer) => {
  const config: HeadConfig = { task: 'binary', dim: data.d, optimizer };

  test('defaults to 1, and an explicit 1 gives bit-identical weights', () => {
    const plain = createHead(config);
    const explicit = createHead(config);
    expect(plain.learningRateMultiplier).toBe(1);
    for (let i = 0; i < 400; i++) {
      explicit.learningRateMultiplier = 1;
      plain.partialFit(data.row(i), data.ys[i]);
      explicit.partialFit(data.row(i), data.ys[i]);
    }
    expect(explicit.exportState()).toEqual(plain.exportState());
  });

  test('a multiplier above 1 moves the weights further on the same example', () => {
    const slow = createHead(config);
    const fast = createHead(config);
    fast.learningRateMultiplier = 3;
    slow.partialFit(data.row(0), data.ys[0]);
    fast.partialFit(data.row(0), data.ys[0]);
    const norm = (w: Float64Array) => Math.hypot(...w);
    expect(norm(fast.exportState().weights)).toBeGreaterThan(
      1.5 * norm(slow.exportState().weights),
    );
  });

  test('learningRateScale[0] is the multiplier', () => {
    const head = createHead(config);
    head.learningRateMultiplier = 2.5;
    expect(head.learningRateScale[0]).toBe(2.5);
    head.learningRateScale[0] = 1.25;
    expect(head.learningRateMultiplier).toBe(1.25);
  });

  test('is not part of the state: a restored head starts at 1', () => {
    const head = createHead(config);
    head.learningRateMultiplier = 2;
    head.partialFit(data.row(0), data.ys[0]);
    expect(restoreHead(head.exportState()).learningRateMultiplier).toBe(1);
  });
});

test('SGD and AdaGrad: the first step from zero weights scales exactly with the multiplier', () => {
  for (const optimizer of [
    { kind: 'sgd', schedule: 'constant', eta0: 0.05 },
    { kind: 'adagrad', eta0: 0.1 },
  ] as OptimizerConfig[]) {
    const config: HeadConfig = { task: 'binary', dim: data.d, optimizer, l2: 0 };
    const one = createHead(config);
    const two = createHead(config);
    two.learningRateMultiplier = 2;
    one.partialFit(data.row(0), data.ys[0]);
    two.partialFit(data.row(0), data.ys[0]);
    const doubled = one.exportState().weights.map((w) => 2 * w);
    expect(two.exportState().weights).toEqual(doubled);
  }
});

test('a value that is not finite and > 0 throws BAD_CONFIG and keeps the old one', () => {
  const head = createHead({ task: 'regression', dim: 2 });
  head.learningRateMultiplier = 1.5;
  for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, '2' as unknown as number]) {
    let caught: unknown;
    try {
      head.learningRateMultiplier = bad;
    } catch (error) {
      caught = error;
    }
    expect(isLearnerError(caught) && caught.code).toBe('BAD_CONFIG');
    expect(head.learningRateMultiplier).toBe(1.5);
  }
});
