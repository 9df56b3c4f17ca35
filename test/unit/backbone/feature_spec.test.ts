// The feature spec's fields for models people bring (dtype, vocabulary, shape, an output left to
// the model) and the packing of ids; the models themselves run in test/browser/byom.test.ts.
import { describe, expect, test } from 'vitest';
import {
  type FeatureSpecInit,
  validateFeatureSpec,
  validateFeatureSpecInit,
} from '../../../src/backbone/feature_spec.ts';
import { checkPackedBatch, packExamples } from '../../../src/backbone/features.ts';
import { asLearnerError, LearnerError } from '../../../src/errors.ts';

const ids: FeatureSpecInit = {
  inputs: [
    { name: 'user', size: 1, dtype: 'int64', vocabulary: 10 },
    { name: 'x', size: 2 },
  ],
  output: { name: 'embedding', size: 4 },
  task: 'binary',
};

function message(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(LearnerError);
    return `${(error as LearnerError).code}: ${(error as Error).message}`;
  }
  throw new Error('expected a LearnerError');
}

describe('validateFeatureSpec', () => {
  test.each([
    [{ dtype: 'int8' }, /dtype is int8; use one of float32, float64, int32, int64/],
    [{ vocabulary: 5 }, /vocabulary needs dtype 'int64' or 'int32'/],
    [{ dtype: 'int32', vocabulary: 0 }, /vocabulary must be a positive integer/],
    [{ shape: [2, 2] }, /shape must be positive integers whose product is size 3/],
    [{ dtype: 'int64', mean: [0, 0, 0] }, /ids are not normalised/],
  ])('%o on an input is refused', (extra, why) => {
    const spec = { ...ids, inputs: [{ name: 'a', size: 3, ...extra }] };
    expect(message(() => validateFeatureSpec(spec))).toMatch(why);
  });

  test('raw features are float32; names are unique', () => {
    const raw = { ...ids, raw: [{ name: 'r', size: 1, dtype: 'float64' as const }] };
    expect(message(() => validateFeatureSpec(raw))).toMatch(/raw features go to the head/);
    const twice = { ...ids, raw: [{ name: 'x', size: 1 }] };
    expect(message(() => validateFeatureSpec(twice))).toMatch(/"x" is listed twice/);
  });

  test("an app's spec may leave the output to the model; a stored one may not", () => {
    const open = { ...ids, output: undefined };
    expect(validateFeatureSpecInit(open)).toBe(open);
    expect(validateFeatureSpecInit({ ...ids, output: { name: 'y' } }).output).toEqual({
      name: 'y',
    });
    expect(message(() => validateFeatureSpec(open))).toMatch(/^BAD_MODEL: invalid feature spec/);
  });
});

describe('packing ids', () => {
  const spec = validateFeatureSpec(ids);

  test('ids go into a Float64Array, exact; floats into a Float32Array', () => {
    const batch = packExamples(spec, [
      { user: [9], x: [0.5, 1] },
      { user: [0], x: [2, 3] },
    ]);
    expect(batch.columns.user).toEqual(Float64Array.of(9, 0));
    expect(batch.columns.x).toBeInstanceOf(Float32Array);
    checkPackedBatch(spec, batch);
  });

  test.each([10, -1, 1.5, Number.NaN])('id %d is a BAD_INPUT naming the range', (user) => {
    expect(message(() => packExamples(spec, [{ user: [user], x: [0, 0] }]))).toMatch(
      /^BAD_INPUT: example 0: input "user"\[0\] is .*whole numbers in \[0, 10\) \(its vocabulary\)/,
    );
  });

  test('a hand-packed batch with a float column for ids is refused', () => {
    const batch = { n: 1, columns: { user: Float32Array.of(1), x: Float32Array.of(0, 0) } };
    expect(message(() => checkPackedBatch(spec, batch))).toMatch(/not a Float64Array/);
  });
});

test('anything thrown becomes a LearnerError at the API edge', () => {
  const kept = new LearnerError('BAD_INPUT', 'x');
  expect(asLearnerError(kept)).toBe(kept);
  const wrapped = asLearnerError(new TypeError('boom'));
  expect(wrapped).toMatchObject({ name: 'LearnerError', code: 'INTERNAL' });
  expect(wrapped.message).toMatch(/^TypeError: boom/);
});
