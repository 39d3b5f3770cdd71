/**
 * A trained model's forward pass for inference, as fewer and fused kernels than tfjs-layers' predict():
 * - a batch norm after a convolution is folded into it: w' = w·γ/σ per output channel, b' = (b − μ)·γ/σ + β;
 * - a ReLU after that (or after a plain convolution or dense layer) becomes the fused kernel's activation;
 * - dropout is skipped, and the batch is not cut into predict()'s slices of 32;
 * - a 5×5 (or larger) convolution of a grey image followed by a 2×2 pool runs over 2×2 blocks (phase-conv.ts).
 * On wasm, tfjs's batch norm is a separate full pass over every activation: for the compact ResNet at 64 px it was a
 * quarter of the inference time, the ReLUs a few percent more (bench:infer).
 *
 * The plan holds no tensors: each call reads the layers' current weights and folds them inside the caller's
 * tf.tidy (a few small ops per layer), so it stays right while a model trains. A graph with anything it does not
 * know (pretrained backbones' other layers, shared layers, nested models) runs through predict() unchanged.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { phaseConvPool, phasePlan, type PhasePlan } from './phase-conv.ts';

export type Forward = (xs: tf.Tensor4D) => tf.Tensor;

type Layer = tfl.layers.Layer;
type Config = Record<string, unknown>;
/** Computes a layer's output from its inputs' outputs. */
type Step = { layer: Layer; inputs: Layer[]; run: (inputs: tf.Tensor[]) => tf.Tensor };

const FUSABLE = new Set(['relu', 'linear']);
/**
 * The smallest batch computed over blocks (phase-conv.ts): the rearranged kernel costs a few small ops per call,
 * which a LeNet batch of 16 does not win back (0.94× the plain pair), one of 64 does (1.05×; 256: 1.09×).
 */
const PHASES_MIN_BATCH = 64;
const plans = new WeakMap<tfl.LayersModel, Forward | null>();

/** The inference forward pass of `model` (planned once per model). */
export function inferenceForward(model: tfl.LayersModel): Forward {
  let plan = plans.get(model);
  if (plan === undefined) {
    plan = planFor(model);
    plans.set(model, plan);
  }
  return plan ?? ((xs) => model.predict(xs) as tf.Tensor);
}

const read = (layer: Layer, i: number): tf.Tensor => layer.weights[i]!.read();

function pair(v: unknown): [number, number] {
  return Array.isArray(v) ? [Number(v[0]), Number(v[1] ?? v[0])] : [Number(v), Number(v)];
}

/** A node's (single) input shape: tfjs-layers stores one shape, or a list of them. */
function shapeOf(shapes: tfl.Shape | tfl.Shape[]): tfl.Shape {
  return Array.isArray(shapes[0]) ? (shapes[0] as tfl.Shape) : (shapes as tfl.Shape);
}

function plainRelu(layer: Layer): boolean {
  const c = layer.getConfig() as Config;
  if (layer.getClassName() === 'Activation') return c['activation'] === 'relu';
  return layer.getClassName() === 'ReLU' && c['maxValue'] == null;
}

function lastAxis(bn: Layer): boolean {
  const axis = (bn.getConfig() as Config)['axis'];
  const axes = Array.isArray(axis) ? axis : [axis];
  return axes.length === 1 && (axes[0] === -1 || axes[0] === 3);
}

/**
 * γ/σ and β − μ·γ/σ of a batch norm (over the last axis), from its current (moving) statistics: the same scale and
 * offset the training kernel (batch-norm-kernels.ts, batchNormTrain) applies with the batch's own statistics.
 */
function batchNormAffine(bn: Layer): { scale: tf.Tensor; shift: tf.Tensor } {
  const c = bn.getConfig() as Config;
  let i = 0;
  const gamma = c['scale'] !== false ? read(bn, i++) : null;
  const beta = c['center'] !== false ? read(bn, i++) : null;
  const mean = read(bn, i++);
  const variance = read(bn, i++);
  const inv = tf.rsqrt(tf.add(variance, Number(c['epsilon'] ?? 1e-3)));
  const scale = gamma ? tf.mul(gamma, inv) : inv;
  const shifted = tf.neg(tf.mul(mean, scale));
  return { scale, shift: beta ? tf.add(shifted, beta) : shifted };
}

/** The 2×2 pool after a convolution and the plan that computes both over blocks, if it applies (phase-conv.ts). */
function pooledByPhases(conv: Layer, next: Layer | null): { layer: Layer; plan: PhasePlan } | null {
  const kind = next?.getClassName();
  if (!next || (kind !== 'MaxPooling2D' && kind !== 'AveragePooling2D')) return null;
  const p = next.getConfig() as Config;
  const c = conv.getConfig() as Config;
  const ones = (v: [number, number]) => v[0] === 1 && v[1] === 1;
  const twos = (v: [number, number]) => v[0] === 2 && v[1] === 2;
  if (p['dataFormat'] !== 'channelsLast' || p['padding'] !== 'valid' || !twos(pair(p['poolSize'])) || !twos(pair(p['strides'] ?? p['poolSize']))) return null;
  if (!ones(pair(c['strides'])) || !ones(pair(c['dilationRate'] ?? 1))) return null;
  const [, h, w, channels] = shapeOf(conv.inboundNodes[0]!.inputShapes);
  const [kh, kw] = pair(c['kernelSize']);
  if (typeof h !== 'number' || typeof w !== 'number' || typeof channels !== 'number') return null;
  const plan = phasePlan(h, w, channels, kh, kw, Number(c['filters']), c['padding'] as 'same' | 'valid', kind === 'MaxPooling2D' ? 'max' : 'avg');
  return plan ? { layer: next, plan } : null;
}

function planFor(model: tfl.LayersModel): Forward | null {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) return null;
  const consumers = new Map<Layer, Layer[]>();
  for (const layer of model.layers) {
    if (layer.inboundNodes.length > 1) return null;
    for (const from of layer.inboundNodes[0]?.inboundLayers ?? []) consumers.set(from, [...(consumers.get(from) ?? []), layer]);
  }
  const onlyConsumer = (layer: Layer): Layer | null => {
    const next = consumers.get(layer) ?? [];
    return next.length === 1 && next[0]!.inboundNodes[0]!.inboundLayers.length === 1 ? next[0]! : null;
  };
  /** The layer whose output stands for each layer absorbed into another's kernel. */
  const alias = new Map<Layer, Layer>();
  const steps: Step[] = [];
  let input: Layer | null = null;
  for (const layer of model.layers) {
    if (alias.has(layer)) continue;
    const node = layer.inboundNodes[0];
    if (!node || node.tensorIndices.some((t) => t !== 0)) return null;
    const inputs = node.inboundLayers;
    const kind = layer.getClassName();
    const c = layer.getConfig() as Config;
    if (kind === 'InputLayer') {
      if (input) return null;
      input = layer;
      continue;
    }
    if (inputs.length === 0) return null;
    // Every branch below assigns it or gives up on the model (return null).
    let run: Step['run'];
    if (kind === 'Conv2D' || kind === 'Dense') {
      const activation = String(c['activation'] ?? 'linear');
      const softmax = kind === 'Dense' && activation === 'softmax';
      if (!FUSABLE.has(activation) && !softmax) return null;
      if (kind === 'Conv2D' && c['dataFormat'] !== 'channelsLast') return null;
      // tf.fused.matMul takes rank 2 only; a Dense layer over more axes runs through predict().
      if (kind === 'Dense' && shapeOf(node.inputShapes).length !== 2) return null;
      // A batch norm right after a linear layer folds into its weights; a ReLU right after either becomes the
      // kernel's own activation.
      let last: Layer = layer;
      const next = activation === 'linear' ? onlyConsumer(layer) : null;
      const bn = next?.getClassName() === 'BatchNormalization' && lastAxis(next) ? next : null;
      if (bn) last = bn;
      const after = activation === 'linear' ? onlyConsumer(last) : null;
      const relu = after && plainRelu(after) ? after : null;
      const useBias = c['useBias'] !== false;
      const fused = relu || activation === 'relu' ? 'relu' : 'linear';
      const pool = kind === 'Conv2D' ? pooledByPhases(layer, onlyConsumer(relu ?? last)) : null;
      run = ([x]) => {
        let w = read(layer, 0);
        let b: tf.Tensor | undefined = useBias ? read(layer, 1) : undefined;
        if (bn) {
          const { scale, shift } = batchNormAffine(bn);
          w = tf.mul(w, scale);
          b = b ? tf.add(tf.mul(b, scale), shift) : shift;
        }
        if (pool && x!.shape[0]! >= PHASES_MIN_BATCH) return phaseConvPool(pool.plan, x as tf.Tensor4D, w, b, fused);
        const y =
          kind === 'Conv2D'
            ? tf.fused.conv2d({ x: x as tf.Tensor4D, filter: w as tf.Tensor4D, strides: pair(c['strides']), pad: c['padding'] as 'same' | 'valid', dilations: pair(c['dilationRate'] ?? 1), bias: b, activation: fused })
            : tf.fused.matMul({ a: x as tf.Tensor2D, b: w as tf.Tensor2D, bias: b, activation: fused });
        if (pool) return pool.plan.pool === 'max' ? tf.maxPool(y as tf.Tensor4D, 2, 2, 'valid') : tf.avgPool(y as tf.Tensor4D, 2, 2, 'valid');
        return softmax ? tf.softmax(y) : y;
      };
      for (const absorbed of [bn, relu, pool?.layer]) if (absorbed) alias.set(absorbed, layer);
    } else if (kind === 'BatchNormalization') {
      if (!lastAxis(layer)) return null;
      run = ([x]) => {
        const { scale, shift } = batchNormAffine(layer);
        return tf.add(tf.mul(x!, scale), shift);
      };
    } else if (kind === 'Activation' || kind === 'ReLU' || kind === 'Softmax') {
      const a = kind === 'Softmax' ? 'softmax' : kind === 'ReLU' ? (plainRelu(layer) ? 'relu' : null) : String(c['activation']);
      if (a === 'relu') run = ([x]) => tf.relu(x!);
      else if (a === 'softmax' && (kind === 'Activation' || c['axis'] == null || c['axis'] === -1)) run = ([x]) => tf.softmax(x!);
      else if (a === 'linear') run = ([x]) => x!;
      else if (a === 'sigmoid') run = ([x]) => tf.sigmoid(x!);
      else return null;
    } else if (kind === 'Add') {
      run = (xs) => tf.addN(xs);
    } else if (kind === 'Dropout' || kind === 'SpatialDropout2D') {
      run = ([x]) => x!;
    } else if (kind === 'Flatten') {
      run = ([x]) => tf.reshape(x!, [x!.shape[0]!, -1]);
    } else if (kind === 'GlobalAveragePooling2D' || kind === 'GlobalMaxPooling2D') {
      if (c['dataFormat'] !== 'channelsLast' || c['keepDims']) return null;
      run = kind === 'GlobalAveragePooling2D' ? ([x]) => tf.mean(x!, [1, 2]) : ([x]) => tf.max(x!, [1, 2]);
    } else if (kind === 'MaxPooling2D' || kind === 'AveragePooling2D') {
      if (c['dataFormat'] !== 'channelsLast') return null;
      const size = pair(c['poolSize']);
      const strides = pair(c['strides'] ?? c['poolSize']);
      const pad = c['padding'] as 'same' | 'valid';
      run = kind === 'MaxPooling2D' ? ([x]) => tf.maxPool(x as tf.Tensor4D, size, strides, pad) : ([x]) => tf.avgPool(x as tf.Tensor4D, size, strides, pad);
    } else {
      return null;
    }
    steps.push({ layer, inputs: [...inputs], run });
  }
  const output = model.outputLayers[0];
  if (!input || !output || model.inputLayers[0] !== input) return null;
  const resolve = (l: Layer) => alias.get(l) ?? l;
  const outputLayer = resolve(output);
  return (xs) => {
    const values = new Map<Layer, tf.Tensor>([[input!, xs]]);
    for (const s of steps) values.set(s.layer, s.run(s.inputs.map((l) => values.get(resolve(l))!)));
    return values.get(outputLayer)!;
  };
}
