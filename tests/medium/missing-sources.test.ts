// Source images deleted after import (issue 14): `loupe info` counts and lists them (a stat per image, not only
// what an import rescan marked), and a new run, which trains them from the tensor cache, says which ones it used
// from there.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Project } from '../../electron/core/project/project.ts';
import { createRuns } from '../../electron/core/training/run-service.ts';
import { getRun } from '../../electron/core/training/runs.ts';
import type { ProjectSummary } from '../../shared/contract.ts';
import type { TrainConfigInput } from '../../shared/training.ts';
import { smallProject } from '../helpers/small-project.ts';
import { trainInProcess } from '../helpers/run-invariants.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const config: TrainConfigInput = { arch: 'lenet5', imageSize: 24, channels: 1, epochs: 1, batchSize: 8, dropout: 0, augment: {}, earlyStopping: null, seed: 2 };
let projectDir = '';
let imagesDir = '';

function run(script: string[], ...args: string[]) {
  const r = spawnSync(process.execPath, [...script, ...args], { encoding: 'utf8', timeout: 180_000 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}
const loupe = (...args: string[]) => run([join(ROOT, 'bin', 'loupe.js')], ...args);

/** Trains a new run in a real training process; returns its id. */
function trainNewRun(): number {
  const project = Project.open(projectDir);
  const [r] = createRuns(project, { config }, 'test');
  project.close();
  const { result, stderr } = trainInProcess(projectDir, r!.id, 'start');
  assert.equal(result?.status, 'finished', stderr);
  return r!.id;
}

before(async () => {
  ({ projectDir, imagesDir } = await smallProject());
});

test('info and training notice source files deleted after import', () => {
  trainNewRun();
  const project = Project.open(projectDir);
  const gone = project.db.prepare(`SELECT rel_path FROM images ORDER BY rel_path LIMIT 3`).pluck().all() as string[];
  project.close();
  for (const rel of gone) rmSync(join(imagesDir, rel));

  const info = JSON.parse(loupe('info', projectDir, '--json')) as ProjectSummary;
  assert.equal(info.missing, 3);
  assert.deepEqual(info.missingFiles, gone.map((rel) => join(imagesDir, rel)));
  const text = loupe('info', projectDir);
  assert.match(text, /missing: 3/);
  for (const rel of gone) assert.ok(text.includes(join(imagesDir, rel)), text);

  const runId = trainNewRun();
  const p = Project.open(projectDir);
  const trained = getRun(p.db, runId);
  p.close();
  assert.equal(trained.trainImages + trained.valImages, info.images, 'the cached pixels of the gone files were used');
  assert.ok(trained.warnings.includes("3 images trained from Loupe's cache: the file is gone since import:"), trained.warnings.join('\n'));
  for (const rel of gone) assert.ok(trained.warnings.includes(`From the cache: ${rel}`), rel);
});
