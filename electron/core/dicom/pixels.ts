/**
 * The Image Pixel module (PS3.3 C.7.6.3) and the bytes-to-values step: which tags describe the pixels, the bounds
 * checked before anything is allocated, and the stored values of one frame (bits outside Bits Stored ignored,
 * two's-complement sign extension for Pixel Representation 1, planes interleaved, YBR turned into RGB).
 */
import type { DataSet } from 'dicom-parser';
import { DicomError } from './parse.ts';
import type { TransferSyntax } from './syntax.ts';

export type StoredArray = Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array;

const PHOTOMETRICS = ['MONOCHROME1', 'MONOCHROME2', 'RGB', 'YBR_FULL', 'YBR_FULL_422', 'YBR_ICT', 'YBR_RCT', 'PALETTE COLOR'] as const;
export type Photometric = (typeof PHOTOMETRICS)[number];

export interface PixelModule {
  rows: number;
  columns: number;
  samplesPerPixel: 1 | 3;
  bitsAllocated: 1 | 8 | 16 | 32;
  bitsStored: number;
  highBit: number;
  signed: boolean;
  photometric: Photometric;
  planarConfiguration: 0 | 1;
  frames: number;
}

export interface PixelLimits {
  /** Largest rows × columns of one frame (the same bound sharp gets as limitInputPixels). */
  maxFramePixels: number;
  /** Largest Number of Frames. */
  maxFrames: number;
}

export const DEFAULT_PIXEL_LIMITS: PixelLimits = { maxFramePixels: 100_000_000, maxFrames: 10_000 };

const TAG_NAMES: Record<string, string> = {
  x00280002: 'Samples per Pixel',
  x00280004: 'Photometric Interpretation',
  x00280010: 'Rows',
  x00280011: 'Columns',
  x00280100: 'Bits Allocated',
  x00280101: 'Bits Stored',
  x00280103: 'Pixel Representation',
};

function tagLabel(tag: string): string {
  return `(${tag.slice(1, 5).toUpperCase()},${tag.slice(5).toUpperCase()}) ${TAG_NAMES[tag] ?? ''}`.trim();
}

function requiredUs(ds: DataSet, tag: string): number {
  const el = ds.elements[tag];
  const v = el && el.length >= 2 ? ds.uint16(tag) : undefined;
  if (v === undefined) throw new DicomError(`missing required pixel tag ${tagLabel(tag)}`);
  return v;
}

/** Reads and validates the pixel module; every refusal names the tag and the value. */
export function readPixelModule(ds: DataSet, limits: PixelLimits = DEFAULT_PIXEL_LIMITS): PixelModule {
  const rows = requiredUs(ds, 'x00280010');
  const columns = requiredUs(ds, 'x00280011');
  const samples = requiredUs(ds, 'x00280002');
  const bitsAllocated = requiredUs(ds, 'x00280100');
  const bitsStored = requiredUs(ds, 'x00280101');
  const representation = requiredUs(ds, 'x00280103');
  const highBit = ds.elements.x00280102 ? (ds.uint16('x00280102') ?? bitsStored - 1) : bitsStored - 1;
  const photometric = ds.string('x00280004')?.trim();
  if (!photometric) throw new DicomError(`missing required pixel tag ${tagLabel('x00280004')}`);
  if (!(PHOTOMETRICS as readonly string[]).includes(photometric)) throw new DicomError(`unsupported Photometric Interpretation "${photometric}"`);
  if (rows === 0 || columns === 0) throw new DicomError(`image has no pixels: ${columns}×${rows}`);
  if (samples !== 1 && samples !== 3) throw new DicomError(`unsupported Samples per Pixel ${samples} (1 or 3)`);
  const colour = photometric !== 'MONOCHROME1' && photometric !== 'MONOCHROME2' && photometric !== 'PALETTE COLOR';
  if (colour !== (samples === 3)) throw new DicomError(`Photometric Interpretation ${photometric} does not match Samples per Pixel ${samples}`);
  if (bitsAllocated !== 1 && bitsAllocated !== 8 && bitsAllocated !== 16 && bitsAllocated !== 32) {
    throw new DicomError(`unsupported Bits Allocated ${bitsAllocated} (1, 8, 16 or 32)`);
  }
  if (bitsStored < 1 || bitsStored > bitsAllocated || highBit < bitsStored - 1 || highBit >= bitsAllocated) {
    throw new DicomError(`inconsistent bits: allocated ${bitsAllocated}, stored ${bitsStored}, high bit ${highBit}`);
  }
  if (representation > 1) throw new DicomError(`invalid Pixel Representation ${representation} (0 or 1)`);
  const framesText = ds.string('x00280008');
  const frames = framesText === undefined || framesText.trim() === '' ? 1 : Number(framesText.trim());
  if (!Number.isInteger(frames) || frames < 1) throw new DicomError(`invalid Number of Frames "${framesText}"`);
  if (rows * columns > limits.maxFramePixels) {
    throw new DicomError(`image too large: ${columns}×${rows} exceeds the pixel limit (${limits.maxFramePixels} pixels per frame)`);
  }
  if (frames > limits.maxFrames) throw new DicomError(`too many frames: ${frames} (limit ${limits.maxFrames})`);
  const planar = samples === 3 ? (ds.uint16('x00280006') ?? 0) : 0;
  return {
    rows,
    columns,
    samplesPerPixel: samples,
    bitsAllocated,
    bitsStored,
    highBit,
    signed: representation === 1,
    photometric: photometric as Photometric,
    planarConfiguration: planar === 1 ? 1 : 0,
    frames,
  };
}

/** Bytes of one native frame (YBR_FULL_422 stores two samples per pixel: PS3.3 C.7.6.3.1.2). */
export function nativeFrameBits(m: PixelModule): number {
  const samples = m.photometric === 'YBR_FULL_422' ? 2 : m.samplesPerPixel;
  return m.rows * m.columns * samples * m.bitsAllocated;
}

/**
 * Checks that the native pixel data holds every frame, before reading any (a header claiming more frames than
 * the file holds is refused here, without allocating).
 */
export function checkNativeLength(m: PixelModule, length: number): void {
  const needed = Math.ceil((nativeFrameBits(m) * m.frames) / 8);
  if (length < needed) {
    throw new DicomError(
      `pixel data length ${length} bytes does not match rows × columns × frames × samples × bits allocated ` +
        `(${m.rows} × ${m.columns} × ${m.frames} × ${m.samplesPerPixel} × ${m.bitsAllocated} bits = ${needed} bytes)`,
    );
  }
}

function arrayFor(bits: number, signed: boolean, n: number): StoredArray {
  if (bits <= 8) return signed ? new Int8Array(n) : new Uint8Array(n);
  if (bits <= 16) return signed ? new Int16Array(n) : new Uint16Array(n);
  return signed ? new Int32Array(n) : new Uint32Array(n);
}

/**
 * Stored values of `n` samples from `bytes` (samples of bitsAllocated bits at bit offset `bitOffset`; 1-bit data
 * is packed LSB first), keeping bits highBit-bitsStored+1..highBit and sign-extending them when signed.
 */
export function readSamples(m: PixelModule, bytes: Uint8Array, n: number, bigEndian: boolean, bitOffset = 0): StoredArray {
  const out = arrayFor(m.bitsStored, m.signed, n);
  const shift = m.highBit + 1 - m.bitsStored;
  const width = m.bitsStored;
  const signBit = 2 ** (width - 1);
  const range = 2 ** width;
  if (m.bitsAllocated === 8 || m.bitsAllocated === 16) {
    const need = n * (m.bitsAllocated / 8);
    if (bytes.length < need) throw new DicomError(`pixel data too short: ${bytes.length} bytes for ${n} samples of ${m.bitsAllocated} bits`);
    readSmallSamples(out, bytes, n, m.bitsAllocated === 16, bigEndian, shift, width, m.signed);
    return out;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bytesPer = m.bitsAllocated / 8;
  for (let i = 0; i < n; i++) {
    let raw: number;
    if (m.bitsAllocated === 1) {
      const bit = bitOffset + i;
      raw = (bytes[bit >> 3]! >> (bit & 7)) & 1;
    } else {
      raw = view.getUint32(i * bytesPer, !bigEndian);
    }
    // Division instead of >> and & keeps 32-bit values unsigned.
    let v = Math.floor(raw / 2 ** shift) % range;
    if (m.signed && v >= signBit) v -= range;
    out[i] = v;
  }
  return out;
}

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * readSamples for 8- and 16-bit samples with 32-bit integer operations: a CT import spends its time here, and
 * every value fits in an int32. Samples in the host's byte order are read through a typed-array view, so the
 * common case (16 bits stored in 16, or 8 in 8) is one memory copy and the others one masking pass; a byte-by-byte
 * loop costs several times more per sample.
 */
function readSmallSamples(out: StoredArray, bytes: Uint8Array, n: number, wide: boolean, bigEndian: boolean, shift: number, width: number, signed: boolean): void {
  if (!wide || bigEndian !== HOST_LITTLE_ENDIAN) {
    const src = wide ? uint16View(bytes, n) : bytes.subarray(0, n);
    if (shift === 0 && width === (wide ? 16 : 8)) {
      // Same width: the bits are the values; a signed view of them is their two's complement reading.
      out.set(signed ? (wide ? new Int16Array(src.buffer, src.byteOffset, n) : new Int8Array(src.buffer, src.byteOffset, n)) : src);
    } else if (signed) {
      maskSigned(out, src, n, shift, width);
    } else {
      maskUnsigned(out, src, n, shift, width);
    }
    return;
  }
  const mask = (1 << width) - 1;
  const up = 32 - width;
  const hi = bigEndian ? 0 : 1;
  const lo = 1 - hi;
  for (let i = 0; i < n; i++) {
    const v = (((bytes[2 * i + hi]! << 8) | bytes[2 * i + lo]!) >>> shift) & mask;
    out[i] = signed ? (v << up) >> up : v;
  }
}

/** The first n 16-bit samples in host order; copied when the data starts at an odd byte (a view must be aligned). */
function uint16View(bytes: Uint8Array, n: number): Uint16Array {
  if (bytes.byteOffset % 2 === 0) return new Uint16Array(bytes.buffer, bytes.byteOffset, n);
  return new Uint16Array(bytes.slice(0, 2 * n).buffer);
}

function maskUnsigned(out: StoredArray, src: Uint8Array | Uint16Array, n: number, shift: number, width: number): void {
  const mask = (1 << width) - 1;
  for (let i = 0; i < n; i++) out[i] = (src[i]! >>> shift) & mask;
}

function maskSigned(out: StoredArray, src: Uint8Array | Uint16Array, n: number, shift: number, width: number): void {
  const up = 32 - width;
  for (let i = 0; i < n; i++) out[i] = (((src[i]! >>> shift) << up) >> up);
}

/** Planar configuration 1 (RRR…GGG…BBB…) to pixel-interleaved. */
export function interleavePlanes<T extends StoredArray>(values: T, pixels: number): T {
  const out = values.slice() as T;
  for (let i = 0; i < pixels; i++) {
    out[3 * i] = values[i]!;
    out[3 * i + 1] = values[pixels + i]!;
    out[3 * i + 2] = values[2 * pixels + i]!;
  }
  return out;
}

/** YBR_FULL_422 (Y0 Y1 Cb Cr per pixel pair) to full YBR, each chroma pair shared by its two pixels. */
export function expandYbr422<T extends StoredArray>(values: T, m: PixelModule): T {
  const pixels = m.rows * m.columns;
  const out = arrayFor(m.bitsStored, m.signed, pixels * 3) as T;
  for (let p = 0; p + 1 < pixels + 1; p += 2) {
    const base = p * 2;
    const cb = values[base + 2]!;
    const cr = values[base + 3]!;
    out[3 * p] = values[base]!;
    out[3 * p + 1] = cb;
    out[3 * p + 2] = cr;
    if (p + 1 < pixels) {
      out[3 * p + 3] = values[base + 1]!;
      out[3 * p + 4] = cb;
      out[3 * p + 5] = cr;
    }
  }
  return out;
}

/** YBR_FULL to RGB in place (PS3.3 C.7.6.3.1.2, the ITU-R BT.601 full-range equations), rounded and clamped. */
export function ybrFullToRgb<T extends StoredArray>(values: T, bitsStored: number): T {
  const max = 2 ** bitsStored - 1;
  const mid = 2 ** (bitsStored - 1);
  const clamp = (v: number) => (v < 0 ? 0 : v > max ? max : Math.round(v));
  for (let i = 0; i + 2 < values.length; i += 3) {
    const y = values[i]!;
    const cb = values[i + 1]! - mid;
    const cr = values[i + 2]! - mid;
    values[i] = clamp(y + 1.402 * cr);
    values[i + 1] = clamp(y - (0.114 * 1.772 / 0.587) * cb - (0.299 * 1.402 / 0.587) * cr);
    values[i + 2] = clamp(y + 1.772 * cb);
  }
  return values;
}

/** The frame's values as the pixel pipeline continues with them. */
export interface FrameValues {
  width: number;
  height: number;
  /** 1 for monochrome and palette indices, 3 for RGB (interleaved). */
  samples: 1 | 3;
  values: StoredArray;
  /** MONOCHROME1/2, PALETTE COLOR (values are indices) or RGB (every colour model ends as RGB). */
  photometric: 'MONOCHROME1' | 'MONOCHROME2' | 'PALETTE COLOR' | 'RGB';
}

/**
 * Values of one frame from its decoded bytes (native: the frame's slice of Pixel Data; compressed: the decoder's
 * output). `rgbAlready`: the decoder already applied the inverse colour transform.
 */
export function frameValues(m: PixelModule, bytes: Uint8Array, syntax: TransferSyntax, rgbAlready: boolean, bitOffset = 0): FrameValues {
  const pixels = m.rows * m.columns;
  const native = syntax.encoding === 'native';
  const ybr422 = native && m.photometric === 'YBR_FULL_422';
  const count = ybr422 ? pixels * 2 : pixels * m.samplesPerPixel;
  let values = readSamples(m, bytes, count, native && syntax.bigEndian, bitOffset);
  const base = { width: m.columns, height: m.rows };
  if (m.samplesPerPixel === 1) {
    return { ...base, samples: 1, values, photometric: m.photometric as FrameValues['photometric'] };
  }
  if (ybr422) values = expandYbr422(values, m);
  else if (native && m.planarConfiguration === 1) values = interleavePlanes(values, pixels);
  // YBR_ICT/YBR_RCT exist only inside JPEG 2000, whose decoder undoes them; JPEG's decoder undoes YCbCr.
  const isYbr = m.photometric === 'YBR_FULL' || m.photometric === 'YBR_FULL_422';
  if (isYbr && !rgbAlready) ybrFullToRgb(values, m.bitsStored);
  return { ...base, samples: 3, values, photometric: 'RGB' };
}
