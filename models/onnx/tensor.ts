/**
 * Float32 initializers as ONNX `TensorProto`s.
 *
 * Values go into `raw_data` rather than `float_data`: it is the compact form every runtime
 * reads, and ONNX defines it as little-endian, so we write it through a DataView with an
 * explicit byte order instead of copying the Float32Array's (platform-endian) buffer.
 */
import { type Onnx, onnx } from './proto.ts';

export function float32Tensor(
  name: string,
  values: Float32Array,
  dims: number[],
): Onnx.ITensorProto {
  const count = dims.reduce((product, dim) => product * dim, 1);
  if (count !== values.length) {
    throw new Error(
      `tensor ${name}: ${values.length} values do not fill dims [${dims.join(', ')}]`,
    );
  }
  const raw = new Uint8Array(values.length * 4);
  const view = new DataView(raw.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i], true);
  return { name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: raw };
}
