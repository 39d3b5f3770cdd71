/**
 * checkpoint.json, the metrics of the epoch a checkpoint folder holds. Apart from checkpoint.ts so that run
 * recovery, which every project open runs, reads it without loading TensorFlow.js (half a second of every CLI
 * command's start).
 */
import type { EpochMetrics } from '../../../shared/training.ts';
import { checkpointDir } from './checkpoint-paths.ts';
import { readJsonFile } from './model-folder.ts';

export const META_FILE = 'checkpoint.json';

/** The metrics of the epoch a checkpoint holds; null for a checkpoint written before they were kept, or unreadable. */
export function readCheckpointMetrics(runDir: string, kind: 'best' | 'last'): EpochMetrics | null {
  try {
    const m = readJsonFile(checkpointDir(runDir, kind), META_FILE) as EpochMetrics;
    return Number.isInteger(m.epoch) && m.epoch >= 0 ? m : null;
  } catch {
    return null;
  }
}
