/**
 * Re-evaluate an external model's evaluation (issue 12): images relabeled since make its numbers stale, so the same
 * model file is run again on the split's labeled images as they are now, with the classes, preprocessing and image
 * size it was evaluated with. The file is read again from where it was (kept in project.db for this alone) and
 * must still be the same model; the result is a new evaluation, the old one stays as it was.
 */
import { statSync } from 'node:fs';
import { LoupeError, storedForeignInput } from '../../../shared/contract.ts';
import type { PreprocessPreset } from '../../../shared/preprocess-presets.ts';
import type { ExternalEvaluationRequest } from '../../../shared/worker-protocol.ts';
import type { Database } from '../db/database.ts';

interface Stored {
  split: 'val' | 'test' | 'unlabeled';
  run_id: number | null;
  path: string | null;
  file_name: string;
  sha256: string;
  format: 'onnx' | 'bundle';
  classes: string;
  preprocess: PreprocessPreset | 'bundle';
  image_size: number;
}

/** The request that evaluates the same model file again, or a LoupeError that says why it cannot be. */
export function reevaluationRequest(db: Database, evaluationId: number): ExternalEvaluationRequest {
  const row = db
    .prepare(
      `SELECT e.split, e.run_id, m.path, m.file_name, m.sha256, m.format, m.classes, m.preprocess, m.image_size
       FROM evaluations e LEFT JOIN external_models m ON m.id = e.external_model_id WHERE e.id = ?`,
    )
    .get(evaluationId) as Stored | undefined;
  if (!row) throw new LoupeError('NOT_FOUND', `No evaluation with id ${evaluationId}`);
  if (row.run_id !== null) throw new LoupeError('BAD_INPUT', `Evaluation ${evaluationId} is of run #${row.run_id}, not of a model file: evaluate the run again`);
  if (row.split === 'unlabeled') throw new LoupeError('BAD_INPUT', `Evaluation ${evaluationId} has no labels to re-evaluate against`);
  const again = 'evaluate it anew with "Evaluate a model file"';
  if (row.path === null) throw new LoupeError('NOT_FOUND', `Loupe did not keep where ${row.file_name} was (evaluated by an earlier version): ${again}`);
  const stat = statSync(row.path, { throwIfNoEntry: false });
  const bundle = row.format === 'bundle';
  if (!stat || (bundle ? !stat.isDirectory() : !stat.isFile())) {
    throw new LoupeError('NOT_FOUND', `${row.file_name} is no longer at ${row.path}: put it back there, or ${again}`);
  }
  const common = { file: row.path, split: row.split, expectSha256: row.sha256 };
  // A bundle carries its own classes and preprocessing; an ONNX file gets what it was evaluated with.
  if (bundle) return common;
  return { ...common, ...storedInput(row, evaluationId) };
}

/**
 * project.db is a file from elsewhere too (a project folder shared, opened by double-click): what it says of the
 * model's classes, preprocessing and size is checked with the bounds a new evaluation's request gets.
 */
function storedInput(row: Stored, evaluationId: number): { classes: string[]; preprocess: PreprocessPreset; imageSize: number } {
  let classes: unknown;
  try {
    classes = JSON.parse(row.classes);
  } catch {
    classes = undefined;
  }
  const parsed = storedForeignInput.safeParse({ classes, preprocess: row.preprocess, imageSize: row.image_size });
  if (!parsed.success) {
    const what = [...new Set(parsed.error.issues.map((i) => String(i.path[0] ?? 'record')))].join(', ');
    throw new LoupeError('BAD_INPUT', `Evaluation ${evaluationId}'s stored model record is damaged (${what}): evaluate ${row.file_name} anew with "Evaluate a model file"`);
  }
  return parsed.data;
}
