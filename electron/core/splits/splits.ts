/**
 * Train/val/test splits, k folds and group keys, kept in project.db. The math is in shared/split-math.ts; this
 * module reads the images, checks the request, and writes the result in one transaction (or nothing at all).
 */
import {
  LoupeError,
  splitNames,
  type EditResult,
  type GroupPreview,
  type SplitName,
  type SplitSummary,
  type SplitWarning,
} from '../../../shared/contract.ts';
import {
  assignBuckets,
  assignFolds,
  compileGroupRule,
  emptyCells,
  ratiosProblem,
  type GroupRule,
  type SplitItem,
} from '../../../shared/split-math.ts';
import type { Database } from '../db/database.ts';
import { writeColumn } from '../db/bulk-write.ts';
import { classNameOf } from '../labels/classes.ts';
import { applyEdit } from '../labels/edits.ts';
import { foldsK } from '../project/settings.ts';
import { pseudonym, pseudonymSecret } from '../project/pseudonyms.ts';
import { leakingPatients, patientWarning } from './patient-leakage.ts';

const DEFAULT_RATIOS: [number, number, number] = [0.7, 0.15, 0.15];
const LOCKED_DEFAULT_RATIOS: [number, number, number] = [0.8, 0.2, 0];
const SMALL_CLASS = 5;
/** Files shown in a group rule's preview, of which at most EXAMPLES_ALONE without a group. */
const EXAMPLES = 8;
const EXAMPLES_ALONE = 2;
const LISTED = 5;

function getMeta(db: Database, key: string): string | null {
  return (db.prepare('SELECT value FROM meta WHERE key = ?').pluck().get(key) as string | undefined) ?? null;
}
function setMeta(db: Database, key: string, value: string | null): void {
  if (value === null) db.prepare('DELETE FROM meta WHERE key = ?').run(key);
  else db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value);
}

export function isTestLocked(db: Database): boolean {
  return getMeta(db, 'test_locked') === '1';
}

/**
 * After an import: splits read from train/val/test folders are marked as such, and a test split that came from
 * a folder is locked from the start (the user's own held-out set must not be reshuffled by accident).
 */
export function adoptFolderSplits(db: Database): void {
  db.transaction(() => {
    db.prepare(`UPDATE images SET split_source = 'folder' WHERE split IS NOT NULL AND split_source IS NULL`).run();
    if (getMeta(db, 'test_locked') === null) {
      const folderTest = db.prepare(`SELECT 1 FROM images WHERE split = 'test' AND split_source = 'folder' LIMIT 1`).get();
      if (folderTest) setMeta(db, 'test_locked', '1');
    }
  }).immediate();
}

/**
 * Every usable image, column by column. A 100k-image re-split is bounded by reading and writing rows, so rows are
 * read as arrays (`raw`), not objects: a third less time and garbage.
 */
interface Usable {
  ids: number[];
  classes: (number | null)[];
  paths: string[];
  groups: (string | null)[];
  splits: (SplitName | null)[];
  sources: (string | null)[];
}

function readUsable(db: Database): Usable {
  const rows = db
    // +status: a plain table scan; walking images_by_status and looking each row up costs twice as much here.
    .prepare(`SELECT id, class_id, rel_path, group_key, split, split_source FROM images WHERE +status = 'ok'`)
    .raw()
    .all() as [number, number | null, string, string | null, SplitName | null, string | null][];
  const n = rows.length;
  // Preallocated and filled by index: pushing into six growing arrays costs as much as the read itself.
  const u: Usable = {
    ids: new Array(n),
    classes: new Array(n),
    paths: new Array(n),
    groups: new Array(n),
    splits: new Array(n),
    sources: new Array(n),
  };
  for (let i = 0; i < n; i++) {
    const r = rows[i]!;
    u.ids[i] = r[0];
    u.classes[i] = r[1];
    u.paths[i] = r[2];
    u.groups[i] = r[3];
    u.splits[i] = r[4];
    u.sources[i] = r[5];
  }
  return u;
}

const DICOM_GROUP_COLUMNS = { PatientID: 'patient_id', StudyInstanceUID: 'study_instance_uid' } as const;

/** Group keys for a rule, by position; 'csv' keeps the keys already stored (from a labels CSV). */
function groupKeys(db: Database, u: Usable, rule: GroupRule | undefined): (string | null)[] {
  if (!rule || rule.kind === 'csv') return u.groups;
  if (rule.kind === 'dicom') {
    // Images that are not DICOM, or lack the field, have no group (each stands alone, as with an unmatched regex).
    // Group keys are stored and exported (labels CSV): a pseudonym, never the patient's ID itself.
    const column = DICOM_GROUP_COLUMNS[rule.field];
    const secret = pseudonymSecret(db);
    const prefix = rule.field === 'PatientID' ? 'patient' : 'study';
    const keys = new Map(
      (db.prepare(`SELECT image_id, ${column} FROM dicom_images WHERE ${column} IS NOT NULL`).raw().all() as [number, string][]).map(
        ([id, value]) => [id, pseudonym(secret, prefix, value)] as const,
      ),
    );
    return u.ids.map((id) => keys.get(id) ?? null);
  }
  let derive: (p: string) => string | null;
  try {
    derive = compileGroupRule(rule);
  } catch (e) {
    throw new LoupeError('BAD_INPUT', (e as Error).message);
  }
  return u.paths.map(derive);
}

export function previewGroups(db: Database, rule: GroupRule): GroupPreview {
  const u = readUsable(db);
  const keys = groupKeys(db, u, rule);
  const groups = new Set<string>();
  for (const k of keys) if (k !== null) groups.add(k);
  const matched = keys.filter((k) => k !== null).length;
  // Examples that let the rule be checked at a glance: files of different groups, then files it finds no group in.
  const examples: GroupPreview['examples'] = [];
  const shown = new Set<string>();
  const alone: GroupPreview['examples'] = [];
  keys.forEach((group, i) => {
    if (group === null) {
      if (alone.length < EXAMPLES_ALONE) alone.push({ path: u.paths[i]!, group });
    } else if (!shown.has(group) && shown.size < EXAMPLES - EXAMPLES_ALONE) {
      shown.add(group);
      examples.push({ path: u.paths[i]!, group });
    }
  });
  examples.push(...alone);
  return { matched, unmatched: u.ids.length - matched, groups: groups.size, examples };
}

function resolveGroups(db: Database, u: Usable, rule: GroupRule | undefined): (string | null)[] {
  const keys = groupKeys(db, u, rule);
  const anyMatched = keys.some((k) => k !== null);
  if (rule && rule.kind !== 'csv' && !anyMatched) {
    throw new LoupeError(
      'BAD_INPUT',
      rule.kind === 'regex'
        ? `The group pattern /${rule.pattern}/ matches no file name (e.g. ${u.paths[0] ?? 'none'})`
        : rule.kind === 'dicom'
          ? `No image has a DICOM ${rule.field}`
          : `No image has a folder at level ${rule.level}`,
    );
  }
  if (rule?.kind === 'csv' && !anyMatched) {
    throw new LoupeError('BAD_INPUT', 'No image has a group from a labels CSV; import a CSV with a group column first');
  }
  return keys;
}

/**
 * Writes new group keys and splits, touching each row at most once and only the columns that changed: index
 * maintenance (three split indexes, the group index), not reading, is what a 100k-image write costs; when most
 * rows change, the indexes are rebuilt instead (writeColumn).
 */
function writeRows(
  db: Database,
  u: Usable,
  next: {
    groups: readonly (string | null)[];
    splits: readonly (SplitName | null)[];
    /** Rows whose split this write decided (a re-split's movable rows); 1 = decided. */
    decided?: Uint8Array;
  },
): void {
  const n = u.ids.length;
  const groupChanged = new Uint8Array(n);
  const splitChanged = new Uint8Array(n);
  let groupChanges = 0;
  let splitChanges = 0;
  for (let i = 0; i < n; i++) {
    if (next.groups[i] !== u.groups[i]) {
      groupChanged[i] = 1;
      groupChanges++;
    }
    if (next.splits[i] !== u.splits[i]) {
      splitChanged[i] = 1;
      splitChanges++;
    }
  }
  // Usable rows stand for the table: missing and broken images are few.
  const total = n;
  writeColumn(db, { table: 'images', column: 'group_key', changing: groupChanges, total }, () =>
    writeColumn(db, { table: 'images', column: 'split', changing: splitChanges, total }, () => {
      const both = db.prepare(`UPDATE images SET group_key = ?, split = ?, split_source = 'split' WHERE id = ?`);
      const group = db.prepare('UPDATE images SET group_key = ? WHERE id = ?');
      const split = db.prepare(`UPDATE images SET split = ?, split_source = 'split' WHERE id = ?`);
      // After a re-split, folder splits that stay where they are become the split's: only the unindexed source changes.
      const adopted: number[] = [];
      for (let i = 0; i < n; i++) {
        if (groupChanged[i] && splitChanged[i]) both.run(next.groups[i], next.splits[i], u.ids[i]);
        else if (groupChanged[i]) group.run(next.groups[i], u.ids[i]);
        else if (splitChanged[i]) split.run(next.splits[i], u.ids[i]);
        else if (next.decided?.[i] && u.sources[i] !== 'split') adopted.push(u.ids[i]!);
      }
      if (adopted.length) {
        db.prepare(`UPDATE images SET split_source = 'split' WHERE id IN (SELECT value FROM json_each(?))`).run(JSON.stringify(adopted));
      }
    }),
  );
}

export function assignSplits(
  db: Database,
  req: { ratios?: [number, number, number]; seed: number; groupBy?: GroupRule; lockTest?: boolean },
): SplitSummary {
  const ratios = checkedRatios(db, req);
  // Read, decide and write in one write transaction: another process (a CLI command) cannot change a row between
  // the read and the write, and a refusal below changes nothing.
  return db.transaction(() => resplit(db, req, ratios)).immediate();
}

function checkedRatios(db: Database, req: { ratios?: [number, number, number]; lockTest?: boolean }): [number, number, number] {
  const locked = isTestLocked(db) || req.lockTest === true;
  const ratios = req.ratios ?? (locked ? LOCKED_DEFAULT_RATIOS : DEFAULT_RATIOS);
  const problem = ratiosProblem(ratios);
  if (problem) throw new LoupeError('BAD_INPUT', problem);
  if (isTestLocked(db) && ratios[2] > 0) {
    throw new LoupeError(
      'BAD_INPUT',
      'The test set is locked: re-splitting only divides the other images, so give a test ratio of 0 (e.g. 0.8,0.2,0)',
    );
  }
  return ratios;
}

function resplit(
  db: Database,
  req: { seed: number; groupBy?: GroupRule; lockTest?: boolean },
  ratios: [number, number, number],
): SplitSummary {
  const u = readUsable(db);
  const keys = resolveGroups(db, u, req.groupBy);
  const keepTest = isTestLocked(db);
  const movable: number[] = [];
  u.splits.forEach((split, i) => (keepTest && split === 'test') || movable.push(i));
  if (movable.length === 0) throw new LoupeError('BAD_INPUT', 'There are no images to split');
  const items: SplitItem[] = movable.map((i) => ({ id: u.ids[i]!, cls: u.classes[i]!, group: keys[i]! }));
  const assignment = assignBuckets(items, ratios, req.seed);
  const empty = emptyCells(items, assignment, ratios);
  if (empty.length) {
    const list = empty
      .slice(0, LISTED)
      .map((e) => `"${classNameOf(db, e.cls) ?? `#${e.cls}`}" (${e.classSize} images) gets none in ${splitNames[e.bucket]}`)
      .join('; ');
    throw new LoupeError(
      'BAD_INPUT',
      `These ratios leave a split empty for a class: ${list}${empty.length > LISTED ? `; and ${empty.length - LISTED} more` : ''}. ` +
        'Label more images, change the ratios, or use fewer groups.',
    );
  }
  const splits = [...u.splits];
  const decided = new Uint8Array(splits.length);
  movable.forEach((i, k) => {
    splits[i] = splitNames[assignment[k]!]!;
    decided[i] = 1;
  });
  // Locked test images keep their split and source; a CSV rule keeps the stored keys (so they compare equal).
  writeRows(db, u, { groups: keys, splits, decided });
  // Folds were cut from the old train/val: they no longer hold.
  if (getMeta(db, 'folds_k') !== null) db.prepare('UPDATE images SET fold = NULL WHERE fold IS NOT NULL').run();
  setMeta(db, 'folds_k', null);
  setMeta(db, 'split_seed', String(req.seed));
  setMeta(db, 'split_ratios', ratios.join(','));
  if (req.lockTest) setMeta(db, 'test_locked', '1');
  // The rows just written are in hand: count them here instead of scanning the table again.
  return splitSummary(db, { classes: u.classes, splits, groups: keys });
}

/**
 * k stratified, group-aware folds over every usable image outside the test split. With `ratios`, one step for
 * cross-validation: the images are first re-split by the ratios (the test share becomes the held-out test set, or
 * a locked test set stays as it is), then every image outside test goes into a fold, whatever its train/val split.
 */
export function assignKFolds(
  db: Database,
  req: { k: number; seed: number; groupBy?: GroupRule; ratios?: [number, number, number]; lockTest?: boolean },
): SplitSummary {
  const ratios = req.ratios ? checkedRatios(db, req) : null;
  // One write transaction from the read to the write, as for a re-split; a refusal of the folds undoes the re-split.
  db.transaction(() => {
    if (ratios) resplit(db, req, ratios);
    const u = readUsable(db);
    const keys = resolveGroups(db, u, req.groupBy);
    // The test split is never part of cross-validation.
    const items: SplitItem[] = [];
    u.splits.forEach((split, i) => split !== 'test' && items.push({ id: u.ids[i]!, cls: u.classes[i]!, group: keys[i]! }));
    if (items.length < req.k) throw new LoupeError('BAD_INPUT', `${req.k} folds need at least ${req.k} images outside the test split`);
    const folds = assignFolds(items, req.k, req.seed);
    const distinctGroups = new Set(items.map((i) => i.group ?? `#${i.id}`)).size;
    if (distinctGroups < req.k) {
      throw new LoupeError('BAD_INPUT', `${req.k} folds need at least ${req.k} groups; there are ${distinctGroups}`);
    }
    writeRows(db, u, { groups: keys, splits: u.splits });
    db.prepare('UPDATE images SET fold = NULL WHERE fold IS NOT NULL').run();
    const set = db.prepare('UPDATE images SET fold = ? WHERE id = ?');
    items.forEach((it, k) => set.run(folds[k], it.id));
    setMeta(db, 'folds_k', String(req.k));
    setMeta(db, 'folds_seed', String(req.seed));
    if (req.lockTest) setMeta(db, 'test_locked', '1');
  }).immediate();
  return splitSummary(db);
}

export function moveToSplit(db: Database, imageIds: readonly number[], split: SplitName | null): EditResult {
  if (isTestLocked(db)) {
    const touchesTest =
      split === 'test' ||
      imageIds.some((id) => (db.prepare('SELECT split FROM images WHERE id = ?').pluck().get(id) as string | null) === 'test');
    if (touchesTest) {
      throw new LoupeError('CONFLICT', 'The test set is locked: images cannot move into or out of it (unlock it first)');
    }
  }
  return applyEdit(db, `Move ${imageIds.length} to ${split ?? 'unassigned'}`, imageIds, 'split', split, 'split');
}

export function setTestLock(db: Database, locked: boolean): SplitSummary {
  db.transaction(() => setMeta(db, 'test_locked', locked ? '1' : '0')).immediate();
  return splitSummary(db);
}

/** Class, split and group of every usable image, when the caller has just read (and written) them all. */
interface KnownImages {
  classes: readonly (number | null)[];
  splits: readonly (SplitName | null)[];
  groups: readonly (string | null)[];
}

type Cell = { id: number | null; split: SplitName | null; n: number };

function cellsOf(db: Database, known?: KnownImages): Cell[] {
  if (!known) {
    return db
      .prepare(
        // +status: a table scan beats walking the status index for most of the table.
        `SELECT i.class_id AS id, i.split AS split, COUNT(*) AS n FROM images i
         WHERE +i.status = 'ok' GROUP BY i.class_id, i.split`,
      )
      .all() as Cell[];
  }
  const cells = new Map<string, Cell>();
  known.classes.forEach((id, i) => {
    const split = known.splits[i]!;
    const key = `${id}/${split}`;
    const cell = cells.get(key);
    if (cell) cell.n++;
    else cells.set(key, { id, split, n: 1 });
  });
  return [...cells.values()];
}

/** Groups with images in more than one split, in key order, at most `limit`. */
function leakingGroups(db: Database, limit: number, known?: KnownImages): string[] {
  if (!known) {
    return db
      .prepare(
        `SELECT group_key FROM images WHERE group_key IS NOT NULL AND split IS NOT NULL AND status = 'ok'
         GROUP BY group_key HAVING COUNT(DISTINCT split) > 1 ORDER BY group_key LIMIT ?`,
      )
      .pluck()
      .all(limit) as string[];
  }
  const seen = new Map<string, SplitName>();
  const leaking = new Set<string>();
  known.groups.forEach((g, i) => {
    const split = known.splits[i]!;
    if (g === null || split === null) return;
    const first = seen.get(g);
    if (first === undefined) seen.set(g, split);
    else if (first !== split) leaking.add(g);
  });
  // Code-unit order: the same as SQLite's BINARY collation for keys outside the astral planes.
  return [...leaking].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).slice(0, limit);
}

/** Counts, warnings and folds of the current splits; `known` skips the table scans when the caller has the rows. */
export function splitSummary(db: Database, known?: KnownImages): SplitSummary {
  const cells = cellsOf(db, known);
  const classes = db.prepare('SELECT id, name FROM classes ORDER BY position, id').all() as { id: number; name: string }[];
  const empty = () => ({ train: 0, val: 0, test: 0, unassigned: 0, total: 0 });
  const byClass = new Map<number | null, ReturnType<typeof empty>>();
  for (const c of cells) {
    const row = byClass.get(c.id) ?? empty();
    row[c.split ?? 'unassigned'] += c.n;
    row.total += c.n;
    byClass.set(c.id, row);
  }
  const rows: SplitSummary['rows'] = classes.map((c) => ({ id: c.id, name: c.name, ...(byClass.get(c.id) ?? empty()) }));
  if (byClass.has(null)) rows.push({ id: null, name: '(unlabeled)', ...byClass.get(null)! });
  const totals = empty();
  for (const r of rows) for (const k of ['train', 'val', 'test', 'unassigned', 'total'] as const) totals[k] += r[k];

  const warnings: SplitWarning[] = [];
  for (const r of rows) {
    if (r.id === null) continue;
    for (const s of splitNames) {
      if (totals[s] > 0 && r[s] < SMALL_CLASS) {
        warnings.push({
          kind: 'small-class',
          message: `"${r.name}" has ${r[s]} image${r[s] === 1 ? '' : 's'} in ${s} (fewer than ${SMALL_CLASS})`,
          items: [r.name],
        });
      }
    }
  }
  // Exact duplicates first from the covering hash index (cheap), then only their rows are looked at.
  const dupes = db
    .prepare(
      `SELECT sha256, GROUP_CONCAT(rel_path, '\n') AS paths FROM images
       WHERE sha256 IN (SELECT sha256 FROM images WHERE sha256 IS NOT NULL GROUP BY sha256 HAVING COUNT(*) > 1)
         AND split IS NOT NULL AND status = 'ok'
       GROUP BY sha256 HAVING COUNT(DISTINCT split) > 1 LIMIT 1000`,
    )
    .all() as { sha256: string; paths: string }[];
  if (dupes.length) {
    warnings.push({
      kind: 'duplicate-across-splits',
      message: `${dupes.length}${dupes.length === 1000 ? '+' : ''} exact duplicate${dupes.length === 1 ? '' : 's'} sit in different splits (leakage)`,
      items: dupes.slice(0, LISTED).map((d) => d.paths.split('\n').join(' = ')),
    });
  }
  // DICOM: patients across splits by their headers' Patient ID; a leaking group that is one of them is told once.
  const patients = leakingPatients(db);
  const patientWarned = patientWarning(patients, LISTED);
  if (patientWarned) warnings.push(patientWarned);
  const reported = new Set(patients);
  const leaking = leakingGroups(db, 1000, known).filter((g) => !reported.has(g));
  if (leaking.length) {
    warnings.push({
      kind: 'group-across-splits',
      message: `${leaking.length}${leaking.length === 1000 ? '+' : ''} group${leaking.length === 1 ? ' is' : 's are'} found in more than one split (patient leakage)`,
      items: leaking.slice(0, LISTED),
    });
  }
  const k = foldsK(db);
  const foldCounts = k
    ? (db.prepare('SELECT fold, COUNT(*) AS n FROM images WHERE fold IS NOT NULL GROUP BY fold ORDER BY fold').all() as {
        fold: number;
        n: number;
      }[])
    : [];
  const groups = db.prepare('SELECT COUNT(DISTINCT group_key) FROM images WHERE group_key IS NOT NULL').pluck().get() as number;
  return {
    rows,
    totals,
    testLocked: isTestLocked(db),
    folds: k,
    foldCounts: k ? Array.from({ length: k }, (_, f) => foldCounts.find((c) => c.fold === f)?.n ?? 0) : [],
    groups,
    warnings,
  };
}
