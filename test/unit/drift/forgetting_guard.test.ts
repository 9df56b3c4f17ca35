/**
 * The forgetting guard: a reset only on anytime-valid evidence that the device head is worse
 * than the baseline and that the baseline beats the constant predictor; what it learned (the
 * spent level, the pooled variances) survives restarts and resets.
 */
import { describe, expect, test } from 'vitest';
import { mulberry32 } from '../../../models/onnx/prng.ts';
import { ConstantPredictor } from '../../../src/drift/constant_predictor.ts';
import { ForgettingGuard, type ForgettingVerdict } from '../../../src/drift/forgetting_guard.ts';
import { isLearnerError } from '../../../src/errors.ts';

function expectCode(fn: () => unknown, code: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(isLearnerError(caught) && caught.code).toBe(code);
}

/**
 * Paired log losses: a shared per-outcome difficulty (the noise every predictor sees) plus each
 * one's own noise. The device head's mean is `gap` above the baseline's; the constant
 * predictor's is `edge` above the baseline's (the baseline's worth).
 */
function feed(guard: ForgettingGuard, seed: number, length: number, gap: number, edge = 0.2) {
  const random = mulberry32(seed);
  const verdicts: ForgettingVerdict[] = [];
  for (let i = 0; i < length; i++) {
    const difficulty = 0.2 + random();
    const baseline = difficulty + 0.1 * random();
    const device = Math.max(0, difficulty + 0.1 * random() + gap);
    const constant = Math.max(0, difficulty + 0.1 * random() + edge);
    const verdict = guard.observe(device, baseline, constant);
    if (verdict) verdicts.push(verdict);
  }
  return verdicts;
}

describe('when it calls for a reset', () => {
  test('equal heads: no reset in 20 runs of 20,000 outcomes (a lifetime level of 5 %)', () => {
    for (let seed = 1; seed <= 20; seed++) {
      expect(feed(new ForgettingGuard(), seed, 20_000, 0)).toEqual([]);
    }
  });

  test('looking after every outcome does not inflate the level: heavy-tailed noise, no reset', () => {
    // Differences of ±1 with a skewed distribution: a fixed-n z-test checked every outcome
    // would fire within a few thousand outcomes in most runs.
    let resets = 0;
    for (let seed = 1; seed <= 20; seed++) {
      const random = mulberry32(100 + seed);
      const guard = new ForgettingGuard({ minOutcomes: 20 });
      for (let i = 0; i < 5000; i++) {
        const spike = random() < 0.05 ? 3 * random() : 0;
        if (guard.observe(0.5 + spike, 0.5 + 0.15 * random(), 1.2)) resets++;
      }
    }
    expect(resets).toBeLessThanOrEqual(1);
  });

  test('a device head better than the baseline never resets', () => {
    expect(feed(new ForgettingGuard(), 3, 20_000, -0.1)).toEqual([]);
  });

  test('a clearly worse device head is reset within the first sequence, with its numbers', () => {
    const verdicts = feed(new ForgettingGuard(), 5, 1000, 0.1);
    expect(verdicts.length).toBeGreaterThan(0);
    const [first] = verdicts;
    expect(first.at).toBeLessThan(400);
    expect(first.sequence).toBe(1);
    expect(first.level).toBeCloseTo(0.025, 12);
    expect(first.difference).toBeCloseTo(first.deviceMean - first.baselineMean, 12);
    expect(first.difference).toBeGreaterThan(0.08);
    expect(first.difference).toBeLessThan(0.12);
    expect(first.lower).toBeGreaterThan(0);
    expect(first.lower).toBeLessThan(first.difference);
    expect(first.constantMean).toBeGreaterThan(first.baselineMean);
  });

  test('worse by less than the margin: no reset; by more: resets', () => {
    expect(feed(new ForgettingGuard({ margin: 0.05 }), 4, 20_000, 0.02)).toEqual([]);
    expect(feed(new ForgettingGuard({ margin: 0.05 }), 4, 5000, 0.15).length).toBeGreaterThan(0);
  });

  test('never toward a baseline no better than the constant predictor', () => {
    // The device head is far worse, but so is the baseline against the label frequencies.
    expect(feed(new ForgettingGuard(), 6, 20_000, 0.3, 0)).toEqual([]);
    expect(feed(new ForgettingGuard(), 6, 20_000, 0.3, -0.1)).toEqual([]);
  });

  test('a reset keeps what it learned: each later verdict needs more evidence', () => {
    const guard = new ForgettingGuard({ epoch: 500 });
    const verdicts = feed(guard, 7, 10_000, 0.1);
    expect(verdicts.length).toBeGreaterThan(2);
    expect(guard.resets).toBe(verdicts.length);
    for (let i = 1; i < verdicts.length; i++) {
      expect(verdicts[i].sequence).toBeGreaterThan(verdicts[i - 1].sequence);
      expect(verdicts[i].level).toBeLessThan(verdicts[i - 1].level);
    }
    // The levels spent add up to less than α, however long the device lives.
    const spent = verdicts.reduce((sum, v) => sum + v.level, 0);
    expect(spent).toBeLessThan(0.05);
  });

  test('an old good stretch does not hide a recent bad one: sequences restart every epoch', () => {
    const guard = new ForgettingGuard({ epoch: 1000 });
    expect(feed(guard, 8, 5000, -0.05)).toEqual([]);
    const later = feed(guard, 9, 2000, 0.1);
    expect(later.length).toBeGreaterThan(0);
    expect(later[0].at - 5000).toBeLessThan(1500);
  });
});

describe('the constant predictor', () => {
  test('binary: Krichevsky–Trofimov, prequential', () => {
    const constant = new ConstantPredictor('binary', [0, 1]);
    expect(constant.loss(1)).toBeCloseTo(Math.log(2), 12);
    expect(constant.loss(1)).toBeCloseTo(-Math.log(1.5 / 2), 12);
    expect(constant.loss(0)).toBeCloseTo(-Math.log(0.5 / 3), 12);
    expect(constant.loss(true)).toBeCloseTo(-Math.log(2.5 / 4), 12);
  });

  test('multiclass by class, regression by the running mean; an unknown class is NaN', () => {
    const multi = new ConstantPredictor('multiclass', ['a', 'b', 'c']);
    expect(multi.loss('b')).toBeCloseTo(Math.log(3), 12);
    expect(multi.loss('b')).toBeCloseTo(-Math.log(1.5 / 2.5), 12);
    expect(multi.loss('z')).toBeNaN();
    const regression = new ConstantPredictor('regression');
    expect(regression.loss(2)).toBe(4);
    expect(regression.loss(4)).toBe(4);
    expect(regression.loss(3)).toBe(0);
  });
});

describe('state', () => {
  test('a JSON round trip continues exactly, verdicts included', () => {
    const guard = new ForgettingGuard({ epoch: 300 });
    feed(guard, 7, 1234, 0.03);
    const state = guard.exportState();
    const copy = ForgettingGuard.restore(JSON.parse(JSON.stringify(state)));
    expect(copy.exportState()).toEqual(state);
    expect(feed(copy, 8, 3000, 0.1)).toEqual(feed(guard, 8, 3000, 0.1));
    expect(copy.exportState()).toEqual(guard.exportState());
  });

  test('a corrupt state is refused with BAD_CONFIG', () => {
    const guard = new ForgettingGuard({ epoch: 10, minOutcomes: 5 });
    feed(guard, 9, 5, 0);
    const state = guard.exportState();
    const restore = (changed: object) => () =>
      ForgettingGuard.restore({ ...state, ...changed } as never);
    expectCode(restore({ kind: 'x' }), 'BAD_CONFIG');
    expectCode(restore({ current: { ...state.current, n: 3 } }), 'BAD_CONFIG');
    expectCode(restore({ current: { ...state.current, device: Number.NaN } }), 'BAD_CONFIG');
    expectCode(
      restore({ pooled: { d: state.pooled.d, e: { n: 1, sum: 0, sumSq: -1 } } }),
      'BAD_CONFIG',
    );
    expectCode(restore({ n: 2 }), 'BAD_CONFIG');
    expectCode(restore({ sequence: 0 }), 'BAD_CONFIG');
  });
});

describe('bad input and options', () => {
  test('a non-finite or negative loss throws BAD_INPUT and changes nothing', () => {
    const guard = new ForgettingGuard();
    feed(guard, 10, 7, 0);
    const before = guard.exportState();
    expectCode(() => guard.observe(Number.NaN, 0.5, 0.5), 'BAD_INPUT');
    expectCode(() => guard.observe(0.5, Number.POSITIVE_INFINITY, 0.5), 'BAD_INPUT');
    expectCode(() => guard.observe(0.5, 0.5, -1), 'BAD_INPUT');
    expect(guard.exportState()).toEqual(before);
  });

  test.each([
    [{ epoch: 1 }],
    [{ epoch: 2.5 }],
    [{ margin: -0.1 }],
    [{ alpha: 0 }],
    [{ alpha: Number.NaN }],
    [{ epoch: 10, minOutcomes: 11 }],
  ])('%o: BAD_CONFIG', (options) => {
    expectCode(() => new ForgettingGuard(options), 'BAD_CONFIG');
  });
});
