/**
 * RLE Lossless (PS3.5 Annex G): a 64-byte header (segment count, then 15 segment offsets), each segment a PackBits
 * stream of one byte plane (most significant byte of each sample first, one sample after another). Written here
 * because it is small; every bound is checked, so a corrupt fragment is an error, never an over-read.
 */
import { DicomError } from './parse.ts';

const HEADER_BYTES = 64;
const MAX_SEGMENTS = 15;

/** Decodes one PackBits segment into `out` at every `stride`-th byte from `start`; returns bytes written. */
function unpackSegment(src: Uint8Array, from: number, to: number, out: Uint8Array, start: number, stride: number, count: number): number {
  let p = from;
  let n = 0;
  let o = start;
  while (p < to && n < count) {
    const header = src[p++]!;
    if (header < 128) {
      // Literal run of header + 1 bytes.
      const len = Math.min(header + 1, count - n, to - p);
      for (let i = 0; i < len; i++, o += stride) out[o] = src[p + i]!;
      p += header + 1;
      n += len;
    } else if (header > 128) {
      // Replicate run of 257 - header copies of the next byte; 128 is a no-op.
      if (p >= to) break;
      const value = src[p++]!;
      const len = Math.min(257 - header, count - n);
      for (let i = 0; i < len; i++, o += stride) out[o] = value;
      n += len;
    }
  }
  return n;
}

/**
 * Decodes one RLE frame to little-endian, pixel-interleaved samples of `bitsAllocated` bits: the layout the
 * native pixel reader takes with planar configuration 0.
 */
export function decodeRle(frame: Uint8Array, pixels: number, samples: number, bitsAllocated: number): Uint8Array {
  const bytesPerSample = bitsAllocated / 8;
  if (!Number.isInteger(bytesPerSample) || bytesPerSample < 1) throw new DicomError(`RLE with ${bitsAllocated} bits allocated is not supported`);
  if (frame.length < HEADER_BYTES) throw new DicomError(`corrupt RLE frame: ${frame.length} bytes, shorter than its 64-byte header`);
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const segments = view.getUint32(0, true);
  const expected = samples * bytesPerSample;
  if (segments !== expected || segments > MAX_SEGMENTS) {
    throw new DicomError(`corrupt RLE frame: ${segments} segments, expected ${expected} (${samples} samples × ${bytesPerSample} bytes)`);
  }
  const offsets: number[] = [];
  for (let i = 0; i < segments; i++) offsets.push(view.getUint32(4 + 4 * i, true));
  const out = new Uint8Array(pixels * expected);
  for (let s = 0; s < segments; s++) {
    const from = offsets[s]!;
    const to = s + 1 < segments ? offsets[s + 1]! : frame.length;
    if (from < HEADER_BYTES || to > frame.length || from > to) throw new DicomError(`corrupt RLE frame: segment ${s + 1} offset ${from} is outside the fragment`);
    const sample = Math.floor(s / bytesPerSample);
    // Segment order within a sample is most significant byte first; little-endian output puts it last.
    const byteInSample = bytesPerSample - 1 - (s % bytesPerSample);
    const written = unpackSegment(frame, from, to, out, sample * bytesPerSample + byteInSample, expected, pixels);
    if (written < pixels) throw new DicomError(`corrupt RLE frame: segment ${s + 1} decodes to ${written} of ${pixels} bytes`);
  }
  return out;
}
