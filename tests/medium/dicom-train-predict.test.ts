/**
 * A DICOM project through the CLI as a technician runs it (issue 11): import CT slices whose headers, file names
 * and folders carry a patient's identity, split by patient, `loupe train --dicom-window preset:lung`, export the
 * bundle (TF.js and ONNX, zipped), the report, the labels and evaluation CSVs, and `loupe predict` on the DICOM
 * folder and on a multi-frame file. The windowing is recorded in the run, preprocessing.json and the model card,
 * predict decodes each file to the very bytes training learned from, and nothing written for others holds an
 * identifier of the headers or a source path (pdftotext for PDFs, unzip for zips).
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { LoupeCore } from '../../electron/core/api/loupe-core.ts';
import { decodeForModel, inputShapeOf } from '../../electron/core/images/model-input.ts';
import { TensorCache } from '../../electron/core/training/tensor-cache.ts';
import { filePath } from '../../electron/core/images/media.ts';
import { getRun } from '../../electron/core/training/runs.ts';
import { importLabelsCsv } from '../../electron/core/labels/labels-csv.ts';
import type { Preprocessing, RunInfo } from '../../shared/training.ts';
import { tempDir } from '../helpers/tmp.ts';
import { filesUnder, readable } from '../helpers/shared-artifacts.ts';

const repo = join(import.meta.dirname, '..', '..');
const FIXTURES = join(repo, 'tests', 'fixtures', 'dicom', 'identified');
const ids = JSON.parse(readFileSync(join(FIXTURES, 'identifiers.json'), 'utf8')) as Record<string, string | string[]>;
const ROOT_NAME = 'Quarnby_Elspeth_QX-88123_exports';
const PROJECT_NAME = 'Quarnby-Elspeth-project';
let dir: string;
let root: string;
let projectDir: string;
let out: string;
let gone: string;

/** The CLI as a user runs it; returns stdout. */
function loupe(...args: string[]): string {
  const res = spawnSync(process.execPath, [join(repo, 'bin', 'loupe.js'), ...args], { encoding: 'utf8', cwd: repo, timeout: 300_000 });
  assert.equal(res.status, 0, `loupe ${args.join(' ')}\n${res.stderr}`);
  return res.stdout;
}

before(() => {
  dir = tempDir('loupe-dicom-train-');
  root = join(dir, ROOT_NAME);
  projectDir = join(dir, PROJECT_NAME);
  out = join(dir, 'shared');
  mkdirSync(out);
  cpSync(join(FIXTURES, 'scans'), root, { recursive: true });
  cpSync(join(FIXTURES, 'cine'), join(dir, 'cine'), { recursive: true });
  loupe('import', projectDir, root, '--json');
  loupe('split', projectDir, '--ratios', '0.34,0.33,0.33', '--seed', '1', '--group-by', 'dicom:PatientID');
  // One training file deleted after import: the run's warning about it reaches the model card, by pseudonym.
  const core = new LoupeCore({ face: 'cli', configDir: join(dir, 'config') });
  const project = core.openProject(projectDir);
  gone = project.db.prepare(`SELECT rel_path FROM images WHERE split = 'train' ORDER BY rel_path LIMIT 1`).pluck().get() as string;
  core.closeProject();
  rmSync(join(root, gone));
  loupe('train', projectDir, '--arch', 'lenet5', '--epochs', '2', '--image-size', '16', '--augment', 'none', '--threads', '1', '--dicom-window', 'preset:lung', '--json');
});

function openRun(): { core: LoupeCore; run: RunInfo } {
  const core = new LoupeCore({ face: 'cli', configDir: join(dir, 'config') });
  const project = core.openProject(projectDir);
  const runId = project.db.prepare('SELECT id FROM runs ORDER BY id DESC LIMIT 1').pluck().get() as number;
  return { core, run: getRun(project.db, runId) };
}

test('the run, preprocessing.json and the model card record the windowing; predict feeds the model what training did', async () => {
  const { core, run } = openRun();
  try {
    assert.deepEqual(run.config.dicomWindow, { kind: 'preset', name: 'lung' });
    assert.deepEqual(run.preprocessing!.dicomWindow, { kind: 'preset', name: 'lung' });
    loupe('export', projectDir, '--run', String(run.id), '--out', join(out, 'bundle'), '--format', 'tfjs,onnx');
    const pre = JSON.parse(readFileSync(join(out, 'bundle', 'preprocessing.json'), 'utf8')) as Preprocessing;
    assert.deepEqual(pre.dicomWindow, { kind: 'preset', name: 'lung' });
    assert.match(readFileSync(join(out, 'bundle', 'model-card.md'), 'utf8'), /DICOM windowing \| grey DICOM images: CT preset Lung: center -600, width 1500 HU/);
    // Every training tensor is what predict's decoding of the same file gives with the bundle's preprocessing;
    // the image's own window (the tags) would give other bytes.
    const project = core.requireProject();
    const cache = new TensorCache(project.cacheDir, inputShapeOf(run.preprocessing!));
    const rows = project.db
      .prepare(`SELECT r.path AS root, i.rel_path, i.rel_path_raw, i.sha256, d.frame FROM run_images ri JOIN images i ON i.id = ri.image_id
                JOIN roots r ON r.id = i.root_id LEFT JOIN dicom_images d ON d.image_id = i.id WHERE ri.run_id = ?`)
      .all(run.id) as { root: string; rel_path: string; rel_path_raw: Buffer | null; sha256: string; frame: number | null }[];
    const trained = rows.filter((r) => cache.has(r.sha256));
    assert.ok(trained.length >= 7 && trained.length === rows.length - 1, `${trained.length} of ${rows.length} training images cached`);
    let differsFromTags = 0;
    for (const r of trained) {
      const row = new Uint8Array(cache.rowBytes);
      cache.read(r.sha256, row);
      const buf = readFileSync(filePath(r));
      const predicted = await decodeForModel(buf, inputShapeOf(pre), { min: null, max: null }, 1e8);
      assert.deepEqual([...predicted.pixels], [...row], r.rel_path);
      const tags = await decodeForModel(buf, { ...inputShapeOf(pre), dicomWindow: { kind: 'tags' } }, { min: null, max: null }, 1e8);
      if (tags.pixels.some((v, i) => v !== row[i])) differsFromTags++;
    }
    assert.equal(differsFromTags, trained.length);
    cache.close();
  } finally {
    core.closeProject();
  }
  const json = JSON.parse(loupe('predict', join(out, 'bundle'), root, '--json')) as { images: number; predicted: number; predictions: { path: string; error: string | null }[] };
  assert.equal(json.images, 23);
  assert.equal(json.predicted, 23, JSON.stringify(json.predictions.filter((p) => p.error)));
  const cine = JSON.parse(loupe('predict', join(out, 'bundle'), join(dir, 'cine'), '--frames', 'all', '--json')) as { predictions: { path: string; frame: number | null }[] };
  assert.deepEqual(cine.predictions.map((p) => p.frame), [1, 2, 3]);
  const middle = JSON.parse(loupe('predict', join(out, 'bundle'), join(dir, 'cine'), '--json')) as { predictions: { frame: number | null; note: string | null }[] };
  assert.equal(middle.predictions.length, 1);
  assert.match(middle.predictions[0]!.note ?? '', /multi-frame DICOM with 3 frames: frame 2 \(the middle one\) is used/);
});

test('no identifier of the headers and no source path in anything written for others', () => {
  const { core, run } = openRun();
  core.closeProject();
  loupe('export', projectDir, '--run', String(run.id), '--out', join(out, 'bundle-zip'), '--format', 'tfjs,onnx', '--zip');
  loupe('labels', 'export', projectDir, '--out', join(out, 'labels.csv'));
  loupe('eval', projectDir, '--run', String(run.id), '--split', 'test', '--predictions', join(out, 'eval-predictions.csv'));
  loupe('report', projectDir, '--run', String(run.id), '--out', join(out, 'report.pdf'));
  loupe('predict', join(out, 'bundle-zip'), root, '--out', join(out, 'predict.csv'), '--mapping', join(dir, 'mapping.csv'));
  loupe('predict', join(out, 'bundle-zip'), join(dir, 'cine'), '--frames', 'all', '--out', join(out, 'predict-cine.csv'));
  const artifacts = filesUnder(out);
  const names = artifacts.map((f) => relative(out, f));
  for (const want of ['bundle-zip.zip', 'bundle-zip/model-card.md', 'bundle-zip/model.onnx', 'report.pdf', 'labels.csv', 'eval-predictions.csv', 'predict.csv', 'predict-cine.csv']) {
    assert.ok(names.includes(want), `${want} was written (have: ${names.join(', ')})`);
  }
  const needles = [...Object.values(ids).flat(), ROOT_NAME, PROJECT_NAME, dir];
  const hits: string[] = [];
  for (const f of artifacts) {
    const text = readable(f);
    for (const n of needles) if (text.includes(n) || relative(out, f).includes(n)) hits.push(`${relative(out, f)} contains ${n}`);
  }
  assert.deepEqual(hits, []);
  assert.match(readFileSync(join(out, 'bundle-zip', 'model-card.md'), 'utf8'), /Training warning: Skipped img-[0-9a-f]{16}: became unreadable since import: the file is missing/);
  // The rows still say which image is which: a pseudonym per file, and the mapping (asked for, kept apart) names
  // each file as the folder given does.
  const predict = readFileSync(join(out, 'predict.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(',')[0]!);
  assert.equal(new Set(predict).size, 23);
  assert.ok(predict.every((p) => /^img-[0-9a-f]{16}$/.test(p)), predict.join(' '));
  const mapping = new Map(readFileSync(join(dir, 'mapping.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(',') as [string, string]));
  assert.deepEqual([...mapping.keys()].sort(), [...predict].sort());
  assert.ok([...mapping.values()].every((p) => p.startsWith(`${ROOT_NAME}/`)), [...mapping.values()].join(' '));
  assert.match(readFileSync(join(out, 'predict-cine.csv'), 'utf8'), /^img-[0-9a-f]{16}#3,/m);
  // The labels CSV names DICOM images by their project pseudonym, and imports back by it.
  const labels = readFileSync(join(out, 'labels.csv'), 'utf8');
  assert.equal(labels.trim().split('\n').slice(1).filter((l) => /^img-[0-9a-f]{16},(clear|effusion),(train|val|test),patient-[0-9a-f]{16}$/.test(l)).length, 24, labels);
  const project = openRun();
  try {
    const report = importLabelsCsv(project.core.requireProject().db, labels, false);
    assert.deepEqual(report.unknownPaths, []);
    assert.equal(report.unchanged, 24);
  } finally {
    project.core.closeProject();
  }
});
