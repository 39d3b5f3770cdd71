/**
 * Putting runs right after a crash (issue 14), at every project open and before a run trains again: runs left
 * 'running' or 'queued' by a process that died become 'failed' (resumable), checkpoint folders a kill left
 * mid-swap are restored, and project.db is made to agree with the checkpoints on disk (the weights are written
 * before the epoch is recorded, so a kill in between leaves the database one epoch behind the files).
 * Runs a live process holds (run-lease.ts) are left alone.
 */
import type { EpochMetrics } from '../../../shared/training.ts';
import type { Database } from '../db/database.ts';
import type { Project } from '../project/project.ts';
import { readCheckpointMetrics } from './checkpoint-meta.ts';
import { hasCheckpointLeftovers, recoverCheckpointFolders } from './checkpoint-paths.ts';
import { liveRunHolder } from './run-lease.ts';
import { clearFailureNote, readFailureNote } from './failure-note.ts';
import { addWarnings, runDir } from './runs.ts';

const INTERRUPTED =
  'Loupe closed or the training process ended before this run finished; resume continues from the last checkpoint';

function insertEpochIfAbsent(db: Database, runId: number, m: EpochMetrics): void {
  db.prepare(
    `INSERT OR IGNORE INTO run_epochs (run_id, epoch, train_loss, train_accuracy, val_loss, val_accuracy, lr, images_per_second, seconds)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(runId, m.epoch, m.trainLoss, m.trainAccuracy, m.valLoss, m.valAccuracy, m.lr, m.imagesPerSecond, m.seconds);
}

/**
 * Restores a run's checkpoint folders and brings its database record in line with them. The caller holds the run
 * (its lease, or the write lock with no live holder). Returns true when something was changed.
 */
export function repairRun(project: Project, runId: number): boolean {
  const db = project.db;
  const dir = runDir(project, runId);
  const restored = hasCheckpointLeftovers(dir) ? recoverCheckpointFolders(dir) : [];
  const last = readCheckpointMetrics(dir, 'last');
  const best = readCheckpointMetrics(dir, 'best');
  let changed = restored.length > 0;
  for (const m of [last, best]) if (m) insertEpochIfAbsent(db, runId, m);
  // best/ may be one epoch ahead of last/ (killed between the two): that epoch was trained, and resume replays it.
  const done = Math.max(last?.epoch ?? -1, best?.epoch ?? -1) + 1;
  if (done > 0) changed = db.prepare('UPDATE runs SET epochs_done = ? WHERE id = ? AND epochs_done < ?').run(done, runId, done).changes > 0 || changed;
  if (best) {
    changed =
      db
        .prepare('UPDATE runs SET best_epoch = ?, best_val_accuracy = ?, best_val_loss = ? WHERE id = ? AND best_epoch IS NOT ?')
        .run(best.epoch, best.valAccuracy, best.valLoss, runId, best.epoch).changes > 0 || changed;
  }
  if (restored.length) addWarnings(db, runId, restored);
  return changed;
}

/** Whether repairRun would change anything, found without the write lock (a readdir and two small reads). */
function needsRepair(project: Project, runId: number, row: { epochs_done: number; best_epoch: number | null }): boolean {
  const dir = runDir(project, runId);
  if (hasCheckpointLeftovers(dir)) return true;
  const last = readCheckpointMetrics(dir, 'last');
  const best = readCheckpointMetrics(dir, 'best');
  const done = Math.max(last?.epoch ?? -1, best?.epoch ?? -1) + 1;
  return done > row.epochs_done || (best !== null && best.epoch !== row.best_epoch);
}

/**
 * Marks runs whose holder died as failed and repairs every run that may have been cut short. Each run is checked
 * and changed inside one IMMEDIATE transaction, the one a process taking the run's lease would also need; failed
 * runs with nothing to repair take no lock, so opening a project another process is writing stays quick.
 * Returns how many runs were marked failed.
 */
export function recoverInterruptedRuns(project: Project): number {
  const db = project.db;
  const candidates = db
    .prepare(`SELECT id, status, epochs_done, best_epoch FROM runs WHERE status IN ('running', 'queued', 'failed')`)
    .all() as { id: number; status: string; epochs_done: number; best_epoch: number | null }[];
  const mark = db.prepare(`UPDATE runs SET status = 'failed', ended_at = ?, error = ? WHERE id = ? AND status IN ('running', 'queued')`);
  let failed = 0;
  for (const row of candidates) {
    if (liveRunHolder(project, row.id)) continue;
    if (row.status === 'failed' && !needsRepair(project, row.id, row)) continue;
    // The reason a process could not record because the disk was full (failure-note.ts), else "interrupted".
    const note = row.status === 'failed' ? null : readFailureNote(runDir(project, row.id));
    const marked = db.transaction(() => {
      if (liveRunHolder(project, row.id)) return 0;
      const n = mark.run(new Date().toISOString(), note ?? INTERRUPTED, row.id).changes;
      repairRun(project, row.id);
      return n;
    }).immediate();
    failed += marked;
    if (marked && note !== null) clearFailureNote(runDir(project, row.id));
  }
  return failed;
}
