// project.db written by two processes at once (issue 14): an import, with the classes its folders name, and a
// schema upgrade each run while another process holds or keeps taking SQLite's write lock. A transaction that
// reads before it writes must take the write lock up front: started as a reader it fails with
// SQLITE_BUSY_SNAPSHOT once the other process commits. A class created meanwhile by the other process is used,
// not refused. Upgrading an old project keeps a copy of it first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import BetterSqlite3 from 'better-sqlite3';
import { LoupeCore } from '../../electron/core/api/loupe-core.ts';
import { openDatabase } from '../../electron/core/db/database.ts';
import { backupPath, latestVersion, migrations } from '../../electron/core/db/migrations.ts';
import { writeSampleImages } from '../../electron/core/sample/sample-project.ts';
import { tempDir } from '../helpers/tmp.ts';
import { assignSplits } from '../../electron/core/splits/splits.ts';
import { createRuns } from '../../electron/core/training/run-service.ts';
import { endRun } from '../../electron/core/training/runs.ts';
import { releaseRunLease } from '../../electron/core/training/run-lease.ts';
import { seedProject } from '../helpers/seed-project.ts';
import { importLabelsCsv } from '../../electron/core/labels/labels-csv.ts';

const HELPER = join(import.meta.dirname, '..', 'helpers', 'hold-write-lock.ts');

/** Starts the other process and resolves once it holds the write lock. */
async function otherWriter(file: string, mode: 'loop' | 'migrate' | 'class' | 'hold', arg: number | string) {
  const child = spawn(process.execPath, ['--import', 'tsx', HELPER, file, mode, String(arg)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await once(createInterface({ input: child.stdout! }), 'line');
  return { child, exited: once(child, 'exit') as Promise<[number | null]> };
}

test('an import with folder classes completes while another process keeps writing', async () => {
  const dir = tempDir();
  await writeSampleImages(join(dir, 'images'), { perClass: 30, signal: new AbortController().signal, progress: () => {} });
  const core = new LoupeCore({ face: 'cli', configDir: join(dir, 'config') });
  const project = core.openProject(join(dir, 'project'), { create: true });
  const other = await otherWriter(join(dir, 'project', 'project.db'), 'loop', 8000);
  try {
    const { jobId } = await core.dispatch('import:start', { folders: [join(dir, 'images')], labels: 'folders' });
    const job = await core.jobs.wait(jobId);
    assert.equal(job.state, 'succeeded', job.message);
    const folders = readdirSync(join(dir, 'images'));
    const files = folders.flatMap((f) => readdirSync(join(dir, 'images', f)));
    assert.equal(project.db.prepare(`SELECT COUNT(*) FROM images WHERE status = 'ok'`).pluck().get(), files.length);
    assert.deepEqual((project.db.prepare('SELECT name FROM classes ORDER BY name').pluck().all() as string[]), folders.sort());
  } finally {
    await core.shutdown();
    const [code] = await other.exited;
    assert.equal(code, 0, 'the other process’s writes went through too');
  }
});

test('a labels CSV that creates a class another process has just created uses that class', async () => {
  const { project } = seedProject(tempDir(), { perClass: [2, 2] });
  try {
    const other = await otherWriter(join(project.path, 'project.db'), 'class', 'Effusion');
    const report = importLabelsCsv(project.db, 'path,label\nc0/img0.png,effusion\nc1/img1.png,effusion\n', true);
    assert.equal((await other.exited)[0], 0);
    assert.equal(report.applied, 2);
    assert.deepEqual(report.createdClasses, [], 'the class existed by the time the import wrote');
    const effusion = project.db.prepare(`SELECT id FROM classes WHERE name = 'Effusion'`).pluck().get();
    assert.equal(project.db.prepare('SELECT COUNT(*) FROM images WHERE class_id = ?').pluck().get(effusion), 2);
  } finally {
    project.close();
  }
});

test('a project with failed runs opens while another process holds the write lock longer than the busy timeout', async () => {
  const { project } = seedProject(tempDir(), { perClass: [4, 4] });
  assignSplits(project.db, { seed: 1, ratios: [0.5, 0.5, 0] });
  const [run] = createRuns(project, { config: { arch: 'lenet5', imageSize: 24, channels: 1, epochs: 1 } }, 'test');
  endRun(project.db, run!.id, 'failed', 'a failure with nothing to repair');
  releaseRunLease(project, run!.id);
  project.close();
  const other = await otherWriter(join(project.path, 'project.db'), 'hold', 7000);
  const core = new LoupeCore({ face: 'cli', configDir: join(project.path, 'config') });
  try {
    core.openProject(project.path);
    assert.equal((await core.dispatch('runs:list', {}))[0]!.status, 'failed');
  } finally {
    await core.shutdown();
    await other.exited;
  }
});

function oldProject(version: number): string {
  const file = join(tempDir(), 'project.db');
  const db = new BetterSqlite3(file);
  db.pragma('journal_mode = WAL');
  for (const m of migrations.filter((x) => x.version <= version)) m.up(db);
  db.pragma(`user_version = ${version}`);
  db.prepare(`INSERT INTO meta (key, value) VALUES ('name', 'before the upgrade')`).run();
  db.close();
  return file;
}

test('two processes upgrading an old project at once apply each migration once', async () => {
  const file = oldProject(latestVersion - 1);
  const other = await otherWriter(file, 'migrate', latestVersion);
  const db = openDatabase(file);
  try {
    assert.equal(db.pragma('user_version', { simple: true }), latestVersion);
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
  } finally {
    db.close();
  }
  assert.equal((await other.exited)[0], 0);
});

test('upgrading an old project first keeps a copy of it as it was', () => {
  const file = oldProject(3);
  openDatabase(file).close();
  const copy = backupPath(file, 3);
  assert.ok(existsSync(copy), copy);
  const old = new BetterSqlite3(copy, { readonly: true });
  try {
    assert.equal(old.pragma('user_version', { simple: true }), 3);
    assert.equal(old.prepare(`SELECT value FROM meta WHERE key = 'name'`).pluck().get(), 'before the upgrade');
  } finally {
    old.close();
  }
  // Opening the upgraded project again makes no new copy.
  openDatabase(file).close();
  assert.equal(existsSync(backupPath(file, latestVersion)), false);
});
