/**
 * Checkpoints on disk, as TF.js LayersModel artifacts (model.json + weights.bin) so a run's model is directly
 * exportable. `best/` holds the weights of the best epoch; `last/` the latest epoch plus the optimizer and fit
 * state, for resume. Each also holds checkpoint.json, the metrics of its epoch, so project.db can be made to agree
 * with the weights after a crash between writing them and recording the epoch (run-recovery.ts). Folders are
 * replaced whole and durably (checkpoint-paths.ts): a crash or a full disk never leaves a broken checkpoint.
 */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
// Loupe's training layers under tfjs's names: checkpoints load with their training passes.
import './kernels/layers.ts';
import type { EpochMetrics, Preprocessing } from '../../../shared/training.ts';
import type { FitState, OptimizerSlots } from './fit.ts';

import { checkpointDir, replaceFolder } from './checkpoint-paths.ts';
import { META_FILE } from './checkpoint-meta.ts';
import { MAX_MODEL_JSON_BYTES, MAX_WEIGHTS_BYTES, readBounded, readJsonFile, readModelFolder, type ListedFiles } from './model-folder.ts';

export { checkpointDir, hasCheckpoint, type CheckpointKind } from './checkpoint-paths.ts';
export { readCheckpointMetrics } from './checkpoint-meta.ts';

/** The LayersModel artifacts of a model, as files. */
export async function modelFiles(model: tfl.LayersModel): Promise<Record<string, Buffer | string>> {
  let files: Record<string, Buffer | string> = {};
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weightsManifest = [{ paths: ['weights.bin'], weights: artifacts.weightSpecs ?? [] }];
      const modelJson = {
        format: 'layers-model',
        generatedBy: 'Loupe',
        convertedBy: null,
        modelTopology: artifacts.modelTopology,
        weightsManifest,
      };
      const data = artifacts.weightData as ArrayBuffer;
      files = { 'model.json': JSON.stringify(modelJson), 'weights.bin': Buffer.from(data) };
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return files;
}

/** Writes a model folder (with extra files) in place of `dir`, durably (checkpoint-paths.ts). */
export async function saveModel(dir: string, model: tfl.LayersModel, extra: Record<string, Buffer | string> = {}): Promise<void> {
  replaceFolder(dir, { ...(await modelFiles(model)), ...extra });
}

/** Saves the `best` checkpoint: the model of the best epoch, its preprocessing and metrics. */
export async function saveBest(runDir: string, model: tfl.LayersModel, preprocessing: Preprocessing, metrics: EpochMetrics): Promise<void> {
  // The preprocessing travels with the weights: a run reused as a backbone, or exported, needs it.
  await saveModel(join(runDir, 'best'), model, { 'preprocessing.json': JSON.stringify(preprocessing), [META_FILE]: JSON.stringify(metrics) });
}

/**
 * Loads a LayersModel folder: a checkpoint written here, an imported backbone or a bundle (with its manifest's
 * files, so only listed weights with their checksums load). model-folder.ts checks the paths and sizes.
 */
export async function loadModel(dir: string, listed?: ListedFiles): Promise<tfl.LayersModel> {
  const { modelTopology, weightSpecs, weightData } = readModelFolder(dir, listed);
  return tfl.loadLayersModel(tf.io.fromMemory({ modelTopology, weightSpecs: weightSpecs as tf.io.WeightsManifestEntry[], weightData }));
}

interface OptimizerFile {
  names: string[];
  shapes: number[][];
  dtypes: string[];
  state: FitState;
}

/** Saves the `last` checkpoint: model, optimizer slots, fit state and the epoch's metrics, together. */
export async function saveLast(runDir: string, model: tfl.LayersModel, optimizer: OptimizerSlots, state: FitState, metrics: EpochMetrics): Promise<void> {
  const weights = await optimizer.getWeights();
  const arrays = await Promise.all(weights.map((w) => w.tensor.data()));
  const meta: OptimizerFile = {
    names: weights.map((w) => w.name),
    shapes: weights.map((w) => w.tensor.shape),
    dtypes: weights.map((w) => w.tensor.dtype),
    state,
  };
  const bin = Buffer.concat(arrays.map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength)));
  // getWeights() hands back new tensors for the iteration count; the slot variables stay with the optimizer.
  tf.dispose(weights.filter((w) => w.name === 'iter').map((w) => w.tensor));
  await saveModel(join(runDir, 'last'), model, { 'optimizer.json': JSON.stringify(meta), 'optimizer.bin': bin, [META_FILE]: JSON.stringify(metrics) });
}

export interface ResumePoint {
  model: tfl.LayersModel;
  state: FitState;
  optimizerWeights: { name: string; tensor: tf.Tensor }[];
}

/**
 * The `last` checkpoint, read and checked in full. Throws when it is missing or unreadable: resume must say so,
 * never quietly train from scratch.
 */
export async function readResumePoint(runDir: string): Promise<ResumePoint> {
  const dir = checkpointDir(runDir, 'last');
  const meta = readJsonFile(dir, 'optimizer.json', MAX_MODEL_JSON_BYTES) as OptimizerFile;
  if (!meta.state || !Number.isInteger(meta.state.epoch)) throw new Error('optimizer.json has no fit state');
  const bin = readBounded(join(dir, 'optimizer.bin'), MAX_WEIGHTS_BYTES, 'optimizer.bin');
  // A project folder may come from someone else: the slots must add up to the file before any tensor is made.
  const sizes = Array.isArray(meta.names) && Array.isArray(meta.shapes) && meta.shapes.length === meta.names.length
    ? meta.shapes.map((s) => (Array.isArray(s) && s.every((d) => Number.isInteger(d) && d >= 0) ? s.reduce((a, b) => a * b, 1) * 4 : NaN))
    : [NaN];
  if (sizes.reduce((a, b) => a + b, 0) !== bin.length) throw new Error(`${join(dir, 'optimizer.json')} does not describe optimizer.bin`);
  const model = await loadModel(dir);
  let offset = 0;
  const optimizerWeights = meta.names.map((name, i) => {
    const bytes = bin.subarray(offset, offset + sizes[i]!);
    offset += sizes[i]!;
    const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    const values = meta.dtypes[i] === 'int32' ? new Int32Array(ab) : new Float32Array(ab);
    return { name, tensor: tf.tensor(values, meta.shapes[i]!, meta.dtypes[i] as 'float32' | 'int32') };
  });
  return { model, state: meta.state, optimizerWeights };
}
