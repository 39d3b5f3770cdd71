// The PDF report past one page of classes (issue 6): a 25-class evaluation (seeded predictions, stored as
// evaluate.ts stores them) tiles its confusion matrix; every count of every tile is in the text pdftotext
// extracts, row by row. Letter paper, thumbnails off (no images in the PDF) and file names on request.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { createReport } from '../../electron/core/export/report/report.ts';
import { getEvaluation } from '../../electron/core/evaluation/evaluations.ts';
import { tiles } from '../../electron/core/export/report/charts.ts';
import { LoupeError } from '../../shared/contract.ts';
import { syntheticEvaluatedRun, type SyntheticRun } from '../helpers/synthetic-evaluation.ts';
import { tempDir } from '../helpers/tmp.ts';

let s: SyntheticRun;
let dir: string;

before(async () => {
  dir = tempDir('loupe-report-');
  s = await syntheticEvaluatedRun(dir, { classes: 25, perClass: 6, thumbnails: true });
});

const base = { pageSize: 'A4' as const, notes: '', force: false, thumbnails: true, fileNames: false, appVersion: 'test' };

test('25 classes: the matrix is tiled, and every count of every tile is in the text, row by row', async () => {
  const out = join(dir, 'tiled.pdf');
  const r = await createReport(s.project, { ...base, runId: s.runId, outPath: out });
  const text = spawnSync('pdftotext', ['-layout', out, '-'], { encoding: 'utf8' }).stdout;
  const m = getEvaluation(s.project.db, s.evaluationId).metrics!;
  const parts = tiles(25, 20);
  assert.equal(parts.length, 4);
  for (const t of parts) {
    for (let i = t.rows[0]; i < t.rows[1]; i++) {
      const counts = m.confusionMatrix.matrix[i]!.slice(t.cols[0], t.cols[1]);
      assert.match(text, new RegExp(`^\\s*c${i}\\s+${counts.join('\\s+')}\\s*$`, 'm'), `tile ${t.rows}×${t.cols}, row c${i}`);
    }
  }
  assert.ok(text.includes(m.accuracy.toFixed(4)));
  assert.ok(!/img\d+\.png/.test(text), 'file names are left out by default');
  const images = spawnSync('pdfimages', ['-list', out], { encoding: 'utf8' }).stdout.trim().split('\n').slice(2);
  const mistakes = s.project.db.prepare('SELECT COUNT(*) FROM predictions WHERE evaluation_id = ? AND label <> predicted').pluck().get(s.evaluationId) as number;
  assert.ok(mistakes > 0);
  assert.equal(images.length, Math.min(24, mistakes), 'the most confident mistakes (up to 24) as thumbnails');
  assert.ok(r.pages! > 10);
});

test('Letter paper, thumbnails off (no images at all), file names on request', async () => {
  const out = join(dir, 'letter.pdf');
  await createReport(s.project, { ...base, runId: s.runId, outPath: out, pageSize: 'Letter', thumbnails: false, fileNames: true });
  assert.match(spawnSync('pdfinfo', [out], { encoding: 'utf8' }).stdout, /Page size:\s+612 x 792/);
  assert.equal(spawnSync('pdfimages', ['-list', out], { encoding: 'utf8' }).stdout.trim().split('\n').length, 2);
  const text = spawnSync('pdftotext', ['-layout', out, '-'], { encoding: 'utf8' }).stdout;
  assert.match(text, /Thumbnails are switched off/);
  assert.match(text, /c\d+\/img\d+\.png/, 'file names when asked for');
  await assert.rejects(createReport(s.project, { ...base, runId: s.runId, outPath: out }), (e: unknown) => e instanceof LoupeError && /already exists.*--force/.test(e.message));
});
