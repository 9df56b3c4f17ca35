/**
 * Detector states as plain JSON: every detector (and PSI) survives JSON.stringify and back,
 * and continues bit for bit.
 */
import { describe, expect, test } from 'vitest';
import { mulberry32 } from '../../../models/onnx/prng.ts';
import {
  createDetector,
  DETECTOR_KINDS,
  fromJsonState,
  Psi,
  type PsiState,
  restoreDetector,
  toJsonState,
} from '../../../src/drift/index.ts';
import { isLearnerError } from '../../../src/errors.ts';

function values(seed: number, length: number): number[] {
  const random = mulberry32(seed);
  return Array.from({ length }, (_, i) => (random() < (i < length / 2 ? 0.1 : 0.5) ? 1 : random()));
}

describe.each(DETECTOR_KINDS)('%s', (kind) => {
  test('JSON round trip continues bit for bit', () => {
    const original = createDetector(kind);
    for (const v of values(1, 1500)) original.update(v);
    const text = JSON.stringify(toJsonState(original.exportState()));
    const copy = restoreDetector(fromJsonState(JSON.parse(text)));
    expect(copy.exportState()).toEqual(original.exportState());
    const rest = values(2, 3000);
    expect(rest.map((v) => copy.update(v))).toEqual(rest.map((v) => original.update(v)));
    expect(copy.exportState()).toEqual(original.exportState());
  });
});

test('PSI: a restored monitor keeps its reference shares exactly (no renormalisation drift)', () => {
  const original = Psi.fromNormal(0, 1, { bins: 10, window: 200 });
  for (const v of values(3, 500)) original.update(v);
  const copy = Psi.restore(
    fromJsonState<PsiState>(JSON.parse(JSON.stringify(toJsonState(original.exportState())))),
  );
  expect(copy.exportState()).toEqual(original.exportState());
  expect(copy.value).toBe(original.value);
});

test('typed arrays come back as the same type; malformed tags are BAD_CONFIG', () => {
  const state = {
    a: new Uint8Array([1, 2]),
    b: { c: new Int32Array([-3]) },
    d: [1.5, 'x', null, true],
  };
  const back = fromJsonState<typeof state>(JSON.parse(JSON.stringify(toJsonState(state))));
  expect(back).toEqual(state);
  expect(back.a).toBeInstanceOf(Uint8Array);
  for (const bad of [
    { $typed: 'BigInt64Array', values: [1] },
    { $typed: 'Float64Array', values: 'nope' },
    { $typed: 'Float64Array', values: ['1'] },
  ]) {
    let caught: unknown;
    try {
      fromJsonState(bad);
    } catch (error) {
      caught = error;
    }
    expect(isLearnerError(caught) && caught.code).toBe('BAD_CONFIG');
  }
  let caught: unknown;
  try {
    toJsonState({ x: Number.NaN });
  } catch (error) {
    caught = error;
  }
  expect(isLearnerError(caught) && caught.code).toBe('BAD_CONFIG');
});
