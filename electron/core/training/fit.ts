/**
 * The one fit loop, used by the training process, the CLI (through it) and the tests. A custom loop rather than
 * `model.fit`: per-batch callbacks, class weights, weight decay, schedules, early stopping, cancel between
 * batches, and checkpoints that include the optimizer and schedule state, so a resumed run continues exactly.
 *
 * Callbacks are parameters (tfjs-examples style); every tensor is made inside tf.tidy, so
 * `tf.memory().numTensors` stays flat across epochs (tested).
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { EarlyStopping, LrSchedule, type EarlyStopState, type ScheduleState } from '../../../shared/schedules.ts';
import type { BatchMetrics, EpochMetrics, OptimizerConfig, ScheduleConfig } from '../../../shared/training.ts';
import type { ModelThreads } from './parallel/peers.ts';
import type { FromGradientThread, ThreadStepTimes } from './parallel/protocol.ts';
import { batchWeight, perImageCrossEntropy, shardGradients, shards, type ShardContext } from './step.ts';
import { inferenceForward } from './inference-graph.ts';
import { makeOptimizer, setLearningRate, slotValues } from './optimizer.ts';
import { flatWeights, gradientTensors } from './parallel/weights.ts';

export interface Batch {
  /** NHWC float32 pixels, already normalized (and augmented for training). */
  xs: Float32Array;
  /** Class index per image. */
  ys: Int32Array;
  n: number;
}

/**
 * Where batches come from: the training split (shuffled and augmented per epoch) or a fixed evaluation set. In the
 * training process they are made on the spot; on a GPU host they arrive from the training process, asynchronously.
 */
export interface BatchSource {
  readonly size: number;
  readonly shape: [number, number, number];
  batches(epoch: number, batchSize: number): Iterable<Batch> | AsyncIterable<Batch>;
}

type BatchIterator = Iterator<Batch> | AsyncIterator<Batch>;

function iterate(batches: Iterable<Batch> | AsyncIterable<Batch>): { it: BatchIterator; remote: boolean } {
  if (Symbol.asyncIterator in batches) return { it: batches[Symbol.asyncIterator](), remote: true };
  return { it: batches[Symbol.iterator](), remote: false };
}

/** A remote source's next batch, asked for now. */
function askAhead(it: BatchIterator): Promise<IteratorResult<Batch>> {
  return Promise.resolve(it.next());
}

/**
 * Lets messages (cancel, progress) through between batches. setImmediate where there is one (Node); a message to
 * ourselves in a browser, where setTimeout(0) would wait 4 ms a batch once nested.
 */
export function yieldToEvents(): Promise<void> {
  if (typeof setImmediate === 'function') return new Promise((r) => setImmediate(r));
  return new Promise((r) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      channel.port1.close();
      r();
    };
    channel.port2.postMessage(null);
  });
}

/** What a checkpoint needs of the optimizer: its slots (a GPU host sends copies of them). */
export type OptimizerSlots = Pick<tf.Optimizer, 'getWeights'>;

export interface FitState {
  /** Epochs completed so far. */
  epoch: number;
  schedule: ScheduleState;
  earlyStop: EarlyStopState;
}

export interface FitOptions {
  epochs: number;
  batchSize: number;
  optimizer: OptimizerConfig;
  schedule: ScheduleConfig;
  earlyStopping: { monitor: 'val_loss' | 'val_accuracy'; patience: number } | null;
  weightDecay: number;
  /** Loss weight per class (null: all 1). */
  classWeights: number[] | null;
  numClasses: number;
  signal?: AbortSignal;
  /** Resume from here: the optimizer's weights are restored by the caller through `restoreOptimizer`. */
  resume?: { state: FitState; optimizerWeights: { name: string; tensor: tf.Tensor }[] };
  /** Only these layers train (transfer learning); default all trainable layers. */
  trainableLayers?: tfl.layers.Layer[];
  /**
   * The validation images are a k-fold run's held-out fold, the images that will judge the model: they may be
   * measured each epoch, but must not choose the epoch (the last one is kept), stop training early or steer the
   * learning rate (a plateau schedule follows the training loss instead).
   */
  heldOut?: boolean;
  /** Gradient threads for data-parallel training: each step's batch is shared among them and this thread. */
  peers?: ModelThreads | null;
  /** At most this many images per pass in every thread (step.ts, ShardContext); null or absent: whole shards. */
  imagesPerPass?: number | null;
  /** Loss and accuracy of the validation images after an epoch; `evaluate` (TF.js, this thread) when absent. */
  validate?: (model: tfl.LayersModel, val: BatchSource) => Promise<{ loss: number; accuracy: number }>;
  /** Told where each step's time goes (bench/step-profile.ts); not called when absent. */
  timing?: StepTimer;
  onBatchEnd?: (m: BatchMetrics) => void;
  onEpochEnd?: (m: EpochMetrics, info: { improved: boolean; state: FitState }) => Promise<void> | void;
  /** Called with the optimizer when a checkpoint should be written (after each epoch), before onEpochEnd. */
  onCheckpoint?: (optimizer: OptimizerSlots, state: FitState, improved: boolean, metrics: EpochMetrics) => Promise<void>;
}

/** The phases of a training step on the fit loop's thread, in milliseconds. */
export type StepPhase = 'prepare' | 'send' | 'own' | 'wait' | 'apply' | 'yield' | `thread:${keyof ThreadStepTimes}`;
export type StepTimer = (phase: StepPhase, ms: number) => void;

type Gradients = Extract<FromGradientThread, { type: 'gradients' }>;

/** How long the fit loop polls for the threads' gradients before it sleeps until they come (peers.ts: spin). */
const THREAD_SPIN_MS = 5;

export type FitEnd = { status: 'finished' | 'stopped' | 'early-stopped' | 'nan'; state: FitState; message: string };

/**
 * The kernels weight decay applies to. By the name the layer gave the weight: tfjs makes variable names unique
 * per process (`conv1/kernel_1` for a second model), so the unique name would miss every model but the first.
 */
function kernelsOf(layers: tfl.layers.Layer[]): tf.Variable[] {
  return layers.flatMap((l) => l.trainableWeights.filter((w) => w.originalName.endsWith('kernel')).map((w) => w.read() as tf.Variable));
}

/**
 * This thread's gradients, flat, in variable order: the start of the step's sum. Made while the threads still
 * compute (their answers add to it), so that only the additions are left between their answer and the update.
 */
export function flatGradients(own: readonly tf.Tensor[]): Float32Array {
  const sum = new Float32Array(own.reduce((a, g) => a + g.size, 0));
  let at = 0;
  for (const g of own) {
    sum.set(g.dataSync() as Float32Array, at);
    at += g.size;
  }
  return sum;
}

/**
 * The threads' gradients (each flat, in the same variable order) added to this thread's, in JavaScript rather than
 * by a tfjs Add per variable and thread: the same float32 sums in the same order (a float64 sum of two float32
 * values rounds to their float32 sum), fewer kernels and tensors per step. One flat array: it is also what the
 * threads' replicas apply.
 */
export function addGradients(sum: Float32Array, theirs: readonly Float32Array[]): Float32Array {
  for (const t of theirs) {
    if (t.length !== sum.length) throw new Error(`a thread's gradients do not match: ${t.length} values for ${sum.length}`);
    for (let j = 0; j < sum.length; j++) sum[j] = sum[j]! + t[j]!;
  }
  return sum;
}

/** Reports the time since its last call (or its making) under the phase it is given. */
function stopwatch(timer: StepTimer): (phase: StepPhase) => void {
  let last = performance.now();
  return (phase) => {
    const now = performance.now();
    timer(phase, now - last);
    last = now;
  };
}

/** Loss and accuracy over a fixed set, in inference mode. */
export async function evaluate(model: tfl.LayersModel, source: BatchSource, batchSize: number, numClasses: number): Promise<{ loss: number; accuracy: number }> {
  let lossSum = 0;
  let correct = 0;
  let n = 0;
  for await (const b of source.batches(0, batchSize)) {
    const [loss, hits] = tf.tidy(() => {
      const xs = tf.tensor4d(b.xs, [b.n, ...source.shape]);
      const ys = tf.tensor1d(b.ys, 'int32');
      const probs = inferenceForward(model)(xs) as tf.Tensor2D;
      return [tf.sum(perImageCrossEntropy(probs, ys, numClasses)), tf.sum(tf.cast(tf.equal(tf.argMax(probs, 1), ys), 'int32'))];
    });
    // data(), not dataSync(): a GPU backend reads back without blocking its thread.
    const [l, c] = await Promise.all([loss.data(), hits.data()]);
    tf.dispose([loss, hits]);
    lossSum += l[0]!;
    correct += c[0]!;
    n += b.n;
  }
  return n === 0 ? { loss: NaN, accuracy: NaN } : { loss: lossSum / n, accuracy: correct / n };
}

export async function fit(model: tfl.LayersModel, train: BatchSource, val: BatchSource | null, o: FitOptions): Promise<FitEnd> {
  const optimizer = makeOptimizer(o.optimizer);
  const layers = o.trainableLayers ?? model.layers.filter((l) => l.trainable);
  const vars = layers.flatMap((l) => l.trainableWeights.map((w) => w.read() as tf.Variable));
  const decayed = o.weightDecay > 0 ? kernelsOf(layers) : [];
  const classWeights = o.classWeights ? tf.keep(tf.tensor1d(o.classWeights)) : null;
  const schedule = new LrSchedule(o.schedule, o.optimizer.lr, o.epochs, o.resume?.state.schedule);
  const stopper = new EarlyStopping(o.earlyStopping, o.resume?.state.earlyStop);
  let state: FitState = o.resume?.state ?? { epoch: 0, schedule: schedule.state, earlyStop: stopper.state };
  // The threads' replicas restore the same slots the same way (read before setWeights, which keeps them).
  const restore = o.peers && o.resume && o.resume.optimizerWeights.length > 0 ? slotValues(o.resume.optimizerWeights) : null;
  if (o.resume && o.resume.optimizerWeights.length > 0) {
    await optimizer.setWeights(o.resume.optimizerWeights);
    // The optimizer's variables hold their own references to the data.
    tf.dispose(o.resume.optimizerWeights.map((w) => w.tensor));
  }

  const batchesPerEpoch = Math.ceil(train.size / o.batchSize);
  const perImage = train.shape[0] * train.shape[1] * train.shape[2];
  const imagesPerPass = o.imagesPerPass ?? null;
  const context: ShardContext = {
    model,
    vars,
    shape: train.shape,
    numClasses: o.numClasses,
    classWeights,
    decay: decayed.length ? { vars: decayed, weightDecay: o.weightDecay } : null,
    imagesPerPass,
  };
  // Gradient threads address variables by their place in model.weights (their own copies have other names).
  const place = new Map(model.weights.map((w, i) => [w.read(), i]));
  const trainable = vars.map((v) => place.get(v)!);
  o.peers?.sync({ weights: flatWeights(model), trainable, layerTrainable: model.layers.map((l) => l.trainable), optimizer: o.optimizer, restore, imagesPerPass });
  try {
    for (let epoch = state.epoch; epoch < o.epochs; epoch++) {
      const lr = schedule.lrFor(epoch);
      setLearningRate(optimizer, lr);
      const t0 = performance.now();
      let lossSum = 0;
      let correct = 0;
      let seen = 0;
      let batch = 0;
      const clock = o.timing ? stopwatch(o.timing) : null;
      // Before the first batch is read: a stop during the feature pass leaves features uncomputed, and reading
      // them would fail the run instead of stopping it.
      if (o.signal?.aborted) return { status: 'stopped', state, message: 'Stopped by the user' };
      const { it, remote } = iterate(train.batches(epoch, o.batchSize));
      let next = await it.next();
      clock?.('prepare');
      // The threads' shards of a batch, sent before its step starts (at the end of the step before).
      let sent: Promise<Gradients[]> | null = null;
      /** Posts the threads' shards of a batch; awaited after this thread's own shard, a failure meanwhile is not "unhandled". */
      const post = (b: Batch): Promise<Gradients[]> => {
        const [, ...rest] = shards(b, perImage, 1 + (o.peers?.size ?? 0));
        const others = rest.length > 0 && o.peers ? o.peers.step({ shards: rest, shape: train.shape, batchWeight: batchWeight(b.ys, b.n, o.classWeights) }) : Promise.resolve([]);
        others.catch(() => {});
        return others;
      };
      while (!next.done) {
        const b = next.value;
        // A remote source (a GPU host's) makes the next batch in the training process while this step computes.
        const ahead = remote ? askAhead(it) : null;
        // Awaited at the step's end; a step that ends the fit first (NaN, stop) leaves it unread, not "unhandled".
        ahead?.catch(() => {});
        // Shards already sent for this batch are left to finish: their answers are dropped (protocol.ts, Asked), and
        // no update follows them, so the replicas stay the model this fit returns.
        if (o.signal?.aborted) return { status: 'stopped', state, message: 'Stopped by the user' };
        const total = batchWeight(b.ys, b.n, o.classWeights);
        const [own] = shards(b, perImage, 1 + (o.peers?.size ?? 0));
        const others = sent ?? post(b);
        sent = null;
        clock?.('send');
        const mine = await shardGradients(context, own!, total);
        clock?.('own');
        // The next batch (cache reads, augmentation) is made while the gradient threads finish their shards:
        // this thread would otherwise sit idle now and then make it on the step's critical path.
        if (!ahead) next = await it.next();
        const flatOwn = o.peers ? flatGradients(mine.grads) : null;
        clock?.('prepare');
        let theirs: Awaited<typeof others>;
        try {
          o.peers?.spin(THREAD_SPIN_MS);
          theirs = await others;
        } catch (e) {
          tf.dispose(mine.grads);
          throw e;
        }
        clock?.('wait');
        if (o.timing) for (const t of theirs) for (const [k, ms] of Object.entries(t.ms)) o.timing(`thread:${k as keyof ThreadStepTimes}`, ms);
        const lossValue = theirs.reduce((a, t) => a + t.loss, mine.loss);
        const hitValue = theirs.reduce((a, t) => a + t.hits, mine.hits);
        const massValue = theirs.reduce((a, t) => a + t.mass, mine.mass);
        if (!Number.isFinite(lossValue) || !Number.isFinite(massValue)) {
          tf.dispose(mine.grads);
          return {
            status: 'nan',
            state,
            message: `The loss became ${Number.isFinite(lossValue) ? 'NaN' : lossValue} at epoch ${epoch + 1}, batch ${batch + 1}: lower the learning rate or check the normalization. The last good checkpoint is kept.`,
          };
        }
        let summed = mine.grads;
        // Every replica applies every step, also one that had no shard of a batch smaller than the thread count.
        if (o.peers && flatOwn) {
          const flat = addGradients(flatOwn, theirs.map((t) => t.gradients));
          // First to the replicas, which then update while this thread does; then the next batch's shards, which
          // they start on as soon as they have updated, while this thread is still updating and yielding.
          o.peers.apply(flat, lr);
          if (!ahead && !next.done && !o.signal?.aborted) sent = post(next.value);
          tf.dispose(mine.grads);
          summed = gradientTensors(flat, vars);
        }
        tf.tidy(() => optimizer.applyGradients(vars.map((v, i) => ({ name: v.name, tensor: summed[i]! }))));
        tf.dispose(summed);
        clock?.('apply');
        lossSum += lossValue * b.n;
        correct += hitValue;
        seen += b.n;
        batch++;
        const elapsed = (performance.now() - t0) / 1000;
        const ips = seen / Math.max(elapsed, 1e-6);
        o.onBatchEnd?.({
          epoch,
          batch,
          batches: batchesPerEpoch,
          loss: lossValue,
          accuracy: hitValue / b.n,
          imagesPerSecond: ips,
          etaSeconds: Math.round(((batchesPerEpoch - batch) * o.batchSize + (o.epochs - epoch - 1) * train.size) / ips),
        });
        if (ahead) next = await ahead;
        await yieldToEvents();
        clock?.('yield');
      }
      const seconds = (performance.now() - t0) / 1000;
      const v = val && val.size > 0 ? await (o.validate ? o.validate(model, val) : evaluate(model, val, Math.max(o.batchSize, 128), o.numClasses)) : null;
      const metrics: EpochMetrics = {
        epoch,
        trainLoss: lossSum / Math.max(seen, 1),
        trainAccuracy: correct / Math.max(seen, 1),
        valLoss: v?.loss ?? null,
        valAccuracy: v?.accuracy ?? null,
        lr,
        imagesPerSecond: seen / Math.max(seconds, 1e-6),
        seconds,
      };
      if (v && !Number.isFinite(v.loss)) {
        return { status: 'nan', state, message: `The validation loss became ${v.loss} at epoch ${epoch + 1}: lower the learning rate. The last good checkpoint is kept.` };
      }
      schedule.observe(o.heldOut ? metrics.trainLoss : metrics.valLoss);
      const { improved, stop } = o.heldOut ? { improved: true, stop: false } : stopper.observe(epoch, metrics);
      state = { epoch: epoch + 1, schedule: { ...schedule.state }, earlyStop: { ...stopper.state } };
      await o.onCheckpoint?.(optimizer, state, improved, metrics);
      await o.onEpochEnd?.(metrics, { improved, state });
      if (stop) {
        return {
          status: 'early-stopped',
          state,
          message: `Stopped early after epoch ${epoch + 1}: ${o.earlyStopping!.monitor} did not improve for ${o.earlyStopping!.patience} epochs`,
        };
      }
      if (o.signal?.aborted) return { status: 'stopped', state, message: 'Stopped by the user' };
    }
    return { status: 'finished', state, message: `Trained ${o.epochs} epochs` };
  } finally {
    classWeights?.dispose();
    optimizer.dispose();
  }
}

/** Class weights for imbalance: n / (k · n_c), as scikit-learn's "balanced"; null when not needed. */
export function balancedClassWeights(counts: number[], mode: 'auto' | 'weights' | 'sampling' | 'none'): number[] | null {
  if (mode === 'none' || mode === 'sampling') return null;
  const present = counts.filter((c) => c > 0);
  if (present.length === 0) return null;
  if (mode === 'auto' && Math.max(...present) <= 3 * Math.min(...present)) return null;
  const n = counts.reduce((a, b) => a + b, 0);
  return counts.map((c) => (c > 0 ? n / (counts.length * c) : 0));
}
