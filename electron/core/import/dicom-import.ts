/**
 * Import of one DICOM file: an image (header facts, the DICOM header fields Loupe stores, a thumbnail of the
 * display frame as its first window preset shows it) or a file with no image data (listed apart, not an error).
 */
import { textDecoderFor, textOf, type DicomMetadata } from '../dicom/metadata.ts';
import { DicomError } from '../dicom/parse.ts';
import { displayFrame, readDicomFile, renderDisplayFrame } from './dicom-source.ts';
import { ProbeError, probeRendered, type ImageFacts } from './probe.ts';

export interface DicomFacts {
  metadata: DicomMetadata;
  /** The frame the image shows (0-based). */
  frame: number;
}

/** One project image made from a DICOM file: the display frame, or one frame of a file imported frame by frame. */
export interface DicomFrameImage {
  facts: ImageFacts;
  thumb: Buffer | null;
  frame: number;
}

export type DicomProbe =
  | { kind: 'image'; images: DicomFrameImage[]; perFrame: boolean; metadata: DicomMetadata; label: string | null }
  | { kind: 'no-image'; sopClass: string };

export interface DicomProbeOptions {
  limitInputPixels: number;
  /** Every frame of a multi-frame file is an image of its own (`file#N`); otherwise the middle frame only. */
  allFrames: boolean;
  /** Whether to make the thumbnail of this frame (false when one exists for its content). */
  makeThumb: (frame: number, perFrame: boolean) => boolean;
  /** The attribute whose value is the image's class (`--labels dicom:<Keyword>`), or null. */
  labelTag: string | null;
}

/** A class name from an attribute's value (its first value, trimmed); null when absent or not a usable name. */
function labelOf(content: { parsed: { dataSet: Parameters<typeof textOf>[0] } }, tag: string): string | null {
  const ds = content.parsed.dataSet;
  const value = textOf(ds, tag, textDecoderFor(ds))?.split('\\')[0]?.trim();
  return value && value.length <= 64 ? value : null;
}

/** Throws ProbeError with the reason when the file cannot be imported. */
export async function probeDicom(buf: Buffer, name: string, opts: DicomProbeOptions): Promise<DicomProbe> {
  try {
    const content = readDicomFile(buf, opts.limitInputPixels);
    if (content.kind === 'dicomdir') return { kind: 'no-image', sopClass: 'DICOMDIR (Media Storage Directory)' };
    if (content.kind === 'no-image') return { kind: 'no-image', sopClass: content.sopClass };
    const frames = content.pixel.frames;
    const perFrame = opts.allFrames && frames > 1;
    const chosen = perFrame ? Array.from({ length: frames }, (_, k) => k) : [displayFrame(content)];
    const images: DicomFrameImage[] = [];
    for (const frame of chosen) {
      const rendered = await renderDisplayFrame(content, frame);
      const { thumb, channelsEqual } = await probeRendered(rendered, opts.makeThumb(frame, perFrame));
      const note = perFrame
        ? `frame ${frame + 1} of ${frames}`
        : frames > 1 ? `multi-frame DICOM with ${frames} frames: frame ${frame + 1} (the middle one) is used` : null;
      // The stored range is the DICOM pipeline's business; the rendered frame is already 8-bit.
      const facts: ImageFacts = {
        width: rendered.width, height: rendered.height, channels: rendered.channels, orientation: null, channelsEqual,
        format: 'dicom', bitDepth: content.pixel.bitsStored, pages: frames, minValue: null, maxValue: null, note,
      };
      images.push({ facts, thumb, frame });
    }
    return { kind: 'image', images, perFrame, metadata: content.metadata, label: opts.labelTag ? labelOf(content, opts.labelTag) : null };
  } catch (e) {
    if (e instanceof DicomError) throw new ProbeError(e.message);
    throw e;
  }
}
