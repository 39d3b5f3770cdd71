/**
 * The data a run trains on: collected from the project (labeled, not excluded, readable, in a split), frozen as a
 * snapshot with the run, decoded once into the tensor cache, and served as batches.
 */
import { readFile } from 'node:fs/promises';
import { LoupeError, type SplitName } from '../../../shared/contract.ts';
import type { AugmentConfig, Normalization } from '../../../shared/training.ts';
import { seededRandom, shuffleInPlace } from '../../../shared/random.ts';
import type { Database } from '../db/database.ts';
import type { Project } from '../project/project.ts';
import { filePath } from '../images/media.ts';
import { goneAmong } from '../images/source-check.ts';
import { pixelLimit } from '../project/settings.ts';
import { decodeForModel, type InputShape } from '../images/model-input.ts';
import { augmentInto, augmentationOn, normalizeInto } from './augment.ts';
import type { Batch, BatchSource } from './fit.ts';
import type { TensorCache } from './tensor-cache.ts';
import { fileErrorReason } from '../images/file-error.ts';
import { imageNamer } from '../project/pseudonyms.ts';

export interface DatasetItem {
  imageId: number;
  sha256: string;
  classIndex: number;
  split: SplitName;
}

export interface Dataset {
  classes: string[];
  items: DatasetItem[];
  notes: string[];
}

/**
 * What a new run would train on. With `fold`, the project's k folds replace train/val: images of that fold
 * validate, the others train, whatever their train/val split (or none: a project split into folds only); the
 * test split is never used.
 */
export function collectDataset(db: Database, opts: { fold?: number } = {}): Dataset {
  const byFold = opts.fold !== undefined;
  const classRows = db.prepare('SELECT id, name FROM classes ORDER BY position, id').all() as { id: number; name: string }[];
  const usable = `status = 'ok' AND excluded = 0 AND class_id IS NOT NULL`;
  const placed = byFold ? `fold IS NOT NULL AND split IS NOT 'test'` : 'split IS NOT NULL';
  const rows = db
    .prepare(`SELECT id, sha256, class_id, split, fold FROM images WHERE ${usable} AND sha256 IS NOT NULL AND ${placed}`)
    .all() as { id: number; sha256: string; class_id: number; split: SplitName | null; fold: number }[];
  const notes: string[] = [];
  const used = new Set(rows.map((r) => r.class_id));
  const classes = classRows.filter((c) => used.has(c.id));
  const skipped = classRows.filter((c) => !used.has(c.id));
  if (skipped.length) {
    notes.push(`Left out classes with no labeled images in a ${byFold ? 'fold' : 'split'}: ${skipped.map((c) => c.name).join(', ')}`);
  }
  const index = new Map(classes.map((c, i) => [c.id, i]));
  const items: DatasetItem[] = rows.map((r) => ({
    imageId: r.id,
    sha256: r.sha256,
    classIndex: index.get(r.class_id)!,
    split: byFold ? (r.fold === opts.fold ? 'val' : 'train') : r.split!,
  }));
  const unplaced = byFold ? `fold IS NULL AND split IS NOT 'test'` : 'split IS NULL';
  const unusedLabeled = db.prepare(`SELECT COUNT(*) FROM images WHERE ${usable} AND ${unplaced}`).pluck().get() as number;
  if (unusedLabeled > 0) notes.push(`${unusedLabeled} labeled images are in no ${byFold ? 'fold' : 'split'} and were not used`);
  checkDataset({ classes: classes.map((c) => c.name), items, notes }, byFold);
  return { classes: classes.map((c) => c.name), items, notes };
}

/** The checks that make a dataset trainable; a clear message for each failure. */
export function checkDataset(d: Dataset, byFold = false): void {
  const trainCounts = new Array<number>(d.classes.length).fill(0);
  for (const it of d.items) if (it.split === 'train') trainCounts[it.classIndex]!++;
  if (d.classes.length < 2) {
    throw new LoupeError(
      'BAD_INPUT',
      byFold
        ? `Cross-validation needs at least 2 classes with labeled images in the folds; found ${d.classes.length}. ` +
            'Label more images, then assign the folds again (Splits → Cross-validation, or `loupe split --folds K`)'
        : `Training needs at least 2 classes with labeled images in a split; found ${d.classes.length}. ` +
            'Label more images, or split them (Splits, or `loupe split`)',
    );
  }
  const empty = d.classes.filter((_, i) => trainCounts[i] === 0);
  if (empty.length) {
    throw new LoupeError(
      'BAD_INPUT',
      `No training images for ${empty.map((c) => `"${c}"`).join(', ')}: ` +
        (byFold
          ? 'all their images are in one fold. Label more of them, or assign fewer folds (Splits → Cross-validation, or `loupe split --folds K`)'
          : 'label some, or move some of their images to the train split'),
    );
  }
}

export function writeSnapshot(db: Database, runId: number, items: DatasetItem[]): void {
  const ins = db.prepare('INSERT INTO run_images (run_id, image_id, sha256, class_index, split) VALUES (?, ?, ?, ?, ?)');
  db.transaction(() => {
    for (const it of items) ins.run(runId, it.imageId, it.sha256, it.classIndex, it.split);
  })();
}

export function readSnapshot(db: Database, runId: number): DatasetItem[] {
  return (
    db.prepare('SELECT image_id, sha256, class_index, split FROM run_images WHERE run_id = ? ORDER BY image_id').all(runId) as {
      image_id: number;
      sha256: string;
      class_index: number;
      split: SplitName;
    }[]
  ).map((r) => ({ imageId: r.image_id, sha256: r.sha256, classIndex: r.class_index, split: r.split }));
}

const DECODE_CONCURRENCY = 4;

/**
 * Decodes every item not yet in the cache. Items whose file became unreadable since import are dropped and
 * reported (one lost file must not end a run); everything else is cached. Items already cached train from the
 * cache; those whose file is gone are reported as `fromCache` (a stat each), so the run says what it used.
 */
export async function fillCache(
  project: Project,
  cache: TensorCache,
  items: DatasetItem[],
  shape: InputShape,
  opts: { signal?: AbortSignal; progress?: (done: number, total: number) => void },
): Promise<{ kept: DatasetItem[]; dropped: { path: string; reason: string }[]; fromCache: string[] }> {
  const cached = items.filter((it) => cache.has(it.sha256));
  // Run warnings reach the model card and the report: DICOM images by their pseudonym (issue 11).
  const nameOf = imageNamer(project.db);
  const fromCache = goneAmong(project.db, cached.map((it) => it.imageId)).map((g) => nameOf(g));
  const missing = [...new Map(items.filter((it) => !cache.has(it.sha256)).map((it) => [it.sha256, it])).values()];
  const dropped = new Map<string, { path: string; reason: string }>();
  const rowOf = project.db.prepare(
    `SELECT r.path AS root, i.rel_path, i.rel_path_raw, i.min_value, i.max_value, d.frame FROM images i JOIN roots r ON r.id = i.root_id
     LEFT JOIN dicom_images d ON d.image_id = i.id WHERE i.id = ?`,
  );
  const limit = pixelLimit(project);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < missing.length) {
      if (opts.signal?.aborted) return;
      const it = missing[next++]!;
      const row = rowOf.get(it.imageId) as { root: string; rel_path: string; rel_path_raw: Buffer | null; min_value: number | null; max_value: number | null; frame: number | null };
      try {
        const buf = await readFile(filePath(row));
        const { pixels } = await decodeForModel(buf, shape, { min: row.min_value, max: row.max_value }, limit, row.frame ?? undefined);
        cache.put(it.sha256, pixels);
      } catch (e) {
        dropped.set(it.sha256, { path: nameOf({ id: it.imageId, relPath: row.rel_path }), reason: `became unreadable since import: ${fileErrorReason(e)}` });
      }
      opts.progress?.(++done, missing.length);
    }
  };
  await Promise.all(Array.from({ length: DECODE_CONCURRENCY }, worker));
  return { kept: items.filter((it) => !dropped.has(it.sha256)), dropped: [...dropped.values()], fromCache };
}

/** Per-channel mean and std of the training images, in [0, 1] units. */
export function datasetNormalization(cache: TensorCache, items: DatasetItem[], channels: number): Normalization {
  const row = new Uint8Array(cache.rowBytes);
  const sum = new Float64Array(channels);
  const sq = new Float64Array(channels);
  let n = 0;
  for (const it of items) {
    cache.read(it.sha256, row);
    for (let i = 0; i < row.length; i++) {
      const v = row[i]! / 255;
      sum[i % channels]! += v;
      sq[i % channels]! += v * v;
    }
    n += row.length / channels;
  }
  const mean = [...sum].map((s) => s / Math.max(n, 1));
  const std = [...sq].map((s, c) => Math.sqrt(Math.max(s / Math.max(n, 1) - mean[c]! ** 2, 1e-12)));
  return { mean, std: std.map((s) => (s < 1e-3 ? 1 : s)) };
}

export interface SourceOptions {
  shuffle: boolean;
  seed: number;
  augment?: AugmentConfig;
  /** Balanced sampling: each epoch draws images with equal weight per class. */
  balanced?: boolean;
}

/**
 * The order of one epoch: items sorted by content hash (stable across runs), shuffled by the seed and epoch, or
 * drawn with equal weight per class. Shared by every batch source, so image and feature batches line up.
 */
export function epochOrder(items: DatasetItem[], epoch: number, opts: SourceOptions): DatasetItem[] {
  if (!opts.shuffle) return items;
  const random = seededRandom((opts.seed * 1_000_003 + epoch * 7919) >>> 0);
  if (!opts.balanced) return shuffleInPlace([...items], random);
  const byClass = new Map<number, DatasetItem[]>();
  for (const it of items) {
    const list = byClass.get(it.classIndex);
    if (list) list.push(it);
    else byClass.set(it.classIndex, [it]);
  }
  const groups = [...byClass.values()];
  return Array.from({ length: items.length }, () => {
    const g = groups[Math.floor(random() * groups.length)]!;
    return g[Math.floor(random() * g.length)]!;
  });
}

/** Items in the order every source starts from: by content hash, then id. */
export function byContent(items: DatasetItem[]): DatasetItem[] {
  return [...items].sort((a, b) => (a.sha256 < b.sha256 ? -1 : a.sha256 > b.sha256 ? 1 : a.imageId - b.imageId));
}

/** Batches read from the tensor cache: shuffled per epoch by the seed, augmented on the fly when asked. */
export class CachedSource implements BatchSource {
  readonly size: number;
  readonly shape: [number, number, number];
  private readonly cache: TensorCache;
  private readonly items: DatasetItem[];
  private readonly norm: Normalization;
  private readonly opts: SourceOptions;

  constructor(cache: TensorCache, items: DatasetItem[], shape: InputShape, norm: Normalization, opts: SourceOptions) {
    this.cache = cache;
    // Ordered by content before any seeded shuffle: the same images and seed train in the same order whatever ids
    // an import happened to give them (parallel imports number files in the order they finish).
    this.items = byContent(items);
    this.size = items.length;
    this.shape = [shape.imageSize, shape.imageSize, shape.channels];
    this.norm = norm;
    this.opts = opts;
  }

  *batches(epoch: number, batchSize: number): Iterable<Batch> {
    const order = epochOrder(this.items, epoch, this.opts);
    const [h, w, c] = this.shape;
    const per = h * w * c;
    const row = new Uint8Array(per);
    const augment = this.opts.augment && augmentationOn(this.opts.augment) ? this.opts.augment : null;
    const random = seededRandom((this.opts.seed * 31 + epoch * 104_729 + 1) >>> 0);
    for (let start = 0; start < order.length; start += batchSize) {
      const n = Math.min(batchSize, order.length - start);
      const xs = new Float32Array(n * per);
      const ys = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const it = order[start + i]!;
        this.cache.read(it.sha256, row);
        if (augment) augmentInto(row, xs, i * per, h, c, augment, this.norm, random);
        else normalizeInto(row, xs, i * per, c, this.norm);
        ys[i] = it.classIndex;
      }
      yield { xs, ys, n };
    }
  }
}
