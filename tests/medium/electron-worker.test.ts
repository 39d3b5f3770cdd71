// The Electron face's training process is the bundled worker (dist/electron/train-worker.js) forked by path.
// Electron cannot run here, but the bundle is plain Node code: build it, fork it the way the main process does,
// and train a tiny run through it end to end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { build } from 'esbuild';
import { gradientThreadOptions, workerOptions } from '../../scripts/build-electron.js';
import { electronTrainer } from '../../electron/main/trainer.ts';
import { LoupeCore } from '../../electron/core/api/loupe-core.ts';
import { writeSampleImages } from '../../electron/core/sample/sample-project.ts';
import { tempDir } from '../helpers/tmp.ts';
import { threadPoolSize } from '../../electron/core/thread-pool.cjs';

test('the bundled training process reports its backend and trains a run on 2 threads (its bundled gradient thread)', async () => {
  const dir = tempDir();
  const outfile = join(process.cwd(), 'dist', 'test-worker', 'train-worker.js');
  await build({ ...workerOptions(), outfile, sourcemap: false });
  await build({ ...gradientThreadOptions(), outfile: join(process.cwd(), 'dist', 'test-worker', 'gradient-thread.cjs'), sourcemap: false });
  await writeSampleImages(join(dir, 'images'), { perClass: 10, signal: new AbortController().signal, progress: () => {} });
  const core = new LoupeCore({ face: 'electron', configDir: join(dir, 'config'), spawnTrainer: electronTrainer(outfile) });
  try {
    core.openProject(join(dir, 'project'), { create: true });
    const { jobId } = await core.dispatch('import:start', { folders: [join(dir, 'images')], labels: 'folders' });
    await core.jobs.wait(jobId);
    const report = await core.dispatch('training:doctor', {});
    assert.ok(report.chosen.name.length > 0);
    // Forked with libuv's thread pool sized for the cores (a size set in the environment stays).
    assert.equal(report.threadPool, Number(process.env['UV_THREADPOOL_SIZE'] || threadPoolSize()));
    const [run] = await core.dispatch('training:start', {
      config: { arch: 'lenet5', imageSize: 16, channels: 1, epochs: 1, batchSize: 8, augment: {}, earlyStopping: null, threads: 2 },
    });
    await core.requireTrainer().waitFor(run!.id);
    const detail = await core.dispatch('runs:get', { runId: run!.id });
    assert.equal(detail.run.status, 'finished', detail.run.error ?? '');
    assert.equal(detail.run.backend, report.chosen.name);
  } finally {
    await core.shutdown();
  }
});
