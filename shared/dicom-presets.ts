/**
 * The CT windows radiology technicians expect beside an image's own presets (center/width in Hounsfield units).
 * Pure data in shared/ so the renderer's viewer and Train view can list them; electron/core/dicom/presets.ts
 * applies them.
 */
export interface CtPreset {
  /** What `--dicom-window preset:NAME` takes. */
  name: string;
  center: number;
  width: number;
  explanation: string;
}

export const CT_PRESETS: readonly CtPreset[] = [
  { name: 'lung', center: -600, width: 1500, explanation: 'Lung' },
  { name: 'soft-tissue', center: 40, width: 400, explanation: 'Soft tissue' },
  { name: 'brain', center: 40, width: 80, explanation: 'Brain' },
  { name: 'bone', center: 400, width: 1800, explanation: 'Bone' },
];
