/**
 * Folder import: scan, then hash + probe + thumbnail each new or changed file in a bounded pool, writing rows in
 * batched transactions. Idempotent and resumable: unchanged files (same size and mtime) are skipped, files that
 * moved are relinked by content hash (same id, same labels), vanished files become 'missing' (never deleted). A
 * killed import leaves whole batches only; the next run skips what was committed and finishes the rest.
 */
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { LoupeError, type ImportPreview, type ImportReport, type LabelSource } from '../../../shared/contract.ts';
import { throwIfAborted, type JobContext } from '../jobs/jobs.ts';
import type { Project } from '../project/project.ts';
import { labelsFromPath, compareNames } from './layout.ts';
import { ProbeError, probeImage, type ImageFacts } from './probe.ts';
import { pixelLimit } from '../project/settings.ts';
import { ThumbCache } from './thumbnails.ts';
import { walk, type WalkCounters } from './walk.ts';
import { fileErrorReason } from '../images/file-error.ts';
import { ImportWriter, nameOf, type ExistingRow, type ImportItem, type ImportOutcome } from './writer.ts';
import { isDicomBuffer } from './dicom-source.ts';
import { FileTooLarge, ReadBudget, ReadBuffers, type ReadFile } from './read-buffers.ts';
import { probeDicom } from './dicom-import.ts';
import { isDiskFull } from '../project/disk-full.ts';
import { KNOWN_KEYWORDS, tagOfAttribute } from '../dicom/keywords.ts';

export interface ImportOptions {
  /** Pixel limit per image (decompression-bomb guard). Default: project meta `limit_input_pixels`, else 100 MP. */
  limitInputPixels?: number;
  /** Images decoded at once (sharp calls in flight); default the number of cores, at least 2. */
  concurrency?: number;
  /** Rows per transaction. */
  batchSize?: number;
  /** Multi-frame DICOM: the middle frame is the image (default), or every frame is an image of its own. */
  dicomFrames?: 'middle' | 'all';
  /** Files finished but waiting for a slower one ahead of them in scan order, at most; default 1,024. */
  commitWindow?: number;
  /** Bytes of file contents held at once, at most (defaultReadBudget()); a larger file is read alone. */
  readBudget?: number;
}

/** The images an earlier import made from the frames of the file `rel` (`rel#1`, `rel#2`, …), taken out of `existing`. */
function takeFrameRows(existing: Map<string, ExistingRow>, rel: string): ExistingRow[] {
  const rows: ExistingRow[] = [];
  for (let k = 1; existing.has(`${rel}#${k}`); k++) {
    rows.push(existing.get(`${rel}#${k}`)!);
    existing.delete(`${rel}#${k}`);
  }
  return rows;
}

/**
 * Images decoding at once: one more than the cores. With exactly one per core, a core idles whenever the main
 * thread is busy (reading and hashing the next files, committing a batch) as a decode finishes; the spare one is
 * queued in sharp's thread pool, ready. 1,000 large JPEGs: 0.79× a bare sharp loop at cores, 0.89× at cores + 1.
 */
export function defaultImportConcurrency(): number {
  return Math.max(2, availableParallelism()) + 1;
}

/**
 * File bytes an import holds at once: an eighth of the memory, at most 512 MiB. Photos and scans never reach it
 * (2 × (cores + 1) files in flight); a folder of large multi-frame DICOM files would otherwise hold that many of them,
 * up to 1 GiB each, at once.
 */
export function defaultReadBudget(): number {
  return Math.min(512 * 1024 * 1024, Math.floor(totalmem() / 8));
}

/** Rows per transaction unless told otherwise. */
export const DEFAULT_BATCH = 250;
const DEFAULT_COMMIT_WINDOW = 1024;
const MAX_REPORTED_ERRORS = 1000;
const BATCH_EVENT_MS = 1000;

/** One import per project at a time: a second one waits, so both never insert the same paths. */
const running = new Map<string, Promise<unknown>>();

/** What the user confirms before importing: counts by extension, detected layout, classes. No decoding. */
export async function previewImport(folders: string[]): Promise<ImportPreview> {
  const classes = new Map<string, { name: string; count: number }>();
  const splits = { train: 0, val: 0, test: 0, unassigned: 0 };
  let files = 0;
  for (const folder of folders) {
    if (!existsSync(folder) || !statSync(folder).isDirectory()) {
      throw new LoupeError('NOT_FOUND', `Folder not found: ${folder}`);
    }
    const counters: WalkCounters = { ignored: 0 };
    for await (const e of walk(folder, { stat: false }, counters)) {
      if (e.error) continue;
      files++;
      const { className, split } = labelsFromPath(e.segments, 'folders');
      splits[split ?? 'unassigned']++;
      if (className) {
        const k = className.toLowerCase();
        const c = classes.get(k) ?? { name: className, count: 0 };
        c.count++;
        classes.set(k, c);
      }
    }
  }
  const layout = splits.train + splits.val + splits.test > 0 ? 'splits' : classes.size > 0 ? 'classes' : 'flat';
  return {
    folders,
    files,
    layout,
    classes: [...classes.values()].sort((a, b) => compareNames(a.name, b.name)),
    splits,
  };
}

export async function runImport(
  project: Project,
  folders: string[],
  labels: LabelSource,
  ctx: JobContext,
  onBatch?: () => void,
  options: ImportOptions = {},
): Promise<ImportReport> {
  const previous = running.get(project.path) ?? Promise.resolve();
  const mine = previous.catch(() => undefined).then(() => importNow(project, folders, labels, ctx, onBatch, options));
  running.set(project.path, mine);
  try {
    return await mine;
  } finally {
    if (running.get(project.path) === mine) running.delete(project.path);
  }
}

function limitFor(project: Project, options: ImportOptions): number {
  return options.limitInputPixels || pixelLimit(project);
}

function readError(e: unknown): string {
  if (e instanceof FileTooLarge) return e.message;
  const err = e as NodeJS.ErrnoException;
  if (err.code === 'EACCES' || err.code === 'EPERM') return 'permission denied: the file cannot be read';
  if (err.code === 'ENOENT') return 'the file vanished during the import';
  return `cannot read the file: ${fileErrorReason(e)}`;
}

async function importNow(
  project: Project,
  folders: string[],
  labels: LabelSource,
  ctx: JobContext,
  onBatch: (() => void) | undefined,
  options: ImportOptions,
): Promise<ImportReport> {
  const limit = limitFor(project, options);
  const labelTag = labels.startsWith('dicom:') ? tagOfAttribute(labels.slice('dicom:'.length)) : null;
  if (labels.startsWith('dicom:') && !labelTag) {
    throw new LoupeError('VALIDATION', `Unknown DICOM attribute "${labels.slice(6)}": use a tag (gggg,eeee) or one of ${KNOWN_KEYWORDS.join(', ')}`);
  }
  const concurrency = Math.max(1, options.concurrency ?? defaultImportConcurrency());
  const batchSize = Math.max(1, options.batchSize ?? DEFAULT_BATCH);
  const writer = new ImportWriter(project.db);
  const report: ImportReport = { added: 0, unchanged: 0, updated: 0, relinked: 0, missing: 0, failed: 0, ignored: 0, errors: [] };
  const counters: WalkCounters = { ignored: 0 };
  const rootIds: number[] = [];

  // 1. Scan every root; rows whose files were not seen become 'missing' before anything is relinked to them.
  const todo: (ImportItem | undefined)[] = [];
  const rootPaths = new Map<number, Buffer>();
  // One string per class name instead of one per file.
  const interned = new Map<string, string>();
  const intern = (name: string | null) => {
    if (name === null) return null;
    const known = interned.get(name);
    if (known !== undefined) return known;
    interned.set(name, name);
    return name;
  };
  for (const root of [...new Set(folders.map((f) => resolve(f)))]) {
    if (!existsSync(root) || !statSync(root).isDirectory()) {
      throw new LoupeError('NOT_FOUND', `Folder not found: ${root}`);
    }
    const rootId = writer.rootId(root);
    rootPaths.set(rootId, Buffer.from(root));
    rootIds.push(rootId);
    const existing = writer.existingRows(rootId);
    writer.forgetNoImage(rootId);
    let scanned = 0;
    for await (const entry of walk(root, { stat: true, signal: ctx.signal, exclude: [project.path] }, counters)) {
      if (++scanned % 500 === 0) ctx.progress(0, 0, `Scanning ${root}: ${scanned} files`);
      const ex = existing.get(entry.rel);
      existing.delete(entry.rel);
      if (ex && ex.status === 'ok' && !ex.unchecked && !entry.error && ex.size === entry.size && ex.mtime_ms === entry.mtimeMs) {
        report.unchanged++;
        continue;
      }
      const frameRows = takeFrameRows(existing, entry.rel);
      if (frameRows.length && !entry.error && frameRows.every((r) => r.status === 'ok' && r.size === entry.size && r.mtime_ms === entry.mtimeMs)) {
        report.unchanged += frameRows.length;
        continue;
      }
      const { className, split } = labelsFromPath(entry.segments, labels);
      todo.push({
        rootId,
        rel: entry.rel,
        relRaw: entry.relRaw,
        size: entry.size,
        mtimeMs: entry.mtimeMs,
        error: entry.error ?? null,
        existingId: ex?.id ?? null,
        className: intern(className),
        split,
        ...(frameRows.length ? { frameIds: frameRows.map((r) => r.id) } : {}),
      });
    }
    throwIfAborted(ctx.signal);
    writer.markMissing([...existing.values()].filter((r) => r.status !== 'missing').map((r) => r.id));
  }
  report.ignored = counters.ignored;
  let classIds = writer.ensureClasses(interned.keys());

  // 2. Hash, probe and thumbnail in a bounded pool; commit every `batchSize` outcomes.
  const thumbs = new ThumbCache(project.thumbDir);
  const total = report.unchanged + todo.length;
  let done = report.unchanged;
  ctx.progress(done, total, `Importing ${todo.length} files`);
  let pending: ImportOutcome[] = [];
  let lastBatchEvent = 0;
  const flush = () => {
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    // Classes named by DICOM attributes are only known once their files are read.
    const fresh = batch.flatMap((o) => (o.todo.className && !classIds.has(o.todo.className.toLowerCase()) ? [o.todo.className] : []));
    if (fresh.length) classIds = writer.ensureClasses(fresh);
    const counts = writer.commit(batch, classIds);
    report.added += counts.added;
    report.updated += counts.updated;
    report.relinked += counts.relinked;
    report.failed += counts.failed;
    report.noImageData = (report.noImageData ?? 0) + counts.noImageData;
    for (const o of batch) {
      if (o.kind === 'error' && report.errors.length < MAX_REPORTED_ERRORS) {
        // Absolute, like the project summary's error list (a report may span several roots).
        report.errors.push({ path: join(rootPaths.get(o.todo.rootId)!.toString('utf8'), o.todo.rel), reason: o.reason });
      }
    }
    const now = Date.now();
    if (onBatch && now - lastBatchEvent >= BATCH_EVENT_MS) {
      lastBatchEvent = now;
      onBatch();
    }
  };

  const absPathOf = (t: ImportItem): string | Buffer => {
    const root = rootPaths.get(t.rootId)!;
    return t.relRaw ? Buffer.concat([root, Buffer.from('/'), t.relRaw]) : `${root.toString('utf8')}/${t.rel}`;
  };

  // Twice as many files in flight as decode slots: while `concurrency` images are in sharp, the next ones are
  // read and hashed on the main thread, so the decoders never wait for I/O (the benchmark's main overhead).
  const slots = new Slots(concurrency);

  // Two files in flight per decode slot, each holding its read buffer until its probe is done.
  const readBuffers = new ReadBuffers(concurrency * 2);
  const budget = new ReadBudget(Math.max(1, options.readBudget ?? defaultReadBudget()));

  const processOne = async (t: ImportItem): Promise<ImportOutcome | ImportOutcome[]> => {
    if (t.error) return { kind: 'error', todo: t, reason: t.error };
    const absPath = absPathOf(t);
    // Held from the read until the file's outcome is made, decode included.
    const held = await budget.acquire(t.size);
    try {
      let file: ReadFile;
      try {
        file = await readBuffers.load(absPath, t.size);
      } catch (err) {
        return { kind: 'error', todo: t, reason: readError(err) };
      }
      try {
        return await processBytes(t, file.bytes);
      } finally {
        // DICOM metadata may keep views into the bytes: such a buffer is left to the garbage collector.
        if (!isDicomBuffer(file.bytes)) file.done();
      }
    } finally {
      budget.release(held);
    }
  };

  const processBytes = async (t: ImportItem, buf: Buffer): Promise<ImportOutcome | ImportOutcome[]> => {
    // On this thread: WebCrypto's digest copies the whole file before hashing it in the thread pool, which costs
    // more CPU than it frees here (the decoders, not this thread, bound the import).
    const sha256 = createHash('sha256').update(buf).digest('hex');
    const claimed = thumbs.claim(sha256);
    const frameClaims = new Set<string>();
    await slots.acquire();
    try {
      if (isDicomBuffer(buf)) {
        // Frames imported one by one are images of their own: each has its own content key (thumbnail, tensors).
        const hashOf = (frame: number, perFrame: boolean) => (perFrame ? createHash('sha256').update(`${sha256}#${frame + 1}`).digest('hex') : sha256);
        const d = await probeDicom(buf, nameOf(t.rel), {
          limitInputPixels: limit,
          allFrames: options.dicomFrames === 'all',
          labelTag,
          makeThumb: (frame, perFrame) => {
            if (!perFrame) return claimed;
            const h = hashOf(frame, true);
            if (!thumbs.claim(h)) return false;
            frameClaims.add(h);
            return true;
          },
        });
        if ((d.kind === 'no-image' || d.perFrame) && claimed) thumbs.release(sha256);
        if (d.kind === 'no-image') return { kind: 'no-image', todo: t, sopClass: d.sopClass };
        const todo = d.label ? { ...t, className: d.label } : t;
        return d.images.map((im) => {
          const key = hashOf(im.frame, d.perFrame);
          if (im.thumb) thumbs.write(key, im.thumb);
          const dicom = { metadata: d.metadata, frame: im.frame };
          if (!d.perFrame) return { kind: 'ok', todo, sha256: key, facts: im.facts, dicom } as const;
          // `file#N`, read from the file itself (rel_path_raw holds the file's path).
          const frameTodo = { ...todo, rel: `${t.rel}#${im.frame + 1}`, relRaw: t.relRaw ?? Buffer.from(t.rel), existingId: t.frameIds?.[im.frame] ?? null };
          return { kind: 'ok', todo: frameTodo, sha256: key, facts: im.facts, dicom } as const;
        });
      }
      const { thumb, ...facts } = await probeImage(buf, nameOf(t.rel), { limitInputPixels: limit, makeThumb: claimed });
      if (thumb) thumbs.write(sha256, thumb);
      return { kind: 'ok', todo: t, sha256, facts: facts as ImageFacts };
    } catch (err) {
      if (claimed) thumbs.release(sha256);
      for (const h of frameClaims) thumbs.release(h);
      // A full disk is not this file's fault: the import stops (the batches committed stay, the next run resumes).
      if (isDiskFull(err)) throw err;
      const reason = err instanceof ProbeError ? err.message : `cannot import: ${(err as Error).message}`;
      return { kind: 'error', todo: t, reason };
    } finally {
      slots.release();
    }
  };

  let next = 0;
  // Outcomes are committed in scan order, whichever file finishes first, so new rows get their ids in the
  // walk's (sorted) order: the same folder imported twice gives the same ids, and a seeded run, which orders
  // its images by id, trains on the same batches in both projects.
  const finished = new Map<number, ImportOutcome | ImportOutcome[]>();
  let nextToCommit = 0;
  // One slow file (a 1 GiB multi-frame DICOM, a stalled network share) holds back every commit after it: past
  // this many waiting outcomes the workers wait too, so memory stays bounded and a kill loses little.
  const commitWindow = Math.max(1, options.commitWindow ?? DEFAULT_COMMIT_WINDOW);
  let windowWaiters: (() => void)[] = [];
  const wakeWaiters = () => {
    const w = windowWaiters;
    windowWaiters = [];
    for (const wake of w) wake();
  };
  ctx.signal.addEventListener('abort', wakeWaiters, { once: true });
  let stopped: { error: unknown } | null = null;
  const worker = async () => {
    try {
      await work();
    } catch (error) {
      stopped ??= { error };
      wakeWaiters();
    }
  };
  const work = async () => {
    while (!ctx.signal.aborted && !stopped) {
      if (next - nextToCommit >= commitWindow) {
        await new Promise<void>((resolve) => windowWaiters.push(resolve));
        continue;
      }
      const i = next++;
      if (i >= todo.length) return;
      const t = todo[i]!;
      // Drop the entry as soon as it is taken, so memory does not grow with the tree.
      todo[i] = undefined;
      // Await first: `pending` is swapped by flush() while this file is in flight.
      finished.set(i, await processOne(t));
      const committedBefore = nextToCommit;
      for (let o = finished.get(nextToCommit); o !== undefined; o = finished.get(nextToCommit)) {
        finished.delete(nextToCommit++);
        if (Array.isArray(o)) pending.push(...o);
        else pending.push(o);
      }
      if (nextToCommit > committedBefore) wakeWaiters();
      done++;
      ctx.progress(done, total, t.rel);
      if (pending.length >= batchSize) flush();
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency * 2, Math.max(1, todo.length)) }, worker));
  ctx.signal.removeEventListener('abort', wakeWaiters);
  if (stopped) throw (stopped as { error: unknown }).error;
  // What finished before a cancel is kept: it is consistent, and the next run skips it.
  flush();
  report.missing = writer.countMissing(rootIds);
  ctx.progress(done, total, ctx.signal.aborted ? 'Canceled' : 'Import finished');
  onBatch?.();
  return report;
}

/** A counting semaphore: at most `size` holders at once, waiters served in order. */
class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(size: number) {
    this.free = size;
  }

  acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise((r) => this.waiting.push(r));
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}
