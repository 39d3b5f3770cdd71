/**
 * An ONNX graph as a TF.js functional LayersModel (issue 12), built from stock tfjs-layers layers only, so the
 * result saves, loads, trains and exports like any Loupe model. Tensors are NCHW in ONNX and NHWC in TF.js: the
 * model takes NHWC images, rank-4 values keep that layout throughout, and weights are transposed as they are
 * set (weights-layout.ts). The operators themselves are in convert-ops.ts.
 *
 * The feature layer is the input of the last Gemm/MatMul: what comes after it is the classifier, dropped when
 * the network becomes a backbone.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { LoupeError } from '../../../shared/contract.ts';
import { DataType } from '../export/onnx/onnx-fields.ts';
import { CONVERTERS } from './convert-ops.ts';
import { DATA_TYPE_NAMES, type AttrValue, type OnnxGraph, type OnnxNode, type OnnxTensor } from './onnx-read.ts';

export interface Value {
  t: tfl.SymbolicTensor;
  /** Known ≥ 0 (after a ReLU, a sigmoid…): zero padding then equals a max pool's −∞ padding. */
  nonNegative: boolean;
}

export interface ConvertedModel {
  /** The whole network, classifier included: its outputs are compared with onnxruntime's. */
  model: tfl.LayersModel;
  /** The network up to its feature layer: the backbone. */
  features: tfl.LayersModel;
  featureLayer: string;
  /** The ONNX value the feature layer computes: where onnxruntime's copy of the backbone is cut (feature-output.ts). */
  featureValue: string;
  imageSize: number;
  channels: 1 | 3;
  classes: number;
  /** The ONNX input's name, for running the original file. */
  inputName: string;
}

export class ConvertContext {
  readonly values = new Map<string, Value>();
  readonly consts: Map<string, OnnxTensor>;
  private readonly names = new Set<string>();
  /** Nodes already converted as part of an earlier one (a MatMul's bias Add). */
  readonly absorbed = new Set<OnnxNode>();

  constructor(
    readonly graph: OnnxGraph,
    /** Which nodes read each value, to look ahead (MatMul + Add becomes one Dense). */
    readonly consumers: Map<string, OnnxNode[]>,
  ) {
    this.consts = new Map(graph.initializers);
  }

  get opset(): number {
    return this.graph.opset;
  }

  fail(node: OnnxNode, why: string): LoupeError {
    return new LoupeError('UNSUPPORTED', `ONNX node "${node.name || node.outputs[0]}" (${node.opType}): ${why}`);
  }

  /** A unique, valid TF.js layer name; the block prefix before '/' groups layers that unfreeze together. */
  layerName(node: OnnxNode, kind: string): string {
    const parts = (node.name || node.outputs[0] || kind).split('/').filter(Boolean);
    const block = (parts.slice(0, -1).find((p) => /\d/.test(p)) ?? parts[0] ?? 'net').replace(/[^A-Za-z0-9_.-]/g, '_');
    const base = `${/^xfer_/.test(block) ? `onnx_${block}` : block}/${kind}`;
    let name = base;
    for (let i = 1; this.names.has(name); i++) name = `${base}_${i}`;
    this.names.add(name);
    return name;
  }

  /** Applies a new layer to values and sets its weights (already in TF.js layout). */
  apply(layer: tfl.layers.Layer, inputs: Value[], weights: { shape: number[]; data: Float32Array }[] = []): tfl.SymbolicTensor {
    const out = layer.apply(inputs.length === 1 ? inputs[0]!.t : inputs.map((v) => v.t)) as tfl.SymbolicTensor;
    if (weights.length) {
      const tensors = weights.map((w) => tf.tensor(w.data, w.shape, 'float32'));
      layer.setWeights(tensors);
      tf.dispose(tensors);
    }
    return out;
  }

  /** A computed input of a node (not a weight). */
  value(node: OnnxNode, i: number): Value {
    const name = node.inputs[i];
    const v = name ? this.values.get(name) : undefined;
    if (v) return v;
    if (name && this.consts.has(name)) throw this.fail(node, `input ${i} is a constant where Loupe expects a computed tensor`);
    throw this.fail(node, `input ${i} ("${name ?? ''}") is not produced by any earlier node`);
  }

  /** A constant input (initializer or Constant node), or null when the input is absent or computed. */
  constant(node: OnnxNode, i: number): OnnxTensor | null {
    const name = node.inputs[i];
    return name ? (this.consts.get(name) ?? null) : null;
  }

  /** A float weight input: anything else (int8, float16…) is refused, naming the tensor and its type. */
  weight(node: OnnxNode, i: number, rank?: number): OnnxTensor & { floats: Float32Array } {
    const t = this.constant(node, i);
    if (!t) throw this.fail(node, `input ${i} must be a constant weight tensor`);
    if (t.dataType !== DataType.FLOAT || !t.floats) {
      throw new LoupeError('UNSUPPORTED', `ONNX node "${node.name}" (${node.opType}): weight "${t.name}" is ${DATA_TYPE_NAMES[t.dataType] ?? `type ${t.dataType}`}; Loupe imports float32 weights only`);
    }
    if (rank !== undefined && t.dims.length !== rank) throw this.fail(node, `weight "${t.name}" has shape ${JSON.stringify(t.dims)}, expected rank ${rank}`);
    return t as OnnxTensor & { floats: Float32Array };
  }

  /** Small integer constants (shapes, axes, pads) from an input, or null when absent. */
  intsInput(node: OnnxNode, i: number): number[] | null {
    const t = this.constant(node, i);
    if (!t) {
      if (node.inputs[i]) throw this.fail(node, `input ${i} must be a constant`);
      return null;
    }
    return t.ints ?? (t.floats ? Array.from(t.floats) : null);
  }

  attr(node: OnnxNode, name: string): AttrValue | undefined {
    return node.attrs.get(name);
  }

  int(node: OnnxNode, name: string, fallback: number): number {
    const a = node.attrs.get(name);
    return typeof a === 'number' ? a : fallback;
  }

  float(node: OnnxNode, name: string, fallback: number): number {
    return this.int(node, name, fallback);
  }

  ints(node: OnnxNode, name: string, fallback: number[]): number[] {
    const a = node.attrs.get(name);
    return Array.isArray(a) ? a : fallback;
  }

  string(node: OnnxNode, name: string, fallback: string): string {
    const a = node.attrs.get(name);
    return typeof a === 'string' ? a : fallback;
  }
}

export interface ConvertOptions {
  /** For a model whose spatial size is not fixed: the size to build it at. */
  imageSize?: number;
}

function consumersOf(graph: OnnxGraph): Map<string, OnnxNode[]> {
  const map = new Map<string, OnnxNode[]>();
  for (const n of graph.nodes) for (const i of n.inputs) map.set(i, [...(map.get(i) ?? []), n]);
  return map;
}

/** Larger inputs are not image classifiers Loupe can train on a workstation (and would allocate gigabytes). */
const MAX_IMAGE_SIZE = 1024;

/** The model's one image input: its name, square size (fixed, or `imageSize` when the file leaves it open) and channels. */
export function modelInputShape(graph: OnnxGraph, opts: ConvertOptions): { name: string; size: number; channels: 1 | 3 } {
  if (graph.inputs.length !== 1) throw new LoupeError('UNSUPPORTED', `The model has ${graph.inputs.length} inputs; Loupe imports image classifiers with one image input`);
  const input = graph.inputs[0]!;
  if (input.elemType !== DataType.FLOAT) throw new LoupeError('UNSUPPORTED', `The model's input "${input.name}" is ${DATA_TYPE_NAMES[input.elemType] ?? 'of unknown type'}, not float32 images`);
  const shape = input.shape;
  if (!shape || shape.length !== 4) throw new LoupeError('UNSUPPORTED', `The model's input "${input.name}" has shape ${JSON.stringify(shape)}; Loupe needs images as N×C×H×W`);
  const [, c, h = null, w = null] = shape;
  if (c !== 1 && c !== 3) throw new LoupeError('UNSUPPORTED', `The model's input takes ${c ?? 'a variable number of'} channels (N×C×H×W); Loupe supports 1 or 3`);
  if (h === null || w === null) {
    if (!opts.imageSize) throw new LoupeError('BAD_INPUT', `The model's input size is not fixed (${JSON.stringify(shape.map((d) => d ?? '?'))}): give the image size it expects (--image-size)`);
    if (opts.imageSize > MAX_IMAGE_SIZE) throw new LoupeError('BAD_INPUT', `--image-size ${opts.imageSize} is larger than Loupe supports (${MAX_IMAGE_SIZE})`);
    if ((h !== null && h !== opts.imageSize) || (w !== null && w !== opts.imageSize)) throw new LoupeError('BAD_INPUT', `The model's input is ${h ?? '?'}×${w ?? '?'}, not ${opts.imageSize}×${opts.imageSize}`);
    return { name: input.name, size: opts.imageSize, channels: c };
  }
  if (h !== w) throw new LoupeError('UNSUPPORTED', `The model's input is ${h}×${w}; Loupe needs a square image input`);
  if (opts.imageSize && opts.imageSize !== h) throw new LoupeError('BAD_INPUT', `The model's input is fixed at ${h}×${w}; --image-size ${opts.imageSize} does not fit it`);
  if (h < 1 || h > MAX_IMAGE_SIZE) throw new LoupeError('UNSUPPORTED', `The model's input is ${h}×${w}; Loupe supports 1 to ${MAX_IMAGE_SIZE} pixels`);
  return { name: input.name, size: h, channels: c };
}

/** Converts a decoded ONNX graph. Throws a LoupeError naming the node for anything it cannot convert. */
export function convertGraph(graph: OnnxGraph, opts: ConvertOptions = {}): ConvertedModel {
  const { name: inputName, size, channels } = modelInputShape(graph, opts);
  if (graph.outputs.length !== 1) throw new LoupeError('UNSUPPORTED', `The model has ${graph.outputs.length} outputs; Loupe imports classifiers with one output, the class scores`);
  const ctx = new ConvertContext(graph, consumersOf(graph));
  const input = tfl.input({ shape: [size, size, channels], name: 'input' });
  ctx.values.set(inputName, { t: input, nonNegative: false });
  let lastClassifierInput: string | null = null;
  for (const node of graph.nodes) {
    if (ctx.absorbed.has(node)) continue;
    if (node.domain !== '' && node.domain !== 'ai.onnx') throw new LoupeError('UNSUPPORTED', `Unsupported ONNX operator ${node.domain}.${node.opType} (node "${node.name}")`);
    const convert = CONVERTERS[node.opType];
    if (!convert) throw new LoupeError('UNSUPPORTED', `Unsupported ONNX operator ${node.opType} (node "${node.name || node.outputs[0]}"): Loupe cannot convert this network`);
    const out = convert(ctx, node);
    if (out) ctx.values.set(node.outputs[0]!, out);
    if (node.opType === 'Gemm' || node.opType === 'MatMul') lastClassifierInput = node.inputs[0]!;
  }
  const outName = graph.outputs[0]!.name;
  const output = ctx.values.get(outName);
  if (!output) throw new LoupeError('BAD_INPUT', `The model's output "${outName}" is not computed by its graph`);
  if (output.t.shape.length !== 2 || !output.t.shape[1]) {
    throw new LoupeError('UNSUPPORTED', `The model's output has shape ${JSON.stringify(output.t.shape)} (as N×H×W×C); Loupe needs a classifier whose output is one vector of class scores per image`);
  }
  if (!lastClassifierInput) throw new LoupeError('UNSUPPORTED', 'The model has no Gemm or MatMul classifier layer, so Loupe cannot tell its features from its classifier');
  const feature = ctx.values.get(lastClassifierInput)!;
  if (feature.t.sourceLayer.getClassName() === 'InputLayer') throw new LoupeError('UNSUPPORTED', 'The model is a single linear layer on the pixels: it has no feature layers to reuse');
  const model = tfl.model({ inputs: input, outputs: output.t, name: 'onnx_import' });
  const features = tfl.model({ inputs: input, outputs: feature.t, name: 'onnx_backbone' });
  return { model, features, featureLayer: feature.t.sourceLayer.name, featureValue: lastClassifierInput, imageSize: size, channels, classes: output.t.shape[1]!, inputName };
}
