/**
 * A small typed builder for an ONNX graph: `[batch, n]` float tensors for localfit's own
 * backbones, and the ids, axes and types other exporters use (Gather, Flatten, Cast…), for
 * models shaped as people bring them.
 *
 * It only knows the operators the writer emits, so a typo in an op name or a missing
 * attribute is a compile error rather than a model that onnxruntime rejects at load time.
 * Every tensor name is checked for uniqueness as it is declared: ONNX graphs are SSA, and a
 * duplicate name silently rewires the graph.
 */
import { type Onnx, onnx } from './proto.ts';
import { float32Tensor, int64Tensor } from './tensor.ts';
import {
  BATCH_DIM,
  ELEM_TYPES,
  type ElemType,
  tensorValue,
  type ValueShape,
} from './value_info.ts';

/** Operators of the default domain (opset 17) the writer uses, with their attributes. */
export type Op =
  | { type: 'Gemm' }
  | { type: 'Relu' }
  | { type: 'Tanh' }
  | { type: 'Sub' }
  | { type: 'Div' }
  | { type: 'Concat'; axis: number }
  | { type: 'Gather'; axis: number }
  | { type: 'Flatten'; axis: number }
  /** Axes come as the second input (an int64 constant) since opset 13. */
  | { type: 'Squeeze' }
  | { type: 'Cast'; to: ElemType }
  | { type: 'Sqrt' };

/** `[batch, size]` float32, or any declared shape. */
function shapeOf(shape: number | ValueShape): ValueShape {
  return typeof shape === 'number' ? { dims: [BATCH_DIM, shape] } : shape;
}

export class GraphBuilder {
  private readonly inputs: Onnx.IValueInfoProto[] = [];
  private readonly outputs: Onnx.IValueInfoProto[] = [];
  private readonly initializers: Onnx.ITensorProto[] = [];
  private readonly nodes: Onnx.INodeProto[] = [];
  private readonly names = new Set<string>();

  private readonly name: string;
  constructor(name: string) {
    this.name = name;
  }

  /** Declares a graph input of shape [batch, size] (or `shape`); returns its tensor name. */
  input(name: string, shape: number | ValueShape): string {
    this.claim(name);
    this.inputs.push(tensorValue(name, shapeOf(shape)));
    return name;
  }

  /** Adds a float32 constant (weights, biases, normalisation statistics). */
  constant(name: string, values: Float32Array, dims: number[]): string {
    this.claim(name);
    this.initializers.push(float32Tensor(name, values, dims));
    return name;
  }

  /** Adds an int64 constant (Gather indices, Squeeze axes). */
  int64Constant(name: string, values: number[], dims: number[]): string {
    this.claim(name);
    this.initializers.push(int64Tensor(name, values, dims));
    return name;
  }

  /** Appends a node computing `output` from `inputs`; returns `output`. */
  node(op: Op, inputs: string[], output: string): string {
    for (const input of inputs) {
      if (!this.names.has(input))
        throw new Error(`graph ${this.name}: ${op.type} reads unknown ${input}`);
    }
    this.claim(output);
    const attribute: Onnx.IAttributeProto[] = [];
    const INT = onnx.AttributeProto.AttributeType.INT;
    if (op.type === 'Concat' || op.type === 'Gather' || op.type === 'Flatten') {
      attribute.push({ name: 'axis', type: INT, i: op.axis });
    }
    if (op.type === 'Cast') attribute.push({ name: 'to', type: INT, i: ELEM_TYPES[op.to] });
    this.nodes.push({
      name: output,
      opType: op.type,
      domain: '',
      input: inputs,
      output: [output],
      attribute,
    });
    return output;
  }

  /** Marks an already computed tensor as a graph output of shape [batch, size] (or `shape`). */
  output(name: string, shape: number | ValueShape): void {
    if (!this.names.has(name))
      throw new Error(`graph ${this.name}: output ${name} is never computed`);
    this.outputs.push(tensorValue(name, shapeOf(shape)));
  }

  build(): Onnx.IGraphProto {
    if (this.outputs.length === 0) throw new Error(`graph ${this.name} has no outputs`);
    return {
      name: this.name,
      input: this.inputs,
      output: this.outputs,
      initializer: this.initializers,
      node: this.nodes,
    };
  }

  private claim(name: string): void {
    if (name === '') throw new Error(`graph ${this.name}: empty tensor name`);
    if (this.names.has(name)) throw new Error(`graph ${this.name}: tensor name ${name} used twice`);
    this.names.add(name);
  }
}
