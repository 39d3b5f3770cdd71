/**
 * One-vs-rest ROC curves and AUC, as scikit-learn 1.2's `roc_curve` / `roc_auc_score` define them (issue 5).
 *
 * Each class's column of scores is sorted once (a stable LSD radix sort on the float32 bits, far faster than a
 * comparator sort at 100,000 rows × 50 classes), then one sweep over its tie groups yields the curve, the AUC and,
 * for the bootstrap, each row's placement. Pure TypeScript: runs in core and in the renderer.
 */

/** Row indices sorted by one column's score ascending (stable), cut into groups of equal scores. */
export interface RankedColumn {
  readonly column: number;
  readonly order: Int32Array;
  /** Sortable keys of the column's scores in `order`'s order (see scoreOfKey), and class membership. */
  readonly keys: Uint32Array;
  readonly positive: Uint8Array;
  /** Exclusive end (index into `order`) of each tie group, ascending. */
  readonly groupEnds: Int32Array;
  readonly positives: number;
  readonly negatives: number;
}

/** A ROC curve exactly as `sklearn.metrics.roc_curve(y == c, p[:, c])` (drop_intermediate=True) returns it. */
export interface RocCurve {
  readonly fpr: number[];
  readonly tpr: number[];
  /** Descending; the first is max score + 1, as scikit-learn 1.2 does (1.3+ uses +Infinity there). */
  readonly thresholds: number[];
}

/**
 * Maps float32 bits to unsigned keys that sort like the floats: negatives reversed below the positives, and
 * -0 folded onto +0 so equal scores get equal keys.
 */
function sortableKey(bits: number): number {
  if (bits === 0x80000000) return 0x80000000;
  return (bits & 0x80000000) !== 0 ? ~bits >>> 0 : (bits | 0x80000000) >>> 0;
}

const keyScratch = new Uint32Array(1);
const keyScratchFloat = new Float32Array(keyScratch.buffer);

/** The float32 score a key stands for. */
export function scoreOfKey(key: number): number {
  keyScratch[0] = (key & 0x80000000) !== 0 ? (key ^ 0x80000000) >>> 0 : ~key >>> 0;
  return keyScratchFloat[0]!;
}

/**
 * Sortable keys of every column, column-major (k × n): one sequential pass over the n × k matrix instead of
 * one strided pass per class.
 */
export function columnKeys(probs: Float32Array, n: number, k: number): Uint32Array {
  const bits = new Uint32Array(probs.buffer, probs.byteOffset, n * k);
  const keys = new Uint32Array(n * k);
  for (let i = 0, o = 0; i < n; i++) {
    for (let c = 0; c < k; c++, o++) keys[c * n + i] = sortableKey(bits[o]!);
  }
  return keys;
}

/**
 * Stable ascending LSD radix sort (11+11+10 bits) of rows by key; ties keep row order, like numpy's mergesort.
 * `keys` (length n) is not modified. Returns the row order and the sorted keys.
 */
export function sortKeys(keys: Uint32Array): { order: Int32Array; keys: Uint32Array } {
  const n = keys.length;
  // Pass 0 reads the caller's keys (never written) into a, pass 1 goes a → b, pass 2 b → a.
  const a = new Uint32Array(n);
  const b = new Uint32Array(n);
  let srcOrder = new Int32Array(n);
  for (let i = 0; i < n; i++) srcOrder[i] = i;
  let dstOrder = new Int32Array(n);
  // All three digit histograms in one read of the keys.
  const counts = new Int32Array(3 * 2048);
  for (let i = 0; i < n; i++) {
    const key = keys[i]!;
    counts[key & 0x7ff]!++;
    counts[2048 + ((key >>> 11) & 0x7ff)]!++;
    counts[4096 + (key >>> 22)]!++;
  }
  for (let pass = 0; pass < 3; pass++) {
    const src = pass === 0 ? keys : pass === 1 ? a : b;
    const dst = pass === 1 ? b : a;
    const shift = pass * 11;
    const base = pass * 2048;
    const mask = pass === 2 ? 0x3ff : 0x7ff;
    let sum = 0;
    for (let b = 0; b <= mask; b++) {
      const c = counts[base + b]!;
      counts[base + b] = sum;
      sum += c;
    }
    for (let i = 0; i < n; i++) {
      const key = src[i]!;
      const dest = counts[base + ((key >>> shift) & mask)]!++;
      dst[dest] = key;
      dstOrder[dest] = srcOrder[i]!;
    }
    [srcOrder, dstOrder] = [dstOrder, srcOrder];
  }
  return { order: srcOrder, keys: a };
}

/** Stable ascending sort of rows by `probs[row * k + column]` (a convenience over columnKeys + sortKeys). */
export function sortColumn(probs: Float32Array, n: number, k: number, column: number): Int32Array {
  return sortKeys(columnKeys(probs, n, k).subarray(column * n, (column + 1) * n)).order;
}

/** Sorts one column (its keys from columnKeys) and cuts it into tie groups (-0 and +0 are one group). */
export function rankColumn(labels: ArrayLike<number>, keysOfColumn: Uint32Array, column: number): RankedColumn {
  const n = keysOfColumn.length;
  const { order, keys } = sortKeys(keysOfColumn);
  const positive = new Uint8Array(n);
  const ends = new Int32Array(n);
  let groups = 0;
  let positives = 0;
  for (let t = 0; t < n; t++) {
    if (labels[order[t]!] === column) {
      positive[t] = 1;
      positives++;
    }
    if (t + 1 === n || keys[t + 1] !== keys[t]) ends[groups++] = t + 1;
  }
  return { column, order, keys, positive, groupEnds: ends.slice(0, groups), positives, negatives: n - positives };
}

/**
 * AUC by the Mann–Whitney statistic: P(score of a positive > score of a negative), ties counting one half.
 * Equal to the trapezoid under scikit-learn's curve; computed from exact integer counts, so one rounding only.
 * Null when the class has no positives or no negatives (scikit-learn raises there).
 */
export function columnAuc(ranked: RankedColumn): number | null {
  const { positive, groupEnds, positives, negatives } = ranked;
  if (positives === 0 || negatives === 0) return null;
  let twiceU = 0;
  let negBelow = 0;
  let start = 0;
  for (let g = 0; g < groupEnds.length; g++) {
    const end = groupEnds[g]!;
    let pos = 0;
    for (let t = start; t < end; t++) pos += positive[t]!;
    const neg = end - start - pos;
    twiceU += pos * (2 * negBelow + neg);
    negBelow += neg;
    start = end;
  }
  return twiceU / (2 * positives * negatives);
}

/** The ROC curve of one column, or null when the class has no positives or no negatives (sklearn gives NaNs). */
export function columnRocCurve(ranked: RankedColumn): RocCurve | null {
  const { positive, keys, groupEnds, positives, negatives } = ranked;
  if (positives === 0 || negatives === 0) return null;
  // scikit-learn walks scores descending and records (fps, tps) at the last row of every distinct score, then
  // (drop_intermediate) keeps the first and last points and every point where the second difference of fps or
  // of tps is non-zero. Streamed: a point is decided once its successor is known.
  const fpr = [0];
  const tpr = [0];
  const thresholds: number[] = [];
  const emit = (fp: number, tp: number, key: number) => {
    fpr.push(fp / negatives);
    tpr.push(tp / positives);
    thresholds.push(scoreOfKey(key));
  };
  const groups = groupEnds.length;
  let tp = 0;
  let fp = 0;
  let prevFp = 0;
  let prevTp = 0;
  let prevKey = 0;
  let beforeFp = 0;
  let beforeTp = 0;
  for (let g = groups - 1, p = 0; g >= 0; g--, p++) {
    const start = g === 0 ? 0 : groupEnds[g - 1]!;
    const end = groupEnds[g]!;
    let pos = 0;
    for (let t = start; t < end; t++) pos += positive[t]!;
    tp += pos;
    fp += end - start - pos;
    if (p === 1) emit(prevFp, prevTp, prevKey);
    else if (p >= 2 && (fp - 2 * prevFp + beforeFp !== 0 || tp - 2 * prevTp + beforeTp !== 0)) emit(prevFp, prevTp, prevKey);
    beforeFp = prevFp;
    beforeTp = prevTp;
    prevFp = fp;
    prevTp = tp;
    prevKey = keys[start]!;
  }
  emit(prevFp, prevTp, prevKey);
  thresholds.unshift(thresholds[0]! + 1);
  return { fpr, tpr, thresholds };
}

/**
 * Adds each row's first-order influence on this column's AUC (its centred placement) into `influence`:
 * a positive's share of negatives below it minus the AUC, over the number of positives; a negative's share of
 * positives above it minus the AUC, over the number of negatives (DeLong's structural components).
 * The bootstrap's linearized path sums these over a resample.
 */
export function addAucInfluence(ranked: RankedColumn, auc: number, influence: Float64Array): void {
  const { order, positive, groupEnds, positives, negatives } = ranked;
  let negBelow = 0;
  let start = 0;
  let posAbove = positives;
  for (let g = 0; g < groupEnds.length; g++) {
    const end = groupEnds[g]!;
    let pos = 0;
    for (let t = start; t < end; t++) pos += positive[t]!;
    const neg = end - start - pos;
    posAbove -= pos;
    const placementPos = (negBelow + neg / 2) / negatives;
    const placementNeg = (posAbove + pos / 2) / positives;
    for (let t = start; t < end; t++) {
      const row = order[t]!;
      if (positive[t] === 1) influence[row]! += (placementPos - auc) / positives;
      else influence[row]! += (placementNeg - auc) / negatives;
    }
    negBelow += neg;
    start = end;
  }
}

/** AUC of a column on a weighted resample (`weights[row]` = times drawn); null when undefined on it. */
export function weightedColumnAuc(ranked: RankedColumn, weights: Int32Array): number | null {
  const { order, positive, groupEnds } = ranked;
  let twiceU = 0;
  let negBelow = 0;
  let posTotal = 0;
  let start = 0;
  for (let g = 0; g < groupEnds.length; g++) {
    const end = groupEnds[g]!;
    let pos = 0;
    let neg = 0;
    for (let t = start; t < end; t++) {
      const w = weights[order[t]!]!;
      if (positive[t] === 1) pos += w;
      else neg += w;
    }
    twiceU += pos * (2 * negBelow + neg);
    negBelow += neg;
    posTotal += pos;
    start = end;
  }
  return posTotal === 0 || negBelow === 0 ? null : twiceU / (2 * posTotal * negBelow);
}
