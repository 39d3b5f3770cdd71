/**
 * Import of one DICOM file: an image (header facts, the DICOM header fields Loupe stores, a thumbnail of the
 * display frame as its first window preset shows it) or a file with no image data (listed apart, not an error).
 */
import { textDecoderFor, textOf, type DicomMetadata } from '../dicom/metadata.ts';
import { DicomError } from '../dicom/parse.ts';
import { displayFrame, readDicomFile, renderDisplayFrame } from './dicom-source.ts';
import { ProbeError, probeImage, renderedPng, type ImageFacts } from './probe.ts';

export interface DicomFacts {
  metadata: DicomMetadata;
  /** The frame the image shows (0-based). */
  frame: number;
}

export type DicomProbe =
  | { kind: 'image'; facts: ImageFacts; thumb: Buffer | null; dicom: DicomFacts; label: string | null }
  | { kind: 'no-image'; sopClass: string };

/** A class name from an attribute's value (its first value, trimmed); null when absent or not a usable name. */
function labelOf(content: { parsed: { dataSet: Parameters<typeof textOf>[0] } }, tag: string): string | null {
  const ds = content.parsed.dataSet;
  const value = textOf(ds, tag, textDecoderFor(ds))?.split('\\')[0]?.trim();
  return value && value.length <= 64 ? value : null;
}

/**
 * Throws ProbeError with the reason when the file cannot be imported. `labelTag`: the attribute whose value is
 * the image's class (`--labels dicom:<Keyword>`), or null.
 */
export async function probeDicom(buf: Buffer, name: string, limitInputPixels: number, makeThumb: boolean, labelTag: string | null = null): Promise<DicomProbe> {
  let content;
  try {
    content = readDicomFile(buf, limitInputPixels);
    if (content.kind === 'dicomdir') return { kind: 'no-image', sopClass: 'DICOMDIR (Media Storage Directory)' };
    if (content.kind === 'no-image') return { kind: 'no-image', sopClass: content.sopClass };
    const png = await renderedPng(await renderDisplayFrame(content));
    const { thumb, ...rendered } = await probeImage(png, name, { limitInputPixels, makeThumb });
    const frame = displayFrame(content);
    const frames = content.pixel.frames;
    const facts: ImageFacts = {
      ...rendered,
      format: 'dicom',
      bitDepth: content.pixel.bitsStored,
      pages: frames,
      // The stored range is the DICOM pipeline's business; the display frame is already 8-bit.
      minValue: null,
      maxValue: null,
      note: frames > 1 ? `multi-frame DICOM with ${frames} frames: frame ${frame + 1} (the middle one) is used` : null,
    };
    return { kind: 'image', facts, thumb, dicom: { metadata: content.metadata, frame }, label: labelTag ? labelOf(content, labelTag) : null };
  } catch (e) {
    if (e instanceof DicomError) throw new ProbeError(e.message);
    throw e;
  }
}
