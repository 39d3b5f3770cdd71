/** Per-project settings kept in project.db's meta table. */
import { DEFAULT_LIMIT_INPUT_PIXELS } from '../import/probe.ts';
import type { Project } from './project.ts';

/** The decompression-bomb guard: pixels per image, from meta `limit_input_pixels` (default 100 megapixels). */
export function pixelLimit(project: Project): number {
  const value = project.db.prepare(`SELECT value FROM meta WHERE key = 'limit_input_pixels'`).pluck().get() as string | undefined;
  const n = value === undefined ? NaN : Number(value);
  return Number.isFinite(n) && n > 0 ? n : DEFAULT_LIMIT_INPUT_PIXELS;
}
