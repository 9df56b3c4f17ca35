/**
 * Bucket ranges of staged versions (server/rollout/bucket_ranges.ts) under random sequences of
 * publish, ramp and retire: ranges stay inside [0, 1) and disjoint, a ramp never moves a range
 * that serves devices, and a publish is refused only when no gap is wide enough.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  type BucketRange,
  placeRange,
  RANGE_EPSILON,
  rangeProblem,
  roundStart,
} from '../../../server/rollout/bucket_ranges.ts';

type Op =
  | { kind: 'publish'; weight: number }
  | { kind: 'ramp'; index: number; weight: number }
  | { kind: 'retire'; index: number };

const weight = fc.integer({ min: 0, max: 40 }).map((x) => x / 100);
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('publish' as const), weight }),
  fc.record({ kind: fc.constant('ramp' as const), index: fc.nat(20), weight }),
  fc.record({ kind: fc.constant('retire' as const), index: fc.nat(20) }),
);

function assertDisjoint(ranges: BucketRange[]): void {
  const live = ranges.filter((r) => r.weight > 0).sort((a, b) => a.start - b.start);
  for (const r of live) {
    expect(r.start).toBeGreaterThanOrEqual(0);
    expect(r.start + r.weight).toBeLessThanOrEqual(1 + RANGE_EPSILON);
  }
  for (let i = 1; i < live.length; i++)
    expect(live[i].start).toBeGreaterThanOrEqual(
      live[i - 1].start + live[i - 1].weight - RANGE_EPSILON,
    );
}

/** Is there a gap of `weight` anywhere, by brute force on a fine grid? */
function someGap(ranges: BucketRange[], weight: number): boolean {
  for (let s = 0; s + weight <= 1 + RANGE_EPSILON; s += 0.01)
    if (rangeProblem(ranges, roundStart(s), weight) === null) return true;
  return false;
}

describe('bucket ranges', () => {
  test('random publish / ramp / retire keep staged ranges disjoint; ramps keep starts', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        let ranges: BucketRange[] = [];
        let next = 1;
        for (const o of ops) {
          if (o.kind === 'publish') {
            const start = placeRange(ranges, o.weight);
            if (start === null) expect(someGap(ranges, o.weight)).toBe(false);
            else {
              expect(rangeProblem(ranges, start, o.weight)).toBeNull();
              ranges.push({ id: `v${next++}`, start, weight: o.weight });
            }
          } else if (ranges.length > 0) {
            const target = ranges[o.index % ranges.length];
            const others = ranges.filter((r) => r !== target);
            if (o.kind === 'retire') ranges = others;
            else if (target.weight > 0) {
              // A range that serves devices only grows or shrinks in place.
              if (rangeProblem(others, target.start, o.weight) === null) target.weight = o.weight;
            } else {
              const start = placeRange(others, o.weight);
              if (start !== null) Object.assign(target, { start, weight: o.weight });
            }
          }
          assertDisjoint(ranges);
        }
      }),
      { numRuns: 300 },
    );
  });

  test('the lowest free start, and float noise kept out of starts', () => {
    const taken: BucketRange[] = [
      { id: 'a', start: 0.1, weight: 0.2 },
      { id: 'b', start: 0.5, weight: 0.3 },
    ];
    expect(placeRange(taken, 0.1)).toBe(0);
    expect(placeRange(taken, 0.15)).toBe(0.3);
    expect(placeRange(taken, 0.2)).toBe(0.3);
    expect(placeRange(taken, 0.25)).toBeNull();
    expect(placeRange([{ id: 'a', start: 0.1, weight: 0.2 }], 0.3)).toBe(0.3);
    expect(
      placeRange(
        [
          { id: 'a', start: 0, weight: 0.1 },
          { id: 'b', start: 0.1, weight: 0.2 },
        ],
        0.7,
      ),
    ).toBe(0.3);
    expect(rangeProblem(taken, 0.5, 0.51)).toContain('would pass 1');
    // a ramps beside b (a itself is not among the others).
    expect(rangeProblem([taken[1]], 0.1, 0.41)).toContain("overlap b's [0.5, 0.8)");
    expect(rangeProblem([taken[1]], 0.1, 0.4)).toBeNull();
  });
});
