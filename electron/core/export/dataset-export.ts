/**
 * Dataset export (issue 6): the labeled images as an ImageFolder tree, `train/ val/ test/<class>/<file>`, plus a
 * labels CSV, so the same data trains elsewhere (torchvision's ImageFolder, the seed's PyTorch code). Files are
 * copied; hard links (instant, no extra space) only when asked for, because editing a hard-linked export edits
 * the original image too (issue 14).
 * Either a run's snapshot (exactly what it trained, validated and was tested on) or the project's current state.
 */
import { linkSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { csvLine } from '../../../shared/csv.ts';
import { LoupeError, type ExportReport } from '../../../shared/contract.ts';
import type { Project } from '../project/project.ts';
import { filePath } from '../images/media.ts';
import { getRun } from '../training/runs.ts';
import { copyFileAtomic, markExportComplete, markExportIncomplete, prepareOutDir, writeFileAtomic } from './out-dir.ts';
import { sha256 } from './bundle-format.ts';
import { UniqueNames } from './file-names.ts';
import { fileErrorReason } from '../images/file-error.ts';

interface Item {
  imageId: number;
  root: string;
  relPath: string;
  relPathRaw: Buffer | null;
  className: string;
  split: 'train' | 'val' | 'test';
}

function itemsOf(project: Project, runId: number | undefined): Item[] {
  const db = project.db;
  type Row = { id: number; root: string; rel_path: string; rel_path_raw: Buffer | null; class_name: string; split: Item['split'] };
  const rows: Row[] = runId === undefined
    ? (db
        .prepare(
          `SELECT i.id, r.path AS root, i.rel_path, i.rel_path_raw, c.name AS class_name, i.split FROM images i
           JOIN roots r ON r.id = i.root_id JOIN classes c ON c.id = i.class_id
           WHERE i.status = 'ok' AND i.excluded = 0 AND i.split IS NOT NULL ORDER BY c.position, i.rel_path`,
        )
        .all() as Row[])
    : (() => {
        const run = getRun(db, runId);
        const snap = db
          .prepare(
            `SELECT i.id, r.path AS root, i.rel_path, i.rel_path_raw, ri.class_index, ri.split FROM run_images ri
             JOIN images i ON i.id = ri.image_id JOIN roots r ON r.id = i.root_id
             WHERE ri.run_id = ? ORDER BY ri.class_index, i.rel_path`,
          )
          .all(runId) as (Omit<Row, 'class_name'> & { class_index: number })[];
        if (snap.length === 0) throw new LoupeError('BAD_INPUT', `Run ${runId} has no dataset snapshot (it never started)`);
        return snap.map((r) => ({ ...r, class_name: run.classes[r.class_index]! }));
      })();
  return rows.map((r) => ({ imageId: r.id, root: r.root, relPath: r.rel_path, relPathRaw: r.rel_path_raw, className: r.class_name, split: r.split }));
}

export async function exportDataset(
  project: Project,
  opts: { outDir: string; runId?: number; mode: 'link' | 'copy'; force: boolean; signal?: AbortSignal; progress?: (done: number, total: number, message: string) => void },
): Promise<ExportReport> {
  const items = itemsOf(project, opts.runId);
  if (items.length === 0) throw new LoupeError('BAD_INPUT', 'There are no labeled images in a split to export');
  const dir = prepareOutDir(opts.outDir, opts.force);
  markExportIncomplete(dir);
  // One folder per class, the same in every split; two classes never share one (e.g. "a/b" and "a_b").
  const classFolders = new UniqueNames();
  const filesIn = new Map<string, UniqueNames>();
  const csv = [csvLine(['path', 'label', 'split', 'source'])];
  const notes: string[] = [];
  let linked = 0;
  let written = 0;
  let canLink = opts.mode === 'link';
  const missing: string[] = [];
  for (const [i, it] of items.entries()) {
    if (opts.signal?.aborted) throw new LoupeError('CONFLICT', 'Canceled');
    const folder = `${it.split}/${classFolders.nameFor(it.className)}`;
    let names = filesIn.get(folder);
    if (!names) filesIn.set(folder, (names = new UniqueNames()));
    // Flatten the source path into the file name: two "img001.png" from different folders stay apart.
    const name = names.claim(it.relPath.replace(/[/\\]/g, '__'));
    const target = join(dir, folder, name);
    const source = filePath({ root: it.root, rel_path: it.relPath, rel_path_raw: it.relPathRaw });
    try {
      mkdirSync(join(dir, folder), { recursive: true });
      // --force over an earlier export: replace the old file (a hard link must not write through to a source).
      rmSync(target, { force: true });
      if (canLink) {
        try {
          linkSync(source, target);
          linked++;
        } catch (e) {
          // Another file system (EXDEV) or one without hard links: copy from now on.
          if (!['EXDEV', 'EPERM', 'ENOTSUP', 'EMLINK', 'EOPNOTSUPP'].includes((e as NodeJS.ErrnoException).code ?? '')) throw e;
          canLink = false;
          notes.push(`Hard links are not possible here (${(e as NodeJS.ErrnoException).code}); files were copied`);
          copyFileAtomic(source, target);
        }
      } else copyFileAtomic(source, target);
      written++;
      csv.push(csvLine([`${folder}/${name}`, it.className, it.split, it.relPath]));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') missing.push(it.relPath);
      else if (e instanceof LoupeError) throw e;
      else throw new LoupeError('BAD_INPUT', `Cannot write ${target}: ${fileErrorReason(e)}`);
    }
    if (i % 50 === 0) opts.progress?.(i, items.length, 'Writing images');
  }
  if (missing.length) notes.push(`${missing.length} image file${missing.length > 1 ? 's are' : ' is'} missing and left out: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}`);
  const csvText = csv.join('\n') + '\n';
  writeFileAtomic(join(dir, 'labels.csv'), csvText);
  markExportComplete(dir);
  opts.progress?.(items.length, items.length, `Exported ${written} images to ${dir}`);
  return { path: dir, files: [{ name: 'labels.csv', bytes: Buffer.byteLength(csvText), sha256: sha256(csvText) }], notes, images: written, linked };
}
