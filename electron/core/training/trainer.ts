/**
 * One training run from start (or resume) to end, in the training process: decode the run's snapshot into the
 * tensor cache, fix the normalization, build or restore the model, fit, and keep the best and last checkpoints.
 * The run's row in project.db is kept current at every epoch, so a crash loses at most one epoch.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { BatchMetrics, EpochMetrics, Normalization, Preprocessing, TrainConfig, TrainingMemory } from '../../../shared/training.ts';
import type { Project } from '../project/project.ts';
import { CachedSource, datasetNormalization, fillCache, readSnapshot } from './dataset.ts';
import { balancedClassWeights, fit, type FitEnd } from './fit.ts';
import { buildModel } from './models.ts';
import { buildTransferModel, splitTransferModel, unfreezeTop, type TransferModel } from './transfer.ts';
import { hasCheckpoint, readCheckpointMetrics, readResumePoint, saveBest, saveLast, type ResumePoint } from './checkpoint.ts';
import { isDiskFull } from '../project/disk-full.ts';
import { addWarnings, endRun, getRun, markRunning, recordEpoch, runDir, setPreprocessing } from './runs.ts';
import { keepLeasesFresh, releaseRunLease, takeRunLease } from './run-lease.ts';
import { clearFailureNote, reserveFailureNote, writeFailureNote } from './failure-note.ts';
import { repairRun } from './run-recovery.ts';
import { TensorCache } from './tensor-cache.ts';
import { ModelThreads } from './parallel/peers.ts';
import { trainingMemory } from './thread-memory.ts';
import { multiplyAddsPerImage, trainingThreads } from './parallel/threads.ts';
import { BatchTooLarge, isHeapExhausted, outOfMemory, partsWarning, passFactor, planStep, type BatchShare, type StepPlan } from './step-memory.ts';
import { augmentationOn } from './augment.ts';
import { cachedHead } from './feature-cache.ts';
import type { GpuHostChoice } from './gpu-host/select.ts';
import { remoteFit } from './gpu-host/remote-fit.ts';
import { onnxValidation } from './predict.ts';

export interface TrainerEvents {
  status?(message: string): void;
  prepare?(done: number, total: number): void;
  batch?(m: BatchMetrics): void;
  /** After each epoch: its figures, whether it is the best so far, and the memory of every thread. */
  epoch?(m: EpochMetrics, improved: boolean, memory: TrainingMemory): void;
}

export interface TrainerOptions {
  /** 'resume' continues from the last checkpoint (a stopped, failed or extended run). */
  mode: 'start' | 'resume';
  backend: string;
  /** The process that queued the run and may hand it over (the training process's parent). */
  supervisorPid?: number;
  signal?: AbortSignal;
  events?: TrainerEvents;
  /** Train a frozen backbone's head on cached features when nothing is augmented (default true). */
  featureCache?: boolean;
  /** A GPU host to run the fit loop on (issue 16); a head trained on cached features stays here. */
  gpuHost?: GpuHostChoice | null;
}

export interface TrainerResult {
  status: 'finished' | 'stopped' | 'failed';
  message: string;
}

/** A run's batch on the wasm backend and how its steps go (step-memory.ts): for an out-of-memory message. */
export interface WasmStep {
  batch: BatchShare;
  plan: StepPlan;
}

export function describeError(e: unknown, step: WasmStep | null = null): string {
  const err = e as NodeJS.ErrnoException;
  // SQLITE_FULL too: an epoch's record in project.db needs space as its checkpoint does.
  if (isDiskFull(err)) return 'The disk is full: training could not save its progress. Free some space and resume; the last good checkpoint is kept.';
  if (e instanceof BatchTooLarge) return e.message;
  if (step && isHeapExhausted(err?.message ?? '', step.plan)) return outOfMemory(step.batch);
  if (/out of memory|Cannot allocate|allocation failed/i.test(err?.message ?? '')) {
    return `Out of memory: ${err.message}. Use a smaller image size or batch size.`;
  }
  return err?.message ?? String(e);
}

/** The last checkpoint to resume from; an error that says why when there is one but it cannot be used. */
async function resumePoint(dir: string, runId: number, epochsDone: number): Promise<ResumePoint | undefined> {
  if (!hasCheckpoint(dir, 'last')) {
    if (epochsDone === 0) return undefined;
    // best/ is written before last/: a first epoch whose last/ could not be written (killed, or a full disk) has
    // only best/, one epoch ahead of nothing. Replaying that epoch is starting over.
    if (epochsDone === 1 && readCheckpointMetrics(dir, 'best')?.epoch === 0) return undefined;
    throw new Error(`Cannot resume run ${runId}: its last checkpoint (runs/${runId}/last) is missing. Re-run it to train from scratch.`);
  }
  try {
    return await readResumePoint(dir);
  } catch (e) {
    throw new Error(`Cannot resume run ${runId}: its last checkpoint (runs/${runId}/last) is unreadable (${(e as Error).message}). Re-run it to train from scratch.`);
  }
}

const LISTED = 50;

/** A run's warnings name the first LISTED items of a list, then how many more. */
function addListed(db: Project['db'], runId: number, lines: string[], what: string): void {
  addWarnings(db, runId, lines.slice(0, LISTED));
  if (lines.length > LISTED) addWarnings(db, runId, [`… and ${lines.length - LISTED} more ${what}`]);
}

export async function runTraining(project: Project, runId: number, o: TrainerOptions): Promise<TrainerResult> {
  const db = project.db;
  const dir = runDir(project, runId);
  try {
    // A run another live process trains or queued is not touched, not even its status.
    takeRunLease(project, runId, 'training', {
      from: o.supervisorPid,
      then: () => {
        repairRun(project, runId);
        markRunning(db, runId, o.backend);
      },
    });
  } catch (e) {
    return { status: 'failed', message: (e as Error).message };
  }
  const stopRefreshing = keepLeasesFresh(project, () => [runId]);
  reserveFailureNote(dir);
  let noteWritten = false;
  const run = getRun(db, runId);
  const config: TrainConfig = run.config;
  let cache: TensorCache | null = null;
  let featureCache: TensorCache | null = null;
  let model: tfl.LayersModel | null = null;
  let peers = null as ModelThreads | null;
  /** Set once training starts on the wasm backend: how its steps fit in memory (describeError). */
  let wasmStep: WasmStep | null = null;
  try {
    const shape = { imageSize: config.imageSize, channels: config.channels, resize: config.resize, dicomWindow: config.dicomWindow } as const;
    cache = new TensorCache(project.cacheDir, shape);
    o.events?.status?.('Preparing images');
    const snapshot = readSnapshot(db, runId);
    const { kept, dropped, fromCache } = await fillCache(project, cache, snapshot, shape, { signal: o.signal, progress: o.events?.prepare });
    if (o.signal?.aborted) {
      endRun(db, runId, 'stopped', null);
      return { status: 'stopped', message: 'Stopped before training began' };
    }
    addListed(db, runId, dropped.map((d) => `Skipped ${d.path}: ${d.reason}`), 'images skipped as unreadable');
    if (fromCache.length) {
      const message = `${fromCache.length} image${fromCache.length > 1 ? 's' : ''} trained from Loupe's cache: the file is gone since import`;
      o.events?.status?.(`${message} (see the run's warnings)`);
      addWarnings(db, runId, [`${message}:`]);
      addListed(db, runId, fromCache.map((p) => `From the cache: ${p}`), 'from the cache');
    }
    const train = kept.filter((it) => it.split === 'train');
    const val = kept.filter((it) => it.split === 'val');
    const numClasses = run.classes.length;
    const counts = new Array<number>(numClasses).fill(0);
    for (const it of train) counts[it.classIndex]!++;
    const emptyClass = run.classes.find((_, i) => counts[i] === 0);
    if (emptyClass) {
      const example = dropped[0] ? ` (e.g. ${dropped[0].path}: ${dropped[0].reason})` : '';
      throw new Error(`No readable training images are left for "${emptyClass}"${example}`);
    }

    let normalization: Normalization;
    if (run.preprocessing) normalization = run.preprocessing.normalization;
    else if (config.normalization.kind === 'fixed') {
      const pad = (v: number[]) => Array.from({ length: config.channels }, (_, i) => v[i] ?? v[0]!);
      normalization = { mean: pad(config.normalization.mean), std: pad(config.normalization.std) };
    } else normalization = datasetNormalization(cache, train, config.channels);
    const preprocessing: Preprocessing = { ...shape, normalization, sixteenBit: 'own-range' };
    setPreprocessing(db, runId, preprocessing);

    const imbalanceSampling = config.imbalance === 'sampling';
    const trainSource = new CachedSource(cache, train, shape, normalization, {
      shuffle: true,
      seed: config.seed,
      augment: config.augment,
      balanced: imbalanceSampling,
    });
    const valSource = val.length ? new CachedSource(cache, val, shape, normalization, { shuffle: false, seed: config.seed }) : null;

    const resume = o.mode === 'resume' ? await resumePoint(dir, runId, run.epochsDone) : undefined;
    let transfer: TransferModel | null = null;
    if (resume) {
      model = resume.model;
      if (config.arch === 'backbone') transfer = splitTransferModel(model);
    } else if (config.arch === 'backbone') {
      transfer = await buildTransferModel(project, config, numClasses);
      model = transfer.model;
    } else {
      model = buildModel(config, numClasses);
    }
    if (resume?.state.epoch !== undefined && resume.state.epoch >= config.epochs) {
      tf.dispose(resume.optimizerWeights.map((w) => w.tensor));
      endRun(db, runId, 'finished', null);
      return { status: 'finished', message: `Already trained ${config.epochs} epochs` };
    }

    // Transfer learning trains the head alone first, then (optionally) the last backbone blocks too, at a lower rate.
    const t = transfer;
    const headEnd = t && config.unfreezeBlocks > 0 ? Math.min(config.headEpochs, config.epochs) : config.epochs;
    const phases: { until: number; layers: () => tfl.layers.Layer[] | undefined; lrFactor: number }[] = t
      ? [
          { until: headEnd, layers: () => t.head, lrFactor: 1 },
          { until: config.epochs, layers: () => unfreezeTop(t, config.unfreezeBlocks), lrFactor: config.fineTuneLrFactor },
        ]
      : [{ until: config.epochs, layers: () => undefined, lrFactor: 1 }];

    const classWeights = balancedClassWeights(counts, imbalanceSampling ? 'none' : config.imbalance);
    const threads = trainingThreads(config.threads, o.backend, { multiplyAdds: train.length * config.epochs * multiplyAddsPerImage(model!.layers), batchSize: config.batchSize });
    if (o.backend === 'wasm') {
      const batch = { batchSize: config.batchSize, imageSize: config.imageSize, threads };
      wasmStep = { batch, plan: planStep(model!.layers, model!.countParams() * 4, passFactor(config.arch), batch) };
    }
    const imagesPerPass = wasmStep?.plan.imagesPerPass ?? null;
    const inParts = wasmStep && partsWarning(wasmStep.plan, threads);
    if (inParts) addWarnings(db, runId, [inParts]);
    // Started when a phase first trains on images: a head-only run on cached features never needs them.
    const imageThreads = async () => (peers ??= threads > 1 ? await ModelThreads.start(threads - 1, o.backend, model!, numClasses, classWeights) : null);
    const onThreads = threads > 1 ? ` on ${threads} threads` : '';
    const from = resume ? `Resuming at epoch ${resume.state.epoch + 1}` : o.mode === 'resume' ? 'No checkpoint yet: training from epoch 1' : 'Training';
    o.events?.status?.(`${from}${onThreads}`);
    let state = resume?.state;
    let optimizerWeights = resume?.optimizerWeights;
    let end: FitEnd = { status: 'finished', state: state ?? { epoch: 0, schedule: { factor: 1, best: null, badEpochs: 0 }, earlyStop: { best: null, bestEpoch: null, badEpochs: 0 } }, message: `Trained ${config.epochs} epochs` };
    const validation = onnxValidation(numClasses, Math.max(config.batchSize, 128), (m) => addWarnings(db, runId, [m]));
    for (let p = 0; p < phases.length; p++) {
      const phase = phases[p]!;
      const phaseStart = p === 0 ? 0 : phases[p - 1]!.until;
      const at = state?.epoch ?? 0;
      if (at >= phase.until) continue;
      // Optimizer slots belong to one phase's variables: a phase that starts here starts them fresh.
      const carry = at > phaseStart ? optimizerWeights : undefined;
      if (!carry && optimizerWeights) tf.dispose(optimizerWeights.map((w) => w.tensor));
      optimizerWeights = undefined;
      const resumeArg = state ? { state: { ...state, earlyStop: at > phaseStart ? state.earlyStop : { ...state.earlyStop, badEpochs: 0 } }, optimizerWeights: carry ?? [] } : undefined;
      const onFeatures = p === 0 && t && o.featureCache !== false && !augmentationOn(config.augment);
      const head = onFeatures ? await cachedHead(project, config, t, { cache, train, val, shape, normalization, preprocessing, signal: o.signal, status: o.events?.status, warn: (m) => addWarnings(db, runId, [m]), prepare: o.events?.prepare, threads, backend: o.backend }) : null;
      if (head) featureCache = head.cache;
      const gpu = head ? null : o.gpuHost;
      const fitHere: typeof fit = gpu
        ? (m, tr, v, fo) => remoteFit(gpu.link, gpu.backend, m, tr, v, { ...fo, onStarted: (detail) => o.events?.status?.(`Training on the GPU: ${detail}, ${gpu.adapter.adapter}`) })
        : fit;
      end = await fitHere(head?.model ?? model, head?.train ?? trainSource, head ? head.val : valSource, {
        epochs: phase.until,
        batchSize: config.batchSize,
        optimizer: { ...config.optimizer, lr: config.optimizer.lr * phase.lrFactor },
        schedule: config.schedule,
        earlyStopping: valSource ? config.earlyStopping : null,
        heldOut: run.fold !== null,
        weightDecay: config.weightDecay,
        classWeights,
        // The threads hold the whole network; a head trained on cached features is small enough for one thread.
        peers: head || gpu ? null : await imageThreads(),
        imagesPerPass: head || gpu ? null : imagesPerPass,
        // A GPU host validates on its GPU; a head on cached features is too small to gain from onnxruntime.
        validate: head || gpu ? undefined : validation,
        numClasses,
        signal: o.signal,
        resume: resumeArg,
        trainableLayers: phase.layers(),
        onBatchEnd: (m) => o.events?.batch?.(m),
        onCheckpoint: async (optimizer, fitState, improved, metrics) => {
          // best before last: a kill between the two keeps the better weights, and resume replays one epoch.
          if (improved) await saveBest(dir, model!, preprocessing, metrics);
          await saveLast(dir, model!, optimizer, fitState, metrics);
        },
        onEpochEnd: async (m, { improved }) => {
          recordEpoch(db, runId, m, improved);
          if (o.events?.epoch) o.events.epoch(m, improved, await trainingMemory(peers));
        },
      });
      head?.dispose();
      state = end.state;
      // A head that stopped improving moves on to fine-tuning; anything else ends the run.
      if (end.status !== 'finished' && !(end.status === 'early-stopped' && p < phases.length - 1)) break;
    }
    if (end.status === 'nan') {
      endRun(db, runId, 'failed', end.message);
      return { status: 'failed', message: end.message };
    }
    if (end.status === 'stopped') {
      endRun(db, runId, 'stopped', null);
      return { status: 'stopped', message: end.message };
    }
    endRun(db, runId, 'finished', null);
    return { status: 'finished', message: end.message };
  } catch (e) {
    const message = describeError(e, wasmStep);
    try {
      endRun(db, runId, 'failed', message);
    } catch (again) {
      // A disk still full cannot take the failure either: the reserved note keeps the reason for the next open.
      if (!isDiskFull(again)) throw again;
      noteWritten = writeFailureNote(dir, message);
    }
    return { status: 'failed', message };
  } finally {
    await peers?.close();
    model?.dispose();
    cache?.close();
    featureCache?.close();
    stopRefreshing();
    if (!noteWritten) clearFailureNote(dir);
    releaseRunLease(project, runId);
  }
}
