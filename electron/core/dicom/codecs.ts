/**
 * Compressed frames: finding each frame's bytes in the encapsulated pixel data (PS3.5 A.4) and decoding them with
 * the Cornerstone project's WebAssembly builds of libjpeg-turbo, CharLS and OpenJPEG, IJG libjpeg's 12-bit build
 * (dcmjs-codecs, see jpeg12.ts), jpeg-lossless-decoder-js, and our RLE decoder. Every decoder returns little-endian, pixel-interleaved samples, the layout the native pixel
 * reader takes, plus whether it already turned YCbCr into RGB.
 *
 * The .wasm files are read from the packages on disk and handed to the Emscripten factories (`wasmBinary`), so no
 * code path can fetch them; their stdout chatter (OpenJPEG prints [INFO] lines) is silenced.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import dicomParser, { type DataSet, type Element } from 'dicom-parser';
import { DicomError } from './parse.ts';
import { decodeJpeg12 } from './jpeg12.ts';
import { decodeRle } from './rle.ts';
import type { PixelEncoding } from './syntax.ts';

const require = createRequire(import.meta.url);

interface FrameInfo { width: number; height: number; bitsPerSample: number; componentCount: number; isSigned?: boolean }
interface WasmDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  getDecodedBuffer(): Uint8Array;
  decode(): void;
  getFrameInfo(): FrameInfo;
  getInterleaveMode?(): number;
  delete(): void;
}
type WasmModule = Record<string, new () => WasmDecoder> & { getExceptionMessage?: (ptr: number) => unknown };
type Factory = (args: { wasmBinary: Uint8Array; print: () => void; printErr: () => void }) => Promise<WasmModule>;

const modules = new Map<string, Promise<WasmModule>>();

function wasmModule(pkg: string): Promise<WasmModule> {
  let m = modules.get(pkg);
  if (!m) {
    const factory = require(`${pkg}/decodewasmjs`) as Factory;
    const wasmBinary = readFileSync(require.resolve(`${pkg}/decodewasm`));
    m = factory({ wasmBinary, print: () => {}, printErr: () => {} });
    modules.set(pkg, m);
  }
  return m;
}

/** What the frame must decode to, from the pixel module. */
export interface FrameShape {
  rows: number;
  columns: number;
  samples: number;
  bitsAllocated: number;
  photometric: string;
}

export interface DecodedFrame {
  /** Little-endian, pixel-interleaved samples of bitsAllocated bits. */
  bytes: Uint8Array;
  /** The decoder applied the inverse colour transform (JPEG YCbCr, JPEG 2000 ICT/RCT): the samples are RGB. */
  rgb: boolean;
}

const NAMES: Record<Exclude<PixelEncoding, 'native'>, string> = {
  'jpeg-8bit': 'JPEG',
  'jpeg-lossless': 'JPEG Lossless',
  'jpeg-ls': 'JPEG-LS',
  'jpeg-2000': 'JPEG 2000',
  rle: 'RLE',
};

/** Whether a JPEG-family or JPEG 2000 stream ends with its end marker (FFD9; DICOM pads fragments to even length). */
function hasEndMarker(data: Uint8Array): boolean {
  for (let i = data.length - 2; i >= Math.max(0, data.length - 4); i--) if (data[i] === 0xff && data[i + 1] === 0xd9) return true;
  return false;
}

/**
 * The reason for a decoder failure. Emscripten throws C++ exceptions as pointers: the module that exports
 * getExceptionMessage (CharLS) turns them into its message.
 */
function corrupt(encoding: Exclude<PixelEncoding, 'native'>, e: unknown, data: Uint8Array, mod?: WasmModule): DicomError {
  if (e instanceof DicomError) return e;
  let msg = e instanceof Error ? e.message : String(e);
  if (typeof e === 'number') {
    const described = mod?.getExceptionMessage?.(e);
    msg = described ? String(described).replace(/^[^,]*,/, '').trim() || String(described) : 'the decoder refused the stream';
  }
  const cut = hasEndMarker(data) ? '' : ' (it has no end marker: truncated?)';
  return new DicomError(`corrupt ${NAMES[encoding]} stream${cut}: ${msg}`);
}

function checkInfo(info: FrameInfo, shape: FrameShape, encoding: Exclude<PixelEncoding, 'native'>): void {
  if (info.width !== shape.columns || info.height !== shape.rows || info.componentCount !== shape.samples) {
    throw new DicomError(
      `${NAMES[encoding]} stream is ${info.width}×${info.height}×${info.componentCount} but the header says ` +
        `${shape.columns}×${shape.rows}×${shape.samples}`,
    );
  }
}

/** Sample bytes at the decoder's precision, widened or narrowed to bitsAllocated. */
function toAllocated(bytes: Uint8Array, bitsPerSample: number, shape: FrameShape): Uint8Array {
  const inBytes = bitsPerSample > 8 ? 2 : 1;
  const outBytes = shape.bitsAllocated / 8;
  const n = shape.rows * shape.columns * shape.samples;
  if (bytes.length < n * inBytes) throw new DicomError(`decoded frame holds ${bytes.length} bytes, expected ${n * inBytes}`);
  if (inBytes === outBytes) return bytes.slice(0, n * outBytes);
  const out = new Uint8Array(n * outBytes);
  for (let i = 0; i < n; i++) {
    const v = inBytes === 2 ? bytes[2 * i]! | (bytes[2 * i + 1]! << 8) : bytes[i]!;
    for (let b = 0; b < outBytes; b++) out[i * outBytes + b] = (v >> (8 * b)) & 0xff;
  }
  return out;
}

/** Planar (one plane per component) to pixel-interleaved. */
function interleave(bytes: Uint8Array, shape: FrameShape, bytesPerSample: number): Uint8Array {
  const pixels = shape.rows * shape.columns;
  const out = new Uint8Array(bytes.length);
  for (let s = 0; s < shape.samples; s++) {
    for (let i = 0; i < pixels; i++) {
      for (let b = 0; b < bytesPerSample; b++) {
        out[(i * shape.samples + s) * bytesPerSample + b] = bytes[(s * pixels + i) * bytesPerSample + b]!;
      }
    }
  }
  return out;
}

async function runWasm(pkg: string, name: string, encoding: Exclude<PixelEncoding, 'native'>, data: Uint8Array, shape: FrameShape): Promise<{ info: FrameInfo; bytes: Uint8Array; interleaveMode: number | null }> {
  const mod = await wasmModule(pkg);
  const decoder = new mod[name]!();
  try {
    decoder.getEncodedBuffer(data.length).set(data);
    decoder.decode();
    const info = decoder.getFrameInfo();
    if (info.width === 0 || info.height === 0) throw new DicomError(`corrupt ${NAMES[encoding]} stream${hasEndMarker(data) ? '' : ' (it has no end marker: truncated?)'}: the decoder produced no image`);
    checkInfo(info, shape, encoding);
    return { info, bytes: decoder.getDecodedBuffer().slice(), interleaveMode: decoder.getInterleaveMode?.() ?? null };
  } catch (e) {
    throw corrupt(encoding, e, data, mod);
  } finally {
    decoder.delete();
  }
}

export interface StreamHeader { width: number; height: number; components: number; precision: number }

/**
 * The size a JPEG-family stream (SOFn, or JPEG-LS SOF55) or a JPEG 2000 codestream (SIZ) declares, read from its
 * markers before any decoder runs: a stream that would decode to more than the header says is refused without
 * letting the decoder allocate for it. Null when no such marker comes before the scan.
 */
export function streamHeader(data: Uint8Array): StreamHeader | null {
  const u16 = (p: number) => (data[p]! << 8) | data[p + 1]!;
  const u32 = (p: number) => u16(p) * 65536 + u16(p + 2);
  if (data[0] === 0xff && data[1] === 0x4f && data[2] === 0xff && data[3] === 0x51 && data.length >= 42) {
    // SIZ: Lsiz Rsiz Xsiz Ysiz XOsiz YOsiz XTsiz YTsiz XTOsiz YTOsiz Csiz, then Ssiz per component.
    const p = 4;
    return { width: u32(p + 4) - u32(p + 12), height: u32(p + 8) - u32(p + 16), components: u16(p + 36), precision: ((data[p + 38] ?? 0) & 0x7f) + 1 };
  }
  let p = 2;
  while (p + 9 < data.length) {
    if (data[p] !== 0xff) return null;
    const marker = data[p + 1]!;
    if (marker === 0xff) {
      p++;
      continue;
    }
    // SOF0–SOF15 except DHT (C4), JPG (C8) and DAC (CC); SOF55 (F7) of JPEG-LS.
    if ((marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) || marker === 0xf7) {
      return { precision: data[p + 4]!, height: u16(p + 5), width: u16(p + 7), components: data[p + 9]! };
    }
    if (marker === 0xda) return null;
    p += 2 + u16(p + 2);
  }
  return null;
}

function checkStream(data: Uint8Array, shape: FrameShape, encoding: Exclude<PixelEncoding, 'native'>): StreamHeader | null {
  const h = streamHeader(data);
  // JP2 files and streams without a readable header are checked after decoding (checkInfo).
  if (h) checkInfo({ width: h.width, height: h.height, componentCount: h.components, bitsPerSample: h.precision }, shape, encoding);
  return h;
}

/** Where a JPEG stream's JFIF (APP0) or Adobe (APP14) marker starts, which tell libjpeg its colour space. */
function colourMarker(data: Uint8Array): { kind: 'jfif' | 'adobe'; at: number } | null {
  let p = 2;
  while (p + 9 < data.length && data[p] === 0xff) {
    const marker = data[p + 1]!;
    if (marker === 0xda) return null;
    const id = Buffer.from(data.subarray(p + 4, p + 9)).toString('latin1');
    if (marker === 0xe0 && id === 'JFIF\0') return { kind: 'jfif', at: p };
    // libjpeg ignores an Adobe segment too short to hold the transform byte (pydicom's SC_rgb_jpeg.dcm has one).
    if (marker === 0xee && id === 'Adobe' && ((data[p + 2]! << 8) | data[p + 3]!) >= 14) return { kind: 'adobe', at: p };
    p += 2 + ((data[p + 2]! << 8) | data[p + 3]!);
  }
  return null;
}

/**
 * When the DICOM header says RGB, the samples are RGB whatever libjpeg would guess (no marker: YCbCr) or an Adobe
 * marker claims: dcmtk and gdcm decode these files so (pydicom's SC_rgb_jpeg*, SC_jpeg_no_color_transform*). An
 * Adobe APP14 marker with transform 0 tells libjpeg not to convert. JFIF streams are YCbCr by definition.
 */
function markRgb(data: Uint8Array, shape: FrameShape): Uint8Array {
  if (shape.samples !== 3 || shape.photometric !== 'RGB') return data;
  const found = colourMarker(data);
  if (found?.kind === 'jfif') return data;
  if (found?.kind === 'adobe') {
    const out = new Uint8Array(data);
    // APP14 'Adobe': length, identifier, version, flags0, flags1, then the transform byte.
    out[found.at + 15] = 0;
    return out;
  }
  const app14 = [0xff, 0xee, 0x00, 0x0e, 0x41, 0x64, 0x6f, 0x62, 0x65, 0x00, 0x64, 0x00, 0x00, 0x00, 0x00, 0x00];
  const out = new Uint8Array(data.length + app14.length);
  out.set(data.subarray(0, 2));
  out.set(app14, 2);
  out.set(data.subarray(2), 2 + app14.length);
  return out;
}

function decodeJpegLossless(data: Uint8Array, shape: FrameShape): DecodedFrame {
  if (!checkStream(data, shape, 'jpeg-lossless')) throw new DicomError('corrupt JPEG Lossless stream: no frame header');
  // This decoder fills a cut stream's missing rows silently: a stream without its end marker is refused.
  if (!hasEndMarker(data)) throw new DicomError('truncated JPEG Lossless stream: it has no end-of-image marker');
  const { Decoder } = require('jpeg-lossless-decoder-js') as {
    Decoder: new () => { decompress(buf: ArrayBuffer, offset?: number, length?: number): ArrayBuffer; frame: { precision: number; dimX: number; dimY: number; numComp: number } };
  };
  const decoder = new Decoder();
  let out: ArrayBuffer;
  try {
    // A copy of its own: Buffer.slice shares memory, and the decoder takes a whole ArrayBuffer.
    const copy = new Uint8Array(data);
    out = decoder.decompress(copy.buffer, 0, copy.length);
  } catch (e) {
    throw corrupt('jpeg-lossless', e, data);
  }
  const f = decoder.frame;
  checkInfo({ width: f.dimX, height: f.dimY, componentCount: f.numComp, bitsPerSample: f.precision }, shape, 'jpeg-lossless');
  return { bytes: toAllocated(new Uint8Array(out), f.precision, shape), rgb: false };
}

/** A 12-bit lossy JPEG frame (Process 4), by IJG libjpeg's 12-bit build (jpeg12.ts). */
async function decodeJpeg12Frame(data: Uint8Array, shape: FrameShape): Promise<DecodedFrame> {
  if (shape.bitsAllocated !== 16) throw new DicomError(`12-bit JPEG stream in pixel data of ${shape.bitsAllocated} bits allocated`);
  // libjpeg fills a cut stream's missing rows with grey and only warns: a stream without its end marker is refused.
  if (!hasEndMarker(data)) throw new DicomError('truncated 12-bit JPEG stream: it has no end-of-image marker');
  let r;
  try {
    r = await decodeJpeg12(data, shape);
  } catch (e) {
    if (e instanceof DicomError) throw e;
    throw new DicomError(`corrupt 12-bit JPEG stream: ${e instanceof Error ? e.message : String(e)}`);
  }
  checkInfo({ width: r.width, height: r.height, componentCount: r.samples, bitsPerSample: 12 }, shape, 'jpeg-8bit');
  return { bytes: toAllocated(r.bytes, 12, shape), rgb: false };
}

/** Decodes one compressed frame. */
export async function decodeCompressedFrame(encoding: Exclude<PixelEncoding, 'native'>, data: Uint8Array, shape: FrameShape): Promise<DecodedFrame> {
  const pixels = shape.rows * shape.columns;
  switch (encoding) {
    case 'rle':
      return { bytes: decodeRle(data, pixels, shape.samples, shape.bitsAllocated), rgb: false };
    case 'jpeg-lossless':
      return decodeJpegLossless(data, shape);
    case 'jpeg-8bit': {
      const precision = checkStream(data, shape, encoding)?.precision ?? null;
      if (precision === 12) return decodeJpeg12Frame(data, shape);
      if (precision !== null && precision !== 8) throw new DicomError(`lossy JPEG stream with ${precision}-bit samples: ISO 10918-1 allows 8 or 12`);
      const r = await runWasm('@cornerstonejs/codec-libjpeg-turbo-8bit', 'JPEGDecoder', encoding, markRgb(data, shape), shape);
      return { bytes: toAllocated(r.bytes, 8, shape), rgb: shape.samples === 3 };
    }
    case 'jpeg-ls': {
      checkStream(data, shape, encoding);
      const r = await runWasm('@cornerstonejs/codec-charls', 'JpegLSDecoder', encoding, data, shape);
      const bytes = toAllocated(r.bytes, r.info.bitsPerSample, shape);
      // Interleave mode 0 (none) decodes one plane per component.
      return { bytes: shape.samples > 1 && r.interleaveMode === 0 ? interleave(bytes, shape, shape.bitsAllocated / 8) : bytes, rgb: false };
    }
    case 'jpeg-2000': {
      checkStream(data, shape, encoding);
      const r = await runWasm('@cornerstonejs/codec-openjpeg', 'J2KDecoder', encoding, data, shape);
      return { bytes: toAllocated(r.bytes, r.info.bitsPerSample, shape), rgb: shape.samples === 3 };
    }
  }
}

function startsCodestream(b: Uint8Array): boolean {
  // JPEG / JPEG-LS / JPEG Lossless SOI, JPEG 2000 codestream SOC+SIZ, or a JP2 file signature box.
  return (b[0] === 0xff && b[1] === 0xd8) || (b[0] === 0xff && b[1] === 0x4f && b[2] === 0xff && b[3] === 0x51) ||
    (b[0] === 0x00 && b[1] === 0x00 && b[2] === 0x00 && b[3] === 0x0c && b[4] === 0x6a && b[5] === 0x50);
}

/**
 * The bytes of frame `index` (0-based) of encapsulated pixel data. Without a Basic Offset Table, a frame is one
 * fragment when there are as many fragments as frames, else the run of fragments from one codestream start to the
 * next (PS3.5 A.4: a frame may span fragments, a fragment never holds two frames).
 */
export function encapsulatedFrame(ds: DataSet, pixel: Element, index: number, frames: number): Uint8Array {
  const fragments = pixel.fragments ?? [];
  if (fragments.length === 0) throw new DicomError('encapsulated pixel data has no fragments');
  if (frames > fragments.length) {
    throw new DicomError(`Number of Frames is ${frames} but the encapsulated pixel data holds only ${fragments.length} fragments`);
  }
  try {
    if (frames === 1) return dicomParser.readEncapsulatedPixelDataFromFragments(ds, pixel, 0, fragments.length);
    if ((pixel.basicOffsetTable?.length ?? 0) === frames) return dicomParser.readEncapsulatedImageFrame(ds, pixel, index);
    if (fragments.length === frames) return dicomParser.readEncapsulatedPixelDataFromFragments(ds, pixel, index, 1);
    const starts: number[] = [];
    fragments.forEach((f, i) => {
      const head = ds.byteArray.subarray(f.position, f.position + 6);
      if (startsCodestream(head)) starts.push(i);
    });
    if (starts.length !== frames) throw new DicomError(`cannot find the ${frames} frames among ${fragments.length} fragments (no Basic Offset Table)`);
    const end = index + 1 < starts.length ? starts[index + 1]! : fragments.length;
    return dicomParser.readEncapsulatedPixelDataFromFragments(ds, pixel, starts[index]!, end - starts[index]!);
  } catch (e) {
    if (e instanceof DicomError) throw e;
    throw new DicomError(`corrupt encapsulated pixel data: ${e instanceof Error ? e.message : String(e)}`);
  }
}
