/**
 * What every change detector promises the worker: bad values change nothing, reset is a fresh
 * start, and an exported state (through a structured clone, as IndexedDB stores it) resumes
 * bit for bit.
 */
import { describe, expect, test } from 'vitest';
import { mulberry32 } from '../../../models/onnx/prng.ts';
import {
  createDetector,
  DETECTOR_KINDS,
  type DriftDetector,
  restoreDetector,
} from '../../../src/drift/index.ts';
import { isLearnerError } from '../../../src/errors.ts';

/** A stream with two changes, so every detector has detections to agree on. */
function stream(seed: number, length: number): Float64Array {
  const random = mulberry32(seed);
  return Float64Array.from({ length }, (_, i) => {
    const p = i < length / 3 ? 0.05 : i < (2 * length) / 3 ? 0.35 : 0.8;
    return random() < p ? 1 : random() * 0.2;
  });
}

function feed(detector: DriftDetector, values: Float64Array): number[] {
  const at: number[] = [];
  for (let i = 0; i < values.length; i++) if (detector.update(values[i])) at.push(i);
  return at;
}

describe.each(DETECTOR_KINDS)('%s', (kind) => {
  test('detects the changes of the test stream', () => {
    const detector = createDetector(kind);
    expect(feed(detector, stream(1, 6000)).length).toBeGreaterThanOrEqual(2);
    expect(detector.n).toBe(6000);
  });

  test('exportState → structuredClone → restore continues bit for bit', () => {
    const values = stream(2, 6000);
    for (const cut of [0, 17, 1999, 2011, 4500]) {
      const original = createDetector(kind);
      feed(original, values.subarray(0, cut));
      const copy = restoreDetector(structuredClone(original.exportState()));
      expect(copy.kind).toBe(kind);
      const rest = values.subarray(cut);
      expect(feed(copy, rest)).toEqual(feed(original, rest));
      expect(copy.exportState()).toEqual(original.exportState());
      expect(copy.detections).toBe(original.detections);
    }
  });

  test('NaN and ±∞ throw BAD_INPUT and change nothing', () => {
    const detector = createDetector(kind);
    feed(detector, stream(3, 500));
    const before = detector.exportState();
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      let error: unknown;
      try {
        detector.update(bad);
      } catch (e) {
        error = e;
      }
      expect(isLearnerError(error) && error.code === 'BAD_INPUT').toBe(true);
    }
    expect(detector.exportState()).toEqual(before);
  });

  test('reset is the same as a new detector', () => {
    const used = createDetector(kind);
    feed(used, stream(4, 3000));
    used.reset();
    expect(used.n).toBe(0);
    expect(used.detections).toBe(0);
    const values = stream(5, 6000);
    expect(feed(used, values)).toEqual(feed(createDetector(kind), values));
  });

  test('a corrupt state is refused with BAD_CONFIG', () => {
    const detector = createDetector(kind);
    feed(detector, stream(6, 300));
    const state = { ...detector.exportState(), n: -1 };
    expect(() => restoreDetector(state)).toThrow(/invalid drift detector state/);
  });
});

test('an unknown kind is BAD_CONFIG', () => {
  let error: unknown;
  try {
    createDetector('ddm' as 'adwin');
  } catch (e) {
    error = e;
  }
  expect(isLearnerError(error) && error.code === 'BAD_CONFIG').toBe(true);
  expect(() => restoreDetector({ kind: 'ddm' } as never)).toThrow(/unknown kind/);
});
