import { describe, expect, test } from 'vitest';
import { isLearnerError } from '../../../src/errors.ts';
import { createHead, restoreHead } from '../../../src/learn/index.ts';
import type { HeadConfig, HeadState, Label } from '../../../src/learn/types.ts';
import { blobs, linear, separable } from './helpers.ts';

const configs: [string, HeadConfig][] = [
  ['binary mixture (default)', { task: 'binary', dim: 3 }],
  ['binary sgd optimal', { task: 'binary', dim: 3, optimizer: { kind: 'sgd' } }],
  [
    'binary mixture of three',
    {
      task: 'binary',
      dim: 3,
      l1: 1e-3,
      optimizer: {
        kind: 'mixture',
        candidates: [{ kind: 'sgd' }, { kind: 'adagrad' }, { kind: 'ftrl' }],
      },
    },
  ],
  [
    'binary sgd invscaling + l1',
    {
      task: 'binary',
      dim: 3,
      l1: 1e-3,
      optimizer: { kind: 'sgd', schedule: 'invscaling', eta0: 0.5 },
    },
  ],
  ['binary adagrad + l1', { task: 'binary', dim: 3, l1: 1e-3, optimizer: { kind: 'adagrad' } }],
  ['binary ftrl + l1', { task: 'binary', dim: 3, l1: 1, l2: 0.1, optimizer: { kind: 'ftrl' } }],
  ['multiclass mixture + l1', { task: 'multiclass', dim: 2, classes: ['a', 'b', 'c'], l1: 1e-4 }],
  [
    'multiclass adagrad',
    { task: 'multiclass', dim: 2, classes: ['a', 'b', 'c'], optimizer: { kind: 'adagrad' } },
  ],
  [
    'multiclass ftrl',
    { task: 'multiclass', dim: 2, classes: ['a', 'b', 'c'], optimizer: { kind: 'ftrl' } },
  ],
  ['regression mixture', { task: 'regression', dim: 3 }],
  ['regression sgd', { task: 'regression', dim: 3, optimizer: { kind: 'sgd' } }],
  ['regression ftrl', { task: 'regression', dim: 3, optimizer: { kind: 'ftrl' } }],
];

function stream(config: HeadConfig, n: number, seed: number): { xs: Float64Array; ys: Label[] } {
  if (config.task === 'multiclass') return blobs(n, seed, ['a', 'b', 'c']);
  if (config.task === 'regression') return linear(n, seed, [1, -2, 3], 0.5, 0.1);
  return separable(n, seed);
}

describe.each(configs)('%s', (_name, config) => {
  const { xs, ys } = stream(config, 1200, 51);
  const d = config.dim;
  const row = (i: number) => xs.subarray(i * d, (i + 1) * d);

  test('exact resume: stop, export, restore, continue = never stopped (bit for bit)', () => {
    const straight = createHead(config);
    for (let i = 0; i < ys.length; i++) straight.partialFit(row(i), ys[i]);

    let head = createHead(config);
    for (let i = 0; i < ys.length; i++) {
      if (i % 301 === 0) head = restoreHead(structuredClone(head.exportState()));
      head.partialFit(row(i), ys[i]);
    }
    const a = straight.exportState();
    const b = head.exportState();
    expect(b).toEqual(a);
    // toEqual compares numbers with Object.is; compare the raw bits as well.
    expect(new Uint8Array(b.weights.buffer)).toEqual(new Uint8Array(a.weights.buffer));
    expect(head.updates).toBe(ys.length);
  });

  test('partialFitMany is one partialFit per row, in order', () => {
    const one = createHead(config);
    for (let i = 0; i < ys.length; i++) one.partialFit(row(i), ys[i]);
    const many = createHead(config);
    for (let start = 0; start < ys.length; start += 50) {
      many.partialFitMany(xs.subarray(start * d, (start + 50) * d), ys.slice(start, start + 50));
    }
    expect(many.exportState()).toEqual(one.exportState());
    // Plain arrays too.
    const plain = createHead(config);
    plain.partialFitMany(Array.from(xs), ys);
    expect(plain.exportState()).toEqual(one.exportState());
  });

  test('exportState is a copy', () => {
    const head = createHead(config);
    head.partialFit(row(0), ys[0]);
    const state = head.exportState();
    const score = head.score(row(1));
    state.weights.fill(123);
    for (const slot of Object.values(state.slots)) slot.fill(123);
    expect(head.score(row(1))).toBe(score);
  });
});

describe.each([
  ['mixture (the default)', undefined],
  ['sgd', { kind: 'sgd' } as const],
])('restoreHead refuses corrupt %s states with BAD_CONFIG', (_kind, optimizer) => {
  const head = createHead({ task: 'binary', dim: 3, l1: 1e-3, optimizer });
  head.partialFit([1, 2, 3], 1);
  const good = head.exportState();
  const corrupt: [string, (s: HeadState) => unknown][] = [
    ['weights of the wrong length', (s) => ({ ...s, weights: new Float64Array(2) })],
    ['NaN weights', (s) => ({ ...s, weights: Float64Array.of(1, Number.NaN, 0) })],
    ['weights as a plain array', (s) => ({ ...s, weights: [0, 0, 0] })],
    ['a missing slot', (s) => ({ ...s, slots: {} })],
    ['an extra slot', (s) => ({ ...s, slots: { ...s.slots, z: new Float64Array(3) } })],
    ['a negative update count', (s) => ({ ...s, t: -1 })],
    ['a missing scalar', (s) => ({ ...s, scalars: {} })],
    ['a bad config', (s) => ({ ...s, config: { ...s.config, dim: 0 } })],
    ['not a state', () => null],
  ];
  test.each(corrupt)('%s', (_name, mutate) => {
    let code: string | undefined;
    try {
      restoreHead(mutate(good) as HeadState);
    } catch (error) {
      code = isLearnerError(error) ? error.code : String(error);
    }
    expect(code).toBe('BAD_CONFIG');
  });
});
