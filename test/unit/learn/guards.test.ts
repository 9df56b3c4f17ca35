/** Design invariant 5: bad input gets a typed error and changes nothing; weights never go non-finite. */
import { describe, expect, test } from 'vitest';
import { isLearnerError } from '../../../src/errors.ts';
import { CHECKPOINT_EVERY, createHead } from '../../../src/learn/index.ts';
import type { Head, HeadConfig, HeadState, Label } from '../../../src/learn/types.ts';
import { linear, separable } from './helpers.ts';

function codeOf(action: () => unknown): string | undefined {
  try {
    action();
  } catch (error) {
    if (isLearnerError(error)) return error.code;
    throw error;
  }
  return undefined;
}

/** One head per task × optimizer, with L1 on so that every slot and scalar exists. */
const heads: [string, HeadConfig, () => Head][] = (
  [
    ['binary/sgd', { task: 'binary', dim: 3, l1: 1e-4 }],
    ['binary/adagrad', { task: 'binary', dim: 3, l1: 1e-4, optimizer: { kind: 'adagrad' } }],
    ['binary/ftrl', { task: 'binary', dim: 3, l1: 0.1, optimizer: { kind: 'ftrl' } }],
    ['multiclass/sgd', { task: 'multiclass', dim: 3, classes: ['a', 'b', 'c'], l1: 1e-4 }],
    [
      'multiclass/ftrl',
      { task: 'multiclass', dim: 3, classes: ['a', 'b', 'c'], optimizer: { kind: 'ftrl' } },
    ],
    ['regression/sgd', { task: 'regression', dim: 3, l1: 1e-4 }],
    ['regression/adagrad', { task: 'regression', dim: 3, optimizer: { kind: 'adagrad' } }],
  ] as [string, HeadConfig][]
).map(([name, config]) => [
  name,
  config,
  () => {
    const head = createHead(config);
    const data = separable(300, 31, [1, -1, 0.5]);
    const label = (y: number, i: number): Label =>
      config.task === 'multiclass' ? ['a', 'b', 'c'][(y + i) % 3] : y;
    for (let i = 0; i < data.ys.length; i++) head.partialFit(data.row(i), label(data.ys[i], i));
    return head;
  },
]);

const good = (config: HeadConfig): Label => (config.task === 'multiclass' ? 'a' : 1);

describe.each(heads)('%s refuses bad input and changes nothing', (_name, config, trained) => {
  const cases: [string, string, (head: Head) => void][] = [
    [
      'NaN feature',
      'BAD_INPUT',
      (h) => h.partialFit(Float64Array.of(1, Number.NaN, 0), good(config)),
    ],
    ['+∞ feature', 'BAD_INPUT', (h) => h.partialFit(Float64Array.of(Infinity, 0, 0), good(config))],
    ['−∞ in a plain array', 'BAD_INPUT', (h) => h.partialFit([0, 0, -Infinity], good(config))],
    ['a string feature', 'BAD_INPUT', (h) => h.partialFit([0, '1', 0] as never, good(config))],
    ['too few features', 'BAD_INPUT', (h) => h.partialFit(Float64Array.of(1, 2), good(config))],
    ['too many features', 'BAD_INPUT', (h) => h.partialFit([1, 2, 3, 4], good(config))],
    ['no features', 'BAD_INPUT', (h) => h.partialFit(undefined as never, good(config))],
    [
      'a bad row in the middle of a batch',
      'BAD_INPUT',
      (h) =>
        h.partialFitMany(Float64Array.of(1, 0, 0, 0, 1, 0, 0, Number.NaN, 1, 1, 1, 1), [
          good(config),
          good(config),
          good(config),
          good(config),
        ]),
    ],
    [
      'a batch of the wrong size',
      'BAD_INPUT',
      (h) => h.partialFitMany(Float64Array.of(1, 0, 0, 1), [good(config), good(config)]),
    ],
    ...(config.task === 'regression'
      ? ([
          ['a NaN target', 'BAD_LABEL', (h) => h.partialFit([1, 2, 3], Number.NaN)],
          ['an infinite target', 'BAD_LABEL', (h) => h.partialFit([1, 2, 3], Infinity)],
          ['a string target', 'BAD_LABEL', (h) => h.partialFit([1, 2, 3], '3')],
          [
            'a bad target in a batch',
            'BAD_LABEL',
            (h) => h.partialFitMany([1, 2, 3, 4, 5, 6], [1, Number.NaN]),
          ],
        ] as [string, string, (head: Head) => void][])
      : ([
          ['an unknown class', 'BAD_LABEL', (h) => h.partialFit([1, 2, 3], 'zebra')],
          [
            'a class of the wrong type',
            'BAD_LABEL',
            (h) => h.partialFit([1, 2, 3], config.task === 'binary' ? '1' : 0),
          ],
          [
            'an unknown class in a batch',
            'BAD_LABEL',
            (h) => h.partialFitMany([1, 2, 3, 4, 5, 6], [good(config), 7]),
          ],
        ] as [string, string, (head: Head) => void][])),
  ];

  test.each(cases)('%s → %s', (_case, code, action) => {
    const head = trained();
    const before = head.exportState();
    const updates = head.updates;
    expect(codeOf(() => action(head))).toBe(code);
    expect(head.exportState()).toEqual(before);
    expect(head.updates).toBe(updates);
    // …and it keeps learning normally afterwards.
    head.partialFit([0.5, -0.5, 0.5], good(config));
    expect(head.updates).toBe(updates + 1);
  });

  test('predictions refuse bad features too', () => {
    const head = trained();
    expect(codeOf(() => head.score([Number.NaN, 0, 0]))).toBe('BAD_INPUT');
    expect(codeOf(() => head.predict([0, 0]))).toBe('BAD_INPUT');
    expect(
      codeOf(() => head.loss([0, 0, 0], config.task === 'regression' ? Number.NaN : 'zebra')),
    ).toBe('BAD_LABEL');
  });
});

describe('non-finite guard', () => {
  test('a step that overflows restores the last good state and throws NON_FINITE', () => {
    const head = createHead({
      task: 'regression',
      dim: 1,
      l2: 0,
      optimizer: { kind: 'sgd', schedule: 'constant', eta0: 1e300 },
    });
    const initial = head.exportState();
    let code: string | undefined;
    for (let i = 0; i < 10 && code === undefined; i++) code = codeOf(() => head.partialFit([2], 1));
    expect(code).toBe('NON_FINITE');
    expect(head.exportState()).toEqual(initial); // the last checkpoint was the fresh head
    expect(Number.isFinite(head.score([2]))).toBe(true);
  });

  test.each([
    ['sgd', { kind: 'sgd' }],
    ['adagrad', { kind: 'adagrad' }],
    ['ftrl', { kind: 'ftrl' }],
  ] as const)(
    '%s: after divergence the head is back at a checkpoint it passed through',
    (_n, optimizer) => {
      const head = createHead({ task: 'regression', dim: 2, optimizer });
      const data = linear(CHECKPOINT_EVERY + 100, 41, [3, -2], 1, 0.1);
      const seen = new Map<number, HeadState>();
      for (let i = 0; i < data.ys.length; i++) {
        head.partialFit(data.row(i), data.ys[i]);
        seen.set(head.updates, head.exportState());
      }
      // Legal but absurd features: the gradient step overflows.
      expect(codeOf(() => head.partialFit([1e300, 1e300], 1))).toBe('NON_FINITE');
      const after = head.exportState();
      expect(head.updates).toBe(CHECKPOINT_EVERY);
      expect(after).toEqual(seen.get(CHECKPOINT_EVERY));
      expect(Number.isFinite(head.score([1, 1]))).toBe(true);
      // Learning goes on from there.
      head.partialFit([1, 1], 2);
      expect(head.updates).toBe(CHECKPOINT_EVERY + 1);
    },
  );

  test('a diverging batch is undone as a whole', () => {
    const head = createHead({
      task: 'regression',
      dim: 1,
      l2: 0,
      optimizer: { kind: 'sgd', schedule: 'constant', eta0: 1e300 },
    });
    const before = head.exportState();
    expect(codeOf(() => head.partialFitMany([1e-300, 1e-300, 2, 2], [0, 0, 1, 1]))).toBe(
      'NON_FINITE',
    );
    expect(head.exportState()).toEqual(before);
  });
});

test('booleans are refused by multiclass heads', () => {
  const head = createHead({ task: 'multiclass', dim: 2, classes: [0, 1, 2] });
  expect(codeOf(() => head.partialFit([1, 1], true))).toBe('BAD_LABEL');
});
