// Dataset export (issue 14): copies by default, so editing an exported image never alters an original (hard links
// only when asked); distinct class names never merge into one folder (separators, case, Windows-reserved names);
// over-long names are cut to a bounded length and stay distinct. Real files, a real project.db, the core's API.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LoupeCore } from '../../electron/core/api/loupe-core.ts';
import { safeFileName, MAX_NAME_BYTES } from '../../electron/core/export/file-names.ts';
import { parseCsv, csvText } from '../../shared/csv.ts';
import type { ExportReport } from '../../shared/contract.ts';
import * as img from '../fixtures/images.ts';
import { tempDir } from '../helpers/tmp.ts';

const CLASSES = ['a/b', 'a_b', 'Caf\u00e9', 'Cafe\u0301', 'CON', 'nul.txt', 'x'.repeat(64), '=1+1'];
const LONG = `${'deep-folder-name-'.repeat(12)}/${'very-long-file-name-'.repeat(10)}`;
let dir: string;
let core: LoupeCore;

before(async () => {
  dir = tempDir('loupe-dataset-names-');
  const images = join(dir, 'images');
  // Two images per class, under one folder per class; one class also gets two over-long paths that differ at the end.
  for (const [c] of CLASSES.entries()) {
    mkdirSync(join(images, `k${c}`), { recursive: true });
    for (let i = 0; i < 2; i++) writeFileSync(join(images, `k${c}`, `img${i}.png`), await img.png({ width: 16, height: 16, seed: c * 10 + i + 1 }));
  }
  mkdirSync(join(images, 'k0', LONG.split('/')[0]!), { recursive: true });
  for (const [i, end] of ['1.png', '2.png'].entries()) writeFileSync(join(images, 'k0', `${LONG}${end}`), await img.png({ width: 16, height: 16, seed: 200 + i }));
  core = new LoupeCore({ face: 'cli', configDir: join(dir, 'config') });
  core.openProject(join(dir, 'project'), { create: true, name: 'names' });
  const job = await core.jobs.wait((await core.dispatch('import:start', { folders: [images], labels: 'none' })).jobId);
  assert.equal(job.state, 'succeeded', job.message);
  const project = core.requireProject();
  const ids = new Map<string, number>();
  for (const name of CLASSES) ids.set(name, (await core.dispatch('classes:create', { name })).id);
  const rows = project.db.prepare('SELECT id, rel_path FROM images').all() as { id: number; rel_path: string }[];
  for (const r of rows) {
    const c = Number(/^k(\d+)\//.exec(r.rel_path)![1]);
    project.db.prepare(`UPDATE images SET class_id = ?, split = 'train' WHERE id = ?`).run(ids.get(CLASSES[c]!)!, r.id);
  }
});

async function exportTo(name: string, extra: Record<string, unknown> = {}): Promise<{ out: string; report: ExportReport }> {
  const out = join(dir, name);
  const job = await core.jobs.wait((await core.dispatch('export:dataset', { outDir: out, ...extra })).jobId);
  assert.equal(job.state, 'succeeded', job.message);
  return { out, report: job.result as ExportReport };
}

test('the export copies by default: editing an exported image leaves the original as it was', async () => {
  const { out, report } = await exportTo('copied');
  assert.equal(report.linked, 0);
  const { rows } = parseCsv(readFileSync(join(out, 'labels.csv'), 'utf8'));
  const [path, , , source] = rows[1]!.fields.map(csvText);
  const original = join(dir, 'images', source!);
  const before = readFileSync(original);
  appendFileSync(join(out, path!), 'edited');
  assert.deepEqual(readFileSync(original), before);
  assert.equal(statSync(original).nlink, 1);
  // Hard links only when asked for.
  const linked = await exportTo('linked', { mode: 'link' });
  assert.equal(linked.report.linked, linked.report.images);
});

test('distinct class names get distinct folders: separators, case, reserved names and long names', async () => {
  const { out } = await exportTo('names');
  const folders = readdirSync(join(out, 'train'));
  assert.equal(folders.length, CLASSES.length, folders.join(' | '));
  assert.equal(new Set(folders.map((f) => f.toLowerCase())).size, CLASSES.length, 'distinct also on a case-insensitive disk');
  for (const f of folders) {
    assert.ok(!/^(con|prn|aux|nul|com\d|lpt\d)(\.|$)/i.test(f), `${f} is a Windows device name`);
    assert.ok(!/[. ]$/.test(f) && !/[\\/:*?"<>|]/.test(f), f);
  }
  // Every class's images are in its own folder, as the CSV says.
  const { rows } = parseCsv(readFileSync(join(out, 'labels.csv'), 'utf8'));
  const folderOf = new Map<string, Set<string>>();
  for (const r of rows.slice(1)) {
    const [path, label] = r.fields.map(csvText);
    const set = folderOf.get(label!) ?? new Set<string>();
    set.add(path!.split('/')[1]!);
    folderOf.set(label!, set);
    assert.ok(statSync(join(out, path!)).isFile(), path);
  }
  assert.deepEqual([...folderOf.keys()].sort(), [...CLASSES].sort());
  const used = [...folderOf.values()].map((s) => [...s]);
  assert.ok(used.every((s) => s.length === 1));
  assert.equal(new Set(used.flat()).size, CLASSES.length);
});

test('over-long source paths become bounded, distinct file names', async () => {
  const { out } = await exportTo('long');
  const { rows } = parseCsv(readFileSync(join(out, 'labels.csv'), 'utf8'));
  const folder = rows.find((r) => r.fields[1] === 'a/b')!.fields[0]!.split('/').slice(0, 2).join('/');
  const names = readdirSync(join(out, folder));
  assert.equal(names.length, 4, names.join('\n'));
  for (const n of names) assert.ok(Buffer.byteLength(n) <= MAX_NAME_BYTES && n.endsWith('.png'), n);
  assert.equal(safeFileName('COM1.png'), '_COM1.png');
  assert.equal(safeFileName('trailing. '), 'trailing');
  assert.equal(safeFileName('..'), '_');
});
