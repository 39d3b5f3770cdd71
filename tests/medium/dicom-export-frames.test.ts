/**
 * `--format dicom` on multi-frame files and on dates (issue 11), with real files: pydicom's RT Dose (15 native
 * frames, implicit VR, a Grid Frame Offset Vector), its two-frame RGB RLE file, and JPEG-LS files dcmtk makes here
 * with several fragments a frame (with and without a Basic Offset Table), imported with every frame an image, the
 * frames labelled into two classes. Each class folder holds exactly its frames, each a single-frame
 * instance that Loupe's parser and dcmtk's dcmdump read, with that frame's pixels (lossless: exact), a SOP Instance
 * UID of its own that a re-export repeats, and no identifying value of the source header. Each is a derived image:
 * Image Type DERIVED, the source in Source Image Sequence by its remapped UID with the frame number, and an Instance
 * Number of its own (source × 1000 + frame).
 * Dates: hand-made files of two patients keep the days between one patient's studies and move differently for the
 * other patient (Retain Longitudinal Temporal Information with Modified Dates); the CLI's --remove-dates empties them.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LoupeCore } from '../../electron/core/api/loupe-core.ts';
import { decodeFrame, readDicom, type DicomImage } from '../../electron/core/dicom/image.ts';
import { dateShiftDays } from '../../electron/core/dicom/date-shift.ts';
import { deidentify, remappedUid } from '../../electron/core/dicom/deidentify.ts';
import type { Job } from '../../shared/contract.ts';
import { PYDICOM_FILES } from '../helpers/dicom-reference.ts';
import { part10, pixelData, pixelTags } from '../helpers/dicom-writer.ts';
import { tempDir } from '../helpers/tmp.ts';

const MULTI = { 'rtdose.dcm': 'dose/Lastname-Firstname/rtdose.dcm', 'SC_rgb_rle_2frame.dcm': 'sc/Lestrade/two-frames.dcm' };
// JPEG-LS made here by dcmtk from noisy frames, in fragments of 1 kB (several a frame), with and without an offset table.
const JLS = { 'jls/Noisy-Offsets.dcm': ['+fs', '1'], 'jls/Noisy-NoOffsets.dcm': ['+fs', '1', '-ot'] } as const;
const FRAMES = 15 + 2 + 3 + 3;
/**
 * Each source's Instance Number and Image Type as the files say them (pydicom's RT Dose has an empty Instance Number
 * and no Image Type, its SC file is instance 1 and DERIVED already; the JPEG-LS files are made here as 12 and 13).
 */
const SOURCE_FACTS: Record<string, { instance: number; imageType: string }> = {
  'dose/Lastname-Firstname/rtdose.dcm': { instance: 0, imageType: 'DERIVED\\SECONDARY' },
  'sc/Lestrade/two-frames.dcm': { instance: 1, imageType: 'DERIVED\\SECONDARY\\OTHER' },
  'jls/Noisy-Offsets.dcm': { instance: 12, imageType: 'DERIVED\\SECONDARY' },
  'jls/Noisy-NoOffsets.dcm': { instance: 13, imageType: 'DERIVED\\SECONDARY' },
};
// A fixed project secret, so the two patients' shifts are known to differ (a random one would collide 1 in 365).
const SECRET = 'a1'.repeat(32);
let dir: string;
let src: string;
let core: LoupeCore;

function dicomOf(bytes: Buffer): DicomImage {
  const content = readDicom(bytes);
  assert.equal(content.kind, 'image');
  return content as DicomImage;
}

/** A small study of `patient` on `date` (hand-made: pydicom's files are all one date per patient). */
function study(patient: string, date: string, n: number): Buffer {
  return part10([
    ...pixelTags(),
    { tag: 0x00080018, vr: 'UI', value: `1.2.826.0.1.3680043.8.498.9${n}1` },
    { tag: 0x0020000d, vr: 'UI', value: `1.2.826.0.1.3680043.8.498.9${n}2` },
    { tag: 0x00080020, vr: 'DA', value: date },
    { tag: 0x00080030, vr: 'TM', value: '093015' },
    { tag: 0x0008002a, vr: 'DT', value: `${date}093015.25+0100` },
    { tag: 0x00080023, vr: 'DA', value: '2024.01.10' },
    { tag: 0x00100010, vr: 'PN', value: `${patient}^Name` },
    { tag: 0x00100020, vr: 'LO', value: patient },
    { tag: 0x00100030, vr: 'DA', value: '19610214' },
    pixelData(new Uint8Array(new Uint16Array([n, 2, 3, 4]).buffer)),
  ]);
}

/** Three 64×64 12-bit frames of noise (so JPEG-LS needs several 1 kB fragments a frame), uncompressed. */
function noisyFrames(sop: string, seed: number, instance: number): Buffer {
  const values = new Uint16Array(64 * 64 * 3);
  let x = seed;
  for (let i = 0; i < values.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    values[i] = (x >>> 16) & 0xfff;
  }
  return part10([
    ...pixelTags({ rows: 64, columns: 64, bits: 16, stored: 12, frames: 3 }).filter((e) => e.tag !== 0x00080018),
    { tag: 0x00080018, vr: 'UI', value: sop },
    { tag: 0x00200013, vr: 'IS', value: String(instance) },
    { tag: 0x0020000d, vr: 'UI', value: `${sop}.1` },
    { tag: 0x00080020, vr: 'DA', value: '20230917' },
    { tag: 0x00100010, vr: 'PN', value: 'Noisewright^Ada' },
    { tag: 0x00100020, vr: 'LO', value: 'PAT-NOISE-1' },
    pixelData(new Uint8Array(values.buffer)),
  ]);
}

before(async () => {
  dir = tempDir('loupe-dicom-frames-');
  src = join(dir, 'Hospital-Export');
  mkdirSync(join(src, 'jls'), { recursive: true });
  for (const [i, [to, args]] of Object.entries(JLS).entries()) {
    const native = join(dir, `native-${i}.dcm`);
    writeFileSync(native, noisyFrames(`1.2.826.0.1.3680043.8.498.97${i}`, 7 + i, 12 + i));
    const made = spawnSync('dcmcjpls', [...args, native, join(src, to)], { encoding: 'utf8' });
    assert.equal(made.status, 0, made.stderr);
  }
  for (const [from, to] of Object.entries(MULTI)) {
    mkdirSync(join(src, to, '..'), { recursive: true });
    copyFileSync(join(PYDICOM_FILES, from), join(src, to));
  }
  mkdirSync(join(src, 'dates'), { recursive: true });
  writeFileSync(join(src, 'dates', 'p1-first.dcm'), study('PAT-ONE', '20240110', 1));
  writeFileSync(join(src, 'dates', 'p1-second.dcm'), study('PAT-ONE', '20240305', 2));
  writeFileSync(join(src, 'dates', 'p2.dcm'), study('PAT-TWO', '20240110', 3));
  core = new LoupeCore({ face: 'cli', configDir: join(dir, 'config') });
  core.openProject(join(dir, 'project'), { create: true, name: 'dicom-frames' });
  const db = core.requireProject().db;
  db.prepare(`INSERT OR REPLACE INTO meta (key, value) VALUES ('pseudonym_secret', ?)`).run(SECRET);
  const job = await core.jobs.wait((await core.dispatch('import:start', { folders: [src], labels: 'none', frames: 'all' })).jobId);
  assert.equal(job.state, 'succeeded', job.message);
  const even = (await core.dispatch('classes:create', { name: 'even' })).id;
  const odd = (await core.dispatch('classes:create', { name: 'odd' })).id;
  const rows = db.prepare(`SELECT i.id, d.frame FROM images i JOIN dicom_images d ON d.image_id = i.id WHERE i.status = 'ok'`).all() as { id: number; frame: number }[];
  assert.equal(rows.length, FRAMES + 3);
  for (const r of rows) db.prepare(`UPDATE images SET class_id = ?, split = 'train' WHERE id = ?`).run(r.frame % 2 === 0 ? even : odd, r.id);
});

// Closing twice is a no-op (the CLI test closes it early so that the CLI can open the project).
after(() => core.closeProject());

async function exportDicom(name: string): Promise<{ out: string; rows: string[][] }> {
  const out = join(dir, name);
  const mapping = join(dir, `${name}-mapping.csv`);
  const job: Job = await core.jobs.wait((await core.dispatch('export:dataset', { outDir: out, format: 'dicom', mappingPath: mapping })).jobId);
  assert.equal(job.state, 'succeeded', job.message);
  const rows = readFileSync(mapping, 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
  return { out, rows };
}

function dcmdump(file: string): string {
  const dump = spawnSync('dcmdump', ['-q', '-M', file], { encoding: 'utf8' });
  assert.equal(dump.status, 0, dump.stderr);
  assert.doesNotMatch(dump.stdout + dump.stderr, /^[EW]:/m, file);
  return dump.stdout;
}

/** Every text value of the source header longer than 3 characters in the identifying attributes and UIDs. */
function identifying(img: DicomImage): string[] {
  const keys = ['x00100010', 'x00100020', 'x00100030', 'x00080020', 'x00080023', 'x00080050', 'x00080080', 'x00080090', 'x00200010', 'x00080018', 'x0020000d', 'x0020000e', 'x00200052'];
  return keys.map((k) => img.parsed.dataSet.string(k)?.trim() ?? '').filter((v) => v.length > 3);
}

test('each frame is a single-frame instance in its own class folder: its pixels, its own stable UID, no identifier', async () => {
  const first = await exportDicom('frames');
  const again = await exportDicom('frames-again');
  const sops = new Set<string>();
  const instanceNumbers = new Set<string>();
  const seen = { even: 0, odd: 0 };
  for (const to of [...Object.values(MULTI), ...Object.keys(JLS)]) {
    const source = to;
    const original = readFileSync(join(src, to));
    const before = dicomOf(original);
    const frames = before.pixel.frames;
    const mine = first.rows.filter(([, o]) => o!.startsWith(`${to}#`));
    assert.equal(mine.length, frames, source);
    if (to in JLS) assert.ok(before.parsed.dataSet.elements.x7fe00010!.fragments!.length > frames, `${to}: several fragments a frame`);
    const secrets = identifying(before);
    assert.ok(secrets.length >= 4, secrets.join(' | '));
    for (const [exported, orig] of mine) {
      const n = Number(/#(\d+)$/.exec(orig!)![1]);
      const klass = (n - 1) % 2 === 0 ? 'even' : 'odd';
      seen[klass]++;
      assert.match(exported!, new RegExp(`^train/${klass}/img-[0-9a-f]{16}-f${n}\\.dcm$`), `${orig} → ${exported}`);
      const bytes = readFileSync(join(first.out, exported!));
      const afterImg = dicomOf(bytes);
      assert.equal(afterImg.pixel.frames, 1);
      assert.deepEqual(await decodeFrame(afterImg, 0), await decodeFrame(before, n - 1), `${source} frame ${n}`);
      const dump = dcmdump(join(first.out, exported!));
      assert.match(dump, /\(0028,0008\) IS \[1\]/);
      assert.match(dump, /\(0012,0062\) CS \[YES\]/);
      const text = bytes.toString('latin1') + dump;
      assert.deepEqual(secrets.filter((s) => text.includes(s)), [], exported);
      const sop = afterImg.parsed.dataSet.string('x00080018')!;
      assert.match(sop, /^2\.25\.\d+$/);
      assert.equal(afterImg.parsed.meta?.string('x00020003'), sop, 'the meta header names the same instance');
      sops.add(sop);
      // A derived image: it names its source by the source's remapped UID (never the original) and its frame.
      const facts = SOURCE_FACTS[to]!;
      const sourceSop = before.parsed.dataSet.string('x00080018')!;
      assert.equal(afterImg.parsed.dataSet.string('x00080008'), facts.imageType, exported);
      const refs = afterImg.parsed.dataSet.elements.x00082112!.items!;
      assert.equal(refs.length, 1);
      assert.equal(refs[0]!.dataSet!.string('x00081150'), before.parsed.dataSet.string('x00080016'));
      assert.equal(refs[0]!.dataSet!.string('x00081155'), remappedUid(SECRET, sourceSop));
      assert.equal(refs[0]!.dataSet!.string('x00081160'), String(n));
      assert.match(dump, new RegExp(`\\(0008,1160\\) IS \\[${n}\\]`), 'dcmdump reads the reference');
      assert.equal(afterImg.parsed.dataSet.string('x00200013'), String(facts.instance * 1000 + n));
      instanceNumbers.add(afterImg.parsed.dataSet.string('x00200013')!);
      assert.deepEqual(readFileSync(join(again.out, exported!)), bytes, 'a re-export writes the same file');
      if (source === 'rtdose.dcm') {
        // The one frame is placed by Image Position (Patient) alone: moved to the frame's plane, offsets "0".
        const offsets = before.parsed.dataSet.string('x3004000c')!.split('\\').map(Number);
        const ipp = before.parsed.dataSet.string('x00200032')!.split('\\').map(Number);
        assert.equal(afterImg.parsed.dataSet.string('x3004000c'), '0');
        assert.deepEqual(afterImg.parsed.dataSet.string('x00200032')!.split('\\').map(Number), [ipp[0], ipp[1], ipp[2]! + offsets[n - 1]!]);
      }
    }
  }
  assert.equal(sops.size, FRAMES, 'every frame has a SOP Instance UID of its own');
  assert.equal(instanceNumbers.size, FRAMES, 'and an Instance Number of its own (the same on re-export: the files are)');
  // Each class folder holds exactly its frames (frames 1, 3, … are "even": 0-based 0, 2, …), plus the 3 dated files.
  assert.deepEqual(seen, { even: 8 + 1 + 2 + 2, odd: 7 + 1 + 1 + 1 });
  assert.equal(readdirSync(join(first.out, 'train', 'even')).length, seen.even + 3);
  assert.equal(readdirSync(join(first.out, 'train', 'odd')).length, seen.odd);
});

test('big endian 32-bit frames (pydicom rtdose_expb.dcm) are written little endian with the same values', async () => {
  const before = dicomOf(readFileSync(join(PYDICOM_FILES, 'rtdose_expb.dcm')));
  for (const index of [0, 7, 14]) {
    const out = deidentify(before.parsed, SECRET, 'patient-x', { frame: { index, pixel: before.pixel } });
    const afterImg = dicomOf(out.bytes);
    assert.equal(afterImg.parsed.syntax.bigEndian, false);
    assert.deepEqual(await decodeFrame(afterImg, 0), await decodeFrame(before, index), `frame ${index + 1}`);
  }
});

test('dates move by one shift per patient: one patient keeps the days between studies, another moves differently', async () => {
  const shiftOne = dateShiftDays(SECRET, 'patient:PAT-ONE');
  const shiftTwo = dateShiftDays(SECRET, 'patient:PAT-TWO');
  assert.notEqual(shiftOne, shiftTwo, 'precondition: the fixed secret gives the two patients different shifts');
  const { out, rows } = await exportDicom('dates');
  const studyDate = (name: string) => {
    const [exported] = rows.find(([, o]) => o === `dates/${name}`)!;
    const file = join(out, exported!);
    const dump = dcmdump(file);
    assert.match(dump, /\(0028,0303\) CS \[MODIFIED\]/);
    assert.match(dump, /\(0008,0100\) SH \[113107\]/);
    assert.match(dump, /\(0008,0030\) TM \[093015\]/, 'times are kept');
    assert.match(dump, /\(0010,0030\) DA \(no value available\)/, 'the birth date is removed');
    assert.match(dump, /\(0008,0023\) DA \(no value available\)/, 'a malformed date is removed, not passed through');
    assert.doesNotMatch(dump, /19610214|2024\.01\.10/);
    const ds = dicomOf(readFileSync(file)).parsed.dataSet;
    const da = ds.string('x00080020')!;
    assert.match(da, /^\d{8}$/);
    assert.equal(ds.string('x0008002a'), `${da}093015.25+0100`, 'DT: the same date, its time and offset kept');
    return Date.UTC(Number(da.slice(0, 4)), Number(da.slice(4, 6)) - 1, Number(da.slice(6)));
  };
  const day = 86_400_000;
  const first = studyDate('p1-first.dcm');
  const second = studyDate('p1-second.dcm');
  const other = studyDate('p2.dcm');
  // 2024-01-10 → 2024-03-05 is 55 days (21 left in January, 29 in a leap February, 5 in March).
  assert.equal((second - first) / day, 55);
  assert.equal((first - Date.UTC(2024, 0, 10)) / day, shiftOne);
  assert.equal((other - Date.UTC(2024, 0, 10)) / day, shiftTwo);
});

test('loupe export --remove-dates: the bare profile, dates and times emptied, REMOVED recorded', () => {
  core.closeProject();
  const repo = join(import.meta.dirname, '..', '..');
  const out = join(dir, 'cli-removed');
  const run = spawnSync(process.execPath, [join(repo, 'bin', 'loupe.js'), 'export', join(dir, 'project'), '--dataset', '--out', out, '--format', 'dicom', '--remove-dates'], {
    encoding: 'utf8', cwd: repo, timeout: 120_000,
  });
  assert.equal(run.status, 0, run.stderr);
  const facts = JSON.parse(readFileSync(join(out, 'export.json'), 'utf8')) as { deidentification: string };
  assert.match(facts.deidentification, /dates and times emptied/);
  const file = readdirSync(join(out, 'train', 'even'), { withFileTypes: true }).find((f) => f.name.endsWith('.dcm'))!;
  const dump = dcmdump(join(out, 'train', 'even', file.name));
  assert.match(dump, /\(0028,0303\) CS \[REMOVED\]/);
  assert.match(dump, /\(0008,0020\) DA \(no value available\)/);
  assert.doesNotMatch(dump, /113107/);
});
