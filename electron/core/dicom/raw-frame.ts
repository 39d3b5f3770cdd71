/**
 * A grey DICOM frame for the viewer's live window/level: its stored values as unsigned 16-bit samples (shifted by
 * the smallest value Bits Stored allows), plus how the viewer maps them back to modality values. The VOI window
 * is then applied in the viewer with the same function the pipeline uses (shared/voi.ts), so dragging needs no
 * round trip. Images the viewer cannot window itself (colour, palette, a Modality LUT Sequence, more than 16
 * bits) get no mapping: the viewer shows their display frame.
 */
import { rawHeader } from '../../../shared/transport.ts';
import type { DicomRawMapping } from '../../../shared/contract.ts';
import { decodeFrame, type DicomImage } from './image.ts';

/** The viewer's mapping from raw samples to modality values, or null when it cannot window the image. */
export function rawMapping(img: DicomImage): DicomRawMapping | null {
  const { pixel, modality } = img;
  if (pixel.samplesPerPixel !== 1 || modality.lut || pixel.bitsStored > 16) return null;
  if (pixel.photometric !== 'MONOCHROME1' && pixel.photometric !== 'MONOCHROME2') return null;
  return {
    storedMin: pixel.signed ? -(2 ** (pixel.bitsStored - 1)) : 0,
    slope: modality.slope,
    intercept: modality.intercept,
    invert: pixel.photometric === 'MONOCHROME1',
  };
}

/** The LRAW bytes of a frame (every `step`-th pixel when it is larger than `maxSide`), or null (see rawMapping). */
export async function rawFrame(img: DicomImage, index: number, maxSide: number): Promise<Buffer | null> {
  const mapping = rawMapping(img);
  if (!mapping) return null;
  const frame = await decodeFrame(img, index);
  const step = Math.max(1, Math.ceil(Math.max(frame.width, frame.height) / maxSide));
  const width = Math.ceil(frame.width / step);
  const height = Math.ceil(frame.height / step);
  const samples = new Uint16Array(width * height);
  const { values } = frame;
  for (let y = 0, o = 0; y < height; y++) {
    const row = y * step * frame.width;
    for (let x = 0; x < width; x++, o++) samples[o] = values[row + x * step]! - mapping.storedMin;
  }
  const pixels = Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength);
  // LRAW is little-endian; typed arrays are native-endian.
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] === 0) pixels.swap16();
  return Buffer.concat([rawHeader(width, height, 1, 16), pixels]);
}
