/**
 * The item MLP: content features (genres, year, …) → the factor space, so that an item with
 * no interactions in the history still gets an embedding. Trained by weighted least squares
 * against the factorisation's item vectors (items seen more often count more: their vectors
 * are better estimated), with Adam on seeded mini-batches: deterministic for a seed.
 *
 * Inputs are the normalised content features; targets are standardised per column while
 * training and the scale is folded back into the last layer, so the result maps straight to
 * the factorisation's units.
 */
import { initMlpParams } from '../onnx/init.ts';
import type { MlpParams } from '../onnx/mlp_params.ts';
import { mulberry32 } from '../onnx/prng.ts';
import { columnStats } from './linalg.ts';

export interface ItemMlpOptions {
  hidden: number[];
  epochs: number;
  seed: number;
  batch?: number;
  learningRate?: number;
  onEpoch?: (done: number, total: number) => void;
}

export interface ItemMlpFit {
  params: MlpParams;
}

/**
 * `x`: n × inputs (already normalised), `y`: n × outputs, `weight`: n. Returns a ReLU MLP
 * with a linear output layer, parameters rounded to float32 (what the ONNX file will hold).
 */
export function fitItemMlp(
  x: Float64Array,
  y: Float64Array,
  weight: Float64Array,
  inputs: number,
  outputs: number,
  options: ItemMlpOptions,
): ItemMlpFit {
  const n = weight.length;
  const sizes = [inputs, ...options.hidden, outputs];
  const init = initMlpParams(sizes, options.seed, { hidden: 'relu', output: 'linear' });
  const layers = init.layers.map((layer) => ({
    inputSize: layer.inputSize,
    outputSize: layer.outputSize,
    w: Float64Array.from(layer.weights),
    b: new Float64Array(layer.outputSize),
    gw: new Float64Array(layer.weights.length),
    gb: new Float64Array(layer.outputSize),
    mw: new Float64Array(layer.weights.length),
    vw: new Float64Array(layer.weights.length),
    mb: new Float64Array(layer.outputSize),
    vb: new Float64Array(layer.outputSize),
  }));
  const { mean: yMean, std: yStd } = columnStats(y, outputs, weight);
  const yScale = yStd.map((s) => (s > 0 ? s : 1));
  const target = new Float64Array(y.length);
  for (let r = 0; r < n; r++)
    for (let o = 0; o < outputs; o++)
      target[r * outputs + o] = (y[r * outputs + o] - yMean[o]) / yScale[o];

  const batch = options.batch ?? 128;
  const rate = options.learningRate ?? 3e-3;
  const beta1 = 0.9;
  const beta2 = 0.999;
  const random = mulberry32(options.seed ^ 0x9e3779b9);
  const order = Int32Array.from({ length: n }, (_, i) => i);
  const acts = sizes.map((size) => new Float64Array(batch * size));
  const deltas = sizes.map((size) => new Float64Array(batch * size));
  // β^t kept as running products: plain multiplications give the same bits in every engine.
  let beta1Power = 1;
  let beta2Power = 1;

  const forwardRow = (row: number, slot: number) => {
    acts[0].set(x.subarray(row * inputs, (row + 1) * inputs), slot * inputs);
    for (let l = 0; l < layers.length; l++) {
      const { inputSize, outputSize, w, b } = layers[l];
      const input = acts[l];
      const output = acts[l + 1];
      const inBase = slot * inputSize;
      const outBase = slot * outputSize;
      for (let o = 0; o < outputSize; o++) output[outBase + o] = b[o];
      for (let i = 0; i < inputSize; i++) {
        const xi = input[inBase + i];
        if (xi === 0) continue;
        const row = i * outputSize;
        for (let o = 0; o < outputSize; o++) output[outBase + o] += xi * w[row + o];
      }
      if (l < layers.length - 1)
        for (let o = 0; o < outputSize; o++) if (output[outBase + o] < 0) output[outBase + o] = 0;
    }
  };

  for (let epoch = 0; epoch < options.epochs; epoch++) {
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      const swap = order[i];
      order[i] = order[j];
      order[j] = swap;
    }
    for (let start = 0; start < n; start += batch) {
      const size = Math.min(batch, n - start);
      let totalWeight = 0;
      for (let s = 0; s < size; s++) totalWeight += weight[order[start + s]];
      if (totalWeight <= 0) continue;
      for (const layer of layers) {
        layer.gw.fill(0);
        layer.gb.fill(0);
      }
      for (let s = 0; s < size; s++) forwardRow(order[start + s], s);
      // Output delta: d(weighted mean squared error)/d(output).
      const out = acts[layers.length];
      const top = deltas[layers.length];
      for (let s = 0; s < size; s++) {
        const row = order[start + s];
        const w = weight[row] / totalWeight;
        for (let o = 0; o < outputs; o++)
          top[s * outputs + o] = 2 * w * (out[s * outputs + o] - target[row * outputs + o]);
      }
      for (let l = layers.length - 1; l >= 0; l--) {
        const { inputSize, outputSize, w, gw, gb } = layers[l];
        const input = acts[l];
        const delta = deltas[l + 1];
        const below = deltas[l];
        for (let s = 0; s < size; s++) {
          const inBase = s * inputSize;
          const outBase = s * outputSize;
          for (let o = 0; o < outputSize; o++) gb[o] += delta[outBase + o];
          for (let i = 0; i < inputSize; i++) {
            const xi = input[inBase + i];
            const row = i * outputSize;
            if (xi !== 0)
              for (let o = 0; o < outputSize; o++) gw[row + o] += xi * delta[outBase + o];
            if (l > 0) {
              // ReLU derivative: the activation below is the ReLU output.
              if (xi > 0) {
                let sum = 0;
                for (let o = 0; o < outputSize; o++) sum += w[row + o] * delta[outBase + o];
                below[inBase + i] = sum;
              } else below[inBase + i] = 0;
            }
          }
        }
      }
      beta1Power *= beta1;
      beta2Power *= beta2;
      const c1 = 1 - beta1Power;
      const c2 = 1 - beta2Power;
      for (const layer of layers) {
        for (const [p, g, m, v] of [
          [layer.w, layer.gw, layer.mw, layer.vw],
          [layer.b, layer.gb, layer.mb, layer.vb],
        ] as const) {
          for (let i = 0; i < p.length; i++) {
            m[i] = beta1 * m[i] + (1 - beta1) * g[i];
            v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i];
            p[i] -= (rate * (m[i] / c1)) / (Math.sqrt(v[i] / c2) + 1e-8);
          }
        }
      }
    }
    options.onEpoch?.(epoch + 1, options.epochs);
  }

  // Fold the target standardisation into the last layer: y = scale ⊙ out + mean.
  const last = layers[layers.length - 1];
  for (let i = 0; i < last.inputSize; i++)
    for (let o = 0; o < outputs; o++) last.w[i * outputs + o] *= yScale[o];
  for (let o = 0; o < outputs; o++) last.b[o] = last.b[o] * yScale[o] + yMean[o];

  const params: MlpParams = {
    layers: layers.map((layer, l) => ({
      inputSize: layer.inputSize,
      outputSize: layer.outputSize,
      weights: Float32Array.from(layer.w),
      bias: Float32Array.from(layer.b),
      activation: l === layers.length - 1 ? 'linear' : 'relu',
    })),
  };

  return { params };
}

/** One row through the MLP in float64 (for fitting diagnostics). */
export function denseForward(params: MlpParams, row: ArrayLike<number>): Float64Array {
  let h = Float64Array.from(row);
  for (const layer of params.layers) {
    const out = new Float64Array(layer.outputSize);
    for (let o = 0; o < layer.outputSize; o++) {
      let sum = layer.bias[o];
      for (let i = 0; i < layer.inputSize; i++)
        sum += h[i] * layer.weights[i * layer.outputSize + o];
      out[o] =
        layer.activation === 'relu'
          ? Math.max(0, sum)
          : layer.activation === 'tanh'
            ? Math.tanh(sum)
            : sum;
    }
    h = out;
  }
  return h;
}
