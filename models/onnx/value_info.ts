/**
 * Graph inputs and outputs. localfit's own backbones use float32 matrices `[batch, size]` whose
 * first dimension is the symbolic `batch` (a `dim_param`), so one model serves a single
 * prediction and a batch of any size without re-export; models shaped as other exporters write
 * them (ids, a fixed batch, more axes) use {@link tensorValue}.
 */
import { type Onnx, onnx } from './proto.ts';

export const BATCH_DIM = 'batch';

/** Element types the writer declares, by the names onnxruntime-web gives them. */
export type ElemType = 'float32' | 'float64' | 'int32' | 'int64';

export const ELEM_TYPES: Record<ElemType, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  float64: onnx.TensorProto.DataType.DOUBLE,
  int32: onnx.TensorProto.DataType.INT32,
  int64: onnx.TensorProto.DataType.INT64,
};

/** A tensor's declared type; dims are numbers (fixed) or names (symbolic, e.g. 'batch'). */
export interface ValueShape {
  dtype?: ElemType;
  dims: (number | string)[];
}

export function tensorValue(name: string, shape: ValueShape): Onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: ELEM_TYPES[shape.dtype ?? 'float32'],
        shape: {
          dim: shape.dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })),
        },
      },
    },
  };
}

export function batchedFloatValue(name: string, size: number): Onnx.IValueInfoProto {
  return tensorValue(name, { dims: [BATCH_DIM, size] });
}
