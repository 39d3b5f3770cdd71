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

/**
 * tfjs-layers runs every layer in training mode during a training step, trainable or not, so a frozen batch norm
 * would still normalize with batch statistics and drift its moving averages (and a frozen dropout would drop).
 * Keras 2.x has the same trap; TF2 Keras fixed it by running frozen layers in inference mode. We do the same.
 */
function inferenceWhileFrozen(layer: tfl.layers.Layer): void {
  const original = layer.call.bind(layer);
  layer.call = (inputs, kwargs) => original(inputs, { ...kwargs, training: Boolean(kwargs?.['training']) && layer.trainable });
}

export interface TransferModel {
  model: tfl.LayersModel;
  head: tfl.layers.Layer[];
  /** The backbone's blocks, last first, for fine-tuning. */
  blocksFromTop: tfl.layers.Layer[][];
  trainable: tfl.layers.Layer[];
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
  const lastDense = [...base.layers].reverse().find((l) => l.getClassName() === 'Dense');
  const featureName = info.featureLayer ?? (lastDense ? (lastDense.input as tfl.SymbolicTensor).sourceLayer.name : base.layers[base.layers.length - 1]!.name);
  const featureLayer = base.getLayer(featureName);
  let x = featureLayer.output as tfl.SymbolicTensor;
  const head: tfl.layers.Layer[] = [];
  const add = <L extends tfl.layers.Layer>(layer: L): L => {
    head.push(layer);
    x = layer.apply(x) as tfl.SymbolicTensor;
    return layer;
  };
  const tag = `tl${Date.now().toString(36)}`;
  if (x.shape.length === 4) add(tfl.layers.globalAveragePooling2d({ name: `${tag}_gap` }));
  if (x.shape.length > 2) add(tfl.layers.flatten({ name: `${tag}_flatten` }));
  if (config.dropout > 0) add(tfl.layers.dropout({ name: `${tag}_dropout`, rate: config.dropout, seed: config.seed }));
  add(tfl.layers.dense({ name: `${tag}_logits`, units: numClasses, kernelInitializer: tfl.initializers.varianceScaling({ scale: 1 / 3, mode: 'fanIn', distribution: 'uniform', seed: config.seed }) }));
  add(tfl.layers.activation({ name: `${tag}_softmax`, activation: 'softmax' }));
  const model = tfl.model({ inputs: base.inputs, outputs: x, name: 'transfer' });
  // Everything up to the feature layer is the backbone.
  const backboneLayers = base.layers.slice(0, base.layers.indexOf(featureLayer) + 1);
  for (const l of backboneLayers) {
    l.trainable = false;
    inferenceWhileFrozen(l);
  }
  const blocks = layerBlocks(backboneLayers).reverse();
  return { model, head, blocksFromTop: blocks, trainable: head };
}
