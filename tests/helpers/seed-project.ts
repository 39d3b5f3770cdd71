/**
 * A real project.db with image rows inserted directly (no files behind them): for tests and benches of
 * labeling, splits and queries, where decoding images would only cost time.
 */
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { Project } from '../../electron/core/project/project.ts';
import { createClass } from '../../electron/core/labels/classes.ts';

export interface SeedOptions {
  /** Images per class; the class names are c0, c1, … */
  perClass: number[];
  unlabeled?: number;
  /** rel_path of image i of class c; default `c<c>/img<i>.png`. */
  path?: (cls: number, i: number) => string;
}

export function seedProject(dir: string, opts: SeedOptions): { project: Project; classIds: number[]; imageIds: number[] } {
  const project = Project.create(join(dir, 'project'));
  const db = project.db;
  const classIds = opts.perClass.map((_, c) => createClass(db, `c${c}`).id);
  const imageIds: number[] = [];
  db.transaction(() => {
    const rootId = Number(db.prepare('INSERT INTO roots (path, added_at) VALUES (?, ?)').run(join(dir, 'images'), 'now').lastInsertRowid);
    const ins = db.prepare(
      `INSERT INTO images (root_id, rel_path, name, sha256, size, mtime_ms, width, height, channels, bit_depth, format, status, class_id, imported_at)
       VALUES (?, ?, ?, ?, ?, ?, 28, 28, 1, 8, 'png', 'ok', ?, 'now')`,
    );
    const add = (rel: string, cls: number | null, n: number) => {
      const sha = createHash('sha256').update(rel).digest('hex');
      imageIds.push(Number(ins.run(rootId, rel, rel.slice(rel.lastIndexOf('/') + 1), sha, 1000 + n, n, cls).lastInsertRowid));
    };
    let n = 0;
    opts.perClass.forEach((count, c) => {
      for (let i = 0; i < count; i++) add(opts.path?.(c, i) ?? `c${c}/img${i}.png`, classIds[c]!, n++);
    });
    for (let i = 0; i < (opts.unlabeled ?? 0); i++) add(`unlabeled/u${i}.png`, null, n++);
  })();
  return { project, classIds, imageIds };
}
