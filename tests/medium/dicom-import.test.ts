/**
 * DICOM through the importer: files found by content (with and without extension), images with their header
 * facts stored (schema 9), files without image data counted apart, bad files with their reasons, thumbnails as
 * the first window preset shows the image, and the training path through the same pixel pipeline.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { runImport } from '../../electron/core/import/importer.ts';
import { summarizeProject } from '../../electron/core/images/queries.ts';
import { decodeForModel } from '../../electron/core/images/model-input.ts';
import { readDicom, renderFrame } from '../../electron/core/dicom/image.ts';
import { newProject, recordingContext } from '../fixtures/import-context.ts';
import { PYDICOM_FILES, loadReference } from '../helpers/dicom-reference.ts';
import { part10, pixelData, pixelTags } from '../helpers/dicom-writer.ts';
import { tempDir } from '../helpers/tmp.ts';

loadReference();

const FILES: Record<string, string> = {
  'CT_small.dcm': 'ct/CT_small', // no extension: found by its content
  'MR_small.dcm': 'mr/mr_a.dcm',
  'MR_small_jpeg_ls_lossless.dcm': 'mr/mr_b.dcm', // the same instance (same SOP Instance UID), other bytes
  'SC_rgb_rle_2frame.dcm': 'sc/rgb2',
  'ExplVR_LitEndNoMeta.dcm': 'raw/plan', // a bare data set without preamble, and no pixel data
  'rtplan.dcm': 'rt/plan.dcm',
  'test-SR.dcm': 'sr/report',
  'waveform_ecg.dcm': 'ecg/ecg.dcm',
  'MR_truncated.dcm': 'bad/truncated.dcm',
  'JPGExtended.dcm': 'nm/jpeg12', // 12-bit lossy JPEG (Process 4)
};

async function importPydicomFiles() {
  const dir = tempDir();
  const src = join(dir, 'src');
  for (const [from, to] of Object.entries(FILES)) {
    mkdirSync(join(src, to, '..'), { recursive: true });
    copyFileSync(join(PYDICOM_FILES, from), join(src, to));
  }
  writeFileSync(join(src, 'ct', 'notes'), 'no extension, plain text: not DICOM, not an image');
  const p = newProject(dir);
  const report = await runImport(p, [src], 'folders', recordingContext());
  return { p, src, report };
}

test('a DICOM folder imports: images, no-image files apart, bad files with reasons, header facts stored', async () => {
  const { p, src, report } = await importPydicomFiles();
  assert.equal(report.added, 5, JSON.stringify(report.errors));
  assert.equal(report.noImageData, 4);
  assert.equal(report.failed, 1);
  const reasons = Object.fromEntries(report.errors.map((e) => [e.path.slice(src.length + 1), e.reason]));
  assert.match(reasons['bad/truncated.dcm']!, /^truncated DICOM file/);
  assert.deepEqual(Object.keys(reasons), ['bad/truncated.dcm']);

  const s = summarizeProject(p);
  // images counts the files that imported: the error is listed under errors only (issue 15), and files
  // without image data are not rows.
  assert.equal(s.images, 5);
  assert.equal(s.errors.length, 1);
  assert.deepEqual(
    s.noImageData?.map((n) => [n.path.slice(src.length + 1), n.sopClass]).sort(),
    [['ecg/ecg.dcm', 'Waveform'], ['raw/plan', 'RT Ion Plan'], ['rt/plan.dcm', 'RT Plan'], ['sr/report', 'Structured Report']],
  );
  // Same SOP Instance UID stored twice: both imported, shown as duplicates.
  assert.ok(s.duplicates.some((g) => g.length === 2 && g.every((x) => x.includes('/mr/'))), JSON.stringify(s.duplicates));

  const ct = p.db
    .prepare(
      `SELECT i.format, i.width, i.height, i.bit_depth, i.pages, d.* FROM images i JOIN dicom_images d ON d.image_id = i.id
       WHERE i.rel_path = 'ct/CT_small'`,
    )
    .get() as Record<string, unknown>;
  const expected = loadReference().files['CT_small.dcm']!;
  assert.equal(ct['format'], 'dicom');
  assert.equal(ct['sop_instance_uid'], expected['SOPInstanceUID']);
  assert.equal(ct['patient_id'], expected['PatientID']);
  assert.equal(ct['study_instance_uid'], expected['StudyInstanceUID']);
  assert.equal(ct['series_instance_uid'], expected['SeriesInstanceUID']);
  assert.equal(ct['modality'], 'CT');
  assert.equal(ct['photometric'], 'MONOCHROME2');
  assert.equal(ct['rows'], 128);
  assert.equal(ct['frames'], 1);
  assert.deepEqual([ct['pixel_spacing_row'], ct['pixel_spacing_col']], expected['PixelSpacing']);
  const rgb = p.db.prepare(`SELECT i.pages, i.note, d.frame FROM images i JOIN dicom_images d ON d.image_id = i.id WHERE i.rel_path = 'sc/rgb2'`).get() as Record<string, unknown>;
  assert.deepEqual({ ...rgb }, { pages: 2, note: 'multi-frame DICOM with 2 frames: frame 1 (the middle one) is used', frame: 0 });
  // The 12-bit lossy JPEG imports with its header facts and its 12-bit depth.
  const nm = p.db
    .prepare(`SELECT i.width, i.height, i.bit_depth, d.modality, d.rows, d.columns FROM images i JOIN dicom_images d ON d.image_id = i.id WHERE i.rel_path = 'nm/jpeg12'`)
    .get() as Record<string, unknown>;
  assert.deepEqual({ ...nm }, { width: 256, height: 1024, bit_depth: 12, modality: 'NM', rows: 1024, columns: 256 });

  // Re-import: the images are unchanged, errors are tried again, the no-image files are still listed once.
  const again = await runImport(p, [src], 'folders', recordingContext());
  assert.deepEqual([again.unchanged, again.added, again.failed], [5, 0, 1]);
  assert.equal(again.noImageData, 4);
  assert.equal(summarizeProject(p).noImageData?.length, 4);
  const plan = p.db.prepare(`EXPLAIN QUERY PLAN SELECT image_id FROM dicom_images WHERE sop_instance_uid = ?`).all('x') as { detail: string }[];
  assert.ok(plan.some((r) => /dicom_by_sop/.test(r.detail)), JSON.stringify(plan));
});

test('the thumbnail shows the image as its first window preset does', async () => {
  const { p } = await importPydicomFiles();
  const { sha256 } = p.db.prepare(`SELECT sha256 FROM images WHERE rel_path = 'mr/mr_a.dcm'`).get() as { sha256: string };
  const thumbPath = join(p.thumbDir, sha256.slice(0, 2), `${sha256}.webp`);
  assert.ok(existsSync(thumbPath), thumbPath);
  const mr = readDicom(readFileSync(join(PYDICOM_FILES, 'MR_small.dcm')));
  assert.equal(mr.kind, 'image');
  if (mr.kind !== 'image') return;
  assert.deepEqual(mr.presets.map((w) => [w.center, w.width]), [[600, 1600]]);
  const windowed = await renderFrame(mr, 0);
  const fullRange = await renderFrame(mr, 0, { kind: 'full-range' });
  const thumb = await sharp(thumbPath).greyscale().raw().toBuffer({ resolveWithObject: true });
  assert.equal(thumb.info.width, 64);
  const mean = (a: Uint8Array) => a.reduce((x, y) => x + y, 0) / a.length;
  // The two renderings differ enough for the thumbnail to tell which one it is.
  assert.ok(Math.abs(mean(windowed.data) - mean(fullRange.data)) > 10, `${mean(windowed.data)} vs ${mean(fullRange.data)}`);
  assert.ok(Math.abs(mean(thumb.data) - mean(windowed.data)) < 3, `${mean(thumb.data)} vs ${mean(windowed.data)}`);
});

test('training input goes through the DICOM pixel pipeline: MONOCHROME1 is the inverse of MONOCHROME2', async () => {
  const values = new Uint8Array(new Uint16Array(Array.from({ length: 64 }, (_, i) => i * 64)).buffer);
  const file = (photometric: string) => part10([...pixelTags({ rows: 8, columns: 8, bits: 16, stored: 12, photometric }), pixelData(values)]);
  const shape = { imageSize: 8, channels: 1, resize: 'squash' } as const;
  const range = { min: null, max: null };
  const m2 = await decodeForModel(file('MONOCHROME2'), shape, range, 1e8);
  const m1 = await decodeForModel(file('MONOCHROME1'), shape, range, 1e8);
  assert.equal(m2.pixels[0], 0);
  assert.equal(m2.pixels[63], 255);
  assert.deepEqual([...m1.pixels], [...m2.pixels].map((v) => 255 - v));
});

test('splits group by DICOM Patient ID or Study Instance UID: a patient never spans two splits', async () => {
  const dir = tempDir();
  const src = join(dir, 'src');
  mkdirSync(src, { recursive: true });
  for (let patient = 0; patient < 8; patient++) {
    for (let k = 0; k < 3; k++) {
      const values = new Uint8Array(8).map((_, i) => (patient * 31 + k * 7 + i) % 256);
      writeFileSync(
        join(src, `img_${patient}_${k}`),
        part10([
          ...pixelTags({ bits: 8 }).filter((e) => e.tag !== 0x00080018),
          { tag: 0x00080018, vr: 'UI', value: `1.2.826.0.1.${patient}.${k}` },
          { tag: 0x00100020, vr: 'LO', value: `PAT${patient}` },
          { tag: 0x0020000d, vr: 'UI', value: `1.2.826.0.2.${patient}.${k % 2}` },
          pixelData(values, 'OB'),
        ]),
      );
    }
  }
  const p = newProject(dir);
  const report = await runImport(p, [src], 'none', recordingContext());
  assert.equal(report.added, 24, JSON.stringify(report.errors));
  const { assignSplits } = await import('../../electron/core/splits/splits.ts');
  const spans = (column: string) =>
    p.db
      .prepare(`SELECT d.${column} AS k, COUNT(DISTINCT i.split) AS n FROM images i JOIN dicom_images d ON d.image_id = i.id GROUP BY d.${column}`)
      .all() as { k: string; n: number }[];
  assignSplits(p.db, { ratios: [0.5, 0.25, 0.25], seed: 3, groupBy: { kind: 'dicom', field: 'PatientID' } });
  assert.equal(spans('patient_id').length, 8);
  assert.ok(spans('patient_id').every((r) => r.n === 1), JSON.stringify(spans('patient_id')));
  const used = p.db.prepare(`SELECT COUNT(DISTINCT split) AS n FROM images`).get() as { n: number };
  assert.equal(used.n, 3, 'the patients are spread over the three splits');
  assignSplits(p.db, { ratios: [0.5, 0.25, 0.25], seed: 4, groupBy: { kind: 'dicom', field: 'StudyInstanceUID' } });
  assert.equal(spans('study_instance_uid').length, 16);
  assert.ok(spans('study_instance_uid').every((r) => r.n === 1));
  // The stored (and CSV-exported) group keys are pseudonyms: no Patient ID or Study UID in them.
  const groupKeys = (p.db.prepare(`SELECT DISTINCT group_key FROM images`).pluck().all() as string[]);
  assert.ok(groupKeys.every((k) => /^study-[0-9a-f]{16}$/.test(k)), groupKeys.join(','));
  const { exportLabelsCsv } = await import('../../electron/core/labels/labels-csv.ts');
  assignSplits(p.db, { ratios: [0.5, 0.25, 0.25], seed: 3, groupBy: { kind: 'dicom', field: 'PatientID' } });
  const { csv } = exportLabelsCsv(p.db);
  assert.ok(!/PAT\d|1\.2\.826\.0\.2/.test(csv), 'no patient or study identifier in the labels CSV');
  assert.match(csv, /patient-[0-9a-f]{16}/);
  const { parseGroupBy } = await import('../../electron/cli/commands/split.ts');
  assert.deepEqual(parseGroupBy('dicom:PatientID'), { kind: 'dicom', field: 'PatientID' });
  assert.throws(() => parseGroupBy('dicom:PatientName'), /dicom: takes PatientID or StudyInstanceUID/);
});

test('labels from a DICOM attribute: --labels dicom:BodyPartExamined (or a tag) names the classes', async () => {
  const dir = tempDir();
  const src = join(dir, 'src');
  mkdirSync(src, { recursive: true });
  const parts = ['CHEST', 'HAND', 'CHEST', 'KNEE', 'HAND', 'CHEST'];
  parts.forEach((part, k) => {
    writeFileSync(
      join(src, `x${k}.dcm`),
      part10([
        ...pixelTags({ bits: 8 }).filter((e) => e.tag !== 0x00080018),
        { tag: 0x00080018, vr: 'UI', value: `1.2.826.0.3.${k}` },
        { tag: 0x00180015, vr: 'CS', value: part },
        pixelData(new Uint8Array(8).fill(k * 20), 'OB'),
      ]),
    );
  });
  writeFileSync(join(src, 'unlabeled.dcm'), part10([...pixelTags({ bits: 8 }), pixelData(new Uint8Array(8), 'OB')]));
  const p = newProject(dir);
  const report = await runImport(p, [src], 'dicom:BodyPartExamined', recordingContext());
  assert.equal(report.added, 7, JSON.stringify(report.errors));
  const s = summarizeProject(p);
  assert.deepEqual(s.classes.map((c) => [c.name, c.count]), [['CHEST', 3], ['HAND', 2], ['KNEE', 1]]);
  assert.equal(s.unlabeled, 1);
  const byTag = newProject(tempDir());
  await runImport(byTag, [src], 'dicom:0018,0015', recordingContext());
  assert.deepEqual(summarizeProject(byTag).classes.map((c) => c.name), ['CHEST', 'HAND', 'KNEE']);
  await assert.rejects(runImport(newProject(tempDir()), [src], 'dicom:NoSuchKeyword', recordingContext()), /Unknown DICOM attribute "NoSuchKeyword"/);
});

test('multi-frame files imported frame by frame: file#N images, each decoded, shown and re-imported as its frame', async () => {
  const dir = tempDir();
  const src = join(dir, 'src');
  mkdirSync(src, { recursive: true });
  copyFileSync(join(PYDICOM_FILES, 'rtdose.dcm'), join(src, 'dose'));
  copyFileSync(join(PYDICOM_FILES, 'CT_small.dcm'), join(src, 'ct.dcm'));
  const p = newProject(dir);
  const report = await runImport(p, [src], 'none', recordingContext(), undefined, { dicomFrames: 'all' });
  assert.equal(report.added, 16, JSON.stringify(report.errors));
  const rows = p.db
    .prepare(`SELECT i.id, i.rel_path, i.sha256, i.note, d.frame FROM images i JOIN dicom_images d ON d.image_id = i.id WHERE i.rel_path LIKE 'dose#%' ORDER BY d.frame`)
    .all() as { id: number; rel_path: string; sha256: string; note: string; frame: number }[];
  assert.deepEqual(rows.map((r) => r.rel_path), Array.from({ length: 15 }, (_, k) => `dose#${k + 1}`));
  assert.deepEqual(rows.map((r) => r.frame), Array.from({ length: 15 }, (_, k) => k));
  assert.equal(new Set(rows.map((r) => r.sha256)).size, 15, 'each frame has its own content key');
  assert.equal(rows[2]!.note, 'frame 3 of 15');
  // Training input and thumbnails decode the row's own frame, from the file itself.
  const { renderMedia } = await import('../../electron/core/images/media.ts');
  const first = await renderMedia(p, 'image', rows[0]!.id);
  const last = await renderMedia(p, 'image', rows[14]!.id);
  assert.notDeepEqual(first.body, last.body);
  const dose = readDicom(readFileSync(join(src, 'dose')));
  assert.equal(dose.kind, 'image');
  if (dose.kind !== 'image') return;
  const shape = { imageSize: 16, channels: 1, resize: 'squash' } as const;
  const frame0 = await decodeForModel(readFileSync(join(src, 'dose')), shape, { min: null, max: null }, 1e8, 0);
  const frame14 = await decodeForModel(readFileSync(join(src, 'dose')), shape, { min: null, max: null }, 1e8, 14);
  assert.notDeepEqual([...frame0.pixels], [...frame14.pixels]);
  assert.ok((await renderMedia(p, 'thumb', rows[7]!.id)).body.length > 0);
  // Re-import: every frame unchanged, none missing.
  const again = await runImport(p, [src], 'none', recordingContext(), undefined, { dicomFrames: 'all' });
  assert.deepEqual([again.unchanged, again.added, again.missing], [16, 0, 0]);
});

test('a DICOM file moved and re-encoded is relinked by its SOP Instance UID: same image id, label kept', async () => {
  const { rmSync } = await import('node:fs');
  const dir = tempDir();
  const src = join(dir, 'src');
  mkdirSync(join(src, 'knee'), { recursive: true });
  copyFileSync(join(PYDICOM_FILES, 'MR_small.dcm'), join(src, 'knee', 'mr.dcm'));
  const p = newProject(dir);
  await runImport(p, [src], 'folders', recordingContext());
  const before = p.db.prepare(`SELECT id, class_id, sha256 FROM images`).get() as { id: number; class_id: number; sha256: string };
  assert.ok(before.class_id);
  rmSync(join(src, 'knee'), { recursive: true });
  mkdirSync(join(src, 'archive'), { recursive: true });
  // The same instance as JPEG-LS: other bytes, other hash, same SOP Instance UID.
  copyFileSync(join(PYDICOM_FILES, 'MR_small_jpeg_ls_lossless.dcm'), join(src, 'archive', 'mr_ls.dcm'));
  const report = await runImport(p, [src], 'folders', recordingContext());
  assert.deepEqual([report.relinked, report.added], [1, 0]);
  const after = p.db.prepare(`SELECT id, class_id, sha256, rel_path, status FROM images`).all() as { id: number; class_id: number; sha256: string; rel_path: string; status: string }[];
  assert.equal(after.length, 1);
  assert.deepEqual([after[0]!.id, after[0]!.class_id, after[0]!.rel_path, after[0]!.status], [before.id, before.class_id, 'archive/mr_ls.dcm', 'ok']);
  assert.notEqual(after[0]!.sha256, before.sha256);
});
