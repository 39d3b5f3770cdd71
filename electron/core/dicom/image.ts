/**
 * One DICOM file as Loupe sees it: an image (with frames to decode and render), a file with no image data (SR,
 * RT plan, presentation state, waveform…), or a DICOMDIR. The single entry point for import, thumbnails, the
 * viewer and training tensors, so all of them show and learn from the same pixels.
 */
import dicomParser, { type DataSet, type Element } from 'dicom-parser';
import { checkNativeLength, frameValues, nativeFrameBits, readPixelModule, DEFAULT_PIXEL_LIMITS, type FrameValues, type PixelLimits, type PixelModule } from './pixels.ts';
import { decodeCompressedFrame, encapsulatedFrame } from './codecs.ts';
import { dicomdirFiles, isDicomdir, readMetadata, sopClassName, type DicomMetadata } from './metadata.ts';
import { parseDicom, DicomError, DEFAULT_PARSE_LIMITS, type ParsedDicom, type ParseLimits } from './parse.ts';
import { applyPalette, readPalette } from './palette.ts';
import {
  defaultVoi, readModalityLut, readVoiLuts, readWindowPresets, rgbTo8, storedToGrey8,
  type Lut, type ModalityLut, type VoiChoice, type WindowPreset,
} from './windowing.ts';

export interface DicomImage {
  kind: 'image';
  parsed: ParsedDicom;
  pixel: PixelModule;
  metadata: DicomMetadata;
  modality: ModalityLut;
  presets: WindowPreset[];
  voiLuts: Lut[];
}

export interface DicomNoImage {
  kind: 'no-image';
  metadata: DicomMetadata;
  /** A readable name of the SOP class ("Structured Report", "RT Plan", …). */
  sopClass: string;
}

export interface Dicomdir {
  kind: 'dicomdir';
  /** Referenced files, relative to the DICOMDIR's folder, '/'-separated. */
  files: string[];
  invalid: string[];
}

export type DicomContent = DicomImage | DicomNoImage | Dicomdir;

export interface DicomLimits extends ParseLimits, PixelLimits {}
export const DEFAULT_DICOM_LIMITS: DicomLimits = { ...DEFAULT_PARSE_LIMITS, ...DEFAULT_PIXEL_LIMITS };

/**
 * dicom-parser's implicit-VR reader does not split undefined-length Pixel Data into fragments (implicit VR with
 * encapsulated data appears where a writer declared an explicit syntax over an implicit body): do it here.
 */
function findFragments(ds: DataSet, el: Element): void {
  if (el.encapsulatedPixelData || !el.hadUndefinedLength) return;
  const stream = new dicomParser.ByteStream(ds.byteArrayParser, ds.byteArray, el.dataOffset);
  dicomParser.findEndOfEncapsulatedElement(stream, el, []);
}

/** Whatever a library throws on malformed input becomes a DicomError with that reason: bad input never crashes. */
function asDicomError(e: unknown, what: string): DicomError {
  if (e instanceof DicomError) return e;
  return new DicomError(`${what}: ${e instanceof Error ? e.message : String(e)}`);
}

/** Reads a DICOM file's header and classifies it; no pixel is decoded. Throws DicomError with the reason. */
export function readDicom(bytes: Uint8Array, limits: DicomLimits = DEFAULT_DICOM_LIMITS): DicomContent {
  try {
    return classify(bytes, limits);
  } catch (e) {
    throw asDicomError(e, 'corrupt DICOM header');
  }
}

function classify(bytes: Uint8Array, limits: DicomLimits): DicomContent {
  const parsed = parseDicom(bytes, limits);
  if (isDicomdir(parsed)) return { kind: 'dicomdir', ...dicomdirFiles(parsed) };
  const ds = parsed.dataSet;
  const metadata = readMetadata(parsed);
  if (ds.elements.x7fe00008 || ds.elements.x7fe00009) {
    throw new DicomError('float pixel data (7FE0,0008 / 7FE0,0009: 32/64-bit floating point) is not supported');
  }
  const pixelData = ds.elements.x7fe00010;
  if (pixelData) findFragments(ds, pixelData);
  if (!pixelData) return { kind: 'no-image', metadata, sopClass: sopClassName(metadata.sopClassUid) };
  const pixel = readPixelModule(ds, limits);
  if (parsed.syntax.encoding === 'native') {
    if (pixelData.encapsulatedPixelData) throw new DicomError(`pixel data is encapsulated but the transfer syntax is ${parsed.syntax.name}`);
    if (pixelData.dataOffset + pixelData.length > ds.byteArray.length) {
      throw new DicomError(`truncated DICOM file: pixel data needs ${pixelData.length} bytes, the file holds ${ds.byteArray.length - pixelData.dataOffset}`);
    }
    checkNativeLength(pixel, pixelData.length);
  } else if (!pixelData.encapsulatedPixelData) {
    throw new DicomError(`pixel data is not encapsulated but the transfer syntax is ${parsed.syntax.name}`);
  } else if (pixel.bitsAllocated === 1) {
    throw new DicomError('compressed 1-bit pixel data is not supported');
  }
  return { kind: 'image', parsed, pixel, metadata, modality: readModalityLut(ds), presets: readWindowPresets(ds), voiLuts: readVoiLuts(ds) };
}

/** The stored values of frame `index` (0-based): exact integers, colour as interleaved RGB. */
export async function decodeFrame(img: DicomImage, index: number): Promise<FrameValues> {
  try {
    return await decodeFrameValues(img, index);
  } catch (e) {
    throw asDicomError(e, 'corrupt pixel data');
  }
}

async function decodeFrameValues(img: DicomImage, index: number): Promise<FrameValues> {
  const { parsed, pixel } = img;
  if (!Number.isInteger(index) || index < 0 || index >= pixel.frames) throw new DicomError(`frame ${index + 1} does not exist (${pixel.frames} frames)`);
  const ds = parsed.dataSet;
  const el = ds.elements.x7fe00010!;
  if (parsed.syntax.encoding === 'native') {
    const bits = nativeFrameBits(pixel);
    if (pixel.bitsAllocated === 1) {
      return frameValues(pixel, ds.byteArray.subarray(el.dataOffset, el.dataOffset + el.length), parsed.syntax, false, bits * index);
    }
    const start = el.dataOffset + (bits / 8) * index;
    return frameValues(pixel, ds.byteArray.subarray(start, start + bits / 8), parsed.syntax, false);
  }
  const data = encapsulatedFrame(ds, el, index, pixel.frames);
  const shape = { rows: pixel.rows, columns: pixel.columns, samples: pixel.samplesPerPixel, bitsAllocated: pixel.bitsAllocated, photometric: pixel.photometric };
  const decoded = await decodeCompressedFrame(parsed.syntax.encoding, data, shape);
  return frameValues(pixel, decoded.bytes, parsed.syntax, decoded.rgb);
}

/** An 8-bit rendering of a frame: grey (1 channel) or RGB (3 channels), as sharp takes raw pixels. */
export interface RenderedFrame {
  width: number;
  height: number;
  channels: 1 | 3;
  data: Uint8Array;
}

/**
 * Renders frame `index` for display and training: Modality LUT, then the VOI (default: the image's first window
 * preset, else its first VOI LUT, else the full range), MONOCHROME1 inverted; palette and RGB images as colour.
 */
export async function renderFrame(img: DicomImage, index: number, voi: VoiChoice = defaultVoi(img.presets, img.voiLuts)): Promise<RenderedFrame> {
  const frame = await decodeFrame(img, index);
  const base = { width: frame.width, height: frame.height };
  if (frame.photometric === 'RGB') return { ...base, channels: 3, data: rgbTo8(frame.values, img.pixel.bitsStored) };
  if (frame.photometric === 'PALETTE COLOR') return { ...base, channels: 3, data: applyPalette(frame.values, readPalette(img.parsed.dataSet)) };
  return { ...base, channels: 1, data: storedToGrey8(frame.values, img.modality, voi, frame.photometric === 'MONOCHROME1') };
}
