// E2E, issue 12: pretrained networks from ONNX in the UI, against a real `loupe serve` and real training processes.
// Import a committed tiny MobileNetV2 from Train → Advanced settings → Transfer learning → Import (a bad file typed
// first: its error is shown and nothing is added; then the file picked with the in-app browser by keyboard alone),
// train with it for one epoch, then Evaluate → Evaluate a model file with a foreign 3-class ONNX classifier (picked
// with a double click) and see its metrics, marked as an external model with its SHA-256; last, the run exported as
// a Loupe bundle is picked in the same browser (by keyboard, marked as a bundle) and evaluated too.
// Screenshots go to tests/.artifacts/.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import type { Served } from './support/serve.ts';
import { openSession, type Session } from './support/session.ts';
import { createSampleProject, hostApi, pollUntil } from './support/host-api.ts';
import { MainPage } from './pages/main-page.ts';
import { TrainPage } from './pages/train-page.ts';
import { EvaluatePage } from './pages/evaluate-page.ts';
import { FolderBrowserPage } from './pages/folder-browser.ts';
import { tinyClassifier } from '../helpers/onnx-graphs.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/onnx/mobilenetv2-tiny.onnx', import.meta.url));

let s: Session;
let served: Served;
let page: Page;

before(async () => {
  s = await openSession({ name: 'onnx', viewport: { width: 1280, height: 860 } });
  ({ served, page } = s);
  await createSampleProject(served, join(s.tmp, 'project'), 10);
});

after(() => s?.close());

test('import an ONNX backbone from the UI, train with it, evaluate an ONNX file from the Evaluate view', async () => {
  // The backbone among other files in a folder of the host's home, where the browser starts.
  const models = join(s.home, 'models');
  mkdirSync(join(models, 'archive'), { recursive: true });
  const backboneFile = join(models, 'mobilenet.onnx');
  copyFileSync(FIXTURE, backboneFile);
  writeFileSync(join(models, 'readme.txt'), 'not listed by a picker of .onnx files\n');
  const notOnnx = join(s.tmp, 'notes.onnx');
  writeFileSync(notOnnx, 'not a network\n');

  await page.goto(served.url);
  await new MainPage(page).root.waitFor();
  const train = new TrainPage(page);
  await train.open();
  await train.openAdvanced();
  await train.select('cfg-arch', 'backbone');
  await page.getByTestId('backbone-import-open').click();
  const dialog = page.getByTestId('backbone-import-dialog');
  await dialog.waitFor();

  // A file that is not ONNX: a clear message, and no backbone added.
  await page.getByTestId('backbone-import-path').fill(notOnnx);
  await page.getByTestId('backbone-import-start').click();
  const error = page.getByTestId('backbone-import-error');
  await error.waitFor({ timeout: 120_000 });
  assert.match(await error.innerText(), /ONNX|protobuf|model/i);
  await s.shot('60-onnx-import-error');
  assert.deepEqual(await hostApi(served, 'backbones:list', {}), []);

  // The file picked with the browser, by keyboard only: Browse… → Enter opens a folder, Backspace goes up, Escape
  // cancels, arrows move, Enter picks.
  const browser = new FolderBrowserPage(page);
  const pathField = page.getByTestId('backbone-import-path');
  await pathField.fill('');
  await page.getByTestId('backbone-import-path-browse').focus();
  await page.keyboard.press('Enter');
  await browser.shows(s.home);
  await browser.arrowTo('models');
  await page.keyboard.press('Enter');
  await browser.shows(models);
  assert.deepEqual(await browser.entryNames(), ['archive', 'mobilenet.onnx'], 'folders first, then .onnx files only');
  await page.keyboard.press('Enter');
  await browser.shows(join(models, 'archive'));
  await page.keyboard.press('Backspace');
  await browser.shows(models);
  await page.keyboard.press('Escape');
  await browser.root.waitFor({ state: 'detached' });
  assert.equal(await pathField.inputValue(), '', 'Escape picks nothing');
  await dialog.waitFor();
  await page.getByTestId('backbone-import-path-browse').press('Enter');
  await browser.shows(s.home);
  await browser.arrowTo('models');
  await page.keyboard.press('Enter');
  await browser.shows(models);
  await browser.arrowTo('mobilenet.onnx');
  assert.equal(await browser.root.getByTestId('folder-chosen').innerText(), 'mobilenet.onnx');
  await s.shot('60b-onnx-import-file-browser');
  await page.keyboard.press('Enter');
  await browser.root.waitFor({ state: 'detached' });
  assert.equal(await pathField.inputValue(), backboneFile);
  assert.ok(await pathField.evaluate((el) => el === document.activeElement), 'the focus is back on the path field');
  assert.equal(await page.getByTestId('backbone-import-name').inputValue(), 'mobilenet', 'the name follows the file');
  await page.getByTestId('backbone-import-start').click();
  await page.getByTestId('backbone-import-progress').waitFor();
  await page.getByTestId('backbone-import-done').waitFor({ timeout: 240_000 });
  await s.shot('61-onnx-import-done');
  await page.getByTestId('backbone-import-close').click();
  await dialog.waitFor({ state: 'detached' });
  // Chosen for the run, and its input size taken.
  assert.equal(await page.getByTestId('cfg-backbone').inputValue(), 'mobilenet');
  assert.equal(await page.getByTestId('cfg-image-size').inputValue(), '32');
  const listed = await hostApi(served, 'backbones:list', {});
  assert.deepEqual(listed.map((b) => [b.name, b.source, b.imageSize]), [['mobilenet', 'imported', 32]]);

  // Train with it: one tiny epoch (head only, on cached features).
  await train.setNumber('cfg-epochs', 1);
  await train.setNumber('cfg-head-epochs', 1);
  await train.setNumber('cfg-batch', 8);
  await train.setChecked('cfg-early-stopping', false);
  await train.train();
  await train.waitForStatus('finished', 300_000);
  const { id: runId } = await train.selected();
  const run = (await hostApi(served, 'runs:get', { runId })).run;
  assert.equal(run.config.arch, 'backbone');
  assert.equal(run.config.backbone, 'mobilenet');
  await s.shot('62-onnx-trained');
  // The run as a Loupe bundle beside the ONNX files: the Evaluate dialog's browser offers it as a model.
  const bundle = join(models, 'run-1-bundle');
  const { jobId: exportJob } = await hostApi(served, 'export:model', { runId, outDir: bundle, formats: ['tfjs'] });
  const exported = await pollUntil('the bundle export', async () => {
    const j = (await hostApi(served, 'jobs:list', {})).find((x) => x.jobId === exportJob);
    return j && j.state !== 'running' ? j : undefined;
  });
  assert.equal(exported.state, 'succeeded', exported.message);

  // A foreign 3-class classifier, evaluated from the Evaluate view.
  const foreign = join(models, 'vendor-classifier.onnx');
  const bytes = tinyClassifier({ classes: 3, inputShape: [1, 3, 8, 8] });
  writeFileSync(foreign, bytes);
  const evaluate = new EvaluatePage(page);
  await evaluate.open();
  await page.getByTestId('eval-external-open').click();
  await page.getByTestId('external-dialog').waitFor();
  await page.getByTestId('external-path').fill(join(models, 'mobilenet.onnx'));
  await page.getByTestId('external-path-browse').click();
  await browser.shows(models);
  assert.deepEqual(await browser.entryNames(), ['archive', 'run-1-bundle', 'mobilenet.onnx', 'vendor-classifier.onnx']);
  assert.equal(await browser.root.locator('[data-name="run-1-bundle"]').getAttribute('data-kind'), 'bundle');
  await s.shot('63a-onnx-external-file-browser');
  await browser.root.locator('[data-name="vendor-classifier.onnx"]').dblclick();
  await browser.root.waitFor({ state: 'detached' });
  assert.equal(await page.getByTestId('external-path').inputValue(), foreign);
  await page.getByTestId('external-classes').fill('normal\npneumonia\neffusion\nextra');
  await page.getByTestId('external-start').click();
  // Four names for three outputs: refused with the counts, nothing stored.
  const extError = page.getByTestId('external-error');
  await extError.waitFor({ timeout: 120_000 });
  assert.match(await extError.innerText(), /gives 3 outputs per image, but 4 class names were given/);
  assert.deepEqual(await hostApi(served, 'evaluations:listExternal', {}), []);
  await page.getByTestId('external-classes').fill('normal, pneumonia, effusion');
  await page.getByTestId('external-preprocess').selectOption('unit');
  await page.getByTestId('external-start').click();
  const banner = page.getByTestId('eval-external-banner');
  await banner.waitFor({ timeout: 120_000 });
  await evaluate.summary.waitFor();
  const sha = createHash('sha256').update(bytes).digest('hex');
  const bannerText = await banner.innerText();
  assert.match(bannerText, /External model vendor-classifier\.onnx/);
  assert.ok(bannerText.includes(sha), bannerText);
  assert.ok(!bannerText.includes(s.tmp), 'the file name only, not its folder');

  const stored = await hostApi(served, 'evaluations:listExternal', {});
  assert.equal(stored.length, 1);
  const detail = await hostApi(served, 'evaluations:get', { evaluationId: stored[0]!.id });
  assert.equal(await evaluate.accuracy(), `${(detail.metrics!.accuracy * 100).toFixed(1)}%`);
  const cells = await evaluate.cells();
  assert.equal(cells.length, 9, 'a 3 × 3 clickable matrix');
  assert.equal(cells.reduce((a, c) => a + c.count, 0), detail.n);
  await s.shot('63-onnx-external-evaluation');

  // Its PDF report, from the banner: the external model's name and hash, no run.
  await page.getByTestId('eval-external-report').click();
  await evaluate.dialog.waitFor();
  assert.match(await page.locator('#export-title').innerText(), /Report on external model vendor-classifier\.onnx/);
  await page.getByTestId('export-start').click();
  await page.getByTestId('export-result').waitFor({ timeout: 120_000 });
  await s.shot('64-onnx-external-report');
  const reports = (await hostApi(served, 'jobs:list', {})).filter((j) => j.kind === 'report' && j.state === 'succeeded');
  assert.equal(reports.length, 1);
  const pdf = (reports[0]!.result as { path: string }).path;
  const text = spawnSync('pdftotext', ['-layout', pdf, '-'], { encoding: 'utf8' }).stdout.replace(/\s+/g, '');
  assert.ok(text.includes(`externalmodelvendor-classifier.onnxsha256${sha}`), 'the report names the external model and its hash');

  // Relabeling an evaluated image makes the evaluation on screen stale; Re-evaluate runs the same file again.
  await page.getByTestId('export-close').click();
  await evaluate.dialog.waitFor({ state: 'detached' });
  const { items } = await hostApi(served, 'images:query', { filter: { evaluation: { id: stored[0]!.id } }, limit: 1 });
  const classes = await hostApi(served, 'classes:list', {});
  const other = classes.find((c) => c.id !== items[0]!.classId && ['normal', 'pneumonia', 'effusion'].includes(c.name))!;
  await hostApi(served, 'labels:set', { imageIds: [items[0]!.id], classId: other.id });
  const stale = page.getByTestId('stale-banner');
  await stale.waitFor({ timeout: 30_000 });
  assert.match(await stale.innerText(), /1 image relabeled since this evaluation/);
  // The model-file list says so too, without leaving the view.
  const externalOptions = () => page.getByTestId('eval-external-history').locator('option').allInnerTexts();
  await page.waitForFunction(() => [...document.querySelectorAll('[data-testid="eval-external-history"] option')].some((o) => /· 1 stale$/.test(o.textContent ?? '')), undefined, { timeout: 5_000 });
  await s.shot('63b-onnx-external-stale');
  // The status bar holds more jobs than fit by now: each is shown whole or not at all (none cut at the left edge).
  const jobs = await page.evaluate(() => {
    const bar = document.querySelector('[data-testid="status-bar"] .jobs')!.getBoundingClientRect();
    const boxes = [...document.querySelectorAll('[data-testid="job"]')].map((j) => j.getBoundingClientRect());
    const shown = boxes.filter((r) => r.top < bar.bottom);
    return { all: boxes.length, shown: shown.length, cut: shown.filter((r) => r.left < bar.left - 0.5 || r.right > bar.right + 0.5).length };
  });
  assert.ok(jobs.shown >= 1 && jobs.cut === 0, JSON.stringify(jobs));
  await page.getByTestId('eval-external-reevaluate').click();
  await stale.waitFor({ state: 'detached', timeout: 120_000 });
  const again = await hostApi(served, 'evaluations:listExternal', {});
  assert.equal(again.length, 2);
  assert.equal(again[0]!.stale, 0);
  assert.equal(again[0]!.external!.sha256, sha);
  assert.equal(await evaluate.summary.getAttribute('data-evaluation-id'), String(again[0]!.id));
  assert.match(await banner.innerText(), /External model vendor-classifier\.onnx/);
  const options = await externalOptions();
  assert.equal(options.length, 3, `the placeholder and both evaluations: ${options.join(' | ')}`);
  assert.deepEqual(options.map((o) => / · 1 stale$/.test(o)), [false, false, true], 'the new evaluation is current, the old one still stale');
  await hostApi(served, 'labels:undo', {});

  // The bundle, picked by keyboard (Enter on a bundle picks it; it names its own classes), evaluated as well.
  await page.getByTestId('eval-external-open').click();
  await page.getByTestId('external-dialog').waitFor();
  await page.getByTestId('external-classes').fill('');
  await page.getByTestId('external-path-browse').press('Enter');
  await browser.shows(s.home);
  await browser.arrowTo('models');
  await page.keyboard.press('Enter');
  await browser.shows(models);
  await browser.arrowTo('run-1-bundle');
  await page.keyboard.press('Enter');
  await browser.root.waitFor({ state: 'detached' });
  assert.equal(await page.getByTestId('external-path').inputValue(), bundle);
  await page.getByTestId('external-start').click();
  await page.getByTestId('external-dialog').waitFor({ state: 'detached', timeout: 120_000 });
  await pollUntil('the bundle evaluation', async () => ((await hostApi(served, 'evaluations:listExternal', {})).length === 3 ? true : undefined));
  assert.match(await banner.innerText(), /run-1-bundle/);
  await s.shot('65-onnx-bundle-evaluation');
  assert.deepEqual(s.pageErrors, []);
});
