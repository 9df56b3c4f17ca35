/**
 * The forgetting guard: a reset is called for only when the on-device head is worse than the
 * baseline by more than the margin over a window, with the numbers the report needs.
 */
import { describe, expect, test } from 'vitest';
import { mulberry32 } from '../../../models/onnx/prng.ts';
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
 * Paired log losses: a shared per-outcome difficulty (the noise both heads see) plus each
 * head's own noise; the device head's mean is `gap` above the baseline's.
 */
function feed(guard: ForgettingGuard, seed: number, length: number, gap: number) {
  const random = mulberry32(seed);
  const verdicts: ForgettingVerdict[] = [];
  for (let i = 0; i < length; i++) {
    const difficulty = 0.2 + random();
    const baseline = difficulty + 0.1 * random();
    const device = Math.max(0, difficulty + 0.1 * random() + gap);
    const verdict = guard.observe(device, baseline);
    if (verdict) verdicts.push(verdict);
  }
  return verdicts;
}

describe('when it calls for a reset', () => {
  test('equal heads: no reset in 10 runs of 20,000 outcomes', () => {
    for (let seed = 1; seed <= 10; seed++) {
      expect(feed(new ForgettingGuard(), seed, 20_000, 0)).toEqual([]);
    }
  });

  test('a device head better than the baseline never resets', () => {
    expect(feed(new ForgettingGuard(), 3, 20_000, -0.1)).toEqual([]);
  });

  test('worse by less than the margin: no reset; by more: a reset as soon as the window is full', () => {
    expect(feed(new ForgettingGuard({ margin: 0.02 }), 4, 20_000, 0.01)).toEqual([]);
    const verdicts = feed(new ForgettingGuard({ margin: 0.02, window: 500 }), 5, 2000, 0.05);
    // Every window of 500 after a reset gives the next one: at 499, 999, 1499, 1999.
    expect(verdicts.map((v) => v.at)).toEqual([499, 999, 1499, 1999]);
    const [first] = verdicts;
    expect(first.n).toBe(500);
    expect(first.margin).toBe(0.02);
    expect(first.difference).toBeCloseTo(first.deviceMean - first.baselineMean, 12);
    expect(first.difference).toBeGreaterThan(0.04);
    expect(first.difference).toBeLessThan(0.06);
    expect(first.standardError).toBeGreaterThan(0);
    expect(first.standardError).toBeLessThan(0.01);
  });

  test('the numbers are the window means, exactly', () => {
    const guard = new ForgettingGuard({ window: 4, margin: 0.1, z: 0 });
    expect(guard.observe(1, 0.5)).toBeNull();
    expect(guard.observe(1, 0.5)).toBeNull();
    expect(guard.observe(0.5, 0.5)).toBeNull();
    expect(guard.comparison).toMatchObject({ n: 3, deviceMean: 2.5 / 3, baselineMean: 0.5 });
    const verdict = guard.observe(0.5, 0.5);
    expect(verdict).toEqual({
      at: 3,
      n: 4,
      deviceMean: 0.75,
      baselineMean: 0.5,
      difference: 0.25,
      standardError: Math.sqrt(1 / 12 / 4),
      margin: 0.1,
    });
    expect(guard.resets).toBe(1);
    expect(guard.width).toBe(0); // the window starts afresh after a verdict
  });

  test('the window slides: an early bad stretch leaves the mean once good outcomes replace it', () => {
    const guard = new ForgettingGuard({ window: 100, margin: 0.05, z: 0, minOutcomes: 100 });
    // 40 outcomes 0.1 worse: a mean deficit of 0.04 over the full window, under the margin.
    for (let i = 0; i < 40; i++) expect(guard.observe(0.6, 0.5)).toBeNull();
    for (let i = 0; i < 60; i++) expect(guard.observe(0.5, 0.5)).toBeNull();
    expect(guard.comparison?.difference).toBeCloseTo(0.04, 12);
    for (let i = 0; i < 200; i++) expect(guard.observe(0.5, 0.5)).toBeNull();
    expect(guard.comparison?.difference).toBe(0);
  });

  test('z demands confidence: a deficit over the margin but within the noise is not enough', () => {
    // Differences alternate +1.04 and −0.96: mean 0.04 (over the margin), sd ≈ 1.
    const resets = (z: number) => {
      const guard = new ForgettingGuard({ window: 50, margin: 0.02, z });
      let count = 0;
      for (let i = 0; i < 50; i++) if (guard.observe(i % 2 ? 0.04 : 2.04, 1)) count++;
      return count;
    };
    expect(resets(0)).toBe(1);
    expect(resets(1.645)).toBe(0);
  });
});

describe('state', () => {
  test('a JSON round trip continues exactly, verdicts included', () => {
    const guard = new ForgettingGuard({ window: 300 });
    feed(guard, 7, 1234, 0.03);
    const state = guard.exportState();
    const copy = ForgettingGuard.restore(JSON.parse(JSON.stringify(state)));
    expect(copy.exportState()).toEqual(state);
    expect(feed(copy, 8, 3000, 0.05)).toEqual(feed(guard, 8, 3000, 0.05));
    expect(copy.exportState()).toEqual(guard.exportState());
  });

  test('a corrupt state is refused with BAD_CONFIG', () => {
    const guard = new ForgettingGuard({ window: 10 });
    feed(guard, 9, 5, 0);
    const state = guard.exportState();
    expectCode(() => ForgettingGuard.restore({ ...state, kind: 'x' } as never), 'BAD_CONFIG');
    expectCode(() => ForgettingGuard.restore({ ...state, device: [1] }), 'BAD_CONFIG');
    expectCode(
      () =>
        ForgettingGuard.restore({
          ...state,
          device: Array(11).fill(1),
          baseline: Array(11).fill(1),
        }),
      'BAD_CONFIG',
    );
    expectCode(() => ForgettingGuard.restore({ ...state, sums: [1, 2] as never }), 'BAD_CONFIG');
    expectCode(() => ForgettingGuard.restore({ ...state, n: 2 }), 'BAD_CONFIG');
  });
});

describe('bad input and options', () => {
  test('a non-finite or negative loss throws BAD_INPUT and changes nothing', () => {
    const guard = new ForgettingGuard({ window: 10 });
    feed(guard, 10, 7, 0);
    const before = guard.exportState();
    expectCode(() => guard.observe(Number.NaN, 0.5), 'BAD_INPUT');
    expectCode(() => guard.observe(0.5, Number.POSITIVE_INFINITY), 'BAD_INPUT');
    expectCode(() => guard.observe(-1, 0.5), 'BAD_INPUT');
    expect(guard.exportState()).toEqual(before);
  });

  test.each([
    [{ window: 1 }],
    [{ window: 2.5 }],
    [{ margin: -0.1 }],
    [{ z: Number.NaN }],
    [{ window: 10, minOutcomes: 11 }],
  ])('%o: BAD_CONFIG', (options) => {
    expectCode(() => new ForgettingGuard(options), 'BAD_CONFIG');
  });
});
