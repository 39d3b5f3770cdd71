// Data-parallel training (issue 13): gradient threads, each with its own tfjs wasm instance, share every batch
// with the fit loop's thread. Real threads, real wasm kernels, real images from the sample generator.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-backend-cpu';
import { registerWasmTrainingKernels } from '../../electron/core/training/kernels/index.ts';
import { runTraining } from '../../electron/core/training/trainer.ts';
import { addGradients, fit, flatGradients, type Batch, type BatchSource, type StepPhase } from '../../electron/core/training/fit.ts';
import { flatWeights, gradientTensors } from '../../electron/core/training/parallel/weights.ts';
import { buildModel } from '../../electron/core/training/models.ts';
import { ModelThreads } from '../../electron/core/training/parallel/peers.ts';
import { buildThreads } from '../../scripts/build-electron.js';
import { BatchPredictor, predictRows, predictRowsShared } from '../../electron/core/training/predict.ts';
import { multiplyAddsPerImage, trainingThreads } from '../../electron/core/training/parallel/threads.ts';
import { createRuns, rerun } from '../../electron/core/training/run-service.ts';
import { getRun, runDir } from '../../electron/core/training/runs.ts';
import { loadModel, checkpointDir } from '../../electron/core/training/checkpoint.ts';
import { trainConfigSchema, type ThreadMemory, type TrainConfig, type TrainConfigInput, type TrainingMemory } from '../../shared/training.ts';
import { seededRandom } from '../../shared/random.ts';
import type { Project } from '../../electron/core/project/project.ts';
import { openSampleProject } from '../helpers/small-project.ts';
import { randomSource, sgdOptions, TINY_CNN_RUN } from '../helpers/tiny-fit.ts';

let project: Project;

before(async () => {
  await tf.setBackend('wasm');
  registerWasmTrainingKernels();
  project = await openSampleProject(20, [0.75, 0.25, 0]);
});

const source = (n: number) => randomSource(n);
const sgd = sgdOptions;

async function trainTiny(threads: number, classWeights: number[] | null): Promise<Float32Array[]> {
  const config = trainConfigSchema.parse({ arch: 'lenet5', imageSize: 16, channels: 1, dropout: 0, seed: 11 });
  const model = buildModel(config, 3);
  const peers = threads > 1 ? await ModelThreads.start(threads - 1, 'wasm', model, 3, classWeights) : null;
  try {
    // 45 images in batches of 16: the last batch (13) is cut unevenly, and weight decay rides on one shard.
    const end = await fit(model, source(45), null, sgd({ epochs: 2, optimizer: { kind: 'sgd', lr: 0.01, momentum: 0.9, nesterov: false }, weightDecay: 0.01, classWeights, peers }));
    assert.equal(end.status, 'finished', end.message);
    return model.weights.map((w) => w.read().dataSync() as Float32Array);
  } finally {
    await peers?.close();
    model.dispose();
  }
}

function maxDiff(a: Float32Array[], b: Float32Array[]): number {
  let d = 0;
  a.forEach((w, i) => w.forEach((v, j) => (d = Math.max(d, Math.abs(v - b[i]![j]!)))));
  return d;
}

// The shards' gradients add up to the batch's to ~1e-9 (float32 sums in another order); a few SGD steps amplify
// that a little, so the weights after 6 steps agree to 1e-5.
test('two and three threads give the weights one thread gives, up to float32 summation order (1e-5)', async () => {
  for (const classWeights of [null, [0.5, 1, 2]]) {
    const one = await trainTiny(1, classWeights);
    const initial = buildModel(trainConfigSchema.parse({ arch: 'lenet5', imageSize: 16, channels: 1, dropout: 0, seed: 11 }), 3);
    const moved = maxDiff(one, initial.weights.map((w) => w.read().dataSync() as Float32Array));
    initial.dispose();
    assert.ok(moved > 1e-3, `training moved the weights (${moved})`);
    for (const threads of [2, 3]) {
      const d = maxDiff(one, await trainTiny(threads, classWeights));
      assert.ok(d < 1e-5, `${threads} threads, class weights ${classWeights}: max |Δw| ${d}`);
    }
  }
});

/** How many values of the replicas differ from the fit loop's model, bit for bit (NaN included). */
function replicaMismatches(model: tfl.LayersModel, replicas: Float32Array[]): number {
  const mine = flatWeights(model);
  let bad = 0;
  for (const r of replicas) {
    assert.equal(r.length, mine.length);
    r.forEach((v, j) => (bad += Object.is(v, mine[j]!) ? 0 : 1));
  }
  return bad;
}

// Every thread applies the same summed gradients with its own optimizer (protocol.ts): the replicas must stay the
// fit loop's model exactly, through momentum and Adam slots, a learning rate that changes, class weights, weight
// decay (one shard's), a last batch of one image that only the fit loop computes, and a resume that restores
// the optimizer's slots.
test("every thread's replica stays the fit loop's model, bit for bit, and a resumed fit restores the replicas' optimizers", async () => {
  const optimizers = [
    { kind: 'sgd', lr: 0.02, momentum: 0.9, nesterov: true },
    { kind: 'adam', lr: 0.003, beta1: 0.9, beta2: 0.999 },
  ] as const;
  for (const optimizer of optimizers) {
    const model = buildModel(trainConfigSchema.parse({ arch: 'lenet5', imageSize: 16, channels: 1, dropout: 0, seed: 4 }), 3);
    const peers = await ModelThreads.start(2, 'wasm', model, 3, [0.5, 1, 2]);
    const data = source(33);
    const options = { optimizer, schedule: { kind: 'step', everyEpochs: 1, gamma: 0.5 } as const, weightDecay: 0.01, classWeights: [0.5, 1, 2], peers };
    try {
      let saved: { name: string; tensor: tf.Tensor }[] = [];
      const first = await fit(model, data, null, sgd({ ...options, epochs: 1, onCheckpoint: async (opt) => void (saved = (await opt.getWeights()).map((w) => ({ name: w.name, tensor: tf.clone(w.tensor) }))) }));
      assert.equal(first.status, 'finished', first.message);
      assert.equal(replicaMismatches(model, await peers.replicaWeights()), 0, `${optimizer.kind}: after the first fit`);
      assert.ok(saved.length > 1, 'the optimizer has slots to restore');
      const second = await fit(model, data, null, sgd({ ...options, epochs: 3, resume: { state: first.state, optimizerWeights: saved } }));
      assert.equal(second.status, 'finished', second.message);
      assert.equal(replicaMismatches(model, await peers.replicaWeights()), 0, `${optimizer.kind}: after the resumed fit`);
    } finally {
      await peers.close();
      model.dispose();
    }
  }
});

// A stop between batches finds the next batch's shards already with the threads: the fit returns at once, the
// late answer is dropped instead of answering the next ask, and no update follows it.
test('a fit stopped with shards still out returns at once; the late answer is dropped and the replicas stay the model', async () => {
  const model = buildModel(trainConfigSchema.parse({ arch: 'lenet5', imageSize: 16, channels: 1, dropout: 0, seed: 6 }), 3);
  const peers = await ModelThreads.start(1, 'wasm', model, 3, null);
  const controller = new AbortController();
  try {
    const end = await fit(model, source(64), null, sgd({ peers, signal: controller.signal, onBatchEnd: (m) => m.batch === 1 && controller.abort() }));
    assert.equal(end.status, 'stopped');
    // The thread answers the stopped batch's shard first, then this ask.
    const replicas = await peers.replicaWeights();
    assert.ok(replicas[0] instanceof Float32Array, 'the answer to this ask, not the late gradients');
    assert.equal(replicaMismatches(model, replicas), 0);
  } finally {
    await peers.close();
    model.dispose();
  }
});

test('a thread from the bundle of these sources computes what a thread from the sources does, bit for bit', async () => {
  // Built here, inside the checkout so that it finds node_modules, not in dist/electron, which other test files'
  // threads may be loading.
  const outfile = join(process.cwd(), 'dist', 'test-threads', String(process.pid), 'gradient-thread.cjs');
  await buildThreads({ outfile, sourcemap: false });
  const model = buildModel(trainConfigSchema.parse({ arch: 'lenet5', imageSize: 16, channels: 1, dropout: 0, seed: 11 }), 3);
  const random = seededRandom(9);
  const shard = (n: number) => ({ xs: Float32Array.from({ length: n * 256 }, () => random() * 2 - 1), ys: Int32Array.from({ length: n }, (_, i) => i % 3), n });
  const shards = [shard(7)];
  const rows = shard(5);
  const weights = Float32Array.from(model.weights.flatMap((w) => [...(w.read().dataSync() as Float32Array)]));
  try {
    const results = [];
    for (const code of [{ bundle: outfile }, 'source'] as const) {
      const peers = await ModelThreads.start(1, 'wasm', model, 3, [0.5, 1, 2], code);
      try {
        const [probs] = await peers.predict([rows], [16, 16, 1]);
        peers.sync({ weights, trainable: model.weights.map((_, i) => i), layerTrainable: model.layers.map((l) => l.trainable), optimizer: { kind: 'sgd', lr: 0.01, momentum: 0.9, nesterov: false }, restore: null, imagesPerPass: null });
        const [step] = await peers.step({ shards, shape: [16, 16, 1], batchWeight: 7 });
        results.push({ probs: probs!, gradients: step!.gradients, loss: step!.loss });
      } finally {
        await peers.close();
      }
    }
    const [bundled, fromSource] = results;
    assert.equal(bundled!.probs.length, 5 * 3);
    assert.ok(bundled!.gradients.some((g) => g !== 0));
    assert.deepEqual(bundled, fromSource);
  } finally {
    model.dispose();
    rmSync(dirname(outfile), { recursive: true, force: true });
  }
});

test('with gradient threads, the next batch is made while they compute: before the step that waits on them ends', async () => {
  const model = buildModel(trainConfigSchema.parse({ arch: 'lenet5', imageSize: 16, channels: 1, dropout: 0, seed: 11 }), 3);
  const peers = await ModelThreads.start(1, 'wasm', model, 3, null);
  const events: string[] = [];
  const plain = source(48);
  const watched: BatchSource = {
    ...plain,
    *batches(epoch, batchSize) {
      let k = 0;
      for (const b of plain.batches(epoch, batchSize) as Iterable<Batch>) {
        events.push(`made ${++k}`);
        yield b;
      }
    },
  };
  const phases = new Map<StepPhase, number>();
  try {
    const end = await fit(model, watched, null, sgd({ peers, onBatchEnd: (m) => events.push(`ended ${m.batch}`), timing: (p, ms) => phases.set(p, (phases.get(p) ?? 0) + ms) }));
    assert.equal(end.status, 'finished', end.message);
  } finally {
    await peers.close();
    model.dispose();
  }
  assert.deepEqual(events, ['made 1', 'made 2', 'ended 1', 'made 3', 'ended 2', 'ended 3']);
  // The timing hook (bench/step-profile.ts) hears of every phase, on this thread and on the gradient thread.
  for (const p of ['prepare', 'send', 'own', 'wait', 'apply', 'yield', 'thread:apply', 'thread:compute', 'thread:copy'] as const) {
    assert.ok((phases.get(p) ?? -1) >= 0, `phase ${p} timed`);
  }
  assert.ok(phases.get('thread:compute')! > 0 && phases.get('own')! > 0);
});

test("the threads' gradients are added as tfjs's Add would, bit for bit, leaving this thread's tensors as they were", async () => {
  for (const backend of ['wasm', 'cpu']) {
    await tf.setBackend(backend);
    try {
      const random = seededRandom(5);
      const values = (n: number) => Float32Array.from({ length: n }, () => (random() - 0.5) * 10 ** Math.floor(random() * 8 - 4));
      const own = [tf.tensor(values(30), [5, 6]), tf.tensor(values(7), [7])];
      const ownBefore = own.map((t) => Float32Array.from(t.dataSync() as Float32Array));
      const theirs = [values(37), values(37)];
      const expected = own.map((g, i) => {
        const at = i === 0 ? 0 : 30;
        return tf.tidy(() => theirs.reduce((sum, t) => tf.add(sum, tf.tensor(t.subarray(at, at + g.size), g.shape)), g).dataSync() as Float32Array);
      });
      const flat = addGradients(flatGradients(own), theirs);
      const summed = gradientTensors(flat, own);
      summed.forEach((s, i) => {
        assert.deepEqual(s.shape, own[i]!.shape);
        assert.deepEqual(Array.from(s.dataSync()), Array.from(expected[i]!), `${backend}: variable ${i}`);
      });
      own.forEach((t, i) => assert.deepEqual(t.dataSync(), ownBefore[i], `${backend}: own gradient ${i} untouched`));
      const alone = addGradients(flatGradients(own), []);
      assert.deepEqual(Array.from(alone), [...ownBefore[0]!, ...ownBefore[1]!], 'one thread: its own gradients as they are');
      assert.throws(() => addGradients(flatGradients(own), [values(36)]), /do not match/);
      tf.dispose([...own, ...summed]);
    } finally {
      await tf.setBackend('wasm');
    }
  }
});

test('weight decay applies to every model a process builds, not only the first (tfjs renames later variables)', async () => {
  const firstLoss = async (weightDecay: number) => {
    const model = buildModel(trainConfigSchema.parse({ arch: 'lenet5', imageSize: 16, channels: 1, dropout: 0, seed: 11 }), 3);
    let loss = 0;
    await fit(model, source(16), null, sgd({ optimizer: { kind: 'sgd', lr: 0, momentum: 0, nesterov: false }, weightDecay, onBatchEnd: (m) => (loss = m.loss) }));
    model.dispose();
    return loss;
  };
  const plain = await firstLoss(0);
  // Built after several models in this process: its variables are named conv1/kernel_N.
  const decayed = await firstLoss(1);
  assert.ok(decayed - plain > 0.1, `L2 penalty in the loss: ${plain} → ${decayed}`);
});

test('the thread count follows the setting and the cores, and only CPU backends share batches', () => {
  const big = { multiplyAdds: 1e12, batchSize: 64 };
  assert.equal(trainingThreads(0, 'wasm', big, 2), 2);
  assert.equal(trainingThreads(0, 'wasm', big, 8), 8);
  assert.equal(trainingThreads(1, 'wasm', big, 8), 1);
  assert.equal(trainingThreads(3, 'cpu', big, 8), 3);
  assert.equal(trainingThreads(16, 'wasm', big, 4), 4, 'never more threads than cores');
  assert.equal(trainingThreads(0, 'tfjs-node', big, 8), 1);
  assert.equal(trainingThreads(0, 'tfjs-node-gpu', big, 8), 1);
  // Automatic: little arithmetic or tiny shards are not worth a thread's start; an explicit setting is honoured.
  assert.equal(trainingThreads(0, 'wasm', { multiplyAdds: 1e8, batchSize: 64 }, 2), 1);
  assert.equal(trainingThreads(0, 'wasm', { multiplyAdds: 1e12, batchSize: 8 }, 2), 1);
  assert.equal(trainingThreads(2, 'wasm', { multiplyAdds: 1e8, batchSize: 8 }, 2), 2);
});

test('the automatic thread count weighs a run by its multiply-adds, not its image count', () => {
  // conv 4@3×3 'same' on 8×8×3, then dense 10 on the 256 flattened values: 8·8·(3·3·3·4) + 256·10.
  const input = tfl.input({ shape: [8, 8, 3] });
  const conv = tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same' }).apply(input) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 10 }).apply(tfl.layers.flatten().apply(conv)) as tfl.SymbolicTensor;
  const small = tfl.model({ inputs: input, outputs: out });
  assert.equal(multiplyAddsPerImage(small.layers), 8 * 8 * 108 + 256 * 10);
  // A model nested as a layer (a backbone in a transfer model) counts too.
  const outer = tfl.input({ shape: [8, 8, 3] });
  const nested = tfl.model({ inputs: outer, outputs: small.apply(outer) as tfl.SymbolicTensor });
  assert.equal(multiplyAddsPerImage(nested.layers), 8 * 8 * 108 + 256 * 10);
  small.dispose();

  const perImage = (c: Partial<TrainConfig>) => {
    const m = buildModel(trainConfigSchema.parse({ seed: 1, channels: 1, ...c }), 10);
    const n = multiplyAddsPerImage(m.layers);
    m.dispose();
    return n;
  };
  const lenet = perImage({ arch: 'lenet5', imageSize: 28 });
  const resnet = perImage({ arch: 'resnet', width: 16, depth: 2, imageSize: 64 });
  assert.ok(resnet > 100 * lenet, `resnet 64 px ${resnet} vs LeNet 28 px ${lenet} multiply-adds per image`);
  // 300 images, one epoch, batch 64: not worth a thread for LeNet, worth one for the ResNet.
  assert.equal(trainingThreads(0, 'wasm', { multiplyAdds: 300 * lenet, batchSize: 64 }, 2), 1);
  assert.equal(trainingThreads(0, 'wasm', { multiplyAdds: 300 * resnet, batchSize: 64 }, 2), 2);
});

test('a gradient thread that goes away fails the step with the reason', async () => {
  const config = trainConfigSchema.parse({ arch: 'lenet5', imageSize: 16, channels: 1, dropout: 0, seed: 1 });
  const model = buildModel(config, 3);
  const peers = await ModelThreads.start(1, 'wasm', model, 3, null);
  let batches = 0;
  await assert.rejects(
    fit(
      model,
      source(64),
      null,
      sgd({
        epochs: 2,
        peers,
        onBatchEnd: () => {
          if (++batches === 2) void peers.close();
        },
      }),
    ),
    /gradient thread/,
  );
  assert.equal(batches, 2);
  model.dispose();
});

test("a NaN in a gradient thread's shard stops the fit as a NaN in the fit loop's own does, before any checkpoint", async () => {
  // A dense softmax model carries a NaN input to the loss (wasm's ReLU would turn it into 0). Of a batch of 8 on two
  // threads the fit loop takes images 0–3 and the thread 4–7: the NaN is in image 5.
  const model = tfl.sequential({ layers: [tfl.layers.flatten({ inputShape: [4, 4, 1] }), tfl.layers.dense({ units: 2, activation: 'softmax' })] });
  const peers = await ModelThreads.start(1, 'wasm', model, 2, null);
  const xs = new Float32Array(8 * 16).fill(0.5);
  xs[5 * 16 + 3] = NaN;
  const nanSource: BatchSource = { size: 8, shape: [4, 4, 1], *batches() { yield { xs, ys: new Int32Array(8), n: 8 }; } };
  let checkpoints = 0;
  try {
    const end = await fit(model, nanSource, null, sgd({ epochs: 3, batchSize: 8, numClasses: 2, peers, onCheckpoint: async () => void checkpoints++ }));
    assert.equal(end.status, 'nan');
    assert.match(end.message, /loss became NaN at epoch 1, batch 1/);
    assert.equal(checkpoints, 0);
  } finally {
    await peers.close();
    model.dispose();
  }
});

const runConfig: TrainConfigInput = { ...TINY_CNN_RUN, threads: 2 };

test('a run on 2 threads says so, and stop + resume gives the weights of an uninterrupted run', async () => {
  const [whole] = createRuns(project, { config: runConfig }, 'test');
  const statuses: string[] = [];
  const r = await runTraining(project, whole!.id, { mode: 'start', backend: 'wasm', events: { status: (m) => statuses.push(m) } });
  assert.equal(r.status, 'finished', r.message);
  assert.ok(statuses.includes('Training on 2 threads'), statuses.join(' | '));

  const split = rerun(project, whole!.id, 'test');
  const controller = new AbortController();
  const first = await runTraining(project, split.id, { mode: 'start', backend: 'wasm', signal: controller.signal, events: { epoch: (m) => m.epoch === 0 && controller.abort() } });
  assert.equal(first.status, 'stopped');
  const second = await runTraining(project, split.id, { mode: 'resume', backend: 'wasm' });
  assert.equal(second.status, 'finished', second.message);
  const a = await loadModel(checkpointDir(runDir(project, whole!.id), 'last'));
  const b = await loadModel(checkpointDir(runDir(project, split.id), 'last'));
  const d = maxDiff(a.weights.map((w) => w.read().dataSync() as Float32Array), b.weights.map((w) => w.read().dataSync() as Float32Array));
  assert.equal(d, 0, 'identical weights for the same seed and thread count');
  a.dispose();
  b.dispose();
});

test('a gradient thread that dies mid-run fails the run with the reason; resume finishes it with the weights of an uninterrupted run', async () => {
  const [whole] = createRuns(project, { config: runConfig }, 'test');
  assert.equal((await runTraining(project, whole!.id, { mode: 'start', backend: 'wasm' })).status, 'finished');

  const broken = rerun(project, whole!.id, 'test');
  let secondEpoch = false;
  const step = ModelThreads.prototype.step;
  // The thread dies as a crash takes it (its worker ends) before the second epoch's first step, with no word to the
  // fit loop: only the worker's exit tells. The step is asked once the exit is known, so the run fails in that step.
  ModelThreads.prototype.step = async function (this: ModelThreads, s) {
    if (secondEpoch) {
      secondEpoch = false;
      await (this as unknown as { peers: { worker: { terminate(): Promise<number> } }[] }).peers[0]!.worker.terminate();
    }
    return step.call(this, s);
  };
  let failed;
  try {
    failed = await runTraining(project, broken.id, { mode: 'start', backend: 'wasm', events: { epoch: (m) => (secondEpoch = m.epoch === 0) } });
  } finally {
    ModelThreads.prototype.step = step;
  }
  assert.equal(failed.status, 'failed');
  assert.match(failed.message, /gradient thread exited/);
  const info = getRun(project.db, broken.id);
  assert.equal(info.status, 'failed');
  assert.equal(info.error, failed.message);
  assert.equal(info.epochsDone, 1, 'the first epoch is kept');

  const resumed = await runTraining(project, broken.id, { mode: 'resume', backend: 'wasm' });
  assert.equal(resumed.status, 'finished', resumed.message);
  const a = await loadModel(checkpointDir(runDir(project, whole!.id), 'last'));
  const b = await loadModel(checkpointDir(runDir(project, broken.id), 'last'));
  assert.equal(maxDiff(a.weights.map((w) => w.read().dataSync() as Float32Array), b.weights.map((w) => w.read().dataSync() as Float32Array)), 0);
  a.dispose();
  b.dispose();
});

test('memory stays flat across epochs in every thread: tensors, their bytes and the wasm heap', async () => {
  // Augmentation, validation and Adam's slots all run each epoch; six epochs give the heaps time to show a leak.
  const [run] = createRuns(project, { config: { ...runConfig, epochs: 6 } }, 'test');
  const seen: TrainingMemory[] = [];
  const r = await runTraining(project, run!.id, { mode: 'start', backend: 'wasm', events: { epoch: (_m, _improved, memory) => seen.push(memory) } });
  assert.equal(r.status, 'finished', r.message);
  assert.equal(seen.length, 6);
  for (const m of seen) assert.equal(m.threads.length, 2, 'the fit loop and one gradient thread');
  for (let t = 0; t < 2; t++) {
    const per = seen.map((m) => m.threads[t]!);
    const at = (k: keyof ThreadMemory) => per.map((p) => p[k]).join(', ');
    assert.equal(new Set(per.map((p) => p.tensors)).size, 1, `thread ${t}: tensors per epoch ${at('tensors')}`);
    assert.equal(new Set(per.map((p) => p.tensorBytes)).size, 1, `thread ${t}: tensor bytes per epoch ${at('tensorBytes')}`);
    // The heap may grow while the first epoch finds its working set, never after.
    assert.ok(per.every((p) => p.wasmHeapBytes !== null && p.wasmHeapBytes > 0), `thread ${t}: a wasm heap`);
    assert.equal(new Set(per.slice(1).map((p) => p.wasmHeapBytes)).size, 1, `thread ${t}: wasm heap per epoch ${at('wasmHeapBytes')}`);
  }
});

test('cancel stops a 2-thread run within a second', async () => {
  const [run] = createRuns(project, { config: { ...runConfig, epochs: 50 } }, 'test');
  const controller = new AbortController();
  let abortedAt = 0;
  const result = await runTraining(project, run!.id, {
    mode: 'start',
    backend: 'wasm',
    signal: controller.signal,
    events: {
      batch: (m) => {
        if (m.epoch === 1 && !abortedAt) {
          abortedAt = performance.now();
          controller.abort();
        }
      },
    },
  });
  const took = performance.now() - abortedAt;
  assert.equal(result.status, 'stopped');
  assert.ok(took < 1000, `stopped ${took.toFixed(0)} ms after cancel`);
  assert.equal(getRun(project.db, run!.id).status, 'stopped');
});

/** A 4-class CNN on 16 px grey images, and `n` random preprocessed rows for it. */
function inferenceCase(seed: number, n: number) {
  const config = trainConfigSchema.parse({ arch: 'cnn', imageSize: 16, channels: 1, dropout: 0, seed });
  const p = { imageSize: 16, channels: 1 as const, resize: 'squash' as const, normalization: { mean: [0.5], std: [0.25] }, sixteenBit: 'own-range' as const };
  const random = seededRandom(seed + 4);
  return { model: buildModel(config, 4), p, rows: Uint8Array.from({ length: n * 256 }, () => Math.floor(random() * 256)) };
}

/** Threads run the same kernels on the same weights: the probabilities agree to float32 rounding. */
function assertSameProbabilities(got: Float32Array, want: Float32Array): void {
  let d = 0;
  got.forEach((v, i) => (d = Math.max(d, Math.abs(v - want[i]!))));
  assert.ok(d < 1e-6, `max |Δp| ${d}`);
}

test('inference shared with threads gives the probabilities of one thread', async () => {
  const n = 37;
  const { model, p, rows } = inferenceCase(5, n);
  const alone = predictRows(model, rows, n, p);
  const threads = await ModelThreads.start(2, 'wasm', model, 4, null);
  try {
    const shared = await predictRowsShared(model, threads, rows, n, p, 4);
    assert.equal(shared.length, n * 4);
    assertSameProbabilities(shared, alone);
  } finally {
    await threads.close();
    model.dispose();
  }
});

test('a BatchPredictor brings inference threads in once a warm batch shows the work left is worth it, with one thread\'s probabilities', async () => {
  const n = 29;
  const { model, p, rows } = inferenceCase(6, n);
  const alone = predictRows(model, rows, n, p);
  const cores = trainingThreads(0, 'wasm');
  // Nothing left after the batch: never worth a thread, whatever the threshold.
  const last = new BatchPredictor(model, p, 4, 0);
  await last.predict(rows, n, 0);
  assert.equal(await last.whenStarted(), false);
  await last.close();
  // Work left and no threshold: the first batch (cold kernels) decides nothing; the second says "worth it", the
  // third confirms, and threads start (where the machine has more than one core) and share the next batch.
  const predictor = new BatchPredictor(model, p, 4, 0);
  try {
    const first = await predictor.predict(rows, n, 3 * n);
    assert.equal(await predictor.whenStarted(), false, 'the first batch is not timed');
    const second = await predictor.predict(rows, n, 2 * n);
    assert.equal(await predictor.whenStarted(), false, 'one warm batch is not enough to start threads');
    const third = await predictor.predict(rows, n, n);
    assert.equal(await predictor.whenStarted(), cores > 1);
    const fourth = await predictor.predict(rows, n, 0);
    for (const got of [first, second, third, fourth]) assertSameProbabilities(got, alone);
  } finally {
    await predictor.close();
    model.dispose();
  }
});

/** A clock under which the k-th predicted slice (from 0) takes `ms[k]` milliseconds. */
function scriptedClock(ms: number[]): () => number {
  let now = 0;
  let reads = 0;
  // BatchPredictor reads the clock twice per slice: before and after it.
  return () => (reads++ % 2 === 0 ? now : (now += ms[Math.floor((reads - 1) / 2)] ?? 1));
}

test('one slow slice (a garbage collection, a compile) does not start inference threads: the faster of two warm slices decides', { skip: trainingThreads(0, 'wasm') < 2 && 'one core' }, async () => {
  const n = 29;
  const { model, p, rows } = inferenceCase(9, n);
  const alone = predictRows(model, rows, n, p);
  const worthMs = 1000;
  // Warm slices of 29 images, 300 left after each: 1 ms a slice is ~10 ms of work left, far below 1 s; a 10 s
  // slice says "worth it" on its own.
  const spiked = new BatchPredictor(model, p, 4, worthMs, scriptedClock([5, 10_000, 1]));
  const slow = new BatchPredictor(model, p, 4, worthMs, scriptedClock([5, 10_000, 9_000]));
  try {
    for (let b = 0; b < 4; b++) assertSameProbabilities(await spiked.predict(rows, n, 300), alone);
    assert.equal(await spiked.whenStarted(), false, 'the spike was not confirmed by the next slice');
    // Both warm slices slow: the work left is worth threads, and they start after the second one.
    assertSameProbabilities(await slow.predict(rows, n, 300), alone);
    assertSameProbabilities(await slow.predict(rows, n, 300), alone);
    assert.equal(await slow.whenStarted(), false);
    assertSameProbabilities(await slow.predict(rows, n, 300), alone);
    assert.equal(await slow.whenStarted(), true);
    assertSameProbabilities(await slow.predict(rows, n, 0), alone);
  } finally {
    // Threads left open would keep the test process alive after a failed assertion.
    await spiked.close();
    await slow.close();
    model.dispose();
  }
});

test('a large first batch is timed slice by slice: threads start within it and take its rest, with the same probabilities', { skip: trainingThreads(0, 'wasm') < 2 && 'one core' }, async () => {
  // Before, whole batches were timed: a compact ResNet's first two batches of 256 ran on one core of two.
  const n = 300;
  const { model, p, rows } = inferenceCase(8, n);
  const alone = predictRows(model, rows, n, p);
  const predictor = new BatchPredictor(model, p, 4, 0);
  try {
    // Threads start after the second slice (32 images): their start has begun before the first batch returns.
    assertSameProbabilities(await predictor.predict(rows, n, n), alone);
    assert.equal(await predictor.whenStarted(), true, 'started during the first batch, not after a second one');
    assertSameProbabilities(await predictor.predict(rows, n, 0), alone);
    assert.equal(predictor.sharing, true);
  } finally {
    await predictor.close();
    model.dispose();
  }
});

test('inference threads join a caller that awaits nothing else between batches (an evaluation on cached rows)', { skip: trainingThreads(0, 'wasm') < 2 && 'one core' }, async () => {
  const n = 29;
  const { model, p, rows } = inferenceCase(7, n);
  const alone = predictRows(model, rows, n, p);
  const predictor = new BatchPredictor(model, p, 4, 0);
  try {
    // Each batch is synchronous work on this thread; before threads could start in between, they never came up
    // until the loop ended.
    let batches = 0;
    while (!predictor.sharing && batches < 2_000) {
      assertSameProbabilities(await predictor.predict(rows, n, 1_000_000), alone);
      batches += 1;
    }
    assert.equal(predictor.sharing, true, `threads still not up after ${batches} batches`);
    assertSameProbabilities(await predictor.predict(rows, n, 0), alone);
  } finally {
    await predictor.close();
    model.dispose();
  }
});
