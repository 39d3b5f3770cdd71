/**
 * Labels CSV in and out: `path,label,split,group`, paths relative to the import root (DICOM images by their
 * pseudonym, see imageNamer), so work moves between Loupe and other tools. Import checks every row before changing anything: unknown paths and classes are
 * reported, never guessed; a malformed file changes nothing.
 */
import { LoupeError, splitNames, type CsvImportReport, type SplitName } from '../../../shared/contract.ts';
import { csvLine, csvText, parseCsv } from '../../../shared/csv.ts';
import type { Database } from '../db/database.ts';
import { createClass, findClassByName } from './classes.ts';
import { IMPORTED } from '../images/queries.ts';
import { applyValues, editState, type ValueChange } from './edits.ts';
import { imageNamer } from '../project/pseudonyms.ts';

const HEADER = ['path', 'label', 'split', 'group'] as const;
const LISTED = 20;

export function exportLabelsCsv(db: Database): { csv: string; rows: number } {
  const rows = db
    .prepare(
      `SELECT i.id, i.rel_path, c.name AS label, i.split, i.group_key FROM images i
       LEFT JOIN classes c ON c.id = i.class_id WHERE ${IMPORTED} ORDER BY i.rel_path, i.id`,
    )
    .all() as { id: number; rel_path: string; label: string | null; split: string | null; group_key: string | null }[];
  const nameOf = imageNamer(db);
  const lines = [csvLine(HEADER)];
  for (const r of rows) lines.push(csvLine([nameOf({ id: r.id, relPath: r.rel_path }), r.label, r.split, r.group_key]));
  return { csv: lines.join('\n') + '\n', rows: rows.length };
}

function normalizePath(p: string): string {
  return p.trim().replace(/\\/g, '/').replace(/^\.\//, '');
}

interface Parsed {
  imageId: number;
  label?: string;
  split?: SplitName | null;
  group?: string | null;
}

export function importLabelsCsv(db: Database, text: string, createClasses: boolean): CsvImportReport {
  const { rows, error } = parseCsv(text);
  if (error) throw new LoupeError('BAD_INPUT', `The CSV is malformed at line ${error.line}: ${error.reason}`);
  if (rows.length === 0) throw new LoupeError('BAD_INPUT', 'The CSV is empty');
  const header = rows[0]!.fields.map((h) => h.trim().toLowerCase());
  const col = (name: string) => header.indexOf(name);
  if (col('path') < 0) {
    throw new LoupeError('BAD_INPUT', `The CSV needs a header row with a "path" column (and label, split, group); got: ${header.join(', ')}`);
  }
  const labelCol = col('label');
  const splitCol = col('split');
  const groupCol = col('group');

  const byPath = new Map<string, number[]>();
  const nameOf = imageNamer(db);
  for (const r of db.prepare('SELECT id, rel_path FROM images').all() as { id: number; rel_path: string }[]) {
    // A DICOM image by its path or by the pseudonym the exported CSV gave it.
    for (const name of new Set([r.rel_path, nameOf({ id: r.id, relPath: r.rel_path })])) {
      const list = byPath.get(name);
      if (list) list.push(r.id);
      else byPath.set(name, [r.id]);
    }
  }
  const classByName = new Map(
    (db.prepare('SELECT id, name FROM classes').all() as { id: number; name: string }[]).map((c) => [c.name.toLowerCase(), c]),
  );

  const report: CsvImportReport = {
    rows: rows.length - 1,
    applied: 0,
    unchanged: 0,
    createdClasses: [],
    unknownPaths: [],
    unknownClasses: [],
    badRows: [],
    edit: editState(db),
  };
  const unknownClasses = new Set<string>();
  const parsed: Parsed[] = [];
  const seenPaths = new Map<string, number>();
  for (const row of rows.slice(1)) {
    // Cells Loupe (or a careful tool) guarded against formula injection come back as they were.
    const f = row.fields.map(csvText);
    if (f.length > header.length) {
      report.badRows.push({ line: row.line, reason: `${f.length} fields, the header has ${header.length}` });
      continue;
    }
    const path = normalizePath(f[col('path')] ?? '');
    if (!path) {
      report.badRows.push({ line: row.line, reason: 'no path' });
      continue;
    }
    if (seenPaths.has(path)) {
      report.badRows.push({ line: row.line, reason: `"${path}" is listed twice (also line ${seenPaths.get(path)})` });
      continue;
    }
    seenPaths.set(path, row.line);
    const ids = byPath.get(path);
    if (!ids) {
      report.unknownPaths.push(path);
      continue;
    }
    if (ids.length > 1) {
      report.badRows.push({ line: row.line, reason: `"${path}" exists under ${ids.length} import roots; cannot tell which` });
      continue;
    }
    const entry: Parsed = { imageId: ids[0]! };
    if (labelCol >= 0) {
      const label = (f[labelCol] ?? '').trim();
      if (label.length > 64) {
        report.badRows.push({ line: row.line, reason: 'label longer than 64 characters' });
        continue;
      }
      if (label && !classByName.has(label.toLowerCase())) unknownClasses.add(label);
      entry.label = label;
    }
    if (splitCol >= 0) {
      const split = (f[splitCol] ?? '').trim().toLowerCase();
      const mapped = split === '' ? null : split === 'valid' || split === 'validation' ? 'val' : split;
      if (mapped !== null && !(splitNames as readonly string[]).includes(mapped)) {
        report.badRows.push({ line: row.line, reason: `split "${split}" is not train, val or test` });
        continue;
      }
      entry.split = mapped as SplitName | null;
    }
    if (groupCol >= 0) {
      const g = (f[groupCol] ?? '').trim();
      entry.group = g === '' ? null : g;
    }
    parsed.push(entry);
  }
  report.unknownClasses = [...unknownClasses].sort();
  report.unknownPaths = report.unknownPaths.slice(0, 1000);

  const problems: string[] = [];
  if (report.badRows.length) {
    problems.push(
      `${report.badRows.length} bad row${report.badRows.length > 1 ? 's' : ''}: ` +
        report.badRows.slice(0, LISTED).map((b) => `line ${b.line}: ${b.reason}`).join('; '),
    );
  }
  if (report.unknownClasses.length && !createClasses) {
    problems.push(
      `unknown classes ${report.unknownClasses.slice(0, LISTED).map((c) => `"${c}"`).join(', ')} ` +
        '(create them first, or allow creating classes: --create-classes)',
    );
  }
  if (problems.length) throw new LoupeError('BAD_INPUT', `Nothing was imported: ${problems.join('. ')}`);

  const changes: ValueChange[] = [];
  let result = { changed: 0, edit: editState(db) };
  db.transaction(() => {
    for (const name of report.unknownClasses) {
      // Another process may have created it since the CSV was checked against the classes (issue 14).
      const existing = findClassByName(db, name);
      const c = existing ?? createClass(db, name);
      classByName.set(name.toLowerCase(), { id: c.id, name: c.name });
      if (!existing) report.createdClasses.push(c.name);
    }
    const setGroup = db.prepare('UPDATE images SET group_key = ? WHERE id = ?');
    for (const p of parsed) {
      if (p.label !== undefined) {
        changes.push({ imageId: p.imageId, field: 'class_id', value: p.label ? classByName.get(p.label.toLowerCase())!.id : null });
      }
      if (p.split !== undefined) changes.push({ imageId: p.imageId, field: 'split', value: p.split });
      if (p.group !== undefined) setGroup.run(p.group, p.imageId);
    }
    // Nested transactions become savepoints: a refusal inside rolls back the classes created above too.
    result = applyValues(db, `Import labels CSV (${parsed.length} rows)`, changes, 'csv import');
  }).immediate();
  report.applied = result.changed;
  report.unchanged = parsed.length - result.changed;
  report.edit = result.edit;
  return report;
}
