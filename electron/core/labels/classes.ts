/** Class management: add, rename, recolor, re-key, reorder, merge, delete. Each is one transaction. */
import { LoupeError, type ClassInfo } from '../../../shared/contract.ts';
import { cached, type Database } from '../db/database.ts';
import { listClasses } from '../images/queries.ts';
import { recordLabelHistory, remapClassInEdits } from './edits.ts';

/** Distinct, calm colors that read on light and dark backgrounds; cycled when there are more classes. */
export const CLASS_COLORS = [
  '#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#b07aa1', '#76b7b2', '#edc948', '#ff9da7', '#9c755f', '#bab0ac',
  '#1f77b4', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#17becf',
];

export function nextColor(db: Database): string {
  const n = (db.prepare('SELECT COUNT(*) FROM classes').pluck().get() as number) ?? 0;
  return CLASS_COLORS[n % CLASS_COLORS.length]!;
}

/** A class's name by id, or null when there is none; no counts (those scan the images). */
export function classNameOf(db: Database, id: number): string | null {
  return (cached(db, 'SELECT name FROM classes WHERE id = ?').get(id) as { name: string } | undefined)?.name ?? null;
}

function getClass(db: Database, id: number): ClassInfo {
  const c = listClasses(db).find((x) => x.id === id);
  if (!c) throw new LoupeError('NOT_FOUND', `No class with id ${id}`);
  return c;
}

/** The class of that name, whatever its case; null when there is none. */
export function findClassByName(db: Database, name: string): { id: number; name: string } | null {
  return (db.prepare('SELECT id, name FROM classes WHERE name = ? COLLATE NOCASE').get(name) as { id: number; name: string } | undefined) ?? null;
}

function assertNameFree(db: Database, name: string, exceptId?: number): void {
  const row = findClassByName(db, name);
  if (row && row.id !== exceptId) throw new LoupeError('CONFLICT', `A class named "${row.name}" already exists`);
}

/** Creates a class at the end of the order. Used by the UI, CSV import and folder import alike. */
export function createClass(db: Database, name: string, color?: string): ClassInfo {
  const id = db.transaction(() => {
    assertNameFree(db, name);
    const pos = (db.prepare('SELECT COALESCE(MAX(position), -1) + 1 FROM classes').pluck().get() as number) ?? 0;
    return Number(
      db.prepare('INSERT INTO classes (name, color, position) VALUES (?, ?, ?)').run(name, color ?? nextColor(db), pos)
        .lastInsertRowid,
    );
  }).immediate();
  return getClass(db, id);
}

export function updateClass(
  db: Database,
  req: { id: number; name?: string; color?: string; hotkey?: string | null },
): ClassInfo {
  db.transaction(() => {
    getClass(db, req.id);
    if (req.name !== undefined) {
      assertNameFree(db, req.name, req.id);
      db.prepare('UPDATE classes SET name = ? WHERE id = ?').run(req.name, req.id);
    }
    if (req.color !== undefined) db.prepare('UPDATE classes SET color = ? WHERE id = ?').run(req.color.toLowerCase(), req.id);
    if (req.hotkey !== undefined) {
      if (req.hotkey !== null) {
        const clash = listClasses(db).find((c) => c.id !== req.id && c.hotkey === req.hotkey);
        // Keys are unique: the class that had it falls back to a default key.
        if (clash) db.prepare('UPDATE classes SET hotkey = NULL WHERE id = ?').run(clash.id);
      }
      db.prepare('UPDATE classes SET hotkey = ? WHERE id = ?').run(req.hotkey, req.id);
    }
  }).immediate();
  return getClass(db, req.id);
}

export function reorderClasses(db: Database, ids: readonly number[]): ClassInfo[] {
  db.transaction(() => {
    const existing = (db.prepare('SELECT id FROM classes').pluck().all() as number[]).sort((a, b) => a - b);
    const given = [...new Set(ids)].sort((a, b) => a - b);
    if (given.length !== ids.length || existing.join(',') !== given.join(',')) {
      throw new LoupeError('BAD_INPUT', 'Reorder needs every class id exactly once');
    }
    const set = db.prepare('UPDATE classes SET position = ? WHERE id = ?');
    ids.forEach((id, i) => set.run(i, id));
  }).immediate();
  return listClasses(db);
}

function labeledWith(db: Database, classId: number): number[] {
  return db.prepare('SELECT id FROM images WHERE class_id = ?').pluck().all(classId) as number[];
}

/** Moves every label of `sourceId` to `targetId`, then removes the source class. */
export function mergeClasses(db: Database, sourceId: number, targetId: number): { moved: number } {
  if (sourceId === targetId) throw new LoupeError('BAD_INPUT', 'Cannot merge a class into itself');
  return db.transaction(() => {
    const source = getClass(db, sourceId);
    getClass(db, targetId);
    const ids = labeledWith(db, sourceId);
    recordLabelHistory(
      db,
      ids.map((imageId) => ({ imageId, oldClassId: sourceId, newClassId: targetId })),
      `merge "${source.name}"`,
    );
    remapClassInEdits(db, sourceId, targetId);
    db.prepare('DELETE FROM classes WHERE id = ?').run(sourceId);
    compactPositions(db);
    return { moved: ids.length };
  }).immediate();
}

/** Deletes a class; its images are unlabeled or moved to another class, as the user chose. */
export function deleteClass(
  db: Database,
  req: { id: number; labeledImages: 'unlabel' | 'move'; moveTo?: number },
): { unlabeled: number; moved: number } {
  if (req.labeledImages === 'move') {
    if (req.moveTo === undefined) throw new LoupeError('BAD_INPUT', 'Say which class the labeled images move to');
    const { moved } = mergeClasses(db, req.id, req.moveTo);
    return { unlabeled: 0, moved };
  }
  return db.transaction(() => {
    const cls = getClass(db, req.id);
    const ids = labeledWith(db, req.id);
    recordLabelHistory(
      db,
      ids.map((imageId) => ({ imageId, oldClassId: req.id, newClassId: null })),
      `delete class "${cls.name}"`,
    );
    remapClassInEdits(db, req.id, null);
    db.prepare('DELETE FROM classes WHERE id = ?').run(req.id);
    compactPositions(db);
    return { unlabeled: ids.length, moved: 0 };
  }).immediate();
}

function compactPositions(db: Database): void {
  const ids = db.prepare('SELECT id FROM classes ORDER BY position, id').pluck().all() as number[];
  const set = db.prepare('UPDATE classes SET position = ? WHERE id = ?');
  ids.forEach((id, i) => set.run(i, id));
}
