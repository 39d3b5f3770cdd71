/**
 * Zoom and pan arithmetic for the image viewer: a scale and a translation mapping image pixels to the stage.
 * Pure, so zoom-about-the-cursor and fit are tested without a browser.
 */

export interface View2D {
  scale: number;
  x: number;
  y: number;
}

export const MIN_SCALE = 0.02;
export const MAX_SCALE = 64;

const clampScale = (s: number): number => Math.min(MAX_SCALE, Math.max(MIN_SCALE, s));

/** The whole image centred in the stage, with a small margin; small images are enlarged. */
export function fitView(imageW: number, imageH: number, stageW: number, stageH: number, margin = 16): View2D {
  if (imageW <= 0 || imageH <= 0 || stageW <= 0 || stageH <= 0) return { scale: 1, x: 0, y: 0 };
  const scale = clampScale(Math.min((stageW - 2 * margin) / imageW, (stageH - 2 * margin) / imageH));
  return { scale, x: (stageW - imageW * scale) / 2, y: (stageH - imageH * scale) / 2 };
}

/** One image pixel per screen pixel, centred. */
export function actualSizeView(imageW: number, imageH: number, stageW: number, stageH: number): View2D {
  return { scale: 1, x: Math.round((stageW - imageW) / 2), y: Math.round((stageH - imageH) / 2) };
}

/** Zooms by `factor` keeping the image point under (cx, cy) where it is. */
export function zoomAt(v: View2D, factor: number, cx: number, cy: number): View2D {
  const scale = clampScale(v.scale * factor);
  const k = scale / v.scale;
  return { scale, x: cx - (cx - v.x) * k, y: cy - (cy - v.y) * k };
}

export function panBy(v: View2D, dx: number, dy: number): View2D {
  return { scale: v.scale, x: v.x + dx, y: v.y + dy };
}
