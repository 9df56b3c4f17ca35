/**
 * The ONNX writer for localfit backbones: parameters, export, and a matching forward pass.
 * Browser-safe (no node: imports), so browser tests can build models on the fly.
 */

export { canonicalJson } from '../../src/protocol/canonical_json.ts';
export { type BuildMlpOptions, buildMlpModel, INPUT_NORMALIZATION_KEY } from './build_mlp.ts';
export { mlpForward } from './forward.ts';
export { GraphBuilder, type Op } from './graph_builder.ts';
export { type InitOptions, initMlpParams } from './init.ts';
export {
  type Activation,
  backboneInputSize,
  checkMlpParams,
  type DenseLayer,
  type MlpParams,
} from './mlp_params.ts';
export {
  encodeModel,
  FORMAT_VERSION_KEY,
  IR_VERSION,
  MODEL_FORMAT_VERSION,
  OPSET_VERSION,
  PRODUCER_NAME,
} from './model_proto.ts';
export { mulberry32, type Random, uniformArray } from './prng.ts';
export { BATCH_DIM, type ElemType, tensorValue, type ValueShape } from './value_info.ts';
