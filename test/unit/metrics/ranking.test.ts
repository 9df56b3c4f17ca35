// P@k, R@k and NDCG@k of one slate: hand-computed cases, ties, bad input, and properties.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { isLearnerError } from '../../../src/errors.ts';
import {
  ndcgAtK,
  precisionAtK,
  rankingAtK,
  rankOrder,
  recallAtK,
} from '../../../src/metrics/ranking.ts';

const codeOf = (run: () => unknown): string | undefined => {
  try {
    run();
  } catch (error) {
    return isLearnerError(error) ? error.code : 'not a LearnerError';
  }
  return undefined;
};

describe('hand-computed slates', () => {
  test('binary relevance: 3 of 5 relevant, k = 3', () => {
    // Ranked 0, 1, 2, 3, 4; relevant 0, 2, 4: the top 3 hold 0 and 2.
    const r = rankingAtK([0.9, 0.8, 0.7, 0.6, 0.5], new Set([0, 2, 4]), 3)!;
    expect(r.precision).toBeCloseTo(2 / 3, 12);
    expect(r.recall).toBeCloseTo(2 / 3, 12);
    // DCG = 1/log2(2) + 0 + 1/log2(4) = 1.5; IDCG = 1 + 1/log2(3) + 1/log2(4) = 2.130929…
    expect(r.ndcg).toBeCloseTo(0.7039180890341347, 12);
  });

  test('graded gains (Järvelin & Kekäläinen’s kind of vector), k = 6 and k = 4', () => {
    const gains = [3, 2, 3, 0, 1, 2];
    const scores = [6, 5, 4, 3, 2, 1]; // ranked in the given order
    // DCG@6 = 3 + 2/log2 3 + 3/2 + 0 + 1/log2 6 + 2/log2 7 = 6.861127; ideal 3,3,2,2,1,0: 7.140995.
    expect(ndcgAtK(scores, gains, 6)).toBeCloseTo(0.9608081943360617, 12);
    // DCG@4 = 5.761860; ideal 3,3,2,2: 6.754142.
    expect(ndcgAtK(scores, gains, 4)).toBeCloseTo(0.8530852898337354, 12);
    // Five candidates have gain > 0: the top 4 hold three of them (3, 2, 3).
    expect(precisionAtK(scores, gains, 4)).toBeCloseTo(3 / 4, 12);
    expect(recallAtK(scores, gains, 4)).toBeCloseTo(3 / 5, 12);
  });

  test('the order is by score, not by position', () => {
    // Scores rank 2, 0, 1; relevant 0 and 1; top 2 = {2, 0}.
    const r = rankingAtK([0.5, 0.1, 0.9], new Set([0, 1]), 2)!;
    expect(r.precision).toBe(0.5);
    expect(r.recall).toBe(0.5);
    const discount = 1 / Math.log2(3);
    expect(r.ndcg).toBeCloseTo(discount / (1 + discount), 12);
  });

  test('equal scores rank by candidate index, lower first', () => {
    expect(rankOrder([0.5, 0.7, 0.5, 0.7, 0.5])).toEqual([1, 3, 0, 2, 4]);
    expect(rankingAtK([0.5, 0.5, 0.5], new Set([0]), 1)).toEqual({
      precision: 1,
      recall: 1,
      ndcg: 1,
    });
    expect(rankingAtK([0.5, 0.5, 0.5], new Set([2]), 1)).toEqual({
      precision: 0,
      recall: 0,
      ndcg: 0,
    });
  });

  test('a slate shorter than k: its whole length is the top', () => {
    const r = rankingAtK([0.2, 0.8], new Set([0]), 10)!;
    expect(r.precision).toBe(0.5);
    expect(r.recall).toBe(1);
    expect(r.ndcg).toBeCloseTo(1 / Math.log2(3), 12);
  });

  test('no relevant candidate: no recall or NDCG, and precision 0', () => {
    expect(rankingAtK([0.3, 0.2], new Set(), 1)).toBeNull();
    expect(rankingAtK([0.3, 0.2], [0, 0], 1)).toBeNull();
    expect(recallAtK([0.3, 0.2], [0, 0], 1)).toBeNull();
    expect(ndcgAtK([0.3, 0.2], [0, 0], 1)).toBeNull();
    expect(precisionAtK([0.3, 0.2], [0, 0], 1)).toBe(0);
  });
});

describe('bad input is refused with BAD_INPUT', () => {
  test.each([
    ['a NaN score', () => rankingAtK([0.1, Number.NaN], new Set([0]), 1)],
    ['an infinite score', () => rankOrder([Number.POSITIVE_INFINITY, 0])],
    ['k = 0', () => rankingAtK([0.1, 0.2], new Set([0]), 0)],
    ['a fractional k', () => rankingAtK([0.1, 0.2], new Set([0]), 1.5)],
    ['an index outside the slate', () => rankingAtK([0.1, 0.2], new Set([2]), 1)],
    ['a negative index', () => rankingAtK([0.1, 0.2], new Set([-1]), 1)],
    ['gains of the wrong length', () => rankingAtK([0.1, 0.2], [1], 1)],
    ['a negative gain', () => rankingAtK([0.1, 0.2], [1, -1], 1)],
    ['a NaN gain', () => rankingAtK([0.1, 0.2], [1, Number.NaN], 1)],
  ])('%s', (_, run) => {
    expect(codeOf(run)).toBe('BAD_INPUT');
  });
});

/** A slate: distinct-ish scores, gains with at least one > 0, and a k. */
const slate = fc.integer({ min: 1, max: 30 }).chain((n) =>
  fc.record({
    scores: fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), {
      minLength: n,
      maxLength: n,
    }),
    gains: fc
      .array(
        fc.oneof(
          fc.constant(0),
          fc.integer({ min: 0, max: 3 }),
          fc.double({ min: 0, max: 5, noNaN: true }),
        ),
        {
          minLength: n,
          maxLength: n,
        },
      )
      .filter((gains) => gains.some((gain) => gain > 0)),
    k: fc.integer({ min: 1, max: 40 }),
  }),
);

/** NDCG@k straight from the definition, by rank position rather than through an order array. */
function referenceNdcg(scores: number[], gains: number[], k: number): number {
  const n = scores.length;
  // The rank of i: how many candidates come before it (higher score, or equal and lower index).
  const rankOf = (i: number) =>
    scores.filter((s, j) => s > scores[i] || (s === scores[i] && j < i)).length;
  let dcg = 0;
  for (let i = 0; i < n; i++) {
    const rank = rankOf(i);
    if (rank < k) dcg += gains[i] / Math.log2(rank + 2);
  }
  const ideal = [...gains].sort((a, b) => b - a).slice(0, k);
  const idcg = ideal.reduce((sum, gain, rank) => sum + gain / Math.log2(rank + 2), 0);
  return dcg / idcg;
}

describe('properties', () => {
  test('every value is in [0, 1], and NDCG matches the definition', () => {
    fc.assert(
      fc.property(slate, ({ scores, gains, k }) => {
        const r = rankingAtK(scores, gains, k)!;
        for (const value of [r.precision, r.recall, r.ndcg]) {
          expect(value).toBeGreaterThanOrEqual(0);
          expect(value).toBeLessThanOrEqual(1);
        }
        expect(r.ndcg).toBeCloseTo(referenceNdcg(scores, gains, k), 9);
      }),
    );
  });

  test('scoring by the gains themselves is a perfect ranking: NDCG 1', () => {
    fc.assert(
      fc.property(slate, ({ gains, k }) => {
        expect(ndcgAtK(gains, gains, k)).toBeCloseTo(1, 12);
      }),
    );
  });

  test('hits agree: P@k · min(k, N) = R@k · relevant; with k ≥ N recall is 1', () => {
    fc.assert(
      fc.property(slate, ({ scores, gains, k }) => {
        const r = rankingAtK(scores, gains, k)!;
        const relevant = gains.filter((gain) => gain > 0).length;
        const top = Math.min(k, scores.length);
        expect(r.precision * top).toBeCloseTo(r.recall * relevant, 9);
        if (k >= scores.length) expect(r.recall).toBe(1);
      }),
    );
  });

  test('a set of relevant indices is the same as gains of 1 and 0', () => {
    fc.assert(
      fc.property(slate, ({ scores, gains, k }) => {
        const relevant = new Set(gains.flatMap((gain, i) => (gain > 0 ? [i] : [])));
        const binary = gains.map((gain) => (gain > 0 ? 1 : 0));
        expect(rankingAtK(scores, relevant, k)).toEqual(rankingAtK(scores, binary, k));
      }),
    );
  });

  test('moving a candidate of the highest gain to the top never lowers any metric', () => {
    fc.assert(
      fc.property(slate, fc.nat(), ({ scores, gains, k }, pick) => {
        const best = gains.flatMap((gain, i) => (gain === Math.max(...gains) ? [i] : []));
        const i = best[pick % best.length];
        const before = rankingAtK(scores, gains, k)!;
        const promoted = [...scores];
        promoted[i] = Math.max(...scores) + 1;
        const after = rankingAtK(promoted, gains, k)!;
        expect(after.precision).toBeGreaterThanOrEqual(before.precision - 1e-12);
        expect(after.recall).toBeGreaterThanOrEqual(before.recall - 1e-12);
        expect(after.ndcg).toBeGreaterThanOrEqual(before.ndcg - 1e-12);
      }),
    );
  });
});
