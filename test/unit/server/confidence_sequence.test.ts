/**
 * The normal-mixture confidence sequence (src/rollout/confidence_sequence.ts) on simulated
 * streams with a known mean: it must hold at every n at once (time-uniform coverage), where a
 * fixed-n interval checked as often does not, and it must shrink as n grows.
 */
import { describe, expect, test } from 'vitest';
import {
  confidenceSequence,
  normalMixtureRadius,
  rhoFor,
} from '../../../src/rollout/confidence_sequence.ts';

/** Mulberry32: a small seeded generator, so every run sees the same streams. */
function generator(seed: number): () => number {
  let state = seed | 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const gaussian = (random: () => number) =>
  Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());

interface Stream {
  name: string;
  mean: number;
  draw: (random: () => number) => number;
  /** Coverage is checked at every n from here on. */
  from: number;
}

const STREAMS: Stream[] = [
  { name: 'normal', mean: 0.05, draw: (r) => 0.05 + 0.3 * gaussian(r), from: 10 },
  {
    // Most paired differences near zero, a few large ones either way (heads that disagree).
    name: 'mostly small, some large',
    mean: 0.01,
    draw: (r) => 0.01 + (r() < 0.05 ? (r() < 0.5 ? 1.5 : -1.5) : 0.1 * gaussian(r)),
    from: 10,
  },
  { name: 'exponential (skewed)', mean: 0.02, draw: (r) => -Math.log(1 - r()) - 0.98, from: 300 },
];

const ALPHA = 0.05;
const SEEDS = 300;
const LENGTH = 3000;

/** Share of seeds whose stream ever leaves the bound (n ≥ from), for the CS and a fixed-n CI. */
function missRates(stream: Stream): { sequence: number; fixed: number } {
  const rho = rhoFor(500, ALPHA);
  let sequenceMisses = 0;
  let fixedMisses = 0;
  for (let seed = 1; seed <= SEEDS; seed++) {
    const random = generator(seed * 7919);
    let sum = 0;
    let sumSq = 0;
    let missed = false;
    let fixedMissed = false;
    for (let n = 1; n <= LENGTH; n++) {
      const x = stream.draw(random);
      sum += x;
      sumSq += x * x;
      if (n < stream.from) continue;
      const bound = confidenceSequence({ n, sum, sumSq }, { alpha: ALPHA, rho })!;
      if (stream.mean < bound.lower || stream.mean > bound.upper) missed = true;
      if (Math.abs(bound.mean - stream.mean) > 1.96 * Math.sqrt(bound.variance / n))
        fixedMissed = true;
    }
    if (missed) sequenceMisses++;
    if (fixedMissed) fixedMisses++;
  }
  return { sequence: sequenceMisses / SEEDS, fixed: fixedMisses / SEEDS };
}

describe('normal-mixture confidence sequence', () => {
  for (const stream of STREAMS)
    test(`holds at every n at once on a ${stream.name} stream (${SEEDS} seeds)`, () => {
      const rates = missRates(stream);
      expect(rates.sequence).toBeLessThanOrEqual(ALPHA);
      // The same data through a fixed-n 95 % interval, looked at after every sample: wrong on
      // most streams. This is why the policy needs a sequence.
      expect(rates.fixed).toBeGreaterThan(4 * ALPHA);
    });

  test('shrinks with n, roughly as sqrt(log n / n)', () => {
    const rho = rhoFor(1000, ALPHA);
    const radii = [100, 1000, 10_000, 100_000].map(
      (n) => confidenceSequence({ n, sum: 0, sumSq: n }, { alpha: ALPHA, rho })!.radius,
    );
    for (let i = 1; i < radii.length; i++) expect(radii[i]).toBeLessThan(radii[i - 1] / 2.5);
    // Near the tuned n it is about 1.5× a fixed-n 95 % interval, the price of looking anytime.
    const ratio = radii[1] / (1.96 / Math.sqrt(1000));
    expect(ratio).toBeGreaterThan(1.3);
    expect(ratio).toBeLessThan(1.7);
  });

  test('rhoFor(m) makes the bound tightest at n = m', () => {
    for (const m of [50, 1000, 20_000]) {
      const best = normalMixtureRadius(m, 1, ALPHA, rhoFor(m, ALPHA));
      for (const factor of [0.25, 0.5, 0.9, 1.1, 2, 4])
        expect(best).toBeLessThan(normalMixtureRadius(m, 1, ALPHA, rhoFor(m, ALPHA) * factor));
    }
  });

  test('a smaller alpha widens it; the bound is centred on the mean', () => {
    const moments = { n: 2000, sum: -60, sumSq: 200 };
    const wide = confidenceSequence(moments, { alpha: 0.01 })!;
    const narrow = confidenceSequence(moments, { alpha: 0.1 })!;
    expect(wide.radius).toBeGreaterThan(narrow.radius);
    expect(wide.mean).toBeCloseTo(-0.03, 12);
    expect((wide.lower + wide.upper) / 2).toBeCloseTo(-0.03, 12);
    expect(wide.variance).toBeCloseTo((200 - 60 * 0.03) / 1999, 12);
  });

  test('the doc comment example', () => {
    const bound = confidenceSequence(
      { n: 4000, sum: -120, sumSq: 410 },
      { alpha: 0.05, rho: rhoFor(1000, 0.05) },
    )!;
    expect(bound.upper).toBeCloseTo(-0.0142, 4);
  });

  test('too few samples give no bound; bad parameters are refused', () => {
    expect(confidenceSequence({ n: 1, sum: 0.5, sumSq: 0.25 })).toBeNull();
    expect(confidenceSequence({ n: 0, sum: 0, sumSq: 0 })).toBeNull();
    expect(confidenceSequence({ n: 10, sum: Number.NaN, sumSq: 1 })).toBeNull();
    expect(() => confidenceSequence({ n: 10, sum: 0, sumSq: 1 }, { alpha: 0 })).toThrow(RangeError);
    expect(() => confidenceSequence({ n: 10, sum: 0, sumSq: 1 }, { alpha: 1 })).toThrow(RangeError);
    expect(() => confidenceSequence({ n: 10, sum: 0, sumSq: 1 }, { rho: -1 })).toThrow(RangeError);
    expect(() => rhoFor(0)).toThrow(RangeError);
    // A constant stream has no spread; a floor keeps the bound from collapsing to a point.
    const constant = confidenceSequence({ n: 100, sum: 1, sumSq: 0.01 }, { minVariance: 1e-4 })!;
    expect(constant.radius).toBeGreaterThan(0);
  });
});
