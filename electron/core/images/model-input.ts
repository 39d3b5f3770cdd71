/**
 * Turns an image file into the model's input pixels: oriented, 16-bit scaled by its own range, resized by the
 * run's mode, in the run's channel count, as uint8 HWC. One function for training, evaluation and `loupe predict`,
 * so a model always sees images prepared exactly as in training.
 */
import sharp, { type Sharp, type ResizeOptions } from 'sharp';
import type { DicomWindow, Preprocessing, ResizeMode } from '../../../shared/training.ts';
import { ProbeError, decodableSource, readHeader, scale16To8, FAIL_ON, type ValueRange } from '../import/probe.ts';

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
  const { meta } = await readHeader(buf, '', limitInputPixels);
  const size = shape.imageSize;
  const srcColour = meta.space === 'b-w' || meta.space === 'grey16' ? 1 : 3;
  let pipeline = sharp(buf, { limitInputPixels, failOn: FAIL_ON, autoOrient: true }).resize(size, size, resizeOptions(shape.resize));
  try {
    if (meta.depth === 'ushort' || meta.depth === 'short') {
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
    const converted = srcColour !== shape.channels ? `${srcColour === 1 ? 'grayscale' : 'colour'} image converted to ${shape.channels === 1 ? 'grayscale' : 'RGB'}` : null;
    return { pixels, converted };
  } catch (e) {
    if (e instanceof ProbeError) throw e;
    throw new ProbeError(`cannot decode: ${(e as Error).message}`);
  }
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
