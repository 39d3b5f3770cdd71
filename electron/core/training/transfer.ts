/**
 * Transfer learning (seed example 2), in the training process: a backbone gets a new head for the project's
 * classes; the backbone is frozen for the head-only phase, then its last N blocks may be unfrozen at a lower rate.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { LoupeError } from '../../../shared/contract.ts';
import type { TrainConfig } from '../../../shared/training.ts';
import type { Project } from '../project/project.ts';
import { findBackbone } from './backbones.ts';
import { loadModel } from './checkpoint.ts';
import { runFrozenLayersInInferenceMode } from './frozen-layers.ts';

/** Groups of layers, in order, that unfreeze together: by name prefix before '/', else one layer each. */
export function layerBlocks(layers: tfl.layers.Layer[]): tfl.layers.Layer[][] {
  const blocks: tfl.layers.Layer[][] = [];
  let key: string | null = null;
  for (const layer of layers) {
    if (layer.weights.length === 0 && !layer.name.includes('/')) continue;
    const k = layer.name.includes('/') ? layer.name.split('/')[0]! : layer.name;
    if (k !== key) {
      blocks.push([]);
      key = k;
    }
    blocks[blocks.length - 1]!.push(layer);
  }
  return blocks.filter((b) => b.some((l) => l.weights.length > 0));
}

export interface TransferModel {
  model: tfl.LayersModel;
  /** The new head's layers (names start with HEAD_PREFIX). */
  head: tfl.layers.Layer[];
  /** The backbone's blocks, last first, for fine-tuning. */
  blocksFromTop: tfl.layers.Layer[][];
}

/** The new head's layer names start with this, so a reloaded checkpoint knows its head from its backbone. */
export const HEAD_PREFIX = 'xfer_';

const CLASSIFIER_TAIL = new Set(['Dense', 'Dropout', 'Activation', 'Softmax']);

/**
 * The backbone's feature layer: where its classifier tail (the trailing Dense/Dropout/Activation layers) begins.
 * What comes before is the convolutional base, whose features transfer best (Keras' include_top=False).
 */
export function featureLayerOf(base: tfl.LayersModel, declared?: string): tfl.layers.Layer {
  if (declared) return base.getLayer(declared);
  const layers = base.layers;
  let i = layers.length - 1;
  while (i > 0 && CLASSIFIER_TAIL.has(layers[i]!.getClassName())) i--;
  return layers[i]!;
}

export async function buildTransferModel(project: Project, config: TrainConfig, numClasses: number): Promise<TransferModel> {
  if (!config.backbone) throw new LoupeError('BAD_INPUT', 'A backbone run needs a backbone name');
  const info = findBackbone(project, config.backbone);
  let base: tfl.LayersModel;
  try {
    base = await loadModel(info.dir);
  } catch (e) {
    throw new LoupeError('BAD_INPUT', `The backbone "${info.name}" does not load as a TF.js LayersModel: ${(e as Error).message}`);
  }
  const featureLayer = featureLayerOf(base, info.featureLayer);
  let x = featureLayer.output as tfl.SymbolicTensor;
  const add = (layer: tfl.layers.Layer) => {
    x = layer.apply(x) as tfl.SymbolicTensor;
  };
  if (x.shape.length === 4) add(tfl.layers.globalAveragePooling2d({ name: `${HEAD_PREFIX}gap` }));
  if (x.shape.length > 2) add(tfl.layers.flatten({ name: `${HEAD_PREFIX}flatten` }));
  if (config.dropout > 0) add(tfl.layers.dropout({ name: `${HEAD_PREFIX}dropout`, rate: config.dropout, seed: config.seed }));
  add(
    tfl.layers.dense({
      name: `${HEAD_PREFIX}logits`,
      units: numClasses,
      kernelInitializer: tfl.initializers.varianceScaling({ scale: 1 / 3, mode: 'fanIn', distribution: 'uniform', seed: config.seed }),
    }),
  );
  add(tfl.layers.activation({ name: `${HEAD_PREFIX}softmax`, activation: 'softmax' }));
  return splitTransferModel(tfl.model({ inputs: base.inputs, outputs: x, name: 'transfer' }));
}

/**
 * Head and backbone blocks of a transfer model, fresh or reloaded from a checkpoint. Every backbone layer is
 * frozen (and runs in inference mode while frozen); callers unfreeze blocks for fine-tuning.
 */
export function splitTransferModel(model: tfl.LayersModel): TransferModel {
  const head = model.layers.filter((l) => l.name.startsWith(HEAD_PREFIX));
  const backbone = model.layers.filter((l) => !l.name.startsWith(HEAD_PREFIX));
  for (const l of backbone) {
    l.trainable = false;
    runFrozenLayersInInferenceMode(l);
  }
  return { model, head, blocksFromTop: layerBlocks(backbone).reverse() };
}

/** Unfreezes the last `n` blocks of the backbone; returns the layers that train from now on. */
export function unfreezeTop(t: TransferModel, n: number): tfl.layers.Layer[] {
  const blocks = t.blocksFromTop.slice(0, n).flat();
  for (const l of blocks) l.trainable = true;
  return [...blocks, ...t.head];
}
