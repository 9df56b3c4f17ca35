/**
 * The parameters of an MLP backbone, shared by the ONNX writer and the TypeScript forward
 * pass, and the one check that they fit a feature spec. Both sides call the same check so
 * a model that can be exported can also be evaluated, and vice versa.
 */
import { type FeatureSpec, validateFeatureSpec } from '../../src/backbone/feature_spec.ts';
import { LearnerError } from '../../src/errors.ts';

export type Activation = 'relu' | 'tanh' | 'linear';

/** y = activation(x · W + b) for x of shape [batch, inputSize]. */
export interface DenseLayer {
  inputSize: number;
  outputSize: number;
  /** Row-major [inputSize, outputSize]: `weights[i * outputSize + o]` links input i to output o. */
  weights: Float32Array;
  /** [outputSize]. */
  bias: Float32Array;
  activation: Activation;
}

/**
 * The backbone's inputs are the spec's `inputs`, each normalised if it carries `mean`/`std`,
 * concatenated in spec order; the last layer's output is the spec's `output`.
 */
export interface MlpParams {
  layers: DenseLayer[];
}

const ACTIVATIONS: readonly Activation[] = ['relu', 'tanh', 'linear'];

/** Width of the concatenated backbone input: the sum of the spec's input sizes. */
export function backboneInputSize(spec: FeatureSpec): number {
  return spec.inputs.reduce((sum, input) => sum + input.size, 0);
}

/** Throws BAD_MODEL with the first way `params` cannot implement `spec`'s backbone. */
export function checkMlpParams(params: MlpParams, spec: FeatureSpec): void {
  validateFeatureSpec(spec);
  const fail = (why: string): never => {
    throw new LearnerError('BAD_MODEL', `MLP does not fit its feature spec: ${why}`);
  };
  const names = spec.inputs.map((input) => input.name);
  if (new Set(names).size !== names.length) fail('input names must be distinct');
  if (names.includes(spec.output.name)) fail(`output ${spec.output.name} is also an input`);
  if (!Array.isArray(params.layers) || params.layers.length === 0) fail('no layers');
  let width = backboneInputSize(spec);
  params.layers.forEach((layer, i) => {
    const where = `layers[${i}]`;
    if (layer.inputSize !== width)
      fail(`${where}.inputSize is ${layer.inputSize}, expected ${width}`);
    if (!Number.isInteger(layer.outputSize) || layer.outputSize <= 0)
      fail(`${where}.outputSize must be a positive integer`);
    if (
      !(layer.weights instanceof Float32Array) ||
      layer.weights.length !== width * layer.outputSize
    )
      fail(`${where}.weights must be a Float32Array of ${width}×${layer.outputSize}`);
    if (!(layer.bias instanceof Float32Array) || layer.bias.length !== layer.outputSize)
      fail(`${where}.bias must be a Float32Array of ${layer.outputSize}`);
    if (!layer.weights.every(Number.isFinite) || !layer.bias.every(Number.isFinite))
      fail(`${where} has non-finite parameters`);
    if (!ACTIVATIONS.includes(layer.activation))
      fail(`${where}.activation ${String(layer.activation)}`);
    width = layer.outputSize;
  });
  if (width !== spec.output.size)
    fail(`last layer gives ${width} outputs, spec says ${spec.output.size}`);
}
