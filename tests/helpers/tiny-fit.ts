// A fixed random data set and plain fit settings for tests that train tiny models on any engine.
import type { BatchSource, FitOptions } from '../../electron/core/training/fit.ts';
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
