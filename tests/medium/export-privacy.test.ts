// Shared artifacts carry no absolute paths, OS user names or the project folder's name (issue 14). A project whose
// folder (named after a patient) and image folder have distinctive names, a run trained on it with one image deleted after import (its unreadable reason lands in
// the run's warnings), then everything exported through the CLI as a user with a distinctive name and home: the
// model bundle and its zip, the PDF report (default and with thumbnails and file names), the dataset export, the
// labels CSV, the evaluation predictions CSV and `loupe predict`'s CSV. Every artifact is grepped (pdftotext and
// pdfinfo for PDFs, unzip for zips): zero hits.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels } from '../../electron/core/training/kernels/index.ts';
import { LoupeCore } from '../../electron/core/api/loupe-core.ts';
import { writeSampleImages } from '../../electron/core/sample/sample-project.ts';
import { runTraining } from '../../electron/core/training/trainer.ts';
import { createRuns } from '../../electron/core/training/run-service.ts';
import { getRun } from '../../electron/core/training/runs.ts';
import { runEvaluation } from '../../electron/core/evaluation/evaluate.ts';
import { tempDir } from '../helpers/tmp.ts';
import { filesUnder, readable } from '../helpers/shared-artifacts.ts';

const repo = join(import.meta.dirname, '..', '..');
const ROOT_NAME = 'Zorblax-Root-4417';
const USER = 'Quillon-User-8823';
const HOME_NAME = 'Quillon-Home-5531';
// The project folder named after a patient, as a user may well do; the project was given no name of its own.
const PROJECT_NAME = 'Doe-Jane-MRN-660241';
let dir: string;
let root: string;
let projectDir: string;
let out: string;
let runId: number;

before(async () => {
  await tf.setBackend('wasm');
  registerWasmTrainingKernels();
  dir = tempDir('loupe-privacy-');
  root = join(dir, ROOT_NAME);
  projectDir = join(root, PROJECT_NAME);
  out = join(dir, 'shared');
  mkdirSync(out);
  await writeSampleImages(join(root, 'scans'), { perClass: 10, signal: new AbortController().signal, progress: () => {} });
  const core = new LoupeCore({ face: 'cli', configDir: join(dir, 'config') });
  const project = core.openProject(projectDir, { create: true });
  const job = await core.jobs.wait((await core.dispatch('import:start', { folders: [join(root, 'scans')], labels: 'folders' })).jobId);
  assert.equal(job.state, 'succeeded', job.message);
  await core.dispatch('splits:assign', { ratios: [0.6, 0.2, 0.2], seed: 3 });
  const gone = project.db
    .prepare(`SELECT r.path || '/' || i.rel_path FROM images i JOIN roots r ON r.id = i.root_id WHERE i.split = 'train' ORDER BY i.id LIMIT 1`)
    .pluck()
    .get() as string;
  rmSync(gone);
  const [run] = createRuns(project, { config: { arch: 'cnn', imageSize: 24, channels: 1, epochs: 2, batchSize: 16, augment: {}, earlyStopping: null, seed: 5 } }, 'test');
  runId = run!.id;
  const result = await runTraining(project, runId, { mode: 'start', backend: 'wasm' });
  assert.equal(result.status, 'finished', result.message);
  const warnings = getRun(project.db, runId).warnings;
  assert.ok(warnings.some((w) => w.includes(relative(join(root, 'scans'), gone)) && w.includes('the file is missing')), warnings.join('\n'));
  await runEvaluation(project, { runId, split: 'test' });
  core.closeProject();
});

/** The CLI as a user named USER with home HOME_NAME. */
function loupe(...args: string[]): void {
  const home = join(dir, HOME_NAME);
  mkdirSync(home, { recursive: true });
  const res = spawnSync(process.execPath, ['--import', join(repo, 'tests/helpers/fake-user.mjs'), join(repo, 'bin', 'loupe.js'), ...args], {
    encoding: 'utf8',
    cwd: repo,
    timeout: 240_000,
    env: { ...process.env, LOUPE_TEST_USER: USER, USER, LOGNAME: USER, USERNAME: USER, HOME: home },
  });
  assert.equal(res.status, 0, `loupe ${args.join(' ')}\n${res.stderr}`);
}

test('every shared artifact is free of the project folder, the image folder, the user name and the home folder', () => {
  const project = projectDir;
  loupe('export', project, '--run', String(runId), '--out', join(out, 'bundle'), '--zip', '--notes', 'For the privacy test.');
  loupe('report', project, '--run', String(runId), '--out', join(out, 'report.pdf'));
  loupe('report', project, '--run', String(runId), '--out', join(out, 'report-all.pdf'), '--thumbnails', '--file-names');
  loupe('export-dataset', project, '--out', join(out, 'dataset'), '--run', String(runId));
  loupe('labels', 'export', project, '--out', join(out, 'labels.csv'));
  loupe('eval', project, '--run', String(runId), '--split', 'test', '--predictions', join(out, 'predictions.csv'));
  loupe('predict', join(out, 'bundle'), join(root, 'scans'), '--out', join(out, 'predict.csv'));

  const artifacts = filesUnder(out).filter((f) => !/\.(png|tiff?|jpe?g)$/i.test(f));
  const names = artifacts.map((f) => relative(out, f));
  for (const want of ['bundle.zip', 'bundle/model-card.md', 'bundle/manifest.json', 'report.pdf', 'report-all.pdf', 'dataset/labels.csv', 'labels.csv', 'predictions.csv', 'predict.csv']) {
    assert.ok(names.includes(want), `${want} was written (have: ${names.join(', ')})`);
  }
  const needles = [ROOT_NAME, USER, HOME_NAME, PROJECT_NAME, dir];
  const hits: string[] = [];
  for (const f of artifacts) {
    const text = readable(f);
    for (const n of needles) if (text.includes(n)) hits.push(`${relative(out, f)} contains ${n}`);
  }
  // The exported images' own file names (the ImageFolder tree) too.
  for (const f of filesUnder(join(out, 'dataset'))) for (const n of needles) if (relative(out, f).includes(n)) hits.push(`file name ${relative(out, f)}`);
  assert.deepEqual(hits, []);
  // The report with file names has them relative to the import folder; the PDF's author is empty.
  const all = readable(join(out, 'report-all.pdf'));
  assert.match(all, /(effusion|normal|pneumonia)\/\S+\.png/);
  assert.doesNotMatch(spawnSync('pdfinfo', [join(out, 'report.pdf')], { encoding: 'utf8' }).stdout, /^Author:[ \t]*\S/m);
  assert.match(readFileSync(join(out, 'bundle', 'model-card.md'), 'utf8'), /Training warning: Skipped \S+: became unreadable since import: the file is missing/);
});
