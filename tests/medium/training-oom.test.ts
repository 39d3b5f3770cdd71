// A batch too large for the wasm backend's heap (wasm32 stops at 4 GB a thread) ends the run with what to change,
// not Emscripten's "Aborted()" or a trap. Real runs on the sample generator's images. Its own file: a wasm backend
// that ran out of heap cannot train again in this process, so the test that exhausts it comes last.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels } from '../../electron/core/training/kernels/index.ts';
import { LoupeCore } from '../../electron/core/api/loupe-core.ts';
import { writeSampleImages } from '../../electron/core/sample/sample-project.ts';
import { runTraining } from '../../electron/core/training/trainer.ts';
import { createRuns } from '../../electron/core/training/run-service.ts';
import { getRun } from '../../electron/core/training/runs.ts';
import type { Project } from '../../electron/core/project/project.ts';
import { tempDir } from '../helpers/tmp.ts';

let project: Project;

before(async () => {
  await tf.setBackend('wasm');
  registerWasmTrainingKernels();
  const dir = tempDir();
  await writeSampleImages(join(dir, 'images'), { perClass: 30, signal: new AbortController().signal, progress: () => {} });
  const core = new LoupeCore({ face: 'cli', configDir: join(dir, 'config') });
  project = core.openProject(join(dir, 'project'), { create: true });
  const { jobId } = await core.dispatch('import:start', { folders: [join(dir, 'images')], labels: 'folders' });
  assert.equal((await core.jobs.wait(jobId)).state, 'succeeded');
  await core.dispatch('splits:assign', { ratios: [0.8, 0.2, 0], seed: 1 });
});

const expected = (batch: number, size: number, share: string) =>
  `Out of memory: a batch of ${batch} images at ${size} px${share} needs more than the 4 GB the training engine (WebAssembly) can hold per thread. Lower the batch size or the image size.`;

test("a batch whose layers' outputs alone outgrow the heap is refused before its first step", async () => {
  // The compact ResNet at 224 px: ~89 MB of layer outputs an image, 32 on each of 2 threads.
  const [run] = createRuns(project, { config: { arch: 'resnet', imageSize: 224, channels: 1, batchSize: 64, epochs: 1, threads: 2, augment: {} } }, 'test');
  const steps: number[] = [];
  const t0 = performance.now();
  const result = await runTraining(project, run!.id, { mode: 'start', backend: 'wasm', events: { batch: (m) => steps.push(m.batch) } });
  assert.equal(result.status, 'failed');
  // 2 threads where there are 2 cores; on one core its one thread holds all 64 images.
  assert.equal(result.message, expected(64, 224, availableParallelism() > 1 ? ' (32 on each of 2 threads)' : ''));
  assert.deepEqual(steps, [], 'no step ran');
  assert.ok(performance.now() - t0 < 30_000);
  assert.equal(getRun(project.db, run!.id).error, result.message);
});

test('a batch that outgrows the heap while it trains fails the run with the same advice', async () => {
  // The custom CNN at 512 px, 64 images on one thread: ~2 GB of layer outputs, under the refusal's bound, but its
  // first convolution's 2 GB output and scratch overflow the 4 GB heap.
  const [run] = createRuns(project, { config: { arch: 'cnn', imageSize: 512, channels: 1, batchSize: 64, epochs: 1, threads: 1, augment: {}, dropout: 0 } }, 'test');
  const result = await runTraining(project, run!.id, { mode: 'start', backend: 'wasm' });
  assert.equal(result.status, 'failed');
  assert.equal(result.message, expected(64, 512, ''));
  assert.equal(getRun(project.db, run!.id).error, result.message);
});
