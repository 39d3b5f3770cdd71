// E2E (issue 11): a DICOM folder through the UI against a real `loupe serve`. pydicom's own test files (CT without
// an extension, MR twice, a J2K nuclear medicine image, RGB RLE, an RT plan without pixels, a truncated MR) beside
// generated CT series of eight patients in two class folders. Import it, filter by modality, read the tag table,
// window the CT in the viewer (tag presets, CT presets, W to cycle, right-drag, R to reset: the canvas pixels change
// each time), split by patient (no patient in two splits, checked through the host API; a moved image raises a
// warning that speaks of a patient), train one tiny epoch and evaluate. Screenshots go to tests/.artifacts/.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import type { Served } from './support/serve.ts';
import { hostApi } from './support/host-api.ts';
import { openSession, type Session } from './support/session.ts';
import { MainPage } from './pages/main-page.ts';
import { StartPage } from './pages/start-page.ts';
import { ImportDialogPage } from './pages/import-dialog.ts';
import { ViewerPage } from './pages/viewer-page.ts';
import { LabelPage } from './pages/label-page.ts';
import { TrainPage } from './pages/train-page.ts';
import { EvaluatePage } from './pages/evaluate-page.ts';
import { PYDICOM_FILES } from '../helpers/dicom-reference.ts';
import { writeCtSeries, type CtPatient } from '../helpers/ct-series.ts';
import { readDicom, type DicomImage } from '../../electron/core/dicom/image.ts';

const PYDICOM: Record<string, string> = {
  'CT_small.dcm': 'CT_small',
  'MR_small.dcm': 'MR_small.dcm',
  'MR_small_RLE.dcm': 'MR_small_RLE.dcm',
  'JPEG2000.dcm': 'NM_J2K.dcm',
  'SC_rgb_rle.dcm': 'SC_rgb_rle.dcm',
  'rtplan.dcm': 'rtplan.dcm',
  'MR_truncated.dcm': 'MR_truncated.dcm',
};

const PATIENTS: CtPatient[] = Array.from({ length: 8 }, (_, i) => ({
  id: `HOSP-${1000 + i}`,
  name: `Patient^Number${i}`,
  folder: `${i % 2 ? 'lesion' : 'normal'}/p${i}`,
  lesion: i % 2 === 1,
  slices: 2,
  ...(i === 7 ? { photometric: 'MONOCHROME1' as const } : {}),
}));
const CT_SLICES = 16;
// CT_small, MR_small, MR_small_RLE, NM_J2K, SC_rgb_rle; the RT plan has no pixels and the truncated MR fails.
const PYDICOM_IMAGES = 5;

let s: Session;
let served: Served;
let page: Page;

before(async () => {
  s = await openSession({
    name: 'dicom',
    viewport: { width: 1360, height: 860 },
    prepare: async ({ tmp }) => {
      const data = join(tmp, 'data');
      mkdirSync(data, { recursive: true });
      for (const [from, to] of Object.entries(PYDICOM)) copyFileSync(join(PYDICOM_FILES, from), join(data, to));
      writeCtSeries(data, PATIENTS);
    },
  });
  ({ served, page } = s);
});

after(() => s?.close());

/** Image id by its path relative to the import folder, from the host. */
async function idOf(relPath: string): Promise<number> {
  const { ids } = await hostApi(served, 'images:ids', { filter: { search: relPath } });
  for (const id of ids) if ((await hostApi(served, 'images:get', { id })).relPath === relPath) return id;
  throw new Error(`no image ${relPath}`);
}

test('a DICOM folder: import, filter, tags, window presets and drag, split by patient, train, evaluate', async (t) => {
  const main = new MainPage(page);
  const all = CT_SLICES + PYDICOM_IMAGES;

  await t.test('import the folder from the UI', async () => {
    await page.goto(served.url);
    const start = new StartPage(page);
    await start.root.waitFor();
    await start.createProject(join(s.tmp, 'home'), 'CT study');
    await main.openImport();
    const dialog = new ImportDialogPage(page);
    await dialog.addFolder(join(s.tmp, 'data'));
    const preview = await dialog.preview();
    assert.deepEqual(Object.keys(preview.classes).sort(), ['lesion', 'normal']);
    await dialog.useFolderLabels();
    await dialog.start();
    await main.waitForCount('all', all);
    await main.waitForCount('errors', 1);
    await page.locator('[data-testid="job"][data-state="succeeded"]').waitFor();
    assert.deepEqual(await main.classCounts(), { lesion: 8, normal: 8 });
    const summary = await hostApi(served, 'project:summary', {});
    assert.deepEqual(summary.noImageData?.map((n) => n.path.split('/').pop()), ['rtplan.dcm']);
  });

  await t.test('filter by modality and series from the sidebar', async () => {
    await page.getByTestId('dicom-filters').waitFor();
    const modalities = await page.getByTestId('dicom-filter-modality').locator('option').allInnerTexts();
    assert.deepEqual(modalities, ['Any', 'CT (17)', 'MR (2)', 'NM (1)', 'OT (1)']);
    await main.dicomFilter('modality', 'MR');
    await main.waitForGrid(2);
    assert.deepEqual((await main.cellNames()).sort(), ['MR_small.dcm', 'MR_small_RLE.dcm']);
    await main.dicomFilter('modality', 'CT');
    await main.waitForGrid(CT_SLICES + 1);
    await main.waitForThumbnails();
    await s.shot('dicom-01-filtered-ct');
    // One series: a patient's two slices (the generated series share a description, so their UIDs tell them apart).
    const series = page.getByTestId('dicom-filter-series');
    const labels = await series.locator('option').evaluateAll((os) => (os as HTMLOptionElement[]).map((o) => ({ value: o.value, label: o.textContent ?? '' })));
    // Described series first, by description; pydicom's files without one come last, by UID.
    const undescribed = labels.slice(1).map((o) => o.label.startsWith('…'));
    assert.deepEqual(undescribed, [...undescribed].sort((a, b) => Number(a) - Number(b)), labels.map((o) => o.label).join(' | '));
    const option = labels[1]!;
    assert.match(option.label, /^CHEST axial …[\d.]{6} \(CT\) \(2\)$/);
    await main.dicomFilter('series', option.value);
    await main.waitForGrid(2);
    const inSeries = await hostApi(served, 'images:query', { filter: { dicom: { modality: 'CT', series: option.value } } });
    const folders = await Promise.all(inSeries.items.map(async (i) => (await hostApi(served, 'images:get', { id: i.id })).relPath.replace(/\/IM\d+$/, '')));
    assert.equal(new Set(folders).size, 1, folders.join(', '));
    await main.dicomFilter('series', '');
    // Narrowing a class view: the filters combine with whichever view is chosen.
    await main.classView('lesion').click();
    await main.waitForGrid(8);
    await page.getByTestId('dicom-filter-clear').click();
    await main.waitForGrid(8);
    await page.getByTestId('view-all').click();
    await main.waitForGrid(all);
  });

  const sliceId = await idOf('lesion/p1/IM0001');

  await t.test('the Details panel lists the header, filtered as you type', async () => {
    await main.dicomFilter('modality', 'CT');
    await main.waitForGrid(CT_SLICES + 1);
    await main.selectById(sliceId);
    const tags = page.getByTestId('dicom-tags');
    await tags.getByTestId('dicom-tag-row').first().waitFor();
    assert.equal(await tags.getByTestId('dicom-tag-row').count(), 29, 'the meta group and every element of the data set');
    await tags.getByTestId('dicom-tag-search').fill('patientname');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="dicom-tag-row"]').length === 1);
    const row = tags.getByTestId('dicom-tag-row');
    assert.deepEqual(await row.locator('span').allInnerTexts(), ['PatientName', 'PN', '(0010,0010)', 'Patient^Number1']);
    // By tag, typed as it is written: window center, width, rescale intercept, slope, explanation.
    await tags.getByTestId('dicom-tag-search').fill('(0028,105');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="dicom-tag-row"]').length === 5);
    assert.deepEqual(await tags.getByTestId('dicom-tag-row').evaluateAll((rs) => rs.map((r) => r.getAttribute('data-keyword'))), [
      'WindowCenter', 'WindowWidth', 'RescaleIntercept', 'RescaleSlope', 'WindowCenterWidthExplanation',
    ]);
    await s.shot('dicom-02-tags');
    await tags.getByTestId('dicom-tag-search').fill('');
  });

  await t.test('the viewer windows the CT: presets, W to cycle, right-drag, R to reset', async () => {
    await page.getByTestId('open-viewer').click();
    const viewer = new ViewerPage(page);
    await viewer.waitOpen();
    await viewer.waitDrawn('40/400/LINEAR');
    const soft = await viewer.canvasDigest();
    assert.equal((await viewer.dicomWindow()).text, 'C 40 W 400');
    const options = await viewer.root.getByTestId('dicom-preset').locator('option').allInnerTexts();
    assert.deepEqual(options, [
      'SOFT TISSUE · 40/400', 'LUNG · -600/1500', 'Lung · -600/1500', 'Bone · 300/1500', 'Brain · 40/80', 'Soft tissue · 40/400',
    ]);
    await s.shot('dicom-03-viewer-soft-tissue');

    await page.keyboard.press('w');
    await viewer.waitDrawn('-600/1500/LINEAR');
    const lung = await viewer.canvasDigest();
    assert.notEqual(lung, soft, 'the lung window shows other pixels');
    assert.equal((await viewer.dicomWindow()).text, 'C -600 W 1500');
    await s.shot('dicom-04-viewer-lung');

    await viewer.choosePreset(/^Bone/);
    await viewer.waitDrawn('300/1500/LINEAR');
    assert.notEqual(await viewer.canvasDigest(), lung);
    await viewer.root.focus();

    // Right-drag: to the right widens the window, up raises its center.
    await viewer.rightDrag(120, -80);
    const dragged = await viewer.dicomWindow();
    assert.ok(dragged.width > 1500, `wider: ${dragged.text}`);
    assert.ok(dragged.center > 300, `higher center: ${dragged.text}`);
    await viewer.waitDrawn(`${dragged.center}/${dragged.width}/LINEAR`);
    assert.equal(await viewer.root.getByTestId('dicom-preset').inputValue(), '-1', 'the menu says Custom');
    await s.shot('dicom-05-viewer-dragged');

    await page.keyboard.press('r');
    await viewer.waitDrawn('40/400/LINEAR');
    assert.equal(await viewer.canvasDigest(), soft, 'reset shows the first preset again');
    await viewer.close();
  });

  await t.test('MONOCHROME1 shows as the other slices do', async () => {
    const inverted = await idOf('lesion/p7/IM0001');
    const plain = await idOf('lesion/p5/IM0001');
    const viewer = new ViewerPage(page);
    const digestOf = async (id: number, window: string) => {
      await main.selectById(id);
      await page.getByTestId('open-viewer').click();
      await viewer.waitOpen();
      await viewer.waitDrawn(window);
      const mean = await viewer.canvasMean();
      await viewer.close();
      return mean;
    };
    // Same anatomy, so about the same mean grey: bright body, black air, whichever way the file stores it.
    const m1 = await digestOf(inverted, '3031/400/LINEAR');
    const m2 = await digestOf(plain, '40/400/LINEAR');
    assert.ok(Math.abs(m1 - m2) < 2, `MONOCHROME1 mean ${m1}, MONOCHROME2 mean ${m2}`);
  });

  await t.test('a colour DICOM shows its display frame, without a window to drag', async () => {
    const viewer = new ViewerPage(page);
    await main.dicomFilter('modality', '');
    await main.waitForGrid(all);
    await main.selectById(await idOf('SC_rgb_rle.dcm'));
    await page.getByTestId('open-viewer').click();
    await viewer.waitOpen();
    assert.deepEqual(await viewer.imageSize(), { w: 100, h: 100 });
    assert.equal(await viewer.root.getByTestId('dicom-window').count(), 0);
    await viewer.close();
  });

  await t.test('split by patient: no patient in two splits; a moved slice is a patient leak', async () => {
    await main.dicomFilter('modality', '');
    const label = new LabelPage(page);
    await label.openSplits();
    const d = label.splitDialog;
    assert.equal(await d.getByTestId('group-kind').inputValue(), 'dicom-patient', 'DICOM projects group by patient first');
    await d.getByTestId('group-preview').getByText(/patients/).waitFor();
    await d.getByTestId('ratio-train').fill('50');
    await d.getByTestId('ratio-val').fill('25');
    await d.getByTestId('ratio-test').fill('25');
    await d.getByTestId('assign-splits').click();
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="count-split-test"]')?.textContent) > 0);

    const bySplit = new Map<string, Set<string>>();
    const { items } = await hostApi(served, 'images:query', { limit: 100 });
    for (const it of items) {
      const detail = await hostApi(served, 'images:get', { id: it.id });
      const patient = /^(?:lesion|normal)\/(p\d)\//.exec(detail.relPath)?.[1] ?? detail.groupKey ?? detail.relPath;
      bySplit.set(patient, (bySplit.get(patient) ?? new Set()).add(detail.split ?? 'none'));
    }
    for (const [patient, splits] of bySplit) assert.equal(splits.size, 1, `${patient} sits in ${[...splits]}`);
    assert.ok(!(await label.warningKinds()).includes('patient-across-splits'));

    const moved = await hostApi(served, 'images:get', { id: sliceId });
    const elsewhere = moved.split === 'train' ? 'val' : 'train';
    await hostApi(served, 'splits:move', { imageIds: [sliceId], split: elsewhere });
    const warning = d.locator('[data-testid="split-warning"][data-kind="patient-across-splits"]');
    await warning.waitFor();
    assert.match(await warning.innerText(), /1 patient has images in more than one split \(patient leakage\)/);
    assert.doesNotMatch(await warning.innerText(), /HOSP-|Patient\^/, 'named by pseudonym only');
    await s.shot('dicom-06-split-leak');
    await hostApi(served, 'splits:move', { imageIds: [sliceId], split: moved.split });
    await warning.waitFor({ state: 'detached' });
    await page.keyboard.press('Escape');
  });

  await t.test('train one tiny epoch and evaluate on the test patients', async () => {
    const train = new TrainPage(page);
    await train.open();
    assert.ok(['wasm', 'tfjs-node', 'tfjs-node-gpu', 'cpu'].includes(await train.engineName()));
    await train.openAdvanced();
    await train.select('cfg-arch', 'lenet5');
    await train.setNumber('cfg-image-size', 32);
    await train.setNumber('cfg-batch', 4);
    await train.setNumber('cfg-epochs', 1);
    await train.train();
    await train.waitForStatus('finished', 60_000);
    const ev = new EvaluatePage(page);
    await ev.open();
    await ev.evaluate('test');
    assert.match(await ev.accuracy(), /^\d+(\.\d)?%$/);
    const cells = await ev.cells();
    assert.equal(cells.reduce((n, c) => n + c.count, 0), 4, 'one test patient of each class, two slices each');
    await s.shot('dicom-07-evaluation');
  });

  await t.test('export the dataset as de-identified DICOM with the dates removed, chosen in the dialog', async () => {
    const ev = new EvaluatePage(page);
    await page.getByTestId('eval-report').click();
    await ev.dialog.waitFor();
    await page.getByTestId('export-tab-dataset').click();
    await page.getByTestId('dataset-format').selectOption('dicom');
    const contents = page.getByTestId('export-contents');
    await contents.filter({ hasText: 'dates moved back by each patient' }).waitFor();
    await page.getByTestId('dataset-remove-dates').check();
    await contents.filter({ hasText: 'without dates' }).waitFor();
    const out = join(s.tmp, 'deidentified');
    await page.getByTestId('export-folder').fill(out);
    await s.shot('dicom-08-export-deidentified');
    await page.getByTestId('export-start').click();
    await page.getByTestId('export-result').waitFor({ timeout: 120_000 });
    await page.getByTestId('export-close').click();
    await ev.dialog.waitFor({ state: 'detached' });

    const files = (readdirSync(out, { recursive: true }) as string[]).filter((f) => f.endsWith('.dcm'));
    assert.ok(files.length >= CT_SLICES, `${files.length} DICOM files`);
    for (const f of files) {
      const content = readDicom(readFileSync(join(out, f)));
      assert.equal(content.kind, 'image', f);
      const ds = (content as DicomImage).parsed.dataSet;
      // Study, series, acquisition and content dates: emptied, not moved.
      for (const tag of ['x00080020', 'x00080021', 'x00080022', 'x00080023']) assert.equal(ds.string(tag)?.trim() ?? '', '', `${f} ${tag}`);
      assert.doesNotMatch(`${ds.string('x00100010') ?? ''} ${ds.string('x00100020') ?? ''}`, /Patient\^Number|HOSP-1/, f);
    }
  });

  // The tag table showed patient names and IDs on screen; the host wrote none of them to its log.
  assert.doesNotMatch(served.log(), /Patient\^Number|HOSP-1/);
  assert.deepEqual(s.pageErrors, []);
});
