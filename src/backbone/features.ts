import { LearnerError } from '../errors.ts';
import type { FeatureInput, FeatureSpec } from './feature_spec.ts';

/** One example as the app gives it: a numeric vector per named input of the feature spec. */
export type Example = Readonly<Record<string, ArrayLike<number>>>;

/**
 * A batch packed column by column: one contiguous Float32Array (n × size) per input, the layout
 * onnxruntime wants, so whole batches cross to the worker as transferables without copies.
 */
export interface PackedBatch {
  n: number;
  columns: Record<string, Float32Array>;
}

function specInputs(spec: FeatureSpec): FeatureInput[] {
  return spec.raw ? [...spec.inputs, ...spec.raw] : spec.inputs;
}

/**
 * Packs examples per the spec, checking every value: a missing input, a wrong length or a
 * NaN/±∞ is a BAD_INPUT naming the example and the input, before anything reaches a model.
 */
export function packExamples(spec: FeatureSpec, examples: readonly Example[]): PackedBatch {
  const n = examples.length;
  if (n === 0) throw new LearnerError('BAD_INPUT', 'no examples given');
  const columns: Record<string, Float32Array> = {};
  for (const input of specInputs(spec)) {
    const column = new Float32Array(n * input.size);
    for (let row = 0; row < n; row++) {
      const values = examples[row]?.[input.name];
      if (values === undefined || values === null || typeof values.length !== 'number') {
        throw new LearnerError('BAD_INPUT', `example ${row}: input "${input.name}" is missing`);
      }
      if (values.length !== input.size) {
        throw new LearnerError(
          'BAD_INPUT',
          `example ${row}: input "${input.name}" has ${values.length} values, expected ${input.size}`,
        );
      }
      const offset = row * input.size;
      for (let i = 0; i < input.size; i++) {
        const value = values[i];
        if (typeof value !== 'number' || !Number.isFinite(value)) {
          throw new LearnerError(
            'BAD_INPUT',
            `example ${row}: input "${input.name}"[${i}] is ${String(value)}, not a finite number`,
          );
        }
        column[offset + i] = value;
      }
    }
    columns[input.name] = column;
  }
  return { n, columns };
}

/**
 * Whether every value is finite, in one branch-free pass: x · 0 is 0 for every finite x and
 * NaN for ±∞ and NaN, so the sum is 0 exactly when all are finite.
 */
export function allFinite(values: Float32Array): boolean {
  let probe = 0;
  for (let i = 0; i < values.length; i++) probe += values[i] * 0;
  return probe === 0;
}

/**
 * Re-checks a batch that crossed a thread boundary: sizes and (unless `values` is false)
 * finiteness, since a packed batch may come from any caller of the worker, not only from
 * {@link packExamples}.
 */
export function checkPackedBatch(
  spec: FeatureSpec,
  batch: PackedBatch,
  { values = true }: { values?: boolean } = {},
): void {
  if (!Number.isInteger(batch?.n) || batch.n <= 0) {
    throw new LearnerError('BAD_INPUT', 'a batch needs a positive whole number of examples');
  }
  for (const input of specInputs(spec)) {
    const column = batch.columns?.[input.name];
    if (!(column instanceof Float32Array)) {
      throw new LearnerError('BAD_INPUT', `input "${input.name}" is missing`);
    }
    if (column.length !== batch.n * input.size) {
      throw new LearnerError(
        'BAD_INPUT',
        `input "${input.name}" has ${column.length} values, expected ${batch.n} × ${input.size}`,
      );
    }
    if (!values) continue;
    // Only a failing column is searched for the culprit (for the message).
    if (!allFinite(column)) {
      const i = column.findIndex((value) => !Number.isFinite(value));
      const row = Math.floor(i / input.size);
      throw new LearnerError(
        'BAD_INPUT',
        `example ${row}: input "${input.name}"[${i % input.size}] is not a finite number`,
      );
    }
  }
}

/** The buffers of a batch, for `transfer` lists. */
export function batchBuffers(batch: PackedBatch): ArrayBuffer[] {
  return Object.values(batch.columns).map((column) => column.buffer as ArrayBuffer);
}
