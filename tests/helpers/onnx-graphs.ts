// Small ONNX models written with Loupe's own ONNX writer, for import tests: a few operators at a time, with
// seeded random weights, so each operator's conversion can be compared with onnxruntime on its own.
import { seededRandom } from '../../shared/random.ts';
import { encodeModel, floatTensor, int64Tensor, type AttributeValue, type OnnxModel, type OnnxNode, type OnnxTensor } from '../../electron/core/export/onnx/onnx-proto.ts';

/** Builds a graph node by node; weights are random in −0.5..0.5. */
export class GraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxTensor[] = [];
  private n = 0;
  private readonly rand: () => number;

  constructor(seed = 1) {
    const next = seededRandom(seed);
    this.rand = () => next() - 0.5;
  }

  weight(dims: number[], scale = 1): string {
    const name = `w${this.n++}`;
    const count = dims.reduce((a, b) => a * b, 1);
    this.initializers.push(floatTensor(name, dims, Float32Array.from({ length: count }, () => this.rand() * scale)));
    return name;
  }

  ints(values: number[]): string {
    const name = `i${this.n++}`;
    this.initializers.push(int64Tensor(name, values));
    return name;
  }

  node(opType: string, inputs: string[], attributes: Record<string, AttributeValue> = {}): string {
    const out = `t${this.n++}`;
    this.nodes.push({ opType, name: `/block${this.n}/${opType}`, inputs, outputs: [out], attributes });
    return out;
  }

  model(output: string, opts: { inputShape?: (number | string)[]; outputShape?: (number | string)[]; opset?: number } = {}): Uint8Array {
    const m: OnnxModel = {
      producerName: 'loupe-tests',
      producerVersion: '1',
      docString: '',
      graphName: 'g',
      nodes: this.nodes.map((n) => (n.outputs[0] === output ? { ...n, outputs: ['logits'] } : n)),
      initializers: this.initializers,
      inputs: [{ name: 'input', shape: opts.inputShape ?? ['N', 3, 8, 8] }],
      outputs: [{ name: 'logits', shape: opts.outputShape ?? ['N', 'K'] }],
      metadata: {},
      opset: opts.opset,
    };
    return encodeModel(m);
  }
}

/** input 3×8×8 → Conv 3×3 (pads 1) → Relu → GlobalAveragePool → Flatten → Gemm → `classes` scores. */
export function tinyClassifier(opts: { classes?: number; act?: string; opset?: number; inputShape?: (number | string)[] } = {}): Uint8Array {
  const g = new GraphBuilder(7);
  const conv = g.node('Conv', ['input', g.weight([4, 3, 3, 3]), g.weight([4])], { pads: { kind: 'ints', value: [1, 1, 1, 1] } });
  const act = g.node(opts.act ?? 'Relu', [conv]);
  const pooled = g.node('GlobalAveragePool', [act]);
  const flat = g.node('Flatten', [pooled]);
  const classes = opts.classes ?? 2;
  const out = g.node('Gemm', [flat, g.weight([classes, 4]), g.weight([classes])], { transB: { kind: 'int', value: 1 } });
  return g.model(out, { opset: opts.opset, inputShape: opts.inputShape });
}
