/**
 * `npm run bench:transfer` (issue 12): transfer learning from an imported torchvision ResNet-18 (random weights,
 * made by scripts/make-onnx-fixtures.py --full, imported with `loupe backbone import`) against PyTorch on the same
 * machine with one thread per core (bench/torch_transfer.py).
 *
 *   finetune   every layer trainable (a preset with unfreezeBlocks 100 and headEpochs 0), 224 px, batch 32, Adam:
 *              `loupe train <project> --preset … --json`, images/s of the epoch as the run reports it (first to last
 *              batch) vs PyTorch's resnet18 timed the same way.
 *   head       the head-only phase on cached features, the cache emptied before each round: the whole
 *              `loupe train` command (pressing Train → features of every image → 10 head epochs) vs the whole
 *              PyTorch process (load the images, compute the features, train the same Linear head 10 epochs).
 *   inference  the converted network (`convertGraph`, on the backend Loupe picks) vs onnxruntime-node on the same
 *              file, batch 32 of 224 px, in this process.
 * Rounds are interleaved (Loupe first, then PyTorch; then the other way round); ratios are medians of per-round
 * ratios (Loupe / PyTorch, as speeds: above 1 means Loupe is faster).
 *
 *   npm run bench:transfer -- [--rounds 5] [--finetune-images 96] [--head-images 2000] [--head-epochs 10] [--round-trips none] [--tiny]
 */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import * as tf from '@tensorflow/tfjs-core';
import { convertGraph } from '../electron/core/onnx-import/convert-graph.ts';
import { readOnnx } from '../electron/core/onnx-import/onnx-read.ts';
import { selectBackend } from '../electron/core/training/backend.ts';
import type { TrainConfigInput } from '../shared/training.ts';
import { registerWasmTrainingKernels } from '../electron/core/training/kernels/index.ts';
import { FASHION_MNIST_DIR } from '../tests/helpers/fashion-mnist.ts';
import { projectWithImages } from '../tests/helpers/image-project.ts';
import { fineTuneAndReexport, fullNetsDir, type FullNet } from '../tests/helpers/onnx-full.ts';
import { writeShapeImages } from '../tests/helpers/shape-images.ts';
import { loupe } from './loupe-cli.ts';
import { finetunePreset, transferConfig, transferProject, TRANSFER_BATCH, TRANSFER_NET } from './transfer-project.ts';
import { runTorch, torchAvailable } from './torch-side.ts';
import { benchTmp, interleave, median, MIN_ROUNDS, ratioOf, runBench, runFacts, TINY, writeResult } from './support.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string' },
    'finetune-images': { type: 'string' },
    'head-images': { type: 'string' },
    'head-epochs': { type: 'string' },
    'round-trips': { type: 'string' },
    tiny: { type: 'boolean', default: false },
  },
});
const ROUNDS = Number(values.rounds ?? (TINY ? 1 : MIN_ROUNDS));
const FT_IMAGES = Number(values['finetune-images'] ?? (TINY ? 32 : 96));
const HEAD_IMAGES = Number(values['head-images'] ?? (TINY ? 64 : 2000));
const HEAD_EPOCHS = Number(values['head-epochs'] ?? 10);
const BATCH = TRANSFER_BATCH;
const CORES = availableParallelism();
const NET = TRANSFER_NET;

const PRESETS: Record<'finetune' | 'head' | 'head-1-thread', TrainConfigInput> = {
  finetune: finetunePreset(CORES),
  head: { ...transferConfig(CORES), epochs: HEAD_EPOCHS, unfreezeBlocks: 0 },
  // Features on one thread, as before they were shared with the run's threads: the "before" of that speed-up.
  'head-1-thread': { ...transferConfig(CORES), epochs: HEAD_EPOCHS, unfreezeBlocks: 0, threads: 1 },
};

/** The other networks, whose fine-tune + ONNX re-export round trip tests/medium/onnx-full-nets.test.ts leaves to this bench. */
const ALL_ROUND_TRIPS: FullNet[] = ['resnet18', 'resnet34', 'resnet50', 'mobilenet_v2', 'mobilenet_v3_large', 'densenet121'];
/** `--round-trips none` leaves them out of a run that only wants the speed figures (they take minutes each). */
const ROUND_TRIPS: FullNet[] = values['round-trips'] === 'none' ? [] : TINY ? ['mobilenet_v3_small'] : ALL_ROUND_TRIPS;

const project = (work: string, name: string, images: number, onnx: string) => transferProject(work, name, images, onnx, PRESETS);

interface EpochLine {
  type: string;
  metrics: { imagesPerSecond: number; seconds: number; trainLoss: number };
}

async function loupeTrain(dir: string, preset: keyof typeof PRESETS) {
  const run = await loupe(['train', dir, '--preset', preset, '--json']);
  const summary = run.lines.at(-1) as { status: string; error: string | null };
  if (summary.status !== 'finished') throw new Error(`loupe train --preset ${preset} ${summary.status}: ${summary.error}`);
  const epochs = run.lines.filter((l) => l['type'] === 'epoch').map((l) => (l as unknown as EpochLine).metrics);
  return { run, epochs };
}

/** Empties the feature cache, so each head round computes every image's features as a first run does. */
function dropFeatureCache(dir: string): void {
  const tensors = join(dir, 'cache', 'tensors');
  for (const entry of existsSync(tensors) ? readdirSync(tensors) : []) if (entry.startsWith('features-')) rmSync(join(tensors, entry), { recursive: true, force: true });
}

interface FinetuneRound {
  imagesPerSecond: number;
  seconds: number;
  wallSeconds: number;
}

interface HeadRound {
  wallSeconds: number;
  /** PyTorch reports its feature pass; Loupe's is in its wall time (its run records epochs only). */
  featureSeconds: number | null;
  headSeconds: number;
}

async function benchFinetune(dir: string) {
  const rounds = await interleave<'loupe' | 'torch', FinetuneRound>(ROUNDS, {
    loupe: async () => {
      const { run, epochs } = await loupeTrain(dir, 'finetune');
      return { imagesPerSecond: +epochs[0]!.imagesPerSecond.toFixed(2), seconds: +epochs[0]!.seconds.toFixed(2), wallSeconds: +run.wallSeconds.toFixed(2) };
    },
    torch: async () => {
      const r = await runTorch('torch_transfer.py', ['finetune', '--data-dir', FASHION_MNIST_DIR, '--train', String(FT_IMAGES), '--epochs', '1', '--batch', String(BATCH)]);
      const e = r.lines.find((l) => 'epoch' in l)!;
      if (r.lines.at(-1)!['threads'] !== CORES) throw new Error(`PyTorch ran on ${String(r.lines.at(-1)!['threads'])} threads, not ${CORES}`);
      return { imagesPerSecond: +(Number(e['images']) / Number(e['seconds'])).toFixed(2), seconds: +Number(e['seconds']).toFixed(2), wallSeconds: +r.wallSeconds.toFixed(2) };
    },
  });
  const ips = (side: { imagesPerSecond: number }[]) => side.map((s) => s.imagesPerSecond);
  return { images: FT_IMAGES, rounds, median: { loupeImagesPerSecond: median(ips(rounds.loupe)), torchImagesPerSecond: median(ips(rounds.torch)) }, ratio: ratioOf(ips(rounds.loupe), ips(rounds.torch)), goal: 0.5 };
}

async function benchHead(dir: string) {
  const loupeHead = (preset: 'head' | 'head-1-thread') => async (): Promise<HeadRound> => {
    dropFeatureCache(dir);
    const { run, epochs } = await loupeTrain(dir, preset);
    if (epochs.length !== HEAD_EPOCHS) throw new Error(`the head run reported ${epochs.length} epochs, asked for ${HEAD_EPOCHS}`);
    const headSeconds = epochs.reduce((a, e) => a + e.seconds, 0);
    return { wallSeconds: +run.wallSeconds.toFixed(2), featureSeconds: null, headSeconds: +headSeconds.toFixed(2) };
  };
  const rounds = await interleave<'loupe' | 'torch' | 'loupeOneThread', HeadRound>(ROUNDS, {
    loupe: loupeHead('head'),
    torch: async () => {
      const r = await runTorch('torch_transfer.py', ['head', '--data-dir', FASHION_MNIST_DIR, '--train', String(HEAD_IMAGES), '--epochs', String(HEAD_EPOCHS), '--batch', String(BATCH)]);
      const e = r.lines.find((l) => 'featureSeconds' in l)!;
      return { wallSeconds: +r.wallSeconds.toFixed(2), featureSeconds: +Number(e['featureSeconds']).toFixed(2), headSeconds: +Number(e['headSeconds']).toFixed(2) };
    },
    loupeOneThread: loupeHead('head-1-thread'),
  });
  // Wall time as a speed, so the ratio reads like the others (above 1: Loupe finishes first).
  const speed = (side: { wallSeconds: number }[]) => side.map((s) => 1 / s.wallSeconds);
  const wall = (side: HeadRound[]) => median(side.map((s) => s.wallSeconds));
  return {
    images: HEAD_IMAGES,
    headEpochs: HEAD_EPOCHS,
    rounds,
    median: { loupeWallSeconds: wall(rounds.loupe), torchWallSeconds: wall(rounds.torch), loupeOneThreadWallSeconds: wall(rounds.loupeOneThread) },
    ratio: ratioOf(speed(rounds.loupe), speed(rounds.torch)),
    // Features computed on one thread, as before this bench's speed-up: the before/after of issue 12's profile.
    ratioOneThread: ratioOf(speed(rounds.loupeOneThread), speed(rounds.torch)),
    goal: 1,
  };
}

async function benchInference(onnx: string) {
  const bytes = new Uint8Array(readFileSync(onnx));
  const backend = await selectBackend();
  const converted = convertGraph(readOnnx(bytes));
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: CORES });
  const batches = TINY ? 1 : 3;
  const nchw = new Float32Array(BATCH * 3 * 224 * 224).map((_, i) => Math.sin(i) * 2);
  const nhwc = tf.tidy(() => tf.transpose(tf.tensor4d(nchw, [BATCH, 3, 224, 224]), [0, 2, 3, 1]));
  const input = new ort.Tensor('float32', nchw, [BATCH, 3, 224, 224]);
  const loupeOnce = async () => {
    const out = converted.model.predict(nhwc) as tf.Tensor;
    await out.data();
    out.dispose();
  };
  const ortOnce = async () => {
    await session.run({ [converted.inputName]: input });
  };
  // Warm-up: the first run of each compiles kernels and sizes buffers.
  await loupeOnce();
  await ortOnce();
  const timed = (once: () => Promise<void>) => async () => {
    const t0 = performance.now();
    for (let b = 0; b < batches; b++) await once();
    return +((batches * BATCH) / ((performance.now() - t0) / 1000)).toFixed(2);
  };
  const rounds = await interleave(ROUNDS, { loupe: timed(loupeOnce), onnxruntime: timed(ortOnce) });
  nhwc.dispose();
  converted.model.dispose();
  await session.release();
  return {
    backend: backend.chosen.detail,
    batch: BATCH,
    batchesPerRound: batches,
    onnxruntime: { intraOpNumThreads: CORES, graphOptimizationLevel: 'all (default)' },
    rounds,
    median: { loupeImagesPerSecond: median(rounds.loupe), onnxruntimeImagesPerSecond: median(rounds.onnxruntime) },
    ratio: ratioOf(rounds.loupe, rounds.onnxruntime),
  };
}

/**
 * Import → every layer fine-tuned one epoch on 16 small images → Loupe's ONNX export → onnxruntime, in this process
 * on wasm (the backend the inference part chose). Once per network: a check, not a timing.
 */
async function roundTrips(work: string, nets: string) {
  if (tf.getBackend() === 'wasm') registerWasmTrainingKernels();
  await writeShapeImages(join(work, 'shapes'), 8);
  const core = await projectWithImages(work, 'round-trips', join(work, 'shapes'));
  const out: Record<string, { ok: boolean; maxAbsDiff: number; maxRelDiff: number; firstConvChanged: boolean; unsaturated: boolean; trainLoss: number; seconds: number }> = {};
  try {
    for (const name of ROUND_TRIPS) {
      const t0 = performance.now();
      await core.dispatch('backbones:import', { path: join(nets, `${name}.onnx`), name, preprocess: 'imagenet' });
      const r = await fineTuneAndReexport(core, name, join(work, `bundle-${name}`));
      out[name] = { ok: r.firstConvChanged && r.unsaturated && r.maxAbsDiff <= 1e-4 && r.maxRelDiff <= 1e-3, maxAbsDiff: r.maxAbsDiff, maxRelDiff: r.maxRelDiff, firstConvChanged: r.firstConvChanged, unsaturated: r.unsaturated, trainLoss: +r.trainLoss.toFixed(4), seconds: +((performance.now() - t0) / 1000).toFixed(1) };
      console.error(`  round trip ${name}: ${out[name]!.ok ? 'ok' : 'FAILED'} (max abs difference ${r.maxAbsDiff.toExponential(2)})`);
    }
  } finally {
    await core.shutdown();
  }
  return out;
}

await runBench('transfer', async (loadAtStart) => {
  torchAvailable(['torch', 'torchvision']);
  const work = benchTmp(`transfer-${process.pid}`);
  try {
    const nets = fullNetsDir([NET, ...ROUND_TRIPS], benchTmp('onnx-full'));
    const onnx = join(nets, `${NET}.onnx`);
    const ftProject = await project(work, 'finetune', FT_IMAGES, onnx);
    const headProject = await project(work, 'head', HEAD_IMAGES, onnx);
    console.error(`bench:transfer: ${ROUNDS} round(s); fine-tune ${FT_IMAGES} images, head-only ${HEAD_IMAGES} images × ${HEAD_EPOCHS} epochs`);
    const finetune = await benchFinetune(ftProject);
    console.error(`  finetune: Loupe ${finetune.median.loupeImagesPerSecond} img/s, PyTorch ${finetune.median.torchImagesPerSecond} (${finetune.ratio.median}×)`);
    const head = await benchHead(headProject);
    console.error(`  head-only: Loupe ${head.median.loupeWallSeconds} s, PyTorch ${head.median.torchWallSeconds} s (${head.ratio.median}×)`);
    const inference = await benchInference(onnx);
    console.error(`  inference: Loupe ${inference.median.loupeImagesPerSecond} img/s, onnxruntime ${inference.median.onnxruntimeImagesPerSecond} (${inference.ratio.median}×)`);
    const trips = await roundTrips(work, nets);
    writeResult('transfer', {
      bench: 'transfer',
      ...runFacts(loadAtStart),
      network: `torchvision ${NET}, random weights (scripts/make-onnx-fixtures.py --full), 224 px, imported with loupe backbone import --preprocess imagenet`,
      data: { source: FASHION_MNIST_DIR, note: 'first N training images as PNGs, 28 px grey squash-resized to 224 and replicated to RGB on both sides' },
      presets: PRESETS,
      note: 'The machine is shared with other engineers\' work: see the load averages. ratio: median of per-round Loupe/PyTorch speed ratios (above 1: Loupe faster). finetune: images/s of the epoch, first to last batch, as each side reports it. head: whole-command wall time from spawn to exit, the feature cache emptied before each Loupe round. inference: batch 32, in one process, after one warm-up batch each.',
      finetune,
      head,
      inference,
      roundTrips: trips,
    });
    if (Object.values(trips).some((t) => !t.ok)) throw new Error('a round trip failed (see roundTrips in the result)');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
