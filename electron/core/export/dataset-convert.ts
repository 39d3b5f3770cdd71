/**
 * One image of a dataset export in the format asked for (issue 11):
 *   png     8-bit as training sees it: DICOM through the same display frame training decodes (default window,
 *           MONOCHROME1 inverted), 16-bit images scaled by their own range, as the viewer and training do
 *   png16 / tiff16  DICOM: the stored values after the Modality LUT, plus the export's offset (so signed values
 *           fit an unsigned 16-bit file); colour as stored; other images converted to 16 bits by libvips
 *   dicom   DICOM de-identified (deidentify.ts), a frame of a multi-frame file as a single-frame instance; other
 *           images copied as they are
 */
import sharp from 'sharp';
import { decodeFrame, type DicomImage } from '../dicom/image.ts';
import { applyModalityLut } from '../dicom/windowing.ts';
import { applyPalette, readPalette } from '../dicom/palette.ts';
import { deidentify, hasBurnedInAnnotation } from '../dicom/deidentify.ts';
import { DicomError } from '../dicom/parse.ts';
import { FAIL_ON, ProbeError, readHeader, renderDisplay, type ValueRange } from '../import/probe.ts';
import { readDicomFile, renderDisplayFrame } from '../import/dicom-source.ts';

export type DatasetFormat = 'png' | 'png16' | 'tiff16' | 'dicom';

/** sharp's largest output side: the display cap is lifted, so exported images keep their full size. */
const FULL_SIZE = 0x3fff;

export interface Converted {
  bytes: Buffer;
  ext: string;
  /** 16-bit DICOM values that did not fit 0…65535 after the offset (clipped), or were fractional (rounded). */
  clipped: number;
  rounded: number;
  monochrome1: boolean;
}

/** Reads a DICOM image's header; a file that changed into something else since import is a ProbeError. */
export function dicomImageOf(source: Buffer, limit: number): DicomImage {
  try {
    const content = readDicomFile(source, limit);
    if (content.kind !== 'image') throw new ProbeError(content.kind === 'no-image' ? `no image data (${content.sopClass})` : 'DICOMDIR: not an image');
    return content;
  } catch (e) {
    if (e instanceof DicomError) throw new ProbeError(e.message);
    throw e;
  }
}

/**
 * The lowest modality value the image's header allows (stored range through rescale or the Modality LUT), so one
 * offset for the whole export is known before any pixel is decoded.
 */
export function lowestModalityValue(img: DicomImage): number {
  const { pixel, modality } = img;
  if (pixel.samplesPerPixel === 3 || pixel.photometric === 'PALETTE COLOR' || modality.lut) return 0;
  const bits = Math.min(pixel.bitsStored, 32);
  const lo = pixel.signed ? -(2 ** (bits - 1)) : 0;
  const hi = pixel.signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
  return Math.floor(Math.min(lo * modality.slope + modality.intercept, hi * modality.slope + modality.intercept));
}

/** Whether a DICOM source declares burned-in annotation (its pixels show text that may identify the patient). */
export function burnedIn(img: DicomImage): boolean {
  return hasBurnedInAnnotation(img.parsed);
}

function plain(bytes: Buffer, ext: string, monochrome1 = false): Converted {
  return { bytes, ext, clipped: 0, rounded: 0, monochrome1 };
}

async function encode16(data: Uint16Array, width: number, height: number, channels: 1 | 3, format: 'png16' | 'tiff16'): Promise<Buffer> {
  // A Uint16Array is what tells sharp the raw samples are 16-bit (a Buffer of the same bytes would be read as 8-bit).
  const image = sharp(data, { raw: { width, height, channels } }).toColourspace(channels === 1 ? 'grey16' : 'rgb16');
  // Deflate: sharp's default TIFF settings write 8 bits.
  return format === 'png16' ? image.png({ compressionLevel: 6 }).toBuffer() : image.tiff({ compression: 'deflate' }).toBuffer();
}

async function dicom16(img: DicomImage, frame: number, offset: number, format: 'png16' | 'tiff16'): Promise<Converted> {
  const values = await decodeFrame(img, frame).catch((e: unknown) => {
    throw new ProbeError((e as Error).message);
  });
  const n = values.width * values.height;
  const ext = format === 'png16' ? '.png' : '.tif';
  if (values.photometric === 'PALETTE COLOR') {
    const rgb = applyPalette(values.values, readPalette(img.parsed.dataSet));
    return plain(await encode16(Uint16Array.from(rgb), values.width, values.height, 3, format), ext);
  }
  if (values.photometric === 'RGB') {
    return plain(await encode16(Uint16Array.from(values.values, (v) => (v < 0 ? 0 : v > 65535 ? 65535 : v)), values.width, values.height, 3, format), ext);
  }
  const modalityValues = applyModalityLut(values.values, img.modality);
  const out = new Uint16Array(n);
  let clipped = 0;
  let rounded = 0;
  for (let i = 0; i < n; i++) {
    const m = modalityValues[i]!;
    const r = Math.round(m);
    if (r !== m) rounded++;
    const v = r + offset;
    if (v < 0 || v > 65535) clipped++;
    out[i] = v < 0 ? 0 : v > 65535 ? 65535 : v;
  }
  const bytes = await encode16(out, values.width, values.height, 1, format);
  return { bytes, ext, clipped, rounded, monochrome1: values.photometric === 'MONOCHROME1' };
}

async function other16(source: Buffer, limit: number, format: 'png16' | 'tiff16'): Promise<Converted> {
  const { meta } = await readHeader(source, '', limit);
  const grey = meta.space === 'b-w' || meta.space === 'grey16';
  const image = sharp(source, { limitInputPixels: limit, failOn: FAIL_ON, autoOrient: true }).toColourspace(grey ? 'grey16' : 'rgb16');
  const bytes = format === 'png16' ? await image.png().toBuffer() : await image.tiff({ compression: 'deflate' }).toBuffer();
  return plain(bytes, format === 'png16' ? '.png' : '.tif');
}

async function png8(source: Buffer, range: ValueRange, limit: number, dicom: { img: DicomImage; frame: number } | null): Promise<Converted> {
  if (dicom) {
    // The display frame training decodes (dicom-source.ts, through probe.ts decodableSource), at full size.
    const f = await renderDisplayFrame(dicom.img, dicom.frame).catch((e: unknown) => {
      throw new ProbeError((e as Error).message);
    });
    const image = sharp(f.data, { raw: { width: f.width, height: f.height, channels: f.channels } });
    return plain(await image.toColourspace(f.channels === 1 ? 'b-w' : 'srgb').png().toBuffer(), '.png');
  }
  const { meta } = await readHeader(source, '', limit);
  const grey = meta.space === 'b-w' || meta.space === 'grey16';
  // 16-bit images: scaled by their own range, as the viewer and training scale them.
  const eight = meta.depth === 'ushort' || meta.depth === 'short' ? (await renderDisplay(source, range, limit, FULL_SIZE)).body : source;
  const png = await sharp(eight, { limitInputPixels: limit, failOn: FAIL_ON, autoOrient: true }).toColourspace(grey ? 'b-w' : 'srgb').png().toBuffer();
  return plain(png, '.png');
}

export interface ConvertRequest {
  source: Buffer;
  format: DatasetFormat;
  limit: number;
  range: ValueRange;
  /** DICOM: the frame the image is, with the header read once by the caller. */
  dicom: { img: DicomImage; frame: number } | null;
  /** png16/tiff16: added to every DICOM modality value. */
  offset: number;
  secret: string;
  patientPseudonym: string;
  /** dicom: dates moved by the patient's shift, or emptied (deidentify.ts). */
  dates: 'shift' | 'remove';
}

export async function convertImage(r: ConvertRequest): Promise<Converted> {
  switch (r.format) {
    case 'png':
      return png8(r.source, r.range, r.limit, r.dicom);
    case 'png16':
    case 'tiff16':
      return r.dicom ? dicom16(r.dicom.img, r.dicom.frame, r.offset, r.format) : other16(r.source, r.limit, r.format);
    case 'dicom':
      if (!r.dicom) return plain(r.source, '');
      try {
        // Each frame image is an instance of its own: its label and split are its own, not its file's.
        return plain(deidentify(r.dicom.img.parsed, r.secret, r.patientPseudonym, { dates: r.dates, frame: { index: r.dicom.frame, pixel: r.dicom.img.pixel } }).bytes, '.dcm');
      } catch (e) {
        throw new ProbeError(e instanceof Error ? e.message : String(e));
      }
  }
}
