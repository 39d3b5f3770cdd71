/**
 * Source files gone since import (issue 14). Loupe never moves images, but people do: a file deleted or moved
 * after import keeps its cached thumbnail and training pixels, so nothing failed and nothing said so. One stat
 * per image (no read, no decode) finds them for `loupe info` and for training.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { Database } from '../db/database.ts';
import { filePath } from './media.ts';
import { IMPORTED } from './queries.ts';

interface SourceRow {
  id: number;
  root: string;
  rel_path: string;
  rel_path_raw: Buffer | null;
  status: string;
}

const SELECT = `SELECT i.id, r.path AS root, i.rel_path, i.rel_path_raw, i.status FROM images i JOIN roots r ON r.id = i.root_id`;

function gone(row: SourceRow): boolean {
  try {
    statSync(filePath(row));
    return false;
  } catch (e) {
    // Only a name that no longer resolves is missing; a permission or I/O error is reported where it is read.
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR';
  }
}

/**
 * Every image whose file is missing: those an import rescan marked, and those gone since (found by stat). The
 * count is exact; `paths` lists the first `limit` (root joined with the relative path, as import errors are).
 */
export function missingSources(db: Database, limit: number): { count: number; paths: string[] } {
  // Files that failed to import are listed under import errors only.
  const rows = db.prepare(`${SELECT} WHERE ${IMPORTED} ORDER BY i.rel_path, i.id`).iterate() as IterableIterator<SourceRow>;
  let count = 0;
  const paths: string[] = [];
  for (const r of rows) {
    if (r.status !== 'missing' && !gone(r)) continue;
    if (count++ < limit) paths.push(join(r.root, r.rel_path));
  }
  return { count, paths };
}

/** Of these images, the ones whose file is gone (ids in, rel_paths out, in the order given). */
export function goneAmong(db: Database, imageIds: readonly number[]): { id: number; relPath: string }[] {
  const one = db.prepare(`${SELECT} WHERE i.id = ?`);
  const out: { id: number; relPath: string }[] = [];
  for (const id of imageIds) {
    const r = one.get(id) as SourceRow | undefined;
    if (r && gone(r)) out.push({ id, relPath: r.rel_path });
  }
  return out;
}
