/**
 * Models shaped as people export them from PyTorch (`torch.onnx.export`), written with the
 * project's own ONNX writer for the bring-your-own-model tests: no localfit metadata (the app
 * passes `featureSpec`), ids looked up with Gather, outputs of shape [batch], [batch, 1] and
 * [batch, 1, d], a batch axis fixed at export, two outputs, an output that goes NaN.
 * Browser-safe. Each model comes with what it computes, in TypeScript, to check a run against.
 *
 * ```ts
 * import { createLearner } from 'localfit';
 * import { idLookupModel } from './byom.ts';
 * const model = idLookupModel({ dtype: 'int64' });
 * await createLearner({ model: { bytes: model.bytes }, featureSpec: model.featureSpec });
 * ```
 */
import type { FeatureSpecInit } from '../src/backbone/feature_spec.ts';
import { GraphBuilder } from './onnx/graph_builder.ts';
import { encodeModel } from './onnx/model_proto.ts';
import { mulberry32 } from './onnx/prng.ts';
import { BATCH_DIM } from './onnx/value_info.ts';

export interface ExportedModel {
  bytes: Uint8Array;
  /** What the app passes for it. */
  featureSpec: FeatureSpecInit;
  /** The output the head learns on for `inputs` (one number array per input, flattened). */
  forward(inputs: Record<string, ArrayLike<number>>, batch: number): Float32Array;
}

function table(rows: number, cols: number, seed: number): Float32Array {
  const random = mulberry32(seed);
  return Float32Array.from({ length: rows * cols }, () => random() * 2 - 1);
}

/** x (batch × n) · w (n × m) + b, rounded to float32 once per value as onnxruntime does. */
function dense(x: ArrayLike<number>, batch: number, w: Float32Array, b: Float32Array) {
  const m = b.length;
  const n = w.length / m;
  const out = new Float32Array(batch * m);
  for (let r = 0; r < batch; r++) {
    for (let j = 0; j < m; j++) {
      let sum = b[j];
      for (let i = 0; i < n; i++) sum += x[r * n + i] * w[i * m + j];
      out[r * m + j] = sum;
    }
  }
  return out;
}

/** No metadata at all: what torch.onnx.export writes. */
const NO_METADATA = new Map<string, string>();

/**
 * An embedding lookup: `user` ids (int64 or int32) → Gather over a vocabulary × dim table.
 * `idAxis: false` gives ids [batch] and an output [batch, dim] concatenated with a float input
 * `x` [batch, 3]; `idAxis: true` gives ids [batch, 1] and the output Gather makes of them,
 * [batch, 1, dim].
 */
export function idLookupModel(
  options: { dtype?: 'int64' | 'int32'; idAxis?: boolean; vocabulary?: number; dim?: number } = {},
): ExportedModel {
  const { dtype = 'int64', idAxis = false, vocabulary = 50, dim = 4 } = options;
  const weights = table(vocabulary, dim, 31);
  const g = new GraphBuilder('torch_jit');
  const ids = g.input('user', { dtype, dims: idAxis ? [BATCH_DIM, 1] : [BATCH_DIM] });
  const rows = g.constant('embedding.weight', weights, [vocabulary, dim]);
  if (idAxis) {
    g.node({ type: 'Gather', axis: 0 }, [rows, ids], 'embedding');
    g.output('embedding', { dims: [BATCH_DIM, 1, dim] });
  } else {
    const looked = g.node({ type: 'Gather', axis: 0 }, [rows, ids], 'looked_up');
    const x = g.input('x', 3);
    g.node({ type: 'Concat', axis: 1 }, [looked, x], 'embedding');
    g.output('embedding', { dims: [BATCH_DIM, dim + 3] });
  }
  const width = idAxis ? dim : dim + 3;
  return {
    bytes: encodeModel(g.build(), NO_METADATA),
    featureSpec: {
      inputs: [
        { name: 'user', size: 1, dtype, vocabulary },
        ...(idAxis ? [] : [{ name: 'x', size: 3 }]),
      ],
      output: { name: 'embedding' },
      task: 'binary',
    },
    forward(inputs, batch) {
      const out = new Float32Array(batch * width);
      for (let r = 0; r < batch; r++) {
        out.set(weights.subarray(inputs.user[r] * dim, (inputs.user[r] + 1) * dim), r * width);
        if (!idAxis) for (let i = 0; i < 3; i++) out[r * width + dim + i] = inputs.x[r * 3 + i];
      }
      return out;
    },
  };
}

/**
 * A [batch, 5, 4] input flattened and mapped to one score per example: output `score` of shape
 * [batch] (`keep: false`, a Squeeze as `.squeeze(1)` exports) or [batch, 1].
 */
export function sequenceScoreModel(options: { keep?: boolean } = {}): ExportedModel {
  const w = table(20, 1, 32);
  const b = Float32Array.of(0.25);
  const g = new GraphBuilder('torch_jit');
  const x = g.input('events', { dims: [BATCH_DIM, 5, 4] });
  const flat = g.node({ type: 'Flatten', axis: 1 }, [x], 'flat');
  const params = [g.constant('fc.weight', w, [20, 1]), g.constant('fc.bias', b, [1])];
  if (options.keep) {
    g.node({ type: 'Gemm' }, [flat, ...params], 'score');
    g.output('score', { dims: [BATCH_DIM, 1] });
  } else {
    const column = g.node({ type: 'Gemm' }, [flat, ...params], 'fc');
    const axes = g.int64Constant('axes', [1], [1]);
    g.node({ type: 'Squeeze' }, [column, axes], 'score');
    g.output('score', { dims: [BATCH_DIM] });
  }
  return {
    bytes: encodeModel(g.build(), NO_METADATA),
    featureSpec: { inputs: [{ name: 'events', size: 20 }], task: 'regression' },
    forward: (inputs, batch) => dense(inputs.events, batch, w, b),
  };
}

/**
 * A dense layer x [B, 6] → [B, 4] whose batch axis is fixed at `batch` (exported without
 * dynamic_axes: PyTorch fixes it at the example's size, usually 1).
 */
export function fixedBatchModel(batch = 1): ExportedModel {
  const w = table(6, 4, 33);
  const b = table(1, 4, 34);
  const g = new GraphBuilder('torch_jit');
  const x = g.input('x', { dims: [batch, 6] });
  g.node({ type: 'Gemm' }, [x, g.constant('w', w, [6, 4]), g.constant('b', b, [4])], 'y');
  g.output('y', { dims: [batch, 4] });
  return {
    bytes: encodeModel(g.build(), NO_METADATA),
    featureSpec: { inputs: [{ name: 'x', size: 6 }], task: 'binary' },
    forward: (inputs, n) => dense(inputs.x, n, w, b),
  };
}

/**
 * Two outputs, `embedding` [batch, 4] and `logits` [batch, 2], from one float64 input `x`
 * [batch, 3] (cast to float32 first, as a model trained in double precision exports), the
 * logits returned as float64.
 */
export function twoOutputModel(): ExportedModel & { logits: ExportedModel['forward'] } {
  const w1 = table(3, 4, 35);
  const b1 = table(1, 4, 36);
  const w2 = table(4, 2, 37);
  const b2 = table(1, 2, 38);
  const g = new GraphBuilder('torch_jit');
  const x = g.input('x', { dtype: 'float64', dims: [BATCH_DIM, 3] });
  const x32 = g.node({ type: 'Cast', to: 'float32' }, [x], 'x32');
  const h = g.node(
    { type: 'Gemm' },
    [x32, g.constant('w1', w1, [3, 4]), g.constant('b1', b1, [4])],
    'embedding',
  );
  const logits32 = g.node(
    { type: 'Gemm' },
    [h, g.constant('w2', w2, [4, 2]), g.constant('b2', b2, [2])],
    'logits32',
  );
  g.node({ type: 'Cast', to: 'float64' }, [logits32], 'logits');
  g.output('embedding', { dims: [BATCH_DIM, 4] });
  g.output('logits', { dtype: 'float64', dims: [BATCH_DIM, 2] });
  const embed = (inputs: Record<string, ArrayLike<number>>, n: number) =>
    dense(Float32Array.from(inputs.x), n, w1, b1);
  return {
    bytes: encodeModel(g.build(), NO_METADATA),
    featureSpec: { inputs: [{ name: 'x', size: 3, dtype: 'float64' }], task: 'binary' },
    forward: embed,
    logits: (inputs, n) => dense(embed(inputs, n), n, w2, b2),
  };
}

/** `root` = √x for x [batch, 3]: finite for x ≥ 0, NaN for a negative component. */
export function sqrtModel(): ExportedModel {
  const g = new GraphBuilder('torch_jit');
  const x = g.input('x', 3);
  g.node({ type: 'Sqrt' }, [x], 'root');
  g.output('root', 3);
  return {
    bytes: encodeModel(g.build(), NO_METADATA),
    featureSpec: { inputs: [{ name: 'x', size: 3 }], task: 'binary' },
    forward: (inputs, n) => Float32Array.from({ length: n * 3 }, (_, i) => Math.sqrt(inputs.x[i])),
  };
}
