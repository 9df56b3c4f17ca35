// Per-feature moments for drift: naming, what is skipped, and the protocol's limits.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import type { FeatureMoments } from '../../../src/metrics/feature_moments.ts';
import {
  addFeatureValues,
  featureWireName,
  MAX_FEATURE_NAME,
  MAX_FEATURES,
} from '../../../src/metrics/feature_moments.ts';

describe('feature moments', () => {
  test('numbers and vectors, by column and component; scalars first, then vectors', () => {
    const list: FeatureMoments[] = [];
    addFeatureValues(list, { price: 2, pos: [1, -1], one: Float32Array.of(5) });
    addFeatureValues(list, { price: 4, pos: [3, 1] });
    expect(list).toEqual([
      { name: 'price', count: 2, sum: 6, sumSq: 20 },
      { name: 'one', count: 1, sum: 5, sumSq: 25 },
      { name: 'pos[0]', count: 2, sum: 4, sumSq: 10 },
      { name: 'pos[1]', count: 2, sum: 0, sumSq: 2 },
    ]);
  });

  test('non-finite and non-numeric values are skipped, not counted', () => {
    const list: FeatureMoments[] = [];
    const values = {
      a: Number.NaN,
      b: Number.POSITIVE_INFINITY,
      c: [1, Number.NaN],
      '': 3,
      s: 'text',
    } as unknown as Record<string, number>;
    addFeatureValues(list, values);
    expect(list).toEqual([{ name: 'c[0]', count: 1, sum: 1, sumSq: 1 }]);
  });

  test('a name like __proto__ is just a name', () => {
    const list: FeatureMoments[] = [];
    addFeatureValues(list, JSON.parse('{"__proto__": 2, "constructor": 3}'));
    expect(list.map((m) => [m.name, m.sum])).toEqual([
      ['__proto__', 2],
      ['constructor', 3],
    ]);
  });

  test(`at most ${MAX_FEATURES} features; the rest are not counted`, () => {
    const list: FeatureMoments[] = [];
    addFeatureValues(list, { wide: new Float64Array(1000).fill(1), scalar: 1 });
    addFeatureValues(list, { wide: new Float64Array(1000).fill(1), late: 1, scalar: 1 });
    expect(list).toHaveLength(MAX_FEATURES);
    // The scalar came first and the wide vector took the rest; a column seen later is left out.
    expect(list[0]).toEqual({ name: 'scalar', count: 2, sum: 2, sumSq: 2 });
    expect(list.at(-1)).toEqual({ name: 'wide[254]', count: 2, sum: 2, sumSq: 2 });
    expect(list.some((m) => m.name === 'late')).toBe(false);
  });

  test('long names fit the protocol and stay apart', () => {
    const a = `${'x'.repeat(200)}a`;
    const b = `${'x'.repeat(200)}b`;
    for (const name of [featureWireName(a), featureWireName(b), featureWireName(a, 17)]) {
      expect(name.length).toBe(MAX_FEATURE_NAME);
    }
    expect(featureWireName(a)).not.toBe(featureWireName(b));
    expect(featureWireName(a, 17).endsWith('[17]')).toBe(true);
    expect(featureWireName('short', 3)).toBe('short[3]');
    const list: FeatureMoments[] = [];
    addFeatureValues(list, { [a]: 1, [b]: 2 });
    expect(list.map((m) => m.sum)).toEqual([1, 2]);
  });

  test('names the server could not store become storable, and stay apart', () => {
    const nul = featureWireName('a\u0000');
    const lone = featureWireName('a\uD800');
    expect(nul).toMatch(/^a\uFFFD~[0-9a-f]{8}$/);
    expect(lone).toMatch(/^a\uFFFD~[0-9a-f]{8}$/);
    expect(nul).not.toBe(lone);
    // A surrogate pair straddling the cut is not split in half.
    const name = featureWireName(`${'x'.repeat(118)}${'😀'.repeat(10)}`);
    expect(name).toMatch(/^x{118}~[0-9a-f]{8}$/);
    expect(featureWireName('😀')).toBe('😀');
  });

  test('a list restored from storage continues where it was', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.dictionary(
            fc.constantFrom('a', 'b', 'c', 'd'),
            fc.double({ min: -1e3, max: 1e3, noNaN: true }),
          ),
          {
            maxLength: 20,
          },
        ),
        fc.nat(20),
        (rows, cut) => {
          const straight: FeatureMoments[] = [];
          for (const row of rows) addFeatureValues(straight, row);
          let restored: FeatureMoments[] = [];
          rows.forEach((row, i) => {
            if (i === cut) restored = structuredClone(restored);
            addFeatureValues(restored, row);
          });
          expect(restored).toEqual(straight);
        },
      ),
    );
  });
});
