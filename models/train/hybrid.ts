/**
 * The trained backbone: a hybrid of an item-id embedding and a content MLP, exported with the
 * project's ONNX writer primitives (GraphBuilder, encodeModel) and mirrored by a TypeScript
 * forward pass.
 *
 *   item (one-hot over the catalog) ─ Gemm(−residual) ──────────────┐
 *   item_features ─[Sub mean, Div std]─┬─ Gemm ─ Relu ─ … ─ Gemm ─ Sub ─ factors (bias, q, popularity)
 *                                       │                              │
 *                                       └───────────── Concat(axis 1) ─┴─ Gemm ─▶ embedding
 *
 * The MLP maps an item's content to the factor space (its *prior*); the residual table adds,
 * for every item seen in the history, what the factorisation learned beyond that prior. So a
 * known item gets exactly its learned vector, and an item the version has never seen (all-zero
 * one-hot, or a zero row) gets the MLP's estimate from its content alone. The last Gemm is an
 * affine map that puts each embedding column on the scale the trainer chose for it (see
 * `embedding.ts`), and adds a constant column.
 *
 * Every op (Gemm, Relu, Sub, Div, Concat) is one the writer already knows; the batch dimension
 * is symbolic and the feature spec is the model's last metadata entry, as `buildMlpModel` does.
 */

import { FEATURES_INPUT, ITEM_INPUT } from '../../src/backbone/catalog.ts';
import type { FeatureSpec } from '../../src/backbone/feature_spec.ts';
import { LearnerError } from '../../src/errors.ts';
import { localfitMetadata } from '../onnx/build_mlp.ts';
import { dense } from '../onnx/forward.ts';
import { GraphBuilder } from '../onnx/graph_builder.ts';
import type { MlpParams } from '../onnx/mlp_params.ts';
import { encodeModel } from '../onnx/model_proto.ts';

export const EMBEDDING_OUTPUT = 'embedding';

export interface HybridParams {
  /** Width of the one-hot `item` input: the catalog size. */
  items: number;
  /** Content MLP: normalised item_features → prior factors (width `factorWidth`). */
  mlp: MlpParams;
  /** items × factorWidth, row-major: learned vector − prior (zero rows for unseen items). */
  residual: Float32Array;
  factorWidth: number;
  /** Affine map [factors, normalised item_features] → embedding: (factorWidth + C) × D. */
  projection: Float32Array;
  projectionBias: Float32Array;
}

export function checkHybrid(params: HybridParams, spec: FeatureSpec): void {
  const fail = (why: string): never => {
    throw new LearnerError('BAD_MODEL', `hybrid backbone does not fit its spec: ${why}`);
  };
  const [item, features] = spec.inputs;
  if (spec.inputs.length !== 2 || item.name !== ITEM_INPUT || features.name !== FEATURES_INPUT)
    fail(`inputs must be ${ITEM_INPUT} and ${FEATURES_INPUT}`);
  if (item.size !== params.items)
    fail(`${ITEM_INPUT} has ${item.size} columns, not ${params.items}`);
  if (item.mean || item.std) fail(`${ITEM_INPUT} is a one-hot and takes no normalisation`);
  const { factorWidth } = params;
  if (params.residual.length !== params.items * factorWidth) fail('residual table size');
  const layers = params.mlp.layers;
  if (layers.length === 0 || layers[0].inputSize !== features.size) fail('MLP input width');
  if (layers[layers.length - 1].outputSize !== factorWidth) fail('MLP output width');
  if (layers[layers.length - 1].activation !== 'linear') fail('MLP output must be linear');
  const d = spec.output.size;
  if (params.projection.length !== (factorWidth + features.size) * d) fail('projection size');
  if (params.projectionBias.length !== d) fail('projection bias size');
  for (const array of [params.residual, params.projection, params.projectionBias])
    if (!array.every(Number.isFinite)) fail('non-finite parameters');
}

export interface HybridModelOptions {
  metadata?: Record<string, string>;
  graphName?: string;
}

export function buildHybridModel(
  params: HybridParams,
  spec: FeatureSpec,
  options: HybridModelOptions = {},
): Uint8Array {
  checkHybrid(params, spec);
  const [itemInput, featureInput] = spec.inputs;
  const g = new GraphBuilder(options.graphName ?? 'localfit_hybrid_backbone');
  const { factorWidth } = params;

  const item = g.input(itemInput.name, itemInput.size);
  const negResidual = Float32Array.from(params.residual, (v) => -v);
  const negated = g.node(
    { type: 'Gemm' },
    [
      item,
      g.constant('localfit/item/neg_residual', negResidual, [params.items, factorWidth]),
      g.constant('localfit/item/zero', new Float32Array(factorWidth), [factorWidth]),
    ],
    'localfit/item/neg_residual_rows',
  );

  let features = g.input(featureInput.name, featureInput.size);
  if (featureInput.mean) {
    const mean = Float32Array.from(featureInput.mean);
    const c = g.constant(`localfit/${featureInput.name}/mean`, mean, [featureInput.size]);
    features = g.node({ type: 'Sub' }, [features, c], `localfit/${featureInput.name}/centered`);
  }
  if (featureInput.std) {
    const std = Float32Array.from(featureInput.std);
    const c = g.constant(`localfit/${featureInput.name}/std`, std, [featureInput.size]);
    features = g.node({ type: 'Div' }, [features, c], `localfit/${featureInput.name}/normalized`);
  }

  let h = features;
  params.mlp.layers.forEach((layer, i) => {
    const prefix = `localfit/mlp${i}`;
    const w = g.constant(`${prefix}/weights`, layer.weights, [layer.inputSize, layer.outputSize]);
    const b = g.constant(`${prefix}/bias`, layer.bias, [layer.outputSize]);
    h = g.node({ type: 'Gemm' }, [h, w, b], `${prefix}/linear`);
    if (layer.activation === 'relu') h = g.node({ type: 'Relu' }, [h], `${prefix}/relu`);
    else if (layer.activation === 'tanh') h = g.node({ type: 'Tanh' }, [h], `${prefix}/tanh`);
  });
  // prior − (−residual) = prior + residual.
  const factors = g.node({ type: 'Sub' }, [h, negated], 'localfit/factors');
  const joined = g.node({ type: 'Concat', axis: 1 }, [factors, features], 'localfit/joined');
  const width = factorWidth + featureInput.size;
  g.node(
    { type: 'Gemm' },
    [
      joined,
      g.constant('localfit/projection/weights', params.projection, [width, spec.output.size]),
      g.constant('localfit/projection/bias', params.projectionBias, [spec.output.size]),
    ],
    spec.output.name,
  );
  g.output(spec.output.name, spec.output.size);

  return encodeModel(g.build(), localfitMetadata(spec, options.metadata));
}

/**
 * What the graph computes, in TypeScript, rounding every intermediate to float32 as
 * onnxruntime does (dot products summed in float64 and rounded once, like `mlpForward`).
 * `inputs.item`: batch × items (one-hot rows), `inputs.item_features`: batch × C.
 */
export function hybridForward(
  params: HybridParams,
  spec: FeatureSpec,
  inputs: Record<string, Float32Array>,
  batch: number,
): Float32Array {
  checkHybrid(params, spec);
  const [itemInput, featureInput] = spec.inputs;
  const item = inputs[itemInput.name];
  const raw = inputs[featureInput.name];
  if (item?.length !== batch * itemInput.size || raw?.length !== batch * featureInput.size)
    throw new LearnerError('BAD_INPUT', 'inputs do not match the spec and batch size');
  const c = featureInput.size;
  const { normalized, hidden: h } = contentMlp(params, featureInput, raw, batch);
  const { factorWidth } = params;
  const negResidual = Float32Array.from(params.residual, (v) => -v);
  const negated = dense(
    {
      inputSize: params.items,
      outputSize: factorWidth,
      weights: negResidual,
      bias: new Float32Array(factorWidth),
      activation: 'linear',
    },
    item,
    batch,
  );
  const width = factorWidth + c;
  const joined = new Float32Array(batch * width);
  for (let row = 0; row < batch; row++) {
    for (let o = 0; o < factorWidth; o++)
      joined[row * width + o] = Math.fround(
        h[row * factorWidth + o] - negated[row * factorWidth + o],
      );
    joined.set(normalized.subarray(row * c, (row + 1) * c), row * width + factorWidth);
  }
  return dense(
    {
      inputSize: width,
      outputSize: spec.output.size,
      weights: params.projection,
      bias: params.projectionBias,
      activation: 'linear',
    },
    joined,
    batch,
  );
}

/**
 * The embedding of every catalog item (row i = what the graph outputs for a one-hot at i with
 * that item's content features), without building one-hot rows: a one-hot Gemm picks exactly
 * one residual row, so this is bit for bit what {@link hybridForward} computes.
 * `features`: items × C raw content features. Returns items × D.
 */
export function embedCatalog(
  params: HybridParams,
  spec: FeatureSpec,
  features: Float32Array,
): Float32Array {
  return projectRows(params, spec, joinCatalog(params, spec, features));
}

/** The tensor before the last Gemm, [factors, normalised content], for every catalog item. */
export function joinCatalog(
  params: HybridParams,
  spec: FeatureSpec,
  features: Float32Array,
): Float32Array {
  const featureInput = spec.inputs[1];
  const c = featureInput.size;
  const items = params.items;
  if (features.length !== items * c) throw new LearnerError('BAD_INPUT', 'catalog features size');
  const { normalized, hidden: h } = contentMlp(params, featureInput, features, items);
  const { factorWidth } = params;
  const width = factorWidth + c;
  const joined = new Float32Array(items * width);
  for (let i = 0; i < items; i++) {
    for (let o = 0; o < factorWidth; o++) {
      // Sub(prior, −residual) in float32, as the graph does it.
      const negated = Math.fround(-params.residual[i * factorWidth + o]);
      joined[i * width + o] = Math.fround(h[i * factorWidth + o] - negated);
    }
    joined.set(normalized.subarray(i * c, (i + 1) * c), i * width + factorWidth);
  }
  return joined;
}

/** The last Gemm over joined rows. */
export function projectRows(params: HybridParams, spec: FeatureSpec, joined: Float32Array) {
  const width = params.factorWidth + spec.inputs[1].size;
  const rows = joined.length / width;
  return dense(
    {
      inputSize: width,
      outputSize: spec.output.size,
      weights: params.projection,
      bias: params.projectionBias,
      activation: 'linear',
    },
    joined,
    rows,
  );
}

/** The content features, normalised as the graph does, and the MLP's output for them. */
function contentMlp(
  params: HybridParams,
  featureInput: FeatureSpec['inputs'][number],
  values: Float32Array,
  rows: number,
): { normalized: Float32Array; hidden: Float32Array } {
  const c = featureInput.size;
  const mean = featureInput.mean?.map(Math.fround);
  const std = featureInput.std?.map(Math.fround);
  const normalized = new Float32Array(rows * c);
  for (let i = 0; i < rows * c; i++) {
    let v = values[i];
    if (mean) v = Math.fround(v - mean[i % c]);
    if (std) v = Math.fround(v / std[i % c]);
    normalized[i] = v;
  }
  let hidden: Float32Array = normalized;
  for (const layer of params.mlp.layers) hidden = dense(layer, hidden, rows);
  return { normalized, hidden };
}
