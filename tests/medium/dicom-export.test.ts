/**
 * Dataset export of a DICOM project (issue 11): pydicom's real test files (and one that says Burned In Annotation)
 * imported into a real project, exported as png (equal to the training pixels), png16 / tiff16 (equal to the
 * modality values plus the recorded offset, read back with sharp) and de-identified DICOM (read back with dcmtk's
 * dcmdump and with Loupe's own parser: pixels as stored, no identifying value of any source header and no source
 * path anywhere in the export, UIDs consistent within a study and across re-exports). Bad input: a vanished source
 * and an output folder that cannot be written give clear messages.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import sharp from 'sharp';
import type { DataSet } from 'dicom-parser';
import { LoupeCore } from '../../electron/core/api/loupe-core.ts';
import { decodeFrame, readDicom, type DicomImage } from '../../electron/core/dicom/image.ts';
import { applyModalityLut } from '../../electron/core/dicom/windowing.ts';
import { BASIC_PROFILE } from '../../electron/core/dicom/deid-profile.ts';
import { decodeForModel } from '../../electron/core/images/model-input.ts';
import { parseCsv, csvText } from '../../shared/csv.ts';
import type { ExportReport, Job } from '../../shared/contract.ts';
import * as img from '../fixtures/images.ts';
import { PYDICOM_FILES } from '../helpers/dicom-reference.ts';
import { part10, pixelData, pixelTags } from '../helpers/dicom-writer.ts';
import { tempDir } from '../helpers/tmp.ts';

// Paths that name a patient, as PACS exports often do: they must not reach the export.
const PATIENT_DIR = 'Zorblax^Quentin-5521';
const FILES: Record<string, string> = {
  'CT_small.dcm': `ct/${PATIENT_DIR}/CT_small`,
  'MR_small.dcm': `mr/${PATIENT_DIR}/mr-explicit.dcm`,
  'MR_small_implicit.dcm': `mr/${PATIENT_DIR}/mr-implicit.dcm`,
  'MR_small_bigendian.dcm': `mr/${PATIENT_DIR}/mr-bigendian.dcm`,
  'MR_small_jpeg_ls_lossless.dcm': `mr/${PATIENT_DIR}/mr-jpegls.dcm`,
  'JPEG2000.dcm': `ct/${PATIENT_DIR}/j2k.dcm`,
  'SC_rgb_rle_2frame.dcm': `sc/${PATIENT_DIR}/rgb-rle`,
  'image_dfl.dcm': `sc/${PATIENT_DIR}/deflated.dcm`,
};
const BURNED = `sc/${PATIENT_DIR}/burned.dcm`;
const BURNED_NAME = 'Burnwell^Ophelia';
let dir: string;
let src: string;
let core: LoupeCore;

function burnedInFile(): Buffer {
  const values = new Uint16Array([10, 20, 30, 40]);
  return part10([
    ...pixelTags(),
    { tag: 0x00080018, vr: 'UI', value: '1.2.826.0.1.3680043.8.498.4417' },
    { tag: 0x0020000d, vr: 'UI', value: '1.2.826.0.1.3680043.8.498.4418' },
    { tag: 0x00100010, vr: 'PN', value: BURNED_NAME },
    { tag: 0x00100020, vr: 'LO', value: 'BURN-7731' },
    { tag: 0x00280301, vr: 'CS', value: 'YES' },
    pixelData(new Uint8Array(values.buffer)),
  ]);
}

before(async () => {
  dir = tempDir('loupe-dicom-export-');
  src = join(dir, 'Hospital-Export-8842');
  for (const [from, to] of Object.entries(FILES)) {
    mkdirSync(join(src, to, '..'), { recursive: true });
    copyFileSync(join(PYDICOM_FILES, from), join(src, to));
  }
  writeFileSync(join(src, BURNED), burnedInFile());
  mkdirSync(join(src, 'photos'), { recursive: true });
  writeFileSync(join(src, 'photos', 'plain.png'), await img.png({ width: 8, height: 8, seed: 3 }));
  core = new LoupeCore({ face: 'cli', configDir: join(dir, 'config') });
  core.openProject(join(dir, 'project'), { create: true, name: 'dicom-export' });
  const job = await core.jobs.wait((await core.dispatch('import:start', { folders: [src], labels: 'none' })).jobId);
  assert.equal(job.state, 'succeeded', job.message);
  const project = core.requireProject();
  const rows = project.db.prepare(`SELECT id, rel_path FROM images WHERE status = 'ok'`).all() as { id: number; rel_path: string }[];
  assert.equal(rows.length, Object.keys(FILES).length + 2, JSON.stringify(rows));
  const classes = new Map<string, number>();
  for (const r of rows) {
    const name = r.rel_path.split('/')[0]!;
    if (!classes.has(name)) classes.set(name, (await core.dispatch('classes:create', { name })).id);
    project.db.prepare(`UPDATE images SET class_id = ?, split = 'train' WHERE id = ?`).run(classes.get(name)!, r.id);
  }
});

async function exportAs(name: string, extra: Record<string, unknown>): Promise<{ out: string; report: ExportReport }> {
  const out = join(dir, name);
  const job: Job = await core.jobs.wait((await core.dispatch('export:dataset', { outDir: out, ...extra })).jobId);
  assert.equal(job.state, 'succeeded', job.message);
  return { out, report: job.result as ExportReport };
}

function filesUnder(root: string): string[] {
  return readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((f) => statSync(join(root, f)).isFile()).map((f) => join(root, f));
}

/** The rows of labels.csv: exported path → label, and the mapping file's exported → original. */
function csvRows(file: string): string[][] {
  return parseCsv(readFileSync(file, 'utf8')).rows.slice(1).map((r) => r.fields.map(csvText));
}

function dicomOf(file: string): DicomImage {
  const content = readDicom(readFileSync(file));
  assert.equal(content.kind, 'image', file);
  return content as DicomImage;
}

/**
 * Attributes that name or identify a patient, a visit or a place (with every UID the profile replaces). Times of
 * day are not among them: the longitudinal option keeps them, and without their (moved) dates they name no visit.
 */
const IDENTIFYING = new Set([
  'PatientName', 'PatientID', 'PatientBirthDate', 'PatientBirthTime', 'OtherPatientIDs', 'OtherPatientNames', 'PatientAddress',
  'AccessionNumber', 'InstitutionName', 'InstitutionAddress', 'InstitutionalDepartmentName', 'ReferringPhysicianName',
  'PerformingPhysicianName', 'NameOfPhysiciansReadingStudy', 'PhysiciansOfRecord', 'OperatorsName', 'RequestingPhysician',
  'StudyID', 'StationName', 'DeviceSerialNumber', 'StudyDate', 'SeriesDate', 'AcquisitionDate', 'ContentDate',
  'InstanceCreationDate', 'RequestedProcedureID',
]);

/** The source headers' values of the identifying attributes (nested sequences too). */
function identifyingValues(): Set<string> {
  const acted = new Set(
    BASIC_PROFILE.filter(([, keyword, action]) => IDENTIFYING.has(keyword) || action === 'U').map(([tag]) => `x${tag.toString(16).padStart(8, '0')}`),
  );
  const found = new Set<string>([BURNED_NAME, 'BURN-7731']);
  const visit = (ds: DataSet) => {
    for (const [key, el] of Object.entries(ds.elements)) {
      if (el.items) el.items.forEach((it) => it.dataSet && visit(it.dataSet));
      else if (acted.has(key) && el.length > 0 && el.length < 256) {
        for (const v of (ds.string(key) ?? '').split('\\')) if (v.trim().length >= 4) found.add(v.trim());
      }
    }
  };
  for (const from of Object.keys(FILES)) {
    const content = readDicom(readFileSync(join(PYDICOM_FILES, from)));
    assert.equal(content.kind, 'image');
    visit((content as DicomImage).parsed.dataSet);
  }
  return found;
}

/**
 * Every file in `out` (names and bytes, any case) checked for each needle as a whole token: Institution Name
 * "TOSHIBA" must go, the Manufacturer "TOSHIBA_MEC" the profile keeps may stay.
 */
function leaks(out: string, needles: Iterable<string>): string[] {
  const hay = filesUnder(out).map((f) => relative(out, f) + '\n' + readFileSync(f, 'latin1'));
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return [...needles].filter((n) => {
    const token = new RegExp(`(?<![A-Za-z0-9_.^])${escape(n)}(?![A-Za-z0-9_.^])`, 'i');
    return hay.some((h) => token.test(h));
  });
}

function sourcePaths(): string[] {
  return [src, 'Hospital-Export-8842', PATIENT_DIR, 'Zorblax', ...Object.values(FILES).flatMap((p) => p.split('/').slice(2)), 'burned.dcm'];
}

test('--format dicom: de-identified files dcmdump reads, pixels as stored, no identifier or source path, UIDs consistent', async () => {
  const mapping = join(dir, 'private', 'mapping.csv');
  const { out, report } = await exportAs('dicom', { format: 'dicom', mappingPath: mapping });
  assert.deepEqual(report.burnedInExcluded, [BURNED]);
  assert.equal(report.images, Object.keys(FILES).length + 1); // + the plain PNG, copied as it is
  assert.equal(report.mapping, mapping);

  const dcms = filesUnder(out).filter((f) => f.endsWith('.dcm'));
  assert.equal(dcms.length, Object.keys(FILES).length);
  for (const f of dcms) assert.match(relative(out, f), /^train\/(ct|mr|sc)\/img-[0-9a-f]{16}(-f\d+)?(-\d)?\.dcm$/);
  const values = identifyingValues();
  assert.ok(values.has('CompressedSamples^CT1') && values.has('4MR1') && [...values].some((v) => v.startsWith('1.3.6.1.4.1.5962')), [...values].join(' | '));
  assert.deepEqual(leaks(out, [...values, ...sourcePaths()]), []);

  // The mapping file, outside the export, is the one place with the original names.
  const rows = csvRows(mapping);
  assert.equal(rows.length, report.images);
  for (const [exported, original] of rows) {
    assert.ok(existsSync(join(out, exported!)), exported);
    assert.ok(existsSync(join(src, original!)), original);
  }

  const studies = new Map<string, string>();
  for (const f of dcms) {
    const dump = spawnSync('dcmdump', ['-q', '-M', f], { encoding: 'utf8' });
    assert.equal(dump.status, 0, dump.stderr);
    assert.doesNotMatch(dump.stdout + dump.stderr, /^[EW]:/m, f);
    assert.match(dump.stdout, /\(0012,0062\) CS \[YES\]/);
    // Private attributes (odd groups) are gone, nested ones too.
    assert.doesNotMatch(dump.stdout, /^\s*\([0-9a-f]{3}[13579bdf],[0-9a-f]{4}\)/im, f);
    assert.match(dump.stdout, /\(0008,0100\) SH \[113100\]/);
    assert.deepEqual([...values].filter((v) => dump.stdout.toLowerCase().includes(`[${v.toLowerCase()}]`)), [], f);
    // Loupe's parser: the same stored pixels as the source, and the study UID of the source's study, remapped.
    const [, original] = rows.find(([e]) => join(out, e!) === f)!;
    const before = dicomOf(join(src, original!));
    const after = dicomOf(f);
    // The multi-frame file was imported as its middle frame: that frame, as a single-frame instance (-f<N>).
    const frame = Number(/-f(\d+)(-\d)?\.dcm$/.exec(f)?.[1] ?? 1) - 1;
    assert.equal(after.pixel.frames, 1, f);
    assert.deepEqual(await decodeFrame(after, 0), await decodeFrame(before, frame), original);
    assert.equal(after.metadata.patientId, (await patientPseudonym(before)) ?? null);
    const sourceStudy = before.metadata.studyInstanceUid!;
    const study = after.metadata.studyInstanceUid!;
    assert.match(study, /^2\.25\.\d+$/);
    if (studies.has(sourceStudy)) assert.equal(studies.get(sourceStudy), study, 'one study, one new Study Instance UID');
    studies.set(sourceStudy, study);
  }
  assert.equal(new Set(studies.values()).size, studies.size, 'two studies never share a new UID');

  // A re-export gives the same UIDs (and so the same bytes); burned-in images come along when asked for.
  const again = await exportAs('dicom-again', { format: 'dicom', includeBurnedIn: true });
  assert.deepEqual(again.report.burnedInExcluded, []);
  const againFiles = filesUnder(again.out).filter((f) => f.endsWith('.dcm'));
  assert.equal(againFiles.length, dcms.length + 1);
  for (const f of dcms) assert.deepEqual(readFileSync(join(again.out, relative(out, f))), readFileSync(f));
  assert.deepEqual(leaks(again.out, [BURNED_NAME, 'BURN-7731', '4417', PATIENT_DIR]), []);
});

async function patientPseudonym(img: DicomImage): Promise<string | undefined> {
  const { pseudonym, pseudonymSecret } = await import('../../electron/core/project/pseudonyms.ts');
  return img.metadata.patientId ? pseudonym(pseudonymSecret(core.requireProject().db), 'patient', img.metadata.patientId) : undefined;
}

test('png16 and tiff16 hold the modality values plus the recorded offset; png holds the training pixels', async () => {
  const ct = dicomOf(join(src, FILES['CT_small.dcm']!));
  const expected = applyModalityLut((await decodeFrame(ct, 0)).values, ct.modality);
  for (const format of ['png16', 'tiff16'] as const) {
    const { out, report } = await exportAs(format, { format, mappingPath: join(dir, `${format}-mapping.csv`) });
    assert.deepEqual(report.burnedInExcluded, [BURNED]);
    const facts = JSON.parse(readFileSync(join(out, 'export.json'), 'utf8')) as { offset: number; formula: string };
    assert.ok(facts.offset > 0 && Math.min(...expected) + facts.offset >= 0, `offset ${facts.offset}`);
    assert.match(facts.formula, new RegExp(`pixel value - ${facts.offset}`));
    const ctFile = csvRows(join(dir, `${format}-mapping.csv`)).find(([, original]) => original === FILES['CT_small.dcm'])!;
    const { data, info } = await sharp(join(out, ctFile[0]!)).toColourspace('grey16').raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
    assert.equal(info.channels, 1);
    const got = new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2);
    assert.deepEqual(Array.from(got, (v) => v - facts.offset), Array.from(expected), format);
    assert.deepEqual(leaks(out, sourcePaths()), []);
    // The project's plain PNG comes along as 16 bits too, named by its path as before.
    const photo = csvRows(join(out, 'labels.csv')).find(([, , , source]) => source === 'photos/plain.png')!;
    assert.match(photo[0]!, format === 'png16' ? /photos__plain\.png$/ : /photos__plain\.tif$/);
    assert.equal((await sharp(join(out, photo[0]!)).metadata()).depth, 'ushort');
  }

  const { out } = await exportAs('png', { format: 'png' });
  const project = core.requireProject();
  const row = project.db.prepare(`SELECT min_value, max_value FROM images WHERE rel_path = ?`).get(FILES['CT_small.dcm']) as { min_value: number | null; max_value: number | null };
  const training = await decodeForModel(readFileSync(join(src, FILES['CT_small.dcm']!)), { imageSize: 128, channels: 1, resize: 'squash' }, { min: row.min_value, max: row.max_value }, 1e8);
  const pngs = csvRows(join(out, 'labels.csv')).filter(([p]) => p!.startsWith('train/ct/'));
  const decoded = await Promise.all(
    pngs.map(async ([p]) => ({ meta: await sharp(join(out, p!)).metadata(), data: await sharp(join(out, p!)).toColourspace('b-w').raw().toBuffer() })),
  );
  assert.ok(decoded.some(({ meta, data }) => meta.width === 128 && meta.channels === 1 && meta.depth === 'uchar' && Buffer.from(training.pixels).equals(data)), 'one CT png is the training input');
  assert.deepEqual(leaks(out, sourcePaths()), []);
});

test('no format: other images are copied as before, DICOM images become png (a copy would carry the header)', async () => {
  const { out, report } = await exportAs('plain', {});
  const rows = csvRows(join(out, 'labels.csv'));
  const photo = rows.find(([, , , source]) => source === 'photos/plain.png')!;
  assert.deepEqual(readFileSync(join(out, photo[0]!)), readFileSync(join(src, 'photos', 'plain.png')));
  assert.ok(rows.filter(([p]) => /\/img-[0-9a-f]{16}.*\.png$/.test(p!)).length >= Object.keys(FILES).length, JSON.stringify(rows));
  assert.ok(report.notes.some((n) => /DICOM images were written as 8-bit PNG/.test(n)), report.notes.join('\n'));
  assert.deepEqual(leaks(out, sourcePaths().filter((p) => p !== 'plain.png')), []);
});

test('bad input: a vanished source is left out with its reason; an output folder that cannot be written is refused', async () => {
  const gone = join(src, FILES['JPEG2000.dcm']!);
  const keep = readFileSync(gone);
  rmSync(gone);
  try {
    const { report } = await exportAs('vanished', { format: 'png16' });
    assert.ok(report.notes.some((n) => /1 image file is missing and left out: ct\/.*j2k\.dcm/.test(n)), report.notes.join('\n'));
    assert.equal(report.images, Object.keys(FILES).length); // 7 DICOM - 1 gone + the PNG
  } finally {
    writeFileSync(gone, keep);
  }
  // Root writes through permission bits, so a read-only file system stands in for a read-only folder there.
  let readOnly = join(dir, 'read-only');
  if (process.getuid?.() === 0) readOnly = '/sys/loupe-export-test';
  else {
    mkdirSync(readOnly);
    spawnSync('chmod', ['555', readOnly]);
  }
  await assert.rejects(core.dispatch('export:dataset', { outDir: join(readOnly, 'out'), format: 'dicom' }), /Cannot (create|write to) .*: (permission denied|the file system is read-only)/);
  await assert.rejects(core.dispatch('export:dataset', { outDir: join(dir, 'mapped'), format: 'png', mappingPath: join(readOnly, 'map.csv') }), /Cannot write to .*: (permission denied|the file system is read-only)/);
});

test('the CLI says where the mapping is and what it holds, lists burned-in images left out, refuses an unknown format', async () => {
  core.closeProject();
  const repo = join(import.meta.dirname, '..', '..');
  const loupe = (...args: string[]) => spawnSync(process.execPath, [join(repo, 'bin', 'loupe.js'), ...args], { encoding: 'utf8', cwd: repo, timeout: 120_000 });
  const out = join(dir, 'cli');
  const mapping = join(dir, 'cli-mapping.csv');
  const ok = loupe('export', join(dir, 'project'), '--dataset', '--out', out, '--format', 'dicom', '--mapping', mapping);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, new RegExp(`Mapping of exported to original names: ${mapping} \\(it holds the original names, which may identify patients`));
  assert.match(ok.stdout, new RegExp(`Left out 1 DICOM image\\(s\\) with burned-in annotation[^\\n]*\\n  ${BURNED.replace(/\^/g, '\\^')}\\n`));
  assert.ok(existsSync(mapping));
  const bad = loupe('export', join(dir, 'project'), '--dataset', '--out', join(dir, 'cli-bad'), '--format', 'jpeg');
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /--format takes png, png16, tiff16, dicom with --dataset; got "jpeg"/);
});
