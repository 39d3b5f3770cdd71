/** The CT windows radiology technicians expect beside an image's own presets (center/width in Hounsfield units). */
export const CT_PRESETS: readonly { name: string; center: number; width: number; explanation: string }[] = [
  { name: 'Lung', center: -600, width: 1500, explanation: 'Lung parenchyma and airways' },
  { name: 'Bone', center: 300, width: 1500, explanation: 'Cortical and trabecular bone' },
  { name: 'Brain', center: 40, width: 80, explanation: 'Grey and white matter' },
  { name: 'Soft tissue', center: 40, width: 400, explanation: 'Abdomen, mediastinum, muscle' },
];
