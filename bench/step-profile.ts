/**
 * `npm run bench:step-profile`: where a LeNet-5 training step's time goes, on the product's fit loop.
 *
 * 1. Kernels: one thread, tf.profile around the step's own function (step.ts: forward, loss, backward) and the
 *    optimizer's update, per tfjs kernel: calls and milliseconds per step. What the kernels do not account for is
 *    tfjs's per-op work in JavaScript (tape, tensor bookkeeping, argument checks).
 * 2. Phases: the fit loop itself (fit.ts, the function `loupe train` runs) on a tensor cache of Fashion-MNIST rows,
 *    with its gradient threads, timed per phase on the fit loop's thread and on the threads (fit's `timing` hook).
 *
 * Recipes: `lenet` (bench:train's: batch 64, SGD momentum, 1 channel, no augmentation), `defaults` (the one-click
 * defaults on Fashion-MNIST: batch 32, Adam, dropout 0.25, crop/rotation/brightness augmentation) and `resnet`
 * (bench:train's: the compact ResNet on Fashion-MNIST resized to 64 px by sharp, batch 64, Adam).
 *
 *   npm run bench:step-profile -- [--recipe lenet|defaults|resnet|all] [--steps 60] [--threads N] [--tiny]
 *
 * Prints tables; writes bench/results/step-profile.json (a temp folder with --tiny).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import sharp from 'sharp';
import { trainConfigSchema, type TrainConfig } from '../shared/training.ts';
import { selectBackend } from '../electron/core/training/backend.ts';
import { CachedSource, datasetNormalization, type DatasetItem } from '../electron/core/training/dataset.ts';
import { fit, type StepPhase } from '../electron/core/training/fit.ts';
import { makeOptimizer } from '../electron/core/training/optimizer.ts';
import { buildModel } from '../electron/core/training/models.ts';
import { ModelThreads } from '../electron/core/training/parallel/peers.ts';
import { trainingThreads } from '../electron/core/training/parallel/threads.ts';
import { shardGradients } from '../electron/core/training/step.ts';
import { TensorCache } from '../electron/core/training/tensor-cache.ts';
import { loadFashionMnist } from '../tests/helpers/fashion-mnist.ts';
import { keptParts, resultPath, runBench, runFacts, TINY, writeResult } from './support.ts';

const { values } = parseArgs({
  options: {
    recipe: { type: 'string', default: 'all' },
    steps: { type: 'string' },
    threads: { type: 'string' },
    tiny: { type: 'boolean', default: false },
  },
});
const STEPS = Number(values.steps ?? (TINY ? 4 : 60));
const WARMUP = TINY ? 1 : 5;

const RECIPES: Record<string, Partial<TrainConfig> & { description: string }> = {
  lenet: {
    description: "bench:train's lenet recipe: batch 64, SGD lr 0.01 momentum 0.9, 1 channel, no dropout, no augmentation",
    batchSize: 64,
    dropout: 0,
    optimizer: { kind: 'sgd', lr: 0.01, momentum: 0.9, nesterov: false },
  },
  defaults: {
    description: 'the one-click defaults on Fashion-MNIST (training:suggest): batch 32, Adam, dropout 0.25, crop 0.85 / rotation 10° / brightness 0.1',
    batchSize: 32,
    optimizer: { kind: 'adam', lr: 0.001, beta1: 0.9, beta2: 0.999 },
    augment: { cropScale: 0.85, hflip: false, vflip: false, rotation: 10, brightness: 0.1, contrast: 0 },
  },
  resnet: {
    description: "bench:train's resnet recipe: the compact ResNet (width 16, depth 2), 64 px grey, batch 64, Adam lr 0.001, no augmentation",
    arch: 'resnet',
    // --tiny only checks that the bench runs: 32 px keeps the test that does it short.
    imageSize: TINY ? 32 : 64,
    width: 16,
    depth: 2,
    batchSize: 64,
    optimizer: { kind: 'adam', lr: 0.001, beta1: 0.9, beta2: 0.999 },
  },
};

const round = (ms: number) => Math.round(ms * 1000) / 1000;

function configOf(name: string): TrainConfig {
  const { description: _, ...rest } = RECIPES[name]!;
  return trainConfigSchema.parse({ arch: 'lenet5', imageSize: 28, channels: 1, seed: 1, ...rest });
}

/** Fashion-MNIST rows, resized by sharp to `size` px, in a tensor cache of their own: what a run reads its batches from. */
async function fashionCache(dir: string, count: number, size: number): Promise<{ cache: TensorCache; items: DatasetItem[] }> {
  const data = loadFashionMnist('train');
  const cache = new TensorCache(dir, { imageSize: size, channels: 1, resize: 'squash' });
  const items: DatasetItem[] = [];
  for (let i = 0; i < count; i++) {
    const sha256 = i.toString(16).padStart(64, '0');
    const row = data.images.subarray(i * 784, (i + 1) * 784);
    const resized = size === 28 ? row : await sharp(Buffer.from(row), { raw: { width: 28, height: 28, channels: 1 } }).resize(size, size, { fit: 'fill' }).extractChannel(0).raw().toBuffer();
    cache.put(sha256, resized);
    items.push({ imageId: i + 1, sha256, classIndex: data.labels[i]!, split: 'train' });
  }
  return { cache, items };
}

interface KernelTimes {
  /** Exclusive milliseconds and calls per kernel: a kernel that runs others (Loupe's gradient kernels run
   * forward convolutions, a fused matmul runs its kernel) is charged only for its own part. */
  byKernel: Map<string, { ms: number; calls: number }>;
  total: number;
}

function shapesOf(inputs: unknown): string {
  return Object.values(inputs as Record<string, { shape: number[] } | null>)
    .map((t) => (t ? t.shape.join('×') : '-'))
    .join(' ');
}

/**
 * Times every kernel call exclusively while tf.profile runs: wraps the engine's profiler (tf.profile's own list
 * times nested kernels twice, inside their caller and on their own).
 */
function kernelClock(): { times: KernelTimes; stop: () => void } {
  const profiler = (tf.engine() as unknown as { profiler: { profileKernel: (name: string, inputs: unknown, f: () => tf.Tensor[]) => unknown } }).profiler;
  const original = profiler.profileKernel.bind(profiler);
  const times: KernelTimes = { byKernel: new Map(), total: 0 };
  const children: number[] = [];
  profiler.profileKernel = (name, inputs, f) => {
    children.push(0);
    const t0 = performance.now();
    const out = original(name, inputs, f);
    const ms = performance.now() - t0;
    const own = ms - children.pop()!;
    if (children.length) children[children.length - 1]! += ms;
    // Convolutions by their shapes: the same kernel runs the forward pass and both gradients.
    const key = name.startsWith('Conv') ? `${name} ${shapesOf(inputs)}` : name;
    const e = times.byKernel.get(key) ?? { ms: 0, calls: 0 };
    e.ms += own;
    e.calls++;
    times.byKernel.set(key, e);
    times.total += own;
    return out;
  };
  return { times, stop: () => void (profiler.profileKernel = original) };
}

/** Per-kernel milliseconds and calls per step, one thread, whole batch: the step function and the optimizer. */
async function kernels(config: TrainConfig, source: CachedSource) {
  const model = buildModel(config, 10);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const optimizer = makeOptimizer(config.optimizer);
  const context = { model, vars, shape: source.shape, numClasses: 10, classWeights: null, decay: null };
  const batches = [...source.batches(0, config.batchSize)];
  const step = async (s: number) => {
    const b = batches[s % batches.length]!;
    const r = await shardGradients(context, b, b.n);
    tf.tidy(() => optimizer.applyGradients(vars.map((v, i) => ({ name: v.name, tensor: r.grads[i]! }))));
    tf.dispose(r.grads);
  };
  for (let s = 0; s < WARMUP; s++) await step(s);
  // Unprofiled first: profiling adds its own work to every kernel call.
  const t0 = performance.now();
  for (let s = 0; s < STEPS; s++) await step(s);
  const wall = performance.now() - t0;
  const clock = kernelClock();
  const t1 = performance.now();
  try {
    for (let s = 0; s < STEPS; s++) await tf.profile(() => step(s));
  } finally {
    clock.stop();
  }
  const profiledWall = performance.now() - t1;
  optimizer.dispose();
  model.dispose();
  const rows = [...clock.times.byKernel.entries()]
    .map(([name, e]) => ({ kernel: name, msPerStep: round(e.ms / STEPS), callsPerStep: e.calls / STEPS }))
    .sort((a, b) => b.msPerStep - a.msPerStep);
  return {
    batch: config.batchSize,
    msPerStep: round(wall / STEPS),
    profiledMsPerStep: round(profiledWall / STEPS),
    kernelMsPerStep: round(clock.times.total / STEPS),
    outsideKernelsMsPerStep: round((profiledWall - clock.times.total) / STEPS),
    kernelCallsPerStep: rows.reduce((a, r) => a + r.callsPerStep, 0),
    kernels: rows,
  };
}

/** The fit loop's phases with its gradient threads, per step, over STEPS steps after a warm-up. */
async function phases(config: TrainConfig, source: CachedSource, threads: number, backend: string) {
  const model = buildModel(config, 10);
  const peers = threads > 1 ? await ModelThreads.start(threads - 1, backend, model, 10, null) : null;
  const totals = new Map<StepPhase, number>();
  let steps = 0;
  const perEpoch = Math.ceil(source.size / config.batchSize);
  const epochs = Math.ceil((WARMUP + STEPS) / perEpoch);
  let wall = 0;
  let t0 = 0;
  try {
    await fit(model, source, null, {
      epochs,
      batchSize: config.batchSize,
      optimizer: config.optimizer,
      schedule: { kind: 'constant' },
      earlyStopping: null,
      weightDecay: 0,
      classWeights: null,
      numClasses: 10,
      peers,
      timing: (phase, ms) => {
        if (steps >= WARMUP && steps < WARMUP + STEPS) totals.set(phase, (totals.get(phase) ?? 0) + ms);
      },
      onBatchEnd: () => {
        steps++;
        if (steps === WARMUP) t0 = performance.now();
        if (steps === WARMUP + STEPS) wall = performance.now() - t0;
      },
    });
  } finally {
    await peers?.close();
    model.dispose();
  }
  const perStep = (p: StepPhase) => round((totals.get(p) ?? 0) / STEPS);
  const mainPhases: StepPhase[] = ['prepare', 'send', 'own', 'wait', 'apply', 'yield'];
  const threadPhases: StepPhase[] = ['thread:apply', 'thread:compute', 'thread:copy'];
  const msPerStep = round(wall / STEPS);
  return {
    threads,
    batch: config.batchSize,
    msPerStep,
    imagesPerSecond: Math.round((config.batchSize * 1000) / (wall / STEPS)),
    fitLoopThread: Object.fromEntries(mainPhases.map((p) => [p, perStep(p)])),
    // Every gradient thread's figures added up, per step; divided by the thread count for one thread's share.
    gradientThreads: Object.fromEntries(threadPhases.map((p) => [p.slice('thread:'.length), round(perStep(p) / Math.max(threads - 1, 1))])),
  };
}

function printKernels(name: string, k: Awaited<ReturnType<typeof kernels>>): void {
  console.log(`\n${name}: one thread, batch ${k.batch}: ${k.msPerStep} ms/step (${k.profiledMsPerStep} profiled: ${k.kernelMsPerStep} in ${k.kernelCallsPerStep} kernel calls, ${k.outsideKernelsMsPerStep} outside kernels)`);
  console.log(`${'kernel'.padEnd(44)}  ms/step  calls/step`);
  for (const r of k.kernels) console.log(`${r.kernel.padEnd(44)} ${r.msPerStep.toFixed(3).padStart(8)}  ${String(r.callsPerStep).padStart(10)}`);
}

function printPhases(name: string, p: Awaited<ReturnType<typeof phases>>): void {
  console.log(`\n${name}: fit loop on ${p.threads} thread(s), batch ${p.batch}: ${p.msPerStep} ms/step, ${p.imagesPerSecond} img/s`);
  console.log('fit loop thread   ' + Object.entries(p.fitLoopThread).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(' | '));
  if (p.threads > 1) console.log('gradient thread   ' + Object.entries(p.gradientThreads).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(' | '));
}

await runBench('step-profile', async (loadAtStart) => {
  const names = values.recipe === 'all' ? Object.keys(RECIPES) : [values.recipe!];
  for (const n of names) if (!RECIPES[n]) throw new Error(`--recipe takes ${Object.keys(RECIPES).join(', ')} or all; got "${n}"`);
  const report = await selectBackend();
  const backend = report.chosen.name;
  const threads = trainingThreads(Number(values.threads ?? 0), backend);
  const results: Record<string, unknown> = TINY ? {} : keptParts(resultPath('step-profile'), 'recipes', names);
  for (const name of names) {
    const config = configOf(name);
    const work = mkdtempSync(join(tmpdir(), 'loupe-step-profile-'));
    try {
      const { cache, items } = await fashionCache(work, TINY ? 256 : config.imageSize === 28 ? 6400 : 1280, config.imageSize);
      try {
        const norm = datasetNormalization(cache, items, 1);
        const source = new CachedSource(cache, items, config, norm, { shuffle: true, seed: 1, augment: config.augment });
        const k = await kernels(config, source);
        printKernels(name, k);
        const single = await phases(config, source, 1, backend);
        printPhases(name, single);
        const parallel = threads > 1 ? await phases(config, source, threads, backend) : null;
        if (parallel) printPhases(name, parallel);
        results[name] = { description: RECIPES[name]!.description, kernels: k, phases: parallel ? [single, parallel] : [single] };
      } finally {
        cache.close();
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }
  writeResult('step-profile', {
    bench: 'step-profile',
    ...runFacts(loadAtStart),
    backend: report.chosen.detail,
    steps: STEPS,
    note: 'kernels: tf.profile per kernel (wall time of each kernel call on wasm), one thread, the whole batch; outsideKernels: the step minus its kernels (tfjs bookkeeping in JavaScript, gradient tape). phases: fit.ts timed on its own thread (prepare = reading and augmenting the batch, send = posting shards, own = this thread\'s shard, wait = for the gradient threads, apply = adding gradients, sending the sum to the threads and the optimizer update, yield = progress and the event loop) and on each gradient thread (apply = its replica\'s optimizer update with the previous step\'s sum, compute = its shard, copy = gradients out).',
    recipes: results,
  });
});
