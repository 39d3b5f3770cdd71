/** How many threads train a run: data-parallel on the CPU backends (see peers.ts). */
import { availableParallelism } from 'node:os';

/** Backends on which a training process runs one op at a time on one core: more threads add cores. */
const SINGLE_CORE_BACKENDS = new Set(['wasm', 'cpu']);

/**
 * With the automatic setting, threads are used only when they pay: each has its own tfjs and model to start
 * (~0.15 s from its bundle, ~0.6 s through tsx: prebuilt.mjs; the bar below was set when it took a second, and
 * has not been lowered since), and a shard below a few images spends its time in per-op overhead rather than
 * arithmetic.
 * The work is counted in multiply-adds, not images: 5,000 LeNet-5 images at 28 px (~0.4 M each) train in about
 * two seconds, while 300 images through the compact ResNet at 64 px (~100 M each) take a minute on one core.
 */
const AUTO_MIN_MULTIPLY_ADDS = 2e9;
const AUTO_MIN_SHARD = 8;

/** What trainingThreads weighs: the run's forward multiply-adds (images × epochs × per image) and its batch. */
export interface TrainingWork {
  multiplyAdds: number;
  batchSize: number;
}

/** A layer as far as its arithmetic and memory go: output shape and weights' shapes. */
export interface LayerShapes {
  readonly outputShape: unknown;
  /** A nested model (a backbone inside a transfer model) has layers of its own. */
  readonly layers?: readonly LayerShapes[];
  readonly weights: readonly { readonly shape: readonly (number | null)[] }[];
  getClassName(): string;
}

const WEIGHTED = new Set(['Conv2D', 'DepthwiseConv2D', 'Dense', 'SeparableConv2D']);

/**
 * Forward multiply-adds per image of a model's convolutions and dense layers: for each, its kernel's size times
 * the output's positions (every axis but batch and channels). That is exact for Conv2D, DepthwiseConv2D and Dense.
 */
export function multiplyAddsPerImage(layers: readonly LayerShapes[]): number {
  let total = 0;
  for (const l of layers) {
    if (l.layers) total += multiplyAddsPerImage(l.layers);
    if (!WEIGHTED.has(l.getClassName()) || !l.weights.length || !Array.isArray(l.outputShape)) continue;
    const out = l.outputShape as (number | null)[];
    const positions = out.slice(1, -1).reduce<number>((a, d) => a * (d ?? 1), 1);
    const kernel = l.weights[0]!.shape.reduce<number>((a, d) => a * (d ?? 1), 1);
    total += positions * kernel;
  }
  return total;
}

/**
 * How many threads (the fit loop's own included) train a run: the setting, or with 0 (automatic) one per core
 * when the run has enough arithmetic (`work`); 1 on a backend that already uses every core or a GPU (tfjs-node); never
 * more than the cores.
 */
export function trainingThreads(
  setting: number,
  backend: string,
  work: TrainingWork | null = null,
  cores = availableParallelism(),
): number {
  if (!SINGLE_CORE_BACKENDS.has(backend)) return 1;
  if (setting > 0) return Math.max(1, Math.min(setting, cores));
  if (work && (work.multiplyAdds < AUTO_MIN_MULTIPLY_ADDS || work.batchSize < AUTO_MIN_SHARD * 2)) return 1;
  return Math.max(1, cores);
}
