// The training process for real: spawned by the supervisor, events relayed, killed mid-run (the run fails with a
// reason and resumes from its checkpoint), k-fold runs one per fold, and the doctor's backend report.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { LoupeCore } from '../../electron/core/api/loupe-core.ts';
import { writeSampleImages } from '../../electron/core/sample/sample-project.ts';
import type { TrainingEvent } from '../../shared/worker-protocol.ts';
import type { TrainConfigInput } from '../../shared/training.ts';
import { tempDir } from '../helpers/tmp.ts';

let core: LoupeCore;
const events: TrainingEvent[] = [];
const config: TrainConfigInput = { arch: 'lenet5', imageSize: 24, channels: 1, epochs: 3, batchSize: 8, dropout: 0, augment: {}, earlyStopping: null, seed: 5 };

function waitFor(pred: (e: TrainingEvent) => boolean, ms = 120_000): Promise<TrainingEvent> {
  const found = events.find(pred);
  if (found) return Promise.resolve(found);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timed out waiting for a training event')), ms);
    const off = core.on((name, payload) => {
      if (name === 'training:event' && pred(payload as TrainingEvent)) {
        clearTimeout(timer);
        off();
        resolve(payload as TrainingEvent);
      }
    });
  });
}

before(async () => {
  const dir = tempDir();
  await writeSampleImages(join(dir, 'images'), { perClass: 16, signal: new AbortController().signal, progress: () => {} });
  core = new LoupeCore({ face: 'host', configDir: join(dir, 'config') });
  core.openProject(join(dir, 'project'), { create: true });
  core.on((name, payload) => name === 'training:event' && events.push(payload as TrainingEvent));
  const { jobId } = await core.dispatch('import:start', { folders: [join(dir, 'images')], labels: 'folders' });
  await core.jobs.wait(jobId);
});
after(() => core.shutdown());

test('the doctor names the backend and why the others were passed over', async () => {
  const report = await core.dispatch('training:doctor', {});
  assert.ok(['wasm', 'tfjs-node', 'tfjs-node-gpu', 'cpu'].includes(report.chosen.name), report.chosen.name);
  assert.ok(report.chosen.detail.length > 0);
  for (const r of report.rejected) assert.ok(r.reason.length > 0);
});

test('a killed training process fails its run with a reason; resume finishes it from the checkpoint', async () => {
  const [run] = await core.dispatch('training:start', { config });
  const runId = run!.id;
  await waitFor((e) => e.runId === runId && e.kind === 'epoch');
  const pid = core.requireTrainer().pid;
  assert.ok(pid);
  process.kill(pid!, 'SIGKILL');
  const ended = await waitFor((e) => e.runId === runId && e.kind === 'ended');
  assert.equal(ended.kind === 'ended' && ended.status, 'failed');
  const failed = await core.dispatch('runs:get', { runId });
  assert.equal(failed.run.status, 'failed');
  assert.match(failed.run.error ?? '', /killed \(SIGKILL/);
  assert.ok(failed.epochs.length >= 1, 'the epochs before the crash are kept');

  events.length = 0;
  await core.dispatch('training:resume', { runId });
  await core.requireTrainer().waitFor(runId);
  const done = await core.dispatch('runs:get', { runId });
  assert.equal(done.run.status, 'finished', done.run.error ?? '');
  assert.equal(done.run.epochsDone, 3);
  assert.ok(events.some((e) => e.kind === 'status' && /Resuming at epoch/.test(e.message)));
  // Batch events were throttled but kept the live state a reloaded UI reads.
  assert.ok(events.filter((e) => e.kind === 'batch').length >= 1);
});

test('stop, then extend a finished run by 2 epochs', async () => {
  const [run] = await core.dispatch('training:start', { config: { ...config, epochs: 30 } });
  await waitFor((e) => e.runId === run!.id && e.kind === 'epoch');
  assert.deepEqual(await core.dispatch('training:stop', { runId: run!.id }), { stopped: true });
  await core.requireTrainer().waitFor(run!.id);
  const stopped = (await core.dispatch('runs:get', { runId: run!.id })).run;
  assert.equal(stopped.status, 'stopped');
  assert.ok(stopped.epochsDone >= 1 && stopped.epochsDone < 30);
  assert.ok(stopped.bestEpoch !== null, 'the best checkpoint so far is kept');
  const extended = await core.dispatch('training:extend', { runId: run!.id, epochs: 2 });
  assert.equal(extended.config.epochs, Math.max(stopped.epochsDone, 30) + 2);
  await core.dispatch('training:stop', { runId: run!.id });
  await core.requireTrainer().waitFor(run!.id);
});

test('k-fold cross-validation trains one run per fold on that fold’s split', async () => {
  await core.dispatch('splits:assign', { ratios: [0.8, 0.2, 0], seed: 1 });
  await assert.rejects(core.dispatch('training:start', { config: { ...config, folds: true } }), /assign k folds first/);
  await core.dispatch('splits:folds', { k: 3, seed: 1 });
  const runs = await core.dispatch('training:start', { config: { ...config, epochs: 1, folds: true } });
  assert.equal(runs.length, 3);
  assert.deepEqual(runs.map((r) => r.fold), [0, 1, 2]);
  assert.equal(new Set(runs.map((r) => r.cvGroup)).size, 1);
  const total = runs[0]!.trainImages + runs[0]!.valImages;
  for (const r of runs) assert.equal(r.trainImages + r.valImages, total);
  assert.equal(runs.reduce((a, r) => a + r.valImages, 0), total, 'every image validates in exactly one fold');
  for (const r of runs) await core.requireTrainer().waitFor(r.id);
  for (const r of runs) assert.equal((await core.dispatch('runs:get', { runId: r.id })).run.status, 'finished');

  // Per-fold metrics and mean ± std: each fold run evaluated on its own held-out fold.
  let cv = await core.dispatch('evaluations:crossValidation', { runId: runs[1]!.id });
  assert.deepEqual(cv.folds.map((f) => [f.runId, f.fold, f.evaluationId]), runs.map((r) => [r.id, r.fold, null]));
  assert.equal(cv.aggregate, null);
  for (const r of runs) {
    const { jobId } = await core.dispatch('evaluations:run', { runId: r.id, split: 'val' });
    assert.equal((await core.jobs.wait(jobId)).state, 'succeeded');
  }
  cv = await core.dispatch('evaluations:crossValidation', { runId: runs[0]!.id });
  assert.equal(cv.aggregate!.perFold.length, 3);
  const acc = cv.aggregate!.perFold.map((f) => f.accuracy!);
  const mean = acc.reduce((a, b) => a + b, 0) / 3;
  const std = Math.sqrt(acc.reduce((a, b) => a + (b - mean) ** 2, 0) / 2);
  assert.ok(Math.abs(cv.aggregate!.summary.accuracy.mean! - mean) < 1e-12);
  assert.ok(Math.abs(cv.aggregate!.summary.accuracy.std! - std) < 1e-12);
  const single = (await core.dispatch('runs:list', {})).find((r) => r.cvGroup === null);
  if (single) await assert.rejects(core.dispatch('evaluations:crossValidation', { runId: single.id }), /not part of a k-fold/);
});
