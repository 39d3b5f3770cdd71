/**
 * Model builders: LeNet-5 (seed example 1), the seed's custom CNN (example 3), a compact ResNet, and a new head
 * on a backbone for transfer learning (example 2). Every model is a tf.LayersModel ending in softmax, so it saves
 * as a TF.js LayersModel and exports to ONNX layer by layer.
 *
 * Initial weights follow PyTorch's defaults (uniform ±1/sqrt(fan_in), i.e. variance scaling 1/3, fan-in), seeded
 * from the run's seed, so the same seed builds the same model and results compare with the seed's recipes.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { batchNormalization } from './kernels/batch-norm.ts';
import { activation } from './kernels/activation.ts';
import { conv2d, dense as denseLayer } from './kernels/relu-bias.ts';
import { add } from './kernels/residual-add.ts';
import type { TrainConfig } from '../../../shared/training.ts';

export interface ModelSpec {
  imageSize: number;
  channels: 1 | 3;
  numClasses: number;
  dropout: number;
  seed: number;
  width?: number;
  depth?: number;
}

type SymbolicTensor = tfl.SymbolicTensor;

/** Hands out a different, reproducible seed per layer. */
class Seeds {
  private n: number;
  constructor(seed: number) {
    this.n = seed * 7919 + 17;
  }
  next(): number {
    this.n = (this.n * 48271) % 2147483647;
    return this.n;
  }
}

function torchInit(seeds: Seeds) {
  return tfl.initializers.varianceScaling({
    scale: 1 / 3,
    mode: 'fanIn',
    distribution: 'uniform',
    seed: seeds.next(),
  });
}

function conv(
  x: SymbolicTensor,
  seeds: Seeds,
  name: string,
  filters: number,
  kernelSize: number,
  opts: { strides?: number; padding?: 'same' | 'valid'; activation?: 'relu' | 'linear'; useBias?: boolean } = {},
): SymbolicTensor {
  return conv2d({
    name,
    filters,
    kernelSize,
    strides: opts.strides ?? 1,
    padding: opts.padding ?? 'same',
    activation: opts.activation ?? 'linear',
    useBias: opts.useBias ?? true,
    kernelInitializer: torchInit(seeds),
    biasInitializer: 'zeros',
  }).apply(x) as SymbolicTensor;
}

function dense(x: SymbolicTensor, seeds: Seeds, name: string, units: number, activation: 'relu' | 'linear' = 'linear'): SymbolicTensor {
  return denseLayer({ name, units, activation, kernelInitializer: torchInit(seeds), biasInitializer: 'zeros' }).apply(x) as SymbolicTensor;
}

function dropout(x: SymbolicTensor, name: string, rate: number, seeds: Seeds): SymbolicTensor {
  return rate > 0 ? (tfl.layers.dropout({ name, rate, seed: seeds.next() }).apply(x) as SymbolicTensor) : x;
}

function classifierHead(x: SymbolicTensor, seeds: Seeds, numClasses: number): SymbolicTensor {
  const logits = dense(x, seeds, 'head_logits', numClasses);
  return tfl.layers.activation({ name: 'head_softmax', activation: 'softmax' }).apply(logits) as SymbolicTensor;
}

function maxPool(x: SymbolicTensor, name: string): SymbolicTensor {
  return tfl.layers.maxPooling2d({ name, poolSize: 2, strides: 2 }).apply(x) as SymbolicTensor;
}

/** LeNet-5 as in the seed: conv 6@5×5 → pool → conv 16@5×5 → pool → fc 120 → fc 84 → fc classes. */
export function lenet5(spec: ModelSpec): tfl.LayersModel {
  const seeds = new Seeds(spec.seed);
  const input = tfl.input({ shape: [spec.imageSize, spec.imageSize, spec.channels], name: 'image' });
  // 'same' on the first conv keeps 28×28 inputs at the classic 5×5×16 before the dense layers (as LeNet's 32×32).
  let x = conv(input, seeds, 'conv1', 6, 5, { activation: 'relu', padding: 'same' });
  x = maxPool(x, 'pool1');
  x = conv(x, seeds, 'conv2', 16, 5, { activation: 'relu', padding: 'valid' });
  x = maxPool(x, 'pool2');
  x = tfl.layers.flatten({ name: 'flatten' }).apply(x) as SymbolicTensor;
  x = dense(x, seeds, 'fc1', 120, 'relu');
  x = dropout(x, 'drop1', spec.dropout, seeds);
  x = dense(x, seeds, 'fc2', 84, 'relu');
  x = dropout(x, 'drop2', spec.dropout, seeds);
  return tfl.model({ inputs: input, outputs: classifierHead(x, seeds, spec.numClasses), name: 'lenet5' });
}

/** The seed's custom CNN: conv 16@3×3 → pool → conv 32@3×3 → pool → fc 128 → fc classes; sizes follow the input. */
export function customCnn(spec: ModelSpec): tfl.LayersModel {
  const seeds = new Seeds(spec.seed);
  const input = tfl.input({ shape: [spec.imageSize, spec.imageSize, spec.channels], name: 'image' });
  let x = conv(input, seeds, 'conv1', 16, 3, { activation: 'relu' });
  x = maxPool(x, 'pool1');
  x = conv(x, seeds, 'conv2', 32, 3, { activation: 'relu' });
  x = maxPool(x, 'pool2');
  x = tfl.layers.flatten({ name: 'flatten' }).apply(x) as SymbolicTensor;
  x = dense(x, seeds, 'fc1', 128, 'relu');
  x = dropout(x, 'drop1', spec.dropout, seeds);
  return tfl.model({ inputs: input, outputs: classifierHead(x, seeds, spec.numClasses), name: 'cnn' });
}

function batchNorm(x: SymbolicTensor, name: string): SymbolicTensor {
  // PyTorch's defaults: momentum 0.1 (tfjs counts it the other way: 0.9), eps 1e-5.
  return batchNormalization({ name, momentum: 0.9, epsilon: 1e-5 }).apply(x) as SymbolicTensor;
}

function relu(x: SymbolicTensor, name: string): SymbolicTensor {
  return activation({ name, activation: 'relu' }).apply(x) as SymbolicTensor;
}

/** A basic residual block; layer names start with `blockName/` so transfer learning can unfreeze whole blocks. */
function basicBlock(x: SymbolicTensor, seeds: Seeds, blockName: string, filters: number, stride: number): SymbolicTensor {
  let y = conv(x, seeds, `${blockName}/conv1`, filters, 3, { strides: stride, useBias: false });
  y = batchNorm(y, `${blockName}/bn1`);
  y = relu(y, `${blockName}/relu1`);
  y = conv(y, seeds, `${blockName}/conv2`, filters, 3, { useBias: false });
  y = batchNorm(y, `${blockName}/bn2`);
  let shortcut = x;
  const inFilters = x.shape[x.shape.length - 1];
  if (stride !== 1 || inFilters !== filters) {
    shortcut = conv(x, seeds, `${blockName}/proj`, filters, 1, { strides: stride, useBias: false });
    shortcut = batchNorm(shortcut, `${blockName}/proj_bn`);
  }
  const sum = add({ name: `${blockName}/add` }).apply([y, shortcut]) as SymbolicTensor;
  return relu(sum, `${blockName}/out`);
}

/** A compact ResNet: a 3×3 stem, three stages of `depth` basic blocks (width, 2×, 4×), global pooling, head. */
export function compactResnet(spec: ModelSpec): tfl.LayersModel {
  const seeds = new Seeds(spec.seed);
  const width = spec.width ?? 16;
  const depth = spec.depth ?? 2;
  const input = tfl.input({ shape: [spec.imageSize, spec.imageSize, spec.channels], name: 'image' });
  let x = conv(input, seeds, 'stem/conv', width, 3, { useBias: false });
  x = batchNorm(x, 'stem/bn');
  x = relu(x, 'stem/relu');
  [width, width * 2, width * 4].forEach((filters, stage) => {
    for (let b = 0; b < depth; b++) {
      x = basicBlock(x, seeds, `stage${stage + 1}_block${b + 1}`, filters, stage > 0 && b === 0 ? 2 : 1);
    }
  });
  x = tfl.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as SymbolicTensor;
  x = dropout(x, 'drop', spec.dropout, seeds);
  return tfl.model({ inputs: input, outputs: classifierHead(x, seeds, spec.numClasses), name: 'resnet' });
}

export function buildModel(config: TrainConfig, numClasses: number): tfl.LayersModel {
  const spec: ModelSpec = {
    imageSize: config.imageSize,
    channels: config.channels,
    numClasses,
    dropout: config.dropout,
    seed: config.seed,
    width: config.width,
    depth: config.depth,
  };
  switch (config.arch) {
    case 'lenet5':
      return lenet5(spec);
    case 'cnn':
      return customCnn(spec);
    case 'resnet':
      return compactResnet(spec);
    case 'backbone':
      throw new Error('Backbone models are built by transfer.ts from a loaded backbone');
  }
}
