/**
 * Exports an MLP backbone as ONNX bytes.
 *
 * Graph, for inputs a, b… of the feature spec:
 *
 *   a ─[Sub mean, Div std]─┐
 *   b ─[Sub mean, Div std]─┴─ Concat(axis 1) ─ Gemm ─ act ─ … ─ Gemm ─ act ─▶ output
 *
 * The normalisation step appears only for inputs whose spec has `mean`/`std`; it lives in
 * the graph so the device feeds raw app features and cannot get the statistics wrong (the
 * metadata says so under {@link INPUT_NORMALIZATION_KEY}, so nothing normalises twice).
 * Dense layers are single Gemm nodes: every tensor here is [batch, n], which is exactly
 * Gemm's case, and it carries the bias add with it.
 */
import { FEATURE_SPEC_KEY, type FeatureSpec } from '../../src/backbone/feature_spec.ts';
import { LearnerError } from '../../src/errors.ts';
import { canonicalJson } from '../../src/protocol/canonical_json.ts';
import { GraphBuilder } from './graph_builder.ts';
import { checkMlpParams, type MlpParams } from './mlp_params.ts';
import { encodeModel, FORMAT_VERSION_KEY, MODEL_FORMAT_VERSION } from './model_proto.ts';

/** Metadata key saying where the spec's input `mean`/`std` are applied: 'in-graph'. */
export const INPUT_NORMALIZATION_KEY = 'localfit.input_normalization';

export interface BuildMlpOptions {
  /** Extra `metadata_props` (semver, training run…), written before localfit's own keys. */
  metadata?: Record<string, string>;
  /** The graph's name (default 'localfit_backbone'). */
  graphName?: string;
}

const RESERVED_KEYS = [FEATURE_SPEC_KEY, FORMAT_VERSION_KEY, INPUT_NORMALIZATION_KEY];

export function buildMlpModel(
  params: MlpParams,
  spec: FeatureSpec,
  options: BuildMlpOptions = {},
): Uint8Array {
  checkMlpParams(params, spec);
  const graph = new GraphBuilder(options.graphName ?? 'localfit_backbone');

  const features = spec.inputs.map((input) => {
    let x = graph.input(input.name, input.size);
    if (input.mean !== undefined) {
      const mean = graph.constant(`localfit/${input.name}/mean`, Float32Array.from(input.mean), [
        input.size,
      ]);
      x = graph.node({ type: 'Sub' }, [x, mean], `localfit/${input.name}/centered`);
    }
    if (input.std !== undefined) {
      const std = graph.constant(`localfit/${input.name}/std`, Float32Array.from(input.std), [
        input.size,
      ]);
      x = graph.node({ type: 'Div' }, [x, std], `localfit/${input.name}/normalized`);
    }
    return x;
  });
  let h =
    features.length === 1
      ? features[0]
      : graph.node({ type: 'Concat', axis: 1 }, features, 'localfit/features');

  params.layers.forEach((layer, i) => {
    const last = i === params.layers.length - 1;
    const prefix = `localfit/dense${i}`;
    const weights = graph.constant(`${prefix}/weights`, layer.weights, [
      layer.inputSize,
      layer.outputSize,
    ]);
    const bias = graph.constant(`${prefix}/bias`, layer.bias, [layer.outputSize]);
    const linearName =
      last && layer.activation === 'linear' ? spec.output.name : `${prefix}/linear`;
    h = graph.node({ type: 'Gemm' }, [h, weights, bias], linearName);
    if (layer.activation === 'linear') return;
    const activated = last ? spec.output.name : `${prefix}/${layer.activation}`;
    h = graph.node({ type: layer.activation === 'relu' ? 'Relu' : 'Tanh' }, [h], activated);
  });
  graph.output(spec.output.name, spec.output.size);

  return encodeModel(graph.build(), localfitMetadata(spec, options.metadata));
}

/**
 * The `metadata_props` every localfit backbone carries: the app's own keys, the format
 * version, where normalisation happens, and the feature spec — last on purpose, so a file cut
 * short anywhere loses the spec and the device rejects it.
 */
export function localfitMetadata(
  spec: FeatureSpec,
  extra: Record<string, string> = {},
): Map<string, string> {
  const metadata = new Map<string, string>();
  for (const [key, value] of Object.entries(extra)) {
    if (RESERVED_KEYS.includes(key))
      throw new LearnerError('BAD_CONFIG', `metadata key ${key} is written by localfit itself`);
    metadata.set(key, value);
  }
  metadata.set(FORMAT_VERSION_KEY, MODEL_FORMAT_VERSION);
  metadata.set(INPUT_NORMALIZATION_KEY, 'in-graph');
  metadata.set(FEATURE_SPEC_KEY, canonicalJson(spec));
  return metadata;
}
