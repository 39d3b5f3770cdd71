// The fault suite (issue 14): kill -9 of the real `loupe` CLI at random moments during an import of 5,000 files
// and during each export (the dataset, the model bundle with its zip, the PDF report). After each kill project.db
// passes PRAGMA integrity_check and nothing acknowledged is lost; running the same command again completes the
// work; and no file is left half-written under a name that looks complete.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { Project } from '../../electron/core/project/project.ts';
import { applyEdit } from '../../electron/core/labels/edits.ts';
import { createRuns } from '../../electron/core/training/run-service.ts';
import { INCOMPLETE_MARKER } from '../../electron/core/export/out-dir.ts';
import { DEFAULT_BATCH } from '../../electron/core/import/importer.ts';
import { greyPngSync, writeTree } from '../fixtures/images.ts';
import { trainInProcess } from '../helpers/run-invariants.ts';
import { tempDir } from '../helpers/tmp.ts';
import { FULL, KILLS, moment } from './support/scale.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
// The 5,000 files with LOUPE_FAULTS=full; 1,000 in CI's quick run (one import of 5,000 takes ~20 s here).
const FILES = FULL ? 5000 : 1000;
const EARLIER = 200;
let home: string;
let images: string;
let earlier: string;

/** FILES distinct small PNGs in three class folders, and an earlier folder of 200 imported before the kills. */
before(() => {
  home = tempDir('loupe-faults-kill-io-');
  images = join(home, 'scans');
  earlier = join(home, 'earlier');
  const make = (dir: string, n: number, seedBase: number) => {
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < n; i++) files[`${['normal', 'effusion', 'pneumonia'][i % 3]}/P${i}.png`] = greyPngSync({ width: 12 + (i % 7), height: 12, seed: seedBase + i });
    writeTree(dir, files);
  };
  make(images, FILES, 1);
  make(earlier, EARLIER, 90_001);
});

/** The CLI, killed `ms` after it starts, unless it ended before. */
function cliKilledAfter(args: string[], ms: number): Promise<{ killed: boolean; code: number | null; stderr: string }> {
  return cliKilledWhen(args, () => true, ms);
}

/** The CLI, killed `extraMs` after `ready()` first holds (polled every 20 ms), unless it ended before. */
async function cliKilledWhen(args: string[], ready: () => boolean, extraMs: number): Promise<{ killed: boolean; code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ['bin/loupe.js', ...args], { cwd: ROOT, env: { ...process.env, HOME: home }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let timer: NodeJS.Timeout | undefined;
  const poll = setInterval(() => {
    if (timer || !ready()) return;
    clearInterval(poll);
    timer = setTimeout(() => child.kill('SIGKILL'), extraMs);
  }, 20);
  const [code, signal] = (await new Promise((resolve) => child.on('exit', (...a) => resolve(a)))) as [number | null, NodeJS.Signals | null];
  clearInterval(poll);
  clearTimeout(timer);
  return { killed: signal === 'SIGKILL', code, stderr };
}

/** Images of the big folder committed so far, read as another process would. */
function committedOf(projectDir: string): number {
  try {
    const db = new Database(join(projectDir, 'project.db'), { readonly: true, fileMustExist: true });
    try {
      return db.prepare('SELECT COUNT(*) FROM images i JOIN roots r ON r.id = i.root_id WHERE r.path = ?').pluck().get(images) as number;
    } finally {
      db.close();
    }
  } catch {
    return 0;
  }
}

function cli(args: string[]): string {
  const r = spawnSync(process.execPath, ['bin/loupe.js', ...args], { cwd: ROOT, env: { ...process.env, HOME: home }, encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, `loupe ${args.join(' ')}\n${r.stderr}`);
  return r.stdout;
}

function timed(args: string[]): number {
  const t = performance.now();
  cli(args);
  return performance.now() - t;
}

function integrityOk(projectDir: string): void {
  const p = Project.open(projectDir);
  try {
    assert.equal(p.db.pragma('integrity_check', { simple: true }), 'ok');
  } finally {
    p.close();
  }
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((n) => statSync(join(dir, n)).isFile());
}

test('an import of 5,000 files (1,000 in CI) killed at random moments: earlier labels intact, whole rows only, and it resumes to the right counts', async (t) => {
  const projectDir = join(home, 'project');
  cli(['import', projectDir, earlier]);
  // The acknowledged edits: every earlier image relabelled to one class, committed before any kill.
  let p = Project.open(projectDir);
  const earlierIds = p.db.prepare('SELECT id FROM images ORDER BY id').pluck().all() as number[];
  const target = p.db.prepare(`SELECT id FROM classes WHERE name = 'effusion'`).pluck().get() as number;
  applyEdit(p.db, 'acknowledged before the kills', earlierIds, 'class_id', target);
  p.close();
  const counts: number[] = [];
  let finished = 0;
  for (let round = 0; round < KILLS; round++) {
    // Undo the last round's import of the big folder and its thumbnails, so each kill lands in an import with
    // all of its work (decoding, thumbnail files, batches of rows) still to do.
    p = Project.open(projectDir);
    const rootId = p.db.prepare('SELECT id FROM roots WHERE path = ?').pluck().get(images) as number | undefined;
    if (rootId !== undefined) p.db.prepare('DELETE FROM images WHERE root_id = ?').run(rootId);
    p.close();
    rmSync(join(projectDir, 'cache', 'thumbs'), { recursive: true, force: true });
    // The moment: once a random share of the files is committed, plus up to 50 ms (so it lands between commits
    // too, while thumbnails are being written). The share leaves at least two of the importer's batches of 250 rows
    // to do: these tiny PNGs are their own thumbnails and import at thousands a second, so a later trigger, or a
    // longer wait, would mostly find the import finished.
    const share = Math.random() * (1 - (2 * DEFAULT_BATCH) / FILES);
    const extra = moment(0, 50);
    process.stdout.write(`# … once ${(share * 100).toFixed(0)}% of the files are committed\n`);
    const r = await cliKilledWhen(['import', projectDir, images], () => committedOf(projectDir) >= share * FILES, extra);
    if (!r.killed) {
      assert.equal(r.code, 0, r.stderr);
      finished++;
    }
    p = Project.open(projectDir);
    try {
      assert.equal(p.db.pragma('integrity_check', { simple: true }), 'ok');
      const kept = p.db.prepare('SELECT COUNT(*) FROM images WHERE id IN (SELECT value FROM json_each(?)) AND class_id = ?').pluck().get(JSON.stringify(earlierIds), target);
      assert.equal(kept, EARLIER, 'every acknowledged label of the earlier images is kept');
      const rows = p.db.prepare(`SELECT status, sha256, width, height, class_id FROM images i JOIN roots r ON r.id = i.root_id WHERE r.path = ?`).all(images) as {
        status: string;
        sha256: string | null;
        width: number | null;
        class_id: number | null;
      }[];
      assert.ok(rows.length <= FILES);
      const half = rows.filter((row) => row.status !== 'ok' || !row.sha256 || !row.width || row.class_id === null);
      assert.deepEqual(half, [], 'no row is half-written');
      counts.push(rows.length);
    } finally {
      p.close();
    }
  }
  t.diagnostic(`${KILLS} kills (${finished} landed after the import had finished); rows committed at each kill: ${counts.join(', ')}`);
  assert.ok(counts.some((n) => n < FILES), 'at least one kill interrupted the import');

  const report = JSON.parse(cli(['import', projectDir, images, '--json']).trim().split('\n').at(-1)!) as { report: Record<string, number> };
  assert.equal(report.report['added']! + report.report['unchanged']!, FILES, JSON.stringify(report.report));
  assert.equal(report.report['failed'], 0);
  p = Project.open(projectDir);
  assert.equal(p.db.prepare('SELECT COUNT(*) FROM images').pluck().get(), EARLIER + FILES);
  assert.equal(p.db.prepare(`SELECT COUNT(DISTINCT rel_path || root_id) FROM images`).pluck().get(), EARLIER + FILES, 'no image twice');
  p.close();
});

test('exports killed at random moments: never a half-written file under a complete name, and the same command completes them', async (t) => {
  const projectDir = join(home, 'project');
  // Needs the first test's project: every image imported, labelled by its folder.
  cli(['split', projectDir, '--ratios', '0.7,0.15,0.15', '--seed', '1']);
  const p = Project.open(projectDir);
  const [run] = createRuns(p, { config: { arch: 'lenet5', imageSize: 16, channels: 1, epochs: 1, batchSize: 64, dropout: 0, augment: {}, earlyStopping: null, seed: 2 } }, 'test');
  p.close();
  const trained = trainInProcess(projectDir, run!.id, 'start');
  assert.equal(trained.result?.status, 'finished', trained.stderr);
  cli(['eval', projectDir, '--run', String(run!.id), '--split', 'test']);
  const out = join(home, 'out');
  const dataset = join(out, 'dataset');
  const bundle = join(out, 'bundle');
  const report = join(out, 'report.pdf');
  const runArg = ['--run', String(run!.id)];

  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  const sourceHashes = new Set([images, earlier].flatMap((d) => filesUnder(d).map((n) => sha(readFileSync(join(d, n))))));
  const checkDataset = (complete: boolean) => {
    if (!existsSync(dataset)) return assert.ok(!complete);
    const names = filesUnder(dataset);
    const incomplete = names.includes(INCOMPLETE_MARKER);
    if (complete) assert.ok(!incomplete && names.includes('labels.csv'), 'the re-run finished the export');
    if (!incomplete && names.length > 0) assert.ok(names.includes('labels.csv'), 'a folder without the marker is a finished export');
    // Every image under its final name is a whole copy of its source.
    const csv = join(dataset, 'labels.csv');
    const listed = new Set((existsSync(csv) ? readFileSync(csv, 'utf8') : '').split('\n').slice(1).filter(Boolean).map((l) => l.split(',')[0]));
    for (const n of names) {
      if (!n.endsWith('.png')) continue;
      assert.ok(sourceHashes.has(sha(readFileSync(join(dataset, n)))), `${n} is a whole copy of a source image`);
      if (!incomplete) assert.ok(listed.has(n), `${n} is in labels.csv`);
    }
    if (complete) assert.equal(listed.size, names.filter((n) => n.endsWith('.png')).length);
  };
  const checkBundle = (complete: boolean) => {
    const predict = spawnSync(process.execPath, ['bin/loupe.js', 'predict', bundle, join(images, 'normal', 'P0.png')], { cwd: ROOT, encoding: 'utf8' });
    if (complete || predict.status === 0) {
      assert.equal(predict.status, 0, `a bundle that looks complete works: ${predict.stderr}`);
      if (existsSync(`${bundle}.zip`) || complete) assert.equal(spawnSync('unzip', ['-tq', `${bundle}.zip`]).status, 0, 'the zip is whole');
    } else assert.match(predict.stderr, /interrupted|not a Loupe model bundle|No bundle folder/);
  };
  const checkReport = (complete: boolean) => {
    // A write killed midway leaves its temporary file; the next run removes it.
    if (complete) assert.deepEqual(readdirSync(out).filter((n) => n.includes('.tmp-')), [], 'no temporary file is left');
    if (!existsSync(report)) return assert.ok(!complete);
    assert.equal(spawnSync('pdfinfo', [report]).status, 0, 'a report under its name is a whole PDF');
  };

  // Whether a folder export finished (a kill after its last file but before the exit leaves a whole one).
  const finished = (folder: string, last: string) => existsSync(join(folder, last)) && !existsSync(join(folder, INCOMPLETE_MARKER));
  const ops: { name: string; args: string[]; check: (complete: boolean) => void; again: string[]; finished: () => boolean }[] = [
    { name: 'dataset export', args: ['export-dataset', projectDir, '--out', dataset, ...runArg], check: checkDataset, again: [], finished: () => finished(dataset, 'labels.csv') },
    { name: 'bundle export', args: ['export', projectDir, ...runArg, '--out', bundle, '--zip'], check: checkBundle, again: [], finished: () => finished(bundle, 'manifest.json') && existsSync(`${bundle}.zip`) },
    // A report is one file: there is nothing to resume, only to write again over what may be there.
    { name: 'report', args: ['report', projectDir, ...runArg, '--out', report], check: checkReport, again: ['--force'], finished: () => false },
  ];
  for (const op of ops) {
    const full = timed(op.args);
    rmSync(out, { recursive: true, force: true });
    let interrupted = 0;
    for (let round = 0; round < KILLS; round++) {
      const r = await cliKilledAfter([...op.args, ...op.again], moment(0, full));
      if (r.killed) interrupted++;
      else assert.equal(r.code, 0, r.stderr);
      integrityOk(projectDir);
      op.check(false);
      // Every other round an interrupted output is left for the next kill to land on; else the same command, run
      // again as the user would, completes it. (A kill after the last file but before the exit left a whole one.)
      if (r.killed && !op.finished() && round % 2 === 1) continue;
      if (!op.finished()) cli([...op.args, ...op.again]);
      op.check(true);
      rmSync(out, { recursive: true, force: true });
    }
    cli([...op.args, ...op.again]);
    op.check(true);
    rmSync(out, { recursive: true, force: true });
    t.diagnostic(`${op.name}: a whole run takes ${(full / 1000).toFixed(1)} s; ${interrupted} of the kills landed before it ended`);
  }
});
