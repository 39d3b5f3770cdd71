/**
 * DICOM files on the image paths (import, thumbnails, viewer, training tensors, predict): recognized by content,
 * read with the project's pixel limit, and shown as one frame through the DICOM pixel pipeline with the image's
 * own default windowing. Every path picks the same frame (the middle one of a multi-frame file), so training,
 * thumbnails and predictions see the same pixels.
 */
import type { DicomWindow } from '../../../shared/training.ts';
import { readDicom, renderFrame, DEFAULT_DICOM_LIMITS, type DicomContent, type DicomImage, type RenderedFrame } from '../dicom/image.ts';
import { voiFor } from '../dicom/presets.ts';
import { DICOM_SNIFF_BYTES, hasDicmPrefix, sniffRawDataset } from '../dicom/parse.ts';
import { sniffFormat } from './formats.ts';

/**
 * DICOM by content: the DICM marker (which wins over the preamble's bytes: dual TIFF/DICOM files put a TIFF header
 * there, as pydicom's CT_small.dcm does), or a bare data set that is not another image format.
 */
export function isDicomBuffer(buf: Uint8Array): boolean {
  if (hasDicmPrefix(buf)) return true;
  return sniffFormat(buf.subarray(0, 16)) === null && sniffRawDataset(buf.subarray(0, DICOM_SNIFF_BYTES), buf.length) !== null;
}

/** Reads the header with the project's pixel limit per frame. Throws DicomError with the reason. */
export function readDicomFile(buf: Uint8Array, limitInputPixels: number): DicomContent {
  return readDicom(buf, { ...DEFAULT_DICOM_LIMITS, maxFramePixels: limitInputPixels });
}

/** The frame a multi-frame file is shown and trained as: the middle one (0-based). */
export function displayFrame(img: DicomImage): number {
  return Math.floor((img.pixel.frames - 1) / 2);
}

/**
 * A frame (default: the display frame), 8-bit, with the image's default window (its first preset, else its VOI
 * LUT, else the full range) or a run's windowing choice. A frame the file does not have (it changed since
 * import), or a named preset it lacks, is a DicomError.
 */
export function renderDisplayFrame(img: DicomImage, frame: number = displayFrame(img), window?: DicomWindow): Promise<RenderedFrame> {
  return renderFrame(img, frame, window ? voiFor(img, window) : undefined);
}
