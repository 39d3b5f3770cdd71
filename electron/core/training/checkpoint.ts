/**
 * Checkpoints on disk, as TF.js LayersModel artifacts (model.json + weights.bin) so a run's model is directly
 * exportable. `best/` holds the weights of the best epoch; `last/` the latest epoch plus the optimizer and fit
 * state, for resume. Writes go to a temporary folder renamed into place, so a crash (or a full disk) mid-write
 * never replaces a good checkpoint with a broken one.
 */
import { mkdirSync, renameSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { FitState } from './fit.ts';

import { checkpointDir } from './checkpoint-paths.ts';
import { MAX_MODEL_JSON_BYTES, MAX_WEIGHTS_BYTES, readBounded, readJsonFile, readModelFolder, type ListedFiles } from './model-folder.ts';

export { checkpointDir, hasCheckpoint, type CheckpointKind } from './checkpoint-paths.ts';

export function writeAtomically(dir: string, files: Record<string, Buffer | string>): void {
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  for (const [name, body] of Object.entries(files)) writeFileSync(join(tmp, name), body);
  const old = `${dir}.old-${process.pid}`;
  if (existsSync(dir)) renameSync(dir, old);
  renameSync(tmp, dir);
  rmSync(old, { recursive: true, force: true });
}

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

export async function saveModel(dir: string, model: tfl.LayersModel, extra: Record<string, Buffer | string> = {}): Promise<void> {
  writeAtomically(dir, { ...(await modelFiles(model)), ...extra });
}

/**
 * Loads a LayersModel folder: a checkpoint written by saveModel, an imported backbone or a bundle (with its
 * manifest's files, so only listed weights with their checksums load). model-folder.ts checks the paths and sizes.
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

/** Saves the `last` checkpoint: model, optimizer slots and fit state, together. */
export async function saveLast(runDir: string, model: tfl.LayersModel, optimizer: tf.Optimizer, state: FitState): Promise<void> {
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
  await saveModel(checkpointDir(runDir, 'last'), model, { 'optimizer.json': JSON.stringify(meta), 'optimizer.bin': bin });
}

export function readLastState(runDir: string): { state: FitState; optimizerWeights: { name: string; tensor: tf.Tensor }[] } {
  const dir = checkpointDir(runDir, 'last');
  const meta = readJsonFile(dir, 'optimizer.json', MAX_MODEL_JSON_BYTES) as OptimizerFile;
  const bin = readBounded(join(dir, 'optimizer.bin'), MAX_WEIGHTS_BYTES, 'optimizer.bin');
  // A project folder may come from someone else: the slots must add up to the file before any tensor is made.
  const sizes = Array.isArray(meta.names) && Array.isArray(meta.shapes) && meta.shapes.length === meta.names.length
    ? meta.shapes.map((s) => (Array.isArray(s) && s.every((d) => Number.isInteger(d) && d >= 0) ? s.reduce((a, b) => a * b, 1) * 4 : NaN))
    : [NaN];
  if (sizes.reduce((a, b) => a + b, 0) !== bin.length) throw new Error(`${join(dir, 'optimizer.json')} does not describe optimizer.bin`);
  let offset = 0;
  const optimizerWeights = meta.names.map((name, i) => {
    const shape = meta.shapes[i]!;
    const n = shape.reduce((a, b) => a * b, 1);
    const bytes = bin.subarray(offset, offset + n * 4);
    offset += n * 4;
    const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    const values = meta.dtypes[i] === 'int32' ? new Int32Array(ab) : new Float32Array(ab);
    return { name, tensor: tf.tensor(values, shape, meta.dtypes[i] as 'float32' | 'int32') };
  });
  return { state: meta.state, optimizerWeights };
}
