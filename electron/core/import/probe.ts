/**
 * The one sharp adapter of core: metadata and thumbnails at import, display/raw renders for the viewer, and
 * encoding of generated images. Everything else works with Buffers and plain objects.
 *
 * One file read feeds the hash and the decoder (the caller hands the same Buffer in); metadata comes from the
 * header without decoding, so each image is decoded once (twice only for 16-bit images, whose value range is
 * measured on the full image). Untrusted input: explicit `limitInputPixels` (checked against the header first, so
 * a decompression bomb is refused before any pixel is decoded) and `failOn: 'truncated'`.
 */
import { endianness } from 'node:os';
import sharp, { type Sharp, type Metadata } from 'sharp';
import { extensionMatches, sniffFormat, type SniffedKind } from './formats.ts';
import { jpegHeader, pngHeader } from './header.ts';
import { plainPngPixels } from '../images/plain-png.ts';
import { isDicomBuffer, readDicomFile, renderDisplayFrame } from './dicom-source.ts';
import { DicomError } from '../dicom/parse.ts';
import type { RenderedFrame } from '../dicom/image.ts';
import type { DicomWindow } from '../../../shared/training.ts';
import { rawHeader } from '../../../shared/transport.ts';

// Buffer inputs never repeat, so libvips' operation cache only costs memory during an import.
sharp.cache(false);

export const DEFAULT_LIMIT_INPUT_PIXELS = 100_000_000;
export const THUMB_SIZE = 256;
/** The thumbnail encoding; the import benchmark's bare-sharp baseline uses the very same settings. */
export const THUMB_WEBP = { quality: 80, effort: 2 } as const;
export const FAIL_ON = 'truncated' as const;

/** A file that cannot be imported; `message` is the reason shown to the user. */
export class ProbeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProbeError';
  }
}

export interface ImageFacts {
  width: number;
  height: number;
  channels: number;
  bitDepth: number;
  format: string;
  pages: number;
  orientation: number | null;
  /** Pixel range over the colour channels; measured for images deeper than 8 bits only. */
  minValue: number | null;
  maxValue: number | null;
  note: string | null;
  /**
   * For images stored with colour channels: whether they are equal (a grey image stored as RGB, as most X-ray
   * JPEG/PNG exports are), judged on the downscaled thumbnail. Null for one-channel images.
   */
  channelsEqual: boolean | null;
}

export interface ProbeResult extends ImageFacts {
  /** The thumbnail (WebP, or a small PNG's own image chunks), or null when the caller already has one for this content hash. */
  thumb: Buffer | null;
}

export interface ProbeOptions {
  limitInputPixels: number;
  /** False when a thumbnail for this content already exists (duplicates share one). */
  makeThumb: boolean;
  /** False where nobody stores channelsEqual (it then costs a decode of its own when no thumbnail is made). */
  checkChannels?: boolean;
}

const KIND_NAMES: Record<SniffedKind, string> = {
  jpeg: 'JPEG',
  png: 'PNG',
  gif: 'GIF',
  tiff: 'TIFF',
  webp: 'WebP',
  bmp: 'BMP',
};

const DEPTH_BITS: Record<string, number> = {
  uchar: 8, char: 8, ushort: 16, short: 16, uint: 32, int: 32, float: 32, double: 64, complex: 64, dpcomplex: 128,
};

function canRead(kind: SniffedKind): boolean {
  const fmt = (sharp.format as unknown as Record<string, { input?: { buffer?: boolean } } | undefined>)[kind];
  if (fmt?.input?.buffer) return true;
  // Some builds read extra formats through ImageMagick.
  return Boolean(sharp.format.magick?.input?.buffer);
}

/** The header facts the import uses: from our PNG/JPEG parser, or from sharp for everything else. */
export type HeaderMeta = Pick<
  Metadata,
  'width' | 'height' | 'channels' | 'depth' | 'bitsPerSample' | 'format' | 'pages' | 'orientation' | 'space' | 'hasAlpha' | 'autoOrient'
>;

function isHighDepth(meta: Pick<Metadata, 'depth'>): boolean {
  return meta.depth === 'ushort' || meta.depth === 'short';
}

function isGrey(meta: Pick<Metadata, 'space'>): boolean {
  return meta.space === 'b-w' || meta.space === 'grey16';
}

/** Whether the file ends the way its format must end (JPEG EOI marker, PNG IEND chunk); others: unknown. */
function endsProperly(kind: SniffedKind, buf: Buffer): boolean | null {
  const tail = buf.subarray(Math.max(0, buf.length - 64));
  if (kind === 'jpeg') return tail.includes(Buffer.from([0xff, 0xd9]));
  if (kind === 'png') return tail.includes(Buffer.from('IEND', 'latin1'));
  return null;
}

function reasonFor(kind: SniffedKind, e: unknown, buf: Buffer): string {
  const msg = ((e as Error).message ?? String(e)).trim();
  if (/pixel limit/i.test(msg)) return `image too large: exceeds the pixel limit (${msg})`;
  // libvips' message is sometimes lost under concurrent decodes ("Unknown error"): the missing end marker
  // still tells a cut-off file apart, deterministically.
  if (/premature end|truncat|read error|unexpected end|not enough data|short read/i.test(msg) || endsProperly(kind, buf) === false) {
    return `truncated or corrupt ${KIND_NAMES[kind]} file (${endsProperly(kind, buf) === false ? 'the end of the file is missing' : msg})`;
  }
  return `cannot decode ${KIND_NAMES[kind]} file: ${msg}`;
}

function open(buf: Buffer, limitInputPixels: number): Sharp {
  return sharp(buf, { limitInputPixels, failOn: FAIL_ON, autoOrient: true });
}

/** Reads the header; refuses non-images, unsupported formats and pixel bombs before decoding anything. */
export async function readHeader(buf: Buffer, name: string, limitInputPixels: number): Promise<{ meta: HeaderMeta; kind: SniffedKind; note: string | null }> {
  if (buf.length === 0) throw new ProbeError('empty file (0 bytes)');
  const kind = sniffFormat(buf.subarray(0, 16));
  if (!kind) throw new ProbeError('not an image: the content is not JPEG, PNG, TIFF, WebP, GIF or BMP');
  if (!canRead(kind)) {
    throw new ProbeError(`unsupported format: ${KIND_NAMES[kind]} cannot be read by this build of sharp/libvips`);
  }
  let meta: HeaderMeta | null = kind === 'png' ? pngHeader(buf) : kind === 'jpeg' ? jpegHeader(buf) : null;
  if (!meta) {
    try {
      // The header only: a pixel limit here would hide the dimensions we want to report.
      meta = await sharp(buf, { limitInputPixels: false, failOn: 'none' }).metadata();
    } catch (e) {
      throw new ProbeError(reasonFor(kind, e, buf));
    }
  }
  const pixels = meta.width * meta.height;
  if (pixels > limitInputPixels) {
    throw new ProbeError(
      `image too large: ${meta.width}×${meta.height} = ${(pixels / 1e6).toFixed(1)} megapixels exceeds the ` +
        `limit of ${(limitInputPixels / 1e6).toFixed(1)} megapixels (decompression-bomb guard)`,
    );
  }
  const notes: string[] = [];
  const pages = meta.pages ?? 1;
  if (pages > 1) {
    notes.push(
      kind === 'tiff'
        ? `multi-page TIFF with ${pages} pages: only the first page is used`
        : `animated ${KIND_NAMES[kind]} with ${pages} frames: only the first frame is used`,
    );
  }
  if (!extensionMatches(kind, name)) notes.push(`content is ${KIND_NAMES[kind]} although the name says otherwise`);
  return { meta, kind, note: notes.length ? notes.join('; ') : null };
}

/** An 8-bit rendering (DICOM's display frame) as a PNG sharp reads like any other image. */
export function renderedPng(frame: RenderedFrame): Promise<Buffer> {
  // Level 0: this PNG lives for one sharp call; compressing it would only cost time.
  return sharp(frame.data, { raw: { width: frame.width, height: frame.height, channels: frame.channels } }).png({ compressionLevel: 0 }).toBuffer();
}

/**
 * The thumbnail and channel check of an 8-bit rendering (DICOM's display frame), straight from its raw pixels:
 * what probeImage gives for the same pixels as a PNG, without encoding and decoding one (bench:dicom).
 */
export async function probeRendered(frame: RenderedFrame, makeThumb: boolean): Promise<{ thumb: Buffer | null; channelsEqual: boolean | null }> {
  const raw = () => sharp(frame.data, { raw: { width: frame.width, height: frame.height, channels: frame.channels } });
  if (frame.channels === 1) {
    const thumb = makeThumb ? await raw().resize(THUMB_SIZE, THUMB_SIZE, { fit: 'inside', withoutEnlargement: true }).webp(THUMB_WEBP).toBuffer() : null;
    return { thumb, channelsEqual: null };
  }
  const size = makeThumb ? THUMB_SIZE : GREY_CHECK_SIZE;
  const { data, info } = await raw().resize(size, size, { fit: 'inside', withoutEnlargement: true }).raw().toBuffer({ resolveWithObject: true });
  const thumb = makeThumb ? await sharp(data, { raw: { width: info.width, height: info.height, channels: 3 } }).webp(THUMB_WEBP).toBuffer() : null;
  return { thumb, channelsEqual: colourChannelsEqual(data, info.channels) };
}

/**
 * The bytes sharp should read for a source file: the file itself, or for DICOM the PNG of its display frame
 * (made by the DICOM pixel pipeline). Files with no image data or a DICOMDIR are refused with their reason.
 */
export async function decodableSource(buf: Buffer, limitInputPixels: number, frame?: number, window?: DicomWindow): Promise<Buffer> {
  if (!isDicomBuffer(buf)) return buf;
  try {
    const content = readDicomFile(buf, limitInputPixels);
    if (content.kind === 'no-image') throw new ProbeError(`no image data (${content.sopClass})`);
    if (content.kind === 'dicomdir') throw new ProbeError('DICOMDIR: an index of DICOM files, not an image');
    return await renderedPng(await renderDisplayFrame(content, frame, window));
  } catch (e) {
    if (e instanceof DicomError) throw new ProbeError(e.message);
    throw e;
  }
}

/** Metadata, value range and (optionally) the thumbnail of one image held in memory. */
export async function probeImage(buf: Buffer, name: string, opts: ProbeOptions): Promise<ProbeResult> {
  const { meta, kind, note } = await readHeader(buf, name, opts.limitInputPixels);
  let minValue: number | null = null;
  let maxValue: number | null = null;
  let thumb: Buffer | null = null;
  let channelsEqual: boolean | null = null;
  try {
    if (isHighDepth(meta)) {
      const stats = await open(buf, opts.limitInputPixels).stats();
      const colour = meta.hasAlpha ? stats.channels.slice(0, -1) : stats.channels;
      minValue = Math.min(...colour.map((c) => c.min));
      maxValue = Math.max(...colour.map((c) => c.max));
    }
    const checkChannels = opts.checkChannels !== false && hasColourChannels(meta);
    if (opts.makeThumb || checkChannels) {
      const view = await thumbnailPixels(buf, { min: minValue, max: maxValue }, opts.limitInputPixels, meta, opts.makeThumb ? THUMB_SIZE : GREY_CHECK_SIZE);
      channelsEqual = checkChannels ? colourChannelsEqual(view.data, view.channels) : null;
      if (opts.makeThumb) thumb = await view.thumb();
    }
  } catch (e) {
    if (e instanceof ProbeError) throw e;
    throw new ProbeError(reasonFor(kind, e, buf));
  }
  return {
    width: meta.autoOrient?.width ?? meta.width,
    height: meta.autoOrient?.height ?? meta.height,
    channels: meta.channels,
    bitDepth: meta.bitsPerSample && meta.depth === 'uchar' ? meta.bitsPerSample : (DEPTH_BITS[meta.depth] ?? 8),
    format: meta.format,
    pages: meta.pages ?? 1,
    orientation: meta.orientation ?? null,
    minValue,
    maxValue,
    note,
    channelsEqual,
    thumb,
  };
}

/** Enough pixels to tell a grey image stored as RGB from a colour one, when no thumbnail is made anyway. */
const GREY_CHECK_SIZE = 64;
/** JPEG rounding moves equal channels apart by a level or two; a burned-in coloured marker covers little of an image. */
const CHANNEL_TOLERANCE = 4;
const COLOURED_SHARE = 0.01;

function hasColourChannels(meta: Pick<Metadata, 'channels' | 'space'>): boolean {
  return meta.channels >= 3 && !isGrey(meta);
}

/** Whether R, G and B agree (within JPEG rounding) on all but a sliver of the pixels of an 8-bit raw image. */
export function colourChannelsEqual(data: Uint8Array, channels: number): boolean {
  if (channels < 3) return true;
  const pixels = Math.floor(data.length / channels);
  const allowed = Math.floor(pixels * COLOURED_SHARE);
  let coloured = 0;
  for (let i = 0; i + 2 < data.length; i += channels) {
    const r = data[i]!;
    const g = data[i + 1]!;
    const b = data[i + 2]!;
    if (Math.max(r, g, b) - Math.min(r, g, b) > CHANNEL_TOLERANCE && ++coloured > allowed) return false;
  }
  return true;
}

export interface ValueRange {
  min: number | null;
  max: number | null;
}

/** Maps 16-bit samples to 8 bits by the image's own range; alpha keeps its plain 16→8 scaling. */
export function scale16To8(data: Uint16Array, channels: number, hasAlpha: boolean, range: ValueRange): Buffer {
  const out = Buffer.allocUnsafe(data.length);
  const min = range.min ?? 0;
  const max = range.max ?? 65535;
  const span = max > min ? max - min : 0;
  const k = span > 0 ? 255 / span : 0;
  const alpha = hasAlpha ? channels - 1 : -1;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (i % channels === alpha || span === 0) out[i] = v >> 8;
    else {
      const s = (v - min) * k;
      out[i] = s <= 0 ? 0 : s >= 255 ? 255 : Math.round(s);
    }
  }
  return out;
}

async function toUshort(pipeline: Sharp, grey: boolean): Promise<{ data: Uint16Array; width: number; height: number; channels: number }> {
  const { data, info } = await pipeline
    .toColourspace(grey ? 'grey16' : 'rgb16')
    .raw({ depth: 'ushort' })
    .toBuffer({ resolveWithObject: true });
  const samples = new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2);
  return { data: samples, width: info.width, height: info.height, channels: info.channels };
}

/** A downscaled 8-bit view of a 16-bit image, as raw pixels for a final encoder. */
async function scaledView(buf: Buffer, size: number, range: ValueRange, limit: number, meta: HeaderMeta): Promise<Sharp> {
  const pipeline = open(buf, limit).resize(size, size, { fit: 'inside', withoutEnlargement: true });
  const raw = await toUshort(pipeline, isGrey(meta));
  const hasAlpha = raw.channels === 2 || raw.channels === 4;
  const bytes = scale16To8(raw.data, raw.channels, hasAlpha, range);
  return sharp(bytes, { raw: { width: raw.width, height: raw.height, channels: raw.channels as 1 | 2 | 3 | 4 } });
}

/** The 256 px thumbnail (thumbnailPixels), EXIF orientation applied, 16-bit images scaled by their own range. */
export async function makeThumbnail(source: Buffer, range: ValueRange, limit: number, meta?: HeaderMeta, frame?: number): Promise<Buffer> {
  const buf = await decodableSource(source, limit, frame);
  const m = meta ?? (await readHeader(buf, '', limit)).meta;
  return (await thumbnailPixels(buf, range, limit, m, THUMB_SIZE)).thumb();
}

/**
 * A small PNG is its own thumbnail while it takes no more disk than a WebP thumbnail of a photo does (8–12 kB):
 * datasets like MNIST or CIFAR then import without one sharp call per file. Larger ones get a WebP.
 */
const BARE_PNG_THUMB_BYTES = 8 * 1024;

/**
 * A downscaled 8-bit view as raw pixels (in sRGB or grey, as the WebP encoder would get them) and its thumbnail:
 * one decode serves both the thumbnail and the channel check.
 */
async function thumbnailPixels(buf: Buffer, range: ValueRange, limit: number, meta: HeaderMeta, size: number): Promise<{ thumb: () => Promise<Buffer>; data: Buffer | Uint8Array; channels: number }> {
  // A plain PNG that fits the thumbnail as it is (small PNG datasets): its pixels are the view, decoded in this
  // thread; its thumbnail is the file's own image chunks, or a WebP sharp encodes from those pixels.
  const plain = isHighDepth(meta) ? null : plainPngPixels(buf, limit, (w, h) => w <= size && h <= size);
  if (plain) {
    const thumb = async () => {
      const bare = plain.bare(BARE_PNG_THUMB_BYTES);
      if (bare) return bare;
      return sharp(plain.data, { raw: { width: plain.width, height: plain.height, channels: plain.channels } }).webp(THUMB_WEBP).toBuffer();
    };
    return { thumb, data: plain.data, channels: plain.channels };
  }
  const view = isHighDepth(meta) ? await scaledView(buf, size, range, limit, meta) : open(buf, limit).resize(size, size, { fit: 'inside', withoutEnlargement: true });
  const { data, info } = await view.toColourspace(isGrey(meta) ? 'b-w' : 'srgb').raw().toBuffer({ resolveWithObject: true });
  const thumb = () => sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels as 1 | 2 | 3 | 4 } }).webp(THUMB_WEBP).toBuffer();
  return { thumb, data, channels: info.channels };
}

/** The full image for display: oriented, 8-bit, capped at `maxSide`; JPEG for JPEG sources, PNG otherwise. */
export async function renderDisplay(source: Buffer, range: ValueRange, limit: number, maxSide: number, frame?: number): Promise<{ body: Buffer; contentType: string }> {
  const buf = await decodableSource(source, limit, frame);
  const { meta, kind } = await readHeader(buf, '', limit);
  try {
    if (isHighDepth(meta)) {
      const body = await (await scaledView(buf, maxSide, range, limit, meta)).png({ compressionLevel: 3 }).toBuffer();
      return { body, contentType: 'image/png' };
    }
    const pipeline = open(buf, limit).resize(maxSide, maxSide, { fit: 'inside', withoutEnlargement: true });
    if (kind === 'jpeg') return { body: await pipeline.jpeg({ quality: 90 }).toBuffer(), contentType: 'image/jpeg' };
    return { body: await pipeline.png({ compressionLevel: 3 }).toBuffer(), contentType: 'image/png' };
  } catch (e) {
    throw new ProbeError(reasonFor(kind, e, buf));
  }
}

/** The LRAW format of shared/transport.ts: 16-bit samples stay 16-bit, for window/level in the viewer. */
export async function renderRaw(source: Buffer, limit: number, maxSide: number, frame?: number): Promise<Buffer> {
  // A grey DICOM image reaches the viewer as its stored values (images/media.ts); colour DICOM as its display frame.
  const buf = await decodableSource(source, limit, frame);
  const { meta, kind } = await readHeader(buf, '', limit);
  const grey = isGrey(meta);
  try {
    const pipeline = open(buf, limit).resize(maxSide, maxSide, { fit: 'inside', withoutEnlargement: true });
    let pixels: Buffer;
    let width: number;
    let height: number;
    let channels: number;
    let bits: 8 | 16;
    if (isHighDepth(meta)) {
      const raw = await toUshort(pipeline, grey);
      pixels = Buffer.from(raw.data.buffer, raw.data.byteOffset, raw.data.byteLength);
      // sharp hands out native-endian samples; LRAW is little-endian.
      if (endianness() === 'BE') pixels = Buffer.from(pixels).swap16();
      ({ width, height, channels } = raw);
      bits = 16;
    } else {
      const { data, info } = await pipeline.toColourspace(grey ? 'b-w' : 'srgb').raw().toBuffer({ resolveWithObject: true });
      pixels = data;
      ({ width, height, channels } = info);
      bits = 8;
    }
    return Buffer.concat([rawHeader(width, height, channels, bits), pixels]);
  } catch (e) {
    throw new ProbeError(reasonFor(kind, e, buf));
  }
}

export type EncodeFormat = 'png' | 'tiff' | 'jpeg' | 'webp' | 'gif';

/** Encodes generated pixels (sample project, fixtures, benchmarks); Uint16Array pixels stay 16-bit in PNG/TIFF. */
export async function encodePixels(
  pixels: Uint8Array | Uint16Array,
  width: number,
  height: number,
  channels: 1 | 2 | 3 | 4,
  format: EncodeFormat,
): Promise<Buffer> {
  let img = sharp(pixels, { raw: { width, height, channels } });
  if (pixels instanceof Uint16Array) img = img.toColourspace(channels <= 2 ? 'grey16' : 'rgb16');
  else if (channels <= 2) img = img.toColourspace('b-w');
  switch (format) {
    case 'png':
      return img.png({ compressionLevel: 2 }).toBuffer();
    case 'tiff':
      // sharp's default TIFF compression is JPEG, which would force 8 bits.
      return img.tiff({ compression: 'deflate' }).toBuffer();
    case 'jpeg':
      return img.jpeg({ quality: 85 }).toBuffer();
    case 'webp':
      return img.webp({ quality: 85 }).toBuffer();
    case 'gif':
      return img.gif().toBuffer();
  }
}
