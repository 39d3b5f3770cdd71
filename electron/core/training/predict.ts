/**
 * Runs a trained model over images of the project, in the training process: images go through the same tensor
 * cache and preprocessing as in training (the run's stored size, channels, resize mode and normalization), and
 * come out as class probabilities in the run's class order.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { LoupeError } from '../../../shared/contract.ts';
import type { Preprocessing, RunInfo } from '../../../shared/training.ts';
import type { Project } from '../project/project.ts';
import { normalizeInto } from './augment.ts';
import { checkpointDir, hasCheckpoint, loadModel } from './checkpoint.ts';
import { fillCache, type DatasetItem } from './dataset.ts';
import { inputShapeOf } from '../images/model-input.ts';
import { runDir } from './runs.ts';
import { TensorCache } from './tensor-cache.ts';
import type { InputShape } from '../images/model-input.ts';
import { ModelThreads, threadsStartFast } from './parallel/peers.ts';
import { trainingThreads } from './parallel/threads.ts';
import { cut } from './step.ts';
import { evaluate, yieldToEvents, type BatchSource, type FitOptions } from './fit.ts';
import { inferenceForward } from './inference-graph.ts';
import { AGREEMENT, maxDifference, openOnnxPredictor, type OnnxPredictor } from './onnx-predict.ts';
import { describeCpuSessions } from './ort-session.ts';
import type { FeatureEngine } from './onnx-features.ts';

export const PREDICT_BATCH = 256;

export interface Predictions {
  imageIds: number[];
  /** imageIds.length × classes, row-major. */
  probs: Float32Array;
  classes: number;
  dropped: { path: string; reason: string }[];
  /** Why the faster engine did not predict, when it did not. */
  notes: string[];
}

/** Loads a run's best model, with clear errors when it is missing or broken. */
export async function loadRunModel(project: Project, run: RunInfo): Promise<tfl.LayersModel> {
  const dir = checkpointDir(runDir(project, run.id), 'best');
  if (!hasCheckpoint(runDir(project, run.id), 'best') || !run.preprocessing) {
    throw new LoupeError('NOT_FOUND', `Run ${run.id} has no trained model yet (status: ${run.status})`);
  }
  try {
    return await loadModel(dir);
  } catch (e) {
    throw new LoupeError('BAD_INPUT', `The model files of run ${run.id} are missing or corrupt (${dir}): ${(e as Error).message}`);
  }
}

/**
 * Inference threads pay off only when the work left outlasts their start by enough: a tfjs instance and the model
 * each, ~0.15 s from the prebuilt bundle and ~0.6 s through tsx (prebuilt.mjs), plus a warm-up batch. Twice that
 * makes the work ~25% shorter; below it the gain is within the noise of a loaded machine.
 */
const threadsWorthMs = (): number => (threadsStartFast() ? 400 : 1500);
/**
 * Rows per slice while the first images tell whether threads pay (BatchPredictor.probe) and while they start
 * (BatchPredictor.whileStarting).
 */
const SLICE = 32;

function normalizedRows(rows: Uint8Array, n: number, p: Preprocessing): Float32Array {
  const per = p.imageSize * p.imageSize * p.channels;
  const xs = new Float32Array(n * per);
  for (let i = 0; i < n; i++) normalizeInto(rows.subarray(i * per, (i + 1) * per), xs, i * per, p.channels, p.normalization);
  return xs;
}

function predictNormalized(model: tfl.LayersModel, xs: Float32Array, n: number, shape: readonly [number, number, number]): Float32Array {
  return tf.tidy(() => {
    const out = inferenceForward(model)(tf.tensor4d(xs, [n, ...shape]));
    return out.dataSync() as Float32Array;
  });
}

const shapeOf = (p: Preprocessing): [number, number, number] => [p.imageSize, p.imageSize, p.channels];

/** Probabilities for a batch of already-preprocessed uint8 rows. */
export function predictRows(model: tfl.LayersModel, rows: Uint8Array, n: number, p: Preprocessing): Float32Array {
  return predictNormalized(model, normalizedRows(rows, n, p), n, shapeOf(p));
}

/**
 * The outputs (`width` per image) of a batch of normalized images, shared between this thread and inference
 * threads started with the same model.
 */
export async function predictShared(model: tfl.LayersModel, peers: ModelThreads, xs: Float32Array, n: number, shape: readonly [number, number, number], width: number): Promise<Float32Array> {
  const per = shape[0] * shape[1] * shape[2];
  const [own, ...rest] = cut(n, 1 + peers.size);
  const theirs = peers.predict(
    rest.map((r) => ({ xs: xs.subarray(r.start * per, (r.start + r.n) * per), n: r.n })),
    shape,
  );
  // Awaited below, after this thread's own shard; a thread's failure meanwhile is not "unhandled".
  theirs.catch(() => {});
  const out = new Float32Array(n * width);
  out.set(predictNormalized(model, xs.subarray(0, own!.n * per), own!.n, shape));
  (await theirs).forEach((values, i) => out.set(values, rest[i]!.start * width));
  return out;
}

/** Probabilities for a batch of preprocessed uint8 rows, shared with inference threads. */
export function predictRowsShared(model: tfl.LayersModel, peers: ModelThreads, rows: Uint8Array, n: number, p: Preprocessing, classes: number): Promise<Float32Array> {
  return predictShared(model, peers, normalizedRows(rows, n, p), n, shapeOf(p), classes);
}

/** Predicts batch after batch: what evaluations, model-assisted labeling and `loupe predict` use. Close it when done. */
export interface Predictor {
  /** Probabilities of `n` preprocessed rows; `left` is how many images remain after them. */
  predict(rows: Uint8Array, n: number, left: number): Promise<Float32Array>;
  /** Which engine predicts ("onnxruntime on 2 threads", "TF.js on wasm"). */
  readonly engine: string;
  /** Why the faster engine was not used, when it was not: for the evaluation's notes. */
  readonly notes: readonly string[];
  close(): Promise<void>;
}

/** The backends on which onnxruntime's native CPU kernels beat TF.js; tfjs-node and its GPU build keep TF.js. */
const ONNX_BACKENDS = new Set(['wasm', 'cpu']);
/** Images of the first batch also run through TF.js, whose probabilities onnxruntime's must match. */
const CHECK_IMAGES = 4;

/** Why predictions stay on TF.js here whatever the model ('' when that needs no reason), or null. */
function tfjsOnly(backend: string): string | null {
  if (process.env['LOUPE_INFERENCE'] === 'tfjs') return 'LOUPE_INFERENCE=tfjs';
  return ONNX_BACKENDS.has(backend) ? null : '';
}

/** Which engine predicts on this machine, and why not onnxruntime when not (`loupe doctor`, the Train view). */
export async function predictionEngine(): Promise<string> {
  const backend = tf.getBackend();
  const why = tfjsOnly(backend);
  if (why !== null) return `TF.js on ${backend}${why ? ` (${why})` : ''}`;
  try {
    return await describeCpuSessions();
  } catch (e) {
    return `TF.js on ${backend} (onnxruntime cannot load here: ${firstLine(e)})`;
  }
}

/**
 * The predictor for `model` on this machine: onnxruntime on every core when TF.js runs on a CPU backend (unless
 * LOUPE_INFERENCE=tfjs), TF.js otherwise, or when onnxruntime cannot take the model (with the reason in notes).
 */
export async function openPredictor(
  model: tfl.LayersModel,
  p: Preprocessing,
  classes: number,
  /** Tests put a faulty engine here, to see that TF.js takes over. */
  openOnnx: typeof openOnnxPredictor = openOnnxPredictor,
): Promise<Predictor> {
  const backend = tf.getBackend();
  if (tfjsOnly(backend) !== null) return new BatchPredictor(model, p, classes);
  try {
    return new CheckedOnnxPredictor(await openChecked(openOnnx, model, shapeOf(p), classes), model, p, classes);
  } catch (e) {
    const tfjs = new BatchPredictor(model, p, classes);
    tfjs.notes.push(`onnxruntime could not take this model (${firstLine(e)}); TF.js on ${backend} predicted instead`);
    return tfjs;
  }
}

/** onnxruntime's outputs for a first batch that TF.js's do not match on its first images. */
class Disagreement extends Error {}

/**
 * `model` converted and opened on onnxruntime by `open`, its first batch checked against TF.js on its first images
 * before anything trusts it: predictions, validation and features all open it this way. A disagreement throws, as a
 * failed run does.
 */
async function openChecked(open: typeof openOnnxPredictor, model: tfl.LayersModel, shape: readonly [number, number, number], width: number): Promise<OnnxPredictor> {
  const onnx = await open(model, shape, width);
  let checked = false;
  return {
    ...onnx,
    async run(xs, n) {
      const outputs = await onnx.run(xs, n);
      if (!checked) {
        const m = Math.min(n, CHECK_IMAGES);
        const d = maxDifference(outputs.subarray(0, m * width), predictNormalized(model, xs.subarray(0, m * shape[0] * shape[1] * shape[2]), m, shape));
        if (!(d <= AGREEMENT)) throw new Disagreement(`onnxruntime's outputs differed from TF.js's by up to ${d.toPrecision(2)}`);
        checked = true;
      }
      return outputs;
    },
  };
}

/** Why onnxruntime stopped being used, from what its checked run threw. */
function whyOnnxStopped(e: unknown): string {
  return e instanceof Disagreement ? e.message : `onnxruntime failed (${firstLine(e)})`;
}

/**
 * A model's outputs on onnxruntime as feature-cache.ts computes a frozen backbone's features: the TF.js model
 * converted, and onnxruntime's first batch checked against TF.js on its first images (a disagreement throws, and
 * the caller computes on TF.js). Null where predictions stay on TF.js (tfjsOnly).
 */
export async function openConvertedFeatures(model: tfl.LayersModel, shape: readonly [number, number, number], width: number): Promise<FeatureEngine | null> {
  if (tfjsOnly(tf.getBackend()) !== null) return null;
  const onnx = await openChecked(openOnnxPredictor, model, shape, width);
  return { batchSize: Math.min(PREDICT_BATCH, onnx.imagesPerRun), label: onnx.label, run: onnx.run, close: onnx.close };
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0]!.slice(0, 300);
}

/**
 * onnxruntime, checked against TF.js on the first batch's first images; on a disagreement there, or a failure at
 * any batch, the rest goes to TF.js (BatchPredictor): a conversion bug that shows on those images costs speed, not
 * correct numbers. The same converter writes bundles' model.onnx, which tests check on every architecture.
 */
class CheckedOnnxPredictor implements Predictor {
  private fallback: BatchPredictor | null = null;

  constructor(
    private readonly onnx: OnnxPredictor,
    private readonly model: tfl.LayersModel,
    private readonly p: Preprocessing,
    private readonly classes: number,
  ) {}

  get engine(): string {
    return this.fallback?.engine ?? this.onnx.label;
  }

  get notes(): readonly string[] {
    return this.fallback?.notes ?? [];
  }

  async predict(rows: Uint8Array, n: number, left: number): Promise<Float32Array> {
    if (this.fallback) return this.fallback.predict(rows, n, left);
    const xs = normalizedRows(rows, n, this.p);
    try {
      return await this.onnx.run(xs, n);
    } catch (e) {
      return this.fallBack(whyOnnxStopped(e), rows, n, left);
    }
  }

  private async fallBack(why: string, rows: Uint8Array, n: number, left: number): Promise<Float32Array> {
    await this.onnx.close().catch(() => {});
    this.fallback = new BatchPredictor(this.model, this.p, this.classes);
    this.fallback.notes.push(`${why}; TF.js on ${tf.getBackend()} predicted instead`);
    return this.fallback.predict(rows, n, left);
  }

  async close(): Promise<void> {
    if (this.fallback) await this.fallback.close();
    else await this.onnx.close();
  }
}

/**
 * An epoch's validation (fit's `validate`) on onnxruntime, on every core; fit's own `evaluate` runs it on TF.js on
 * one thread, while the gradient threads wait. The model changes each epoch, so it is converted each epoch (a few
 * ms for Loupe's networks) and checked against TF.js on the first images, as predictions are. onnxruntime's
 * results are deterministic and do not depend on the batch, so runs stay reproducible. The first failure or
 * disagreement, or a model it cannot take, sends this and every later epoch to TF.js, and `warn` says why once.
 */
export function onnxValidation(
  numClasses: number,
  batchSize: number,
  warn: (message: string) => void,
  /** Tests put a faulty engine here, to see that TF.js takes over. */
  openOnnx: typeof openOnnxPredictor = openOnnxPredictor,
): NonNullable<FitOptions['validate']> {
  let tfjsFrom: string | null = null;
  const onTfjs = (model: tfl.LayersModel, source: BatchSource, why?: string) => {
    if (why !== undefined && tfjsFrom === null) {
      tfjsFrom = why;
      warn(`Validation runs on TF.js: ${why}`);
    }
    return evaluate(model, source, batchSize, numClasses);
  };
  return async (model, source) => {
    if (tfjsFrom !== null || tfjsOnly(tf.getBackend()) !== null) return onTfjs(model, source);
    let engine: OnnxPredictor;
    try {
      engine = await openChecked(openOnnx, model, source.shape, numClasses);
    } catch (e) {
      return onTfjs(model, source, `onnxruntime could not take this model (${firstLine(e)})`);
    }
    try {
      let lossSum = 0;
      let correct = 0;
      let n = 0;
      for await (const b of source.batches(0, PREDICT_BATCH)) {
        let probs: Float32Array;
        try {
          probs = await engine.run(b.xs, b.n);
        } catch (e) {
          return onTfjs(model, source, whyOnnxStopped(e));
        }
        for (let i = 0; i < b.n; i++) {
          const row = probs.subarray(i * numClasses, (i + 1) * numClasses);
          const y = b.ys[i]!;
          // As perImageCrossEntropy and tf.argMax: probabilities clipped to [1e-7, 1 - 1e-7], ties to the first class.
          lossSum -= Math.log(Math.min(Math.max(row[y]!, 1e-7), 1 - 1e-7));
          let best = 0;
          for (let c = 1; c < numClasses; c++) if (row[c]! > row[best]!) best = c;
          if (best === y) correct++;
        }
        n += b.n;
      }
      return n === 0 ? { loss: NaN, accuracy: NaN } : { loss: lossSum / n, accuracy: correct / n };
    } finally {
      await engine.close();
    }
  };
}

/**
 * Predicts batch after batch on TF.js: on this thread at first; once a warm slice of images shows that the images
 * left outlast starting inference threads, they start in the background and share the rest of the work from the
 * moment they are up.
 */
export class BatchPredictor implements Predictor {
  private peers: ModelThreads | null = null;
  private starting: Promise<void> | null = null;
  /** Whether the first slice, which warms the kernels and is not counted, has run. */
  private warmedUp = false;
  /** Milliseconds per image of the warm slices timed so far. */
  private readonly warm: number[] = [];
  /** Decided against threads (the work left only shrinks). */
  private alone = false;
  private readonly threads = trainingThreads(0, tf.getBackend());
  private readonly per: number;
  /** Why onnxruntime does not predict instead, when it was tried (openPredictor). */
  readonly notes: string[] = [];

  constructor(
    private readonly model: tfl.LayersModel,
    private readonly p: Preprocessing,
    private readonly classes: number,
    private readonly worthMs = threadsWorthMs(),
    /** Milliseconds; tests script it to time slices as they please. */
    private readonly clock: () => number = () => performance.now(),
  ) {
    this.per = p.imageSize * p.imageSize * p.channels;
  }

  /** Probabilities of `n` preprocessed rows; `left` is how many images remain after them. */
  async predict(rows: Uint8Array, n: number, left: number): Promise<Float32Array> {
    if (this.peers) return predictRowsShared(this.model, this.peers, rows, n, this.p, this.classes);
    if (this.starting) return this.whileStarting(rows, n);
    if (this.decided() || this.threads < 2) return predictRows(this.model, rows, n, this.p);
    return this.probe(rows, n, left);
  }

  /**
   * The first images, a slice at a time, until warm slices decide: the first slice of a process pays for compiling
   * and warming the kernels (timed, it made LeNet's 10,000 files look worth threads that then only competed with
   * decoding). A warm slice that says "not worth it" decides; one that says "worth it" is confirmed by the next,
   * with the faster of the two: a single 32-image slice caught by a garbage collection or a compile started threads
   * for LeNet's 10,000 rows in 2 runs of 5, which then took twice as long. Whole batches decided too late: a compact
   * ResNet's first two batches of 256 took 5 of `loupe predict`'s 14 s on 2,000 files, on one core of two.
   */
  private async probe(rows: Uint8Array, n: number, left: number): Promise<Float32Array> {
    const out = new Float32Array(n * this.classes);
    let s = 0;
    while (s < n && !this.decided()) {
      const m = Math.min(SLICE, n - s);
      const t0 = this.clock();
      out.set(predictRows(this.model, rows.subarray(s * this.per, (s + m) * this.per), m, this.p), s * this.classes);
      const ms = this.clock() - t0;
      s += m;
      if (!this.warmedUp) {
        this.warmedUp = true;
        continue;
      }
      this.warm.push(ms / m);
      if (Math.min(...this.warm) * (n - s + left) <= this.worthMs) this.alone = true;
      else if (this.warm.length >= 2) {
        // A thread that cannot start (or load the model) leaves the work on this thread, as before.
        this.starting = ModelThreads.start(this.threads - 1, tf.getBackend(), this.model, this.classes, null).then(
          (ready) => void (this.peers = ready),
          () => {},
        );
      }
    }
    if (s < n) {
      const rest = rows.subarray(s * this.per, n * this.per);
      out.set(this.starting ? await this.whileStarting(rest, n - s) : predictRows(this.model, rest, n - s, this.p), s * this.classes);
    }
    return out;
  }

  private decided(): boolean {
    return this.alone || this.starting !== null;
  }

  /**
   * While the threads start, this thread predicts in slices and lets the event loop run between them: their start
   * is a few messages away, and a whole batch of a large model holds the loop for seconds (a caller with nothing
   * else to wait for, as evaluations on cached images, never let them in). The rest of a batch is shared as soon
   * as they are up.
   */
  private async whileStarting(rows: Uint8Array, n: number): Promise<Float32Array> {
    const per = this.per;
    const out = new Float32Array(n * this.classes);
    for (let s = 0; s < n; s += SLICE) {
      if (this.peers) {
        out.set(await predictRowsShared(this.model, this.peers, rows.subarray(s * per, n * per), n - s, this.p, this.classes), s * this.classes);
        break;
      }
      const m = Math.min(SLICE, n - s);
      out.set(predictRows(this.model, rows.subarray(s * per, (s + m) * per), m, this.p), s * this.classes);
      await yieldToEvents();
    }
    return out;
  }

  get engine(): string {
    return `TF.js on ${tf.getBackend()}${this.peers ? ` with ${this.peers.size} inference thread${this.peers.size > 1 ? 's' : ''}` : ''}`;
  }

  /** Whether inference threads share the batches now. */
  get sharing(): boolean {
    return this.peers !== null;
  }

  /** Whether inference threads share the batches, once any start begun has settled. */
  async whenStarted(): Promise<boolean> {
    await this.starting;
    return this.peers !== null;
  }

  async close(): Promise<void> {
    await this.starting;
    await this.peers?.close();
    this.peers = null;
  }
}

/**
 * The given images decoded into the tensor cache of `shape` (the cache training uses for that shape), with those
 * gone or unreadable since import left out and reported. The caller closes the cache.
 */
export async function cachedImages(
  project: Project,
  shape: InputShape,
  imageIds: number[],
  opts: { signal?: AbortSignal; progress?: (done: number, total: number, message: string) => void } = {},
): Promise<{ cache: TensorCache; kept: DatasetItem[]; dropped: { path: string; reason: string }[] }> {
  const cache = new TensorCache(project.cacheDir, shape);
  try {
    const rows = project.db
      .prepare(`SELECT id, sha256 FROM images WHERE id = ? AND status = 'ok' AND sha256 IS NOT NULL`);
    const items: DatasetItem[] = [];
    const gone: number[] = [];
    for (const id of imageIds) {
      const r = rows.get(id) as { id: number; sha256: string } | undefined;
      if (r) items.push({ imageId: r.id, sha256: r.sha256, classIndex: 0, split: 'val' });
      else gone.push(id);
    }
    const { kept, dropped } = await fillCache(project, cache, items, shape, {
      signal: opts.signal,
      progress: (d, t) => opts.progress?.(d, t, 'Preparing images'),
    });
    if (gone.length) dropped.push(...gone.slice(0, 50).map((id) => ({ path: `image ${id}`, reason: 'missing or unreadable since import' })));
    return { cache, kept, dropped };
  } catch (e) {
    cache.close();
    throw e;
  }
}

/**
 * Probabilities of images in the tensor cache, batch after batch through openPredictor, with progress and cancel;
 * `notes` say why the faster engine did not predict, when it did not.
 */
export async function predictCached(
  model: tfl.LayersModel,
  p: Preprocessing,
  classes: number,
  cache: TensorCache,
  kept: DatasetItem[],
  opts: { signal?: AbortSignal; progress?: (done: number, total: number, message: string) => void } = {},
): Promise<{ probs: Float32Array; notes: string[] }> {
  const probs = new Float32Array(kept.length * classes);
  const per = cache.rowBytes;
  const batch = new Uint8Array(PREDICT_BATCH * per);
  const predictor = await openPredictor(model, p, classes);
  try {
    for (let start = 0; start < kept.length; start += PREDICT_BATCH) {
      if (opts.signal?.aborted) throw new LoupeError('CONFLICT', 'Canceled');
      const n = Math.min(PREDICT_BATCH, kept.length - start);
      for (let i = 0; i < n; i++) cache.read(kept[start + i]!.sha256, batch, i * per);
      probs.set(await predictor.predict(batch, n, kept.length - start - n), start * classes);
      opts.progress?.(start + n, kept.length, 'Predicting');
      await new Promise((r) => setImmediate(r));
    }
    return { probs, notes: [...predictor.notes] };
  } finally {
    await predictor.close();
  }
}

export async function predictImages(
  project: Project,
  run: RunInfo,
  model: tfl.LayersModel,
  imageIds: number[],
  opts: { signal?: AbortSignal; progress?: (done: number, total: number, message: string) => void } = {},
): Promise<Predictions> {
  const p = run.preprocessing!;
  const { cache, kept, dropped } = await cachedImages(project, inputShapeOf(p), imageIds, opts);
  try {
    const k = run.classes.length;
    const { probs, notes } = await predictCached(model, p, k, cache, kept, opts);
    return { imageIds: kept.map((it) => it.imageId), probs, classes: k, dropped, notes };
  } finally {
    cache.close();
  }
}
