/**
 * Numbered schema migrations for project.db. Each runs in one transaction and bumps `user_version`.
 * Never edit a released migration: add a new one (each has a test in tests/medium/migrations.test.ts).
 */
import { existsSync } from 'node:fs';
import type { Database } from 'better-sqlite3';

export interface Migration {
  version: number;
  name: string;
  up: (db: Database) => void;
}

export const migrations: Migration[] = [
  {
    version: 1,
    name: 'projects, roots, classes, images, jobs',
    up: (db) =>
      db.exec(`
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE roots (
          id INTEGER PRIMARY KEY,
          path TEXT NOT NULL UNIQUE,
          added_at TEXT NOT NULL
        );
        CREATE TABLE classes (
          id INTEGER PRIMARY KEY,
          name TEXT NOT NULL UNIQUE COLLATE NOCASE,
          color TEXT NOT NULL,
          position INTEGER NOT NULL,
          hotkey TEXT
        );
        CREATE TABLE images (
          id INTEGER PRIMARY KEY,
          root_id INTEGER NOT NULL REFERENCES roots(id),
          rel_path TEXT NOT NULL,          -- '/'-separated, relative to the root, for display and CSV
          rel_path_raw BLOB,               -- raw bytes of a name that is not valid UTF-8 (null otherwise)
          name TEXT NOT NULL,              -- basename, the sort key
          sha256 TEXT,                     -- null when the file could not be read
          size INTEGER NOT NULL,
          mtime_ms INTEGER NOT NULL,
          width INTEGER, height INTEGER, channels INTEGER, bit_depth INTEGER,
          format TEXT, pages INTEGER, orientation INTEGER,
          min_value REAL, max_value REAL,  -- pixel range, to scale 16-bit images for display
          status TEXT NOT NULL DEFAULT 'ok' CHECK (status IN ('ok', 'error', 'missing')),
          error TEXT,
          note TEXT,
          class_id INTEGER REFERENCES classes(id) ON DELETE SET NULL,
          split TEXT CHECK (split IN ('train', 'val', 'test')),
          imported_at TEXT NOT NULL,
          UNIQUE (root_id, rel_path)
        );
        CREATE INDEX images_by_name ON images(name, id);
        CREATE INDEX images_by_mtime ON images(mtime_ms, id);
        CREATE INDEX images_by_size ON images(size, id);
        CREATE INDEX images_by_class ON images(class_id, name, id);
        CREATE INDEX images_by_split ON images(split, name, id);
        CREATE INDEX images_by_status ON images(status, name, id);
        CREATE INDEX images_by_sha ON images(sha256);
        CREATE TABLE jobs (
          id TEXT PRIMARY KEY,
          kind TEXT NOT NULL,
          state TEXT NOT NULL,
          params TEXT NOT NULL,            -- JSON: what is needed to resume
          done INTEGER NOT NULL DEFAULT 0,
          total INTEGER NOT NULL DEFAULT 0,
          message TEXT NOT NULL DEFAULT '',
          result TEXT,                     -- JSON
          started_at TEXT NOT NULL,
          ended_at TEXT
        );
      `),
  },
  {
    version: 2,
    name: 'labeling: flags, groups, folds, edits (undo/redo), label history',
    up: (db) =>
      db.exec(`
        ALTER TABLE images ADD COLUMN excluded INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE images ADD COLUMN unsure INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE images ADD COLUMN user_note TEXT;
        ALTER TABLE images ADD COLUMN group_key TEXT;
        ALTER TABLE images ADD COLUMN fold INTEGER;
        -- Where the split came from: 'folder' (train/val/test folders at import), 'split' (a re-split), 'manual'.
        ALTER TABLE images ADD COLUMN split_source TEXT;
        UPDATE images SET split_source = 'folder' WHERE split IS NOT NULL;
        CREATE INDEX images_by_group ON images(group_key);
        -- One row per user action (a keystroke, a bulk label, a split move); undone rows form the redo stack.
        CREATE TABLE edits (
          id INTEGER PRIMARY KEY,
          label TEXT NOT NULL,
          undone INTEGER NOT NULL DEFAULT 0,
          created_at TEXT NOT NULL
        );
        CREATE TABLE edit_changes (
          edit_id INTEGER NOT NULL REFERENCES edits(id) ON DELETE CASCADE,
          image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
          field TEXT NOT NULL CHECK (field IN ('class_id', 'split', 'excluded', 'unsure', 'user_note')),
          old_value,
          new_value
        );
        CREATE INDEX edit_changes_by_edit ON edit_changes(edit_id);
        -- Every label change ever made: who (OS user) and when, with the class names at that time.
        CREATE TABLE label_history (
          id INTEGER PRIMARY KEY,
          image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
          old_class_id INTEGER,
          new_class_id INTEGER,
          old_name TEXT,
          new_name TEXT,
          action TEXT NOT NULL,
          user TEXT NOT NULL,
          at TEXT NOT NULL
        );
        CREATE INDEX label_history_by_image ON label_history(image_id, id);
      `),
  },
  {
    version: 3,
    name: 'training runs, their dataset snapshots, metrics and presets',
    up: (db) =>
      db.exec(`
        CREATE TABLE runs (
          id INTEGER PRIMARY KEY,
          name TEXT NOT NULL,
          status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'stopped', 'failed', 'finished')),
          config TEXT NOT NULL,            -- JSON TrainConfig, complete (defaults applied)
          classes TEXT NOT NULL,           -- JSON array of class names: the model's output order
          preprocessing TEXT,              -- JSON Preprocessing, once normalization is known
          backend TEXT,
          app_version TEXT NOT NULL,
          parent_id INTEGER REFERENCES runs(id) ON DELETE SET NULL,
          fold INTEGER,
          created_at TEXT NOT NULL,
          started_at TEXT,
          ended_at TEXT,
          epochs_done INTEGER NOT NULL DEFAULT 0,
          best_epoch INTEGER,
          best_val_accuracy REAL,
          best_val_loss REAL,
          error TEXT,
          warnings TEXT                    -- JSON array of messages (e.g. images dropped as unreadable)
        );
        -- What the run trained on, frozen at its start: later relabeling does not change it.
        CREATE TABLE run_images (
          run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
          image_id INTEGER NOT NULL,
          sha256 TEXT NOT NULL,
          class_index INTEGER NOT NULL,
          split TEXT NOT NULL CHECK (split IN ('train', 'val', 'test')),
          PRIMARY KEY (run_id, image_id)
        ) WITHOUT ROWID;
        CREATE TABLE run_epochs (
          run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
          epoch INTEGER NOT NULL,
          train_loss REAL NOT NULL,
          train_accuracy REAL NOT NULL,
          val_loss REAL,
          val_accuracy REAL,
          lr REAL NOT NULL,
          images_per_second REAL NOT NULL,
          seconds REAL NOT NULL,
          PRIMARY KEY (run_id, epoch)
        ) WITHOUT ROWID;
        CREATE TABLE presets (
          name TEXT PRIMARY KEY,
          config TEXT NOT NULL,
          saved_at TEXT NOT NULL
        );
      `),
  },
  {
    version: 4,
    name: 'evaluations and predictions',
    up: (db) =>
      db.exec(`
        CREATE TABLE evaluations (
          id INTEGER PRIMARY KEY,
          run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
          split TEXT NOT NULL CHECK (split IN ('val', 'test', 'unlabeled')),
          model_sha256 TEXT NOT NULL,      -- the weights it came from
          created_at TEXT NOT NULL,
          n INTEGER NOT NULL,
          metrics TEXT,                    -- JSON EvaluationMetrics; null for predictions on unlabeled images
          notes TEXT NOT NULL DEFAULT '[]' -- JSON: images left out and why (unreadable, class unknown to the run)
        );
        CREATE INDEX evaluations_by_run ON evaluations(run_id, split, id);
        CREATE TABLE predictions (
          evaluation_id INTEGER NOT NULL REFERENCES evaluations(id) ON DELETE CASCADE,
          image_id INTEGER NOT NULL,
          label INTEGER,                   -- the image's class (run class index) when evaluated; null if unlabeled
          predicted INTEGER NOT NULL,
          confidence REAL NOT NULL,        -- probability of the predicted class
          margin REAL NOT NULL,            -- top-1 minus top-2 probability (small = uncertain)
          entropy REAL NOT NULL,
          label_probability REAL,          -- probability given to the true class (self-confidence)
          probs BLOB NOT NULL,             -- float32 × classes
          PRIMARY KEY (evaluation_id, image_id)
        ) WITHOUT ROWID;
        CREATE INDEX predictions_by_cell ON predictions(evaluation_id, label, predicted);
        CREATE INDEX predictions_by_image ON predictions(image_id);
        -- Runs trained together for k-fold cross-validation share a group.
        ALTER TABLE runs ADD COLUMN cv_group TEXT;
      `),
  },
  {
    version: 5,
    name: 'path search index (FTS5 trigram over rel_path)',
    // Substring search with LIKE '%x%' reads every row (20–30 ms at 100k images); a trigram index answers it from
    // the index. Kept in step with images by triggers, so no writer has to remember it.
    up: (db) =>
      db.exec(`
        CREATE VIRTUAL TABLE images_path_fts USING fts5(rel_path, content = 'images', content_rowid = 'id', tokenize = 'trigram');
        INSERT INTO images_path_fts (images_path_fts) VALUES ('rebuild');
        CREATE TRIGGER images_path_fts_insert AFTER INSERT ON images BEGIN
          INSERT INTO images_path_fts (rowid, rel_path) VALUES (new.id, new.rel_path);
        END;
        CREATE TRIGGER images_path_fts_delete AFTER DELETE ON images BEGIN
          INSERT INTO images_path_fts (images_path_fts, rowid, rel_path) VALUES ('delete', old.id, old.rel_path);
        END;
        CREATE TRIGGER images_path_fts_update AFTER UPDATE OF rel_path ON images BEGIN
          INSERT INTO images_path_fts (images_path_fts, rowid, rel_path) VALUES ('delete', old.id, old.rel_path);
          INSERT INTO images_path_fts (rowid, rel_path) VALUES (new.id, new.rel_path);
        END;
      `),
  },
  {
    version: 6,
    name: 'grid order indexes for a split (by size or date)',
    // A split is a large share of the images, but its deep pages by size or date still walk tens of thousands of
    // index entries without these (25 ms at 100k images); with them a page is a direct index range (bench:grid).
    // The cost lands on re-splits, which now update two more indexes per moved image.
    up: (db) =>
      db.exec(`
        CREATE INDEX images_by_split_size ON images(split, size, id);
        CREATE INDEX images_by_split_mtime ON images(split, mtime_ms, id);
      `),
  },
  {
    version: 7,
    name: 'grey images stored as RGB (channels_equal)',
    // Most X-ray JPEG/PNG exports store R = G = B: recorded at import, so the one-click suggestion trains them on one
    // channel instead of three identical ones (issue 15). Null for one-channel images and for rows imported before.
    up: (db) => db.exec(`ALTER TABLE images ADD COLUMN channels_equal INTEGER;`),
  },
  {
    version: 8,
    name: 'DICOM: per-image header facts, files without image data',
    // One row per DICOM image: the identifiers splits group by (patient, study), relinks by (SOP Instance UID),
    // and the descriptors the UI filters by. Files with no pixel data (SR, RT plans, presentation states,
    // waveforms) are neither images nor errors: listed apart, per root and path as images are.
    up: (db) =>
      db.exec(`
        CREATE TABLE dicom_images (
          image_id INTEGER PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE,
          sop_instance_uid TEXT,
          sop_class_uid TEXT,
          patient_id TEXT,
          study_instance_uid TEXT,
          series_instance_uid TEXT,
          modality TEXT,
          body_part TEXT,
          view_position TEXT,
          photometric TEXT,
          study_date TEXT,
          series_description TEXT,
          manufacturer TEXT,
          rows INTEGER,
          columns INTEGER,
          frames INTEGER,
          frame INTEGER NOT NULL DEFAULT 0,   -- the frame this image shows (0-based)
          pixel_spacing_row REAL,
          pixel_spacing_col REAL
        );
        CREATE INDEX dicom_by_sop ON dicom_images(sop_instance_uid);
        CREATE INDEX dicom_by_patient ON dicom_images(patient_id);
        CREATE INDEX dicom_by_study ON dicom_images(study_instance_uid);
        CREATE INDEX dicom_by_modality ON dicom_images(modality);
        CREATE TABLE dicom_no_image (
          root_id INTEGER NOT NULL REFERENCES roots(id),
          rel_path TEXT NOT NULL,
          sop_class TEXT NOT NULL,
          size INTEGER NOT NULL,
          mtime_ms INTEGER NOT NULL,
          PRIMARY KEY (root_id, rel_path)
        ) WITHOUT ROWID;
      `),
  },
  {
    version: 9,
    name: 'DICOM: indexes for the browse filters',
    // The sidebar filters DICOM images by body part, view and series as well as by modality (migration 8): each
    // filter finds its images through an index instead of reading every DICOM row.
    up: (db) =>
      db.exec(`
        CREATE INDEX dicom_by_body_part ON dicom_images(body_part);
        CREATE INDEX dicom_by_view ON dicom_images(view_position);
        CREATE INDEX dicom_by_series ON dicom_images(series_instance_uid);
      `),
  },
  {
    version: 10,
    name: 'evaluations of external models (a foreign ONNX classifier, no run)',
    // An external evaluation has no run: run_id becomes nullable, which SQLite allows only by rebuilding the
    // table. predictions is rebuilt with it and pointed at the new table before the old ones are dropped, so no
    // DROP cascades into predictions (foreign keys stay on inside the migration's transaction).
    up: (db) =>
      db.exec(`
        CREATE TABLE external_models (
          id INTEGER PRIMARY KEY,
          file_name TEXT NOT NULL,         -- the file's name only: never a path (evaluations are shared in reports)
          sha256 TEXT NOT NULL,
          format TEXT NOT NULL,
          classes TEXT NOT NULL,           -- JSON: the model's class names, in its output order
          preprocess TEXT NOT NULL,
          image_size INTEGER NOT NULL,
          channels INTEGER NOT NULL,
          created_at TEXT NOT NULL
        );
        CREATE TABLE evaluations_v10 (
          id INTEGER PRIMARY KEY,
          run_id INTEGER REFERENCES runs(id) ON DELETE CASCADE,
          external_model_id INTEGER REFERENCES external_models(id) ON DELETE CASCADE,
          split TEXT NOT NULL CHECK (split IN ('val', 'test', 'unlabeled')),
          model_sha256 TEXT NOT NULL,
          created_at TEXT NOT NULL,
          n INTEGER NOT NULL,
          metrics TEXT,
          notes TEXT NOT NULL DEFAULT '[]',
          CHECK ((run_id IS NULL) <> (external_model_id IS NULL))
        );
        INSERT INTO evaluations_v10 (id, run_id, split, model_sha256, created_at, n, metrics, notes)
          SELECT id, run_id, split, model_sha256, created_at, n, metrics, notes FROM evaluations;
        CREATE TABLE predictions_v10 (
          evaluation_id INTEGER NOT NULL REFERENCES evaluations_v10(id) ON DELETE CASCADE,
          image_id INTEGER NOT NULL,
          label INTEGER,
          predicted INTEGER NOT NULL,
          confidence REAL NOT NULL,
          margin REAL NOT NULL,
          entropy REAL NOT NULL,
          label_probability REAL,
          probs BLOB NOT NULL,
          PRIMARY KEY (evaluation_id, image_id)
        ) WITHOUT ROWID;
        INSERT INTO predictions_v10 SELECT * FROM predictions;
        DROP TABLE predictions;
        DROP TABLE evaluations;
        -- Renaming updates predictions_v10's reference to the new name.
        ALTER TABLE evaluations_v10 RENAME TO evaluations;
        ALTER TABLE predictions_v10 RENAME TO predictions;
        CREATE INDEX evaluations_by_run ON evaluations(run_id, split, id);
        CREATE INDEX evaluations_by_external ON evaluations(external_model_id, id);
        CREATE INDEX predictions_by_cell ON predictions(evaluation_id, label, predicted);
        CREATE INDEX predictions_by_image ON predictions(image_id);
      `),
  },
  {
    version: 11,
    name: 'external models: where the file was read from, for Re-evaluate',
    // Re-evaluating a stale external evaluation reads the same file again. The path stays in project.db only:
    // summaries and reports still name the file, never where it lives. Rows from before have none (NULL).
    up: (db) => db.exec('ALTER TABLE external_models ADD COLUMN path TEXT'),
  },
];

export const latestVersion = migrations[migrations.length - 1]!.version;

function versionOf(db: Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/** Where the copy of project.db made before upgrading it from `version` goes. */
export function backupPath(file: string, version: number): string {
  return `${file}.v${version}.bak`;
}

/**
 * A copy of project.db as it was, before a schema upgrade an older Loupe could not read back (issue 14). One per
 * version upgraded from, never overwritten; VACUUM INTO writes a consistent snapshot, even with other readers.
 */
function backupBeforeUpgrade(db: Database, from: number): void {
  if (from === 0 || db.memory || !db.name) return;
  const target = backupPath(db.name, from);
  if (existsSync(target)) return;
  try {
    db.prepare('VACUUM INTO ?').run(target);
  } catch (e) {
    // Another process opening the same project made it first.
    if (!existsSync(target)) throw e;
  }
}

/**
 * Brings the database to the latest version; refuses a database newer than this app. Each migration reads the
 * version inside its own IMMEDIATE transaction: two processes opening an old project at once apply each migration
 * once, the second finding it done.
 */
export function migrate(db: Database): { from: number; to: number } {
  const from = versionOf(db);
  if (from > latestVersion) {
    throw new Error(`project.db is at schema version ${from}, newer than this Loupe (${latestVersion}): update Loupe`);
  }
  if (from < latestVersion) backupBeforeUpgrade(db, from);
  for (const m of migrations) {
    if (m.version <= from) continue;
    db.transaction(() => {
      if (versionOf(db) >= m.version) return;
      m.up(db);
      db.pragma(`user_version = ${m.version}`);
    }).immediate();
  }
  return { from, to: latestVersion };
}
