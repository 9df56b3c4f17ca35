import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import type { Figure } from './stats.ts';
import { summarise } from './stats.ts';
import { ALPHA, makeStream } from './throughput.ts';

/**
 * TensorFlow.js as a peer: the same logistic model (weights + bias, log loss, L2 = 1e-4)
 * trained with its SGD optimizer on its pure-JavaScript CPU backend, the backend every
 * browser and worker has (WebGL/WebGPU pay a GPU round trip per step, worse per event).
 * One SGD step per event, or per batch of `batch` events. The gradient of the log loss is
 * written out with tf ops (Xᵀ(σ(Xw + b) − y)/n + αw) rather than taken by autograd: tfjs-core's
 * gradient registrations do not load under Node's ES modules, and skipping the tape only
 * favours TensorFlow.js. The data are converted to Float32Array before timing, so only
 * training is measured.
 */
const RATE = 0.01;
export const TFJS_VERSION = tf.version_core;

export async function measureTfjs(
  d: number,
  samples: number,
  runs: number,
  batch: number,
): Promise<Figure> {
  // In Node the CPU backend prints a banner recommending tfjs-node, a native backend no
  // browser can load: off topic here, where the browser's backend is what is compared.
  tf.env().set('IS_NODE', false);
  await tf.setBackend('cpu');
  await tf.ready();
  const stream = makeStream(d, samples, 42 + d);
  const xs = Float32Array.from(stream.xs);
  const ys = Float32Array.from(stream.ys);
  const train = (count: number) => {
    const w = tf.variable(tf.zeros([d, 1]));
    const b = tf.variable(tf.zeros([1]));
    for (let row = 0; row < count; row += batch) {
      const n = Math.min(batch, count - row);
      const x = tf.tensor2d(xs.subarray(row * d, (row + n) * d), [n, d]);
      const y = tf.tensor2d(ys.subarray(row, row + n), [n, 1]);
      tf.tidy(() => {
        const error = tf.sub(tf.sigmoid(tf.add(tf.matMul(x, w), b)), y);
        const gradW = tf.add(tf.div(tf.matMul(x, error, true, false), n), tf.mul(ALPHA, w));
        w.assign(tf.sub(w, tf.mul(RATE, gradW)));
        b.assign(tf.sub(b, tf.mul(RATE, tf.mean(error, 0))));
      });
      tf.dispose([x, y]);
    }
    const bias = b.dataSync()[0];
    tf.dispose([w, b]);
    if (!Number.isFinite(bias)) throw new Error('TensorFlow.js produced a non-finite bias');
  };
  train(Math.min(samples, Math.max(500, 10 * batch)));
  const rates: number[] = [];
  for (let run = 0; run < runs; run++) {
    const start = performance.now();
    train(samples);
    rates.push((samples / (performance.now() - start)) * 1000);
  }
  return summarise(rates);
}
