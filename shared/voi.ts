/**
 * The VOI LUT functions of DICOM PS3.3 C.11.2.1.2 (window center/width to display grey levels). Pure: the core's
 * pixel pipeline (thumbnails, training) and the viewer's live window/level both use this one definition.
 */
export type VoiFunction = 'LINEAR' | 'LINEAR_EXACT' | 'SIGMOID';

/** The VOI function of PS3.3 C.11.2.1.2 for one input, output in [yMin, yMax]. */
export function voiValue(x: number, center: number, width: number, fn: VoiFunction, yMin: number, yMax: number): number {
  const span = yMax - yMin;
  if (fn === 'SIGMOID') return span / (1 + Math.exp((-4 * (x - center)) / width)) + yMin;
  if (fn === 'LINEAR_EXACT') {
    if (x <= center - width / 2) return yMin;
    if (x > center + width / 2) return yMax;
    return ((x - center) / width + 0.5) * span + yMin;
  }
  if (x <= center - 0.5 - (width - 1) / 2) return yMin;
  if (x > center - 0.5 + (width - 1) / 2) return yMax;
  return ((x - (center - 0.5)) / (width - 1) + 0.5) * span + yMin;
}
