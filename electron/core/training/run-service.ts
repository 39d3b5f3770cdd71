/**
 * Creating runs: one-click defaults picked from the data, new runs (one per fold for cross-validation) with their
 * dataset snapshot, re-runs from a stored snapshot, extensions, and named presets.
 */
import { LoupeError } from '../../../shared/contract.ts';
import { minImageSize, trainConfigSchema, type RunInfo, type TrainConfig, type TrainConfigInput } from '../../../shared/training.ts';
import type { Project } from '../project/project.ts';
import { collectDataset, readSnapshot, writeSnapshot, type DatasetItem } from './dataset.ts';
import { createRun, getRun } from './runs.ts';
import { writeRunLease } from './run-lease.ts';
import { applyBackbone, findBackbone } from './backbones.ts';
import { assignSplits } from '../splits/splits.ts';
import { foldsK } from '../project/settings.ts';
import { pretrainedChoice, smallDataAdvice } from './advice.ts';

export interface Suggestion {
  config: TrainConfig;
  reasons: string[];
  advice: string[];
}

/** Defaults from the data: input size from the images, architecture from the dataset size, imbalance handling. */
export function suggestConfig(project: Project): Suggestion {
  const db = project.db;
  const stats = db
    .prepare(
      `SELECT COUNT(*) AS n, AVG(MIN(width, height)) AS side, MAX(channels) AS maxChannels,
              SUM(channels >= 3 AND channels_equal IS NOT 1) AS colour,
              SUM(channels >= 3 AND channels_equal = 1) AS greyRgb
       FROM images WHERE status = 'ok' AND class_id IS NOT NULL AND excluded = 0`,
    )
    .get() as { n: number; side: number | null; maxChannels: number | null; colour: number | null; greyRgb: number | null };
  const reasons: string[] = [];
  const pretrained = pretrainedChoice(project, stats.n);
  const side = stats.side ?? 64;
  // Larger inputs cost quadratically on a CPU; 64 px keeps a first run to minutes. Raise it for fine detail.
  const imageSize = side <= 32 ? Math.max(16, Math.round(side / 4) * 4) : 64;
  const inputReasons: string[] = [];
  inputReasons.push(
    side <= 32
      ? `Image size ${imageSize}: your images are ${Math.round(side)} px on their short side`
      : `Image size 64: your images average ${Math.round(side)} px; 64 keeps training fast on this computer (raise it for fine detail)`,
  );
  const channels = (stats.colour ?? 0) > stats.n / 2 ? 3 : 1;
  const greyRgb = stats.greyRgb ?? 0;
  inputReasons.push(
    channels === 3
      ? 'Colour (RGB): most images have colour'
      : greyRgb > stats.n - (stats.colour ?? 0) - greyRgb
        ? 'Grey (stored as RGB): most images store three equal channels, so one channel trains the same at a third of the first layer’s work'
        : 'Grayscale: most images have one channel',
  );
  const arch = pretrained ? 'backbone' : imageSize <= 32 ? 'lenet5' : stats.n < 2000 ? 'cnn' : 'resnet';
  reasons.push(
    pretrained
      ? pretrained.reason
      : arch === 'lenet5'
        ? 'LeNet-5: small images'
        : arch === 'cnn'
          ? `Custom CNN: ${stats.n} labeled images is too few for a deeper network`
          : `Compact ResNet: ${stats.n} labeled images`,
  );
  const counts = (db.prepare(`SELECT COUNT(*) FROM images WHERE class_id IS NOT NULL AND status = 'ok' AND excluded = 0 GROUP BY class_id`).pluck().all() as number[]).filter((c) => c > 0);
  if (counts.length > 1 && Math.max(...counts) > 3 * Math.min(...counts)) {
    reasons.push(`Class weights on: the largest class has ${Math.max(...counts)} images, the smallest ${Math.min(...counts)}`);
  }
  reasons.push('Up to 30 epochs, stopping early when the validation loss stops improving for 5');
  if (!pretrained) reasons.push('Mild augmentation (crop, ±10° rotation, brightness); flips stay off, since left and right can matter');
  const config = trainConfigSchema.parse({
    arch,
    ...(pretrained ? { backbone: pretrained.backbone.name } : {}),
    imageSize,
    channels,
    epochs: 30,
    batchSize: 32,
    optimizer: { kind: 'adam', lr: 0.001 },
    earlyStopping: { monitor: 'val_loss', patience: 5 },
    augment: pretrained ? {} : { cropScale: 0.85, rotation: 10, brightness: 0.1 },
    width: 16,
    depth: 1,
  });
  if (!pretrained) return { config, reasons: [...inputReasons, ...reasons], advice: smallDataAdvice(project, counts) };
  // The backbone decides the input: its size, channels and normalization replace those measured from the images.
  const b = pretrained.backbone;
  const input = `Image size ${b.imageSize}, ${b.channels === 3 ? 'RGB' : 'grey'}: what the backbone expects${b.channels === 3 ? ' (grey images are repeated to three channels)' : ''}`;
  return { config: applyBackbone(config, b), reasons: [input, ...reasons], advice: smallDataAdvice(project, counts) };
}

function checkConfig(project: Project, config: TrainConfig): TrainConfig {
  if (config.arch === 'backbone') {
    if (!config.backbone) throw new LoupeError('BAD_INPUT', 'Choose a backbone for transfer learning');
    return applyBackbone(config, findBackbone(project, config.backbone));
  }
  if (config.imageSize < minImageSize(config.arch)) {
    throw new LoupeError('BAD_INPUT', `${config.arch} needs images of at least ${minImageSize(config.arch)} px`);
  }
  return config;
}

/** Creates a run (or one run per fold) with its frozen dataset; returns them queued, ready to start. */
export function createRuns(project: Project, input: { config: TrainConfigInput; name?: string }, appVersion: string): RunInfo[] {
  const config = checkConfig(project, trainConfigSchema.parse(input.config));
  const db = project.db;
  const count = (db.prepare('SELECT COUNT(*) FROM runs').pluck().get() as number) + 1;
  const baseName = input.name?.trim() || `Run ${count} · ${config.arch === 'backbone' ? config.backbone : config.arch}`;
  if (!config.folds) {
    const autoSplit = ensureSplit(project);
    const d = collectDataset(db);
    if (autoSplit) d.notes.unshift(autoSplit);
    return [makeRun(project, baseName, config, d.classes, d.items, appVersion, null, d.notes)];
  }
  const k = foldsK(db);
  if (!k) throw new LoupeError('BAD_INPUT', 'Cross-validation needs folds: assign k folds first (Splits → Cross-validation, or `loupe split --folds K`)');
  const datasets = Array.from({ length: k }, (_, f) => collectDataset(db, { fold: f }));
  const group = `cv-${Date.now().toString(36)}`;
  return db.transaction(() =>
    datasets.map((d, f) => makeRun(project, `${baseName} · fold ${f + 1}/${k}`, config, d.classes, d.items, appVersion, f, d.notes, null, group)),
  )();
}

/** One click must work on a fresh project: with no split at all, make the default stratified one first. */
function ensureSplit(project: Project): string | null {
  const any = project.db.prepare('SELECT 1 FROM images WHERE split IS NOT NULL LIMIT 1').get();
  const labeled = project.db.prepare(`SELECT 1 FROM images WHERE class_id IS NOT NULL AND status = 'ok' LIMIT 1`).get();
  if (any || !labeled) return null;
  // Folds made without a split: a split made here would clear them behind the user's back.
  if (project.db.prepare(`SELECT 1 FROM meta WHERE key = 'folds_k'`).get()) {
    throw new LoupeError(
      'BAD_INPUT',
      'The images are in k folds but in no train/validation split: train with cross-validation (one run per fold), ' +
        'or split them first (Splits, or `loupe split`; a new split clears the folds)',
    );
  }
  assignSplits(project.db, { seed: 42 });
  return 'No split was set: Loupe made a stratified 70/15/15 split (seed 42)';
}

function makeRun(
  project: Project,
  name: string,
  config: TrainConfig,
  classes: string[],
  items: DatasetItem[],
  appVersion: string,
  fold: number | null,
  warnings: string[],
  parentId: number | null = null,
  cvGroup: string | null = null,
): RunInfo {
  const db = project.db;
  const id = db.transaction(() => {
    const runId = createRun(db, { name, config, classes, appVersion, fold, warnings, parentId, cvGroup });
    writeSnapshot(db, runId, items);
    // Held from its first commit: another process opening the project meanwhile must not take it for abandoned.
    writeRunLease(project, runId, 'queued');
    return runId;
  })();
  return getRun(db, id);
}

/** Trains again from a run's stored snapshot and config: the same data, even if labels changed since. */
export function rerun(project: Project, runId: number, appVersion: string): RunInfo {
  const old = getRun(project.db, runId);
  return makeRun(project, `${old.name} · re-run`, old.config, old.classes, readSnapshot(project.db, runId), appVersion, old.fold, [], old.id);
}

/** Adds epochs to a finished or stopped run; it then resumes from its last checkpoint. */
export function extendRun(project: Project, runId: number, epochs: number): RunInfo {
  const run = getRun(project.db, runId);
  if (run.status === 'running' || run.status === 'queued') throw new LoupeError('CONFLICT', 'This run is still training');
  const config = { ...run.config, epochs: Math.max(run.epochsDone, run.config.epochs) + epochs };
  project.db.prepare(`UPDATE runs SET config = ?, status = 'queued', error = NULL WHERE id = ?`).run(JSON.stringify(config), runId);
  return getRun(project.db, runId);
}

export function listPresets(project: Project): { name: string; config: TrainConfig; savedAt: string }[] {
  return (project.db.prepare('SELECT name, config, saved_at FROM presets ORDER BY name').all() as { name: string; config: string; saved_at: string }[]).map((p) => ({
    name: p.name,
    config: trainConfigSchema.parse(JSON.parse(p.config)),
    savedAt: p.saved_at,
  }));
}

export function savePreset(project: Project, name: string, config: TrainConfigInput): void {
  const parsed = trainConfigSchema.parse(config);
  project.db
    .prepare('INSERT INTO presets (name, config, saved_at) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET config = excluded.config, saved_at = excluded.saved_at')
    .run(name, JSON.stringify(parsed), new Date().toISOString());
}

export function deletePreset(project: Project, name: string): boolean {
  return project.db.prepare('DELETE FROM presets WHERE name = ?').run(name).changes > 0;
}
