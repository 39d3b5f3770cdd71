/**
 * The import's fast paths through the pixel pipeline (bench:dicom) give what the general ones give, byte for
 * byte: stored values of 8/16-bit samples by integer operations, and modality LUT + VOI + MONOCHROME1 by a table
 * over the frame's stored range.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readSamples, type PixelModule } from '../../electron/core/dicom/pixels.ts';
import { DicomError } from '../../electron/core/dicom/parse.ts';
import { applyModalityLut, storedToGrey8, toGrey8, type ModalityLut, type VoiChoice } from '../../electron/core/dicom/windowing.ts';
import { seededRandom } from '../../shared/random.ts';

const random = seededRandom(99);
const module = (bitsAllocated: 8 | 16, bitsStored: number, highBit: number, signed: boolean): PixelModule => ({
  rows: 1, columns: 64, samplesPerPixel: 1, bitsAllocated, bitsStored, highBit, signed, photometric: 'MONOCHROME2', planarConfiguration: 0, frames: 1,
});

/** The definition of PS3.3 C.7.6.3.1: bits highBit-bitsStored+1..highBit of each sample, two's complement when signed. */
function expected(m: PixelModule, bytes: Uint8Array, bigEndian: boolean): number[] {
  const per = m.bitsAllocated / 8;
  return Array.from({ length: m.columns }, (_, i) => {
    const raw = per === 2 ? (bigEndian ? bytes[2 * i]! * 256 + bytes[2 * i + 1]! : bytes[2 * i + 1]! * 256 + bytes[2 * i]!) : bytes[i]!;
    const v = Math.floor(raw / 2 ** (m.highBit + 1 - m.bitsStored)) % 2 ** m.bitsStored;
    return m.signed && v >= 2 ** (m.bitsStored - 1) ? v - 2 ** m.bitsStored : v;
  });
}

test('8- and 16-bit stored values: every layout of bits stored, high bit, sign and byte order', () => {
  const layouts: [8 | 16, number, number][] = [[16, 16, 15], [16, 12, 11], [16, 12, 15], [16, 10, 12], [8, 8, 7], [8, 6, 6], [16, 1, 0]];
  for (const [bits, stored, high] of layouts) {
    for (const signed of [false, true]) {
      for (const bigEndian of [false, true]) {
        const m = module(bits, stored, high, signed);
        const bytes = Uint8Array.from({ length: m.columns * (bits / 8) }, () => Math.floor(random() * 256));
        assert.deepEqual([...readSamples(m, bytes, m.columns, bigEndian)], expected(m, bytes, bigEndian), `${bits}/${stored}/${high} signed ${signed} big ${bigEndian}`);
      }
    }
  }
});

test('samples that start at an odd byte (a view must be aligned) read the same as at an even one', () => {
  for (const [bits, stored, high] of [[16, 16, 15], [16, 12, 11], [8, 8, 7]] as [8 | 16, number, number][]) {
    for (const signed of [false, true]) {
      const m = module(bits, stored, high, signed);
      const backing = Uint8Array.from({ length: m.columns * (bits / 8) + 1 }, () => Math.floor(random() * 256));
      const odd = backing.subarray(1);
      assert.deepEqual([...readSamples(m, odd, m.columns, false)], expected(m, odd, false), `${bits}/${stored} signed ${signed}`);
    }
  }
});

test('too few bytes for the samples is a DicomError, not zeros', () => {
  assert.throws(() => readSamples(module(16, 16, 15, false), new Uint8Array(100), 64, false), DicomError);
});

test('the stored-range table gives the float pipeline\'s grey levels for every VOI, rescale and MONOCHROME1', () => {
  const lut = { firstMapped: -100, bits: 12, data: Uint16Array.from({ length: 300 }, (_, i) => (i * 13) % 4096), explanation: '' };
  const modalities: ModalityLut[] = [
    { slope: 1, intercept: -1024, lut: null },
    { slope: 0.37, intercept: 12.5, lut: null },
    { slope: 1, intercept: 0, lut },
  ];
  const vois: VoiChoice[] = [
    { kind: 'window', center: 40, width: 400, fn: 'LINEAR' },
    { kind: 'window', center: -3.3, width: 77.7, fn: 'LINEAR_EXACT' },
    { kind: 'window', center: 100, width: 300, fn: 'SIGMOID' },
    { kind: 'lut', lut },
    { kind: 'full-range' },
  ];
  const values = Int16Array.from({ length: 5000 }, () => Math.floor(random() * 2400) - 1200);
  for (const m of modalities) {
    for (const voi of vois) {
      for (const mono1 of [false, true]) {
        assert.deepEqual(storedToGrey8(values, m, voi, mono1), toGrey8(applyModalityLut(values, m), voi, mono1), `${JSON.stringify({ ...m, lut: !!m.lut })} ${voi.kind} ${mono1}`);
      }
    }
  }
});
