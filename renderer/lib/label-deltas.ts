/**
 * What an edit does to the sidebar's counts, computed from the images' old values as the grid has them, so a
 * keystroke can show its new counts at once instead of recounting 100,000 rows on the server. Pure.
 */
import type { ImageSummary } from '../../shared/contract.ts';
import type { SplitName } from '../../shared/domain.ts';

export type EditPatch = Partial<Pick<ImageSummary, 'classId' | 'split' | 'unsure' | 'excluded'>>;

export interface CountDeltas {
  /** By class id; the key `null` is "unlabeled". */
  classes: Map<number | null, number>;
  splits: Record<SplitName | 'unassigned', number>;
  unsure: number;
  excluded: number;
  /** Images whose value actually changes. */
  changed: number;
}

function bump<K>(m: Map<K, number>, k: K, by: number): void {
  m.set(k, (m.get(k) ?? 0) + by);
}

export function countDeltas(items: readonly ImageSummary[], patch: EditPatch): CountDeltas {
  const d: CountDeltas = {
    classes: new Map(),
    splits: { train: 0, val: 0, test: 0, unassigned: 0 },
    unsure: 0,
    excluded: 0,
    changed: 0,
  };
  for (const item of items) {
    let changed = false;
    if (patch.classId !== undefined && item.classId !== patch.classId) {
      bump(d.classes, item.classId, -1);
      bump(d.classes, patch.classId, 1);
      changed = true;
    }
    if (patch.split !== undefined && item.split !== patch.split) {
      d.splits[item.split ?? 'unassigned']--;
      d.splits[patch.split ?? 'unassigned']++;
      changed = true;
    }
    if (patch.unsure !== undefined && item.unsure !== patch.unsure) {
      d.unsure += patch.unsure ? 1 : -1;
      changed = true;
    }
    if (patch.excluded !== undefined && item.excluded !== patch.excluded) {
      d.excluded += patch.excluded ? 1 : -1;
      changed = true;
    }
    if (changed) d.changed++;
  }
  return d;
}

/** The new value of a boolean flag for a selection: on unless every image already has it (then off). */
export function nextFlagValue(items: readonly ImageSummary[], flag: 'unsure' | 'excluded'): boolean {
  return !(items.length > 0 && items.every((i) => i[flag]));
}
