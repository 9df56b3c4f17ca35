/**
 * Graph inputs and outputs: float32 matrices `[batch, size]` whose first dimension is the
 * symbolic `batch` (a `dim_param`), so one model serves a single prediction and a batch of
 * any size without re-export.
 */
import { type Onnx, onnx } from './proto.ts';

export const BATCH_DIM = 'batch';

export function batchedFloatValue(name: string, size: number): Onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: [{ dimParam: BATCH_DIM }, { dimValue: size }] },
      },
    },
  };
}
