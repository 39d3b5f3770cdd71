/**
 * The import's writes to project.db, as prepared statements run in one transaction per batch: a batch lands
 * whole or not at all, so a killed import never leaves half a batch behind.
 */
import type { Database, Statement } from 'better-sqlite3';
import type { SplitName } from '../../../shared/contract.ts';
import { classColor, compareNames } from './layout.ts';
import type { ImageFacts } from './probe.ts';
import type { DicomFacts } from './dicom-import.ts';

export interface ExistingRow {
  id: number;
  size: number;
  mtime_ms: number;
  status: 'ok' | 'error' | 'missing';
  /** A colour image imported before schema v7: unchanged, but probed again to learn whether it is grey. */
  unchecked: number;
}

/**
 * One file to import, kept small: 100,000 of these wait in memory during an import. The absolute path and the
 * name are derived from the root and `rel` when needed; class names are interned by the importer.
 */
export interface ImportItem {
  rootId: number;
  rel: string;
  relRaw: Buffer | null;
  size: number;
  mtimeMs: number;
  error: string | null;
  existingId: number | null;
  className: string | null;
  split: SplitName | null;
  /** Ids of the images made from the frames of this DICOM file (`rel#1`, `rel#2`, …) by an earlier import. */
  frameIds?: number[];
}

export function nameOf(rel: string): string {
  return rel.slice(rel.lastIndexOf('/') + 1);
}

interface OutcomeBase {
  todo: ImportItem;
}
export type ImportOutcome =
  | (OutcomeBase & { kind: 'ok'; sha256: string; facts: ImageFacts; dicom?: DicomFacts })
  | (OutcomeBase & { kind: 'no-image'; sopClass: string })
  | (OutcomeBase & { kind: 'error'; reason: string });

export interface BatchCounts {
  added: number;
  updated: number;
  relinked: number;
  failed: number;
  noImageData: number;
}

export class ImportWriter {
  private readonly insertOk: Statement;
  private readonly insertError: Statement;
  private readonly updateOk: Statement;
  private readonly updateError: Statement;
  private readonly relink: Statement;
  private readonly findMissing: Statement;
  private readonly markMissingStmt: Statement;
  private readonly uncheckedSql: string;
  private readonly findMissingByUid: Statement;
  private readonly upsertDicom: Statement;
  private readonly upsertNoImage: Statement;
  private readonly dropImageRow: Statement;

  constructor(private readonly db: Database) {
    // Schema v2 records where a split came from; splits set here come from train/val/test folders.
    const columns = (db.pragma('table_info(images)') as { name: string }[]).map((c) => c.name);
    const hasSource = columns.includes('split_source');
    const sourceCol = hasSource ? ', split_source' : '';
    const sourceVal = hasSource ? `, CASE WHEN @split IS NULL THEN NULL ELSE 'folder' END` : '';
    const sourceSet = hasSource
      ? `split_source = CASE WHEN split IS NULL AND @split IS NOT NULL THEN 'folder' ELSE split_source END,`
      : '';
    // Schema v7 records whether colour channels are equal (grey stored as RGB).
    const hasEqual = columns.includes('channels_equal');
    const equalCol = hasEqual ? ', channels_equal' : '';
    const equalVal = hasEqual ? ', @channelsEqual' : '';
    const equalSet = hasEqual ? 'channels_equal = @channelsEqual,' : '';
    this.uncheckedSql = hasEqual ? `(status = 'ok' AND channels >= 3 AND channels_equal IS NULL)` : '0';
    this.insertOk = db.prepare(
      `INSERT INTO images (root_id, rel_path, rel_path_raw, name, sha256, size, mtime_ms, width, height, channels,
         bit_depth, format, pages, orientation, min_value, max_value, status, error, note, class_id, split,
         imported_at${sourceCol}${equalCol})
       VALUES (@rootId, @rel, @relRaw, @name, @sha256, @size, @mtimeMs, @width, @height, @channels,
         @bitDepth, @format, @pages, @orientation, @minValue, @maxValue, 'ok', NULL, @note, @classId, @split,
         @now${sourceVal}${equalVal})
       ON CONFLICT (root_id, rel_path) DO NOTHING`,
    );
    this.insertError = db.prepare(
      `INSERT INTO images (root_id, rel_path, rel_path_raw, name, size, mtime_ms, status, error, imported_at)
       VALUES (@rootId, @rel, @relRaw, @name, @size, @mtimeMs, 'error', @reason, @now)
       ON CONFLICT (root_id, rel_path) DO NOTHING`,
    );
    // A changed file keeps its id and labels; folder labels only fill a label that is not set yet.
    this.updateOk = db.prepare(
      `UPDATE images SET sha256 = @sha256, size = @size, mtime_ms = @mtimeMs, width = @width, height = @height,
         channels = @channels, bit_depth = @bitDepth, format = @format, pages = @pages, orientation = @orientation,
         min_value = @minValue, max_value = @maxValue, status = 'ok', error = NULL, note = @note, ${sourceSet} ${equalSet}
         class_id = COALESCE(class_id, @classId), split = COALESCE(split, @split), imported_at = @now
       WHERE id = @id`,
    );
    this.updateError = db.prepare(
      `UPDATE images SET sha256 = NULL, size = @size, mtime_ms = @mtimeMs, status = 'error', error = @reason,
         imported_at = @now WHERE id = @id`,
    );
    this.relink = db.prepare(
      // sha256 too: a relink by SOP Instance UID brings other bytes (a hash relink writes the same value).
      `UPDATE images SET root_id = @rootId, rel_path = @rel, rel_path_raw = @relRaw, name = @name, sha256 = @sha256, size = @size,
         mtime_ms = @mtimeMs, width = @width, height = @height, channels = @channels, bit_depth = @bitDepth,
         format = @format, pages = @pages, orientation = @orientation, min_value = @minValue,
         max_value = @maxValue, status = 'ok', error = NULL, note = @note, ${equalSet} imported_at = @now
       WHERE id = @id`,
    );
    this.findMissing = db.prepare(`SELECT id FROM images WHERE sha256 = ? AND status = 'missing' ORDER BY id LIMIT 1`);
    this.markMissingStmt = db.prepare(`UPDATE images SET status = 'missing' WHERE id = ?`);
    // A DICOM file that moved and was re-encoded (another hash) is still the same instance: relink by its UID.
    this.findMissingByUid = db.prepare(
      `SELECT i.id FROM dicom_images d JOIN images i ON i.id = d.image_id
       WHERE d.sop_instance_uid = ? AND i.status = 'missing' ORDER BY i.id LIMIT 1`,
    );
    this.upsertDicom = db.prepare(
      `INSERT OR REPLACE INTO dicom_images (image_id, sop_instance_uid, sop_class_uid, patient_id, study_instance_uid,
         series_instance_uid, modality, body_part, view_position, photometric, study_date, series_description,
         manufacturer, rows, columns, frames, frame, pixel_spacing_row, pixel_spacing_col)
       VALUES (@imageId, @sopInstanceUid, @sopClassUid, @patientId, @studyInstanceUid, @seriesInstanceUid, @modality,
         @bodyPartExamined, @viewPosition, @photometricInterpretation, @studyDate, @seriesDescription, @manufacturer,
         @rows, @columns, @frames, @frame, @spacingRow, @spacingCol)`,
    );
    this.upsertNoImage = db.prepare(
      `INSERT OR REPLACE INTO dicom_no_image (root_id, rel_path, sop_class, size, mtime_ms)
       VALUES (@rootId, @rel, @sopClass, @size, @mtimeMs)`,
    );
    // A file that was an image and now holds no image data leaves the images (its row would be stale).
    this.dropImageRow = db.prepare(`UPDATE images SET status = 'error', error = @reason, sha256 = NULL WHERE id = @id`);
  }

  private writeDicom(imageId: number, d: DicomFacts): void {
    this.upsertDicom.run({
      imageId,
      ...d.metadata,
      frame: d.frame,
      spacingRow: d.metadata.pixelSpacing?.[0] ?? null,
      spacingCol: d.metadata.pixelSpacing?.[1] ?? null,
    });
  }

  rootId(path: string): number {
    this.db.prepare(`INSERT OR IGNORE INTO roots (path, added_at) VALUES (?, ?)`).run(path, new Date().toISOString());
    return (this.db.prepare(`SELECT id FROM roots WHERE path = ?`).get(path) as { id: number }).id;
  }

  existingRows(rootId: number): Map<string, ExistingRow> {
    const map = new Map<string, ExistingRow>();
    const rows = this.db
      .prepare(`SELECT id, rel_path, size, mtime_ms, status, ${this.uncheckedSql} AS unchecked FROM images WHERE root_id = ?`)
      .iterate(rootId) as IterableIterator<ExistingRow & { rel_path: string }>;
    for (const r of rows) map.set(r.rel_path, { id: r.id, size: r.size, mtime_ms: r.mtime_ms, status: r.status, unchecked: r.unchecked });
    return map;
  }

  /** Files without image data are read again by every import (they have no images row to compare with). */
  forgetNoImage(rootId: number): void {
    this.db.prepare(`DELETE FROM dicom_no_image WHERE root_id = ?`).run(rootId);
  }

  markMissing(ids: number[]): void {
    if (ids.length === 0) return;
    this.db.transaction(() => {
      for (const id of ids) this.markMissingStmt.run(id);
    }).immediate();
  }

  countMissing(rootIds: number[]): number {
    if (rootIds.length === 0) return 0;
    const marks = rootIds.map(() => '?').join(',');
    return (
      this.db.prepare(`SELECT COUNT(*) AS n FROM images WHERE status = 'missing' AND root_id IN (${marks})`).get(...rootIds) as {
        n: number;
      }
    ).n;
  }

  /**
   * Creates the classes named by folders that do not exist yet (name, distinct colour, position), in one
   * transaction that reads the existing classes too: another process may have created some meanwhile.
   */
  ensureClasses(names: Iterable<string | null>): Map<string, number> {
    const wanted = [...names].filter((n): n is string => Boolean(n));
    const insert = this.db.prepare(`INSERT INTO classes (name, color, position) VALUES (?, ?, ?)`);
    // IMMEDIATE: a read-then-write transaction started as a reader fails with SQLITE_BUSY_SNAPSHOT when another
    // process commits first (WAL cannot upgrade a stale snapshot); taking the write lock up front waits instead.
    return this.db.transaction(() => {
      const ids = new Map<string, number>();
      for (const r of this.db.prepare(`SELECT id, name FROM classes`).all() as { id: number; name: string }[]) {
        ids.set(r.name.toLowerCase(), r.id);
      }
      const fresh = new Map<string, string>();
      for (const n of wanted) if (!ids.has(n.toLowerCase()) && !fresh.has(n.toLowerCase())) fresh.set(n.toLowerCase(), n);
      let position = (this.db.prepare(`SELECT COALESCE(MAX(position), -1) AS p FROM classes`).get() as { p: number }).p + 1;
      for (const name of [...fresh.values()].sort(compareNames)) {
        ids.set(name.toLowerCase(), Number(insert.run(name, classColor(position), position).lastInsertRowid));
        position++;
      }
      return ids;
    }).immediate();
  }

  /** Writes one batch of outcomes in one transaction (IMMEDIATE, as ensureClasses: it reads before it writes). */
  commit(batch: ImportOutcome[], classIds: Map<string, number>): BatchCounts {
    const counts: BatchCounts = { added: 0, updated: 0, relinked: 0, failed: 0, noImageData: 0 };
    const now = new Date().toISOString();
    this.db.transaction(() => {
      for (const o of batch) {
        const { rootId, existingId, className, split } = o.todo;
        const base = {
          rootId,
          rel: o.todo.rel,
          relRaw: o.todo.relRaw,
          name: nameOf(o.todo.rel),
          size: o.todo.size,
          mtimeMs: o.todo.mtimeMs,
          now,
        };
        if (o.kind === 'error') {
          counts.failed++;
          if (existingId !== null) this.updateError.run({ ...base, id: existingId, reason: o.reason });
          else this.insertError.run({ ...base, reason: o.reason });
          continue;
        }
        if (o.kind === 'no-image') {
          counts.noImageData++;
          this.upsertNoImage.run({ ...base, sopClass: o.sopClass });
          if (existingId !== null) this.dropImageRow.run({ id: existingId, reason: `no image data (${o.sopClass})` });
          continue;
        }
        const classId = className ? (classIds.get(className.toLowerCase()) ?? null) : null;
        const { channelsEqual, ...facts } = o.facts;
        const row = { ...base, ...facts, channelsEqual: channelsEqual === null ? null : Number(channelsEqual), sha256: o.sha256, classId, split };
        if (existingId !== null) {
          this.updateOk.run({ ...row, id: existingId });
          if (o.dicom) this.writeDicom(existingId, o.dicom);
          counts.updated++;
          continue;
        }
        const uid = o.dicom?.metadata.sopInstanceUid;
        const moved = (this.findMissing.get(o.sha256) ?? (uid ? this.findMissingByUid.get(uid) : undefined)) as { id: number } | undefined;
        if (moved) {
          this.relink.run({ ...row, id: moved.id });
          if (o.dicom) this.writeDicom(moved.id, o.dicom);
          counts.relinked++;
        } else {
          const r = this.insertOk.run(row);
          if (r.changes > 0) {
            counts.added++;
            if (o.dicom) this.writeDicom(Number(r.lastInsertRowid), o.dicom);
          }
        }
      }
    }).immediate();
    return counts;
  }
}
