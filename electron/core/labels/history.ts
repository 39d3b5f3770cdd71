/** The label history of one image, newest first. */
import type { HistoryEntry } from '../../../shared/contract.ts';
import type { Database } from '../db/database.ts';

export function imageHistory(db: Database, imageId: number): HistoryEntry[] {
  const rows = db
    .prepare(
      `SELECT h.at, h.user, h.action,
              COALESCE(h.old_name, oc.name) AS oldClass, COALESCE(h.new_name, nc.name) AS newClass
       FROM label_history h
       LEFT JOIN classes oc ON oc.id = h.old_class_id
       LEFT JOIN classes nc ON nc.id = h.new_class_id
       WHERE h.image_id = ? ORDER BY h.id DESC`,
    )
    .all(imageId) as HistoryEntry[];
  return rows;
}
