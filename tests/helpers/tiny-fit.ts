// A fixed random data set and plain fit settings for tests that train tiny models on any engine.
import type { BatchSource, FitOptions } from '../../electron/core/training/fit.ts';
import type { TrainConfigInput } from '../../shared/training.ts';
import { seededRandom } from '../../shared/random.ts';

/** `n` square grey images of random pixels in 3 classes (i mod 3), batches in a fixed order. */
export function randomSource(n: number, side = 16, seed = 3): BatchSource {
  const random = seededRandom(seed);
  const per = side * side;
  const xs = Float32Array.from({ length: n * per }, () => random() * 2 - 1);
  const ys = Int32Array.from({ length: n }, (_, i) => i % 3);
  return {
    size: n,
    shape: [side, side, 1],
    *batches(_epoch: number, batchSize: number) {
      for (let s = 0; s < n; s += batchSize) {
        const m = Math.min(batchSize, n - s);
        yield { xs: xs.slice(s * per, (s + m) * per), ys: ys.slice(s, s + m), n: m };
      }
    },
  };
}

/** Plain SGD for 3 classes, one epoch of batches of 16; each test changes what it is about. */
export function sgdOptions(over: Partial<FitOptions> = {}): FitOptions {
  return {
    epochs: 1,
    batchSize: 16,
    optimizer: { kind: 'sgd', lr: 0.01, momentum: 0, nesterov: false },
    schedule: { kind: 'constant' },
    earlyStopping: null,
    weightDecay: 0,
    classWeights: null,
    numClasses: 3,
    ...over,
  };
}

/**
 * A small CNN run for tests that stop a run and resume it: 3 epochs of batch 8 on 24 px grey images, augmented, no
 * early stopping, so each test's resumed run is compared with its own uninterrupted one.
 */
export const TINY_CNN_RUN: TrainConfigInput = {
  arch: 'cnn',
  imageSize: 24,
  channels: 1,
  epochs: 3,
  batchSize: 8,
  dropout: 0,
  optimizer: { kind: 'adam', lr: 0.003 },
  augment: { cropScale: 0.8, rotation: 10 },
  earlyStopping: null,
  seed: 3,
};
