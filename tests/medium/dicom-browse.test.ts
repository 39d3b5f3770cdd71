/**
 * The DICOM parts of browsing on a real project (issue 11): the filters' values and counts, the grid filtered by
 * modality / body part / view / series through indexes, the Details tag table, the viewer's raw samples windowed
 * exactly as the pipeline (thumbnails, training) windows them, MONOCHROME1 inverted, and patient leakage warned
 * about by pseudonym.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { LoupeCore } from '../../electron/core/api/loupe-core.ts';
import { runImport } from '../../electron/core/import/importer.ts';
import { pageSql } from '../../electron/core/images/queries.ts';
import { renderMedia } from '../../electron/core/images/media.ts';
import { readDicom, renderFrame, type DicomImage } from '../../electron/core/dicom/image.ts';
import { parseRequest, type DicomHeader, type ImageFilter } from '../../shared/contract.ts';
import { decodeRaw } from '../../shared/transport.ts';
import { applyDicomWindow, initialDicomWindow } from '../../renderer/lib/dicom-window.ts';
import { writeCtSeries, type CtPatient } from '../helpers/ct-series.ts';
import { recordingContext } from '../fixtures/import-context.ts';
import { tempDir } from '../helpers/tmp.ts';

const PATIENTS: CtPatient[] = [
  { id: 'PAT-0001', name: 'Doe^Jane', folder: 'lesion/p1', lesion: true, slices: 3 },
  { id: 'PAT-0002', name: 'Roe^Richard', folder: 'normal/p2', lesion: false, slices: 3 },
  { id: 'PAT-0003', name: 'Müller^Jürgen', folder: 'normal/p3', lesion: false, slices: 2, modality: 'MR', bodyPart: 'HEAD' },
  { id: 'PAT-0004', name: 'Poe^Edgar', folder: 'lesion/p4', lesion: true, slices: 2, photometric: 'MONOCHROME1' },
];

async function project() {
  const dir = tempDir();
  const src = join(dir, 'src');
  writeCtSeries(src, PATIENTS);
  const core = new LoupeCore({ face: 'cli', configDir: join(dir, 'config') });
  const p = core.openProject(join(dir, 'project'), { create: true });
  const report = await runImport(p, [src], 'folders', recordingContext());
  assert.equal(report.added, 10, JSON.stringify(report.errors));
  return { core, p, src };
}

async function idsOf(core: LoupeCore, filter: ImageFilter): Promise<string[]> {
  const page = await core.dispatch('images:query', { filter, limit: 100 });
  const details = await Promise.all(page.items.map((i) => core.dispatch('images:get', { id: i.id })));
  return details.map((d) => d.relPath).sort();
}

test('facets count each value; the grid filters by modality, body part, view and series through indexes', async () => {
  const { core, p } = await project();
  const facets = await core.dispatch('dicom:facets', {});
  assert.equal(facets.images, 10);
  assert.deepEqual(facets.modalities, [{ value: 'CT', count: 8 }, { value: 'MR', count: 2 }]);
  assert.deepEqual(facets.bodyParts, [{ value: 'CHEST', count: 8 }, { value: 'HEAD', count: 2 }]);
  assert.deepEqual(facets.views, [], 'no View Position in these headers');
  assert.equal(facets.series.length, 4);
  // Series that share a description are told apart by their UID's tail.
  const labels = facets.series.map((s) => s.label);
  assert.equal(labels.filter((l) => /^CHEST axial …[\d.]{6} \(CT\)$/.test(l)).length, 3, labels.join(' | '));
  assert.equal(new Set(labels).size, 4);
  assert.ok(labels.includes('HEAD axial (MR)'), labels.join(' | '));

  assert.deepEqual(await idsOf(core, { dicom: { modality: 'MR' } }), ['normal/p3/IM0001', 'normal/p3/IM0002']);
  assert.equal((await idsOf(core, { dicom: { modality: 'CT' } })).length, 8);
  assert.equal((await idsOf(core, { dicom: { modality: 'CT', bodyPart: 'HEAD' } })).length, 0);
  const series = facets.series.find((s) => s.label.startsWith('HEAD'))!;
  assert.deepEqual(await idsOf(core, { dicom: { series: series.value } }), ['normal/p3/IM0001', 'normal/p3/IM0002']);
  // Combined with a view of the sidebar (a class) as the grid sends it.
  const normal = (await core.dispatch('classes:list', {})).find((c) => c.name === 'normal')!;
  assert.equal((await idsOf(core, { classId: normal.id, dicom: { modality: 'CT' } })).length, 3);

  p.db.exec('ANALYZE');
  for (const [key, index] of [['modality', 'dicom_by_modality'], ['bodyPart', 'dicom_by_body_part'], ['view', 'dicom_by_view'], ['series', 'dicom_by_series']] as const) {
    const sql = pageSql(parseRequest('images:query', { filter: { dicom: { [key]: 'X' } } }));
    const plan = (p.db.prepare(`EXPLAIN QUERY PLAN ${sql.page}`).all(...sql.params, 200, 0) as { detail: string }[]).map((r) => r.detail).join(' | ');
    assert.match(plan, new RegExp(`USING (COVERING )?INDEX ${index}\\b`), `${key}: ${plan}`);
    assert.doesNotMatch(plan, /SCAN dicom_images/, `${key}: ${plan}`);
  }
  await core.shutdown();
});

function tagValue(h: DicomHeader, keyword: string): string | undefined {
  return h.tags.find((t) => t.keyword === keyword)?.value;
}

test('the tag table names every element; presets come from the tags, plus the CT presets for CT only', async () => {
  const { core } = await project();
  const all = (await core.dispatch('images:query', { limit: 100 })).items;
  const byPath = new Map(await Promise.all(all.map(async (i) => [(await core.dispatch('images:get', { id: i.id })).relPath, i.id] as const)));
  const ct = await core.dispatch('dicom:header', { id: byPath.get('lesion/p1/IM0001')! });
  assert.deepEqual(ct.tags.find((t) => t.keyword === 'PatientName'), { tag: '(0010,0010)', keyword: 'PatientName', vr: 'PN', value: 'Doe^Jane' });
  assert.equal(tagValue(ct, 'TransferSyntaxUID'), '1.2.840.10008.1.2.1', 'the file meta group is listed');
  assert.equal(tagValue(ct, 'Rows'), '48');
  assert.equal(tagValue(ct, 'WindowCenter'), '40\\-600');
  assert.equal(tagValue(ct, 'PixelData'), `(${48 * 48 * 2} bytes)`);
  assert.deepEqual(
    ct.presets.map((p) => [p.name, p.center, p.width, p.source]),
    [['SOFT TISSUE', 40, 400, 'tags'], ['LUNG', -600, 1500, 'tags'], ['Lung', -600, 1500, 'ct'], ['Bone', 300, 1500, 'ct'], ['Brain', 40, 80, 'ct'], ['Soft tissue', 40, 400, 'ct']],
  );
  assert.deepEqual(ct.raw, { storedMin: 0, slope: 1, intercept: -1024, invert: false });

  const mr = await core.dispatch('dicom:header', { id: byPath.get('normal/p3/IM0001')! });
  assert.equal(tagValue(mr, 'PatientName'), 'Müller^Jürgen', 'decoded in the Specific Character Set (ISO_IR 100)');
  assert.deepEqual(mr.presets.map((p) => p.source), ['tags', 'tags'], 'no CT presets for MR');
  await core.shutdown();
});

async function windowedInViewer(core: LoupeCore, id: number, header: DicomHeader, preset: number): Promise<Uint8Array> {
  const raw = decodeRaw(new Uint8Array((await renderMedia(core.requireProject(), 'raw', id)).body).buffer);
  const rgba = new Uint8ClampedArray(raw.width * raw.height * 4);
  const w = preset === 0 ? initialDicomWindow(header.presets, raw, header.raw!) : { ...header.presets[preset]! };
  applyDicomWindow(raw, header.raw!, w, rgba);
  return Uint8Array.from({ length: raw.width * raw.height }, (_, i) => rgba[i * 4]!);
}

test('the viewer windows the raw samples exactly as the pipeline does, MONOCHROME1 inverted', async () => {
  const { core, src } = await project();
  const items = (await core.dispatch('images:query', { limit: 100 })).items;
  for (const item of items) {
    const detail = await core.dispatch('images:get', { id: item.id });
    assert.equal(detail.dicom, true);
    const header = await core.dispatch('dicom:header', { id: item.id });
    const img = readDicom(readFileSync(join(src, detail.relPath))) as DicomImage;
    for (const preset of [0, 1]) {
      const p = header.presets[preset]!;
      const pipeline = await renderFrame(img, 0, { kind: 'window', center: p.center, width: p.width, fn: p.fn });
      assert.deepEqual(await windowedInViewer(core, item.id, header, preset), pipeline.data, `${detail.relPath} preset ${preset}`);
    }
    if (detail.relPath.startsWith('lesion/p4/')) {
      assert.equal(header.raw!.invert, true);
      // Air is stored high in MONOCHROME1: above the window, then inverted, it is black as in the other slices.
      assert.equal((await windowedInViewer(core, item.id, header, 0))[0], 0);
    }
  }
  await core.shutdown();
});

test('patients across splits are warned about by pseudonym; a split by Patient ID keeps each patient in one split', async () => {
  const { core } = await project();
  const patientsBySplit = async () => {
    const rows = core.requireProject().db
      .prepare(`SELECT d.patient_id AS patient, i.split FROM dicom_images d JOIN images i ON i.id = d.image_id`)
      .all() as { patient: string; split: string | null }[];
    const m = new Map<string, Set<string | null>>();
    for (const r of rows) m.set(r.patient, (m.get(r.patient) ?? new Set()).add(r.split));
    return m;
  };
  const grouped = await core.dispatch('splits:assign', { ratios: [0.5, 0.5, 0], seed: 3, groupBy: { kind: 'dicom', field: 'PatientID' } });
  for (const [patient, splits] of await patientsBySplit()) assert.equal(splits.size, 1, `${patient} in ${[...splits].join(', ')}`);
  assert.equal(grouped.groups, 4);
  assert.ok(!grouped.warnings.some((w) => w.kind === 'patient-across-splits' || w.kind === 'group-across-splits'));

  // Move one image of a patient elsewhere: the warning speaks of a patient, named by pseudonym, never by ID.
  const ids = await core.dispatch('images:ids', { filter: { search: 'p1/IM0001' } });
  const first = await core.dispatch('images:get', { id: ids.ids[0]! });
  const other = (['train', 'val'] as const).find((s) => s !== first.split)!;
  await core.dispatch('splits:move', { imageIds: ids.ids, split: other });
  const summary = await core.dispatch('splits:summary', {});
  const warning = summary.warnings.find((w) => w.kind === 'patient-across-splits');
  assert.ok(warning, JSON.stringify(summary.warnings));
  assert.match(warning.message, /^1 patient has images in more than one split \(patient leakage\)/);
  assert.deepEqual(warning.items, [first.groupKey], 'the same pseudonym the split stored as the group key');
  assert.ok(!summary.warnings.some((w) => w.kind === 'group-across-splits'), 'the same patient is not told twice');
  assert.doesNotMatch(JSON.stringify(summary), /PAT-000|Doe|Jane/);
  await core.shutdown();
});
