import { describe, expect, test } from 'vitest';
import { createHead } from '../../../src/learn/index.ts';
import type { Head, OptimizerConfig } from '../../../src/learn/types.ts';
import { accuracy, blobs, linear, separable } from './helpers.ts';

function train(head: Head, data: { ys: unknown[]; row(i: number): Float64Array }) {
  for (let i = 0; i < data.ys.length; i++) head.partialFit(data.row(i), data.ys[i] as never);
}

const optimizers: [string, OptimizerConfig | undefined][] = [
  ['default SGD', undefined],
  ['AdaGrad', { kind: 'adagrad' }],
  ['FTRL', { kind: 'ftrl' }],
];

describe('logistic head', () => {
  test.each(optimizers)('learns a separable problem with %s', (_name, optimizer) => {
    const head = createHead({ task: 'binary', dim: 3, optimizer });
    train(head, separable(3000, 1));
    expect(accuracy((x) => head.predict(x), separable(1000, 2))).toBeGreaterThanOrEqual(0.97);
  });

  test('probabilities are calibrated in direction and sum to one', () => {
    const head = createHead({ task: 'binary', dim: 3 });
    train(head, separable(3000, 3));
    const positive = Float64Array.of(1, -1, 0.5); // w·x = 3.25: deep on the positive side
    const p = head.predictProba(positive);
    expect(p[1]).toBeGreaterThan(0.9);
    expect(p[0] + p[1]).toBeCloseTo(1, 12);
    expect(head.score(positive)).toBe(p[1]);
    expect(head.loss(positive, 1)).toBeCloseTo(-Math.log(p[1]), 12);
    expect(head.loss(positive, 0)).toBeCloseTo(-Math.log(p[0]), 9);
  });

  test('an untrained head predicts the negative class at p = 0.5, as scikit-learn', () => {
    const head = createHead({ task: 'binary', dim: 2, classes: ['no', 'yes'] });
    expect(head.score([1, 2])).toBe(0.5);
    expect(head.predict([1, 2])).toBe('no');
  });

  test('string classes and booleans (positive/negative) are both accepted', () => {
    const data = separable(2000, 4);
    const named = createHead({ task: 'binary', dim: 3, classes: ['down', 'up'] });
    const flagged = createHead({ task: 'binary', dim: 3, classes: ['down', 'up'] });
    for (let i = 0; i < data.ys.length; i++) {
      named.partialFit(data.row(i), data.ys[i] === 1 ? 'up' : 'down');
      flagged.partialFit(data.row(i), data.ys[i] === 1);
    }
    expect(flagged.exportState()).toEqual(named.exportState());
    expect(named.predict(Float64Array.of(1, -1, 0))).toBe('up');
  });

  test('predictProba writes into the buffer it is given', () => {
    const head = createHead({ task: 'binary', dim: 1 });
    const out = new Float64Array(2);
    expect(head.predictProba([1], out)).toBe(out);
  });
});

describe('softmax head', () => {
  const classes = ['red', 'green', 'blue'] as const;

  test.each(optimizers)('separates 3 classes with %s', (_name, optimizer) => {
    const head = createHead({ task: 'multiclass', dim: 2, classes: [...classes], optimizer });
    expect(head.outputs).toBe(3);
    train(head, blobs(3000, 5, classes));
    expect(accuracy((x) => head.predict(x), blobs(1000, 6, classes))).toBeGreaterThanOrEqual(0.95);
  });

  test('probabilities sum to one, the score is the top probability, loss is −log p', () => {
    const head = createHead({ task: 'multiclass', dim: 2, classes: [...classes] });
    train(head, blobs(2000, 7, classes));
    const x = Float64Array.of(-1, 1.7); // the green centre
    const p = head.predictProba(x, new Float64Array(3));
    expect(p[0] + p[1] + p[2]).toBeCloseTo(1, 12);
    expect(head.predict(x)).toBe('green');
    expect(head.score(x)).toBeCloseTo(Math.max(...p), 12);
    expect(head.loss(x, 'green')).toBeCloseTo(-Math.log(p[1]), 9);
  });

  test('numeric class labels work too', () => {
    const head = createHead({ task: 'multiclass', dim: 2, classes: [10, 20, 30] });
    const data = blobs(2000, 8, ['10', '20', '30']);
    for (let i = 0; i < data.ys.length; i++) head.partialFit(data.row(i), Number(data.ys[i]));
    expect(head.predict([2, 0])).toBe(10);
  });
});

describe('linear head', () => {
  test.each(optimizers)('recovers a linear function with %s', (_name, optimizer) => {
    const head = createHead({ task: 'regression', dim: 2, optimizer, l2: 0 });
    train(head, linear(30000, 9, [2, -3], 0.5, 0.01));
    expect(head.predict([0, 0])).toBeCloseTo(0.5, 1);
    expect(head.predict([1, 0])).toBeCloseTo(2.5, 1);
    expect(head.predict([0, 1])).toBeCloseTo(-2.5, 1);
    expect(head.score([0.5, 0.5])).toBe(head.predict([0.5, 0.5]));
    expect(head.loss([1, 0], 3)).toBeCloseTo((Number(head.predict([1, 0])) - 3) ** 2, 12);
  });

  test('has no class probabilities', () => {
    const head = createHead({ task: 'regression', dim: 1 });
    expect(() => head.predictProba([1])).toThrow(expect.objectContaining({ code: 'BAD_CONFIG' }));
  });
});

describe('configuration', () => {
  test('defaults: a mixture of scikit-learn’s SGD and AdaGrad', () => {
    const binary = createHead({ task: 'binary', dim: 4 }).exportState().config;
    expect(binary).toMatchObject({ l2: 1e-4, l1: 0, fitIntercept: true, classes: [0, 1] });
    expect(binary.optimizer).toMatchObject({
      kind: 'mixture',
      candidates: [
        { kind: 'sgd', schedule: 'optimal' },
        { kind: 'adagrad', eta0: 0.1 },
      ],
    });
    const regression = createHead({ task: 'regression', dim: 4 }).exportState().config;
    expect(regression.l2).toBe(1e-4);
    expect(regression.optimizer).toMatchObject({ kind: 'mixture', share: 0.001 });
    expect(regression.optimizer.kind === 'mixture' && regression.optimizer.candidates?.[0]).toEqual(
      {
        kind: 'sgd',
        schedule: 'invscaling',
        eta0: 0.01,
        powerT: 0.25,
      },
    );
    const single = createHead({ task: 'binary', dim: 4, optimizer: { kind: 'sgd' } });
    expect(single.exportState().config.optimizer).toMatchObject({
      kind: 'sgd',
      schedule: 'optimal',
    });
  });

  test.each([
    [{ task: 'binary', dim: 0 }],
    [{ task: 'binary', dim: 2.5 }],
    [{ task: 'ranking', dim: 2 }],
    [{ task: 'multiclass', dim: 2 }],
    [{ task: 'multiclass', dim: 2, classes: ['a', 'a'] }],
    [{ task: 'binary', dim: 2, classes: [0, 1, 2] }],
    [{ task: 'binary', dim: 2, l2: -1 }],
    [{ task: 'binary', dim: 2, l2: 0 }], // 'optimal' needs regularisation
    [{ task: 'binary', dim: 2, optimizer: { kind: 'sgd', eta0: 0, schedule: 'constant' } }],
    [{ task: 'binary', dim: 2, optimizer: { kind: 'newton' } }],
    [{ task: 'binary', dim: 2, optimizer: { kind: 'ftrl', alpha: Number.NaN } }],
  ])('rejects %j with BAD_CONFIG', (config) => {
    expect(() => createHead(config as never)).toThrow(
      expect.objectContaining({ code: 'BAD_CONFIG' }),
    );
  });

  test('without an intercept the intercept stays zero', () => {
    const head = createHead({ task: 'binary', dim: 3, fitIntercept: false });
    train(head, separable(500, 10));
    expect([...head.exportState().intercepts].every((b) => b === 0)).toBe(true);
  });
});
