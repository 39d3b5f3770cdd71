/**
 * DICOM attribute keywords (PS3.6) a label or a filter can name: the attributes datasets put their class in.
 * Any other attribute is named by its tag: `dicom:0018,5101` or `dicom:00185101`.
 */
import { elementKey } from './tag-key.ts';

const KEYWORDS: Record<string, string> = {
  AcquisitionDeviceProcessingDescription: '00181400',
  BodyPartExamined: '00180015',
  ContrastBolusAgent: '00180010',
  ConversionType: '00080064',
  DerivationDescription: '00082111',
  ImageComments: '00204000',
  ImageLaterality: '00200062',
  ImageType: '00080008',
  KVP: '00180060',
  Laterality: '00200060',
  Manufacturer: '00080070',
  ManufacturerModelName: '00081090',
  Modality: '00080060',
  PatientAge: '00101010',
  PatientID: '00100020',
  PatientOrientation: '00200020',
  PatientPosition: '00185100',
  PatientSex: '00100040',
  PhotometricInterpretation: '00280004',
  PresentationIntentType: '00080068',
  ProtocolName: '00181030',
  ScanningSequence: '00180020',
  SequenceName: '00180024',
  SeriesDescription: '0008103E',
  SeriesNumber: '00200011',
  SliceThickness: '00180050',
  SOPClassUID: '00080016',
  StationName: '00081010',
  StudyDescription: '00081030',
  StudyInstanceUID: '0020000D',
  ViewPosition: '00185101',
};

/** The dicom-parser tag ('xggggeeee') of a keyword or a `gggg,eeee` / `ggggeeee` tag; null when unknown. */
export function tagOfAttribute(name: string): string | null {
  const hex = /^\(?([0-9A-Fa-f]{4}),?([0-9A-Fa-f]{4})\)?$/.exec(name.trim());
  if (hex) return elementKey(parseInt(`${hex[1]}${hex[2]}`, 16));
  const tag = KEYWORDS[name.trim()];
  return tag ? elementKey(parseInt(tag, 16)) : null;
}

export const KNOWN_KEYWORDS = Object.keys(KEYWORDS);
