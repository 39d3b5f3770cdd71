/**
 * Pseudonyms for DICOM identifiers (issue 11, PS3.15 Annex E in spirit): an HMAC of the value with a secret that
 * never leaves the project, so the same patient always gets the same key inside a project, and nothing Loupe
 * writes for others (labels CSVs, exports, reports) holds the identifier itself or a hash anyone could recompute.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { Database } from '../db/database.ts';

const SECRET_KEY = 'pseudonym_secret';

/** The project's secret, made on first use (32 random bytes, hex) and kept in project.db's meta table. */
export function pseudonymSecret(db: Database): string {
  const known = db.prepare('SELECT value FROM meta WHERE key = ?').pluck().get(SECRET_KEY) as string | undefined;
  if (known) return known;
  const secret = randomBytes(32).toString('hex');
  // OR IGNORE: two first uses at once keep the first secret, which is read back.
  db.prepare('INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)').run(SECRET_KEY, secret);
  return db.prepare('SELECT value FROM meta WHERE key = ?').pluck().get(SECRET_KEY) as string;
}

/** `prefix-` and 16 hex digits of HMAC-SHA256(secret, value): stable within a project, meaningless outside it. */
export function pseudonym(secret: string, prefix: string, value: string): string {
  return `${prefix}-${createHmac('sha256', secret).update(value).digest('hex').slice(0, 16)}`;
}

/**
 * The name an image goes by in what Loupe writes for others (labels CSV, evaluation predictions, the report's file
 * names): its path relative to its import folder, or for a DICOM image, whose file and folder names often hold the
 * patient's name, the pseudonym of its SOP Instance UID (`img-…`, as the dataset export names its file; `#N` added
 * for a frame imported on its own). Stable within the project, so a labels CSV imports back by it.
 */
export function imageNamer(db: Database): (image: { id: number; relPath: string }) => string {
  const dicom = db.prepare('SELECT sop_instance_uid FROM dicom_images WHERE image_id = ?').pluck();
  let secret: string | null = null;
  return ({ id, relPath }) => {
    const uid = dicom.get(id) as string | null | undefined;
    if (uid === undefined) return relPath;
    secret ??= pseudonymSecret(db);
    const frame = /#\d+$/.exec(relPath)?.[0] ?? '';
    return pseudonym(secret, 'img', uid ?? relPath) + frame;
  };
}
