/**
 * How a foreign network expects its pixels (issue 12), as the `--preprocess` presets name them: RGB order,
 * x/255, then per channel (x − mean)/std. `imagenet` is torchvision's and timm's; `unit` is x/255 alone;
 * `minus-one-one` is x/127.5 − 1, as Keras' MobileNets want.
 */
import type { Normalization } from './training.ts';

export const preprocessPresets = ['imagenet', 'unit', 'minus-one-one'] as const;
export type PreprocessPreset = (typeof preprocessPresets)[number];

const RGB: Record<PreprocessPreset, Normalization> = {
  imagenet: { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
  unit: { mean: [0, 0, 0], std: [1, 1, 1] },
  'minus-one-one': { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] },
};

/** The preset's normalization for a network of 1 or 3 input channels (one channel: the channels' average). */
export function presetNormalization(preset: PreprocessPreset, channels: 1 | 3): Normalization {
  const n = RGB[preset];
  if (channels === 3) return { mean: [...n.mean], std: [...n.std] };
  const avg = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  return { mean: [avg(n.mean)], std: [avg(n.std)] };
}
