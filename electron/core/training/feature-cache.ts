/**
 * The head-only phase on cached features (issue 12). While the backbone is frozen and images are not augmented,
 * every image's feature vector is the same at every epoch: compute it once, keep it in the tensor cache under a
 * key of backbone content + feature layer + preprocessing (an image is keyed by its content hash inside), and
 * train the head on the vectors. Epochs then cost a matrix product instead of a pass through the backbone.
 *
 * The head trains as the same layer objects the full model holds, so checkpoints of the full model carry what
 * the head learned, and the fine-tuning phase after it continues from there.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { Normalization, Preprocessing, TrainConfig } from '../../../shared/training.ts';
import type { Project } from '../project/project.ts';
import { findBackbone, type BackboneInfo } from './backbones.ts';
import type { InputShape } from '../images/model-input.ts';
import { CachedSource, byContent, epochOrder, type DatasetItem, type SourceOptions } from './dataset.ts';
import type { Batch, BatchSource } from './fit.ts';
import { openOnnxFeatures, type FeatureEngine } from './onnx-features.ts';
import { ModelThreads } from './parallel/peers.ts';
import { openConvertedFeatures, predictShared } from './predict.ts';
import { inferenceForward } from './inference-graph.ts';
import { TensorCache } from './tensor-cache.ts';
import { HEAD_PREFIX, type TransferModel } from './transfer.ts';

const FORMAT_VERSION = 1;

/** The backbone's content: model.json and its weights files, so a changed or re-imported backbone misses. */
export function backboneDigest(dir: string): string {
  const hash = createHash('sha256');
  const json = readFileSync(join(dir, 'model.json'));
  hash.update(json);
  const manifest = (JSON.parse(json.toString('utf8')) as { weightsManifest?: { paths: string[] }[] }).weightsManifest ?? [];
  for (const p of manifest.flatMap((g) => g.paths)) hash.update(readFileSync(join(dir, p)));
  return hash.digest('hex');
}

export function featureCacheKey(digest: string, featureLayer: string, p: Preprocessing): string {
  const w = p.dicomWindow && p.dicomWindow.kind !== 'tags' ? { w: p.dicomWindow } : {};
  const text = JSON.stringify({ v: FORMAT_VERSION, digest, featureLayer, s: p.imageSize, c: p.channels, r: p.resize, n: p.normalization, ...w });
  return `features-${createHash('sha256').update(text).digest('hex').slice(0, 16)}`;
}

export interface HeadSplit {
  /** Images → feature vectors (the frozen backbone and the head's weightless pooling). */
  features: tfl.LayersModel;
  /** Feature vectors (as 1×1×D, the layout batch sources deliver) → class probabilities, sharing the head's layers. */
  head: tfl.LayersModel;
  /** The feature layer's output name, for the cache key. */
  featureLayer: string;
  dim: number;
}

/** Splits a transfer model where its first head layer with weights (or dropout) begins. */
export function splitHead(t: TransferModel): HeadSplit {
  const start = t.head.findIndex((l) => l.weights.length > 0 || l.getClassName() === 'Dropout');
  const first = t.head[start]!;
  const featureOut = first.input as tfl.SymbolicTensor;
  const dim = featureOut.shape[1];
  if (featureOut.shape.length !== 2 || !dim) throw new Error(`the head's input is not a vector (${JSON.stringify(featureOut.shape)})`);
  const features = tfl.model({ inputs: t.model.inputs, outputs: featureOut });
  const input = tfl.input({ shape: [1, 1, dim] });
  let x = tfl.layers.flatten({ name: `${HEAD_PREFIX}cached_flatten` }).apply(input) as tfl.SymbolicTensor;
  for (const layer of t.head.slice(start)) x = layer.apply(x) as tfl.SymbolicTensor;
  return { features, head: tfl.model({ inputs: input, outputs: x }), featureLayer: featureOut.sourceLayer.name, dim };
}

export interface FeatureProgress {
  signal?: AbortSignal;
  progress?: (done: number, total: number) => void;
  batchSize?: number;
  /** Threads holding `split.features` that share each batch (the backbone's pass is nearly all of the work). */
  threads?: ModelThreads | null;
  /** Computes the features instead of `split.features` (onnxruntime on an ONNX backbone's original file). */
  engine?: FeatureEngine | null;
}

/** Computes the features of the items not cached yet; returns how many were computed (the rest were hits). */
export async function computeFeatures(
  split: HeadSplit,
  images: TensorCache,
  features: TensorCache,
  items: DatasetItem[],
  shape: InputShape,
  norm: Normalization,
  o: FeatureProgress = {},
): Promise<number> {
  const missing = [...new Map(items.filter((it) => !features.has(it.sha256)).map((it) => [it.sha256, it])).values()];
  const source = new CachedSource(images, missing, shape, norm, { shuffle: false, seed: 0 });
  const ordered = byContent(missing);
  const batchSize = o.engine?.batchSize ?? o.batchSize ?? 32;
  let done = 0;
  o.progress?.(0, missing.length);
  for (const b of source.batches(0, batchSize)) {
    if (o.signal?.aborted) break;
    let values: Float32Array;
    if (o.engine) values = await o.engine.run(b.xs, b.n);
    else if (o.threads) values = await predictShared(split.features, o.threads, b.xs, b.n, source.shape, split.dim);
    else {
      const out = tf.tidy(() => inferenceForward(split.features)(tf.tensor4d(b.xs, [b.n, ...source.shape])));
      values = (await out.data()) as Float32Array;
      out.dispose();
    }
    for (let i = 0; i < b.n; i++) {
      const row = values.slice(i * split.dim, (i + 1) * split.dim);
      features.put(ordered[done + i]!.sha256, new Uint8Array(row.buffer));
    }
    done += b.n;
    o.progress?.(done, missing.length);
    await new Promise((r) => setImmediate(r));
  }
  return done;
}

/** Feature-vector batches in exactly the order CachedSource would serve the same items' images. */
export class FeatureSource implements BatchSource {
  readonly size: number;
  readonly shape: [number, number, number];
  private readonly items: DatasetItem[];

  constructor(
    private readonly cache: TensorCache,
    items: DatasetItem[],
    dim: number,
    private readonly opts: SourceOptions,
  ) {
    this.items = byContent(items);
    this.size = items.length;
    this.shape = [1, 1, dim];
  }

  *batches(epoch: number, batchSize: number): Iterable<Batch> {
    const order = epochOrder(this.items, epoch, this.opts);
    const dim = this.shape[2];
    for (let start = 0; start < order.length; start += batchSize) {
      const n = Math.min(batchSize, order.length - start);
      const xs = new Float32Array(n * dim);
      const bytes = new Uint8Array(xs.buffer);
      const ys = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const it = order[start + i]!;
        this.cache.read(it.sha256, bytes, i * dim * 4);
        ys[i] = it.classIndex;
      }
      yield { xs, ys, n };
    }
  }
}

export interface CachedHead {
  model: tfl.LayersModel;
  train: FeatureSource;
  val: FeatureSource | null;
  cache: TensorCache;
  /** How many images' features were computed now (the others were in the cache). */
  computed: number;
  dispose(): void;
}

/**
 * Everything the head-only phase needs to train on features: computed for the images that miss the cache, with
 * progress as prepare counts under the status "Computing features". Null when the backbone's files cannot be read for the
 * key (a backbone removed since the run began): the phase then trains on images as before.
 */
export async function cachedHead(
  project: Project,
  config: TrainConfig,
  t: TransferModel,
  d: {
    cache: TensorCache;
    train: DatasetItem[];
    val: DatasetItem[];
    shape: InputShape;
    normalization: Normalization;
    preprocessing: Preprocessing;
    signal?: AbortSignal;
    status?: (message: string) => void;
    /** Adds to the run's warnings: why the features were not computed on onnxruntime. */
    warn?: (message: string) => void;
    prepare?: (done: number, total: number) => void;
    /** The run's threads (one per core on wasm and cpu) and backend: the features are computed on all of them. */
    threads?: number;
    backend?: string;
  },
): Promise<CachedHead | null> {
  let info: BackboneInfo;
  let digest: string;
  try {
    info = findBackbone(project, config.backbone!);
    digest = backboneDigest(info.dir);
  } catch {
    return null;
  }
  const split = splitHead(t);
  // The key leaves out which engine computes the features: onnxruntime's and TF.js's agree within float32 rounding.
  const cache = new TensorCache(project.cacheDir, { key: featureCacheKey(digest, split.featureLayer, d.preprocessing), rowBytes: split.dim * 4 });
  const used = [...d.train, ...d.val];
  const missing = used.filter((it) => !cache.has(it.sha256)).length;
  const fallBack = (e: unknown) => {
    const message = `onnxruntime could not compute the features (${(e as Error).message}); computing them on TF.js instead`;
    d.status?.(message);
    d.warn?.(message);
  };
  // The backbone's own ONNX file first; else (a TF.js backbone, or that file unusable) its TF.js model converted, as
  // predictions are; else TF.js.
  let engine: FeatureEngine | null = null;
  let unusable: string | null = null;
  if (missing && info.onnx) {
    try {
      engine = await openOnnxFeatures(info.dir, info.onnx, d.shape.imageSize, d.shape.channels, split.dim);
    } catch (e) {
      unusable = (e as Error).message;
    }
  }
  if (missing && !engine) {
    let failure: unknown = unusable === null ? null : new Error(unusable);
    try {
      engine = await openConvertedFeatures(split.features, [d.shape.imageSize, d.shape.imageSize, d.shape.channels], split.dim);
    } catch (e) {
      failure ??= e;
    }
    if (engine && unusable) d.warn?.(`The backbone's ONNX file could not be used (${unusable}); its TF.js model computes the features on onnxruntime instead`);
    // The first reason is the one users can act on (a missing or changed ONNX file).
    if (!engine && failure !== null) fallBack(failure);
  }
  const computeOn = (engine: FeatureEngine | null, threads: ModelThreads | null) =>
    computeFeatures(split, d.cache, cache, used, d.shape, d.normalization, { signal: d.signal, batchSize: Math.max(config.batchSize, 32), progress: d.prepare, threads, engine });
  let computed = 0;
  if (engine) {
    // The Train view shows the status with the prepare counts as a bar: "Computing features ▓▓░ 812/2000".
    d.status?.(`Computing features (${engine.label})`);
    try {
      computed = await computeOn(engine, null);
    } catch (e) {
      // A stop while onnxruntime ran is a stop, not a reason to start over on TF.js.
      if (!d.signal?.aborted) fallBack(e);
    } finally {
      await engine.close();
    }
  }
  const left = used.filter((it) => !cache.has(it.sha256)).length;
  if (left && !d.signal?.aborted) {
    d.status?.('Computing features');
    // A thread costs a second or so to start (a tfjs instance and the backbone): not for a handful of images.
    const count = d.threads ?? 1;
    const threads = count > 1 && d.backend && left > 8 * count ? await ModelThreads.start(count - 1, d.backend, split.features, split.dim, null) : null;
    try {
      computed += await computeOn(null, threads);
    } finally {
      await threads?.close();
    }
  } else if (!missing) d.status?.(`Features of all ${used.length} images are cached`);
  const balanced = config.imbalance === 'sampling';
  return {
    model: split.head,
    train: new FeatureSource(cache, d.train, split.dim, { shuffle: true, seed: config.seed, balanced }),
    val: d.val.length ? new FeatureSource(cache, d.val, split.dim, { shuffle: false, seed: config.seed }) : null,
    cache,
    computed,
    // Only the head model: its layers are the full model's (applied twice, so this leaves them alive). Disposing
    // the features model would free the backbone's weights, which the full model still uses.
    dispose: () => split.head.dispose(),
  };
}
