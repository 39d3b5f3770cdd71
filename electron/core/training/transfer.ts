/**
 * Transfer learning (seed example 2): a backbone in TF.js LayersModel format gets a new head for the project's
 * classes; the backbone is frozen for the head-only phase, then its last N blocks may be unfrozen at a lower rate.
 * Backbones come from resources/backbones (shipped with the app), from the project's backbones/ folder (imported
 * by the user), or from one of the project's own runs (`run:<id>`). Nothing is ever downloaded.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tfl from '@tensorflow/tfjs-layers';
import { LoupeError } from '../../../shared/contract.ts';
import type { Normalization, TrainConfig } from '../../../shared/training.ts';
import type { Project } from '../project/project.ts';
import { checkpointDir, loadModel } from './checkpoint.ts';
import { getRun, runDir } from './runs.ts';

export interface BackboneMeta {
  name: string;
  imageSize: number;
  channels: 1 | 3;
  normalization: Normalization;
  /** The layer whose output feeds the new head; default: the input of the last Dense layer. */
  featureLayer?: string;
  description?: string;
}

export interface BackboneInfo extends BackboneMeta {
  source: 'shipped' | 'imported' | 'run';
  dir: string;
}

const SHIPPED_DIR = process.env['LOUPE_BACKBONES_DIR'] ?? fileURLToPath(new URL('../../../resources/backbones', import.meta.url));

function readMeta(dir: string, fallbackName: string): BackboneMeta {
  const modelJson = join(dir, 'model.json');
  if (!existsSync(modelJson)) throw new LoupeError('BAD_INPUT', `${dir} has no model.json: a backbone is a TF.js LayersModel folder`);
  let topology: { modelTopology?: { config?: { layers?: { class_name: string; config: { batch_input_shape?: (number | null)[] } }[] } } };
  try {
    topology = JSON.parse(readFileSync(modelJson, 'utf8'));
  } catch (e) {
    throw new LoupeError('BAD_INPUT', `${modelJson} is not valid JSON: ${(e as Error).message}`);
  }
  if (!topology.modelTopology) throw new LoupeError('BAD_INPUT', `${modelJson} is not a TF.js LayersModel (no modelTopology; graph models cannot be fine-tuned)`);
  const inputLayer = topology.modelTopology.config?.layers?.find((l) => l.class_name === 'InputLayer');
  const shape = inputLayer?.config.batch_input_shape ?? null;
  const metaFile = join(dir, 'backbone.json');
  const declared = existsSync(metaFile) ? (JSON.parse(readFileSync(metaFile, 'utf8')) as Partial<BackboneMeta>) : {};
  const size = declared.imageSize ?? (shape?.[1] as number | undefined);
  const channels = declared.channels ?? (shape?.[3] as 1 | 3 | undefined);
  if (!size || !channels || (shape && (shape[1] !== shape[2] || (shape[1] !== null && shape[1] !== size) || (shape[3] !== null && shape[3] !== channels)))) {
    throw new LoupeError('BAD_INPUT', `The backbone's input does not fit: Loupe needs a square image input of 1 or 3 channels (found ${JSON.stringify(shape)})`);
  }
  if (channels !== 1 && channels !== 3) throw new LoupeError('BAD_INPUT', `The backbone takes ${channels} channels; Loupe supports 1 or 3`);
  return {
    name: declared.name ?? fallbackName,
    imageSize: size,
    channels,
    normalization: declared.normalization ?? { mean: new Array(channels).fill(0.5), std: new Array(channels).fill(0.25) },
    featureLayer: declared.featureLayer,
    description: declared.description,
  };
}

function listDirBackbones(dir: string, source: 'shipped' | 'imported'): BackboneInfo[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(dir, d.name, 'model.json')))
    .flatMap((d) => {
      try {
        return [{ ...readMeta(join(dir, d.name), d.name), source, dir: join(dir, d.name) }];
      } catch {
        return []; // listed backbones must load; a broken folder is reported when used by name
      }
    });
}

export function listBackbones(project: Project): BackboneInfo[] {
  return [...listDirBackbones(SHIPPED_DIR, 'shipped'), ...listDirBackbones(join(project.path, 'backbones'), 'imported')];
}

/** Resolves a backbone name: `run:<id>`, an imported one, or a shipped one. */
export function findBackbone(project: Project, name: string): BackboneInfo {
  const m = /^run:(\d+)$/.exec(name);
  if (m) {
    const run = getRun(project.db, Number(m[1]));
    const dir = checkpointDir(runDir(project, run.id), 'best');
    if (!existsSync(join(dir, 'model.json')) || !run.preprocessing) {
      throw new LoupeError('BAD_INPUT', `Run ${run.id} has no finished model to reuse as a backbone`);
    }
    return {
      name,
      imageSize: run.preprocessing.imageSize,
      channels: run.preprocessing.channels,
      normalization: run.preprocessing.normalization,
      source: 'run',
      dir,
    };
  }
  const found = listBackbones(project).find((b) => b.name === name);
  if (found) return found;
  for (const [base, source] of [[join(project.path, 'backbones'), 'imported'], [SHIPPED_DIR, 'shipped']] as const) {
    if (existsSync(join(base, name))) return { ...readMeta(join(base, name), name), source, dir: join(base, name) };
  }
  throw new LoupeError('NOT_FOUND', `No backbone named "${name}" (see \`loupe backbone list\`)`);
}

/** Copies a LayersModel folder into the project's backbones/, after checking that it loads and fits. */
export async function importBackbone(project: Project, src: string, name?: string): Promise<BackboneInfo> {
  const dir = resolve(src);
  const meta = readMeta(dir, name ?? basename(dir));
  try {
    const model = await loadModel(dir);
    model.dispose();
  } catch (e) {
    throw new LoupeError('BAD_INPUT', `${dir} does not load as a TF.js LayersModel: ${(e as Error).message}`);
  }
  const target = join(project.path, 'backbones', name ?? meta.name);
  if (existsSync(target)) throw new LoupeError('CONFLICT', `A backbone named "${name ?? meta.name}" is already imported`);
  mkdirSync(target, { recursive: true });
  cpSync(dir, target, { recursive: true });
  writeFileSync(join(target, 'backbone.json'), JSON.stringify({ ...meta, name: name ?? meta.name }, null, 2));
  return { ...meta, name: name ?? meta.name, source: 'imported', dir: target };
}

/** The config a backbone run trains with: the backbone's input size, channels and normalization win. */
export function applyBackbone(config: TrainConfig, b: BackboneMeta): TrainConfig {
  return {
    ...config,
    imageSize: b.imageSize,
    channels: b.channels,
    normalization: { kind: 'fixed', mean: b.normalization.mean, std: b.normalization.std },
  };
}

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
