// A LoupeCore on a new project with a folder of labeled images imported (ImageFolder layout), and the train-then-
// evaluate step the transfer tests compare: real import, real training (wasm, in this process), real evaluation.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { LoupeCore } from '../../electron/core/api/loupe-core.ts';
import { writeShapeImages } from './shape-images.ts';
import { createRuns } from '../../electron/core/training/run-service.ts';
import { runTraining } from '../../electron/core/training/trainer.ts';
import { runEvaluation } from '../../electron/core/evaluation/evaluate.ts';
import type { TrainConfigInput } from '../../shared/training.ts';

export async function projectWithImages(root: string, name: string, images: string): Promise<LoupeCore> {
  const core = new LoupeCore({ face: 'cli', configDir: join(root, 'config') });
  core.openProject(join(root, name), { create: true });
  const { jobId } = await core.dispatch('import:start', { folders: [images], labels: 'folders' });
  assert.equal((await core.jobs.wait(jobId)).state, 'succeeded');
  return core;
}

/**
 * A project of `images` shape images (two classes) split 67/33/0, with the ONNX fixture `onnxFile` imported as
 * backbone `name`: the set-up of the feature-cache tests.
 */
export async function projectWithOnnxBackbone(root: string, images: number, onnxFile: string, name: string): Promise<LoupeCore> {
  await writeShapeImages(join(root, 'images'), images / 2);
  const core = await projectWithImages(root, 'project', join(root, 'images'));
  await core.dispatch('splits:assign', { ratios: [0.67, 0.33, 0], seed: 1 });
  await core.dispatch('backbones:import', { path: onnxFile, name, preprocess: 'imagenet' });
  return core;
}

/** Trains a run of `config` to the end and returns its accuracy on the val split. */
export async function valAccuracy(core: LoupeCore, config: TrainConfigInput): Promise<number> {
  const [run] = createRuns(core.requireProject(), { config }, 'test');
  const r = await runTraining(core.requireProject(), run!.id, { mode: 'start', backend: 'wasm' });
  assert.equal(r.status, 'finished', r.message);
  const { evaluationId } = await runEvaluation(core.requireProject(), { runId: run!.id, split: 'val' });
  return (await core.dispatch('evaluations:get', { evaluationId })).metrics!.accuracy;
}
