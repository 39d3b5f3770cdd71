/**
 * Labels and splits from folders (the ImageFolder convention): `root/<class>/.../img` gives the class, and a
 * top-level `train/`, `val|valid|validation/` or `test/` folder (any case) gives the split, with the class one
 * level below it: `root/train/<class>/img`. Files directly in the root (or directly in a split folder) get no
 * class. With labels 'none' the folders mean nothing: no class and no split.
 */
import type { LabelSource, SplitName } from '../../../shared/contract.ts';

const SPLIT_FOLDERS: Record<string, SplitName> = {
  train: 'train',
  val: 'val',
  valid: 'val',
  validation: 'val',
  test: 'test',
};

export function splitOfFolder(name: string): SplitName | null {
  return SPLIT_FOLDERS[name.toLowerCase()] ?? null;
}

export interface PathLabels {
  className: string | null;
  split: SplitName | null;
}

/** Class and split of a file from its path segments relative to the import root (the last one is the file). */
export function labelsFromPath(segments: readonly string[], labels: LabelSource): PathLabels {
  if (labels === 'none') return { className: null, split: null };
  const folders = segments.slice(0, -1);
  if (folders.length === 0) return { className: null, split: null };
  const split = splitOfFolder(folders[0]!);
  // Labels from a DICOM attribute are read with the file; train/val/test folders still say the split.
  if (labels !== 'folders') return { className: null, split };
  if (split) return { className: folders[1] ?? null, split };
  return { className: folders[0]!, split: null };
}

/** Natural order: "class2" before "class10". */
export function compareNames(a: string, b: string): number {
  return a.localeCompare(b, undefined, { numeric: true, sensitivity: 'base' });
}

// Distinct, readable on dark and light backgrounds; beyond these, hues spaced by the golden angle.
const PALETTE = [
  '#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948',
  '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac', '#1f77b4', '#17becf',
];

export function classColor(position: number): string {
  if (position < PALETTE.length) return PALETTE[position]!;
  const hue = Math.round((position * 137.508) % 360);
  return hslToHex(hue, 0.55, 0.55);
}

function hslToHex(h: number, s: number, l: number): string {
  const a = s * Math.min(l, 1 - l);
  const f = (n: number) => {
    const k = (n + h / 30) % 12;
    const c = l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1));
    return Math.round(c * 255)
      .toString(16)
      .padStart(2, '0');
  };
  return `#${f(0)}${f(8)}${f(4)}`;
}
