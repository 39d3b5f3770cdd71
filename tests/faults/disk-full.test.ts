// The fault suite (issue 14): a full disk during import, labeling, a training run's checkpoints and an export.
// The project folder (and, apart, the export's target) is a small tmpfs mounted for this test (we run as root;
// CI is the same kind of machine), filled up with a ballast file. Each operation must say that the disk is full
// (no stack trace, no raw SQLITE_FULL), leave project.db whole with every earlier label, and succeed once the
// ballast is gone.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { Project } from '../../electron/core/project/project.ts';
import { createRuns } from '../../electron/core/training/run-service.ts';
import { getRun, runDir } from '../../electron/core/training/runs.ts';
import { recoverInterruptedRuns } from '../../electron/core/training/run-recovery.ts';
import { readFailureNote, reserveFailureNote, writeFailureNote } from '../../electron/core/training/failure-note.ts';
import { INCOMPLETE_MARKER } from '../../electron/core/export/out-dir.ts';
import { greyPngSync, writeTree } from '../fixtures/images.ts';
import { trainInProcess } from '../helpers/run-invariants.ts';
import { tempDir } from '../helpers/tmp.ts';
import { startServe, type Served } from '../e2e/support/serve.ts';
import { post } from './support/live-host.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FULL_MESSAGE = /disk[^\n]* is full/;
let home: string;
let disk: string;
let target: string;
let mounts: string;
let mounted: string[] = [];
let mountError = '';

function mountTmpfs(dir: string, megabytes: number): void {
  mkdirSync(dir, { recursive: true });
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${megabytes}m`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mount -t tmpfs failed: ${r.stderr.trim() || r.error?.message}`);
  mounted.push(dir);
}

before(() => {
  home = tempDir('loupe-faults-full-');
  // Mount points outside tempDir's folders: those are removed by an `after` that runs before this file's unmount.
  mounts = mkdtempSync(join(tmpdir(), 'loupe-faults-mounts-'));
  disk = join(mounts, 'disk');
  target = join(mounts, 'target');
  try {
    mountTmpfs(disk, 24);
    mountTmpfs(target, 16);
  } catch (e) {
    mountError = (e as Error).message;
  }
  const files: Record<string, Buffer> = {};
  for (let i = 0; i < 600; i++) files[`${['normal', 'pneumonia'][i % 2]}/P${i}.png`] = greyPngSync({ width: 24 + (i % 5), height: 24, seed: i + 1 });
  writeTree(join(home, 'scans'), files);
  const more: Record<string, Buffer> = {};
  for (let i = 0; i < 1500; i++) more[`${['normal', 'pneumonia'][i % 2]}/Q${i}.png`] = greyPngSync({ width: 24 + (i % 5), height: 24, seed: 10_000 + i });
  writeTree(join(home, 'more'), more);
});

after(() => {
  for (const dir of mounted.reverse()) spawnSync('umount', ['-l', dir]);
  mounted = [];
  rmSync(mounts, { recursive: true, force: true });
});

/** Fills `dir`'s file system, leaving `keepBytes` free; returns the ballast to delete. */
function fill(dir: string, keepBytes: number): string {
  const ballast = join(dir, 'ballast.bin');
  const { bavail, bsize } = statfsSync(dir);
  const size = Math.max(0, bavail * bsize - keepBytes);
  const fd = openSync(ballast, 'w');
  const chunk = Buffer.alloc(1 << 20, 1);
  try {
    for (let left = size; left > 0; left -= chunk.length) writeSync(fd, chunk, 0, Math.min(chunk.length, left));
  } finally {
    closeSync(fd);
  }
  return ballast;
}

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['bin/loupe.js', ...args], { cwd: ROOT, env: { ...process.env, HOME: home }, encoding: 'utf8', timeout: 300_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A failure a user can act on: names the full disk, no stack trace, no SQLite error code. */
function assertClearFullDisk(text: string, what: string): void {
  assert.match(text, FULL_MESSAGE, `${what} says the disk is full:\n${text}`);
  assert.doesNotMatch(text, /SQLITE_FULL|ENOSPC|\n\s+at /, `${what}: no raw error or stack trace:\n${text}`);
}

function labelsOf(projectDir: string): Map<string, number | null> {
  const p = Project.open(projectDir);
  try {
    assert.equal(p.db.pragma('integrity_check', { simple: true }), 'ok');
    const rows = p.db.prepare('SELECT rel_path, class_id FROM images').all() as { rel_path: string; class_id: number | null }[];
    return new Map(rows.map((r) => [r.rel_path, r.class_id]));
  } finally {
    p.close();
  }
}

test('a full disk during import, labeling, training and export: a clear message, nothing corrupt, and it works once space is freed', async (t) => {
  if (mountError) {
    // Not expected on this machine or CI (both run as root); the write-layer fallback is not built yet.
    t.skip(`cannot mount a tmpfs here (${mountError}); the disk-full test needs one`);
    return;
  }
  t.diagnostic('project folder on a 24 MB tmpfs, export target on a 16 MB tmpfs (mount -t tmpfs)');
  const projectDir = join(disk, 'project');
  assert.equal(cli(['import', projectDir, join(home, 'scans')]).status, 0);
  const labelled = labelsOf(projectDir);
  assert.equal(labelled.size, 600);

  // 1. Import with a few kB left: it stops with the reason; the images imported before keep their labels.
  let ballast = fill(disk, 64 * 1024);
  const imported = cli(['import', projectDir, join(home, 'more')]);
  assert.equal(imported.status, 1, imported.stdout + imported.stderr);
  assertClearFullDisk(imported.stdout + imported.stderr, 'the import');
  const afterFull = labelsOf(projectDir);
  for (const [rel, cls] of labelled) assert.equal(afterFull.get(rel), cls, `${rel} kept its label`);
  rmSync(ballast);
  const again = cli(['import', projectDir, join(home, 'more'), '--json']);
  assert.equal(again.status, 0, again.stderr);
  assert.equal(labelsOf(projectDir).size, 2100, 'the import completed once space was freed');

  // 2. Labeling through a live host: the edit is refused with the reason, the labels stay as they were.
  const served: Served = await startServe({ home, project: projectDir, ui: false });
  try {
    const db = new Database(join(projectDir, 'project.db'), { readonly: true });
    const ids = db.prepare('SELECT id FROM images').pluck().all() as number[];
    db.close();
    const classes = (await post(served, 'classes:list', {})).json.data as { id: number; name: string }[];
    const before = labelsOf(projectDir);
    ballast = fill(disk, 0);
    const refused = await post(served, 'labels:set', { imageIds: ids, classId: classes[0]!.id });
    assert.equal(refused.json.ok, false, 'the edit could not be saved');
    assertClearFullDisk(refused.json.error.message, 'the label edit');
    const still = labelsOf(projectDir);
    for (const [rel, cls] of before) assert.equal(still.get(rel), cls, `${rel}: no half-applied edit`);
    rmSync(ballast);
    const saved = await post(served, 'labels:set', { imageIds: ids, classId: classes[0]!.id });
    assert.equal(saved.json.ok, true, JSON.stringify(saved.json));
    assert.equal((await post(served, 'app:info', {})).status, 200, 'the host is still up');
  } finally {
    await served.stop();
  }
  assert.equal(new Set(labelsOf(projectDir).values()).size, 1, 'every image carries the edit made once space was freed');

  // 3. Training with no room for its checkpoints: failed with the reason; resumed once space is freed. A first
  // run fills the tensor cache, so the starved run's first writes are its checkpoint and its epoch's record.
  let p = Project.open(projectDir);
  p.db.prepare(`UPDATE images SET class_id = (SELECT id FROM classes WHERE name = substr(rel_path, 1, instr(rel_path, '/') - 1))`).run();
  p.close();
  assert.equal(cli(['split', projectDir, '--ratios', '0.7,0.3,0', '--seed', '1']).status, 0);
  p = Project.open(projectDir);
  const config = { arch: 'lenet5', imageSize: 16, channels: 1, epochs: 2, batchSize: 64, dropout: 0, augment: {}, earlyStopping: null, seed: 3 } as const;
  const [warm, run] = [...createRuns(p, { config }, 'test'), ...createRuns(p, { config }, 'test')];
  p.close();
  assert.equal(trainInProcess(projectDir, warm!.id, 'start').result?.status, 'finished');
  // Room to open the project (its WAL index) but not for a checkpoint. The process opens project.db itself:
  // with less room, that open is what fails, and it must say why too.
  ballast = fill(disk, 160 * 1024);
  const starved = trainInProcess(projectDir, run!.id, 'start');
  rmSync(ballast);
  p = Project.open(projectDir);
  try {
    recoverInterruptedRuns(p);
    const failed = getRun(p.db, run!.id);
    const said = starved.result?.message ?? starved.stderr.split('\n').find((l) => l.startsWith('LoupeError:')) ?? starved.stderr.slice(-300);
    t.diagnostic(`training on a full disk: ${said}; run ${failed.status}: ${failed.error}`);
    assert.equal(failed.status, 'failed');
    assertClearFullDisk(said, 'the training run');
    // Its record keeps the reason: written by the process when the disk had room for that much, else left in
    // the run's reserved note (failure-note.ts) and recorded by the next open.
    assert.match(failed.error ?? '', FULL_MESSAGE);
  } finally {
    p.close();
  }
  // The note itself, on a disk with not one byte left: the process that cannot write project.db overwrites the
  // blocks it reserved, and the next open records that reason instead of "interrupted".
  p = Project.open(projectDir);
  const [silent] = createRuns(p, { config }, 'test');
  p.db.prepare(`UPDATE runs SET status = 'running' WHERE id = ?`).run(silent!.id);
  const silentDir = runDir(p, silent!.id);
  p.close();
  reserveFailureNote(silentDir);
  ballast = fill(disk, 0);
  const reason = 'The disk is full: training could not save its progress. Free some space and resume.';
  const kept = writeFailureNote(silentDir, reason);
  rmSync(ballast);
  assert.equal(kept, true, 'the reserved note takes the reason on a full disk');
  p = Project.open(projectDir);
  try {
    recoverInterruptedRuns(p);
    const r = getRun(p.db, silent!.id);
    assert.equal(r.status, 'failed');
    assert.equal(r.error, reason);
    assert.equal(readFailureNote(silentDir), null, 'the note is used once');
  } finally {
    p.close();
  }
  // Opening the project with no room left for its WAL index: SQLite says only "disk I/O error".
  ballast = fill(disk, 0);
  const cannotOpen = cli(['info', projectDir]);
  rmSync(ballast);
  assert.equal(cannotOpen.status, 1);
  assertClearFullDisk(cannotOpen.stderr, 'opening the project on a full disk');
  const resumed = trainInProcess(projectDir, run!.id, 'resume');
  assert.equal(resumed.result?.status, 'finished', `${resumed.result?.message}\n${resumed.stderr.slice(-500)}`);

  // 4. Export onto a full target: refused or stopped with the reason; no half-written file; then complete.
  const out = join(target, 'dataset');
  ballast = fill(target, 32 * 1024);
  const exported = cli(['export-dataset', projectDir, '--out', out]);
  assert.equal(exported.status, 1, exported.stdout);
  assertClearFullDisk(exported.stderr, 'the dataset export');
  if (existsSync(out)) {
    const left = readdirSync(out, { recursive: true, encoding: 'utf8' });
    assert.ok(left.length === 0 || left.includes(INCOMPLETE_MARKER), `an unfinished export says so: ${left.slice(0, 5).join(', ')}`);
    assert.deepEqual(left.filter((n) => /\.tmp-\d+$/.test(n)), [], 'no temporary file is left behind');
  }
  rmSync(ballast);
  const done = cli(['export-dataset', projectDir, '--out', out]);
  assert.equal(done.status, 0, done.stderr);
  assert.ok(!existsSync(join(out, INCOMPLETE_MARKER)) && existsSync(join(out, 'labels.csv')));
  assert.equal(labelsOf(projectDir).size, 2100);
});
