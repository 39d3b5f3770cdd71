/**
 * One frame of a hand-made multi-frame file written as a single-frame instance (issue 11): only that frame's pixel
 * bytes (an odd count padded to even), Number of Frames 1, the frame's own entry of a per-frame vector (the frame
 * time increment 0, as for any first frame) and its own per-frame functional group item (with the profile still
 * acting inside it), no Representative Frame Number, and a SOP Instance UID derived from the remapped one and the
 * frame number. That instance is a derived image: Image Type (and Frame Type) value 1 DERIVED, the source in Source
 * Image Sequence by its remapped UID with the frame number, an Instance Number of its own (source × 1000 + frame).
 * Also the bare profile's dates (`remove`) against the default longitudinal option (`shift`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDicom } from '../../electron/core/dicom/parse.ts';
import { readDicom, type DicomImage } from '../../electron/core/dicom/image.ts';
import { deidentify, frameInstanceUid, remappedUid } from '../../electron/core/dicom/deidentify.ts';
import { dateShiftDays, shiftDa } from '../../electron/core/dicom/date-shift.ts';
import { instanceNumber } from '../../electron/core/dicom/frame-derivation.ts';
import { part10, pixelData, pixelTags } from '../helpers/dicom-writer.ts';

const SOP = '1.2.826.0.1.3680043.8.498.501';
const CLASS = '1.2.840.10008.5.1.4.1.1.7';
/** The CT image the source itself was made from: its UID may be named in the output only remapped. */
const GRANDPARENT = '1.2.826.0.1.3680043.8.498.502';
const CT_CLASS = '1.2.840.10008.5.1.4.1.1.2';

/** Three frames of 3×1 8-bit pixels (3 bytes a frame: the copy must pad), with per-frame attributes. */
function threeFrames(): Buffer {
  const item = (n: number) => [
    { tag: 0x00209111, vr: 'SQ', value: { items: [[{ tag: 0x00209157, vr: 'UL', value: { ul: [n] } }]] } },
    // Frame Type, in a functional group as the enhanced IODs hold it.
    { tag: 0x00189226, vr: 'SQ', value: { items: [[{ tag: 0x00089007, vr: 'CS', value: 'ORIGINAL\\PRIMARY\\M\\NONE' }]] } },
    { tag: 0x00189074, vr: 'DT', value: `2024030${n}101500` },
    { tag: 0x00100010, vr: 'PN', value: `Nested^Frame${n}` },
  ];
  return part10([
    ...pixelTags({ rows: 1, columns: 3, bits: 8, frames: 3 }).filter((e) => e.tag !== 0x00080018),
    { tag: 0x00080018, vr: 'UI', value: SOP },
    { tag: 0x00080008, vr: 'CS', value: 'ORIGINAL\\PRIMARY\\AXIAL' },
    { tag: 0x00082111, vr: 'ST', value: 'made from the scan of Jane Doe' },
    { tag: 0x00082112, vr: 'SQ', value: { items: [[{ tag: 0x00081150, vr: 'UI', value: CT_CLASS }, { tag: 0x00081155, vr: 'UI', value: GRANDPARENT }]] } },
    { tag: 0x00200013, vr: 'IS', value: '7' },
    { tag: 0x00080020, vr: 'DA', value: '20240301' },
    { tag: 0x00080030, vr: 'TM', value: '101500' },
    { tag: 0x00100020, vr: 'LO', value: 'MRN-77' },
    { tag: 0x00100030, vr: 'DA', value: '19700101' },
    { tag: 0x00181065, vr: 'DS', value: '0\\33.3\\40' },
    { tag: 0x00182005, vr: 'DS', value: '-10\\-12.5\\-15' },
    { tag: 0x00280009, vr: 'AT', value: new Uint8Array([0x18, 0x00, 0x65, 0x10]) },
    { tag: 0x00286010, vr: 'US', value: { us: [2] } },
    { tag: 0x52009230, vr: 'SQ', value: { items: [item(1), item(2), item(3)] } },
    pixelData(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]), 'OB'),
  ]);
}

test('frame 2 of 3: its pixels, one frame, its vector entry and functional group item, a UID of its own', () => {
  const img = readDicom(threeFrames()) as DicomImage;
  assert.equal(img.kind, 'image');
  const out = deidentify(img.parsed, 'secret', 'patient-1', { frame: { index: 1, pixel: img.pixel } });
  const ds = parseDicom(out.bytes).dataSet;
  const px = ds.elements.x7fe00010!;
  assert.deepEqual([...ds.byteArray.subarray(px.dataOffset, px.dataOffset + px.length)], [4, 5, 6, 0]);
  assert.equal(ds.string('x00280008'), '1');
  // Per-frame vectors keep the frame's entry; the time increment of a first (and only) frame is 0.
  assert.equal(ds.string('x00182005'), '-12.5');
  assert.equal(ds.string('x00181065'), '0');
  assert.equal(ds.elements.x00286010, undefined);
  const items = ds.elements.x52009230!.items!;
  assert.equal(items.length, 1);
  const frameItem = items[0]!.dataSet!;
  assert.equal(frameItem.elements.x00209111!.items![0]!.dataSet!.uint32('x00209157'), 2);
  assert.equal(frameItem.string('x00100010') ?? '', '', 'the profile acts inside the kept item');
  const days = dateShiftDays('secret', 'patient:MRN-77');
  assert.equal(frameItem.string('x00189074'), `${shiftDa('20240302', days)}101500`);
  const uid = frameInstanceUid('secret', remappedUid('secret', SOP), 2);
  assert.equal(out.sopInstanceUid, uid);
  assert.equal(ds.string('x00080018'), uid);
  assert.notEqual(uid, frameInstanceUid('secret', remappedUid('secret', SOP), 1));
  assert.notEqual(uid, remappedUid('secret', SOP));
  assert.ok(!out.bytes.toString('latin1').includes(SOP));
  // Decoded back: one frame of the source's second frame's values.
  const back = readDicom(out.bytes) as DicomImage;
  assert.equal(back.pixel.frames, 1);
});

test('frame 2 of 3 is a derived image: DERIVED, the source by its remapped UID and frame number, instance 7002', () => {
  const img = readDicom(threeFrames()) as DicomImage;
  const out = deidentify(img.parsed, 'secret', 'patient-1', { frame: { index: 1, pixel: img.pixel } });
  const ds = parseDicom(out.bytes).dataSet;
  assert.equal(ds.string('x00080008'), 'DERIVED\\PRIMARY\\AXIAL', 'value 1 DERIVED, the others kept');
  const frameType = ds.elements.x52009230!.items![0]!.dataSet!.elements.x00189226!.items![0]!.dataSet!;
  assert.equal(frameType.string('x00089007'), 'DERIVED\\PRIMARY\\M\\NONE', 'Frame Type agrees with Image Type');
  const source = ds.elements.x00082112!.items!;
  assert.equal(source.length, 1, "the source replaces the source's own sources");
  const ref = source[0]!.dataSet!;
  assert.equal(ref.string('x00081150'), CLASS);
  assert.equal(ref.string('x00081155'), remappedUid('secret', SOP));
  assert.equal(ref.string('x00081160'), '2');
  assert.equal(ref.string('x0028135a'), 'YES');
  assert.match(ds.string('x00082111')!, /^Frame 2 of 3 of a multi-frame image/);
  assert.equal(ds.string('x00200013'), '7002');
  const text = out.bytes.toString('latin1');
  for (const original of [SOP, GRANDPARENT, 'Jane Doe']) assert.ok(!text.includes(original), original);
  // Each frame its own number, the same on every export.
  const numbers = [0, 1, 2].map((index) => parseDicom(deidentify(img.parsed, 'secret', 'patient-1', { frame: { index, pixel: img.pixel } }).bytes).dataSet.string('x00200013'));
  assert.deepEqual(numbers, ['7001', '7002', '7003']);
});

test('a frame of a source without Image Type or Instance Number: DERIVED\\SECONDARY and the frame number', () => {
  const img = readDicom(part10([...pixelTags({ rows: 1, columns: 2, bits: 8, frames: 2 }), pixelData(new Uint8Array([1, 2, 3, 4]), 'OB')])) as DicomImage;
  const ds = parseDicom(deidentify(img.parsed, 'secret', 'p', { frame: { index: 1, pixel: img.pixel } }).bytes).dataSet;
  assert.equal(ds.string('x00080008'), 'DERIVED\\SECONDARY');
  assert.equal(ds.string('x00200013'), '2');
  assert.equal(ds.elements.x00082112!.items![0]!.dataSet!.string('x00081155'), remappedUid('secret', '1.2.3.4'));
});

test('instance numbers: source × 1000 + frame, a larger power of ten past 999 frames, the frame alone past an IS', () => {
  assert.equal(instanceNumber(7, 3, 15), 7003);
  assert.equal(instanceNumber(null, 3, 15), 3);
  assert.equal(instanceNumber(-2, 1, 3), -1999, 'a negative number keeps its frames in order and apart');
  assert.equal(instanceNumber(4, 1000, 1000), 41000);
  assert.equal(instanceNumber(4, 5, 1000), 40005);
  assert.equal(instanceNumber(3_000_000, 2, 5), 2, 'past 2^31 − 1 the frame number alone');
  assert.equal(instanceNumber(2_147_483, 647, 999), 2_147_483_647, 'the largest IS');
});

test('a single-frame file is written whole, with the file-level UID, as before', () => {
  const img = readDicom(part10([...pixelTags(), pixelData(new Uint8Array(8))])) as DicomImage;
  const out = deidentify(img.parsed, 'secret', 'patient-1', { frame: { index: 0, pixel: img.pixel } });
  assert.equal(out.sopInstanceUid, remappedUid('secret', '1.2.3.4'));
  assert.equal(parseDicom(out.bytes).dataSet.elements.x7fe00010!.length, 8);
});

test('dates: moved by the patient shift with MODIFIED and code 113107 (default); emptied with REMOVED on request', () => {
  const parsed = parseDicom(threeFrames());
  const days = dateShiftDays('secret', 'patient:MRN-77');
  const shifted = parseDicom(deidentify(parsed, 'secret', 'p').bytes).dataSet;
  assert.equal(shifted.string('x00080020'), shiftDa('20240301', days));
  assert.equal(shifted.string('x00080030'), '101500');
  assert.equal(shifted.string('x00100030') ?? '', '');
  assert.equal(shifted.string('x00280303'), 'MODIFIED');
  assert.deepEqual(shifted.elements.x00120064!.items!.map((i) => i.dataSet!.string('x00080100')), ['113100', '113107']);
  const removed = parseDicom(deidentify(parsed, 'secret', 'p', { dates: 'remove' }).bytes).dataSet;
  assert.equal(removed.string('x00080020') ?? '', '');
  assert.equal(removed.string('x00080030') ?? '', '');
  assert.equal(removed.string('x00280303'), 'REMOVED');
  assert.deepEqual(removed.elements.x00120064!.items!.map((i) => i.dataSet!.string('x00080100')), ['113100']);
});
