/**
 * ONNX export of a trained TF.js LayersModel (issue 6), built layer by layer from model.json and weights.bin —
 * no TensorFlow needed, so it runs in the main process. Opset 13.
 *
 * Layout: Keras tensors are NHWC, ONNX's Conv/Pool/BatchNormalization want NCHW. The graph keeps the NHWC input
 * the bundle documents (preprocessing.json), transposes it once to NCHW, and transposes back before a Flatten
 * (so the flattened order is Keras' H·W·C order and Dense weights stay as trained) and at a 4-D output.
 * Padding 'same' becomes explicit pads computed from the static input size (TF pads the extra pixel at the end,
 * as ONNX's SAME_UPPER would).
 */
import { LoupeError } from '../../../../shared/contract.ts';
import { encodeModel, float, floatTensor, int, int64Tensor, ints, type AttributeValue, type OnnxModel, type OnnxNode, type OnnxTensor } from './onnx-proto.ts';

interface KerasLayer {
  class_name: string;
  name?: string;
  config: Record<string, unknown> & { name: string };
  inbound_nodes: [string, number, number, Record<string, unknown>?][][];
}

export interface LayersModelJson {
  modelTopology: {
    class_name: string;
    config: { name: string; layers: KerasLayer[]; input_layers: [string, number, number][]; output_layers: [string, number, number][] };
  };
  weightsManifest: { paths: string[]; weights: { name: string; shape: number[]; dtype: string }[] }[];
}

/** A layer ONNX export cannot express: the message names it, so the user knows what to change. */
export class UnsupportedLayerError extends LoupeError {
  constructor(layer: string, className: string, why = '') {
    super('UNSUPPORTED', `ONNX export does not support layer "${layer}" (${className})${why ? `: ${why}` : ''}. The TF.js bundle still works; export with --format tfjs.`);
  }
}

interface Value {
  name: string;
  /** Keras (NHWC) shape, batch first as null. */
  shape: (number | null)[];
}

const IDENTITY_LAYERS = new Set(['Dropout', 'SpatialDropout1D', 'SpatialDropout2D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout', 'ActivityRegularization']);

export interface ConvertOptions {
  producerVersion: string;
  docString?: string;
  metadata?: Record<string, string>;
}

/** Converts model.json + its weight bytes to an ONNX ModelProto. Throws UnsupportedLayerError for unknown layers. */
export function convertToOnnx(model: LayersModelJson, weightData: Uint8Array, opts: ConvertOptions): Uint8Array {
  return encodeModel(new Converter(model, weightData).build(opts));
}

class Converter {
  private readonly weights = new Map<string, { shape: number[]; values: Float32Array }>();
  private readonly nodes: OnnxNode[] = [];
  private readonly initializers: OnnxTensor[] = [];
  private readonly values = new Map<string, Value>();
  private readonly used = new Set<string>();
  private readonly topology: LayersModelJson['modelTopology'];

  constructor(model: LayersModelJson, weightData: Uint8Array) {
    this.topology = model.modelTopology;
    const cls = this.topology?.class_name;
    if (cls !== 'Model' && cls !== 'Functional' && cls !== 'Sequential') {
      throw new LoupeError('UNSUPPORTED', `ONNX export needs a functional LayersModel; model.json holds "${cls}"`);
    }
    if (cls === 'Sequential') throw new LoupeError('UNSUPPORTED', 'ONNX export of Sequential models is not supported (Loupe builds functional models)');
    let offset = 0;
    for (const spec of model.weightsManifest.flatMap((g) => g.weights)) {
      if (spec.dtype !== 'float32') throw new LoupeError('UNSUPPORTED', `ONNX export needs float32 weights; ${spec.name} is ${spec.dtype}`);
      const n = spec.shape.reduce((a, b) => a * b, 1);
      if (offset + n * 4 > weightData.byteLength) throw new LoupeError('BAD_INPUT', `weights.bin is shorter than model.json says (at ${spec.name})`);
      const values = new Float32Array(weightData.buffer.slice(weightData.byteOffset + offset, weightData.byteOffset + offset + n * 4));
      this.weights.set(spec.name, { shape: spec.shape, values });
      offset += n * 4;
    }
  }

  build(opts: ConvertOptions): OnnxModel {
    const cfg = this.topology.config;
    const inputs = cfg.input_layers.map(([layerName]) => this.addInput(cfg.layers.find((l) => l.config.name === layerName)!));
    for (const layer of cfg.layers) {
      if (layer.class_name === 'InputLayer') continue;
      layer.inbound_nodes.forEach((inbound, nodeIndex) => {
        const ins = inbound.map(([name, ni, ti]) => {
          const v = this.values.get(`${name}:${ni}:${ti}`);
          if (!v) throw new LoupeError('BAD_INPUT', `model.json: layer "${layer.config.name}" reads "${name}" before it is defined`);
          return v;
        });
        this.values.set(`${layer.config.name}:${nodeIndex}:0`, this.layer(layer, ins, nodeIndex));
      });
    }
    const outputs = cfg.output_layers.map(([name, ni, ti], i) => {
      let v = this.values.get(`${name}:${ni}:${ti}`)!;
      if (v.shape.length === 4) v = this.toNhwc(v, `output${i}`);
      const outName = cfg.output_layers.length === 1 ? 'probabilities' : `output_${i}`;
      this.node('Identity', `${outName}_identity`, [v.name], [outName]);
      return { name: outName, shape: v.shape.map((d) => d ?? 'N') };
    });
    return {
      producerName: 'Loupe',
      producerVersion: opts.producerVersion,
      docString: opts.docString ?? '',
      graphName: cfg.name,
      nodes: this.nodes,
      initializers: this.initializers,
      inputs,
      outputs,
      metadata: opts.metadata ?? {},
    };
  }

  // ---------- helpers ----------

  private unique(base: string): string {
    let name = base.replace(/[^A-Za-z0-9_./:-]/g, '_');
    let i = 1;
    while (this.used.has(name)) name = `${base}_${i++}`;
    this.used.add(name);
    return name;
  }

  private node(opType: string, name: string, inputs: string[], outputs: string[], attributes?: Record<string, AttributeValue>): void {
    this.nodes.push({ opType, name: this.unique(name), inputs, outputs, attributes });
  }

  /** Adds a node with one fresh output and returns that output's name. */
  private op(opType: string, base: string, inputs: string[], attributes?: Record<string, AttributeValue>): string {
    const out = this.unique(base);
    this.node(opType, `${base}_node`, inputs, [out], attributes);
    return out;
  }

  private initializer(base: string, dims: number[], values: Float32Array): string {
    const name = this.unique(base);
    this.initializers.push(floatTensor(name, dims, values));
    return name;
  }

  private weight(layer: string, param: string, required = true): { shape: number[]; values: Float32Array } | null {
    const w = this.weights.get(`${layer}/${param}`);
    if (!w && required) throw new LoupeError('BAD_INPUT', `weights.bin has no ${layer}/${param}`);
    return w ?? null;
  }

  private addInput(layer: KerasLayer): { name: string; shape: (number | string)[] } {
    const shape = (layer.config['batch_input_shape'] ?? layer.config['batchInputShape']) as (number | null)[];
    if (!shape || shape.slice(1).some((d) => d === null)) {
      throw new LoupeError('UNSUPPORTED', `ONNX export needs a fixed input size; input "${layer.config.name}" has shape ${JSON.stringify(shape)}`);
    }
    const name = this.unique(layer.config.name);
    let v: Value = { name, shape };
    // Everything 4-D inside the graph is NCHW; the Value's shape stays the Keras (NHWC) one.
    if (shape.length === 4) v = { name: this.op('Transpose', `${name}_nchw`, [name], { perm: ints([0, 3, 1, 2]) }), shape };
    this.values.set(`${layer.config.name}:0:0`, v);
    return { name, shape: shape.map((d) => d ?? 'N') };
  }

  private toNhwc(v: Value, base: string): Value {
    return { name: this.op('Transpose', `${base}_nhwc`, [v.name], { perm: ints([0, 2, 3, 1]) }), shape: v.shape };
  }

  private activation(layerName: string, className: string, kind: unknown, v: Value): Value {
    const a = String(kind ?? 'linear');
    const rank4 = v.shape.length === 4;
    switch (a) {
      case 'linear':
        return v;
      case 'relu':
        return { ...v, name: this.op('Relu', `${layerName}_relu`, [v.name]) };
      case 'relu6': {
        const lo = this.initializer(`${layerName}_min`, [], Float32Array.of(0));
        const hi = this.initializer(`${layerName}_max`, [], Float32Array.of(6));
        return { ...v, name: this.op('Clip', `${layerName}_relu6`, [v.name, lo, hi]) };
      }
      case 'sigmoid':
        return { ...v, name: this.op('Sigmoid', `${layerName}_sigmoid`, [v.name]) };
      case 'tanh':
        return { ...v, name: this.op('Tanh', `${layerName}_tanh`, [v.name]) };
      case 'elu':
        return { ...v, name: this.op('Elu', `${layerName}_elu`, [v.name], { alpha: float(1) }) };
      case 'softplus':
        return { ...v, name: this.op('Softplus', `${layerName}_softplus`, [v.name]) };
      case 'softsign':
        return { ...v, name: this.op('Softsign', `${layerName}_softsign`, [v.name]) };
      case 'softmax':
        // Keras' softmax is over the last (channel) axis: axis 1 in NCHW.
        return { ...v, name: this.op('Softmax', `${layerName}_softmax`, [v.name], { axis: int(rank4 ? 1 : -1) }) };
      default:
        throw new UnsupportedLayerError(layerName, className, `activation "${a}"`);
    }
  }

  /** Explicit [begin…, end…] pads and output sizes of a 2-D window op, as TF computes them. */
  private windowGeometry(v: Value, kernel: number[], strides: number[], dilations: number[], padding: string, layer: string, cls: string) {
    if (padding !== 'same' && padding !== 'valid') throw new UnsupportedLayerError(layer, cls, `padding "${padding}"`);
    const begin: number[] = [];
    const end: number[] = [];
    const out: number[] = [];
    for (let d = 0; d < 2; d++) {
      const size = v.shape[1 + d] as number;
      const k = (kernel[d]! - 1) * dilations[d]! + 1;
      const s = strides[d]!;
      if (padding === 'valid') {
        begin.push(0);
        end.push(0);
        out.push(Math.floor((size - k) / s) + 1);
      } else {
        const o = Math.ceil(size / s);
        const total = Math.max((o - 1) * s + k - size, 0);
        begin.push(Math.floor(total / 2));
        end.push(total - Math.floor(total / 2));
        out.push(o);
      }
    }
    if (out.some((o) => o < 1)) throw new LoupeError('BAD_INPUT', `layer "${layer}": the window is larger than its ${v.shape[1]}×${v.shape[2]} input`);
    return { pads: [...begin, ...end], out };
  }

  private channelsLast(l: KerasLayer): void {
    const f = l.config['data_format'];
    if (f !== undefined && f !== null && f !== 'channels_last') throw new UnsupportedLayerError(l.config.name, l.class_name, `data_format ${String(f)}`);
  }

  private need4d(l: KerasLayer, v: Value): void {
    if (v.shape.length !== 4) throw new UnsupportedLayerError(l.config.name, l.class_name, `expects a 4-D input, got rank ${v.shape.length}`);
  }

  // ---------- layers ----------

  private layer(l: KerasLayer, ins: Value[], nodeIndex: number): Value {
    const name = nodeIndex === 0 ? l.config.name : `${l.config.name}_${nodeIndex}`;
    const c = l.config;
    const x = ins[0]!;
    if (IDENTITY_LAYERS.has(l.class_name)) return x; // inference: dropout and noise are the identity
    switch (l.class_name) {
      case 'Conv2D':
      case 'DepthwiseConv2D': {
        this.channelsLast(l);
        this.need4d(l, x);
        const depthwise = l.class_name === 'DepthwiseConv2D';
        const kernel = this.weight(c.name, depthwise ? 'depthwise_kernel' : 'kernel')!;
        const [kh, kw, cin, cout] = kernel.shape as [number, number, number, number];
        const geometry = this.windowGeometry(x, [kh, kw], c['strides'] as number[], (c['dilation_rate'] as number[] | undefined) ?? [1, 1], String(c['padding']), c.name, l.class_name);
        // HWIO → OIHW; depthwise HW·C·M → (C·M)·1·H·W (output channel c·M + m, as TF orders them).
        const outChannels = depthwise ? cin * cout : cout;
        const w = new Float32Array(outChannels * (depthwise ? 1 : cin) * kh * kw);
        for (let i = 0; i < kh; i++)
          for (let j = 0; j < kw; j++)
            for (let ci = 0; ci < cin; ci++)
              for (let co = 0; co < cout; co++) {
                const src = kernel.values[((i * kw + j) * cin + ci) * cout + co]!;
                if (depthwise) w[((ci * cout + co) * kh + i) * kw + j] = src;
                else w[((co * cin + ci) * kh + i) * kw + j] = src;
              }
        const inputs = [x.name, this.initializer(`${c.name}/W`, [outChannels, depthwise ? 1 : cin, kh, kw], w)];
        const bias = c['use_bias'] === false ? null : this.weight(c.name, 'bias', false);
        if (bias) inputs.push(this.initializer(`${c.name}/B`, [outChannels], bias.values));
        const out = this.op('Conv', `${name}_conv`, inputs, {
          kernel_shape: ints([kh, kw]),
          strides: ints(c['strides'] as number[]),
          dilations: ints((c['dilation_rate'] as number[] | undefined) ?? [1, 1]),
          pads: ints(geometry.pads),
          group: int(depthwise ? cin : 1),
        });
        return this.activation(name, l.class_name, c['activation'], { name: out, shape: [null, geometry.out[0]!, geometry.out[1]!, outChannels] });
      }
      case 'Dense': {
        if (x.shape.length !== 2) throw new UnsupportedLayerError(c.name, l.class_name, `Dense on a rank-${x.shape.length} input (flatten first)`);
        const kernel = this.weight(c.name, 'kernel')!;
        const [inUnits, units] = kernel.shape as [number, number];
        const inputs = [x.name, this.initializer(`${c.name}/W`, [inUnits, units], kernel.values)];
        const bias = c['use_bias'] === false ? null : this.weight(c.name, 'bias', false);
        if (bias) inputs.push(this.initializer(`${c.name}/B`, [units], bias.values));
        const out = this.op('Gemm', `${name}_gemm`, inputs);
        return this.activation(name, l.class_name, c['activation'], { name: out, shape: [null, units] });
      }
      case 'MaxPooling2D':
      case 'AveragePooling2D': {
        this.channelsLast(l);
        this.need4d(l, x);
        const pool = c['pool_size'] as number[];
        const strides = (c['strides'] as number[] | null) ?? pool;
        const g = this.windowGeometry(x, pool, strides, [1, 1], String(c['padding']), c.name, l.class_name);
        const attrs: Record<string, AttributeValue> = { kernel_shape: ints(pool), strides: ints(strides), pads: ints(g.pads) };
        // TF's average pooling divides by the pixels inside the image, as ONNX's count_include_pad = 0 does.
        if (l.class_name === 'AveragePooling2D') attrs['count_include_pad'] = int(0);
        const out = this.op(l.class_name === 'MaxPooling2D' ? 'MaxPool' : 'AveragePool', `${name}_pool`, [x.name], attrs);
        return { name: out, shape: [null, g.out[0]!, g.out[1]!, x.shape[3]!] };
      }
      case 'GlobalAveragePooling2D':
      case 'GlobalMaxPooling2D': {
        this.channelsLast(l);
        this.need4d(l, x);
        if (c['keepdims'] === true) throw new UnsupportedLayerError(c.name, l.class_name, 'keepdims');
        const pooled = this.op(l.class_name === 'GlobalAveragePooling2D' ? 'GlobalAveragePool' : 'GlobalMaxPool', `${name}_pool`, [x.name]);
        return { name: this.op('Flatten', `${name}_flat`, [pooled], { axis: int(1) }), shape: [null, x.shape[3]!] };
      }
      case 'BatchNormalization': {
        const axis = Number(Array.isArray(c['axis']) ? (c['axis'] as number[])[0] : c['axis']);
        const rank = x.shape.length;
        if (axis !== -1 && axis !== rank - 1) throw new UnsupportedLayerError(c.name, l.class_name, `normalizes axis ${axis}, not the channels`);
        const channels = x.shape[rank - 1]!;
        const ones = new Float32Array(channels).fill(1);
        const zeros = new Float32Array(channels);
        const gamma = c['scale'] === false ? null : this.weight(c.name, 'gamma', false);
        const beta = c['center'] === false ? null : this.weight(c.name, 'beta', false);
        const out = this.op(
          'BatchNormalization',
          `${name}_bn`,
          [
            x.name,
            this.initializer(`${c.name}/scale`, [channels], gamma?.values ?? ones),
            this.initializer(`${c.name}/bias`, [channels], beta?.values ?? zeros),
            this.initializer(`${c.name}/mean`, [channels], this.weight(c.name, 'moving_mean')!.values),
            this.initializer(`${c.name}/var`, [channels], this.weight(c.name, 'moving_variance')!.values),
          ],
          { epsilon: float(Number(c['epsilon'] ?? 1e-3)) },
        );
        return { name: out, shape: x.shape };
      }
      case 'Activation':
        return this.activation(name, l.class_name, c['activation'], x);
      case 'ReLU': {
        const max = c['max_value'];
        if (max === null || max === undefined) return this.activation(name, l.class_name, 'relu', x);
        const lo = this.initializer(`${name}_min`, [], Float32Array.of(0));
        const hi = this.initializer(`${name}_max`, [], Float32Array.of(Number(max)));
        return { ...x, name: this.op('Clip', `${name}_clip`, [x.name, lo, hi]) };
      }
      case 'LeakyReLU':
        return { ...x, name: this.op('LeakyRelu', `${name}_leakyrelu`, [x.name], { alpha: float(Number(c['alpha'] ?? 0.3)) }) };
      case 'Rescaling': {
        // x·scale + offset (an imported network's hard sigmoid or clip, issue 12).
        const scale = this.initializer(`${name}_scale`, [], Float32Array.of(Number(c['scale'])));
        const offset = this.initializer(`${name}_offset`, [], Float32Array.of(Number(c['offset'] ?? 0)));
        return { ...x, name: this.op('Add', `${name}_offset`, [this.op('Mul', `${name}_scale`, [x.name, scale]), offset]) };
      }
      case 'Softmax': {
        const axis = Number(c['axis'] ?? -1);
        if (axis !== -1 && axis !== x.shape.length - 1) throw new UnsupportedLayerError(c.name, l.class_name, `softmax over axis ${axis}`);
        return this.activation(name, l.class_name, 'softmax', x);
      }
      case 'Add':
      case 'Multiply':
      case 'Maximum': {
        const op = { Add: 'Add', Multiply: 'Mul', Maximum: 'Max' }[l.class_name]!;
        let acc = x.name;
        for (let i = 1; i < ins.length; i++) acc = this.op(op, `${name}_${op.toLowerCase()}${i}`, [acc, ins[i]!.name]);
        // Broadcast (a squeeze-excite gate of 1×1×C times a map): the result has the larger size on each axis.
        return { name: acc, shape: x.shape.map((d, k) => (d === null ? null : Math.max(...ins.map((v) => (v.shape[k] as number | null) ?? 0)))) };
      }
      case 'Concatenate': {
        const axis = Number(c['axis'] ?? -1);
        const rank = x.shape.length;
        if (axis !== -1 && axis !== rank - 1) throw new UnsupportedLayerError(c.name, l.class_name, `concatenation over axis ${axis}`);
        const out = this.op('Concat', `${name}_concat`, ins.map((v) => v.name), { axis: int(rank === 4 ? 1 : -1) });
        return { name: out, shape: [...x.shape.slice(0, -1), ins.reduce((s, v) => s + (v.shape[rank - 1] as number), 0)] };
      }
      case 'Flatten': {
        if (x.shape.length === 2) return x;
        const nhwc = x.shape.length === 4 ? this.toNhwc(x, name) : x;
        const size = x.shape.slice(1).reduce<number>((a, b) => a * (b as number), 1);
        return { name: this.op('Flatten', `${name}_flatten`, [nhwc.name], { axis: int(1) }), shape: [null, size] };
      }
      case 'ZeroPadding2D': {
        this.channelsLast(l);
        this.need4d(l, x);
        const p = c['padding'] as number[][] | number[] | number;
        const [[top, bottom], [left, right]] = (typeof p === 'number' ? [[p, p], [p, p]] : typeof p[0] === 'number' ? [[p[0], p[0]], [p[1], p[1]]] : p) as number[][] as [[number, number], [number, number]];
        const pads = this.unique(`${name}_pads`);
        this.initializers.push(int64Tensor(pads, [0, 0, top, left, 0, 0, bottom, right]));
        const out = this.op('Pad', `${name}_pad`, [x.name, pads]);
        return { name: out, shape: [null, (x.shape[1] as number) + top + bottom, (x.shape[2] as number) + left + right, x.shape[3]!] };
      }
      default:
        throw new UnsupportedLayerError(c.name, l.class_name);
    }
  }
}
