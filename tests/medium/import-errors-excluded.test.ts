// Issue 15: after importing a folder with unreadable files, the sidebar said "All images 78 · Unlabeled 6 ·
// Unassigned 6" and Evaluate offered the six broken files to assisted labeling. Files that failed to import are
// listed under Import errors only; counts, views, selection, labeling and exports never include them, and a
// repaired file is picked up by the next import.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LoupeCore } from '../../electron/core/api/loupe-core.ts';
import * as img from '../fixtures/images.ts';
import { tempDir } from '../helpers/tmp.ts';

test('files that failed to import are listed under Import errors only, until a re-import finds them repaired', async () => {
  const dir = tempDir();
  const src = join(dir, 'src');
  const files: Record<string, Buffer | string> = {};
  for (let i = 0; i < 4; i++) {
    files[`normal/a${i}.png`] = await img.png({ seed: i + 1 });
    files[`pneumonia/b${i}.png`] = await img.png({ seed: i + 11 });
  }
  files['normal/broken.png'] = 'not an image';
  files['pneumonia/cut.jpg'] = img.truncated(await img.jpeg({ width: 120, height: 90, seed: 3 }));
  files['loose.png'] = Buffer.alloc(0);
  img.writeTree(src, files);

  const core = new LoupeCore({ face: 'cli', configDir: join(dir, 'config') });
  try {
    core.openProject(join(dir, 'project'), { create: true });
    const importAll = async () => {
      const { jobId } = await core.dispatch('import:start', { folders: [src], labels: 'folders' });
      const job = await core.jobs.wait(jobId);
      assert.equal(job.state, 'succeeded', job.message);
    };
    const total = async (filter: object) => (await core.dispatch('images:query', { filter, limit: 1 })).total;
    await importAll();

    let summary = await core.dispatch('project:summary', {});
    assert.equal(summary.errors.length, 3, 'listed under Import errors');
    assert.equal(summary.images, 8);
    assert.equal(summary.unlabeled, 0, 'the broken files are not "unlabeled images"');
    assert.deepEqual(summary.splits, { train: 0, val: 0, test: 0, unassigned: 8 });
    // The sidebar's counts are the grid's own filters.
    assert.equal(await total({}), 8);
    assert.equal(await total({ unlabeled: true }), 0);
    assert.equal(await total({ split: 'unassigned' }), 8);
    assert.equal(await total({ search: 'broken' }), 0);
    assert.equal(await total({ errors: true }), 3);

    // Select all, then label: nothing unreadable is in the selection, so the label applies.
    const { ids } = await core.dispatch('images:ids', { filter: {} });
    assert.equal(ids.length, 8);
    const other = await core.dispatch('classes:create', { name: 'other' });
    await core.dispatch('labels:set', { imageIds: ids, classId: other.id });
    await core.dispatch('labels:undo', {});
    const csv = await core.dispatch('labels:exportCsv', {});
    assert.equal(csv.rows, 8);
    assert.doesNotMatch(csv.csv, /broken|cut\.jpg|loose/);

    // A labeled file that breaks keeps its label (nothing is lost) but leaves every count until it is repaired.
    writeFileSync(join(src, 'normal/a0.png'), 'overwritten by a failed copy');
    await importAll();
    summary = await core.dispatch('project:summary', {});
    assert.equal(summary.images, 7);
    assert.equal(summary.labeled, 7);
    assert.equal(summary.classes.find((c) => c.name === 'normal')!.count, 3);
    assert.equal(summary.errors.length, 4);
    assert.equal(await total({ classId: summary.classes.find((c) => c.name === 'normal')!.id }), 3);

    // Repaired files are picked up by the next import, with their folder label.
    writeFileSync(join(src, 'normal/a0.png'), await img.png({ seed: 1 }));
    writeFileSync(join(src, 'normal/broken.png'), await img.png({ seed: 99 }));
    await importAll();
    summary = await core.dispatch('project:summary', {});
    assert.equal(summary.images, 9);
    assert.equal(summary.errors.length, 2);
    assert.equal(summary.classes.find((c) => c.name === 'normal')!.count, 5);
    assert.equal(await total({ search: 'broken' }), 1);
  } finally {
    await core.shutdown();
  }
});
