/**
 * Float32 and int64 initializers as ONNX `TensorProto`s.
 *
 * Values go into `raw_data` rather than `float_data`: it is the compact form every runtime
 * reads, and ONNX defines it as little-endian, so we write it through a DataView with an
 * explicit byte order instead of copying the typed array's (platform-endian) buffer.
 */
import { type Onnx, onnx } from './proto.ts';

export function float32Tensor(
  name: string,
  values: Float32Array,
  dims: number[],
): Onnx.ITensorProto {
  return rawTensor(name, values.length, dims, onnx.TensorProto.DataType.FLOAT, 4, (view, i) =>
    view.setFloat32(i * 4, values[i], true),
  );
}

/** Int64 values (indices, axes). */
export function int64Tensor(name: string, values: number[], dims: number[]): Onnx.ITensorProto {
  return rawTensor(name, values.length, dims, onnx.TensorProto.DataType.INT64, 8, (view, i) =>
    view.setBigInt64(i * 8, BigInt(values[i]), true),
  );
}

function rawTensor(
  name: string,
  length: number,
  dims: number[],
  dataType: number,
  width: number,
  write: (view: DataView, i: number) => void,
): Onnx.ITensorProto {
  const count = dims.reduce((product, dim) => product * dim, 1);
  if (count !== length) {
    throw new Error(`tensor ${name}: ${length} values do not fill dims [${dims.join(', ')}]`);
  }
  const raw = new Uint8Array(length * width);
  const view = new DataView(raw.buffer);
  for (let i = 0; i < length; i++) write(view, i);
  return { name, dims, dataType, rawData: raw };
}
