// Batches larger than the wasm backend's heap holds (2 GB a thread reliably: step-memory.ts) train in parts that fit
// (step-memory.ts), where they used to end in Emscripten's "Aborted()" or an out-of-bounds trap. Real runs on the
// sample generator's images, at the image sizes that failed.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels } from '../../electron/core/training/kernels/index.ts';
import { runTraining } from '../../electron/core/training/trainer.ts';
import { createRuns } from '../../electron/core/training/run-service.ts';
import { addWarnings, getRun } from '../../electron/core/training/runs.ts';
import { trainConfigSchema, type TrainingMemory } from '../../shared/training.ts';
import { buildModel } from '../../electron/core/training/models.ts';
import { shardGradients } from '../../electron/core/training/step.ts';
import { seededRandom } from '../../shared/random.ts';
import type { Project } from '../../electron/core/project/project.ts';
import { openSampleProject } from '../helpers/small-project.ts';

let project: Project;

before(async () => {
  await tf.setBackend('wasm');
  registerWasmTrainingKernels();
  project = await openSampleProject(30, [0.8, 0.2, 0]);
});

test("a shard in parts gives the whole shard's gradients, loss, hits and mass (weight decay counted once)", async () => {
  const model = buildModel(trainConfigSchema.parse({ arch: 'lenet5', imageSize: 16, channels: 1, dropout: 0, seed: 3 }), 3);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const random = seededRandom(5);
  const n = 10;
  const shard = { xs: Float32Array.from({ length: n * 256 }, () => random() - 0.5), ys: Int32Array.from({ length: n }, (_, i) => i % 3), n };
  const classWeights = tf.tensor1d([0.5, 1, 2]);
  const kernels = vars.filter((v) => v.shape.length > 1);
  const context = { model, vars, shape: [16, 16, 1] as const, numClasses: 3, classWeights, decay: { vars: kernels, weightDecay: 0.01 } };
  const whole = await shardGradients(context, shard, 13);
  // 10 images in parts of at most 4: 4, 3 and 3.
  const parts = await shardGradients({ ...context, imagesPerPass: 4 }, shard, 13);
  let d = 0;
  let scale = 0;
  whole.grads.forEach((g, i) => {
    const a = g.dataSync();
    const b = parts.grads[i]!.dataSync();
    a.forEach((v, j) => ((d = Math.max(d, Math.abs(v - b[j]!))), (scale = Math.max(scale, Math.abs(v)))));
  });
  assert.ok(d <= 1e-6 * scale, `max |Δ| ${d} of ${scale}`);
  assert.ok(Math.abs(whole.loss - parts.loss) < 1e-6, `loss ${whole.loss} vs ${parts.loss}`);
  assert.equal(parts.hits, whole.hits);
  assert.ok(Math.abs(whole.mass - parts.mass) < 1e-4);
  tf.dispose([...whole.grads, ...parts.grads, classWeights]);
  model.dispose();
});

/** Trains `config` for one epoch; the run's memory after it and its warnings. */
async function trainOnce(config: Record<string, unknown>) {
  const [run] = createRuns(project, { config: { epochs: 1, augment: {}, dropout: 0, channels: 1, ...config } }, 'test');
  let memory: TrainingMemory | null = null;
  const result = await runTraining(project, run!.id, { mode: 'start', backend: 'wasm', events: { epoch: (_m, _i, m) => (memory = m) } });
  assert.equal(result.status, 'finished', result.message);
  return { memory: memory as TrainingMemory | null, warnings: getRun(project.db, run!.id).warnings };
}

function assertUnderHeapLimit(memory: TrainingMemory | null, threads: number): void {
  assert.equal(memory?.threads.length, threads);
  for (const t of memory!.threads) assert.ok(t.wasmHeapBytes! <= 2 * 2 ** 30, `a wasm heap of ${(t.wasmHeapBytes! / 2 ** 30).toFixed(2)} GiB`);
}

test('the compact ResNet at 224 px with batches of 64 on every core trains, each thread taking its share in parts', async () => {
  // ~89 MB of layer outputs an image: 32 images a thread (~5 GB) aborted the engine.
  const threads = Math.min(2, availableParallelism());
  const { memory, warnings } = await trainOnce({ arch: 'resnet', imageSize: 224, batchSize: 64, threads });
  assert.ok(warnings.some((w) => /^Each batch's \d+ images( per thread)? go through in \d+ parts of up to \d+ to fit in memory/.test(w)), warnings.join(' | '));
  assertUnderHeapLimit(memory, threads);
});

test('the custom CNN at 512 px is refused before its first step: its weights and their state fill a thread\'s heap', async () => {
  // Its dense layer holds 256 MB at 512 px; with gradients and Adam's slots that failed even one image at a time.
  const [run] = createRuns(project, { config: { arch: 'cnn', imageSize: 512, channels: 1, batchSize: 64, epochs: 1, threads: 1, augment: {}, dropout: 0 } }, 'test');
  const steps: number[] = [];
  const result = await runTraining(project, run!.id, { mode: 'start', backend: 'wasm', events: { batch: (m) => steps.push(m.batch) } });
  assert.equal(result.status, 'failed');
  assert.equal(
    result.message,
    'Out of memory: at 512 px this network has 256 MB of weights; with their gradients and the optimizer\'s state they need more than the 2 GB the training engine (WebAssembly) can use per thread. Lower the image size.',
  );
  assert.deepEqual(steps, [], 'no step ran');
  assert.equal(getRun(project.db, run!.id).error, result.message);
});

test("a run's warnings are not repeated when a resume finds the same things again", () => {
  const [run] = createRuns(project, { config: { arch: 'lenet5', imageSize: 32, epochs: 1 } }, 'test');
  const parts = "Each batch's 32 images per thread go through in 4 parts of up to 8 to fit in memory";
  addWarnings(project.db, run!.id, [parts]);
  addWarnings(project.db, run!.id, [parts, 'Skipped a.png: truncated']);
  assert.deepEqual(getRun(project.db, run!.id).warnings, [parts, 'Skipped a.png: truncated']);
});
