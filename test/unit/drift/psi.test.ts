/** PSI: the figures stated in src/drift/psi.ts's doc comment, and the binning rules. */
import { describe, expect, test } from 'vitest';
import { mulberry32 } from '../../../models/onnx/prng.ts';
import { normalQuantile, Psi, psi, psiSeverity } from '../../../src/drift/index.ts';
import { isLearnerError } from '../../../src/errors.ts';
import { gaussian } from './streams.ts';

/** PSI of 1,000 N(shift, 1) values against bins built from 1,000 N(0, 1) values. */
function measure(seed: number, shift: number): { sample: number; normal: number } {
  const random = mulberry32(seed);
  const reference = Array.from({ length: 1000 }, () => gaussian(0)(random));
  const fromSample = Psi.fromReference(reference, { bins: 10 });
  const fromNormal = Psi.fromNormal(0, 1, { bins: 10 });
  const draw = gaussian(shift);
  for (let i = 0; i < 1000; i++) {
    const v = draw(random);
    fromSample.update(v);
    fromNormal.update(v);
  }
  return { sample: fromSample.value, normal: fromNormal.value };
}

describe('figures (20 seeded runs, 10 bins, 1,000 observed values)', () => {
  const seeds = Array.from({ length: 20 }, (_, i) => i + 1);

  test('identical distributions: < 0.04 (< 0.02 against exact normal bins), stable', () => {
    for (const seed of seeds) {
      const { sample, normal } = measure(seed, 0);
      expect(sample).toBeLessThan(0.04);
      expect(normal).toBeLessThan(0.02);
      expect(psiSeverity(sample)).toBe('stable');
    }
  });

  test('a shift of σ/2: 0.15–0.30; of σ: 0.75–1.07, significant', () => {
    for (const seed of seeds) {
      for (const psiValue of Object.values(measure(seed, 0.5))) {
        expect(psiValue).toBeGreaterThan(0.15);
        expect(psiValue).toBeLessThan(0.3);
      }
      for (const psiValue of Object.values(measure(seed, 1))) {
        expect(psiValue).toBeGreaterThan(0.75);
        expect(psiValue).toBeLessThan(1.07);
        expect(psiSeverity(psiValue)).toBe('significant');
      }
    }
  });
});

describe('psi()', () => {
  test('matches the formula on a hand-worked example, from counts or shares alike', () => {
    const expected = [0.25, 0.25, 0.5];
    const actual = [0.5, 0.25, 0.25];
    const byHand = (0.5 - 0.25) * Math.log(0.5 / 0.25) + 0 + (0.25 - 0.5) * Math.log(0.25 / 0.5);
    expect(psi(expected, actual)).toBeCloseTo(byHand, 12);
    expect(psi([25, 25, 50], [50, 25, 25])).toBeCloseTo(byHand, 12);
    expect(psi(expected, expected)).toBe(0);
  });

  test('an empty bin is floored at epsilon instead of making PSI infinite', () => {
    const value = psi([0.5, 0.5], [1, 0]);
    expect(Number.isFinite(value)).toBe(true);
    expect(value).toBeGreaterThan(1);
  });

  test('severity thresholds: 0.1 and 0.25', () => {
    expect(psiSeverity(0.099)).toBe('stable');
    expect(psiSeverity(0.1)).toBe('moderate');
    expect(psiSeverity(0.249)).toBe('moderate');
    expect(psiSeverity(0.25)).toBe('significant');
  });
});

describe('bins', () => {
  test('quantile bins hold about 1/B of the reference each', () => {
    const random = mulberry32(3);
    const reference = Array.from({ length: 10_000 }, () => random() ** 3); // skewed
    const monitor = Psi.fromReference(reference, { bins: 10 });
    for (const share of monitor.expectedShares) expect(share).toBeCloseTo(0.1, 3);
  });

  test('a discrete reference merges the bins its ties would leave empty', () => {
    const reference = Array.from({ length: 1000 }, (_, i) => (i < 900 ? 0 : 1));
    const monitor = Psi.fromReference(reference, { bins: 10 });
    expect(monitor.bins).toBeLessThanOrEqual(3);
    expect(Math.max(...monitor.expectedShares)).toBeCloseTo(0.9, 12);
  });

  test('fixed edges: v falls in bin i when edges[i-1] ≤ v < edges[i]', () => {
    const monitor = Psi.fromEdges([0.5], { shares: [0.5, 0.5] }, { window: 0, minSamples: 1 });
    monitor.update(0.4999);
    monitor.update(0.5);
    monitor.update(0.6);
    expect([...monitor.actualShares]).toEqual([1 / 3, 2 / 3]);
  });

  test('fromNormal edges sit at the normal quantiles', () => {
    expect(normalQuantile(0.975)).toBeCloseTo(1.959963985, 8);
    expect(normalQuantile(0.1)).toBeCloseTo(-1.281551566, 8);
    expect(normalQuantile(0.5)).toBe(0);
    const monitor = Psi.fromNormal(10, 2, { bins: 4 });
    expect(monitor.exportState().edges[0]).toBeCloseTo(10 - 2 * 0.6744897502, 8);
  });
});

describe('as a detector', () => {
  test('reports the crossing once, then again only after falling back', () => {
    const monitor = Psi.fromNormal(0, 1, { bins: 10, window: 200, minSamples: 200 });
    const random = mulberry32(4);
    const crossings: number[] = [];
    const phases: [number, number][] = [
      [0, 600],
      [2, 600],
      [0, 600],
      [2, 600],
    ];
    let i = 0;
    for (const [mean, length] of phases) {
      const draw = gaussian(mean);
      for (let k = 0; k < length; k++, i++) if (monitor.update(draw(random))) crossings.push(i);
    }
    expect(crossings.length).toBe(2);
    expect(crossings[0]).toBeGreaterThanOrEqual(600);
    expect(crossings[0]).toBeLessThan(700);
    expect(crossings[1]).toBeGreaterThanOrEqual(1800);
    expect(crossings[1]).toBeLessThan(1900);
  });

  test('the window forgets: after a return to the reference PSI is small again', () => {
    const monitor = Psi.fromNormal(0, 1, { window: 500 });
    const random = mulberry32(8);
    for (let i = 0; i < 500; i++) monitor.update(gaussian(3)(random));
    expect(monitor.value).toBeGreaterThan(1);
    for (let i = 0; i < 500; i++) monitor.update(gaussian(0)(random));
    expect(monitor.value).toBeLessThan(0.05);
  });

  test('no verdict before minSamples', () => {
    const monitor = Psi.fromNormal(0, 1, { window: 0, minSamples: 100 });
    for (let i = 0; i < 99; i++) expect(monitor.update(50)).toBe(false);
    expect(monitor.update(50)).toBe(true);
  });

  test('state survives a structured clone, counts checked against the window', () => {
    const monitor = Psi.fromNormal(0, 1, { window: 50, minSamples: 10 });
    const random = mulberry32(12);
    for (let i = 0; i < 80; i++) monitor.update(gaussian(0.5)(random));
    const state = structuredClone(monitor.exportState());
    const copy = Psi.restore(state);
    for (let i = 0; i < 200; i++) {
      const v = gaussian(i > 100 ? 2 : 0)(random);
      expect(copy.update(v)).toBe(monitor.update(v));
      expect(copy.value).toBe(monitor.value);
    }
    const broken = monitor.exportState();
    broken.counts[0] += 1;
    expect(() => Psi.restore(broken)).toThrow(/window/);
  });

  test('bad options and bad values are typed errors', () => {
    const codes: string[] = [];
    for (const build of [
      () => Psi.fromReference([1, 2, 3], { bins: 10 }),
      () => Psi.fromEdges([1, 1], [0, 1, 2]),
      () => Psi.fromNormal(0, 0),
      () => Psi.fromNormal(0, 1, { window: 10, minSamples: 20 }),
      () => Psi.fromNormal(0, 1).update(Number.NaN),
    ]) {
      try {
        build();
        codes.push('none');
      } catch (error) {
        codes.push(isLearnerError(error) ? error.code : 'other');
      }
    }
    expect(codes).toEqual(['BAD_CONFIG', 'BAD_CONFIG', 'BAD_CONFIG', 'BAD_CONFIG', 'BAD_INPUT']);
  });
});
