import { describe, expect, test } from 'vitest';
import { isLearnerError } from '../../../src/errors.ts';
import { StandardScaler } from '../../../src/learn/index.ts';
import { normal, rng } from './helpers.ts';

/** Rows with a huge mean and a tiny spread (where naive Σx² − (Σx)²/n fails), a plain one and a constant. */
function rows(n: number, seed: number): number[][] {
  const gauss = normal(rng(seed));
  return Array.from({ length: n }, () => [1e6 + 0.001 * gauss(), 5 * gauss() - 3, 7]);
}

/** The textbook two-pass reference, summing deviations from the first row so the sums stay exact-ish. */
function twoPass(data: number[][]) {
  const d = data[0].length;
  const mean = Array.from(
    { length: d },
    (_, j) => data[0][j] + data.reduce((s, r) => s + (r[j] - data[0][j]), 0) / data.length,
  );
  const variance = Array.from(
    { length: d },
    (_, j) => data.reduce((s, r) => s + (r[j] - mean[j]) ** 2, 0) / data.length,
  );
  return { mean, variance };
}

describe('StandardScaler', () => {
  const data = rows(5000, 61);

  test('running mean and variance match a two-pass computation', () => {
    const scaler = new StandardScaler(3);
    for (const r of data) scaler.learn(r);
    const exact = twoPass(data);
    const mean = scaler.means();
    const variance = scaler.variance();
    for (let j = 0; j < 3; j++) {
      // Both sides round; what matters is agreement relative to the feature's scale and spread.
      const scale = Math.abs(exact.mean[j]) + Math.sqrt(exact.variance[j]);
      expect(Math.abs(mean[j] - exact.mean[j])).toBeLessThanOrEqual(1e-12 * scale);
      expect(Math.abs(variance[j] - exact.variance[j])).toBeLessThanOrEqual(
        1e-5 * exact.variance[j],
      );
    }
    expect(scaler.n).toBe(data.length);
  });

  test('transformed data has mean 0 and variance 1 (per non-constant feature)', () => {
    const scaler = new StandardScaler(3);
    for (const r of data) scaler.learn(r);
    const out = new Float64Array(3);
    const z = data.map((r) => [...scaler.transform(r, out)]);
    const { mean, variance } = twoPass(z);
    // Around 1e6 a double resolves ~1.2e-10, a ten-millionth of this feature's spread, and the
    // mean itself is only known to that resolution.
    expect(Math.abs(mean[0])).toBeLessThan(1e-5);
    expect(Math.abs(variance[0] - 1)).toBeLessThan(1e-5);
    expect(mean[1]).toBeCloseTo(0, 9);
    expect(variance[1]).toBeCloseTo(1, 9);
  });

  test('a zero-variance feature maps to 0, never NaN', () => {
    const scaler = new StandardScaler(2);
    const out = new Float64Array(2);
    expect([...scaler.transform([5, 5], out)]).toEqual([0, 0]); // nothing learned yet
    scaler.learn([7, 1]);
    expect([...scaler.transform([7, 1], out)]).toEqual([0, 0]); // one example: no spread
    scaler.learn([7, 3]);
    const z = scaler.transform([9, 3], out);
    expect(z[0]).toBe(0);
    expect(z[1]).toBe(1);
  });

  test('transform writes into `out` and allocates when it is omitted', () => {
    const scaler = new StandardScaler(2);
    scaler.learn([1, 2]);
    scaler.learn([3, 4]);
    const out = new Float64Array(2);
    expect(scaler.transform([3, 4], out)).toBe(out);
    expect([...scaler.transform([1, 2])]).toEqual([-1, -1]);
  });

  test('learnTransform learns first, then transforms with the new statistics', () => {
    const a = new StandardScaler(1);
    const b = new StandardScaler(1);
    for (const v of [1, 2, 4]) {
      a.learn([v]);
      expect([...b.learnTransform([v])]).toEqual([...a.transform([v])]);
    }
  });

  test.each([
    ['NaN', [Number.NaN, 1, 1]],
    ['∞', [1, Infinity, 1]],
    ['a string', [1, 1, 'x']],
    ['the wrong length', [1, 1]],
  ])('refuses %s with BAD_INPUT and changes nothing', (_name, bad) => {
    const scaler = new StandardScaler(3);
    for (const r of data.slice(0, 10)) scaler.learn(r);
    const before = scaler.exportState();
    let code: string | undefined;
    try {
      scaler.learn(bad as number[]);
    } catch (error) {
      code = isLearnerError(error) ? error.code : undefined;
    }
    expect(code).toBe('BAD_INPUT');
    expect(scaler.exportState()).toEqual(before);
  });

  test('restores exactly from its state', () => {
    const straight = new StandardScaler(3);
    let resumed = new StandardScaler(3);
    for (let i = 0; i < data.length; i++) {
      straight.learn(data[i]);
      if (i % 777 === 0) resumed = StandardScaler.restore(structuredClone(resumed.exportState()));
      resumed.learn(data[i]);
    }
    expect(resumed.exportState()).toEqual(straight.exportState());
    const x = [1e6, 1, 7];
    expect([...resumed.transform(x)]).toEqual([...straight.transform(x)]);
  });

  test('refuses a corrupt state', () => {
    const state = new StandardScaler(2).exportState();
    expect(() => StandardScaler.restore({ ...state, m2: Float64Array.of(-1, 0) })).toThrow(
      expect.objectContaining({ code: 'BAD_CONFIG' }),
    );
    expect(() => StandardScaler.restore({ ...state, mean: new Float64Array(3) })).toThrow(
      expect.objectContaining({ code: 'BAD_CONFIG' }),
    );
  });
});
