/**
 * What a training step holds on the wasm backend, and how many images a pass may take so that it fits: a thread's
 * share of a batch beyond that goes through in parts, whose gradients add up to the share's (step.ts).
 *
 * The heap is wasm32's, at most 4 GB a thread; but tfjs's allocator is not reliable past 2 GB: with the heap at
 * 2.0 GB, a 256 MB allocation (Adam's slot for the custom CNN's dense layer at 512 px) trapped inside malloc, while a
 * 2.6 GB heap of allocations under 100 MB worked. Steps are planned within 2 GB.
 *
 * Measured (one step, every layer trainable, the heap's growth per image of a batch; bench/tmp probes), per image
 * over the layers' outputs: the compact ResNet 1.7–2.0× (64–224 px), the custom CNN 4.3–5.7× (128–256 px: its few
 * layers hide their convolutions' scratch), and at 224 px the backbones ResNet-18 2.8×, ResNet-50 2.1×,
 * MobileNetV2 3.6×, DenseNet-121 2.4×.
 */
import { totalmem } from 'node:os';
import type { TrainConfig } from '../../../shared/training.ts';
import type { LayerShapes } from './parallel/threads.ts';

/** What a thread's heap holds reliably (see above). */
const RELIABLE_HEAP_BYTES = 2 * 2 ** 30;
/** A step is planned within this much of it: the rest is for the allocator's fragments. */
const THREAD_BUDGET_BYTES = 1.75 * 2 ** 30;
/** All threads' steps together use at most this share of the machine's memory. */
const MEMORY_SHARE = 0.6;
/** The least measured per image over the layers' outputs (the ResNet's): one image beyond that surely does not fit. */
const LEAST_FACTOR = 1.7;
/**
 * Per byte of weights: the weights, a pass's gradients, their running sum and its next value (a step in parts), the
 * optimizer's two slots (Adam) and the update's temporaries.
 */
const WEIGHT_FACTOR = 7;

/** What a pass is planned to hold per image over its layers' outputs: above what was measured for the kind. */
export function passFactor(arch: TrainConfig['arch']): number {
  return arch === 'resnet' ? 2.2 : arch === 'backbone' ? 4 : 6;
}

/**
 * Bytes of every layer's float32 output for one image (nested models included): a lower bound on what a training
 * step holds per image.
 */
export function activationBytesPerImage(layers: readonly LayerShapes[]): number {
  let total = 0;
  for (const l of layers) {
    if (l.layers) total += activationBytesPerImage(l.layers);
    const shape = l.outputShape;
    // A layer with several outputs has a list of shapes.
    const shapes = (Array.isArray(shape) && Array.isArray(shape[0]) ? shape : [shape]) as unknown[];
    for (const s of shapes) if (Array.isArray(s)) total += 4 * (s as (number | null)[]).slice(1).reduce<number>((a, d) => a * (d ?? 1), 1);
  }
  return total;
}

/** A run's batch as its threads share it. */
export interface BatchShare {
  batchSize: number;
  imageSize: number;
  threads: number;
}

export interface StepPlan {
  /** Images per forward and backward pass in each thread; null when a thread's whole share fits in one. */
  imagesPerPass: number | null;
  /** Images of a batch on each thread. */
  share: number;
  /** What a thread's step is planned to hold (at the planned factor). */
  plannedBytes: number;
}

/** Images of a batch on each thread. */
function shareOf(b: BatchShare): number {
  return Math.ceil(b.batchSize / b.threads);
}

/** A batch refused for its memory; the message says what to lower. */
export class BatchTooLarge extends Error {}

/** The advice for a batch that outgrew a thread's heap. */
export function outOfMemory(b: BatchShare): string {
  const share = b.threads > 1 ? ` (${shareOf(b)} on each of ${b.threads} threads)` : '';
  return (
    `Out of memory: a batch of ${b.batchSize} images at ${b.imageSize} px${share} needs more than the 2 GB the training ` +
    'engine (WebAssembly) can use per thread. Lower the batch size or the image size.'
  );
}

/**
 * How a thread's share of each batch goes through a step on the wasm backend: whole when it fits in a thread's
 * budget at `factor` (passFactor), else in parts of as many images as do, or one at a time when a single image fits
 * only by the least measured factor. Throws BatchTooLarge when not even that fits (the weights' share, or one image).
 * The plan depends on the network, the batch, the threads and the machine's memory only: a run and its resume plan
 * alike.
 */
export function planStep(layers: readonly LayerShapes[], weightBytes: number, factor: number, b: BatchShare, machineBytes = totalmem()): StepPlan {
  const share = shareOf(b);
  const perImage = activationBytesPerImage(layers);
  const fixed = WEIGHT_FACTOR * weightBytes;
  const budget = Math.min(THREAD_BUDGET_BYTES, (MEMORY_SHARE * machineBytes) / b.threads);
  const fits = Math.floor((budget - fixed) / (factor * perImage));
  const plan = (imagesPerPass: number | null): StepPlan => ({ imagesPerPass, share, plannedBytes: fixed + factor * perImage * (imagesPerPass ?? share) });
  if (fits >= share) return plan(null);
  if (fits >= 1) return plan(fits);
  // One image at a time, when it fits by the least measured factor (the custom CNN at 512 px does not: its weights
  // and their state fill the budget, and it failed in Adam's update even so).
  if (fixed + LEAST_FACTOR * perImage <= budget) return plan(1);
  throw new BatchTooLarge(
    fixed > RELIABLE_HEAP_BYTES / 2
      ? `Out of memory: at ${b.imageSize} px this network has ${Math.round(weightBytes / 2 ** 20)} MB of weights; with their gradients and the optimizer's state they need more than the 2 GB the training engine (WebAssembly) can use per thread. Lower the image size.`
      : `Out of memory: one image at ${b.imageSize} px needs more than the 2 GB the training engine (WebAssembly) can use per thread in this network. Lower the image size.`,
  );
}

/** What a run's warnings say when its threads take their shares in parts; null when they take them whole. */
export function partsWarning(plan: StepPlan, threads: number): string | null {
  if (plan.imagesPerPass === null) return null;
  const parts = Math.ceil(plan.share / plan.imagesPerPass);
  return (
    `Each batch's ${plan.share} images${threads > 1 ? ' per thread' : ''} go through in ${parts} parts of up to ` +
    `${Math.ceil(plan.share / parts)} to fit in memory: the gradients add up to the whole batch's, but batch normalization sees each part alone`
  );
}

/**
 * When the heap runs out anyway (a network that holds more than planned), the engine aborts (Emscripten's
 * "Aborted()") or, when a tensor's size overflows 32 bits, traps on an access past the heap. Either is taken for
 * memory when the step was planned to fill at least half a thread's budget; on smaller steps it is a fault to report
 * as it is.
 */
const WASM_MEMORY_FAULT = /\bAborted\(\)|memory access out of bounds/;

/** Whether an error of a step planned as `plan` is the heap running out. */
export function isHeapExhausted(message: string, plan: StepPlan): boolean {
  return WASM_MEMORY_FAULT.test(message) && plan.plannedBytes >= THREAD_BUDGET_BYTES / 2;
}
