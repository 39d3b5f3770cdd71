// E2E (issue 3): splits from the UI on a project imported from `train/ test/` folders with a folder per patient.
// The test split from the folders is locked from the start; a re-split that keeps each patient folder together
// divides only the train images; unlocking frees the test ratio, and "lock afterwards" locks the new test set;
// k folds over the images outside the test split. What the dialog shows is checked against what the host stored.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import type { Page } from 'playwright-core';
import type { Served } from './support/serve.ts';
import { loupeCli } from './support/cli.ts';
import { hostApi } from './support/host-api.ts';
import { openSession, type Session } from './support/session.ts';
import { MainPage } from './pages/main-page.ts';
import { LabelPage } from './pages/label-page.ts';

const PER_PATIENT = 3;

/**
 * train/normal/p01…p08, train/pneumonia/p09…p16, test/normal/p17…p19, test/pneumonia/p20…p22: three scans each,
 * 66 images of 22 patients (48 in train, 18 in test).
 */
async function makeData(root: string): Promise<void> {
  const layout: [string, string, number, number][] = [
    ['train', 'normal', 1, 8],
    ['train', 'pneumonia', 9, 16],
    ['test', 'normal', 17, 19],
    ['test', 'pneumonia', 20, 22],
  ];
  let seed = 1;
  for (const [split, cls, from, to] of layout) {
    for (let p = from; p <= to; p++) {
      const dir = join(root, split, cls, `p${String(p).padStart(2, '0')}`);
      mkdirSync(dir, { recursive: true });
      for (let n = 1; n <= PER_PATIENT; n++, seed++) {
        const px = Buffer.alloc(20 * 20, seed & 0xff);
        px[0] = seed >> 8;
        writeFileSync(join(dir, `scan${n}.png`), await sharp(px, { raw: { width: 20, height: 20, channels: 1 } }).png().toBuffer());
      }
    }
  }
}

let s: Session;
let served: Served;
let page: Page;

before(async () => {
  s = await openSession({
    name: 'splits',
    viewport: { width: 1280, height: 860 },
    prepare: async ({ tmp, home }) => {
      await makeData(join(tmp, 'data'));
      const project = join(tmp, 'project');
      loupeCli(['import', project, join(tmp, 'data'), '--labels', 'folders'], home);
      return project;
    },
  });
  ({ served, page } = s);
});

after(() => s?.close());

/** Image ids per split, and the split of every patient folder, as stored. */
async function stored(): Promise<{ test: number[]; patients: Map<string, Set<string>> }> {
  const { items } = await hostApi(served, 'images:query', { filter: {}, sort: 'name', offset: 0, limit: 1000 });
  const test: number[] = [];
  const patients = new Map<string, Set<string>>();
  for (const it of items) {
    const detail = await hostApi(served, 'images:get', { id: it.id });
    if (detail.split === 'test') test.push(it.id);
    const patient = detail.relPath.split('/')[2]!;
    patients.set(patient, (patients.get(patient) ?? new Set()).add(detail.split ?? 'none'));
  }
  return { test: test.sort((a, b) => a - b), patients };
}

test('splits from folders: locked test set, patients kept together, unlock and lock again, k folds', async (t) => {
  const main = new MainPage(page);
  const ui = new LabelPage(page);
  const d = ui.splitDialog;
  let testIds: number[] = [];

  await t.test('a test split from a folder is locked from the start', async () => {
    await page.goto(served.url);
    await main.waitForCount('all', 66);
    await ui.openSplits();
    await d.getByTestId('test-locked').waitFor();
    assert.equal(await d.getByTestId('ratio-test').isDisabled(), true, 'no test ratio while the test set is locked');
    assert.equal(await d.getByTestId('ratio-train').inputValue(), '80');
    assert.equal(await d.getByTestId('ratio-val').inputValue(), '20');
    assert.deepEqual(await ui.summaryRow('normal'), { train: 24, val: 0, test: 9 });
    testIds = (await stored()).test;
    assert.equal(testIds.length, 18);
    await s.shot('split-1-locked-from-folders');
  });

  await t.test('a re-split by patient folder divides only the train images and keeps each patient whole', async () => {
    await d.getByTestId('group-kind').selectOption('folder');
    await d.getByTestId('group-level').fill('3');
    await page.waitForFunction(() => document.querySelector('[data-testid="group-count"]')?.textContent === '22');
    // Each example path with the patient folder it is grouped by.
    assert.match(await d.getByTestId('group-preview').innerText(), /(?:train|test)\/\w+\/(p\d\d)\/scan\d\.png\s*→ \1\b/);
    await d.getByTestId('assign-splits').click();
    await page.waitForFunction(() => document.querySelector('[data-testid="summary-row"][data-name="normal"] td[data-split="val"]')?.textContent !== '0');
    const normal = await ui.summaryRow('normal');
    assert.equal(normal.test, 9, 'the locked test images stay');
    assert.equal(normal.train + normal.val, 24);
    assert.equal(normal.val % PER_PATIENT, 0, 'whole patients move');
    const after = await stored();
    assert.deepEqual(after.test, testIds, 'not one test image moved');
    for (const [patient, splits] of after.patients) assert.equal(splits.size, 1, `${patient} sits in ${[...splits]}`);
    assert.equal(await d.locator('[data-kind="group-across-splits"]').count(), 0, 'no patient in two splits');
    await s.shot('split-2-by-patient-folder');
  });

  await t.test('unlock, re-split with a test share, and lock the new test set', async () => {
    await d.getByTestId('unlock-test').click();
    await d.getByTestId('test-locked').waitFor({ state: 'detached' });
    assert.equal(await d.getByTestId('ratio-test').isDisabled(), false);
    await d.getByTestId('ratio-train').fill('60');
    await d.getByTestId('ratio-val').fill('20');
    await d.getByTestId('ratio-test').fill('20');
    await d.getByTestId('lock-test').check();
    await d.getByTestId('assign-splits').click();
    await d.getByTestId('test-locked').waitFor();
    const summary = await hostApi(served, 'splits:summary', {});
    assert.equal(summary.testLocked, true);
    const after = await stored();
    assert.notDeepEqual(after.test, testIds, 'the test set was drawn again');
    assert.equal(after.test.length % PER_PATIENT, 0);
    for (const [patient, splits] of after.patients) assert.equal(splits.size, 1, `${patient} sits in ${[...splits]}`);
    testIds = after.test;
    assert.equal(await d.getByTestId('ratio-test').isDisabled(), true);
  });

  await t.test('k folds over the images outside the test split; bad k refused', async () => {
    await d.getByTestId('folds-k').fill('11');
    await d.getByTestId('assign-folds').click();
    assert.match(await d.getByTestId('split-error').innerText(), /2 to 10/);
    await d.getByTestId('folds-k').fill('4');
    await d.getByTestId('assign-folds').click();
    await d.getByTestId('fold-counts').waitFor();
    const shown = (await d.getByTestId('fold-counts').getAttribute('data-folds'))!.split(',').map(Number);
    const summary = await hostApi(served, 'splits:summary', {});
    assert.equal(summary.folds, 4);
    assert.deepEqual(shown, summary.foldCounts);
    assert.equal(shown.reduce((a, b) => a + b, 0), summary.totals.train + summary.totals.val, 'every image outside test in one fold');
    assert.ok(shown.every((n) => n % PER_PATIENT === 0), `whole patients per fold: ${shown}`);
    assert.ok(Math.max(...shown) - Math.min(...shown) <= PER_PATIENT, `folds within one patient of each other: ${shown}`);
    assert.deepEqual((await stored()).test, testIds, 'folds leave the test set alone');
    await s.shot('split-3-folds');
    await page.keyboard.press('Escape');
    assert.deepEqual(s.pageErrors, []);
  });
});
