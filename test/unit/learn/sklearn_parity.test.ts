/**
 * Our logistic head against scikit-learn 1.2's SGDClassifier on the same stream, update for
 * update. The golden file and the stream generator come from test/golden/sklearn_parity.py
 * (see its docstring for how to regenerate and why L1 runs use a one-pass `fit`).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { createHead } from '../../../src/learn/index.ts';
import type { Schedule } from '../../../src/learn/types.ts';

interface Run {
  name: string;
  learning_rate: Schedule;
  eta0: number;
  power_t?: number;
  alpha: number;
  penalty: 'l2' | 'l1' | 'elasticnet';
  l1_ratio?: number;
  coef: number[];
  intercept: number;
  t: number;
}

interface Golden {
  generator: {
    rows: number;
    seed: number;
    scales: number[];
    offsets: number[];
    beta: number[];
    flip: number;
  };
  checksum: { sum: number; first_row: number[]; last_row: number[]; positives: number };
  runs: Run[];
}

const golden: Golden = JSON.parse(
  readFileSync(new URL('../../golden/sklearn_parity.json', import.meta.url), 'utf8'),
);

/** The generator of sklearn_parity.py, operation for operation (see there). */
function stream(g: Golden['generator']) {
  let state = g.seed >>> 0;
  const uniform = () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return (state + 0.5) / 4294967296;
  };
  const d = g.scales.length;
  const xs = new Float64Array(g.rows * d);
  const ys = new Array<number>(g.rows);
  const root3 = Math.sqrt(3);
  for (let i = 0; i < g.rows; i++) {
    let logit = 0;
    for (let j = 0; j < d; j++) {
      const z = (uniform() + uniform() + uniform() + uniform() - 2) * root3;
      logit += g.beta[j] * z;
      xs[i * d + j] = z * g.scales[j] + g.offsets[j];
    }
    let label = logit > 0 ? 1 : 0;
    if (uniform() < g.flip) label = 1 - label;
    ys[i] = label;
  }
  return { xs, ys, d };
}

const { xs, ys, d } = stream(golden.generator);

test('the TypeScript stream is the Python stream, bit for bit', () => {
  let sum = 0;
  for (const v of xs) sum += v;
  expect(sum).toBe(golden.checksum.sum);
  expect([...xs.subarray(0, d)]).toEqual(golden.checksum.first_row);
  expect([...xs.subarray(xs.length - d)]).toEqual(golden.checksum.last_row);
  expect(ys.reduce((a, b) => a + b, 0)).toBe(golden.checksum.positives);
});

describe.each(golden.runs)('matches SGDClassifier $name', (run) => {
  const l1Ratio =
    run.penalty === 'l1' ? 1 : run.penalty === 'elasticnet' ? (run.l1_ratio ?? 0.15) : 0;
  const head = createHead({
    task: 'binary',
    dim: d,
    l2: run.alpha * (1 - l1Ratio),
    l1: run.alpha * l1Ratio,
    optimizer: {
      kind: 'sgd',
      schedule: run.learning_rate,
      eta0: run.learning_rate === 'optimal' ? undefined : run.eta0,
      powerT: run.power_t ?? 0.5,
    },
  });
  for (let i = 0; i < ys.length; i++) head.partialFit(xs.subarray(i * d, (i + 1) * d), ys[i]);
  const state = head.exportState();

  test('weights and intercept within 1e-4', () => {
    const diffs = run.coef.map((c, j) => Math.abs(c - state.weights[j]));
    expect(Math.max(...diffs)).toBeLessThanOrEqual(1e-4);
    expect(Math.abs(run.intercept - state.intercepts[0])).toBeLessThanOrEqual(1e-4);
  });

  test('the same weights are exactly zero', () => {
    const zeros = (w: ArrayLike<number>) => Array.from(w, (v) => v === 0);
    expect(zeros(state.weights)).toEqual(zeros(run.coef));
  });

  test('the same number of updates', () => {
    // scikit-learn's t_ starts at 1 and counts the next update.
    expect(head.updates).toBe(run.t - 1);
  });
});
