/**
 * Window presets beyond an image's own: the CT windows radiology technicians expect, and the resolution of a
 * run's DicomWindow choice to the VOI of one image. Training, evaluation, `loupe predict` and the viewer all take
 * their windows from here, so a model sees what the technician chose to look at.
 */
import type { DicomWindow } from '../../../shared/training.ts';
import { CT_PRESETS, presetKey, type CtPreset } from '../../../shared/dicom-presets.ts';
import { DicomError } from './parse.ts';
import { applyModalityLut, defaultVoi, type ModalityLut, type VoiChoice, type WindowPreset } from './windowing.ts';

// The table itself is in shared/ (the renderer lists it too); core imports it from here.
export { CT_PRESETS, type CtPreset } from '../../../shared/dicom-presets.ts';

/** A CT preset as a window preset of the pixel pipeline (LINEAR, as PS3.3 C.11.2.1.2 defaults). */
function ctWindow(p: CtPreset): WindowPreset {
  return { center: p.center, width: p.width, fn: 'LINEAR', explanation: p.name };
}

/** What the VOI choice needs of one image (a DicomImage has all of it). */
export interface WindowSource {
  pixel: { bitsStored: number; signed: boolean };
  modality: ModalityLut;
  presets: readonly WindowPreset[];
  voiLuts: Parameters<typeof defaultVoi>[1];
}

/**
 * The image's own window for a preset name: a CT preset by name, else the image's Nth window (1-based), else the
 * window whose explanation is the name (case and spaces aside). An image that has no such window is an error
 * with that reason, never a silent fallback: a run must not mix windows without saying so.
 */
function presetWindow(src: WindowSource, name: string): WindowPreset {
  const key = presetKey(name);
  const ct = CT_PRESETS.find((p) => presetKey(p.name) === key);
  if (ct) return ctWindow(ct);
  if (/^\d+$/.test(key)) {
    const own = src.presets[Number(key) - 1];
    if (own) return own;
  }
  const byExplanation = src.presets.find((p) => p.explanation && presetKey(p.explanation) === key);
  if (byExplanation) return byExplanation;
  const have = src.presets.map((p, i) => `${i + 1}${p.explanation ? ` (${p.explanation})` : ''}`).join(', ');
  throw new DicomError(`no window preset "${name}" in this image (its windows: ${have || 'none'}; CT presets: ${CT_PRESETS.map((p) => presetKey(p.name)).join(', ')})`);
}

/** The window spanning every value Bits Stored can hold, through the modality LUT (e.g. −1024…3071 HU for 12-bit CT). */
function storedRangeWindow(src: WindowSource): VoiChoice {
  const bits = src.pixel.bitsStored;
  const lo = src.pixel.signed ? -(2 ** (bits - 1)) : 0;
  const hi = src.pixel.signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
  const [a, b] = applyModalityLut(Int32Array.from([lo, hi]), src.modality);
  const min = Math.min(a!, b!);
  const max = Math.max(a!, b!);
  // LINEAR_EXACT maps min to 0 and max to 255 exactly; width stays positive for a one-value range.
  return { kind: 'window', center: (min + max) / 2, width: Math.max(max - min, 1e-6), fn: 'LINEAR_EXACT' };
}

/** The VOI of one image for a run's windowing choice. Throws DicomError when the image lacks the named preset. */
export function voiFor(src: WindowSource, choice: DicomWindow): VoiChoice {
  switch (choice.kind) {
    case 'tags':
      return defaultVoi(src.presets, src.voiLuts);
    case 'full':
      return storedRangeWindow(src);
    case 'fixed':
      return { kind: 'window', center: choice.center, width: choice.width, fn: 'LINEAR' };
    case 'preset': {
      const w = presetWindow(src, choice.name);
      return { kind: 'window', center: w.center, width: w.width, fn: w.fn };
    }
  }
}

/** The windowing choice in words, for the model card and the report. */
export function describeDicomWindow(choice: DicomWindow | undefined): string {
  const c = choice ?? { kind: 'tags' };
  switch (c.kind) {
    case 'tags':
      return "each image's own first window (Window Center/Width), else its VOI LUT, else its value range (`tags`)";
    case 'full':
      return 'the whole range Bits Stored can hold, after the modality LUT, mapped linearly (`full`)';
    case 'fixed':
      return `center ${c.center}, width ${c.width} in modality units (e.g. HU), LINEAR (\`${c.center},${c.width}\`)`;
    case 'preset': {
      const ct = CT_PRESETS.find((p) => presetKey(p.name) === presetKey(c.name));
      return ct
        ? `CT preset ${ct.name}: center ${ct.center}, width ${ct.width} HU (\`preset:${c.name}\`)`
        : `the window "${c.name}" of each image's own tags (by index or explanation) (\`preset:${c.name}\`)`;
    }
  }
}
