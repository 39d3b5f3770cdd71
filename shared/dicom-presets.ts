/**
 * The CT windows radiology technicians expect beside an image's own presets (center/width in Hounsfield units).
 * Pure data in shared/ so the renderer (viewer, Train view) can list them; electron/core/dicom/presets.ts re-exports
 * the table and applies it.
 */
export interface CtPreset {
  name: string;
  center: number;
  width: number;
  explanation: string;
}

export const CT_PRESETS: readonly CtPreset[] = [
  { name: 'Lung', center: -600, width: 1500, explanation: 'Lung parenchyma and airways' },
  { name: 'Bone', center: 300, width: 1500, explanation: 'Cortical and trabecular bone' },
  { name: 'Brain', center: 40, width: 80, explanation: 'Grey and white matter' },
  { name: 'Soft tissue', center: 40, width: 400, explanation: 'Abdomen, mediastinum, muscle' },
];

/** A preset name as `--dicom-window preset:NAME` takes it: lower case, spaces as dashes ("Soft tissue" → soft-tissue). */
export function presetKey(name: string): string {
  return name.trim().toLowerCase().replace(/[\s_]+/g, '-');
}
