/**
 * Seeded initial parameters for an MLP: the demo backbone and every test model start here,
 * and the same seed must give the same weights (and so the same model bytes).
 */
import { LearnerError } from '../../src/errors.ts';
import type { Activation, DenseLayer, MlpParams } from './mlp_params.ts';
import { mulberry32, uniformArray } from './prng.ts';

export interface InitOptions {
  /** Activation of every layer but the last (default 'relu'). */
  hidden?: Activation;
  /** Activation of the last layer (default 'tanh': a bounded embedding suits a linear head). */
  output?: Activation;
}

/**
 * `layerSizes` = [input width, hidden…, output width]. Weights are uniform with the He limit
 * √(6/in) before a ReLU and the Glorot limit √(6/(in+out)) otherwise, so activations keep
 * their scale through the layers. Biases are small but non-zero (±0.1): an untrained model
 * then still exercises the bias path, which an all-zero bias would hide from tests.
 */
export function initMlpParams(
  layerSizes: number[],
  seed: number,
  options: InitOptions = {},
): MlpParams {
  if (layerSizes.length < 2 || !layerSizes.every((size) => Number.isInteger(size) && size > 0))
    throw new LearnerError('BAD_CONFIG', 'layerSizes needs at least two positive integers');
  if (!Number.isInteger(seed)) throw new LearnerError('BAD_CONFIG', 'seed must be an integer');
  const random = mulberry32(seed);
  const layers: DenseLayer[] = [];
  for (let i = 0; i + 1 < layerSizes.length; i++) {
    const inputSize = layerSizes[i];
    const outputSize = layerSizes[i + 1];
    const last = i + 2 === layerSizes.length;
    const activation = last ? (options.output ?? 'tanh') : (options.hidden ?? 'relu');
    const limit =
      activation === 'relu' ? Math.sqrt(6 / inputSize) : Math.sqrt(6 / (inputSize + outputSize));
    const weights = uniformArray(random, inputSize * outputSize, -limit, limit);
    const bias = uniformArray(random, outputSize, -0.1, 0.1);
    layers.push({ inputSize, outputSize, weights, bias, activation });
  }
  return { layers };
}
