/**
 * Turns an image file into the model's input pixels: oriented, 16-bit scaled by its own range, resized by the
 * run's mode, in the run's channel count, as uint8 HWC. One function for training, evaluation and `loupe predict`,
 * so a model always sees images prepared exactly as in training.
 */
import sharp, { type Sharp, type ResizeOptions } from 'sharp';
import type { DicomWindow, Preprocessing, ResizeMode } from '../../../shared/training.ts';
import { ProbeError, decodableSource, readHeader, scale16To8, FAIL_ON, type ValueRange } from '../import/probe.ts';
import { plainPngPixels, type PlainPng } from './plain-png.ts';

export interface InputShape {
  imageSize: number;
  channels: 1 | 3;
  resize: ResizeMode;
  /** DICOM grey images' windowing; absent: the image's own tags. */
  dicomWindow?: DicomWindow;
}

/** The input shape a run's (or a bundle's) preprocessing describes: what evaluation and predict decode to. */
export function inputShapeOf(p: Pick<Preprocessing, 'imageSize' | 'channels' | 'resize' | 'dicomWindow'>): InputShape {
  return { imageSize: p.imageSize, channels: p.channels, resize: p.resize, ...(p.dicomWindow ? { dicomWindow: p.dicomWindow } : {}) };
}

function resizeOptions(mode: ResizeMode): ResizeOptions {
  switch (mode) {
    case 'squash':
      return { fit: 'fill' };
    case 'letterbox':
      return { fit: 'contain', background: { r: 0, g: 0, b: 0, alpha: 1 } };
    case 'center-crop':
      return { fit: 'cover', position: 'centre' };
  }
}

function finish(pipeline: Sharp, shape: InputShape): Sharp {
  // Transparent pixels become black, as padding is; then the run's colour model.
  const flat = pipeline.flatten({ background: { r: 0, g: 0, b: 0 } });
  return shape.channels === 1 ? flat.toColourspace('b-w') : flat.toColourspace('srgb');
}

/**
 * Decodes `buf` to `imageSize²·channels` bytes. `range` is the 16-bit value range stored at import (measured again
 * when absent). Also reports whether the source had another channel count than the model's (converted).
 */
export async function decodeForModel(
  source: Buffer,
  shape: InputShape,
  range: ValueRange,
  limitInputPixels: number,
  /** DICOM: the frame the image is (stored at import); default the middle one. */
  frame?: number,
): Promise<{ pixels: Uint8Array; converted: string | null }> {
  // DICOM: the frame through the DICOM pixel pipeline, windowed as the run chose (default: the image's own tags).
  const buf = await decodableSource(source, limitInputPixels, frame, shape.dicomWindow);
  const size = shape.imageSize;
  const png = plainPngPixels(buf, limitInputPixels, (w, h, c) => atSize(w, h, c, shape) || w * h <= PLAIN_RESIZE_MAX_PIXELS);
  if (png && atSize(png.width, png.height, png.channels, shape)) return plainAtSize(png, shape);
  // A plain PNG reaches sharp as its raw pixels: the same pixels sharp would decode (tests/medium/plain-png.test.ts),
  // so the same resized bytes, for ~30% less of sharp's time on small files (2,000 Fashion-MNIST PNGs to 64 px).
  const { input, srcColour, sixteenBit } = png
    ? { input: sharp(png.data, { limitInputPixels, raw: { width: png.width, height: png.height, channels: png.channels } }), srcColour: png.channels, sixteenBit: false }
    : await fileInput(buf, limitInputPixels);
  let pipeline = input.resize(size, size, resizeOptions(shape.resize));
  try {
    if (sixteenBit) {
      const grey = srcColour === 1;
      const { data, info } = await pipeline
        .toColourspace(grey ? 'grey16' : 'rgb16')
        .raw({ depth: 'ushort' })
        .toBuffer({ resolveWithObject: true });
      const samples = new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2);
      const hasAlpha = info.channels === 2 || info.channels === 4;
      const bytes = scale16To8(samples, info.channels, hasAlpha, range.min === null ? measuredRange(samples, info.channels, hasAlpha) : range);
      pipeline = sharp(bytes, { raw: { width: info.width, height: info.height, channels: info.channels as 1 | 2 | 3 | 4 } });
    }
    const { data, info } = await finish(pipeline, shape).raw().toBuffer({ resolveWithObject: true });
    let pixels: Uint8Array = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (info.channels !== shape.channels) pixels = pickChannels(pixels, info.channels, shape.channels);
    if (pixels.length !== size * size * shape.channels) {
      throw new ProbeError(`unexpected decoded size ${info.width}×${info.height}×${info.channels}`);
    }
    return { pixels, converted: conversionNote(srcColour, shape.channels) };
  } catch (e) {
    if (e instanceof ProbeError) throw e;
    throw new ProbeError(`cannot decode: ${(e as Error).message}`);
  }
}

/** sharp on the file itself, with its channel count and whether its samples are 16-bit, from its header. */
async function fileInput(buf: Buffer, limitInputPixels: number): Promise<{ input: Sharp; srcColour: 1 | 3; sixteenBit: boolean }> {
  const { meta } = await readHeader(buf, '', limitInputPixels);
  return {
    input: sharp(buf, { limitInputPixels, failOn: FAIL_ON, autoOrient: true }),
    srcColour: meta.space === 'b-w' || meta.space === 'grey16' ? 1 : 3,
    sixteenBit: meta.depth === 'ushort' || meta.depth === 'short',
  };
}

function conversionNote(from: number, to: number): string | null {
  return from !== to ? `${from === 1 ? 'grayscale' : 'colour'} image converted to ${to === 1 ? 'grayscale' : 'RGB'}` : null;
}

/**
 * The largest plain PNG decoded in this thread to be resized: sharp's fixed cost per call is what small files pay
 * most (~1 ms of CPU for a 28×28 file on this 2-core machine), and inflating a larger one here would hold the
 * event loop.
 */
const PLAIN_RESIZE_MAX_PIXELS = 256 * 256;

/** Whether a plain PNG's pixels are already the model's input (grey is replicated to RGB, as sharp does). */
function atSize(width: number, height: number, channels: 1 | 3, shape: InputShape): boolean {
  return width === shape.imageSize && height === shape.imageSize && (channels === shape.channels || channels === 1);
}

/**
 * A plain 8-bit PNG already at the model's size (MNIST-like datasets) needs no resampling: its pixels are the
 * input, decoded without a sharp call, grey replicated to RGB as sharp does. Colour to grey stays with sharp
 * (its luminance formula), and so does everything else.
 */
function plainAtSize(png: PlainPng, shape: InputShape): { pixels: Uint8Array; converted: string | null } {
  if (png.channels === shape.channels) return { pixels: png.data, converted: null };
  const rgb = new Uint8Array(png.data.length * 3);
  for (let i = 0; i < png.data.length; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = png.data[i]!;
  return { pixels: rgb, converted: conversionNote(1, 3) };
}

function measuredRange(samples: Uint16Array, channels: number, hasAlpha: boolean): ValueRange {
  let min = 65535;
  let max = 0;
  for (let i = 0; i < samples.length; i++) {
    if (hasAlpha && i % channels === channels - 1) continue;
    const v = samples[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { min, max };
}

/** Keeps the first `want` channels of interleaved pixels (e.g. grey+alpha → grey). */
function pickChannels(src: Uint8Array, have: number, want: number): Uint8Array {
  const n = src.length / have;
  const out = new Uint8Array(n * want);
  for (let i = 0; i < n; i++) for (let c = 0; c < want; c++) out[i * want + c] = src[i * have + Math.min(c, have - 1)]!;
  return out;
}
