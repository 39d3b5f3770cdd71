/**
 * Split math: stratified, seeded, group-aware assignment of images to buckets (train/val/test splits, or k
 * folds). Pure: the same items, weights and seed always give the same assignment.
 *
 * One greedy algorithm serves every case. Items are gathered into units (a group, or a lone image); units are
 * shuffled by the seed, then placed largest first, each into the bucket where it overflows the per-class targets
 * least (ties: the bucket furthest below its targets for the unit's classes). With lone images this meets the
 * targets exactly, and the targets come from largest-remainder rounding, so every class is within one image of
 * its ideal share. With groups it keeps each group whole and stays as stratified as the groups allow.
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
export function largestRemainder(n: number, weights: readonly number[]): number[] {
  const sum = weights.reduce((a, b) => a + b, 0);
  if (sum <= 0) return weights.map(() => 0);
  const ideal = weights.map((w) => (n * w) / sum);
  const out = ideal.map(Math.floor);
  let left = n - out.reduce((a, b) => a + b, 0);
  const order = ideal
    .map((v, i) => ({ i, frac: v - Math.floor(v) }))
    .filter((o) => weights[o.i]! > 0)
    .sort((a, b) => b.frac - a.frac || a.i - b.i);
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

const UNLABELED = -1;

interface Unit {
  ids: number[];
  counts: Map<number, number>;
  size: number;
}

function unitsOf(items: readonly SplitItem[]): Unit[] {
  const byGroup = new Map<string, Unit>();
  const units: Unit[] = [];
  for (const it of items) {
    const cls = it.cls ?? UNLABELED;
    let unit: Unit | undefined = it.group !== null ? byGroup.get(it.group) : undefined;
    if (!unit) {
      unit = { ids: [], counts: new Map(), size: 0 };
      units.push(unit);
      if (it.group !== null) byGroup.set(it.group, unit);
    }
    unit.ids.push(it.id);
    unit.counts.set(cls, (unit.counts.get(cls) ?? 0) + 1);
    unit.size++;
  }
  return units;
}

/**
 * Assigns every item to one of `weights.length` buckets. Returns bucket index per item id.
 * Buckets with weight 0 receive nothing.
 */
export function assignBuckets(items: readonly SplitItem[], weights: readonly number[], seed: number): Map<number, number> {
  const random = seededRandom(seed);
  // Sort input first so the result does not depend on the order the caller read rows in.
  const sorted = [...items].sort((a, b) => a.id - b.id);
  const units = shuffleInPlace(unitsOf(sorted), random);
  // Stable sort keeps the seeded order among units of equal size.
  units.sort((a, b) => b.size - a.size);

  const classTotals = new Map<number, number>();
  for (const it of sorted) {
    const c = it.cls ?? UNLABELED;
    classTotals.set(c, (classTotals.get(c) ?? 0) + 1);
  }
  const nb = weights.length;
  const target = new Map<number, number[]>();
  const current = new Map<number, number[]>();
  for (const [c, n] of classTotals) {
    target.set(c, largestRemainder(n, weights));
    current.set(c, new Array<number>(nb).fill(0));
  }
  const open = weights.map((w) => w > 0);
  const result = new Map<number, number>();
  for (const unit of units) {
    let best = -1;
    let bestOverflow = Infinity;
    let bestRoom = -Infinity;
    for (let b = 0; b < nb; b++) {
      if (!open[b]) continue;
      let overflow = 0;
      let room = 0;
      for (const [c, k] of unit.counts) {
        const t = target.get(c)![b]!;
        const cur = current.get(c)![b]!;
        overflow += Math.max(0, cur + k - t) - Math.max(0, cur - t);
        // Relative room, so a small bucket that is empty still attracts units.
        room += t > 0 ? (t - cur) / t : -1;
      }
      if (overflow < bestOverflow || (overflow === bestOverflow && room > bestRoom)) {
        best = b;
        bestOverflow = overflow;
        bestRoom = room;
      }
    }
    if (best < 0) throw new Error('No bucket has a weight above 0');
    for (const [c, k] of unit.counts) current.get(c)![best]! += k;
    for (const id of unit.ids) result.set(id, best);
  }
  return result;
}

/** Classes that end up with no image in a bucket whose weight is above 0 (labeled classes only). */
export function emptyCells(
  items: readonly SplitItem[],
  assignment: ReadonlyMap<number, number>,
  weights: readonly number[],
): { cls: number; bucket: number; classSize: number }[] {
  const counts = new Map<number, number[]>();
  for (const it of items) {
    if (it.cls === null) continue;
    const row = counts.get(it.cls) ?? new Array<number>(weights.length).fill(0);
    row[assignment.get(it.id)!]!++;
    counts.set(it.cls, row);
  }
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
export function assignFolds(items: readonly SplitItem[], k: number, seed: number): Map<number, number> {
  if (!Number.isInteger(k) || k < 2 || k > 10) throw new Error(`k must be a whole number from 2 to 10; got ${k}`);
  return assignBuckets(items, new Array<number>(k).fill(1), seed);
}

/** Derives a group key from a '/'-separated relative path. */
export type GroupRule = { kind: 'folder'; level: number } | { kind: 'regex'; pattern: string } | { kind: 'csv' };

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
