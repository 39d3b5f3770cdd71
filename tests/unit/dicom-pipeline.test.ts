/**
 * The DICOM pixel pipeline against the standard: VOI functions (PS3.3 C.11.2.1.2), MONOCHROME1, rescale (C.11.1),
 * stored bits and sign (C.7.6.3.1), YBR_FULL (C.7.6.3.1.2), RLE (PS3.5 Annex G), and the bad input of issue 11.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeFrame, readDicom, renderFrame } from '../../electron/core/dicom/image.ts';
import { DicomError, looksLikeDicom, sniffRawDataset } from '../../electron/core/dicom/parse.ts';
import { readSamples, ybrFullToRgb, type PixelModule } from '../../electron/core/dicom/pixels.ts';
import { decodeRle } from '../../electron/core/dicom/rle.ts';
import { applyModalityLut, toGrey8, voiValue } from '../../electron/core/dicom/windowing.ts';
import { dataSet, part10, pixelData, pixelTags } from '../helpers/dicom-writer.ts';

const close = (a: number, b: number, eps = 1e-9) => assert.ok(Math.abs(a - b) <= eps, `${a} ≈ ${b}`);

test('LINEAR window: the standard\'s piecewise formula, width 1 a threshold', () => {
  // c = 40, w = 400: below c - 0.5 - (w-1)/2 = -160 → min; above c - 0.5 + (w-1)/2 = 239 → max.
  assert.equal(voiValue(-160, 40, 400, 'LINEAR', 0, 255), 0);
  close(voiValue(-159, 40, 400, 'LINEAR', 0, 255), ((-159 - 39.5) / 399 + 0.5) * 255);
  close(voiValue(39.5, 40, 400, 'LINEAR', 0, 255), 127.5);
  close(voiValue(239, 40, 400, 'LINEAR', 0, 255), ((239 - 39.5) / 399 + 0.5) * 255);
  assert.equal(voiValue(239.01, 40, 400, 'LINEAR', 0, 255), 255);
  assert.equal(voiValue(9.5, 10, 1, 'LINEAR', 0, 255), 0);
  assert.equal(voiValue(9.6, 10, 1, 'LINEAR', 0, 255), 255);
});

test('LINEAR_EXACT and SIGMOID windows follow their formulas', () => {
  assert.equal(voiValue(-50, 0, 100, 'LINEAR_EXACT', 0, 255), 0);
  close(voiValue(0, 0, 100, 'LINEAR_EXACT', 0, 255), 127.5);
  close(voiValue(50, 0, 100, 'LINEAR_EXACT', 0, 255), 255);
  assert.equal(voiValue(50.01, 0, 100, 'LINEAR_EXACT', 0, 255), 255);
  close(voiValue(0, 0, 100, 'SIGMOID', 0, 255), 127.5);
  close(voiValue(25, 0, 100, 'SIGMOID', 0, 255), 255 / (1 + Math.exp(-1)));
  close(voiValue(-25, 0, 100, 'SIGMOID', 0, 255), 255 / (1 + Math.exp(1)));
});

test('rescale gives modality values; MONOCHROME1 is inverted after the window', () => {
  const hu = applyModalityLut(Int16Array.from([0, 1024, 2048]), { slope: 1, intercept: -1024, lut: null });
  assert.deepEqual([...hu], [-1024, 0, 1024]);
  const half = applyModalityLut(Uint16Array.from([3]), { slope: 0.5, intercept: 1, lut: null });
  assert.deepEqual([...half], [2.5]);
  const voi = { kind: 'window', center: 0, width: 2049, fn: 'LINEAR' } as const;
  assert.deepEqual([...toGrey8(hu, voi, false)], [0, 128, 255]);
  assert.deepEqual([...toGrey8(hu, voi, true)], [255, 127, 0]);
  assert.deepEqual([...toGrey8(Float32Array.from([10, 20, 30]), { kind: 'full-range' }, true)], [255, 127, 0]);
});

function module(o: Partial<PixelModule>): PixelModule {
  return { rows: 1, columns: 4, samplesPerPixel: 1, bitsAllocated: 16, bitsStored: 12, highBit: 11, signed: true, photometric: 'MONOCHROME2', planarConfiguration: 0, frames: 1, ...o };
}

test('stored values: bits outside Bits Stored are ignored, two\'s complement of Bits Stored for signed data', () => {
  const raw = new Uint8Array(Uint16Array.from([0x0fff, 0x0800, 0xf001, 0x07ff]).buffer);
  assert.deepEqual([...readSamples(module({}), raw, 4, false)], [-1, -2048, 1, 2047]);
  assert.deepEqual([...readSamples(module({ signed: false }), raw, 4, false)], [4095, 2048, 1, 2047]);
  // High bit 15 with 12 bits stored: the values sit in the top bits.
  const high = new Uint8Array(Uint16Array.from([0xfff0, 0x0010]).buffer);
  assert.deepEqual([...readSamples(module({ highBit: 15 }), high, 2, false)], [-1, 1]);
  // Big endian words.
  assert.deepEqual([...readSamples(module({ bitsStored: 16, highBit: 15, signed: false }), Uint8Array.from([0x01, 0x02]), 1, true)], [0x0102]);
});

test('YBR_FULL to RGB: grey stays grey, the equations of PS3.3 for colour', () => {
  const v = Uint8Array.from([128, 128, 128, 76, 85, 255]);
  ybrFullToRgb(v, 8);
  assert.deepEqual([...v.slice(0, 3)], [128, 128, 128]);
  assert.deepEqual([...v.slice(3)], [Math.min(255, Math.round(76 + 1.402 * 127)), Math.max(0, Math.round(76 - 0.114 * 1.772 / 0.587 * -43 - 0.299 * 1.402 / 0.587 * 127)), Math.max(0, Math.round(76 + 1.772 * -43))]);
});

function rleFrame(segments: number[][]): Uint8Array {
  const header = Buffer.alloc(64);
  header.writeUInt32LE(segments.length, 0);
  let offset = 64;
  segments.forEach((s, i) => {
    header.writeUInt32LE(offset, 4 + 4 * i);
    offset += s.length;
  });
  return Buffer.concat([header, ...segments.map((s) => Buffer.from(s))]);
}

test('RLE: literal and replicate runs, most significant byte segment first, and corrupt frames refused', () => {
  // 4 pixels of 16 bits: high bytes [1,1,1,1] (replicate: -3 → 4 copies), low bytes [1,2,3,4] (literal of 4).
  const frame = rleFrame([[0xfd, 1], [3, 1, 2, 3, 4]]);
  assert.deepEqual([...new Uint16Array(decodeRle(frame, 4, 1, 16).buffer)], [0x0101, 0x0102, 0x0103, 0x0104]);
  assert.throws(() => decodeRle(rleFrame([[0xfd, 1], [1, 1, 2]]), 4, 1, 16), /segment 2 decodes to 2 of 4 bytes/);
  assert.throws(() => decodeRle(rleFrame([[0xfd, 1]]), 4, 1, 16), /1 segments, expected 2/);
  assert.throws(() => decodeRle(new Uint8Array(10), 4, 1, 16), /shorter than its 64-byte header/);
});

test('a native image reads, windows and renders from its own tags', async () => {
  const values = Int16Array.from([-1000, 0, 40, 1000]);
  const file = part10([
    ...pixelTags({ signed: true }),
    { tag: 0x00281050, vr: 'DS', value: '40\\-600' },
    { tag: 0x00281051, vr: 'DS', value: '400\\1500' },
    { tag: 0x00281055, vr: 'LO', value: 'SOFT\\LUNG' },
    { tag: 0x00281052, vr: 'DS', value: '0' },
    { tag: 0x00281053, vr: 'DS', value: '1' },
    pixelData(new Uint8Array(values.buffer)),
  ]);
  const c = readDicom(file);
  assert.equal(c.kind, 'image');
  if (c.kind !== 'image') return;
  assert.deepEqual(c.presets.map((p) => [p.center, p.width, p.explanation]), [[40, 400, 'SOFT'], [-600, 1500, 'LUNG']]);
  assert.deepEqual([...(await decodeFrame(c, 0)).values], [-1000, 0, 40, 1000]);
  const shown = await renderFrame(c, 0);
  assert.deepEqual([...shown.data], [0, Math.round(((0 - 39.5) / 399 + 0.5) * 255), Math.round(((40 - 39.5) / 399 + 0.5) * 255), 255]);
});

test('detection by content: Part 10, a bare implicit data set, and not a random or text file', () => {
  const bare = dataSet([...pixelTags(), pixelData(new Uint8Array(8))], false);
  assert.equal(sniffRawDataset(bare), 'implicit-le');
  assert.equal(sniffRawDataset(dataSet(pixelTags())), 'explicit-le');
  assert.ok(looksLikeDicom(part10(pixelTags())));
  assert.ok(!looksLikeDicom(Buffer.from('patient,label\nP001,normal\n')));
  assert.ok(!looksLikeDicom(Uint8Array.from({ length: 512 }, (_, i) => (i * 7919) % 251)));
  const c = readDicom(bare);
  assert.equal(c.kind, 'image');
});

function reason(bytes: Uint8Array): string {
  try {
    readDicom(bytes);
  } catch (e) {
    assert.ok(e instanceof DicomError, `a DicomError, not ${String(e)}`);
    return e.message;
  }
  return 'read';
}

test('bad input: each gets its own reason, and a header claiming 60000×60000×1000 allocates nothing', () => {
  const before = process.memoryUsage().arrayBuffers;
  assert.match(reason(part10([...pixelTags({ rows: 60000, columns: 60000, frames: 1000 }), pixelData(new Uint8Array(16))])), /image too large: 60000×60000/);
  assert.match(reason(part10([...pixelTags({ rows: 5000, columns: 5000, frames: 1000 }), pixelData(new Uint8Array(16))])), /too many frames|pixel data length 16 bytes does not match/);
  assert.ok(process.memoryUsage().arrayBuffers - before < 50_000_000, 'no large allocation');
  assert.match(reason(part10([...pixelTags({ rows: 4, columns: 4 }), pixelData(new Uint8Array(16))])), /pixel data length 16 bytes does not match .* = 32 bytes/);
  assert.match(reason(part10(pixelTags(), '1.2.840.10008.1.2.4.100')), /^unsupported transfer syntax 1\.2\.840\.10008\.1\.2\.4\.100 \(MPEG2 Main Profile \/ Main Level\)$/);
  assert.match(reason(part10(pixelTags(), '1.2.3.4.5')), /^unsupported transfer syntax 1\.2\.3\.4\.5 \(not a transfer syntax Loupe knows\)$/);
  assert.match(reason(part10([...pixelTags().filter((e) => e.tag !== 0x00280010), pixelData(new Uint8Array(8))])), /missing required pixel tag \(0028,0010\) Rows/);
  assert.match(reason(part10([...pixelTags(), { tag: 0x7fe00008, vr: 'OF', value: new Uint8Array(16) }])), /float pixel data/);
  assert.match(reason(part10([...pixelTags({ photometric: 'YBR_PARTIAL_420' }), pixelData(new Uint8Array(8))])), /unsupported Photometric Interpretation "YBR_PARTIAL_420"/);
  assert.match(reason(part10([...pixelTags({ bits: 12 }), pixelData(new Uint8Array(8))])), /unsupported Bits Allocated 12/);
  const full = part10([...pixelTags(), pixelData(new Uint8Array(8))]);
  assert.match(reason(full.subarray(0, full.length - 6)), /^truncated DICOM file/);
  assert.match(reason(Buffer.concat([Buffer.alloc(128), Buffer.from('DICM'), Buffer.from('this is not a meta header at all!')])), /^not a DICOM file: it has the "DICM" marker/);
  assert.match(reason(Buffer.alloc(0)), /empty file/);
  // Private tags with odd VRs and values do not stop the image.
  const odd = part10([...pixelTags(), { tag: 0x00091001, vr: 'UN', value: Uint8Array.from([1, 2, 3]) }, { tag: 0x00091002, vr: 'LO', value: '\u00e9t\u00e9' }, pixelData(new Uint8Array(8))]);
  assert.equal(readDicom(odd).kind, 'image');
});

test('VOI LUT Sequence, Modality LUT Sequence and PALETTE COLOR are applied as their tables say', async () => {
  const stored = new Uint8Array(Uint16Array.from([0, 1, 2, 3]).buffer);
  // Modality LUT: stored 0..3 → 100, 200, 300, 400 (first mapped 0, 16 bits). VOI LUT: 100..400 → 0, 1000,
  // 2000, 4095 (first mapped 100, 12 bits, entries only at 100/200/300/400 and clamped between).
  const voiTable = Array.from({ length: 301 }, (_, i) => (i === 300 ? 4095 : Math.floor(i / 100) * 1000));
  const file = part10([
    ...pixelTags({ rows: 2, columns: 2 }),
    { tag: 0x00283000, vr: 'SQ', value: { items: [[
      { tag: 0x00283002, vr: 'US', value: { us: [4, 0, 16] } },
      { tag: 0x00283006, vr: 'OW', value: new Uint8Array(Uint16Array.from([100, 200, 300, 400]).buffer) },
    ]] } },
    { tag: 0x00283010, vr: 'SQ', value: { items: [[
      { tag: 0x00283002, vr: 'US', value: { us: [301, 100, 12] } },
      { tag: 0x00283003, vr: 'LO', value: 'TEST LUT' },
      { tag: 0x00283006, vr: 'OW', value: new Uint8Array(Uint16Array.from(voiTable).buffer) },
    ]] } },
    pixelData(stored),
  ]);
  const c = readDicom(file);
  assert.equal(c.kind, 'image');
  if (c.kind !== 'image') return;
  assert.equal(c.voiLuts[0]?.explanation, 'TEST LUT');
  const shown = await renderFrame(c, 0);
  const k = 255 / 4095;
  assert.deepEqual([...shown.data], [0, Math.round(1000 * k), Math.round(2000 * k), 255]);

  const palette = part10([
    ...pixelTags({ rows: 1, columns: 3, bits: 8, photometric: 'PALETTE COLOR' }),
    { tag: 0x00281101, vr: 'US', value: { us: [3, 0, 16] } },
    { tag: 0x00281102, vr: 'US', value: { us: [3, 0, 16] } },
    { tag: 0x00281103, vr: 'US', value: { us: [3, 0, 16] } },
    { tag: 0x00281201, vr: 'OW', value: new Uint8Array(Uint16Array.from([65535, 0, 0]).buffer) },
    { tag: 0x00281202, vr: 'OW', value: new Uint8Array(Uint16Array.from([0, 65535, 0]).buffer) },
    { tag: 0x00281203, vr: 'OW', value: new Uint8Array(Uint16Array.from([0, 0, 65535]).buffer) },
    pixelData(Uint8Array.from([0, 1, 2, 0]), 'OB'),
  ]);
  const pc = readDicom(palette);
  assert.equal(pc.kind, 'image');
  if (pc.kind !== 'image') return;
  const rgb = await renderFrame(pc, 0);
  assert.equal(rgb.channels, 3);
  assert.deepEqual([...rgb.data], [255, 0, 0, 0, 255, 0, 0, 0, 255]);
});

test('fewer window explanations than windows, or a one-valued Pixel Spacing, read without a crash', () => {
  const c = readDicom(part10([
    ...pixelTags(),
    { tag: 0x00280030, vr: 'DS', value: '0.5' },
    { tag: 0x00281050, vr: 'DS', value: '40\\-600' },
    { tag: 0x00281051, vr: 'DS', value: '400\\1500' },
    { tag: 0x00281055, vr: 'LO', value: 'SOFT' },
    pixelData(new Uint8Array(8)),
  ]));
  assert.equal(c.kind, 'image');
  if (c.kind !== 'image') return;
  assert.deepEqual(c.presets.map((p) => p.explanation), ['SOFT', '']);
  assert.equal(c.metadata.pixelSpacing, null);
});
