/**
 * Plain values and helpers of the contract that the renderer uses at run time. Zod-free: the renderer imports
 * these, and only types from contract.ts, so the schemas stay out of its bundle.
 */
import type { ImportReport, Job } from './contract.ts';

export const splitNames = ['train', 'val', 'test'] as const;
export type SplitName = (typeof splitNames)[number];

/** Grid orders; the prediction ones need an `evaluation` filter: confidence (high first), uncertainty (small
 * margin first), loss (lowest probability of the true class first: the top losses). */
export const sortKeys = ['name', 'date', 'size', 'confidence', 'uncertainty', 'loss'] as const;
export type SortKey = (typeof sortKeys)[number];

/** The import report of an import or sample job, or null for other kinds. */
export function importReportOf(job: Pick<Job, 'result'>): ImportReport | null {
  return job.result && 'added' in job.result ? job.result : null;
}

/** What the desktop app's menu asks the UI to do (`menu:command` events). */
export const menuCommands = [
  'project:new',
  'project:open',
  'project:close',
  'import',
  'export',
  'report',
  'undo',
  'redo',
  'select-all',
  'view:images',
  'view:train',
  'view:evaluate',
  'help:shortcuts',
] as const;
export type MenuCommand = (typeof menuCommands)[number];
