/** Idempotent, resumable import: re-runs add only what is new, moves relink by hash, deletions become 'missing'. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, renameSync, rmSync, utimesSync } from 'node:fs';
import { importReportOf } from '../../shared/contract.ts';
import { join } from 'node:path';
import { JobManager } from '../../electron/core/jobs/jobs.ts';
import { runImport } from '../../electron/core/import/importer.ts';
import { summarizeProject } from '../../electron/core/images/queries.ts';
import * as img from '../fixtures/images.ts';
import { newProject, recordingContext, row, rows } from '../fixtures/import-context.ts';
import { tempDir } from '../helpers/tmp.ts';

async function tree(src: string, n: number, classes = ['a', 'b']): Promise<void> {
  const files: Record<string, Buffer> = {};
  for (let i = 0; i < n; i++) files[`${classes[i % classes.length]}/img-${String(i).padStart(3, '0')}.png`] = await img.png({ width: 16, height: 16, seed: i + 1 });
  img.writeTree(src, files);
}

test('re-importing the same tree adds nothing and touches nothing', async () => {
  const dir = tempDir();
  const src = join(dir, 'src');
  await tree(src, 12);
  const p = newProject(dir);
  const first = await runImport(p, [src], 'folders', recordingContext());
  assert.equal(first.added, 12);
  const before = rows(p).map((r) => [r.id, r.rel_path, r.sha256]);
  const second = await runImport(p, [src], 'folders', recordingContext());
  assert.deepEqual(
    { ...second, errors: second.errors.length },
    { added: 0, unchanged: 12, updated: 0, relinked: 0, missing: 0, failed: 0, ignored: 0, errors: 0 },
  );
  assert.deepEqual(rows(p).map((r) => [r.id, r.rel_path, r.sha256]), before);
  // A new file is the only thing the third run adds.
  img.writeTree(src, { 'b/new.png': await img.png({ width: 16, height: 16, seed: 99 }) });
  const third = await runImport(p, [src], 'folders', recordingContext());
  assert.deepEqual([third.added, third.unchanged], [1, 12]);
});

test('an import canceled half-way leaves whole batches, and the next run finishes it', async () => {
  const dir = tempDir();
  const src = join(dir, 'src');
  await tree(src, 60);
  const p = newProject(dir);
  // Cancel once 25 files are done; batches of 10 rows, 2 files in flight.
  const ctx = recordingContext((done, total, ctl) => {
    if (total === 60 && done >= 25) ctl.abort();
  });
  const partial = await runImport(p, [src], 'folders', ctx, undefined, { batchSize: 10, concurrency: 2 });
  const committed = rows(p).length;
  assert.ok(committed >= 25 && committed < 60, `committed ${committed}`);
  assert.equal(partial.added, committed, 'the report counts exactly what was committed');
  for (const r of rows(p)) {
    assert.equal(r.status, 'ok');
    assert.match(r.sha256!, /^[0-9a-f]{64}$/);
    assert.notEqual(r.class_id, null);
  }
  assert.equal(p.db.pragma('integrity_check', { simple: true }), 'ok');

  const rest = await runImport(p, [src], 'folders', recordingContext(), undefined, { batchSize: 10 });
  assert.deepEqual([rest.unchanged, rest.added, rest.failed], [committed, 60 - committed, 0]);
  const s = summarizeProject(p);
  assert.equal(s.images, 60);
  assert.deepEqual(s.classes.map((c) => c.count), [30, 30]);
});

test('cancel through the job manager ends the job as canceled, keeping what was committed', async () => {
  const dir = tempDir();
  const src = join(dir, 'src');
  await tree(src, 40);
  const p = newProject(dir);
  const jobs = new JobManager();
  let jobId = '';
  const job = jobs.start('import', (ctx) =>
    runImport(p, [src], 'none', {
      signal: ctx.signal,
      progress: (done, total, message) => {
        ctx.progress(done, total, message);
        if (total === 40 && done === 10) jobs.cancel(jobId);
      },
    }, undefined, { batchSize: 5 }),
  );
  jobId = job.jobId;
  const ended = await jobs.wait(jobId);
  assert.equal(ended.state, 'canceled');
  const n = rows(p).length;
  assert.ok(n >= 10 && n < 40, `committed ${n}`);
  assert.equal(importReportOf(ended)?.added, n);
});

test('a moved file is relinked by hash: same id, same labels', async () => {
  const dir = tempDir();
  const src = join(dir, 'src');
  await tree(src, 6);
  const p = newProject(dir);
  await runImport(p, [src], 'folders', recordingContext());
  const before = row(p, 'a/img-000.png');
  // The user fixes the label by hand; a move must not lose it.
  const bClass = (p.db.prepare(`SELECT id FROM classes WHERE name = 'b'`).get() as { id: number }).id;
  p.db.prepare(`UPDATE images SET class_id = ? WHERE id = ?`).run(bClass, before.id);
  mkdirSync(join(src, 'archive', 'deep'), { recursive: true });
  renameSync(join(src, 'a', 'img-000.png'), join(src, 'archive', 'deep', 'moved.png'));

  const report = await runImport(p, [src], 'folders', recordingContext());
  assert.deepEqual([report.relinked, report.added, report.missing, report.unchanged], [1, 0, 0, 5]);
  const after = row(p, 'archive/deep/moved.png');
  assert.equal(after.id, before.id);
  assert.equal(after.sha256, before.sha256);
  assert.equal(after.class_id, bClass, 'the hand-set label survives the move');
  assert.equal(after.status, 'ok');
  assert.equal(rows(p).length, 6);
});

test('a deleted file becomes missing, keeps its labels, and comes back when restored', async () => {
  const dir = tempDir();
  const src = join(dir, 'src');
  await tree(src, 4);
  const p = newProject(dir);
  await runImport(p, [src], 'folders', recordingContext());
  const before = row(p, 'b/img-001.png');
  const kept = join(dir, 'kept.png');
  renameSync(join(src, 'b', 'img-001.png'), kept);

  const report = await runImport(p, [src], 'folders', recordingContext());
  assert.deepEqual([report.missing, report.unchanged, report.added], [1, 3, 0]);
  const gone = row(p, 'b/img-001.png');
  assert.deepEqual([gone.id, gone.status, gone.class_name, gone.sha256], [before.id, 'missing', 'b', before.sha256]);
  assert.equal(summarizeProject(p).missing, 1);

  renameSync(kept, join(src, 'b', 'img-001.png'));
  const back = await runImport(p, [src], 'folders', recordingContext());
  assert.equal(back.missing, 0);
  assert.equal(row(p, 'b/img-001.png').status, 'ok');
  assert.equal(row(p, 'b/img-001.png').id, before.id);
});

test('a changed file is re-probed in place; a deleted root folder marks its files missing', async () => {
  const dir = tempDir();
  const src = join(dir, 'src');
  await tree(src, 3);
  const p = newProject(dir);
  await runImport(p, [src], 'folders', recordingContext());
  const before = row(p, 'a/img-000.png');
  img.writeTree(src, { 'a/img-000.png': await img.png({ width: 32, height: 8, seed: 500 }) });
  utimesSync(join(src, 'a', 'img-000.png'), new Date(), new Date(Date.now() + 5000));
  const report = await runImport(p, [src], 'folders', recordingContext());
  assert.deepEqual([report.updated, report.unchanged], [1, 2]);
  const after = row(p, 'a/img-000.png');
  assert.equal(after.id, before.id);
  assert.notEqual(after.sha256, before.sha256);
  assert.deepEqual([after.width, after.height], [32, 8]);

  // Corrupting a file turns it into an error (labels kept), not a deletion.
  img.writeTree(src, { 'a/img-000.png': 'garbage now' });
  const broken = await runImport(p, [src], 'folders', recordingContext());
  assert.equal(broken.failed, 1);
  assert.equal(row(p, 'a/img-000.png').status, 'error');
  assert.equal(row(p, 'a/img-000.png').class_name, 'a');

  rmSync(join(src, 'b'), { recursive: true });
  const gone = await runImport(p, [src], 'folders', recordingContext());
  assert.equal(gone.missing, 1);
});
