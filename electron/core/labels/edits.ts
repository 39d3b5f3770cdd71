/**
 * Every change a technician makes to an image (label, split, flags, note) goes through here: one transaction per
 * action, stored as an edit with its old and new values, so undo/redo survive a restart. Label changes are also
 * written to label_history (who, when), which is never rewritten.
 */
import { userInfo } from 'node:os';
import { LoupeError, type EditResult, type EditState } from '../../../shared/contract.ts';
import { cached, type Database } from '../db/database.ts';

export type EditField = 'class_id' | 'split' | 'excluded' | 'unsure' | 'user_note';
export type FieldValue = number | string | null;

/** Undo reaches back this many actions; older ones are pruned (history stays). */
const MAX_EDITS = 2000;

let cachedUser: string | null = null;
export function currentUser(): string {
  if (cachedUser === null) {
    try {
      cachedUser = userInfo().username || 'unknown';
    } catch {
      cachedUser = process.env['USER'] ?? process.env['USERNAME'] ?? 'unknown';
    }
  }
  return cachedUser;
}

interface Change {
  imageId: number;
  field: EditField;
  oldValue: FieldValue;
  newValue: FieldValue;
}

/**
 * Writes changes and their label history; assumes an open transaction. Set-based: one UPDATE per (field, value)
 * and one INSERT for the history, with the ids passed as JSON, so 10,000 images cost a handful of statements.
 */
function writeChanges(db: Database, changes: Change[], action: string): void {
  const groups = new Map<string, { field: EditField; value: FieldValue; ids: number[] }>();
  for (const c of changes) {
    const key = JSON.stringify([c.field, c.newValue]);
    const g = groups.get(key) ?? { field: c.field, value: c.newValue, ids: [] };
    g.ids.push(c.imageId);
    groups.set(key, g);
  }
  for (const g of groups.values()) {
    // The field name comes from the closed EditField union, never from input.
    cached(
      db,
      `UPDATE images SET ${g.field} = ?${g.field === 'split' ? ", split_source = 'manual'" : ''} WHERE id IN (SELECT value FROM json_each(?))`,
    ).run(g.value, JSON.stringify(g.ids));
  }
  const labelChanges = changes.filter((c) => c.field === 'class_id');
  if (labelChanges.length === 0) return;
  cached(
    db,
    `INSERT INTO label_history (image_id, old_class_id, new_class_id, old_name, new_name, action, user, at)
     SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2, oc.name, nc.name, ?, ?, ?
     FROM json_each(?) j
     LEFT JOIN classes oc ON oc.id = j.value ->> 1
     LEFT JOIN classes nc ON nc.id = j.value ->> 2
     ORDER BY j.key`,
  ).run(action, currentUser(), new Date().toISOString(), JSON.stringify(labelChanges.map((c) => [c.imageId, c.oldValue, c.newValue])));
}

/**
 * Sets `field` to `value` on every image in `imageIds` as one undoable action. Images whose value is already
 * `value` are left alone; unknown ids are refused before anything changes.
 */
export function applyEdit(
  db: Database,
  label: string,
  imageIds: readonly number[],
  field: EditField,
  value: FieldValue,
  action = 'label',
): EditResult {
  return applyValues(db, label, imageIds.map((imageId) => ({ imageId, field, value })), action);
}

export interface ValueChange {
  imageId: number;
  field: EditField;
  value: FieldValue;
}

/** Like applyEdit, with a value per image and field (e.g. a labels CSV): still one undoable action. */
export function applyValues(db: Database, label: string, entries: readonly ValueChange[], action = 'label'): EditResult {
  const run = db.transaction((): number => {
    // Current values, one query per field for all the ids.
    const current = new Map<EditField, Map<number, { v: FieldValue; status: string }>>();
    for (const f of new Set(entries.map((e) => e.field))) {
      const ids = [...new Set(entries.filter((e) => e.field === f).map((e) => e.imageId))];
      const rows = cached(db, `SELECT id, ${f} AS v, status FROM images WHERE id IN (SELECT value FROM json_each(?))`).all(
        JSON.stringify(ids),
      ) as { id: number; v: FieldValue; status: string }[];
      current.set(f, new Map(rows.map((r) => [r.id, { v: r.v, status: r.status }])));
    }
    const changes: Change[] = [];
    const unknown: number[] = [];
    const unusable: number[] = [];
    const seen = new Set<string>();
    for (const { imageId: id, field, value } of entries) {
      const key = `${id}:${field}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const row = current.get(field)!.get(id);
      if (!row) {
        unknown.push(id);
        continue;
      }
      // A label on a file that is gone or unreadable could never be trained on: refuse it (clearing is fine).
      if (field === 'class_id' && value !== null && row.status !== 'ok') {
        unusable.push(id);
        continue;
      }
      if (row.v !== value) changes.push({ imageId: id, field, oldValue: row.v, newValue: value });
    }
    if (unknown.length) {
      throw new LoupeError('NOT_FOUND', `No image with id ${unknown.slice(0, 5).join(', ')}${unknown.length > 5 ? ` and ${unknown.length - 5} more` : ''}`);
    }
    if (unusable.length) {
      const paths = db.prepare(`SELECT rel_path, status FROM images WHERE id IN (${unusable.slice(0, 3).map(() => '?').join(',')})`)
        .all(...unusable.slice(0, 3)) as { rel_path: string; status: string }[];
      throw new LoupeError(
        'BAD_INPUT',
        `${unusable.length} selected image${unusable.length > 1 ? 's are' : ' is'} missing on disk or unreadable ` +
          `(${paths.map((p) => `${p.rel_path}: ${p.status}`).join('; ')}); deselect ${unusable.length > 1 ? 'them' : 'it'} or re-import to relink`,
      );
    }
    if (changes.length === 0) return 0;
    const editId = Number(
      cached(db, 'INSERT INTO edits (label, created_at) VALUES (?, ?)').run(label, new Date().toISOString()).lastInsertRowid,
    );
    cached(
      db,
      `INSERT INTO edit_changes (edit_id, image_id, field, old_value, new_value)
       SELECT ?, j.value ->> 0, j.value ->> 1, j.value ->> 2, j.value ->> 3 FROM json_each(?) j`,
    ).run(editId, JSON.stringify(changes.map((c) => [c.imageId, c.field, c.oldValue, c.newValue])));
    writeChanges(db, changes, action);
    // A new action ends the redo branch.
    cached(db, 'DELETE FROM edits WHERE undone = 1').run();
    cached(db, 'DELETE FROM edits WHERE id <= ?').run(editId - MAX_EDITS);
    return new Set(changes.map((c) => c.imageId)).size;
  });
  const changed = run.immediate();
  return { changed, edit: editState(db) };
}

function replay(db: Database, direction: 'undo' | 'redo'): EditResult {
  const run = db.transaction((): number => {
    const edit = cached(
      db,
      direction === 'undo'
        ? 'SELECT id, label FROM edits WHERE undone = 0 ORDER BY id DESC LIMIT 1'
        : 'SELECT id, label FROM edits WHERE undone = 1 ORDER BY id ASC LIMIT 1',
    ).get() as { id: number; label: string } | undefined;
    if (!edit) return 0;
    const rows = cached(db, 'SELECT image_id, field, old_value, new_value FROM edit_changes WHERE edit_id = ?').all(edit.id) as { image_id: number; field: EditField; old_value: FieldValue; new_value: FieldValue }[];
    const changes: Change[] = rows.map((r) =>
      direction === 'undo'
        ? { imageId: r.image_id, field: r.field, oldValue: r.new_value, newValue: r.old_value }
        : { imageId: r.image_id, field: r.field, oldValue: r.old_value, newValue: r.new_value },
    );
    writeChanges(db, changes, direction);
    cached(db, 'UPDATE edits SET undone = ? WHERE id = ?').run(direction === 'undo' ? 1 : 0, edit.id);
    return new Set(changes.map((c) => c.imageId)).size;
  });
  const changed = run.immediate();
  return { changed, edit: editState(db) };
}

export function undo(db: Database): EditResult {
  return replay(db, 'undo');
}

export function redo(db: Database): EditResult {
  return replay(db, 'redo');
}

export function editState(db: Database): EditState {
  const u = cached(db, 'SELECT label FROM edits WHERE undone = 0 ORDER BY id DESC LIMIT 1').get() as { label: string } | undefined;
  const r = cached(db, 'SELECT label FROM edits WHERE undone = 1 ORDER BY id ASC LIMIT 1').get() as { label: string } | undefined;
  return { canUndo: Boolean(u), canRedo: Boolean(r), undoLabel: u?.label ?? null, redoLabel: r?.label ?? null };
}

/**
 * Keeps stored edits valid when a class goes away: references to it become `replacement` (a merge target) or
 * null (a delete). Assumes an open transaction.
 */
export function remapClassInEdits(db: Database, classId: number, replacement: number | null): void {
  db.prepare(`UPDATE edit_changes SET old_value = ? WHERE field = 'class_id' AND old_value = ?`).run(replacement, classId);
  db.prepare(`UPDATE edit_changes SET new_value = ? WHERE field = 'class_id' AND new_value = ?`).run(replacement, classId);
}

/** Records label changes made by a class operation (merge, delete) in history, outside undo. */
export function recordLabelHistory(
  db: Database,
  rows: { imageId: number; oldClassId: number | null; newClassId: number | null }[],
  action: string,
): void {
  writeChanges(
    db,
    rows.map((r) => ({ imageId: r.imageId, field: 'class_id', oldValue: r.oldClassId, newValue: r.newClassId })),
    action,
  );
}
