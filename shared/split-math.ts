/**
 * Split math: stratified, seeded, group-aware assignment of images to buckets (train/val/test splits, or k
 * folds). Pure: the same items, weights and seed always give the same assignment.
 *
 * One greedy algorithm serves every case. Items are gathered into units (a group, or a lone image); units are
 * shuffled by the seed, then placed largest first, each into the bucket where it overflows the per-class targets
 * least (ties: the bucket furthest below its targets for the unit's classes, then the emptiest bucket overall).
 * With lone images this meets the targets exactly, and the targets come from largest-remainder rounding, so every
 * class is within one image of its ideal share. With groups it keeps each group whole and stays as stratified as
 * the groups allow.
 */
import { seededRandom, shuffleInPlace } from './random.ts';

export interface SplitItem {
  id: number;
  /** Class id; null for unlabeled images, which form their own stratum. */
  cls: number | null;
  /** Group key (patient, study); null for an image on its own. */
  group: string | null;
}

/** Integer shares of n proportional to weights, summing to n, each within 1 of its ideal (largest remainder). */
export function largestRemainder(n: number, weights: readonly number[], ahead?: ArrayLike<number>): number[] {
  const sum = weights.reduce((a, b) => a + b, 0);
  if (sum <= 0) return weights.map(() => 0);
  const ideal = weights.map((w) => (n * w) / sum);
  const out = ideal.map(Math.floor);
  let left = n - out.reduce((a, b) => a + b, 0);
  // Equal remainders (always, with equal weights) go first to the buckets least `ahead` of their share so far.
  const order = ideal
    .map((v, i) => ({ i, frac: v - Math.floor(v) }))
    .filter((o) => weights[o.i]! > 0)
    .sort((a, b) => (Math.abs(b.frac - a.frac) > 1e-9 ? b.frac - a.frac : 0) || (ahead ? ahead[a.i]! - ahead[b.i]! : 0) || a.i - b.i);
  for (let k = 0; left > 0 && order.length > 0; k = (k + 1) % order.length, left--) out[order[k]!.i]!++;
  return out;
}

/** Checks train/val/test ratios: three non-negative numbers summing to 1. Returns a message, or null if fine. */
export function ratiosProblem(ratios: readonly number[]): string | null {
  if (ratios.length !== 3) return `Give three ratios (train, val, test), e.g. 0.7,0.15,0.15; got ${ratios.length}`;
  if (ratios.some((r) => !Number.isFinite(r) || r < 0 || r > 1)) return `Each ratio must be between 0 and 1; got ${ratios.join(', ')}`;
  const sum = ratios.reduce((a, b) => a + b, 0);
  if (Math.abs(sum - 1) > 1e-6) return `Ratios must sum to 1; ${ratios.join(' + ')} = ${Number(sum.toFixed(6))}`;
  if (ratios[0] === 0) return 'The train ratio must be above 0';
  return null;
}

/**
 * Items gathered into units (a group, or a lone image), in flat arrays: 100k-image projects re-split in well under
 * a second only without an object per unit. Members of unit u are members[start[u] .. start[u+1]) (item positions,
 * in id order); classOf maps an item to a dense class index 0…C−1 (unlabeled is a class of its own).
 */
interface Units {
  count: number;
  start: Int32Array;
  members: Int32Array;
  classOf: Int32Array;
  classes: number;
}

function unitsOf(items: readonly SplitItem[]): Units {
  const n = items.length;
  // Id order, so the result does not depend on the order the caller read rows in (usually id order already).
  let order: Int32Array | null = null;
  for (let i = 1; i < n; i++) {
    if (items[i - 1]!.id >= items[i]!.id) {
      order = Int32Array.from(items.keys()).sort((a, b) => items[a]!.id - items[b]!.id);
      break;
    }
  }
  const dense = new Map<number | null, number>();
  const byGroup = new Map<string, number>();
  const classOf = new Int32Array(n);
  const unitOf = new Int32Array(n);
  let count = 0;
  for (let k = 0; k < n; k++) {
    const i = order ? order[k]! : k;
    const it = items[i]!;
    let c = dense.get(it.cls);
    if (c === undefined) dense.set(it.cls, (c = dense.size));
    classOf[i] = c;
    let u = it.group !== null ? byGroup.get(it.group) : undefined;
    if (u === undefined) {
      u = count++;
      if (it.group !== null) byGroup.set(it.group, u);
    }
    unitOf[i] = u;
  }
  const start = new Int32Array(count + 1);
  for (let i = 0; i < n; i++) start[unitOf[i]! + 1]!++;
  for (let u = 0; u < count; u++) start[u + 1]! += start[u]!;
  const fill = start.slice(0, count);
  const members = new Int32Array(n);
  for (let k = 0; k < n; k++) {
    const i = order ? order[k]! : k;
    members[fill[unitOf[i]!]!++] = i;
  }
  return { count, start, members, classOf, classes: dense.size };
}

/** Unit indices shuffled by the seed, then largest first; a stable counting sort keeps the seeded order among equals. */
function placementOrder(units: Units, random: () => number): Int32Array {
  const shuffled = shuffleInPlace(Array.from({ length: units.count }, (_, u) => u), random);
  const size = (u: number) => units.start[u + 1]! - units.start[u]!;
  let largest = 0;
  for (let u = 0; u < units.count; u++) largest = Math.max(largest, size(u));
  const at = new Int32Array(largest + 2);
  for (const u of shuffled) at[largest - size(u) + 1]!++;
  for (let s = 0; s <= largest; s++) at[s + 1]! += at[s]!;
  const out = new Int32Array(units.count);
  for (const u of shuffled) out[at[largest - size(u)]!++] = u;
  return out;
}

/**
 * Assigns every item to one of `weights.length` buckets (at most 255). Returns the bucket of each item, by its
 * position in `items`. Buckets with weight 0 receive nothing.
 */
export function assignBuckets(items: readonly SplitItem[], weights: readonly number[], seed: number): Uint8Array {
  const units = unitsOf(items);
  const { start, members, classOf, classes } = units;
  const order = placementOrder(units, seededRandom(seed));

  const nb = weights.length;
  const totals = new Int32Array(classes);
  for (let i = 0; i < items.length; i++) totals[classOf[i]!]!++;
  const target = new Float64Array(classes * nb);
  const current = new Float64Array(classes * nb);
  // Each class rounds its shares to whole images. For k folds (equal weights) classes take turns at rounding up, so
  // the folds' totals stay within one image of each other too (8 images a class in 5 folds: 5/5/5/5/4 for three
  // classes, not 6/6/6/3/3). Train/val/test splits round as they always did: a seed gives the split it gave before.
  const weightSum = weights.reduce((a, b) => a + b, 0);
  const ahead = new Float64Array(nb);
  const takeTurns = weights.every((w) => w === weights[0]);
  for (let c = 0; c < classes; c++) {
    largestRemainder(totals[c]!, weights, takeTurns ? ahead : undefined).forEach((t, b) => {
      target[c * nb + b] = t;
      if (weightSum > 0) ahead[b]! += t - (totals[c]! * weights[b]!) / weightSum;
    });
  }
  const open = weights.map((w) => w > 0);
  // Whole-bucket fill, for the last tie-break: groups of several images still leave choices the targets do not
  // settle (k folds of 15/15/12/12, not 18/12/12/12).
  const bucketTarget = new Float64Array(nb);
  const bucketCount = new Float64Array(nb);
  for (let c = 0; c < classes; c++) for (let b = 0; b < nb; b++) bucketTarget[b]! += target[c * nb + b]!;
  const fill = (b: number) => (bucketTarget[b]! > 0 ? bucketCount[b]! / bucketTarget[b]! : Infinity);
  const result = new Uint8Array(items.length);
  // The unit's classes and counts, pairs flattened: [c0, k0, c1, k1, …] (usually one pair).
  const counts: number[] = [];
  for (const u of order) {
    counts.length = 0;
    for (let m = start[u]!; m < start[u + 1]!; m++) {
      const c = classOf[members[m]!]!;
      let j = 0;
      while (j < counts.length && counts[j] !== c) j += 2;
      if (j < counts.length) counts[j + 1]!++;
      else counts.push(c, 1);
    }
    let best = -1;
    let bestOverflow = Infinity;
    let bestRoom = -Infinity;
    for (let b = 0; b < nb; b++) {
      if (!open[b]) continue;
      let overflow = 0;
      let room = 0;
      for (let j = 0; j < counts.length; j += 2) {
        const cell = counts[j]! * nb + b;
        const k = counts[j + 1]!;
        const t = target[cell]!;
        const cur = current[cell]!;
        overflow += Math.max(0, cur + k - t) - Math.max(0, cur - t);
        // Relative room, so a small bucket that is empty still attracts units.
        room += t > 0 ? (t - cur) / t : -1;
      }
      const better =
        overflow < bestOverflow ||
        (overflow === bestOverflow && (room > bestRoom || (room === bestRoom && best >= 0 && fill(b) < fill(best))));
      if (better) {
        best = b;
        bestOverflow = overflow;
        bestRoom = room;
      }
    }
    if (best < 0) throw new Error('No bucket has a weight above 0');
    for (let j = 0; j < counts.length; j += 2) current[counts[j]! * nb + best]! += counts[j + 1]!;
    bucketCount[best]! += start[u + 1]! - start[u]!;
    for (let m = start[u]!; m < start[u + 1]!; m++) result[members[m]!] = best;
  }
  return result;
}

/** Classes that end up with no image in a bucket whose weight is above 0 (labeled classes only). */
export function emptyCells(
  items: readonly SplitItem[],
  assignment: Uint8Array,
  weights: readonly number[],
): { cls: number; bucket: number; classSize: number }[] {
  const counts = new Map<number, number[]>();
  items.forEach((it, i) => {
    if (it.cls === null) return;
    let row = counts.get(it.cls);
    if (!row) counts.set(it.cls, (row = new Array<number>(weights.length).fill(0)));
    row[assignment[i]!]!++;
  });
  const out: { cls: number; bucket: number; classSize: number }[] = [];
  for (const [cls, row] of counts) {
    const size = row.reduce((a, b) => a + b, 0);
    row.forEach((n, b) => {
      if (n === 0 && weights[b]! > 0) out.push({ cls, bucket: b, classSize: size });
    });
  }
  return out.sort((a, b) => a.cls - b.cls || a.bucket - b.bucket);
}

/** k-fold assignment: stratified, group-aware, every item in exactly one fold (0..k-1). */
export function assignFolds(items: readonly SplitItem[], k: number, seed: number): Uint8Array {
  if (!Number.isInteger(k) || k < 2 || k > 10) throw new Error(`k must be a whole number from 2 to 10; got ${k}`);
  return assignBuckets(items, new Array<number>(k).fill(1), seed);
}

/** The DICOM header fields a split can group by: all images of a patient (or a study) land in one split. */
export const DICOM_GROUP_FIELDS = ['PatientID', 'StudyInstanceUID'] as const;
export type DicomGroupField = (typeof DICOM_GROUP_FIELDS)[number];

/** Derives a group key from a '/'-separated relative path, or (kind 'dicom') from the image's DICOM header. */
export type GroupRule =
  | { kind: 'folder'; level: number }
  | { kind: 'regex'; pattern: string }
  | { kind: 'csv' }
  | { kind: 'dicom'; field: DicomGroupField };

export function compileGroupRule(rule: GroupRule): (relPath: string) => string | null {
  if (rule.kind === 'folder') {
    // level 1 = the first folder under the import root.
    return (p) => {
      const parts = p.split('/');
      return rule.level >= 1 && rule.level < parts.length ? parts[rule.level - 1]! : null;
    };
  }
  if (rule.kind === 'regex') {
    let re: RegExp;
    try {
      re = new RegExp(rule.pattern);
    } catch (e) {
      throw new Error(`The group pattern does not compile: ${(e as Error).message}`);
    }
    // The first capture group if there is one, else the whole match; tested against the file name.
    return (p) => {
      const name = p.slice(p.lastIndexOf('/') + 1);
      const m = re.exec(name);
      return m ? (m[1] ?? m[0]) : null;
    };
  }
  return () => null;
}
