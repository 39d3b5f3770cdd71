// E2E: the Train view of a DICOM project (issue 11). CT slices imported and split by patient with the CLI, then in
// the browser: the advanced settings offer the DICOM window (the project has DICOM images), the CT lung preset is
// chosen, a tiny run trains, and the run records the choice in its config and preprocessing. A project without
// DICOM images does not show the select.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import type { Served } from './support/serve.ts';
import { openSession, type Session } from './support/session.ts';
import { loupeCli } from './support/cli.ts';
import { createSampleProject, hostApi } from './support/host-api.ts';
import { MainPage } from './pages/main-page.ts';
import { TrainPage } from './pages/train-page.ts';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'dicom', 'identified', 'scans');
let s: Session;
let served: Served;
let page: Page;

before(async () => {
  s = await openSession({
    name: 'dicom-train',
    viewport: { width: 1280, height: 820 },
    prepare: async ({ tmp, home }) => {
      const project = join(tmp, 'ct-project');
      cpSync(FIXTURES, join(tmp, 'scans'), { recursive: true });
      loupeCli(['import', project, join(tmp, 'scans')], home);
      loupeCli(['split', project, '--ratios', '0.34,0.33,0.33', '--seed', '1', '--group-by', 'dicom:PatientID'], home);
      return project;
    },
  });
  ({ served, page } = s);
});

after(() => s?.close());

test('a DICOM project trains with the window chosen in the Train view', async () => {
  await page.goto(served.url);
  await new MainPage(page).root.waitFor();
  const train = new TrainPage(page);
  await train.open();
  await train.openAdvanced();
  const select = page.getByTestId('cfg-dicom-window');
  await select.waitFor();
  assert.equal(await select.inputValue(), 'tags', "each image's own window by default");
  await train.select('cfg-dicom-window', 'preset:lung');
  await train.select('cfg-arch', 'lenet5');
  await train.setNumber('cfg-image-size', 16);
  await train.setNumber('cfg-batch', 4);
  await train.setNumber('cfg-epochs', 2);
  await s.shot('60-dicom-train-window');
  await train.train();
  await train.waitForStatus('finished', 180_000);
  const { id } = await train.selected();
  const { run } = await hostApi(served, 'runs:get', { runId: id });
  assert.deepEqual(run.config.dicomWindow, { kind: 'preset', name: 'lung' });
  assert.deepEqual(run.preprocessing?.dicomWindow, { kind: 'preset', name: 'lung' });

  // A fixed window shows its center and width.
  await train.select('cfg-dicom-window', 'fixed');
  await page.getByTestId('cfg-dicom-center').waitFor();

  // A project of PNGs: no DICOM window to choose.
  await createSampleProject(served, join(s.tmp, 'png-project'), 10);
  await page.reload();
  await new MainPage(page).root.waitFor();
  await train.open();
  await train.openAdvanced();
  await page.getByTestId('cfg-image-size').waitFor();
  assert.equal(await select.count(), 0);
});
