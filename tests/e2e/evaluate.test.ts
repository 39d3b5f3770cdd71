// E2E: the Evaluate workspace against a real `loupe serve`, with a small model trained for real in set-up (the
// UI's Train button has its own test). Evaluate on validation; click a confusion-matrix cell and time how fast
// its images show; relabel one from there and see the evaluation marked stale; predict the unlabeled images,
// accept a suggestion with one key and undo it; export the model and a PDF report from the browser host and find
// the files on disk; then re-run, overlay and extend in the Train workspace. Screenshots go to tests/.artifacts/,
// the cell-click timings to tests/.artifacts/cell-click.json (reported, not asserted: no timed tests).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import type { Served } from './support/serve.ts';
import { ARTIFACTS, openSession, type Session } from './support/session.ts';
import { createSampleProject, hostApi, pollUntil } from './support/host-api.ts';
import { MainPage } from './pages/main-page.ts';
import { EvaluatePage } from './pages/evaluate-page.ts';
import { TrainPage } from './pages/train-page.ts';

const UNLABELED = 6;

let s: Session;
let tmp: string;
let served: Served;
let page: Page;
let runId: number;
let mislabeled: { id: number; classId: number | null };

before(async () => {
  s = await openSession({ name: 'eval', viewport: { width: 1360, height: 860 } });
  ({ tmp, served, page } = s);
  await createSampleProject(served, join(tmp, 'project'), 14);
  // A few images lose their label: the model will suggest one for them.
  const { ids } = await hostApi(served, 'images:ids', { filter: {}, sort: 'name' });
  const unlabeled = ids.filter((_, i) => i % 7 === 3).slice(0, UNLABELED);
  await hostApi(served, 'labels:set', { imageIds: unlabeled, classId: null });
  const [run] = await hostApi(served, 'training:start', {
    config: { arch: 'lenet5', imageSize: 32, channels: 1, epochs: 4, batchSize: 4, earlyStopping: null, seed: 3 },
    name: 'tiny',
  });
  runId = run!.id;
  const done = await pollUntil('the training run', async () => {
    const r = (await hostApi(served, 'runs:get', { runId })).run;
    return r.status === 'finished' || r.status === 'failed' ? r : undefined;
  });
  assert.equal(done.status, 'finished', done.error ?? '');
  // Once trained, one validation image gets another class's label: a label error by construction, which the
  // label-error queue must rank (a model that happened to get every validation image right left it empty).
  const val = (await hostApi(served, 'images:query', { filter: { split: 'val' }, sort: 'name', limit: 100 })).items.filter((im) => !unlabeled.includes(im.id));
  const classes = await hostApi(served, 'classes:list', {});
  mislabeled = val[0]!;
  await hostApi(served, 'labels:set', { imageIds: [mislabeled.id], classId: classes.find((c) => c.id !== mislabeled.classId)!.id });
});

after(() => s?.close());

test('evaluate, click a matrix cell, relabel from it, see the evaluation go stale', async () => {
  await page.goto(served.url);
  const main = new MainPage(page);
  await main.root.waitFor();
  const ev = new EvaluatePage(page);
  await ev.open();
  await page.getByTestId('eval-empty').waitFor();
  await ev.evaluate('val');
  assert.match(await ev.accuracy(), /^\d+(\.\d)?%$/);
  await page.getByTestId('per-class-row').first().waitFor();
  assert.equal(await page.getByTestId('per-class-row').count(), 3);
  await page.getByTestId('chart-roc').waitFor();
  await page.screenshot({ path: join(ARTIFACTS, '30-evaluate.png'), fullPage: true });
  await page.getByTestId('cm-normalized').click();
  await page.getByTestId('confusion-matrix').screenshot({ path: join(ARTIFACTS, '31-matrix-normalized.png') });
  await page.getByTestId('cm-counts').click();

  // The matrix's counts add up to the evaluated images; pick a non-empty cell, a mistake if there is one.
  const cells = await ev.cells();
  const evaluated = (await hostApi(served, 'evaluations:list', { runId })).find((e) => e.split === 'val')!;
  assert.equal(cells.reduce((n, c) => n + c.count, 0), evaluated.n);
  const nonEmpty = cells.filter((c) => c.count > 0);
  const cell = nonEmpty.find((c) => c.label !== c.predicted) ?? nonEmpty[0]!;

  // Click → the Images workspace filtered to that cell, predictions on the thumbnails. Timed in the page.
  // Timed twice: a click right after the pointer arrives (as fast as a script clicks), and a click after the
  // pointer rested on the cell for 300 ms (as a person clicks: the cell's images were asked for on hover).
  // The hovered one is another cell when there is one, so its page and thumbnails are not in any cache yet.
  const other = nonEmpty.find((c) => c !== cell) ?? cell;
  const instant = await ev.clickCellTimed(other);
  await main.waitForGrid(other.count);
  await ev.backToEvaluation();
  await page.mouse.move(0, 0);
  const hovered = await ev.clickCellTimed(cell, 300);
  await main.waitForGrid(cell.count);
  assert.equal(await ev.badges(), cell.count, 'every thumbnail shows its prediction');
  const predicted = await page.getByTestId('prediction-badge').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-predicted'))));
  assert.ok(predicted.every((p) => p === cell.predicted));
  await ev.bar.waitFor();
  console.log(`cell click (instant) → ${other.count} images shown in ${instant.cellsMs.toFixed(1)} ms, thumbnails in ${instant.thumbnailsMs.toFixed(1)} ms`);
  console.log(`cell click (hovered) → ${cell.count} images shown in ${hovered.cellsMs.toFixed(1)} ms, thumbnails in ${hovered.thumbnailsMs.toFixed(1)} ms`);
  writeFileSync(
    join(ARTIFACTS, 'cell-click.json'),
    JSON.stringify({ instant: { images: other.count, ...instant }, hovered: { images: cell.count, ...hovered }, loadAverage: loadavg() }, null, 2),
  );
  await s.shot('32-cell-images');

  // Relabel the first image of the cell in place with the labeling keys, to a class other than its true one.
  const classes = (await hostApi(served, 'evaluations:get', { evaluationId: evaluated.id })).classes;
  const target = (await hostApi(served, 'classes:list', {})).find((c) => c.name === classes[(cell.label + 1) % classes.length])!;
  const first = page.locator('[data-testid="grid-cell"][data-index="0"]');
  await first.click();
  await page.keyboard.press(target.hotkey);
  await page.locator(`[data-testid="grid-cell"][data-index="0"][data-class="${target.id}"]`).waitFor();

  // Back in the evaluation: it says one image was relabeled since.
  await ev.backToEvaluation();
  await ev.staleBanner.waitFor({ timeout: 10_000 });
  assert.match(await ev.staleBanner.innerText(), /1 image relabeled since/);
  await s.shot('33-stale');
  assert.deepEqual(s.pageErrors, []);
});

test('predict unlabeled, accept a suggestion with one key, undo', async () => {
  const main = new MainPage(page);
  const ev = new EvaluatePage(page);
  await page.getByTestId('predict-unlabeled').click();
  await page.getByTestId('review-suggestions').waitFor({ timeout: 120_000 });
  await page.getByTestId('review-suggestions').click();
  await main.waitForGrid(UNLABELED);
  assert.equal(await ev.badges(), UNLABELED);
  await main.waitForCount('unlabeled', UNLABELED);
  await page.locator('[data-testid="grid-cell"][data-index="0"]').click();
  await page.getByTestId('accept-suggestion').filter({ hasText: '“' }).waitFor();
  await s.shot('34-suggestions');
  await page.keyboard.press('Enter');
  await page.getByTestId('evaluation-message').filter({ hasText: 'labeled' }).waitFor();
  await main.waitForCount('unlabeled', UNLABELED - 1);
  assert.equal(await page.locator('[data-testid="viewer"]').count(), 0, 'Enter accepted rather than opening the viewer');

  await page.getByTestId('undo').click();
  await main.waitForCount('unlabeled', UNLABELED);

  // Accept every suggestion at or above 0% in one step, and take it back in one step.
  await ev.backToEvaluation();
  await page.getByTestId('accept-threshold').fill('0');
  await page.getByTestId('accept-above').click();
  await page.getByTestId('accept-result').filter({ hasText: `Labeled ${UNLABELED} images` }).waitFor();
  assert.equal((await hostApi(served, 'images:query', { filter: { unlabeled: true }, limit: 1 })).total, 0);
  await page.getByTestId('accept-undo').click();
  await pollUntil('the undo', async () => ((await hostApi(served, 'images:query', { filter: { unlabeled: true }, limit: 1 })).total === UNLABELED ? true : undefined), 10_000);
  assert.deepEqual(s.pageErrors, []);
});

test('label-error candidates: accept one, exclude another', async () => {
  await page.getByTestId('label-errors-find').click();
  const rows = page.getByTestId('label-error');
  await page.locator(`[data-testid="label-error"][data-image-id="${mislabeled.id}"]`).waitFor();
  const n = await rows.count();
  const firstId = Number(await rows.first().getAttribute('data-image-id'));
  const suggested = (await rows.first().locator('strong').innerText()).trim();
  await rows.first().getByTestId('label-error-accept').click();
  await page.waitForFunction((id) => !document.querySelector(`[data-testid="label-error"][data-image-id="${id}"]`), firstId);
  const classes = await hostApi(served, 'classes:list', {});
  assert.equal((await hostApi(served, 'images:get', { id: firstId })).classId, classes.find((c) => c.name === suggested)!.id);
  if (n > 1) {
    const secondId = Number(await rows.first().getAttribute('data-image-id'));
    await rows.first().getByTestId('label-error-exclude').click();
    await page.waitForFunction((id) => !document.querySelector(`[data-testid="label-error"][data-image-id="${id}"]`), secondId);
    assert.equal((await hostApi(served, 'images:get', { id: secondId })).excluded, true);
  }
  await page.getByTestId('label-errors').screenshot({ path: join(ARTIFACTS, '38-label-errors.png') });
  assert.deepEqual(s.pageErrors, []);
});

test('export the model and a PDF report from the browser host', async () => {
  const ev = new EvaluatePage(page);
  await page.getByTestId('workspace-evaluate').click();
  await ev.root.waitFor();
  await page.getByTestId('eval-export').click();
  await ev.dialog.waitFor();
  const outDir = join(tmp, 'exported-model');
  await page.getByTestId('export-folder').fill(outDir);
  await page.getByTestId('export-where').filter({ hasText: outDir }).waitFor();
  await page.getByTestId('export-zip').check();
  await page.getByTestId('export-start').click();
  await page.getByTestId('export-result').waitFor({ timeout: 120_000 });
  assert.equal(await page.getByTestId('export-result-path').innerText(), outDir);
  for (const f of ['model.json', 'labels.json', 'preprocessing.json', 'model-card.md']) assert.ok(existsSync(join(outDir, f)), `${f} written`);
  assert.deepEqual(JSON.parse(readFileSync(join(outDir, 'labels.json'), 'utf8')), ['effusion', 'normal', 'pneumonia']);
  await s.shot('35-export-model');

  // The same folder again is refused until the user says to write over it.
  await page.getByTestId('export-start').click();
  await page.getByTestId('export-error').filter({ hasText: 'not empty' }).waitFor();
  await page.getByTestId('export-force').waitFor();

  await page.getByTestId('export-tab-report').click();
  // Issue 14: no thumbnails and no "prepared by" unless asked, and the dialog says what goes into the PDF.
  assert.equal(await page.getByTestId('report-thumbnails').isChecked(), false);
  assert.equal(await page.getByTestId('report-author').inputValue(), '');
  await page.getByTestId('report-medical').filter({ hasText: 'possibly holding medical images' }).waitFor();
  const contents = page.getByTestId('export-contents');
  assert.match(await contents.innerText(), /Not included: images; file names; a "prepared by" name; absolute paths or your user name/);
  await page.getByTestId('report-thumbnails').check();
  await contents.filter({ hasText: 'thumbnails of up to 24 misclassified images' }).waitFor();
  await page.getByTestId('report-thumbnails').uncheck();
  await page.getByTestId('export-folder').fill(tmp);
  await page.getByTestId('report-file').fill('validation.pdf');
  await page.getByTestId('report-notes').fill('Synthetic sample data; not for clinical use.');
  await page.getByTestId('export-start').click();
  await page.getByTestId('export-result').waitFor({ timeout: 120_000 });
  const pdf = join(tmp, 'validation.pdf');
  assert.ok(existsSync(pdf));
  assert.equal(readFileSync(pdf).subarray(0, 5).toString(), '%PDF-');
  assert.doesNotMatch(spawnSync('pdfinfo', [pdf], { encoding: 'utf8' }).stdout, /^Author:[ \t]*\S/m);
  assert.equal(spawnSync('pdfimages', ['-list', pdf], { encoding: 'utf8' }).stdout.trim().split('\n').length, 2, 'no images in the PDF');
  await s.shot('36-export-report');

  // Issue 11: the dataset tab offers the formats and the mapping file, says in one line what the mapping holds, and
  // writes the mapping next to the export, never inside it.
  await page.getByTestId('export-tab-dataset').click();
  const datasetDir = join(tmp, 'dataset-png16');
  await page.getByTestId('export-folder').fill(datasetDir);
  await page.getByTestId('dataset-format').selectOption('png16');
  await page.getByTestId('dataset-mapping').check();
  await page.getByTestId('dataset-mapping-note').filter({ hasText: `${datasetDir}-mapping.csv` }).filter({ hasText: 'may identify patients' }).waitFor();
  await page.getByTestId('export-start').click();
  await page.getByTestId('export-result-mapping').filter({ hasText: `${datasetDir}-mapping.csv` }).waitFor({ timeout: 120_000 });
  assert.equal(JSON.parse(readFileSync(join(datasetDir, 'export.json'), 'utf8')).format, 'png16');
  const mapping = readFileSync(`${datasetDir}-mapping.csv`, 'utf8').trim().split('\n');
  assert.equal(mapping[0], 'exported,original');
  const exported = join(datasetDir, mapping[1]!.split(',')[0]!);
  // PNG IHDR: bit depth is byte 24.
  assert.equal(readFileSync(exported)[24], 16, `${exported} is a 16-bit PNG`);
  await s.shot('36b-export-dataset');
  await page.getByTestId('export-close').click();
  await ev.dialog.waitFor({ state: 'detached' });
  assert.deepEqual(s.pageErrors, []);
});

test('re-run a finished run, overlay the two, extend the first by an epoch', async () => {
  const train = new TrainPage(page);
  await train.open();
  await train.runRow(runId).locator('button.main').click();
  await train.waitForStatus('finished');
  await page.getByTestId('run-rerun').click();
  // The re-run is selected and trains on the same snapshot, config and seed.
  await page.waitForFunction((id) => Number(document.querySelector('[data-testid="run-detail"]')?.getAttribute('data-run-id')) > id, runId);
  const { id: rerunId } = await train.selected();
  await train.waitForStatus('finished', 120_000);
  const [a, b] = await Promise.all([hostApi(served, 'runs:get', { runId }), hostApi(served, 'runs:get', { runId: rerunId })]);
  assert.equal(b.run.parentId, runId);
  assert.deepEqual(b.run.config, a.run.config);

  // Overlay run 1's curves on the re-run's: each epoch chart holds both runs' points.
  const alone = await train.points('epoch-loss');
  await train.runRow(runId).getByTestId('run-compare').click();
  await train.waitForPoints('epoch-loss', alone);
  assert.equal(await train.points('epoch-loss'), alone * 2, 'same epochs, two runs');
  await s.shot('37-train-overlay');

  // Extend run 1 by one epoch: it resumes from its checkpoint and finishes one epoch later.
  await train.runRow(runId).locator('button.main').click();
  await page.getByTestId('extend-epochs').fill('1');
  await page.getByTestId('run-extend').click();
  await pollUntil('the extended run', async () => {
    const r = (await hostApi(served, 'runs:get', { runId })).run;
    return r.status === 'finished' && r.epochsDone === a.run.epochsDone + 1 ? r : undefined;
  });
  await train.waitForStatus('finished');
  assert.deepEqual(s.pageErrors, []);
});
