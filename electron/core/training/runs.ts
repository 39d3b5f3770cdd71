/** Training runs in project.db: create, read, update status and metrics. The run folder is runs/<id>/. */
import { join } from 'node:path';
import { LoupeError } from '../../../shared/contract.ts';
import {
  trainConfigSchema,
  type EpochMetrics,
  type Preprocessing,
  type RunInfo,
  type RunStatus,
  type TrainConfig,
} from '../../../shared/training.ts';
import type { Database } from '../db/database.ts';
import type { Project } from '../project/project.ts';
import { parsePreprocessing } from './model-folder.ts';

interface RunRow {
  id: number;
  name: string;
  status: RunStatus;
  config: string;
  classes: string;
  preprocessing: string | null;
  backend: string | null;
  app_version: string;
  parent_id: number | null;
  fold: number | null;
  created_at: string;
  started_at: string | null;
  ended_at: string | null;
  epochs_done: number;
  best_epoch: number | null;
  best_val_accuracy: number | null;
  best_val_loss: number | null;
  error: string | null;
  warnings: string | null;
  cv_group: string | null;
  train_images: number;
  val_images: number;
}

export function runDir(project: Project, runId: number): string {
  return join(project.runsDir, String(runId));
}

function toInfo(r: RunRow): RunInfo {
  return {
    id: r.id,
    name: r.name,
    status: r.status,
    config: trainConfigSchema.parse(JSON.parse(r.config)),
    backend: r.backend,
    appVersion: r.app_version,
    createdAt: r.created_at,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    epochsDone: r.epochs_done,
    bestEpoch: r.best_epoch,
    bestValAccuracy: r.best_val_accuracy,
    bestValLoss: r.best_val_loss,
    error: r.error,
    parentId: r.parent_id,
    fold: r.fold,
    cvGroup: r.cv_group,
    classes: JSON.parse(r.classes) as string[],
    trainImages: r.train_images,
    valImages: r.val_images,
    warnings: r.warnings ? (JSON.parse(r.warnings) as string[]) : [],
    preprocessing: r.preprocessing ? storedPreprocessing(r.preprocessing) : null,
  };
}

/**
 * A run's stored preprocessing, checked with the bounds of a bundle's: a project file from someone else must not
 * size buffers (image size × channels × batch). Out of bounds, the run counts as having no usable model.
 */
function storedPreprocessing(text: string): Preprocessing | null {
  try {
    return parsePreprocessing(JSON.parse(text));
  } catch {
    return null;
  }
}

const SELECT = `SELECT r.*,
  (SELECT COUNT(*) FROM run_images ri WHERE ri.run_id = r.id AND ri.split = 'train') AS train_images,
  (SELECT COUNT(*) FROM run_images ri WHERE ri.run_id = r.id AND ri.split = 'val') AS val_images
  FROM runs r`;

export function getRun(db: Database, id: number): RunInfo {
  const r = db.prepare(`${SELECT} WHERE r.id = ?`).get(id) as RunRow | undefined;
  if (!r) throw new LoupeError('NOT_FOUND', `No run with id ${id}`);
  return toInfo(r);
}

export function listRuns(db: Database): RunInfo[] {
  return (db.prepare(`${SELECT} ORDER BY r.id DESC`).all() as RunRow[]).map(toInfo);
}

export function createRun(
  db: Database,
  r: {
    name: string;
    config: TrainConfig;
    classes: string[];
    appVersion: string;
    parentId?: number | null;
    fold?: number | null;
    cvGroup?: string | null;
    warnings?: string[];
  },
): number {
  return Number(
    db
      .prepare(
        `INSERT INTO runs (name, status, config, classes, app_version, parent_id, fold, cv_group, created_at, warnings)
         VALUES (?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(r.name, JSON.stringify(r.config), JSON.stringify(r.classes), r.appVersion, r.parentId ?? null, r.fold ?? null, r.cvGroup ?? null, new Date().toISOString(), JSON.stringify(r.warnings ?? []))
      .lastInsertRowid,
  );
}

export function markRunning(db: Database, id: number, backend: string): void {
  db.prepare(`UPDATE runs SET status = 'running', backend = ?, started_at = COALESCE(started_at, ?), ended_at = NULL, error = NULL WHERE id = ?`).run(
    backend,
    new Date().toISOString(),
    id,
  );
}

export function setPreprocessing(db: Database, id: number, p: Preprocessing): void {
  db.prepare('UPDATE runs SET preprocessing = ? WHERE id = ?').run(JSON.stringify(p), id);
}

/** Adds warnings the run does not have yet: a resumed run finds the same things again. */
export function addWarnings(db: Database, id: number, messages: string[]): void {
  const cur = getRun(db, id).warnings;
  const fresh = messages.filter((m) => !cur.includes(m));
  if (!fresh.length) return;
  db.prepare('UPDATE runs SET warnings = ? WHERE id = ?').run(JSON.stringify([...cur, ...fresh]), id);
}

export function endRun(db: Database, id: number, status: Exclude<RunStatus, 'queued' | 'running'>, error: string | null = null): void {
  db.prepare('UPDATE runs SET status = ?, ended_at = ?, error = ? WHERE id = ?').run(status, new Date().toISOString(), error, id);
}

export function recordEpoch(db: Database, id: number, m: EpochMetrics, improved: boolean): void {
  db.transaction(() => {
    db.prepare(
      `INSERT OR REPLACE INTO run_epochs (run_id, epoch, train_loss, train_accuracy, val_loss, val_accuracy, lr, images_per_second, seconds)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(id, m.epoch, m.trainLoss, m.trainAccuracy, m.valLoss, m.valAccuracy, m.lr, m.imagesPerSecond, m.seconds);
    db.prepare('UPDATE runs SET epochs_done = ? WHERE id = ?').run(m.epoch + 1, id);
    if (improved) {
      db.prepare('UPDATE runs SET best_epoch = ?, best_val_accuracy = ?, best_val_loss = ? WHERE id = ?').run(m.epoch, m.valAccuracy, m.valLoss, id);
    }
  })();
}

export function runEpochs(db: Database, id: number): EpochMetrics[] {
  return (
    db.prepare('SELECT * FROM run_epochs WHERE run_id = ? ORDER BY epoch').all(id) as {
      epoch: number;
      train_loss: number;
      train_accuracy: number;
      val_loss: number | null;
      val_accuracy: number | null;
      lr: number;
      images_per_second: number;
      seconds: number;
    }[]
  ).map((r) => ({
    epoch: r.epoch,
    trainLoss: r.train_loss,
    trainAccuracy: r.train_accuracy,
    valLoss: r.val_loss,
    valAccuracy: r.val_accuracy,
    lr: r.lr,
    imagesPerSecond: r.images_per_second,
    seconds: r.seconds,
  }));
}
