/**
 * One converter per ONNX operator (issue 12's list): each turns a node into stock tfjs-layers layers applied to
 * NHWC values. Attributes read as in the ONNX operator spec; where opsets moved an attribute to an input
 * (Clip's min/max at 11, Squeeze's and ReduceMean's axes at 13 and 18, Pad's pads at 11) both are read.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { DataType } from '../export/onnx/onnx-fields.ts';
import { batchNormalization } from '../training/kernels/batch-norm.ts';
import type { ConvertContext, Value } from './convert-graph.ts';
import type { OnnxNode, OnnxTensor } from './onnx-read.ts';
import { convKernel, denseKernel, depthwiseKernel } from './weights-layout.ts';
import { poolPadding, spatialPads, type Padding } from './padding.ts';

type Converter = (ctx: ConvertContext, node: OnnxNode) => Value | null;

const same = (v: Value): Value => v;
const keepSign = (v: Value, t: tfl.SymbolicTensor): Value => ({ t, nonNegative: v.nonNegative });
const nonNeg = (t: tfl.SymbolicTensor): Value => ({ t, nonNegative: true });

function rank4(ctx: ConvertContext, node: OnnxNode, v: Value): [number, number, number] {
  const s = v.t.shape;
  if (s.length !== 4) throw ctx.fail(node, `expects an N×C×H×W tensor, got rank ${s.length}`);
  return [s[1]!, s[2]!, s[3]!];
}

/** Zero padding as its own layer, then the op runs 'valid'; or the op's own 'same'/'valid'. */
function padded(ctx: ConvertContext, node: OnnxNode, x: Value, p: Padding): { x: Value; padding: 'same' | 'valid' } {
  if (p.kind !== 'explicit') return { x, padding: p.kind };
  const layer = tfl.layers.zeroPadding2d({ name: ctx.layerName(node, 'pad'), padding: [p.pads[0], p.pads[1]] });
  return { x: keepSign(x, ctx.apply(layer, [x])), padding: 'valid' };
}

const conv: Converter = (ctx, node) => {
  const x = ctx.value(node, 0);
  const [h, w, c] = rank4(ctx, node, x);
  const weight = ctx.weight(node, 1, 4);
  const [o, ig, kh, kw] = weight.dims as [number, number, number, number];
  const bias = node.inputs[2] ? ctx.weight(node, 2, 1) : null;
  const group = ctx.int(node, 'group', 1);
  const strides = ctx.ints(node, 'strides', [1, 1]) as [number, number];
  const dilations = ctx.ints(node, 'dilations', [1, 1]) as [number, number];
  if (ig * group !== c) throw ctx.fail(node, `its weights expect ${ig * group} input channels, the input has ${c}`);
  if (strides.some((s) => s > 1) && dilations.some((d) => d > 1)) throw ctx.fail(node, 'strides and dilations together are not supported');
  const pads = spatialPads(ctx, node, [h, w], [kh, kw], strides, dilations);
  const { x: input, padding } = padded(ctx, node, x, poolPadding([h, w], [kh, kw], strides, dilations, pads, false));
  const common = { kernelSize: [kh, kw] as [number, number], strides, dilationRate: dilations, padding, useBias: Boolean(bias) };
  const weights = [];
  let layer: tfl.layers.Layer;
  if (group === 1) {
    layer = tfl.layers.conv2d({ ...common, name: ctx.layerName(node, 'conv'), filters: o, kernelInitializer: 'zeros' });
    weights.push({ shape: [kh, kw, c, o], data: convKernel(weight.floats, weight.dims) });
  } else if (group === c && o % c === 0) {
    layer = tfl.layers.depthwiseConv2d({ ...common, name: ctx.layerName(node, 'dwconv'), depthMultiplier: o / c, depthwiseInitializer: 'zeros' });
    weights.push({ shape: [kh, kw, c, o / c], data: depthwiseKernel(weight.floats, weight.dims, c) });
  } else throw ctx.fail(node, `grouped convolution (group=${group} of ${c} channels) is not supported`);
  if (bias) weights.push({ shape: [o], data: bias.floats });
  return { t: ctx.apply(layer, [input], weights), nonNegative: false };
};

const batchNorm: Converter = (ctx, node) => {
  const x = ctx.value(node, 0);
  if (ctx.int(node, 'training_mode', 0)) throw ctx.fail(node, 'training-mode batch normalization is not supported');
  const [scale, bias, mean, variance] = [1, 2, 3, 4].map((i) => ctx.weight(node, i, 1).floats);
  const layer = batchNormalization({
    name: ctx.layerName(node, 'bn'),
    axis: -1,
    epsilon: ctx.float(node, 'epsilon', 1e-5),
    momentum: ctx.float(node, 'momentum', 0.9),
  });
  const n = scale!.length;
  return { t: ctx.apply(layer, [x], [scale!, bias!, mean!, variance!].map((data) => ({ shape: [n], data }))), nonNegative: false };
};

function relu(ctx: ConvertContext, node: OnnxNode, x: Value, maxValue?: number): Value {
  return nonNeg(ctx.apply(tfl.layers.reLU({ name: ctx.layerName(node, maxValue ? 'relu6' : 'relu'), ...(maxValue ? { maxValue } : {}) }), [x]));
}

function rescale(ctx: ConvertContext, node: OnnxNode, x: Value, scale: number, offset: number): tfl.SymbolicTensor {
  return ctx.apply(tfl.layers.rescaling({ name: ctx.layerName(node, 'affine'), scale, offset }), [x]);
}

function scalar(t: OnnxTensor | null): number | null {
  const values = t?.floats ?? t?.ints;
  return values && values.length === 1 ? Number(values[0]) : null;
}

const clip: Converter = (ctx, node) => {
  const x = ctx.value(node, 0);
  const lo = ctx.opset < 11 ? ctx.float(node, 'min', -Infinity) : node.inputs[1] ? scalar(ctx.constant(node, 1)) : -Infinity;
  const hi = ctx.opset < 11 ? ctx.float(node, 'max', Infinity) : node.inputs[2] ? scalar(ctx.constant(node, 2)) : Infinity;
  if (lo === null || hi === null) throw ctx.fail(node, 'min and max must be constant scalars');
  if (lo === 0) return relu(ctx, node, x, Number.isFinite(hi) ? hi : undefined);
  if (!Number.isFinite(lo)) throw ctx.fail(node, `clipping to (−∞, ${hi}] is not supported`);
  // clip(x, lo, hi) = relu6-style clip of x − lo to [0, hi − lo], shifted back.
  const shifted = { t: rescale(ctx, node, x, 1, -lo), nonNegative: false };
  const clipped = relu(ctx, node, shifted, Number.isFinite(hi) ? hi - lo : undefined);
  return { t: rescale(ctx, node, clipped, 1, lo), nonNegative: lo >= 0 };
}

function hardSigmoid(ctx: ConvertContext, node: OnnxNode, x: Value, alpha: number, beta: number): Value {
  return relu(ctx, node, { t: rescale(ctx, node, x, alpha, beta), nonNegative: false }, 1);
}

const activation = (fn: 'sigmoid' | 'softmax', nonNegative: boolean): Converter => (ctx, node) => {
  const x = ctx.value(node, 0);
  if (fn === 'softmax') {
    const axis = ctx.int(node, 'axis', ctx.opset < 13 ? 1 : -1);
    if (x.t.shape.length !== 2 || (axis !== 1 && axis !== -1)) throw ctx.fail(node, 'softmax is supported over the classes of an N×K output only');
  }
  return { t: ctx.apply(tfl.layers.activation({ name: ctx.layerName(node, fn), activation: fn }), [x]), nonNegative };
};

/** Add, Sub, Mul, Div: of two computed tensors (broadcast, as squeeze-excite needs), or with a constant. */
const arithmetic = (op: 'Add' | 'Sub' | 'Mul' | 'Div'): Converter => (ctx, node) => {
  const [ca, cb] = [ctx.constant(node, 0), ctx.constant(node, 1)];
  if (!ca && !cb) {
    const [a, b] = [ctx.value(node, 0), ctx.value(node, 1)];
    if (a.t.shape.length !== b.t.shape.length) throw ctx.fail(node, `cannot broadcast ranks ${a.t.shape.length} and ${b.t.shape.length}`);
    if (op === 'Add') return { t: ctx.apply(tfl.layers.add({ name: ctx.layerName(node, 'add') }), [a, b]), nonNegative: a.nonNegative && b.nonNegative };
    if (op === 'Mul') return { t: ctx.apply(tfl.layers.multiply({ name: ctx.layerName(node, 'mul') }), [a, b]), nonNegative: a.nonNegative && b.nonNegative };
    if (op === 'Sub') return { t: ctx.apply(tfl.layers.add({ name: ctx.layerName(node, 'sub') }), [a, { t: rescale(ctx, node, b, -1, 0), nonNegative: false }]), nonNegative: false };
    throw ctx.fail(node, 'division of two computed tensors is not supported');
  }
  if (ca && cb) throw ctx.fail(node, 'both operands are constants (fold them before export)');
  const constantFirst = Boolean(ca);
  const x = ctx.value(node, constantFirst ? 1 : 0);
  const k = (ca ?? cb)!;
  if (k.dataType !== DataType.FLOAT || !k.floats) throw ctx.fail(node, `constant "${k.name}" is not float32`);
  // y = x·scale + offset, per channel (a 1×1 depthwise convolution) or for every element (a rescaling).
  const values = k.floats;
  const ones = new Float32Array(values.length).fill(1);
  let scale: Float32Array;
  let offset: Float32Array;
  if (op === 'Add') [scale, offset] = [ones, values];
  else if (op === 'Sub') [scale, offset] = constantFirst ? [ones.map(() => -1), values] : [ones, values.map((v) => -v)];
  else if (op === 'Mul') [scale, offset] = [values, new Float32Array(values.length)];
  else if (!constantFirst) [scale, offset] = [values.map((v) => 1 / v), new Float32Array(values.length)];
  else throw ctx.fail(node, 'dividing a constant by a tensor is not supported');
  const nonNegative = x.nonNegative && [...scale].every((s) => s >= 0) && [...offset].every((o) => o >= 0);
  if (values.length === 1) return { t: rescale(ctx, node, x, scale[0]!, offset[0]!), nonNegative };
  const channels = x.t.shape.at(-1);
  const perChannel = x.t.shape.length === 4 && values.length === channels && k.dims.slice(-2).every((d) => d === 1) && k.dims.length >= 3;
  if (!perChannel) throw ctx.fail(node, `a constant of shape ${JSON.stringify(k.dims)} is supported only as a scalar or per channel (C×1×1)`);
  const layer = tfl.layers.depthwiseConv2d({ name: ctx.layerName(node, 'affine'), kernelSize: 1, useBias: true, depthwiseInitializer: 'zeros' });
  return { t: ctx.apply(layer, [x], [{ shape: [1, 1, channels!, 1], data: scale }, { shape: [channels!], data: offset }]), nonNegative };
};

const pool = (kind: 'max' | 'avg'): Converter => (ctx, node) => {
  const x = ctx.value(node, 0);
  const [h, w] = rank4(ctx, node, x);
  const k = ctx.ints(node, 'kernel_shape', []) as [number, number];
  const strides = ctx.ints(node, 'strides', [1, 1]) as [number, number];
  if (k.length !== 2) throw ctx.fail(node, 'only 2-D pooling is supported');
  if (ctx.ints(node, 'dilations', [1, 1]).some((d) => d !== 1)) throw ctx.fail(node, 'dilated pooling is not supported');
  const pads = spatialPads(ctx, node, [h, w], k, strides, [1, 1]);
  const countPads = kind === 'avg' && ctx.int(node, 'count_include_pad', 0) === 1;
  // TF's 'same' average leaves the padding out of the count, so one that counts it always pads explicitly.
  const p = poolPadding([h, w], k, strides, [1, 1], pads, ctx.int(node, 'ceil_mode', 0) === 1, !countPads);
  // Zero padding is exact for a max pool of non-negative values, and for an average that counts the padding.
  const zeroPadOk = kind === 'max' ? x.nonNegative : countPads;
  if (p.kind === 'explicit' && !zeroPadOk) throw ctx.fail(node, `padding ${JSON.stringify(pads)} is not supported here (it differs from TF's 'same' for a ${h}×${w} input)`);
  const { x: input, padding } = padded(ctx, node, x, p);
  const args = { name: ctx.layerName(node, `${kind}pool`), poolSize: k, strides, padding };
  const layer = kind === 'max' ? tfl.layers.maxPooling2d(args) : tfl.layers.averagePooling2d(args);
  return keepSign(x, ctx.apply(layer, [input]));
};

/**
 * Global pooling. ONNX keeps N×C×1×1: a pooling window over the whole map gives that (as N×1×1×C) with a layer
 * that Loupe's ONNX export also knows; `keepDims` false gives the vector directly.
 */
function globalPool(ctx: ConvertContext, node: OnnxNode, x: Value, kind: 'max' | 'avg', keepDims: boolean): Value {
  const [h, w] = rank4(ctx, node, x);
  const name = ctx.layerName(node, `global${kind}pool`);
  if (!keepDims) return keepSign(x, ctx.apply(kind === 'avg' ? tfl.layers.globalAveragePooling2d({ name }) : tfl.layers.globalMaxPooling2d({ name }), [x]));
  const args = { name, poolSize: [h, w] as [number, number], strides: [h, w] as [number, number], padding: 'valid' as const };
  return keepSign(x, ctx.apply(kind === 'avg' ? tfl.layers.averagePooling2d(args) : tfl.layers.maxPooling2d(args), [x]));
}

const reduceMean: Converter = (ctx, node) => {
  const x = ctx.value(node, 0);
  const axes = (ctx.opset < 18 ? ctx.ints(node, 'axes', []) : ctx.intsInput(node, 1) ?? []).map((a) => (a < 0 ? a + x.t.shape.length : a));
  if (x.t.shape.length !== 4 || axes.length !== 2 || !axes.includes(2) || !axes.includes(3)) throw ctx.fail(node, `mean over axes ${JSON.stringify(axes)} is supported only over H and W`);
  return globalPool(ctx, node, x, 'avg', ctx.int(node, 'keepdims', 1) === 1);
};

/** N×C×H×W to N×(C·H·W) in ONNX's order: channels first, so the classifier's weights apply unchanged. */
function flatten(ctx: ConvertContext, node: OnnxNode, x: Value): Value {
  if (x.t.shape.length === 2) return x;
  const [h, w] = rank4(ctx, node, x);
  let v = x;
  if (h * w > 1) v = keepSign(x, ctx.apply(tfl.layers.permute({ name: ctx.layerName(node, 'to_nchw'), dims: [3, 1, 2] }), [x]));
  return keepSign(x, ctx.apply(tfl.layers.flatten({ name: ctx.layerName(node, 'flatten') }), [v]));
}

const toVector: Converter = (ctx, node) => {
  const x = ctx.value(node, 0);
  const size = x.t.shape.slice(1).reduce((a: number, b) => a * (b ?? 0), 1);
  if (node.opType === 'Flatten' && ctx.int(node, 'axis', 1) !== 1) throw ctx.fail(node, 'only Flatten with axis 1 is supported');
  if (node.opType === 'Reshape') {
    const shape = ctx.intsInput(node, 1);
    const ok = shape && shape.length === 2 && [0, -1, 1].includes(shape[0]!) && (shape[1] === -1 || shape[1] === size) && !(shape[0] === -1 && shape[1] === -1);
    if (!ok) throw ctx.fail(node, `reshape to ${JSON.stringify(shape)} is supported only to one vector per image`);
  }
  if (node.opType === 'Squeeze') {
    const axes = ctx.opset < 13 ? ctx.ints(node, 'axes', []) : (ctx.intsInput(node, 1) ?? []);
    const spatial = x.t.shape.length === 4 && x.t.shape[1] === 1 && x.t.shape[2] === 1;
    if (!spatial || axes.map((a) => (a < 0 ? a + 4 : a)).sort().join() !== '2,3') throw ctx.fail(node, 'squeeze is supported only of the 1×1 spatial axes');
  }
  return flatten(ctx, node, x);
};

const concat: Converter = (ctx, node) => {
  const xs = node.inputs.map((_, i) => ctx.value(node, i));
  const rank = xs[0]!.t.shape.length;
  let axis = ctx.int(node, 'axis', 1);
  if (axis < 0) axis += rank;
  const kerasAxis = rank === 4 ? [0, 3, 1, 2][axis]! : axis;
  if (axis === 0 || xs.some((x) => x.t.shape.length !== rank)) throw ctx.fail(node, `concatenation along axis ${axis} is not supported`);
  if (xs.length === 1) return xs[0]!;
  return { t: ctx.apply(tfl.layers.concatenate({ name: ctx.layerName(node, 'concat'), axis: kerasAxis }), xs), nonNegative: xs.every((x) => x.nonNegative) };
};

function dense(ctx: ConvertContext, node: OnnxNode, x: Value, kernel: Float32Array, inputs: number, units: number, bias: Float32Array | null): Value {
  if (x.t.shape.length !== 2 || x.t.shape[1] !== inputs) throw ctx.fail(node, `expects vectors of ${inputs}, got shape ${JSON.stringify(x.t.shape)}`);
  const layer = tfl.layers.dense({ name: ctx.layerName(node, 'dense'), units, useBias: Boolean(bias), kernelInitializer: 'zeros' });
  return { t: ctx.apply(layer, [x], [{ shape: [inputs, units], data: kernel }, ...(bias ? [{ shape: [units], data: bias }] : [])]), nonNegative: false };
}

const gemm: Converter = (ctx, node) => {
  const x = ctx.value(node, 0);
  const b = ctx.weight(node, 1, 2);
  if (ctx.int(node, 'transA', 0)) throw ctx.fail(node, 'transA is not supported');
  const transB = ctx.int(node, 'transB', 0) === 1;
  const [inputs, units] = transB ? [b.dims[1]!, b.dims[0]!] : [b.dims[0]!, b.dims[1]!];
  const c = node.inputs[2] ? ctx.weight(node, 2) : null;
  if (c && c.floats.length !== units && c.floats.length !== 1) throw ctx.fail(node, `bias of shape ${JSON.stringify(c.dims)} does not fit ${units} units`);
  const beta = ctx.float(node, 'beta', 1);
  const bias = c ? Float32Array.from({ length: units }, (_, i) => c.floats[c.floats.length === 1 ? 0 : i]! * beta) : null;
  return dense(ctx, node, x, denseKernel(b.floats, b.dims, transB, ctx.float(node, 'alpha', 1)), inputs, units, bias);
};

/** MatMul by a constant; a following Add of a constant vector (how tf2onnx writes a Dense) becomes its bias. */
const matMul: Converter = (ctx, node) => {
  const x = ctx.value(node, 0);
  const b = ctx.weight(node, 1, 2);
  const [inputs, units] = b.dims as [number, number];
  const next = ctx.consumers.get(node.outputs[0]!) ?? [];
  const add = next.length === 1 && next[0]!.opType === 'Add' ? next[0]! : null;
  const other = add ? ctx.constant(add, add.inputs[0] === node.outputs[0] ? 1 : 0) : null;
  if (add && other?.floats && other.floats.length === units) {
    ctx.absorbed.add(add);
    const out = dense(ctx, node, x, denseKernel(b.floats, b.dims, false), inputs, units, other.floats);
    ctx.values.set(add.outputs[0]!, out);
    return out;
  }
  return dense(ctx, node, x, denseKernel(b.floats, b.dims, false), inputs, units, null);
};

const pad: Converter = (ctx, node) => {
  const x = ctx.value(node, 0);
  if (ctx.string(node, 'mode', 'constant') !== 'constant') throw ctx.fail(node, 'only constant padding is supported');
  const pads = ctx.opset < 11 ? ctx.ints(node, 'pads', []) : (ctx.intsInput(node, 1) ?? []);
  const value = ctx.opset < 11 ? ctx.float(node, 'value', 0) : node.inputs[2] ? scalar(ctx.constant(node, 2)) : 0;
  if (pads.length !== 8 || pads.some((p) => p < 0) || value !== 0) throw ctx.fail(node, `padding ${JSON.stringify(pads)} with ${value} is not supported (zero padding of H and W only)`);
  if (pads[0] || pads[1] || pads[4] || pads[5]) throw ctx.fail(node, 'padding of the batch or channel axis is not supported');
  if (pads.every((p) => p === 0)) return x;
  const layer = tfl.layers.zeroPadding2d({ name: ctx.layerName(node, 'pad'), padding: [[pads[2]!, pads[6]!], [pads[3]!, pads[7]!]] });
  return keepSign(x, ctx.apply(layer, [x]));
};

const constant: Converter = (ctx, node) => {
  const a = ctx.attr(node, 'value') ?? ctx.attr(node, 'value_float') ?? ctx.attr(node, 'value_floats') ?? ctx.attr(node, 'value_int') ?? ctx.attr(node, 'value_ints');
  const name = node.outputs[0]!;
  if (a === undefined || typeof a === 'string') throw ctx.fail(node, 'only tensor and number constants are supported');
  let t: OnnxTensor;
  if (typeof a === 'number') t = node.attrs.has('value_int') ? { name, dims: [], dataType: DataType.INT64, ints: [a] } : { name, dims: [], dataType: DataType.FLOAT, floats: Float32Array.of(a) };
  else if (a instanceof Float32Array) t = { name, dims: [a.length], dataType: DataType.FLOAT, floats: a };
  else if (Array.isArray(a)) t = { name, dims: [a.length], dataType: DataType.INT64, ints: a };
  else t = { ...a, name };
  ctx.consts.set(name, t);
  return null;
};

export const CONVERTERS: Record<string, Converter> = {
  Conv: conv,
  BatchNormalization: batchNorm,
  Relu: (ctx, node) => relu(ctx, node, ctx.value(node, 0)),
  Clip: clip,
  LeakyRelu: (ctx, node) => ({ t: ctx.apply(tfl.layers.leakyReLU({ name: ctx.layerName(node, 'leakyrelu'), alpha: ctx.float(node, 'alpha', 0.01) }), [ctx.value(node, 0)]), nonNegative: false }),
  Sigmoid: activation('sigmoid', true),
  Softmax: activation('softmax', true),
  HardSigmoid: (ctx, node) => hardSigmoid(ctx, node, ctx.value(node, 0), ctx.float(node, 'alpha', 0.2), ctx.float(node, 'beta', 0.5)),
  HardSwish: (ctx, node) => {
    const x = ctx.value(node, 0);
    const gate = hardSigmoid(ctx, node, x, 1 / 6, 0.5);
    return { t: ctx.apply(tfl.layers.multiply({ name: ctx.layerName(node, 'hardswish') }), [x, gate]), nonNegative: false };
  },
  Add: arithmetic('Add'),
  Sub: arithmetic('Sub'),
  Mul: arithmetic('Mul'),
  Div: arithmetic('Div'),
  MaxPool: pool('max'),
  AveragePool: pool('avg'),
  GlobalAveragePool: (ctx, node) => globalPool(ctx, node, ctx.value(node, 0), 'avg', true),
  GlobalMaxPool: (ctx, node) => globalPool(ctx, node, ctx.value(node, 0), 'max', true),
  ReduceMean: reduceMean,
  Concat: concat,
  Flatten: toVector,
  Reshape: toVector,
  Squeeze: toVector,
  Gemm: gemm,
  MatMul: matMul,
  Dropout: (ctx, node) => {
    if (node.outputs.length > 1 && node.outputs[1] && ctx.consumers.has(node.outputs[1])) throw ctx.fail(node, "the dropout mask output is used");
    return same(ctx.value(node, 0));
  },
  Identity: (ctx, node) => {
    const k = ctx.constant(node, 0);
    if (!k) return same(ctx.value(node, 0));
    ctx.consts.set(node.outputs[0]!, k);
    return null;
  },
  Pad: pad,
  Constant: constant,
};
