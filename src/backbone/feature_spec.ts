import { LearnerError } from '../errors.ts';
import type { Task } from '../learn/types.ts';

/**
 * What a model version expects as input and what its head learns on, stored as JSON in the
 * ONNX model's `metadata_props` under {@link FEATURE_SPEC_KEY}, so a model file is
 * self-describing and the device can check a download against it before serving it.
 */
export interface FeatureSpec {
  /** Backbone inputs, each a float vector of `size` per example, fed as [batch, size]. */
  inputs: FeatureInput[];
  /** The backbone output the head learns on ([batch, size]). */
  output: { name: string; size: number };
  /** App features passed straight to the head, concatenated after the embedding. */
  raw?: FeatureInput[];
  task: Task;
  classes?: (string | number)[];
}

export interface FeatureInput {
  name: string;
  size: number;
  /**
   * Normalisation (x - mean) / std, per component. For backbone inputs it is part of the graph
   * (the exporter writes it in), so the device feeds raw values and never applies it twice.
   */
  mean?: number[];
  std?: number[];
  /** Reference statistics of the training data (for drift checks). */
  reference?: { mean: number[]; std: number[] };
}

export const FEATURE_SPEC_KEY = 'localfit.feature_spec';

/** Checks a parsed spec's shape; throws BAD_MODEL with the first problem found. */
export function validateFeatureSpec(value: unknown): FeatureSpec {
  const fail = (why: string): never => {
    throw new LearnerError('BAD_MODEL', `invalid feature spec: ${why}`);
  };
  if (typeof value !== 'object' || value === null) fail('not an object');
  const spec = value as FeatureSpec;
  const checkInput = (input: FeatureInput, where: string) => {
    if (typeof input?.name !== 'string' || input.name === '')
      fail(`${where}.name must be a string`);
    if (!Number.isInteger(input.size) || input.size <= 0)
      fail(`${where}.size must be a positive integer`);
    for (const key of ['mean', 'std'] as const) {
      const column = input[key];
      if (column === undefined) continue;
      if (!Array.isArray(column) || column.length !== input.size)
        fail(`${where}.${key} must have ${input.size} numbers`);
      if (!column.every(Number.isFinite)) fail(`${where}.${key} must be finite`);
    }
    if (input.std?.some((s) => s <= 0)) fail(`${where}.std must be positive`);
  };
  if (!Array.isArray(spec.inputs) || spec.inputs.length === 0)
    fail('inputs must be a non-empty array');
  for (const [i, input] of spec.inputs.entries()) checkInput(input, `inputs[${i}]`);
  for (const [i, input] of (spec.raw ?? []).entries()) checkInput(input, `raw[${i}]`);
  checkInput({ name: spec.output?.name, size: spec.output?.size }, 'output');
  if (!['binary', 'multiclass', 'regression'].includes(spec.task))
    fail(`unknown task ${String(spec.task)}`);
  if (spec.task === 'multiclass' && (!Array.isArray(spec.classes) || spec.classes.length < 2))
    fail('multiclass needs at least two classes');
  return spec;
}

/** Dimension of the head's input: the embedding plus every raw feature. */
export function headDimension(spec: FeatureSpec): number {
  return spec.output.size + (spec.raw ?? []).reduce((sum, input) => sum + input.size, 0);
}
