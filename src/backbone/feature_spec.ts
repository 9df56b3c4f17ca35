import { LearnerError } from '../errors.ts';
import type { Task } from '../learn/types.ts';

/**
 * What a model version expects as input and what its head learns on, stored as JSON in the
 * ONNX model's `metadata_props` under {@link FEATURE_SPEC_KEY}, so a model file is
 * self-describing and the device can check a download against it before serving it.
 */
export interface FeatureSpec {
  /**
   * Backbone inputs, each `size` values per example, fed as [batch, size] (or as [batch,
   * ...shape], or [batch] when size is 1 and the model takes one value per example).
   */
  inputs: FeatureInput[];
  /**
   * The backbone output the head learns on: `size` values per example. The model may give it
   * as [batch, size], [batch], [batch, 1] or [batch, 1, size] (unit axes are dropped).
   */
  output: { name: string; size: number };
  /** App features passed straight to the head, concatenated after the embedding (float32). */
  raw?: FeatureInput[];
  task: Task;
  classes?: (string | number)[];
}

/**
 * What an app passes as `featureSpec` for a model of its own: a {@link FeatureSpec} whose
 * output may be left to the model — its name when the model has a single output, its size
 * from the model's shape or a first run.
 *
 * ```ts
 * import type { FeatureSpecInit } from './feature_spec.ts';
 * const featureSpec: FeatureSpecInit = {
 *   inputs: [{ name: 'user', size: 1, dtype: 'int64', vocabulary: 1000 }, { name: 'x', size: 12 }],
 *   output: { name: 'embedding' },
 *   task: 'binary',
 * };
 * ```
 */
export type FeatureSpecInit = Omit<FeatureSpec, 'output'> & {
  output?: { name?: string; size?: number };
};

/** Element types of backbone inputs: what the model's input tensor holds. */
export type InputDtype = 'float32' | 'float64' | 'int32' | 'int64';

export const INPUT_DTYPES: readonly InputDtype[] = ['float32', 'float64', 'int32', 'int64'];

export interface FeatureInput {
  name: string;
  size: number;
  /**
   * The model input's element type (default 'float32'). 'int32' and 'int64' are ids (an
   * embedding lookup): the app gives whole numbers, checked to be in [0, vocabulary); 'float64'
   * values are checked as finite. Backbone inputs only: raw features are float32.
   */
  dtype?: InputDtype;
  /** Integer inputs: ids must be below this (the rows of the model's embedding table). */
  vocabulary?: number;
  /**
   * The shape of one example when the model's input has more than one axis after the batch,
   * e.g. [5, 4] for a [batch, 5, 4] input (its product is `size`; the app gives the values
   * flattened, row-major). Default: the model's own shape.
   */
  shape?: number[];
  /**
   * Normalisation (x - mean) / std, per component. For backbone inputs it is part of the graph
   * (the exporter writes it in), so the device feeds raw values and never applies it twice.
   */
  mean?: number[];
  std?: number[];
  /** Reference statistics of the training data (for drift checks). */
  reference?: { mean: number[]; std: number[] };
}

/** Whether the input holds ids (int32/int64): whole numbers, not measurements. */
export function isIdInput(input: FeatureInput): boolean {
  return input.dtype === 'int32' || input.dtype === 'int64';
}

/** The largest id an input accepts, plus one: its vocabulary, capped by its dtype. */
export function idLimit(input: FeatureInput): number {
  const dtypeLimit = input.dtype === 'int32' ? 2 ** 31 : Number.MAX_SAFE_INTEGER + 1;
  return Math.min(input.vocabulary ?? dtypeLimit, dtypeLimit);
}

export const FEATURE_SPEC_KEY = 'localfit.feature_spec';

/** Checks a parsed spec's shape; throws BAD_MODEL with the first problem found. */
export function validateFeatureSpec(value: unknown): FeatureSpec {
  return checkSpec(value, false) as FeatureSpec;
}

/** Checks an app's `featureSpec`, whose output may be left to the model. */
export function validateFeatureSpecInit(value: unknown): FeatureSpecInit {
  return checkSpec(value, true);
}

function checkSpec(value: unknown, partialOutput: boolean): FeatureSpecInit {
  const fail = (why: string): never => {
    throw new LearnerError(
      'BAD_MODEL',
      `invalid feature spec: ${why} (see "Bring your own model" in the README)`,
    );
  };
  if (typeof value !== 'object' || value === null) fail('not an object');
  const spec = value as FeatureSpecInit;
  const checkInput = (input: FeatureInput, where: string, raw: boolean) => {
    if (typeof input?.name !== 'string' || input.name === '')
      fail(`${where}.name must be a string`);
    if (!Number.isInteger(input.size) || input.size <= 0)
      fail(`${where}.size must be a positive integer`);
    const dtype = input.dtype ?? 'float32';
    if (!INPUT_DTYPES.includes(dtype)) {
      fail(`${where}.dtype is ${String(dtype)}; use one of ${INPUT_DTYPES.join(', ')}`);
    }
    if (raw && dtype !== 'float32') {
      fail(`${where}.dtype: raw features go to the head as float32; drop the dtype`);
    }
    if (input.vocabulary !== undefined) {
      if (!isIdInput(input)) fail(`${where}.vocabulary needs dtype 'int64' or 'int32'`);
      if (!Number.isSafeInteger(input.vocabulary) || input.vocabulary <= 0)
        fail(`${where}.vocabulary must be a positive integer (the embedding table's rows)`);
    }
    if (input.shape !== undefined) {
      const ok =
        Array.isArray(input.shape) &&
        input.shape.every((d) => Number.isInteger(d) && d > 0) &&
        input.shape.reduce((product, d) => product * d, 1) === input.size;
      if (!ok) fail(`${where}.shape must be positive integers whose product is size ${input.size}`);
    }
    for (const key of ['mean', 'std'] as const) {
      const column = input[key];
      if (column === undefined) continue;
      if (isIdInput(input)) fail(`${where}.${key}: ids are not normalised; drop it`);
      if (!Array.isArray(column) || column.length !== input.size)
        fail(`${where}.${key} must have ${input.size} numbers`);
      if (!column.every(Number.isFinite)) fail(`${where}.${key} must be finite`);
    }
    if (input.std?.some((s) => s <= 0)) fail(`${where}.std must be positive`);
  };
  if (!Array.isArray(spec.inputs) || spec.inputs.length === 0)
    fail('inputs must be a non-empty array, e.g. [{ name: "x", size: 12 }]');
  for (const [i, input] of spec.inputs.entries()) checkInput(input, `inputs[${i}]`, false);
  for (const [i, input] of (spec.raw ?? []).entries()) checkInput(input, `raw[${i}]`, true);
  const names = [...spec.inputs, ...(spec.raw ?? [])].map((input) => input.name);
  const repeated = names.find((name, i) => names.indexOf(name) !== i);
  if (repeated !== undefined) fail(`input "${repeated}" is listed twice`);
  const output = spec.output;
  if (!partialOutput || output?.name !== undefined || output?.size !== undefined) {
    if (typeof output !== 'object' || output === null)
      fail('output must be { name, size }: the model output the head learns on');
    if (!partialOutput || output?.name !== undefined) {
      if (typeof output?.name !== 'string' || output.name === '')
        fail('output.name must be a string: the model output the head learns on');
    }
    if (!partialOutput || output?.size !== undefined) {
      if (!Number.isInteger(output?.size) || (output?.size ?? 0) <= 0)
        fail('output.size must be a positive integer');
    }
  }
  if (!['binary', 'multiclass', 'regression'].includes(spec.task))
    fail(`unknown task ${String(spec.task)}; use 'binary', 'multiclass' or 'regression'`);
  if (spec.task === 'multiclass' && (!Array.isArray(spec.classes) || spec.classes.length < 2))
    fail('multiclass needs at least two classes');
  return spec;
}

/** Dimension of the head's input: the embedding plus every raw feature. */
export function headDimension(spec: FeatureSpec): number {
  return spec.output.size + (spec.raw ?? []).reduce((sum, input) => sum + input.size, 0);
}
