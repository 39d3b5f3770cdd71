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
import { applyEdit } from '../labels/edits.ts';

const DEFAULT_RATIOS: [number, number, number] = [0.7, 0.15, 0.15];
const LOCKED_DEFAULT_RATIOS: [number, number, number] = [0.8, 0.2, 0];
const SMALL_CLASS = 5;
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

interface Row {
  id: number;
  class_id: number | null;
  rel_path: string;
  group_key: string | null;
  split: SplitName | null;
}

function usableRows(db: Database): Row[] {
  return db
    // +status: a plain table scan; walking images_by_status and looking each row up costs twice as much here.
    .prepare(`SELECT id, class_id, rel_path, group_key, split FROM images WHERE +status = 'ok'`)
    .all() as Row[];
}

/** Computes group keys for a rule; 'csv' keeps the keys already stored (from a labels CSV). */
function groupKeys(rows: Row[], rule: GroupRule | undefined): Map<number, string | null> {
  const keys = new Map<number, string | null>();
  if (!rule || rule.kind === 'csv') {
    for (const r of rows) keys.set(r.id, r.group_key);
    return keys;
  }
  let derive: (p: string) => string | null;
  try {
    derive = compileGroupRule(rule);
  } catch (e) {
    throw new LoupeError('BAD_INPUT', (e as Error).message);
  }
  for (const r of rows) keys.set(r.id, derive(r.rel_path));
  return keys;
}

export function previewGroups(db: Database, rule: GroupRule): GroupPreview {
  const rows = usableRows(db);
  const keys = groupKeys(rows, rule);
  const groups = new Set<string>();
  let matched = 0;
  const examples: GroupPreview['examples'] = [];
  for (const r of rows) {
    const k = keys.get(r.id) ?? null;
    if (k !== null) {
      matched++;
      groups.add(k);
    }
    if (examples.length < 8) examples.push({ path: r.rel_path, group: k });
  }
  return { matched, unmatched: rows.length - matched, groups: groups.size, examples };
}

function resolveGroups(db: Database, rows: Row[], rule: GroupRule | undefined): Map<number, string | null> {
  const keys = groupKeys(rows, rule);
  if (rule && rule.kind !== 'csv') {
    const matched = [...keys.values()].filter((k) => k !== null).length;
    if (matched === 0) {
      throw new LoupeError(
        'BAD_INPUT',
        rule.kind === 'regex'
          ? `The group pattern /${rule.pattern}/ matches no file name (e.g. ${rows[0]?.rel_path ?? 'none'})`
          : `No image has a folder at level ${rule.level}`,
      );
    }
  }
  if (rule?.kind === 'csv' && ![...keys.values()].some((k) => k !== null)) {
    throw new LoupeError('BAD_INPUT', 'No image has a group from a labels CSV; import a CSV with a group column first');
  }
  return keys;
}

/** Writes only the keys that changed: index maintenance, not reading, is what a 100k-image write costs. */
function storeGroups(rows: Row[], keys: Map<number, string | null>, db: Database): void {
  const set = db.prepare('UPDATE images SET group_key = ? WHERE id = ?');
  for (const r of rows) {
    const k = keys.get(r.id) ?? null;
    if (k !== r.group_key) set.run(k, r.id);
  }
}

function className(db: Database, id: number): string {
  return (db.prepare('SELECT name FROM classes WHERE id = ?').pluck().get(id) as string | undefined) ?? `#${id}`;
}

export function assignSplits(
  db: Database,
  req: { ratios?: [number, number, number]; seed: number; groupBy?: GroupRule; lockTest?: boolean },
): SplitSummary {
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
  const all = usableRows(db);
  const keys = resolveGroups(db, all, req.groupBy);
  const movable = isTestLocked(db) ? all.filter((r) => r.split !== 'test') : all;
  if (movable.length === 0) throw new LoupeError('BAD_INPUT', 'There are no images to split');
  const items: SplitItem[] = movable.map((r) => ({ id: r.id, cls: r.class_id, group: keys.get(r.id) ?? null }));
  const assignment = assignBuckets(items, ratios, req.seed);
  const empty = emptyCells(items, assignment, ratios);
  if (empty.length) {
    const list = empty
      .slice(0, LISTED)
      .map((e) => `"${className(db, e.cls)}" (${e.classSize} images) gets none in ${splitNames[e.bucket]}`)
      .join('; ');
    throw new LoupeError(
      'BAD_INPUT',
      `These ratios leave a split empty for a class: ${list}${empty.length > LISTED ? `; and ${empty.length - LISTED} more` : ''}. ` +
        'Label more images, change the ratios, or use fewer groups.',
    );
  }
  db.transaction(() => {
    if (req.groupBy && req.groupBy.kind !== 'csv') storeGroups(all, keys, db);
    // One UPDATE per split with the ids as JSON: only the rows whose split changes pay for index updates.
    const moved: number[][] = splitNames.map(() => []);
    for (const r of movable) {
      const b = assignment.get(r.id)!;
      if (splitNames[b] !== r.split) moved[b]!.push(r.id);
    }
    const set = db.prepare(`UPDATE images SET split = ?, split_source = 'split' WHERE id IN (SELECT value FROM json_each(?))`);
    splitNames.forEach((name, b) => moved[b]!.length && set.run(name, JSON.stringify(moved[b])));
    db.prepare(`UPDATE images SET split_source = 'split' WHERE split IS NOT NULL AND split_source IS NOT 'split' AND status = 'ok'${isTestLocked(db) ? " AND split <> 'test'" : ''}`).run();
    // Folds were cut from the old train/val: they no longer hold.
    db.prepare('UPDATE images SET fold = NULL WHERE fold IS NOT NULL').run();
    setMeta(db, 'folds_k', null);
    setMeta(db, 'split_seed', String(req.seed));
    setMeta(db, 'split_ratios', ratios.join(','));
    if (req.lockTest) setMeta(db, 'test_locked', '1');
  }).immediate();
  return splitSummary(db);
}

export function assignKFolds(db: Database, req: { k: number; seed: number; groupBy?: GroupRule }): SplitSummary {
  const all = usableRows(db);
  const keys = resolveGroups(db, all, req.groupBy);
  // The test split is never part of cross-validation.
  const rows = all.filter((r) => r.split !== 'test');
  if (rows.length < req.k) throw new LoupeError('BAD_INPUT', `${req.k} folds need at least ${req.k} images outside the test split`);
  const items: SplitItem[] = rows.map((r) => ({ id: r.id, cls: r.class_id, group: keys.get(r.id) ?? null }));
  const folds = assignFolds(items, req.k, req.seed);
  const distinctGroups = new Set(items.map((i) => i.group ?? `#${i.id}`)).size;
  if (distinctGroups < req.k) {
    throw new LoupeError('BAD_INPUT', `${req.k} folds need at least ${req.k} groups; there are ${distinctGroups}`);
  }
  db.transaction(() => {
    if (req.groupBy && req.groupBy.kind !== 'csv') storeGroups(all, keys, db);
    db.prepare('UPDATE images SET fold = NULL WHERE fold IS NOT NULL').run();
    const set = db.prepare('UPDATE images SET fold = ? WHERE id = ?');
    for (const [id, f] of folds) set.run(f, id);
    setMeta(db, 'folds_k', String(req.k));
    setMeta(db, 'folds_seed', String(req.seed));
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

export function splitSummary(db: Database): SplitSummary {
  const cells = db
    .prepare(
      // +status: a table scan beats walking the status index for most of the table.
      `SELECT i.class_id AS id, i.split AS split, COUNT(*) AS n FROM images i
       WHERE +i.status = 'ok' GROUP BY i.class_id, i.split`,
    )
    .all() as { id: number | null; split: SplitName | null; n: number }[];
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
  const leaking = db
    .prepare(
      `SELECT group_key FROM images WHERE group_key IS NOT NULL AND split IS NOT NULL AND status = 'ok'
       GROUP BY group_key HAVING COUNT(DISTINCT split) > 1 LIMIT 1000`,
    )
    .pluck()
    .all() as string[];
  if (leaking.length) {
    warnings.push({
      kind: 'group-across-splits',
      message: `${leaking.length}${leaking.length === 1000 ? '+' : ''} group${leaking.length === 1 ? ' is' : 's are'} found in more than one split (patient leakage)`,
      items: leaking.slice(0, LISTED),
    });
  }
  const k = getMeta(db, 'folds_k');
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
    folds: k ? Number(k) : null,
    foldCounts: k ? Array.from({ length: Number(k) }, (_, f) => foldCounts.find((c) => c.fold === f)?.n ?? 0) : [],
    groups,
    warnings,
  };
}
