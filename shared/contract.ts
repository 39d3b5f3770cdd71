/**
 * The one API contract of Loupe. Every face (Electron IPC, the browser host, the CLI) is typed from it and
 * validates every request with these zod schemas before it reaches core.
 *
 * Pure TypeScript: no Node, DOM or Electron imports (checked by lint).
 */
import { z } from 'zod';
import { sortKeys, splitNames, type MenuCommand, type SplitName } from './domain.ts';
import { LoupeError } from './errors.ts';
import { DICOM_GROUP_FIELDS } from './split-math.ts';

export * from './errors.ts';
export * from './domain.ts';
import { trainConfigSchema, type EpochMetrics, type RunInfo, type TrainConfig } from './training.ts';
import type { BackendReport, TrainingEvent } from './worker-protocol.ts';
import type { LiveState } from './live-state.ts';
import { preprocessPresets, type PreprocessPreset } from './preprocess-presets.ts';
import type { EvaluationMetrics, FoldAggregate } from './metrics.ts';

// ---------- shared value types ----------

export type ImageStatus = 'ok' | 'error' | 'missing';

export interface ProjectInfo {
  /** Absolute path of the project folder. */
  path: string;
  name: string;
  createdAt: string;
  /** SQLite `user_version` of project.db. */
  schemaVersion: number;
}

export interface RecentProject {
  path: string;
  name: string;
  openedAt: string;
  exists: boolean;
}

export interface ClassInfo {
  id: number;
  name: string;
  color: string;
  position: number;
  count: number;
  /** The key that labels with this class: stored, or by position (1–9, then letters). */
  hotkey: string;
}

/** What the grid needs per cell: small, so a page of 200 is cheap. */
export interface ImageSummary {
  id: number;
  name: string;
  classId: number | null;
  split: SplitName | null;
  status: ImageStatus;
  /** Content hash; null when the file could not be read. Thumbnails are keyed by it. */
  sha256: string | null;
  width: number | null;
  height: number | null;
  /** Left out of training. */
  excluded: boolean;
  /** Marked for review. */
  unsure: boolean;
  /** With an `evaluation` filter: what the model said about this image (class indices of the run). */
  prediction?: { predicted: number; confidence: number; label: number | null; labelProbability: number | null };
}

export interface ImageDetail extends ImageSummary {
  root: string;
  relPath: string;
  absPath: string;
  size: number;
  mtimeMs: number;
  channels: number | null;
  bitDepth: number | null;
  format: string | null;
  pages: number | null;
  orientation: number | null;
  /** Pixel value range, used to scale 16-bit images for display. */
  minValue: number | null;
  maxValue: number | null;
  error: string | null;
  note: string | null;
  importedAt: string;
  /** Other paths with the same content hash. */
  duplicates: string[];
  /** The technician's free-text note (`note` is the importer's). */
  userNote: string | null;
  /** Patient/study group key used by group-aware splits. */
  groupKey: string | null;
  /** Cross-validation fold (0-based), when folds are assigned. */
  fold: number | null;
  /** A DICOM image: `dicom:header` has its tag table and window presets. */
  dicom?: boolean;
}

export interface ImageFilter {
  classId?: number;
  unlabeled?: boolean;
  split?: SplitName | 'unassigned';
  duplicates?: boolean;
  errors?: boolean;
  missing?: boolean;
  /** Substring of the relative path, case-insensitive. */
  search?: string;
  unsure?: boolean;
  excluded?: boolean;
  fold?: number;
  /**
   * Images of an evaluation, optionally one confusion-matrix cell (true `label`, `predicted`), or its mistakes.
   * `pool`: more evaluations read with `id` as one (the folds of a cross-validation: each image is in one of them).
   */
  evaluation?: { id: number; pool?: number[]; label?: number; predicted?: number; misclassified?: boolean };
  /** DICOM images whose header has these values (Modality, Body Part Examined, View Position, Series Instance UID). */
  dicom?: DicomFilter;
}

export interface DicomFilter {
  modality?: string;
  bodyPart?: string;
  view?: string;
  series?: string;
}

/** The values the DICOM filters offer, with how many images have each (`dicom:facets`). */
export interface DicomFacets {
  /** DICOM images in the project; 0 hides the filters. */
  images: number;
  modalities: { value: string; count: number }[];
  bodyParts: { value: string; count: number }[];
  views: { value: string; count: number }[];
  /** `label`: the Series Description (else the UID's tail), with the modality. */
  series: { value: string; label: string; count: number }[];
}

/** One row of the Details panel's tag table. Values are shown on this workstation only, never logged. */
export interface DicomTagRow {
  /** `(0010,0010)`; nested sequence items are prefixed with `>` per level. */
  tag: string;
  keyword: string;
  vr: string;
  value: string;
}

/** A window the viewer offers: from the image's tags (with their explanation) or a CT preset. */
export interface DicomWindowPreset {
  name: string;
  center: number;
  width: number;
  fn: 'LINEAR' | 'LINEAR_EXACT' | 'SIGMOID';
  source: 'tags' | 'ct';
  explanation: string;
}

/** How the viewer turns the `raw` samples of a grey DICOM image into modality values: (v + storedMin) × slope + intercept. */
export interface DicomRawMapping {
  storedMin: number;
  slope: number;
  intercept: number;
  /** MONOCHROME1: the lowest value is white. */
  invert: boolean;
}

export interface DicomHeader {
  tags: DicomTagRow[];
  modality: string | null;
  photometric: string;
  presets: DicomWindowPreset[];
  /** Null when the viewer cannot window the image itself (colour, palette, a Modality LUT Sequence, > 16 bits). */
  raw: DicomRawMapping | null;
}

export interface ImagePage {
  total: number;
  offset: number;
  items: ImageSummary[];
}

/** The summary `loupe info --json` prints, and the UI's status panel shows. */
export interface ProjectSummary {
  project: ProjectInfo;
  images: number;
  labeled: number;
  unlabeled: number;
  classes: { id: number; name: string; count: number }[];
  splits: { train: number; val: number; test: number; unassigned: number };
  duplicates: string[][];
  errors: { path: string; reason: string }[];
  /** Images whose file is gone: marked at an import rescan, or found gone since by a stat per image. */
  missing: number;
  /** The first 1000 of them. */
  missingFiles: string[];
  notes: { path: string; note: string }[];
  roots: string[];
  /** DICOM files without pixel data, with their SOP class: neither images nor errors. */
  noImageData?: { path: string; sopClass: string }[];
}


/** Undo/redo availability, returned after every edit so the UI's Edit menu stays right. */
export interface EditState {
  canUndo: boolean;
  canRedo: boolean;
  undoLabel: string | null;
  redoLabel: string | null;
}

export interface EditResult {
  /** Images whose value actually changed. */
  changed: number;
  edit: EditState;
}

export interface HistoryEntry {
  at: string;
  user: string;
  action: string;
  oldClass: string | null;
  newClass: string | null;
}

export interface SplitWarning {
  kind: 'small-class' | 'duplicate-across-splits' | 'group-across-splits' | 'patient-across-splits' | 'excluded-test';
  message: string;
  /** Affected paths or groups (first few). */
  items: string[];
}

export interface SplitSummary {
  /** Classes × splits; the row with id null holds unlabeled images. */
  rows: { id: number | null; name: string; train: number; val: number; test: number; unassigned: number; total: number }[];
  totals: { train: number; val: number; test: number; unassigned: number; total: number };
  testLocked: boolean;
  /** k of the current fold assignment, or null. */
  folds: number | null;
  foldCounts: number[];
  groups: number;
  warnings: SplitWarning[];
}

export interface CsvImportReport {
  rows: number;
  applied: number;
  unchanged: number;
  createdClasses: string[];
  unknownPaths: string[];
  unknownClasses: string[];
  badRows: { line: number; reason: string }[];
  edit: EditState;
}

export interface GroupPreview {
  matched: number;
  unmatched: number;
  groups: number;
  examples: { path: string; group: string | null }[];
}

export interface RunDetail {
  run: RunInfo;
  epochs: EpochMetrics[];
  /** The running run's live state (recent batches), so a reloaded UI catches up; null otherwise. */
  live: LiveState | null;
}

export interface BackboneSummary {
  name: string;
  source: 'shipped' | 'imported' | 'run';
  imageSize: number;
  channels: 1 | 3;
  description?: string;
}

export interface EvaluationSummary {
  id: number;
  /** The run evaluated; null for an external model's evaluation. */
  runId: number | null;
  /** A foreign classifier evaluated on the project's images (issue 12): its file name (never a path) and hash. */
  external: { fileName: string; sha256: string; preprocess: PreprocessPreset | 'bundle'; imageSize: number } | null;
  split: 'val' | 'test' | 'unlabeled';
  createdAt: string;
  n: number;
  modelSha256: string;
  accuracy: number | null;
  macroAuc: number | null;
  /** Images relabeled (or labeled, or gone) since: the stored numbers describe labels that no longer hold. */
  stale: number;
  notes: string[];
}

export interface EvaluationDetail extends EvaluationSummary {
  /** The run's classes: the order of every per-class list and matrix row. */
  classes: string[];
  metrics: EvaluationMetrics | null;
}

/**
 * A k-fold group: each fold run judged only on the images it held out, mean ± std across the folds, and the
 * out-of-fold predictions pooled (every fold image once).
 */
export interface CrossValidation {
  /** In fold order. `evaluationId`: the run's latest evaluation on its held-out fold (null until evaluated). */
  folds: { runId: number; fold: number | null; evaluationId: number | null; n: number | null; size: number }[];
  /** Per-fold metrics and mean ± sample std over the evaluated folds. */
  aggregate: FoldAggregate | null;
  /** Once every fold is evaluated: the pooled out-of-fold evaluation. */
  pooled: {
    /** The fold evaluations pooled, in fold order (an image filter's `evaluation.id` + `pool`). */
    evaluationIds: number[];
    classes: string[];
    n: number;
    /** Images relabeled since their fold was evaluated. */
    stale: number;
    metrics: EvaluationMetrics;
  } | null;
  /** Why there is no pooled evaluation yet, or null. */
  pendingReason: string | null;
}

export interface LabelErrorCandidate {
  imageId: number;
  given: string;
  suggested: string;
  /** Probability the held-out model gave to the given label. */
  selfConfidence: number;
  suggestedConfidence: number;
}

export type JobKind = 'import' | 'sample' | 'evaluate' | 'predict' | 'export' | 'report' | 'backbone';
export type JobState = 'running' | 'succeeded' | 'failed' | 'canceled';

export interface Job {
  jobId: string;
  kind: JobKind;
  state: JobState;
  done: number;
  total: number;
  /** Items per second over the last few seconds; 0 until known. */
  rate: number;
  /** Seconds left, or null while unknown. */
  etaSeconds: number | null;
  message: string;
  startedAt: string;
  endedAt: string | null;
  /** Kind-specific outcome: the import report, the stored evaluation, or what an export wrote. */
  result?: ImportReport | { evaluationId: number; notes: string[] } | ExportReport | BackboneSummary;
}

/** What an export or report job wrote (issue 6). */
export interface ExportReport {
  /** The bundle or dataset folder, or the PDF file. */
  path: string;
  files: { name: string; bytes: number; sha256: string }[];
  notes: string[];
  /** The zip written next to the bundle folder (export with `zip`). */
  zip?: string;
  /** Pages of a PDF report. */
  pages?: number;
  /** Images written by a dataset export, and how (hard links when the file system allows them). */
  images?: number;
  linked?: number;
  /** Dataset export: DICOM images left out because their pixels may show identifying text (paths in the project). */
  burnedInExcluded?: string[];
  /** Dataset export: the mapping CSV written, when asked for. */
  mapping?: string;
}

export interface ImportReport {
  added: number;
  unchanged: number;
  updated: number;
  relinked: number;
  missing: number;
  failed: number;
  ignored: number;
  errors: { path: string; reason: string }[];
  /** DICOM files without pixel data (SR, RT plans, presentation states, waveforms, DICOMDIR): not images, not errors. */
  noImageData?: number;
}

/** Labels from class folders, none, or from a DICOM attribute (`dicom:BodyPartExamined`, `dicom:0018,0015`). */
export type LabelSource = 'folders' | 'none' | `dicom:${string}`;

export interface ImportPreview {
  folders: string[];
  files: number;
  /** Detected layout: class folders, train/val/test over class folders, or no labels. */
  layout: 'classes' | 'splits' | 'flat';
  classes: { name: string; count: number }[];
  splits: { train: number; val: number; test: number; unassigned: number };
}

export interface DirEntry {
  name: string;
  path: string;
  isDir: boolean;
  /** Files: their size in bytes (absent when it could not be read). */
  size?: number;
  /** Folders, when `bundles` was asked for: it holds a finished Loupe model bundle (`loupe export`). */
  bundle?: boolean;
}

export interface DirListing {
  path: string;
  parent: string | null;
  /** The page asked for (`offset`, `limit`) of the folders, sorted by name, then the files asked for (`files`). */
  entries: DirEntry[];
  /** Image-like files directly inside, by extension (a hint for the folder browser). */
  imageFiles: number;
  /** Folders found. */
  totalFolders: number;
  /** Files found with the extensions asked for (0 when none were). */
  totalFiles: number;
  /** The folder holds more names than one listing reads: the counts are lower bounds. */
  truncated: boolean;
}

export interface AppInfo {
  version: string;
  face: 'electron' | 'host' | 'cli';
  platform: string;
  project: ProjectInfo | null;
  /** Whether `dialogs:pickFolder` opens a native dialog (Electron) or the UI must browse with `fs:list`. */
  nativeDialogs: boolean;
  homeDir: string;
}

// ---------- request schemas ----------

const absPath = z.string().min(1).max(4096);
/** A file name extension with its dot, as a file filter gives it: '.onnx', '.tar.gz' is not one. */
const fileExtension = z.string().regex(/^\.[A-Za-z0-9_-]{1,15}$/, 'an extension such as .onnx');
// Explicitly safe (zod 4's int() is too, but an id past 2^53 would silently name a neighbour's row).
const id = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);

export const imageFilterSchema = z
  .object({
    classId: id.optional(),
    unlabeled: z.boolean().optional(),
    split: z.enum([...splitNames, 'unassigned']).optional(),
    duplicates: z.boolean().optional(),
    errors: z.boolean().optional(),
    missing: z.boolean().optional(),
    search: z.string().max(500).optional(),
    unsure: z.boolean().optional(),
    excluded: z.boolean().optional(),
    fold: z.number().int().min(0).max(9).optional(),
    evaluation: z
      .object({
        id: z.number().int().positive(),
        pool: z.array(z.number().int().positive()).max(10).optional(),
        label: z.number().int().min(0).optional(),
        predicted: z.number().int().min(0).optional(),
        misclassified: z.boolean().optional(),
      })
      .strict()
      .optional(),
    dicom: z
      .object({
        modality: z.string().max(64).optional(),
        bodyPart: z.string().max(64).optional(),
        view: z.string().max(64).optional(),
        series: z.string().max(64).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

const empty = z.object({}).strict();

const imageIds = z.array(id).min(1).max(500_000);
const className = z
  .string()
  .transform((v) => v.trim())
  .pipe(z.string().min(1, 'A class name cannot be empty').max(64, 'A class name can be at most 64 characters'));
const color = z.string().regex(/^#[0-9a-fA-F]{6}$/, 'A color is #rrggbb');
const hotkey = z.string().regex(/^[0-9a-z]$/, 'A hotkey is one digit or lowercase letter');
export const groupRuleSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('folder'), level: z.number().int().min(1).max(64) }).strict(),
  z.object({ kind: z.literal('regex'), pattern: z.string().min(1).max(500) }).strict(),
  z.object({ kind: z.literal('csv') }).strict(),
  z.object({ kind: z.literal('dicom'), field: z.enum(DICOM_GROUP_FIELDS) }).strict(),
]);
const labelSource = z
  .string()
  .regex(/^(folders|none|dicom:(\(?[0-9A-Fa-f]{4},?[0-9A-Fa-f]{4}\)?|[A-Za-z][A-Za-z0-9]{0,63}))$/, 'labels are folders, none, or dicom:<Keyword>')
  .transform((v) => v as LabelSource);
const ratios = z.tuple([z.number(), z.number(), z.number()]);
const seed = z.number().int().min(0).max(2 ** 31 - 1);



/** Request schema for every method. The key is the method name, `domain:verb`. */
/** A foreign ONNX network's input (issue 12): how it expects its pixels, and its size when the file leaves it open. */
const foreignInput = {
  preprocess: z.enum(preprocessPresets).optional(),
  imageSize: z.number().int().min(8).max(1024).optional(),
};
/** A foreign model's class names, in the order of its outputs; also the check on those read back from project.db. */
const foreignClasses = z.array(z.string().trim().min(1).max(100)).min(2).max(1000);
/** What an external evaluation stored of an ONNX file's input, checked again when read back from project.db. */
export const storedForeignInput = z.object({ classes: foreignClasses, preprocess: foreignInput.preprocess.unwrap(), imageSize: foreignInput.imageSize.unwrap() });

const backboneImportSchema = z
  .object({
    path: absPath,
    name: z.string().trim().min(1).max(100).optional(),
    /** For an .onnx file only. */
    ...foreignInput,
  })
  .strict();

export const requestSchemas = {
  'app:info': empty,
  'projects:recent': empty,
  'projects:create': z.object({ path: absPath, name: z.string().min(1).max(200).optional() }).strict(),
  'projects:open': z.object({ path: absPath }).strict(),
  'projects:close': empty,
  'projects:createSample': z.object({ path: absPath, perClass: z.number().int().min(10).max(5000).optional() }).strict(),
  'project:summary': empty,
  'fs:list': z
    .object({
      path: absPath.optional(),
      showHidden: z.boolean().optional(),
      /** Also list files with these extensions, e.g. ['.onnx']. */
      files: z.array(fileExtension).min(1).max(10).optional(),
      /** Mark folders that are Loupe model bundles. */
      bundles: z.boolean().optional(),
      offset: z.number().int().min(0).max(1_000_000).default(0),
      limit: z.number().int().min(1).max(5000).default(5000),
    })
    .strict(),
  'dialogs:pickFolder': z.object({ title: z.string().max(200).optional() }).strict(),
  'dialogs:pickFile': z.object({ title: z.string().max(200).optional(), files: z.array(fileExtension).min(1).max(10) }).strict(),
  'import:preview': z.object({ folders: z.array(absPath).min(1).max(100) }).strict(),
  'import:start': z
    .object({ folders: z.array(absPath).min(1).max(100), labels: labelSource, frames: z.enum(['middle', 'all']).optional() })
    .strict(),
  'jobs:list': empty,
  'jobs:cancel': z.object({ jobId: z.string().min(1).max(100) }).strict(),
  'classes:list': empty,
  'images:query': z
    .object({
      filter: imageFilterSchema.default({}),
      sort: z.enum(sortKeys).default('name'),
      desc: z.boolean().default(false),
      offset: z.number().int().min(0).default(0),
      limit: z.number().int().min(1).max(1000).default(200),
    })
    .strict(),
  'images:get': z.object({ id }).strict(),
  'images:ids': z
    .object({ filter: imageFilterSchema.default({}), sort: z.enum(sortKeys).default('name'), desc: z.boolean().default(false) })
    .strict(),
  'images:setFlags': z
    .object({
      imageIds,
      excluded: z.boolean().optional(),
      unsure: z.boolean().optional(),
      note: z.string().max(10_000).nullable().optional(),
    })
    .strict(),
  'images:history': z.object({ id }).strict(),
  'dicom:facets': empty,
  'dicom:header': z.object({ id }).strict(),
  'labels:set': z.object({ imageIds, classId: id.nullable() }).strict(),
  'labels:undo': empty,
  'labels:redo': empty,
  'edits:state': empty,
  'labels:exportCsv': empty,
  'labels:importCsv': z.object({ csv: z.string().max(64 * 1024 * 1024), createClasses: z.boolean().default(false) }).strict(),
  'classes:create': z.object({ name: className, color: color.optional() }).strict(),
  'classes:update': z
    .object({ id, name: className.optional(), color: color.optional(), hotkey: hotkey.nullable().optional() })
    .strict(),
  'classes:merge': z.object({ sourceId: id, targetId: id }).strict(),
  'classes:delete': z.object({ id, labeledImages: z.enum(['unlabel', 'move']), moveTo: id.optional() }).strict(),
  'classes:reorder': z.object({ ids: z.array(id).min(1).max(10_000) }).strict(),
  'splits:summary': empty,
  'splits:assign': z
    .object({ ratios: ratios.optional(), seed: seed.default(42), groupBy: groupRuleSchema.optional(), lockTest: z.boolean().optional() })
    .strict(),
  'splits:folds': z
    .object({
      k: z.number().int().min(2).max(10),
      seed: seed.default(42),
      groupBy: groupRuleSchema.optional(),
      /** Re-split by these ratios first: the test share is held out, the rest goes into the folds. */
      ratios: ratios.optional(),
      lockTest: z.boolean().optional(),
    })
    .strict(),
  'splits:move': z.object({ imageIds, split: z.enum(splitNames).nullable() }).strict(),
  'splits:lockTest': z.object({ locked: z.boolean() }).strict(),
  'groups:preview': z.object({ groupBy: groupRuleSchema }).strict(),
  'training:suggest': empty,
  'training:start': z.object({ config: trainConfigSchema, name: z.string().max(200).optional() }).strict(),
  'training:stop': z.object({ runId: id }).strict(),
  'training:resume': z.object({ runId: id }).strict(),
  'training:extend': z.object({ runId: id, epochs: z.number().int().min(1).max(1000) }).strict(),
  'training:rerun': z.object({ runId: id }).strict(),
  'training:doctor': empty,
  'runs:list': empty,
  'runs:get': z.object({ runId: id }).strict(),
  'presets:list': empty,
  'presets:save': z.object({ name: z.string().trim().min(1).max(100), config: trainConfigSchema }).strict(),
  'presets:delete': z.object({ name: z.string().min(1).max(100) }).strict(),
  'backbones:list': empty,
  'backbones:import': backboneImportSchema,
  'evaluations:run': z.object({ runId: id, split: z.enum(['val', 'test']) }).strict(),
  'evaluations:predictUnlabeled': z.object({ runId: id }).strict(),
  'evaluations:list': z.object({ runId: id }).strict(),
  'evaluations:get': z.object({ evaluationId: id }).strict(),
  'evaluations:labelErrors': z.object({ runId: id, limit: z.number().int().min(1).max(10_000).default(500) }).strict(),
  'evaluations:crossValidation': z.object({ runId: id }).strict(),
  /** Evaluates a foreign ONNX classifier on the project's labeled images of a split (issue 12); a job. */
  'evaluations:external': z
    .object({
      path: absPath,
      /** The model's class names, in the order of its outputs (a Loupe bundle folder names them itself). */
      classes: foreignClasses.optional(),
      split: z.enum(['val', 'test']),
      ...foreignInput,
    })
    .strict(),
  'evaluations:listExternal': empty,
  /** Evaluates a stale external evaluation's model file again, on the split's images as labeled now; a job. */
  'evaluations:reevaluateExternal': z.object({ evaluationId: id }).strict(),
  /** `backbones:import` of an .onnx file as a job (conversion and verification in a training process). */
  'backbones:importStart': backboneImportSchema,
  'export:model': z
    .object({
      runId: id,
      outDir: absPath,
      /** Default: TF.js, plus ONNX when the model converts (otherwise a note says why). */
      formats: z.array(z.enum(['tfjs', 'onnx'])).min(1).max(2).optional(),
      zip: z.boolean().default(false),
      /** Write into a folder that is not empty. */
      force: z.boolean().default(false),
      /** Intended use and limitations, for the model card. */
      notes: z.string().max(20_000).optional(),
    })
    .strict(),
  'export:dataset': z
    .object({
      outDir: absPath,
      /** Export a run's dataset snapshot (what it trained on); without it, the project's current labels and splits. */
      runId: id.optional(),
      /** Copies by default: editing a hard-linked export would edit the original image (issue 14). */
      mode: z.enum(['link', 'copy']).default('copy'),
      force: z.boolean().default(false),
      /**
       * Convert every image (issue 11): png (8-bit, as training sees it), png16 / tiff16 (DICOM: modality values
       * plus an offset export.json records), dicom (de-identified, PS3.15 Basic Profile). Without it, images are
       * copied or linked, and DICOM images written as png.
       */
      format: z.enum(['png', 'png16', 'tiff16', 'dicom']).optional(),
      /** Also write `exported,original` rows here: the only file with the original (possibly identifying) names. */
      mappingPath: absPath.optional(),
      /** Export DICOM images whose header says Burned In Annotation = YES; left out by default. */
      includeBurnedIn: z.boolean().default(false),
      /**
       * format dicom: dates moved by a per-patient shift, intervals kept (PS3.15 Retain Longitudinal Temporal
       * Information with Modified Dates; the default), or emptied as the bare Basic Profile does.
       */
      dicomDates: z.enum(['shift', 'remove']).default('shift'),
    })
    .strict(),
  'report:create': z
    .object({
      /** The run; may be left out with `evaluationId` (an external model's evaluation has no run, issue 12). */
      runId: id.optional(),
      outPath: absPath,
      /** The evaluation to report; default the run's latest test evaluation, else its latest validation one. */
      evaluationId: id.optional(),
      pageSize: z.enum(['A4', 'Letter']).default('A4'),
      /**
       * Misclassified thumbnails: off unless asked for. Loupe treats every project as possibly holding medical
       * images, where a thumbnail can identify a patient (issue 14).
       */
      thumbnails: z.boolean().default(false),
      /** File names under the thumbnails: off unless asked for. */
      fileNames: z.boolean().default(false),
      notes: z.string().max(20_000).default(''),
      /** "Prepared by" in the PDF and its Author field; empty unless given. */
      author: z.string().max(200).optional(),
      force: z.boolean().default(false),
    })
    .strict()
    .refine((r) => r.runId !== undefined || r.evaluationId !== undefined, 'Give the run (runId) or the evaluation (evaluationId) to report'),
  'suggestions:accept': z
    .object({ evaluationId: id, imageIds: z.array(id).min(1).max(500_000).optional(), minConfidence: z.number().min(0).max(1).optional() })
    .strict()
    .refine((r) => (r.imageIds === undefined) !== (r.minConfidence === undefined), 'Give either imageIds or minConfidence'),
} as const;

export type Method = keyof typeof requestSchemas;
export const methods = Object.keys(requestSchemas) as Method[];

/** The parsed request type of a method (defaults applied). */
export type Request<M extends Method> = z.output<(typeof requestSchemas)[M]>;
/** What a caller may send (defaults optional). */
export type RequestInput<M extends Method> = z.input<(typeof requestSchemas)[M]>;

export interface Responses {
  'app:info': AppInfo;
  'projects:recent': RecentProject[];
  'projects:create': ProjectInfo;
  'projects:open': ProjectInfo;
  'projects:close': { closed: boolean };
  'projects:createSample': { project: ProjectInfo; jobId: string };
  'project:summary': ProjectSummary;
  'fs:list': DirListing;
  'dialogs:pickFolder': { supported: boolean; path: string | null };
  'dialogs:pickFile': { supported: boolean; path: string | null };
  'import:preview': ImportPreview;
  'import:start': { jobId: string };
  'jobs:list': Job[];
  'jobs:cancel': { canceled: boolean };
  'classes:list': ClassInfo[];
  'images:query': ImagePage;
  'images:get': ImageDetail;
  'images:ids': { ids: number[] };
  'images:setFlags': EditResult;
  'images:history': HistoryEntry[];
  'dicom:facets': DicomFacets;
  'dicom:header': DicomHeader;
  'labels:set': EditResult;
  'labels:undo': EditResult;
  'labels:redo': EditResult;
  'edits:state': EditState;
  'labels:exportCsv': { csv: string; rows: number };
  'labels:importCsv': CsvImportReport;
  'classes:create': ClassInfo;
  'classes:update': ClassInfo;
  'classes:merge': { moved: number };
  'classes:delete': { unlabeled: number; moved: number };
  'classes:reorder': ClassInfo[];
  'splits:summary': SplitSummary;
  'splits:assign': SplitSummary;
  'splits:folds': SplitSummary;
  'splits:move': EditResult;
  'splits:lockTest': SplitSummary;
  'groups:preview': GroupPreview;
  /** `advice`: what would help when the labeled set is small (more labels, a pretrained backbone, k-fold); else empty. */
  'training:suggest': { config: TrainConfig; reasons: string[]; advice: string[] };
  'training:start': RunInfo[];
  'training:stop': { stopped: boolean };
  'training:resume': RunInfo;
  'training:extend': RunInfo;
  'training:rerun': RunInfo;
  'training:doctor': BackendReport;
  'runs:list': RunInfo[];
  'runs:get': RunDetail;
  'presets:list': { name: string; config: TrainConfig; savedAt: string }[];
  'presets:save': { saved: boolean };
  'presets:delete': { deleted: boolean };
  'backbones:list': BackboneSummary[];
  'backbones:import': BackboneSummary;
  'evaluations:run': { jobId: string };
  'evaluations:predictUnlabeled': { jobId: string };
  'evaluations:list': EvaluationSummary[];
  'evaluations:get': EvaluationDetail;
  'evaluations:labelErrors': { candidates: LabelErrorCandidate[]; outOfFold: boolean };
  'evaluations:crossValidation': CrossValidation;
  'evaluations:external': { jobId: string };
  'evaluations:listExternal': EvaluationSummary[];
  'evaluations:reevaluateExternal': { jobId: string };
  'backbones:importStart': { jobId: string };
  'suggestions:accept': EditResult;
  'export:model': { jobId: string };
  'export:dataset': { jobId: string };
  'report:create': { jobId: string };
}

export type Response<M extends Method> = Responses[M];

/** The API every face exposes: one async function per method. */
export type LoupeApi = { [M in Method]: (request: RequestInput<M>) => Promise<Response<M>> };
/** What core implements: requests arrive already validated. */
export type LoupeHandlers = { [M in Method]: (request: Request<M>) => Promise<Response<M>> };

// ---------- events ----------

export interface Events {
  'job:progress': Job;
  /** Something in the open project changed (import batch landed, project opened/closed). */
  'project:changed': { reason: 'opened' | 'closed' | 'images' | 'classes' | 'labels' | 'splits' | 'runs' | 'evaluations' | 'backbones' };
  'training:event': TrainingEvent;
  /** The desktop app's menu, for the UI to act on (never sent by the browser host). */
  'menu:command': { command: MenuCommand };
}
export type EventName = keyof Events;
export const eventNames: EventName[] = ['job:progress', 'project:changed', 'training:event', 'menu:command'];

// ---------- errors across the boundary ----------

/** Validates a raw request; throws a VALIDATION LoupeError naming the bad fields. */
export function parseRequest<M extends Method>(method: M, payload: unknown): Request<M> {
  const schema = requestSchemas[method];
  if (!schema) throw new LoupeError('NOT_FOUND', `Unknown method: ${String(method)}`);
  const r = schema.safeParse(payload ?? {});
  if (!r.success) {
    const detail = r.error.issues.map((i) => `${i.path.join('.') || '(request)'}: ${i.message}`).join('; ');
    throw new LoupeError('VALIDATION', `Invalid request for ${method}: ${detail}`);
  }
  return r.data as Request<M>;
}

export function isMethod(name: string): name is Method {
  return Object.prototype.hasOwnProperty.call(requestSchemas, name);
}

/** URL paths for image bytes (host: `/media/...`, Electron: `loupe://...`). Ids only, never paths. */
export type MediaKind = 'thumb' | 'image' | 'raw';
