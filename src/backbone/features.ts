import { LearnerError } from '../errors.ts';
import type { FeatureInput, FeatureSpec } from './feature_spec.ts';
import { idLimit, isIdInput } from './feature_spec.ts';

/**
 * One example as the app gives it: a numeric vector per named input of the feature spec (ids
 * too: `{ user: [42] }`).
 */
export type Example = Readonly<Record<string, ArrayLike<number>>>;

/**
 * One input's values for a batch: Float32Array for float32 inputs (the tensor onnxruntime is
 * given, no copy), Float64Array for float64 and for ids (exact up to 2^53; the backbone turns
 * ids into the model's Int32Array or BigInt64Array when it runs).
 */
export type Column = Float32Array | Float64Array;

/**
 * A batch packed column by column: one contiguous column (n × size) per input, the layout
 * onnxruntime wants, so whole batches cross to the worker as transferables without copies.
 */
export interface PackedBatch {
  n: number;
  columns: Record<string, Column>;
}

/** The column type an input is packed into. */
export function columnType(input: FeatureInput): Float32ArrayConstructor | Float64ArrayConstructor {
  return (input.dtype ?? 'float32') === 'float32' ? Float32Array : Float64Array;
}

/** Why a value is not an id this input accepts, or undefined when it is one. */
export function badId(input: FeatureInput, value: unknown): string | undefined {
  const limit = idLimit(input);
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < limit)
    return undefined;
  const range = input.vocabulary === undefined ? `${input.dtype} range` : `its vocabulary`;
  return `${String(value)}, not an id: ids are whole numbers in [0, ${limit}) (${range})`;
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
  if (n === 0) throw new LearnerError('BAD_INPUT', 'no examples given: pass at least one');
  const columns: Record<string, Column> = {};
  for (const input of specInputs(spec)) {
    const column = new (columnType(input))(n * input.size);
    const ids = isIdInput(input);
    for (let row = 0; row < n; row++) {
      const values = examples[row]?.[input.name];
      if (values === undefined || values === null || typeof values.length !== 'number') {
        throw new LearnerError(
          'BAD_INPUT',
          `example ${row}: input "${input.name}" is missing; give it ${input.size} number(s)`,
        );
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
        const why = ids
          ? badId(input, value)
          : typeof value !== 'number' || !Number.isFinite(value)
            ? `${String(value)}, not a finite number`
            : undefined;
        if (why !== undefined) {
          throw new LearnerError(
            'BAD_INPUT',
            `example ${row}: input "${input.name}"[${i}] is ${why}`,
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
export function allFinite(values: Float32Array | Float64Array): boolean {
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
    const type = columnType(input);
    if (!(column instanceof type)) {
      throw new LearnerError(
        'BAD_INPUT',
        `input "${input.name}" is missing or not a ${type.name} (pack examples with packExamples)`,
      );
    }
    if (column.length !== batch.n * input.size) {
      throw new LearnerError(
        'BAD_INPUT',
        `input "${input.name}" has ${column.length} values, expected ${batch.n} × ${input.size}`,
      );
    }
    if (values) checkColumnValues(input, column);
  }
}

/** Every value finite (or, for ids, a valid id); BAD_INPUT naming the first that is not. */
export function checkColumnValues(input: FeatureInput, column: Column): void {
  const ids = isIdInput(input);
  // Only a failing column is searched for the culprit (for the message).
  if (!ids && allFinite(column)) return;
  for (let i = 0; i < column.length; i++) {
    const why = ids
      ? badId(input, column[i])
      : Number.isFinite(column[i])
        ? undefined
        : `${column[i]}, not a finite number`;
    if (why !== undefined) {
      const row = Math.floor(i / input.size);
      throw new LearnerError(
        'BAD_INPUT',
        `example ${row}: input "${input.name}"[${i % input.size}] is ${why}`,
      );
    }
  }
}

/** The buffers of a batch, for `transfer` lists. */
export function batchBuffers(batch: PackedBatch): ArrayBuffer[] {
  return Object.values(batch.columns).map((column) => column.buffer as ArrayBuffer);
}
