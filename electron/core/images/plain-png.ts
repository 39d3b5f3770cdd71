/**
 * The pixels of a plain PNG, decoded in this thread: 8-bit grey or RGB, not interlaced, no transparency, no colour
 * profile, no EXIF. Datasets like MNIST are thousands of such files at the model's size, where sharp's fixed cost
 * per call (about 0.35 ms for a 28×28 file on 2 cores) is most of `loupe predict`'s time and PIL decodes 4× faster;
 * inflating and unfiltering a small file here costs a few microseconds.
 *
 * Anything else returns null and the caller decodes with sharp, which also gives the reasons for damaged files:
 * a chunk whose CRC does not match, a stream that does not inflate to exactly the image's size, or a chunk we do not
 * know (it might change how the pixels look) all fall back. Tests compare this decoder with sharp byte for byte.
 */
import { crc32, inflateSync } from 'node:zlib';

export interface PlainPng {
  width: number;
  height: number;
  channels: 1 | 3;
  /** Row-major, interleaved, width·height·channels bytes. */
  data: Uint8Array;
  /**
   * The same image as a PNG of only its IHDR, IDAT and IEND chunks, copied as stored (no re-encoding): the
   * pixels without the file's text, time stamps or other ancillary chunks, which may name a patient. Null when
   * that PNG would exceed `maxBytes`.
   */
  bare: (maxBytes: number) => Buffer | null;
}

/** The largest inflate output allocated at once before the stream has shown it is that long. */
const MAX_CHUNK = 1024 * 1024;

const IEND = Buffer.from([0, 0, 0, 0, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82]);

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Chunks that do not change the decoded pixels of a grey or RGB image without alpha. */
const HARMLESS = new Set(['sRGB', 'pHYs', 'tIME', 'tEXt', 'zTXt', 'iTXt', 'bKGD']);

/** Colour type → channels, for the two types this decoder takes. */
const CHANNELS: Record<number, 1 | 3 | undefined> = { 0: 1, 2: 3 };

/**
 * Decodes `buf` when it is a plain PNG of at most `maxPixels` pixels and `accept(width, height, channels)` holds
 * (checked from the header, before anything is inflated); else null.
 */
export function plainPngPixels(buf: Buffer, maxPixels: number, accept: (width: number, height: number, channels: 1 | 3) => boolean): PlainPng | null {
  if (buf.length < 57 || !buf.subarray(0, 8).equals(SIGNATURE)) return null;
  const idat: Buffer[] = [];
  // Whole chunks (length, type, data, CRC) for bare().
  const kept: Buffer[] = [SIGNATURE];
  let header: { width: number; height: number; channels: 1 | 3 } | null = null;
  let ended = false;
  let previous = '';
  for (let p = 8; p + 12 <= buf.length; ) {
    const len = buf.readUInt32BE(p);
    const end = p + 12 + len;
    if (end > buf.length) return null;
    const type = buf.toString('latin1', p + 4, p + 8);
    if (crc32(buf.subarray(p + 4, p + 8 + len)) !== buf.readUInt32BE(p + 8 + len)) return null;
    const body = buf.subarray(p + 8, p + 8 + len);
    if (type === 'IHDR') {
      if (header || len !== 13) return null;
      const width = body.readUInt32BE(0);
      const height = body.readUInt32BE(4);
      const [depth, colourType, compression, filter, interlace] = body.subarray(8, 13);
      const channels = CHANNELS[colourType!];
      if (depth !== 8 || !channels || compression !== 0 || filter !== 0 || interlace !== 0) return null;
      if (width === 0 || height === 0 || width * height > maxPixels || !accept(width, height, channels)) return null;
      header = { width, height, channels };
      kept.push(buf.subarray(p, end));
    } else if (type === 'IDAT') {
      // The image data must be consecutive chunks (PNG spec 5.6); split data is not a plain file.
      if (!header || (idat.length > 0 && previous !== 'IDAT')) return null;
      idat.push(body);
      kept.push(buf.subarray(p, end));
    } else if (type === 'IEND') {
      ended = true;
      break;
    } else if (!HARMLESS.has(type) || !header) {
      return null;
    }
    previous = type;
    p = end;
  }
  if (!header || !ended || idat.length === 0) return null;
  const { width, height, channels } = header;
  const stride = width * channels;
  const expected = height * (stride + 1);
  let raw: Buffer;
  try {
    // Bounded before allocating: a stream that inflates to more than the header promises is not plain. One output
    // chunk of the size the header promises (capped: the header is not trusted yet), unfiltered in place: zlib's
    // default 16 kB chunks cost extra allocations and a concatenation per file. Together 16–20% of this decoder's
    // time on 28 and 96 px files, and fewer young-generation collections during an import.
    raw = inflateSync(idat.length === 1 ? idat[0]! : Buffer.concat(idat), { maxOutputLength: expected + 1, chunkSize: Math.max(64, Math.min(expected + 1, MAX_CHUNK)) });
  } catch {
    return null;
  }
  if (raw.length !== expected) return null;
  const data = unfilter(raw, height, stride, channels);
  const bareBytes = kept.reduce((n, b) => n + b.length, IEND.length);
  return data && { width, height, channels, data, bare: (maxBytes) => (bareBytes <= maxBytes ? Buffer.concat([...kept, IEND], bareBytes) : null) };
}

/**
 * Undoes the per-row filters (PNG spec, section 9) of 8-bit samples, `bpp` bytes per pixel, in place: row y moves
 * to y·stride, always y + 1 bytes before where its filtered bytes were read, so nothing is overwritten before it
 * is read, and the rows above (the filters' "up") are already final. Returns the first height·stride bytes.
 */
function unfilter(raw: Uint8Array, height: number, stride: number, bpp: number): Uint8Array | null {
  // The same bytes under a second name: `raw` for what is read, `out` for what is written behind it.
  const out = raw;
  for (let y = 0; y < height; y++) {
    const kind = raw[y * (stride + 1)]!;
    const src = y * (stride + 1) + 1;
    const row = y * stride;
    const up = row - stride;
    switch (kind) {
      case 0:
        out.copyWithin(row, src, src + stride);
        break;
      case 1:
        for (let i = 0; i < stride; i++) out[row + i] = raw[src + i]! + (i >= bpp ? out[row + i - bpp]! : 0);
        break;
      case 2:
        for (let i = 0; i < stride; i++) out[row + i] = raw[src + i]! + (y > 0 ? out[up + i]! : 0);
        break;
      case 3:
        for (let i = 0; i < stride; i++) {
          const a = i >= bpp ? out[row + i - bpp]! : 0;
          const b = y > 0 ? out[up + i]! : 0;
          out[row + i] = raw[src + i]! + ((a + b) >> 1);
        }
        break;
      case 4:
        for (let i = 0; i < stride; i++) {
          const a = i >= bpp ? out[row + i - bpp]! : 0;
          const b = y > 0 ? out[up + i]! : 0;
          const c = i >= bpp && y > 0 ? out[up + i - bpp]! : 0;
          const pa = Math.abs(b - c);
          const pb = Math.abs(a - c);
          const pc = Math.abs(a + b - 2 * c);
          out[row + i] = raw[src + i]! + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
        }
        break;
      default:
        return null;
    }
  }
  // A plain Uint8Array (not a Buffer view), as the type promises.
  return new Uint8Array(out.buffer, out.byteOffset, height * stride);
}
