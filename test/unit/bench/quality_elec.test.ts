import { describe, expect, it } from 'vitest';
import { curveOf, noChange } from '../../../bench/quality_elec.ts';

describe('elec helpers', () => {
  it('samples the rows predicted right every 500 rows, and always at the end', () => {
    const errors = Array.from({ length: 1_200 }, (_, i) => (i % 4 === 0 ? 1 : 0));
    expect(curveOf(errors)).toEqual([
      [500, 375],
      [1_000, 750],
      [1_200, 900],
    ]);
  });

  it('scores the no-change baseline by predicting the previous label (the first row is a miss)', () => {
    const stream = { xs: [], ys: [1, 1, 0, 0, 1] };
    const run = noChange(stream);
    expect(run.accuracy).toBeCloseTo(2 / 5);
    expect(run.logloss).toBeNull();
    expect(run.curve).toEqual([[5, 2]]);
  });
});
