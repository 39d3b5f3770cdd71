/**
 * A trained model's predictions on onnxruntime (issue 13): evaluations, model-assisted labeling and `loupe predict`
 * on the CPU. The model is converted in memory by the same code as the bundle's model.onnx (export/onnx/convert.ts),
 * and runs on onnxruntime's native kernels on every core: on this machine the compact ResNet at 64 px predicts
 * ~4× faster than through TF.js on wasm (whose 128-bit SIMD without FMA bounds its convolutions), LeNet-5 ~3×.
 *
 * Numbers users rely on must not change with the engine, so the first batch is also run through TF.js on a few
 * images and the two must agree (AGREEMENT); otherwise, and whenever the model cannot be converted or onnxruntime
 * cannot load, the caller predicts on TF.js and says why.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { convertToOnnx, type LayersModelJson } from '../export/onnx/convert.ts';
import { modelFiles } from './checkpoint.ts';
import { cpuSessionLabel, openCpuSession } from './ort-session.ts';

/**
 * Largest difference allowed between an output from onnxruntime and from TF.js (float32 summation order): 1e-4, or
 * 1e-4 of the value when it is larger than 1 (features), as the ONNX import's check.
 */
export const AGREEMENT = 1e-4;

/**
 * Input values per onnxruntime call (8 MB of floats). A batch is cut to fit: onnxruntime keeps the largest
 * activations a call needed for the session's life, and a fine-tuned backbone at 224 px in one batch of 256 would
 * hold gigabytes (its first convolution's output alone is 0.8 GB). 13 images a call at 224×224×3, a whole batch of
 * 256 for LeNet-5 or the compact ResNet at 64 px.
 */
export const RUN_INPUT_VALUES = 1 << 21;

export interface OnnxPredictor {
  /** For notes and `loupe predict --json`: which engine, on how many threads. */
  readonly label: string;
  /** Images per onnxruntime call (RUN_INPUT_VALUES). */
  readonly imagesPerRun: number;
  /** The outputs (probabilities, or features) of `n` normalized NHWC images. */
  run(xs: Float32Array, n: number): Promise<Float32Array>;
  close(): Promise<void>;
}

/**
 * Converts `model` to ONNX and opens it on onnxruntime; throws with the reason when either cannot be done. `width`
 * is the model's outputs per image: its classes, or a backbone's features.
 */
export async function openOnnxPredictor(model: tfl.LayersModel, shape: readonly [number, number, number], width: number): Promise<OnnxPredictor> {
  const files = await modelFiles(model);
  const onnx = convertToOnnx(JSON.parse(files['model.json'] as string) as LayersModelJson, files['weights.bin'] as Buffer, { producerVersion: 'loupe' });
  const { ort, session, threads } = await openCpuSession(onnx);
  const input = session.inputNames[0]!;
  const output = session.outputNames[0]!;
  const per = shape[0] * shape[1] * shape[2];
  const imagesPerRun = Math.max(1, Math.floor(RUN_INPUT_VALUES / per));
  return {
    label: cpuSessionLabel(threads),
    imagesPerRun,
    async run(xs, n) {
      const values = new Float32Array(n * width);
      for (let s = 0; s < n; s += imagesPerRun) {
        const m = Math.min(imagesPerRun, n - s);
        const result = await session.run({ [input]: new ort.Tensor('float32', xs.subarray(s * per, (s + m) * per), [m, ...shape]) });
        const out = result[output]!;
        if (out.type !== 'float32' || out.data.length !== m * width) {
          throw new Error(`onnxruntime gave ${out.type} of shape ${JSON.stringify(out.dims)} for ${m} images, not ${width} values each`);
        }
        values.set(out.data as Float32Array, s * width);
      }
      return values;
    },
    close: () => session.release(),
  };
}

/**
 * The largest difference between two arrays, each relative to max(1, |b|) (absolute for probabilities); NaN on one
 * side only, or other lengths, are Infinity.
 */
export function maxDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (Number.isNaN(x) || Number.isNaN(y)) {
      if (Number.isNaN(x) !== Number.isNaN(y)) return Infinity;
      continue;
    }
    worst = Math.max(worst, Math.abs(x - y) / Math.max(1, Math.abs(y)));
  }
  return worst;
}
