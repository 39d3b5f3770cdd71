/** Read queries over images and classes: the grid's pages, one image's details, the project summary. */
import { join } from 'node:path';
import {
  LoupeError,
  type ClassInfo,
  type ImageDetail,
  type ImagePage,
  type ImageSummary,
  type ProjectSummary,
  type Request,
  type SplitName,
  type ImageStatus,
  type ImageFilter,
  type SortKey,
} from '../../../shared/contract.ts';
import type { Database } from '../db/database.ts';
import type { Project } from '../project/project.ts';
import { missingSources } from './source-check.ts';

interface ImageRow {
  id: number;
  name: string;
  class_id: number | null;
  split: SplitName | null;
  status: ImageStatus;
  sha256: string | null;
  width: number | null;
  height: number | null;
  excluded: number;
  unsure: number;
}

interface PredictionColumns {
  p_predicted?: number;
  p_confidence?: number;
  p_label?: number | null;
  p_label_probability?: number | null;
}

const SUMMARY_COLUMNS = 'i.id, i.name, i.class_id, i.split, i.status, i.sha256, i.width, i.height, i.excluded, i.unsure';

function toSummary(r: ImageRow): ImageSummary {
  return {
    id: r.id,
    name: r.name,
    classId: r.class_id,
    split: r.split,
    status: r.status,
    sha256: r.sha256,
    width: r.width,
    height: r.height,
    excluded: r.excluded === 1,
    unsure: r.unsure === 1,
  };
}

/** The images that count as the project's images: all but the files that failed to import (status 'error'). */
export const IMPORTED = `i.status <> 'error'`;

/** Builds the WHERE clause of a filter; one place, so counts and pages always agree. */
export function filterSql(filter: ImageFilter, sort?: SortKey): { from: string; where: string; params: unknown[] } {
  const clauses: string[] = [];
  // There are no class×size/date or split×size/date indexes: every one costs each bulk label or re-split an index
  // update per image. For those orders the unary + hides the filter column from the planner, so SQLite walks the
  // order's own index (images_by_size / images_by_mtime) and stops after a page instead of sorting the filtered
  // set (a class is rarely under 1% of the images, so a page is found within a few thousand index entries).
  const byOrder = sort === 'size' || sort === 'date';
  // Splits have their own size/date indexes (migration 6); only the class filter is hidden from the planner.
  const splitColumn = 'i.split';
  const classColumn = byOrder ? '+i.class_id' : 'i.class_id';
  const params: unknown[] = [];
  let from = 'images i';
  if (filter.evaluation) {
    // The join's parameter comes first: it precedes the WHERE clause in the statement.
    const ids = [filter.evaluation.id, ...(filter.evaluation.pool ?? [])];
    from = `images i JOIN predictions p ON p.image_id = i.id AND p.evaluation_id ${ids.length === 1 ? '= ?' : `IN (${ids.map(() => '?').join(', ')})`}`;
    params.push(...ids);
    if (filter.evaluation.label !== undefined) {
      clauses.push('p.label = ?');
      params.push(filter.evaluation.label);
    }
    if (filter.evaluation.predicted !== undefined) {
      clauses.push('p.predicted = ?');
      params.push(filter.evaluation.predicted);
    }
    if (filter.evaluation.misclassified) clauses.push('p.label IS NOT NULL AND p.label <> p.predicted');
  }
  if (filter.classId !== undefined) {
    clauses.push(`${classColumn} = ?`);
    params.push(filter.classId);
  }
  if (filter.unlabeled) clauses.push(`${classColumn} IS NULL`);
  if (filter.split === 'unassigned') clauses.push(`${splitColumn} IS NULL`);
  else if (filter.split) {
    clauses.push(`${splitColumn} = ?`);
    params.push(filter.split);
  }
  // Files that failed to import are listed under Import errors only: every other view, count and selection (and
  // so labeling, training, assisted labeling and exports) leaves them out (issue 15).
  if (filter.errors) clauses.push(`i.status = 'error'`);
  else clauses.push(IMPORTED);
  if (filter.missing) clauses.push(`i.status = 'missing'`);
  if (filter.duplicates) {
    clauses.push(`i.sha256 IN (SELECT sha256 FROM images WHERE sha256 IS NOT NULL GROUP BY sha256 HAVING COUNT(*) > 1)`);
  }
  if (filter.unsure) clauses.push('i.unsure = 1');
  if (filter.excluded) clauses.push('i.excluded = 1');
  if (filter.fold !== undefined) {
    clauses.push('i.fold = ?');
    params.push(filter.fold);
  }
  if (filter.dicom) {
    // Each column has its own index (migrations 8 and 9): the subquery searches one, then checks the others.
    const columns: [keyof NonNullable<ImageFilter['dicom']>, string][] = [
      ['modality', 'modality'],
      ['bodyPart', 'body_part'],
      ['view', 'view_position'],
      ['series', 'series_instance_uid'],
    ];
    const wanted = columns.filter(([key]) => filter.dicom![key] !== undefined);
    if (wanted.length) {
      clauses.push(`i.id IN (SELECT image_id FROM dicom_images WHERE ${wanted.map(([, col]) => `${col} = ?`).join(' AND ')})`);
      params.push(...wanted.map(([key]) => filter.dicom![key]));
    }
  }
  if (filter.search) {
    const term = filter.search;
    if ([...term].length >= 3) {
      // The trigram index finds substrings (case-insensitively) without reading every row; quoted as one phrase.
      clauses.push(`i.id IN (SELECT rowid FROM images_path_fts WHERE images_path_fts MATCH ?)`);
      params.push(`"${term.replace(/"/g, '""')}"`);
    } else {
      // Trigrams need three characters; one or two are rare searches, served by a scan.
      clauses.push(`i.rel_path LIKE ? ESCAPE '\\'`);
      params.push(`%${term.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
    }
  }
  return { from, where: clauses.length ? `WHERE ${clauses.join(' AND ')}` : '', params };
}

const ORDER: Record<Request<'images:query'>['sort'], string> = {
  name: 'i.name',
  date: 'i.mtime_ms',
  size: 'i.size',
  // The prediction orders read the joined evaluation; their natural direction is built in (desc flips it).
  confidence: '-p.confidence',
  uncertainty: 'p.margin',
  loss: 'COALESCE(p.label_probability, p.confidence)',
};

function orderBy(req: { sort: Request<'images:query'>['sort']; desc: boolean; filter: ImageFilter }): string {
  const key = ORDER[req.sort];
  if (key.includes('p.') && !req.filter.evaluation) {
    throw new LoupeError('VALIDATION', `Sorting by ${req.sort} needs an evaluation filter`);
  }
  const dir = req.desc ? 'DESC' : 'ASC';
  return `${key} ${dir}, i.id ${dir}`;
}

/** Every id in a filter, in grid order: for "select all in filter". */
export function queryImageIds(db: Database, req: Request<'images:ids'>): number[] {
  const { from, where, params } = filterSql(req.filter, req.sort);
  return db
    .prepare(`SELECT i.id FROM ${from} ${where} ORDER BY ${orderBy(req)}`)
    .pluck()
    .all(...params) as number[];
}

/** The SQL of one grid page: one place, so the query-plan test checks exactly what the grid runs. */
export function pageSql(req: Request<'images:query'>): { count: string; page: string; params: unknown[] } {
  const { from, where, params } = filterSql(req.filter, req.sort);
  // The count has no order: it may use the filter's own index (a covering count), whatever the sort hints.
  const counted = filterSql(req.filter);
  const predictionColumns = req.filter.evaluation
    ? ', p.predicted AS p_predicted, p.confidence AS p_confidence, p.label AS p_label, p.label_probability AS p_label_probability'
    : '';
  return {
    count: `SELECT COUNT(*) AS n FROM ${counted.from} ${counted.where}`,
    page: `SELECT ${SUMMARY_COLUMNS}${predictionColumns} FROM ${from} ${where} ORDER BY ${orderBy(req)} LIMIT ? OFFSET ?`,
    params,
  };
}

export function queryImages(db: Database, req: Request<'images:query'>): ImagePage {
  const sql = pageSql(req);
  const total = (db.prepare(sql.count).get(...sql.params) as { n: number }).n;
  const rows = db.prepare(sql.page).all(...sql.params, req.limit, req.offset) as (ImageRow & PredictionColumns)[];
  return {
    total,
    offset: req.offset,
    items: rows.map((r) =>
      req.filter.evaluation
        ? {
            ...toSummary(r),
            prediction: { predicted: r.p_predicted!, confidence: r.p_confidence!, label: r.p_label ?? null, labelProbability: r.p_label_probability ?? null },
          }
        : toSummary(r),
    ),
  };
}

interface DetailRow extends ImageRow {
  root: string;
  rel_path: string;
  size: number;
  mtime_ms: number;
  channels: number | null;
  bit_depth: number | null;
  format: string | null;
  pages: number | null;
  orientation: number | null;
  min_value: number | null;
  max_value: number | null;
  error: string | null;
  note: string | null;
  imported_at: string;
  user_note: string | null;
  group_key: string | null;
  fold: number | null;
  is_dicom: number;
}

export function getImage(project: Project, id: number): ImageDetail {
  const r = project.db
    .prepare(
      `SELECT i.*, r.path AS root, EXISTS (SELECT 1 FROM dicom_images d WHERE d.image_id = i.id) AS is_dicom
       FROM images i JOIN roots r ON r.id = i.root_id WHERE i.id = ?`,
    )
    .get(id) as DetailRow | undefined;
  if (!r) throw new LoupeError('NOT_FOUND', `No image with id ${id}`);
  const duplicates = r.sha256
    ? (
        project.db
          .prepare(
            `SELECT r.path AS root, i.rel_path FROM images i JOIN roots r ON r.id = i.root_id
             WHERE i.sha256 = ? AND i.id <> ? ORDER BY i.rel_path LIMIT 100`,
          )
          .all(r.sha256, id) as { root: string; rel_path: string }[]
      ).map((d) => join(d.root, d.rel_path))
    : [];
  return {
    ...toSummary(r),
    root: r.root,
    relPath: r.rel_path,
    absPath: join(r.root, r.rel_path),
    size: r.size,
    mtimeMs: r.mtime_ms,
    channels: r.channels,
    bitDepth: r.bit_depth,
    format: r.format,
    pages: r.pages,
    orientation: r.orientation,
    minValue: r.min_value,
    maxValue: r.max_value,
    error: r.error,
    note: r.note,
    importedAt: r.imported_at,
    duplicates,
    userNote: r.user_note,
    groupKey: r.group_key,
    fold: r.fold,
    dicom: r.is_dicom === 1,
  };
}

const LETTERS = 'abcdefghijklmnopqrstuvwxyz';

/** Default hotkeys by position: 1–9, then letters; a stored hotkey wins, and no key is given twice. */
export function effectiveHotkeys(rows: { hotkey: string | null }[]): string[] {
  const taken = new Set(rows.map((r) => r.hotkey).filter((k): k is string => Boolean(k)));
  const pool = ['1', '2', '3', '4', '5', '6', '7', '8', '9', ...LETTERS].filter((k) => !taken.has(k));
  return rows.map((r) => r.hotkey ?? pool.shift() ?? '');
}

export function listClasses(db: Database): ClassInfo[] {
  const rows = db
    .prepare(
      `SELECT c.id, c.name, c.color, c.position, c.hotkey,
              (SELECT COUNT(*) FROM images i WHERE i.class_id = c.id AND ${IMPORTED}) AS count
       FROM classes c ORDER BY c.position, c.id`,
    )
    .all() as (Omit<ClassInfo, 'hotkey'> & { hotkey: string | null })[];
  const keys = effectiveHotkeys(rows);
  return rows.map((r, i) => ({ ...r, hotkey: keys[i]! }));
}

const MAX_LISTED = 1000;

/** Missing files found by a stat per image, not only those an import rescan marked (issue 14). */
function missingFields(db: Database): Pick<ProjectSummary, 'missing' | 'missingFiles'> {
  const { count, paths } = missingSources(db, MAX_LISTED);
  return { missing: count, missingFiles: paths };
}

export function summarizeProject(project: Project): ProjectSummary {
  const db = project.db;
  const counts = db
    .prepare(
      `SELECT COUNT(*) AS images,
              COALESCE(SUM(class_id IS NOT NULL), 0) AS labeled,
              COALESCE(SUM(split = 'train'), 0) AS train,
              COALESCE(SUM(split = 'val'), 0) AS val,
              COALESCE(SUM(split = 'test'), 0) AS test,
              COALESCE(SUM(split IS NULL), 0) AS unassigned
       FROM images i WHERE ${IMPORTED}`,
    )
    .get() as Record<string, number>;
  const dupRows = db
    .prepare(
      `SELECT i.sha256, r.path AS root, i.rel_path FROM images i JOIN roots r ON r.id = i.root_id
       WHERE i.sha256 IN (SELECT sha256 FROM images WHERE sha256 IS NOT NULL GROUP BY sha256 HAVING COUNT(*) > 1)
       ORDER BY i.sha256, i.rel_path`,
    )
    .all() as { sha256: string; root: string; rel_path: string }[];
  const groups = new Map<string, string[]>();
  for (const d of dupRows) {
    const g = groups.get(d.sha256) ?? [];
    g.push(join(d.root, d.rel_path));
    groups.set(d.sha256, g);
  }
  const errors = (
    db
      .prepare(
        `SELECT r.path AS root, i.rel_path, i.error FROM images i JOIN roots r ON r.id = i.root_id
         WHERE i.status = 'error' ORDER BY i.rel_path LIMIT ${MAX_LISTED}`,
      )
      .all() as { root: string; rel_path: string; error: string | null }[]
  ).map((e) => ({ path: join(e.root, e.rel_path), reason: e.error ?? 'unknown error' }));
  const notes = (
    db
      .prepare(
        `SELECT r.path AS root, i.rel_path, i.note FROM images i JOIN roots r ON r.id = i.root_id
         WHERE i.note IS NOT NULL ORDER BY i.rel_path LIMIT ${MAX_LISTED}`,
      )
      .all() as { root: string; rel_path: string; note: string }[]
  ).map((n) => ({ path: join(n.root, n.rel_path), note: n.note }));
  // The same DICOM instance stored twice (other bytes, same SOP Instance UID) is a duplicate too.
  const uidRows = db
    .prepare(
      `SELECT d.sop_instance_uid AS uid, r.path AS root, i.rel_path FROM dicom_images d
       JOIN images i ON i.id = d.image_id JOIN roots r ON r.id = i.root_id
       WHERE i.status = 'ok' AND d.sop_instance_uid IN (
         SELECT d2.sop_instance_uid FROM dicom_images d2 JOIN images i2 ON i2.id = d2.image_id
         WHERE i2.status = 'ok' AND d2.sop_instance_uid IS NOT NULL GROUP BY d2.sop_instance_uid HAVING COUNT(*) > 1)
       ORDER BY d.sop_instance_uid, i.rel_path`,
    )
    .all() as { uid: string; root: string; rel_path: string }[];
  const byUid = new Map<string, string[]>();
  for (const d of uidRows) byUid.set(d.uid, [...(byUid.get(d.uid) ?? []), join(d.root, d.rel_path)]);
  const known = new Set([...groups.values()].map((g) => g.join('\0')));
  for (const g of byUid.values()) if (!known.has(g.join('\0'))) groups.set(`uid:${g[0]}`, g);
  const noImageData = (
    db
      .prepare(
        `SELECT r.path AS root, n.rel_path, n.sop_class FROM dicom_no_image n JOIN roots r ON r.id = n.root_id
         ORDER BY n.rel_path LIMIT ${MAX_LISTED}`,
      )
      .all() as { root: string; rel_path: string; sop_class: string }[]
  ).map((n) => ({ path: join(n.root, n.rel_path), sopClass: n.sop_class }));
  const roots = (db.prepare(`SELECT path FROM roots ORDER BY id`).all() as { path: string }[]).map((r) => r.path);
  return {
    project: project.info(),
    images: counts['images']!,
    labeled: counts['labeled']!,
    unlabeled: counts['images']! - counts['labeled']!,
    classes: listClasses(db).map((c) => ({ id: c.id, name: c.name, count: c.count })),
    splits: { train: counts['train']!, val: counts['val']!, test: counts['test']!, unassigned: counts['unassigned']! },
    duplicates: [...groups.values()],
    errors,
    ...missingFields(db),
    notes,
    roots,
    noImageData,
  };
}
