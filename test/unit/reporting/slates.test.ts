// The slate tracker: when slates close, what they add up to per version, and its bounds.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { isLearnerError } from '../../../src/errors.ts';
import { rankingAtK } from '../../../src/metrics/ranking.ts';
import type { SlateOpening, SlateResults } from '../../../src/reporting/slates.ts';
import { resolveSlateOptions, SlateTracker } from '../../../src/reporting/slates.ts';

/** A clock the test moves by hand. */
function clock(start = 1_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

const slate = (id: string, scores: number[], more: Partial<SlateOpening> = {}): SlateOpening => ({
  id,
  versionId: 'v1',
  scores,
  ...more,
});

const codeOf = (run: () => unknown): string | undefined => {
  try {
    run();
  } catch (error) {
    return isLearnerError(error) ? error.code : 'not a LearnerError';
  }
  return undefined;
};

describe('evaluating a slate', () => {
  test('closed explicitly: P@k, R@k, NDCG@k of its marks, for its version', () => {
    const tracker = new SlateTracker({ k: 2 });
    expect(tracker.open(slate('s1', [0.1, 0.9, 0.5, 0.3], { versionId: 'v7' }))).toEqual([]);
    expect(tracker.mark('s1', 2, 1)).toBe(true); // ranked 2nd: a hit
    expect(tracker.mark('s1', 0, 1)).toBe(true); // ranked 4th: a miss
    expect(tracker.mark('s1', 3, 0)).toBe(true); // seen, not relevant
    const expected = rankingAtK([0.1, 0.9, 0.5, 0.3], [1, 0, 1, 0], 2)!;
    expect(tracker.close('s1')).toEqual([
      {
        versionId: 'v7',
        ranking: {
          k: 2,
          slates: 1,
          precisionSum: expected.precision,
          recallSum: expected.recall,
          ndcgSum: expected.ndcg,
        },
      },
    ]);
    expect(expected.precision).toBe(0.5);
    expect(expected.recall).toBe(0.5);
    expect(tracker.close('s1')).toEqual([]); // already closed
    expect(tracker.stats).toMatchObject({ open: 0, evaluated: 1, unjudged: 0 });
  });

  test('a candidate keeps its highest gain', () => {
    const tracker = new SlateTracker({ k: 1 });
    tracker.open(slate('s', [0.2, 0.8]));
    tracker.mark('s', 1, 2);
    tracker.mark('s', 1, 1);
    tracker.mark('s', 0, 1);
    // Candidate 1 (gain 2) is on top: the ideal order, NDCG 1.
    expect(tracker.close('s')[0].ranking.ndcgSum).toBe(1);
  });

  test('a slate with no relevant candidate is counted, not measured', () => {
    const tracker = new SlateTracker();
    tracker.open(slate('s', [0.2, 0.8]));
    tracker.mark('s', 0, 0);
    expect(tracker.close('s')).toEqual([]);
    expect(tracker.stats).toMatchObject({ evaluated: 0, unjudged: 1 });
  });

  test('results of slates closed together add up per version', () => {
    const tracker = new SlateTracker({ k: 1 });
    for (const [id, versionId, top] of [
      ['a', 'v1', true],
      ['b', 'v2', false],
      ['c', 'v1', false],
    ] as const) {
      tracker.open(slate(id, [0.9, 0.1], { versionId }));
      tracker.mark(id, top ? 0 : 1, 1);
    }
    const results = tracker.closeAll();
    expect(results.map((r) => [r.versionId, r.ranking.slates, r.ranking.precisionSum])).toEqual([
      ['v1', 2, 1],
      ['v2', 1, 0],
    ]);
  });
});

describe('when slates close', () => {
  test('the next slate on the same surface closes the previous one; other surfaces stay', () => {
    const tracker = new SlateTracker({ k: 1 });
    tracker.open(slate('feed-1', [0.9, 0.1], { surface: 'feed' }));
    tracker.open(slate('side-1', [0.9, 0.1], { surface: 'sidebar' }));
    tracker.open(slate('free', [0.9, 0.1]));
    tracker.mark('feed-1', 0, 1);
    const closed = tracker.open(slate('feed-2', [0.9, 0.1], { surface: 'feed' }));
    expect(closed.map((r) => r.ranking.slates)).toEqual([1]);
    expect(tracker.mark('feed-1', 0, 1)).toBe(false);
    expect(tracker.mark('side-1', 0, 1)).toBe(true);
    // A slate without a surface is never replaced.
    tracker.open(slate('free-2', [0.9, 0.1]));
    expect(tracker.mark('free', 0, 1)).toBe(true);
    expect(tracker.stats).toMatchObject({ open: 4, evaluated: 1, unmatched: 1 });
  });

  test('by TTL, on the injected clock; a late outcome finds no slate', () => {
    const time = clock();
    const tracker = new SlateTracker({ k: 1, ttlMs: 100 }, time.now);
    tracker.open(slate('old', [0.9, 0.1]));
    time.advance(60);
    tracker.open(slate('young', [0.9, 0.1]));
    tracker.mark('old', 0, 1);
    expect(tracker.nextExpiry()).toBe(1_100);
    time.advance(39);
    expect(tracker.closeExpired()).toEqual([]);
    time.advance(1);
    expect(tracker.mark('old', 0, 1)).toBe(false); // at its TTL: too late
    expect(tracker.closeExpired().map((r) => r.ranking.slates)).toEqual([1]);
    expect(tracker.stats).toMatchObject({ open: 1, expired: 1, unmatched: 1 });
    expect(tracker.nextExpiry()).toBe(1_160);
    // Opening a slate also closes what expired.
    time.advance(60);
    tracker.open(slate('next', [0.9, 0.1]));
    expect(tracker.stats).toMatchObject({ open: 1, expired: 2, unjudged: 1 });
  });

  test('an expired slate’s id can be opened again', () => {
    const time = clock();
    const tracker = new SlateTracker({ ttlMs: 100 }, time.now);
    tracker.open(slate('s', [0.9, 0.1]));
    expect(codeOf(() => tracker.open(slate('s', [0.9, 0.1])))).toBe('BAD_INPUT');
    time.advance(100);
    expect(codeOf(() => tracker.open(slate('s', [0.9, 0.1])))).toBeUndefined();
    expect(tracker.stats).toMatchObject({ open: 1, expired: 1 });
  });

  test('at most maxOpen: the least recently used is evicted, evaluated as it stands', () => {
    const tracker = new SlateTracker({ k: 1, maxOpen: 2 });
    tracker.open(slate('a', [0.9, 0.1]));
    tracker.open(slate('b', [0.9, 0.1]));
    tracker.mark('a', 0, 1); // a is now the more recently used
    tracker.mark('b', 0, 1);
    tracker.mark('a', 1, 0);
    const closed = tracker.open(slate('c', [0.9, 0.1]));
    expect(closed.map((r) => r.ranking.slates)).toEqual([1]);
    expect(tracker.mark('b', 0, 1)).toBe(false);
    expect(tracker.mark('a', 0, 1)).toBe(true);
    expect(tracker.stats).toMatchObject({ open: 2, evicted: 1, evaluated: 1, unmatched: 1 });
  });
});

describe('bad input', () => {
  test.each([
    ['an empty id', slate('', [0.1, 0.2])],
    ['a too long id', slate('x'.repeat(257), [0.1, 0.2])],
    ['one candidate', slate('s', [0.1])],
    ['too many candidates', slate('s', new Array(11).fill(0))],
    ['a NaN score', slate('s', [0.1, Number.NaN])],
    ['no version', slate('s', [0.1, 0.2], { versionId: '' })],
    ['an id already open', slate('open', [0.1, 0.2])],
  ])('%s: BAD_INPUT, and nothing changes', (_, opening) => {
    const tracker = new SlateTracker({ k: 1, maxOpen: 1, maxCandidates: 10 });
    tracker.open(slate('open', [0.9, 0.1]));
    const before = tracker.stats;
    expect(codeOf(() => tracker.open(opening))).toBe('BAD_INPUT');
    expect(tracker.stats).toEqual(before);
    expect(tracker.mark('open', 0, 1)).toBe(true); // not evicted by the refused slate
  });

  test('marks that cannot apply are counted as unmatched', () => {
    const tracker = new SlateTracker();
    tracker.open(slate('s', [0.9, 0.1]));
    expect(tracker.mark('nope', 0, 1)).toBe(false);
    expect(tracker.mark('s', 2, 1)).toBe(false);
    expect(tracker.mark('s', -1, 1)).toBe(false);
    expect(tracker.mark('s', 0.5, 1)).toBe(false);
    expect(tracker.mark('s', 0, -1)).toBe(false);
    expect(tracker.mark('s', 0, Number.NaN)).toBe(false);
    expect(tracker.stats.unmatched).toBe(6);
    expect(tracker.closeAll()).toEqual([]); // none of them marked anything
  });

  test('options that cannot work: BAD_CONFIG', () => {
    for (const options of [
      { k: 0 },
      { k: 1001 },
      { ttlMs: 0 },
      { maxOpen: 1.5 },
      { maxCandidates: 1 },
    ]) {
      expect(codeOf(() => resolveSlateOptions(options))).toBe('BAD_CONFIG');
    }
    expect(resolveSlateOptions()).toMatchObject({ k: 10, maxOpen: 256 });
  });
});

describe('properties', () => {
  type Op =
    | { kind: 'open'; id: number; n: number; surface: number | undefined }
    | { kind: 'mark'; id: number; candidate: number; gain: number }
    | { kind: 'close'; id: number }
    | { kind: 'wait'; ms: number };
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({
      kind: fc.constant('open' as const),
      id: fc.nat(20),
      n: fc.integer({ min: 2, max: 6 }),
      surface: fc.option(fc.nat(2), { nil: undefined }),
    }),
    fc.record({
      kind: fc.constant('mark' as const),
      id: fc.nat(20),
      candidate: fc.nat(6),
      gain: fc.nat(2),
    }),
    fc.record({ kind: fc.constant('close' as const), id: fc.nat(20) }),
    fc.record({ kind: fc.constant('wait' as const), ms: fc.nat(50) }),
  );

  test('memory is bounded, and every slate opened is open, measured or unjudged', () => {
    fc.assert(
      fc.property(
        fc.array(op, { maxLength: 200 }),
        fc.integer({ min: 1, max: 5 }),
        (ops, maxOpen) => {
          const time = clock();
          const tracker = new SlateTracker({ k: 2, maxOpen, ttlMs: 200 }, time.now);
          let opened = 0;
          const results: SlateResults[] = [];
          for (const o of ops) {
            if (o.kind === 'open') {
              const scores = Array.from({ length: o.n }, (_, i) => (i * 7) % 5);
              const opening = slate(`s${o.id}`, scores, {
                surface: o.surface === undefined ? undefined : `surface${o.surface}`,
              });
              try {
                results.push(...tracker.open(opening));
                opened++;
              } catch (error) {
                expect(isLearnerError(error) && error.code).toBe('BAD_INPUT'); // id already open
              }
            } else if (o.kind === 'mark') tracker.mark(`s${o.id}`, o.candidate, o.gain);
            else if (o.kind === 'close') results.push(...tracker.close(`s${o.id}`));
            else time.advance(o.ms);
            expect(tracker.stats.open).toBeLessThanOrEqual(maxOpen);
          }
          results.push(...tracker.closeAll());
          const { evaluated, unjudged, open } = tracker.stats;
          expect(open).toBe(0);
          expect(evaluated + unjudged).toBe(opened);
          const slates = results.reduce((sum, r) => sum + r.ranking.slates, 0);
          expect(slates).toBe(evaluated);
          for (const { ranking } of results) {
            for (const sum of [ranking.precisionSum, ranking.recallSum, ranking.ndcgSum]) {
              expect(sum).toBeGreaterThanOrEqual(0);
              expect(sum).toBeLessThanOrEqual(ranking.slates + 1e-9);
            }
          }
        },
      ),
    );
  });
});
