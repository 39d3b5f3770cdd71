/** Per-project settings kept in project.db's meta table. */
import { DEFAULT_LIMIT_INPUT_PIXELS } from '../import/probe.ts';
import type { Database } from '../db/database.ts';
import type { Project } from './project.ts';

/**
 * The highest pixel limit a project file may ask for: sharp's own default (0x3FFF × 0x3FFF). A project opened by
 * double-click is someone else's file, so it can lower the guard but never switch it off.
 */
export const MAX_LIMIT_INPUT_PIXELS = 0x3fff * 0x3fff;

/** The decompression-bomb guard: pixels per image, from meta `limit_input_pixels` (default 100 megapixels). */
export function pixelLimit(project: Project): number {
  const value = project.db.prepare(`SELECT value FROM meta WHERE key = 'limit_input_pixels'`).pluck().get() as string | undefined;
  const n = value === undefined ? NaN : Math.floor(Number(value));
  return Number.isFinite(n) && n >= 1 ? Math.min(n, MAX_LIMIT_INPUT_PIXELS) : DEFAULT_LIMIT_INPUT_PIXELS;
}

/** The most folds `splits:folds` assigns (shared/contract.ts); a project file asking for more is not believed. */
export const MAX_FOLDS = 10;

/** The project's k folds (meta `folds_k`), or null when none are assigned or the stored value is out of bounds. */
export function foldsK(db: Database): number | null {
  const value = db.prepare(`SELECT value FROM meta WHERE key = 'folds_k'`).pluck().get() as string | undefined;
  const k = value === undefined ? NaN : Number(value);
  return Number.isInteger(k) && k >= 2 && k <= MAX_FOLDS ? k : null;
}
