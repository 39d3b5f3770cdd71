// E2E (issue 17): cross-validation from the UI against a real `loupe serve`. The split dialog holds out a test
// share and puts every other image into k folds in one step, and says what will be trained and evaluated on what;
// three tiny fold runs train for real in set-up (the Train button has its own test); the Evaluate workspace
// evaluates every fold on its held-out images, shows the per-fold table with mean ± std and the pooled out-of-fold
// matrix, and a click on a pooled cell opens exactly its images, from every fold. Screenshots in tests/.artifacts/.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import type { Served } from './support/serve.ts';
import { ARTIFACTS, openSession, type Session } from './support/session.ts';
import { createSampleProject, hostApi, pollUntil } from './support/host-api.ts';
import { MainPage } from './pages/main-page.ts';
import { LabelPage } from './pages/label-page.ts';
import { EvaluatePage } from './pages/evaluate-page.ts';

const PER_CLASS = 12;

let s: Session;
let served: Served;
let page: Page;

before(async () => {
  s = await openSession({ name: 'cv', viewport: { width: 1360, height: 900 } });
  ({ served, page } = s);
  await createSampleProject(served, join(s.tmp, 'project'), PER_CLASS);
});

after(() => s?.close());

test('k folds plus a test set in one step, every fold judged on its own images, the pooled matrix clicked into', async (t) => {
  const main = new MainPage(page);
  const label = new LabelPage(page);
  const d = label.splitDialog;
  let foldImages = 0;

  await t.test('the split dialog makes a test set and k folds in one step, and says what each run will see', async () => {
    await page.goto(served.url);
    await main.waitForCount('all', PER_CLASS * 3);
    await label.openSplits();
    await d.getByTestId('ratio-train').fill('60');
    await d.getByTestId('ratio-val').fill('20');
    await d.getByTestId('ratio-test').fill('20');
    await d.getByTestId('folds-k').fill('3');
    assert.match(await d.getByTestId('folds-what').innerText(), /Holds out 20% as the test set and puts every other image into 3 stratified folds/);
    await d.getByTestId('assign-folds').click();
    await d.getByTestId('fold-plan').waitFor();
    const summary = await hostApi(served, 'splits:summary', {});
    assert.equal(summary.folds, 3);
    assert.equal(summary.totals.unassigned, 0);
    foldImages = summary.foldCounts.reduce((a, b) => a + b, 0);
    assert.equal(foldImages + summary.totals.test, PER_CLASS * 3, 'every image is in the test set or in one fold');
    assert.ok(summary.totals.test >= 6 && summary.totals.test <= 9, `${summary.totals.test} test images`);
    const plan = await d.getByTestId('fold-plan').innerText();
    assert.match(plan, new RegExp(`${foldImages} images in 3 folds \\(${summary.foldCounts.join(' / ')}\\)`));
    assert.match(plan, new RegExp(`The ${summary.totals.test} test images are in no fold`));
    await s.shot('cv-1-split-dialog');
    await page.keyboard.press('Escape');
  });

  await t.test('the Evaluate workspace evaluates every fold and shows the cross-validation', async () => {
    const runs = await hostApi(served, 'training:start', {
      config: { arch: 'lenet5', imageSize: 24, channels: 1, epochs: 2, batchSize: 8, augment: {}, dropout: 0, earlyStopping: null, seed: 3, folds: true },
      name: 'cv',
    });
    assert.equal(runs.length, 3);
    for (const r of runs) {
      const done = await pollUntil(`fold run ${r.id}`, async () => {
        const run = (await hostApi(served, 'runs:get', { runId: r.id })).run;
        return run.status === 'finished' || run.status === 'failed' ? run : undefined;
      });
      assert.equal(done.status, 'finished', done.error ?? '');
    }
    const ev = new EvaluatePage(page);
    await ev.open();
    await page.getByTestId('eval-run').selectOption(String(runs[1]!.id));
    const panel = page.getByTestId('cv-panel');
    await panel.waitFor();
    assert.equal(await page.getByTestId('eval-split-val').innerText(), 'Held-out fold');
    await panel.getByTestId('cv-evaluate').click();
    await panel.getByTestId('cv-pooled-summary').waitFor({ timeout: 180_000 });

    const cv = await hostApi(served, 'evaluations:crossValidation', { runId: runs[0]!.id });
    const cells = await panel.getByTestId('cv-fold-n').evaluateAll((els) => els.map((e) => [Number(e.getAttribute('data-n')), Number(e.getAttribute('data-size'))]));
    assert.deepEqual(cells, cv.folds.map((f) => [f.size, f.size]), 'each fold is judged on exactly its held-out images');
    assert.equal(cv.pooled!.n, foldImages);
    assert.equal(Number(await panel.getByTestId('cv-pooled-summary').getAttribute('data-n')), foldImages);
    const accuracyMean = panel.locator('[data-testid="cv-metric"][data-metric="accuracy"] [data-testid="cv-mean"]');
    assert.equal(Number(await accuracyMean.getAttribute('data-mean')), cv.aggregate!.summary.accuracy.mean);
    assert.match(await accuracyMean.innerText(), /^\d+(\.\d)?% ± \d+(\.\d)?%$/);
    const matrix = panel.getByTestId('cv-matrix');
    const counts = await matrix.getByTestId('cm-cell').evaluateAll((els) =>
      els.map((e) => ({ label: Number(e.getAttribute('data-label')), predicted: Number(e.getAttribute('data-predicted')), count: Number(e.getAttribute('data-count')) })),
    );
    assert.equal(counts.reduce((a, c) => a + c.count, 0), foldImages, 'the pooled matrix holds every fold image once');
    assert.deepEqual(
      counts.map((c) => c.count),
      cv.pooled!.metrics.confusionMatrix.matrix.flat(),
    );
    // The chosen fold's own evaluation shows below, on its held-out images only.
    await page.getByTestId('cv-this-fold').waitFor();
    const own = cv.folds.find((f) => f.runId === runs[1]!.id)!;
    assert.equal(Number(await page.getByTestId('eval-summary').getAttribute('data-evaluation-id')), own.evaluationId);
    await page.screenshot({ path: join(ARTIFACTS, 'cv-2-evaluate.png'), fullPage: true });

    // A pooled cell opens its images from every fold: the grid shows them, and they are the fold predictions' images.
    const nonEmpty = counts.filter((c) => c.count > 0);
    const cell = nonEmpty.find((c) => c.label !== c.predicted) ?? nonEmpty[0]!;
    await matrix.locator(`[data-testid="cm-cell"][data-label="${cell.label}"][data-predicted="${cell.predicted}"]`).click();
    await main.waitForGrid(cell.count);
    const [id, ...pool] = cv.pooled!.evaluationIds;
    const expected = await hostApi(served, 'images:ids', { filter: { evaluation: { id: id!, pool, label: cell.label, predicted: cell.predicted } }, sort: 'name' });
    assert.equal(expected.ids.length, cell.count);
    const shown = await page.locator('[data-testid="grid-cell"][data-id]').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-id'))));
    assert.deepEqual([...shown].sort((a, b) => a - b), [...expected.ids].sort((a, b) => a - b));
    assert.equal(await page.getByTestId('prediction-badge').count(), cell.count, 'each image shows its out-of-fold prediction');
    await s.shot('cv-3-pooled-cell');
    assert.deepEqual(s.pageErrors, []);
  });
});
