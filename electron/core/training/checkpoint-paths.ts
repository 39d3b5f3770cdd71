/** Where a run's checkpoints live: runs/<id>/best (the best epoch) and runs/<id>/last (for resume). */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export type CheckpointKind = 'best' | 'last';

export function checkpointDir(runDir: string, kind: CheckpointKind): string {
  return join(runDir, kind);
}

export function hasCheckpoint(runDir: string, kind: CheckpointKind): boolean {
  return existsSync(join(checkpointDir(runDir, kind), 'model.json'));
}
