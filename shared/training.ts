/**
 * Training configuration and run records: what a run is, as every face and the training process see it.
 * The config is stored whole with each run, so evaluation, export and prediction reuse it unchanged.
 */
import { z } from 'zod';

export const archKinds = ['lenet5', 'cnn', 'resnet', 'backbone'] as const;
export type ArchKind = (typeof archKinds)[number];

export const resizeModes = ['squash', 'letterbox', 'center-crop'] as const;
export type ResizeMode = (typeof resizeModes)[number];

const lr = z.number().positive().max(10);

/** A window preset's name: a CT preset (lung, bone…), a window's index in the image's tags (1-based) or its explanation. */
const presetName = z.string().trim().min(1).max(64).regex(/^[\p{L}\p{N} _.-]+$/u, 'letters, digits, spaces, _ . - only');

/**
 * How DICOM grey images become the 8-bit grey levels a model learns from (colour and non-DICOM images ignore it):
 * the image's own first window (`tags`), a named preset, a fixed center/width in modality units (e.g. HU), or the
 * whole range that Bits Stored can hold, through the modality LUT (`full`).
 */
export const dicomWindowSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('tags') }).strict(),
  z.object({ kind: z.literal('preset'), name: presetName }).strict(),
  z.object({ kind: z.literal('fixed'), center: z.number().min(-1e7).max(1e7), width: z.number().min(1).max(1e7) }).strict(),
  z.object({ kind: z.literal('full') }).strict(),
]);
export type DicomWindow = z.output<typeof dicomWindowSchema>;
export const DEFAULT_DICOM_WINDOW: DicomWindow = { kind: 'tags' };

/** `tags`, `preset:NAME`, `C,W` or `full` (the CLI's `--dicom-window` and the Train view's select) to a DicomWindow. */
export function parseDicomWindow(text: string): DicomWindow | null {
  const t = text.trim();
  if (t === 'tags' || t === 'full') return { kind: t };
  const fixed = /^(-?\d+(?:\.\d+)?)\s*,\s*(\d+(?:\.\d+)?)$/.exec(t);
  const raw = fixed
    ? { kind: 'fixed', center: Number(fixed[1]), width: Number(fixed[2]) }
    : t.startsWith('preset:') ? { kind: 'preset', name: t.slice('preset:'.length) } : null;
  const parsed = raw ? dicomWindowSchema.safeParse(raw) : null;
  return parsed?.success ? parsed.data : null;
}

/** The inverse of parseDicomWindow: the text a user types for this choice. */
export function formatDicomWindow(w: DicomWindow): string {
  switch (w.kind) {
    case 'tags':
    case 'full':
      return w.kind;
    case 'preset':
      return `preset:${w.name}`;
    case 'fixed':
      return `${w.center},${w.width}`;
  }
}

export const optimizerSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('sgd'), lr, momentum: z.number().min(0).max(0.999).default(0.9), nesterov: z.boolean().default(false) }).strict(),
  z.object({ kind: z.literal('adam'), lr, beta1: z.number().min(0).max(0.9999).default(0.9), beta2: z.number().min(0).max(0.99999).default(0.999) }).strict(),
  z.object({ kind: z.literal('rmsprop'), lr, decay: z.number().min(0).max(0.9999).default(0.9), momentum: z.number().min(0).max(0.999).default(0) }).strict(),
]);
export type OptimizerConfig = z.output<typeof optimizerSchema>;

export const scheduleSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('constant') }).strict(),
  z.object({ kind: z.literal('step'), everyEpochs: z.number().int().min(1), gamma: z.number().positive().max(1) }).strict(),
  z.object({ kind: z.literal('cosine'), warmupEpochs: z.number().int().min(0).default(0), minLrFactor: z.number().min(0).max(1).default(0) }).strict(),
  z.object({ kind: z.literal('plateau'), factor: z.number().positive().max(1).default(0.5), patience: z.number().int().min(1).default(3), minLrFactor: z.number().min(0).max(1).default(0.01) }).strict(),
]);
export type ScheduleConfig = z.output<typeof scheduleSchema>;

export const augmentSchema = z
  .object({
    /** Random resized crop: the share of the image area kept, at least. 0 = off. */
    cropScale: z.number().min(0).max(1).default(0),
    hflip: z.boolean().default(false),
    vflip: z.boolean().default(false),
    /** Random rotation up to ± this many degrees. */
    rotation: z.number().min(0).max(180).default(0),
    /** Brightness jitter, as a fraction (0.2 = ±20%). */
    brightness: z.number().min(0).max(1).default(0),
    contrast: z.number().min(0).max(1).default(0),
  })
  .strict();
export type AugmentConfig = z.output<typeof augmentSchema>;

export const trainConfigSchema = z
  .object({
    arch: z.enum(archKinds).default('cnn'),
    /** For arch 'backbone': the backbone's name (resources/backbones, imported, or `run:<id>`). */
    backbone: z.string().max(200).optional(),
    /** Transfer learning: blocks of the backbone to unfreeze after the head-only phase (0 = head only). */
    unfreezeBlocks: z.number().int().min(0).max(100).default(0),
    /** Learning-rate factor for the fine-tuning phase. */
    fineTuneLrFactor: z.number().positive().max(1).default(0.1),
    headEpochs: z.number().int().min(0).max(1000).default(3),
    imageSize: z.number().int().min(16).max(512).default(64),
    channels: z.union([z.literal(1), z.literal(3)]).default(1),
    resize: z.enum(resizeModes).default('squash'),
    dicomWindow: dicomWindowSchema.default(DEFAULT_DICOM_WINDOW),
    /** ResNet size. */
    width: z.number().int().min(4).max(256).default(16),
    depth: z.number().int().min(1).max(8).default(2),
    dropout: z.number().min(0).max(0.9).default(0.25),
    epochs: z.number().int().min(1).max(1000).default(20),
    batchSize: z.number().int().min(1).max(1024).default(32),
    optimizer: optimizerSchema.default({ kind: 'adam', lr: 0.001, beta1: 0.9, beta2: 0.999 }),
    weightDecay: z.number().min(0).max(1).default(0),
    schedule: scheduleSchema.default({ kind: 'constant' }),
    earlyStopping: z
      .object({ monitor: z.enum(['val_loss', 'val_accuracy']).default('val_loss'), patience: z.number().int().min(1).max(1000).default(5) })
      .strict()
      .nullable()
      .default({ monitor: 'val_loss', patience: 5 }),
    augment: augmentSchema.default({ cropScale: 0, hflip: false, vflip: false, rotation: 0, brightness: 0, contrast: 0 }),
    normalization: z
      .discriminatedUnion('kind', [
        z.object({ kind: z.literal('dataset') }).strict(),
        z.object({ kind: z.literal('fixed'), mean: z.array(z.number()).min(1).max(3), std: z.array(z.number().positive()).min(1).max(3) }).strict(),
      ])
      .default({ kind: 'dataset' }),
    /** Class imbalance: 'auto' turns class weights on when the largest class is over 3x the smallest. */
    imbalance: z.enum(['auto', 'weights', 'sampling', 'none']).default('auto'),
    seed: z.number().int().min(0).max(2 ** 31 - 1).default(42),
    /**
     * Threads that share each batch on a CPU backend (data-parallel; the same result for the same seed and thread
     * count). 0: one per core. A GPU or tfjs-node backend always uses one.
     */
    threads: z.number().int().min(0).max(64).default(0),
    /** Train one model per fold (uses the project's k folds). */
    folds: z.boolean().default(false),
  })
  .strict();
export type TrainConfig = z.output<typeof trainConfigSchema>;
export type TrainConfigInput = z.input<typeof trainConfigSchema>;

/** Normalization actually used, stored with the run (computed from the train split when kind is 'dataset'). */
export interface Normalization {
  mean: number[];
  std: number[];
}

/** What evaluation, export and prediction need to turn a file into the model's input, exactly as in training. */
export interface Preprocessing {
  imageSize: number;
  channels: 1 | 3;
  resize: ResizeMode;
  normalization: Normalization;
  /** 16-bit images are scaled by their own min..max to 0..255 before resizing. */
  sixteenBit: 'own-range';
  /** DICOM grey images: the windowing. Absent in runs and bundles made before it existed: the tags' window. */
  dicomWindow?: DicomWindow;
}

export const runStatuses = ['queued', 'running', 'stopped', 'failed', 'finished'] as const;
export type RunStatus = (typeof runStatuses)[number];

export interface EpochMetrics {
  epoch: number;
  trainLoss: number;
  trainAccuracy: number;
  valLoss: number | null;
  valAccuracy: number | null;
  lr: number;
  imagesPerSecond: number;
  seconds: number;
}

/**
 * One thread's memory after an epoch: what must stay flat from epoch to epoch in every thread of a run (issue 13).
 * tfjs counts tensors and their bytes; the wasm backend's heap grows and never shrinks, so scratch memory a kernel
 * leaks shows there even when no tensor does.
 */
export interface ThreadMemory {
  tensors: number;
  tensorBytes: number;
  /** The wasm backend's heap, or null on another backend. */
  wasmHeapBytes: number | null;
  /** The thread's JavaScript heap in use, as the last garbage collection left it (so it wanders a little). */
  jsHeapBytes: number;
}

/** The training process's memory after an epoch: its resident size and each thread's, the fit loop's first. */
export interface TrainingMemory {
  rssBytes: number;
  threads: ThreadMemory[];
}

export interface BatchMetrics {
  epoch: number;
  batch: number;
  batches: number;
  loss: number;
  accuracy: number;
  imagesPerSecond: number;
  etaSeconds: number | null;
}

export interface RunInfo {
  id: number;
  name: string;
  status: RunStatus;
  config: TrainConfig;
  backend: string | null;
  appVersion: string;
  createdAt: string;
  startedAt: string | null;
  endedAt: string | null;
  epochsDone: number;
  bestEpoch: number | null;
  bestValAccuracy: number | null;
  bestValLoss: number | null;
  error: string | null;
  /** The run this one re-runs, extends or was resumed from. */
  parentId: number | null;
  fold: number | null;
  /** Shared by the k runs of one cross-validation. */
  cvGroup: string | null;
  classes: string[];
  trainImages: number;
  valImages: number;
  warnings: string[];
  preprocessing: Preprocessing | null;
}

/** The smallest input size an architecture accepts (LeNet's two pools and valid 5×5 conv must leave a pixel). */
export function minImageSize(arch: ArchKind): number {
  return arch === 'lenet5' || arch === 'resnet' ? 16 : 8;
}
