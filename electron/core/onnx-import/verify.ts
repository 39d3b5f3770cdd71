/**
 * Checks a conversion against the original file (issue 12): the converted model and onnxruntime on the ONNX
 * file get the same random images, and their outputs must agree within 1e-4 (max abs) or the import is refused,
 * saying by how much. A layout mistake (NCHW vs NHWC, a transposed kernel, TF's 'same' padding standing in for
 * PyTorch's symmetric one) is off by far more, and shows here rather than as a backbone that transfers nothing.
 *
 * Why 1e-4 grows with outputs larger than 1 (1e-4 of the largest output) instead of the issue's plain 1e-4:
 * float32 keeps 24 bits, so every sum of n products rounds to ~sqrt(n)·6e-8 of its size, and the order in which
 * two engines add up the terms (XNNPACK's tiles, MLAS's, torch's) decides the rounding. The difference between
 * two correct engines is therefore a fixed share of the outputs' size, not a fixed amount. Measured on the eight
 * full-size torchvision networks of the issue (tests/medium/onnx-full-nets.test.ts, random weights, batch-norm
 * statistics recomputed): 3.8e-6 of the largest logit at most. Seven of them have logits below 6 and stay under
 * 1e-4 as it stands (ResNet-50: 4.6e-5). EfficientNet-B0 does not: its random-weight logits reach 27 to 64
 * (16 MBConv blocks of 1×1 convolutions summing up to 1,152 channels, each rescaled by a squeeze-excite gate,
 * then a 1,280-term classifier), and Loupe differs from onnxruntime by 1.0e-4 to 4.5e-4 there. That is float32
 * itself, not the conversion: torch in float32 differs from the same network in float64 by 1.75e-4 on logits
 * of 64, so no float32 engine can promise 1e-4 against another on outputs of that size.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as ort from 'onnxruntime-node';
import { LoupeError } from '../../../shared/contract.ts';
import { seededRandom } from '../../../shared/random.ts';
import type { ConvertedModel } from './convert-graph.ts';

export const TOLERANCE = 1e-4;

/** The bound for outputs up to `maxAbsOutput`: 1e-4, or 1e-4 of the outputs' size when they are larger than 1. */
export function allowedDifference(maxAbsOutput: number): number {
  return TOLERANCE * Math.max(1, maxAbsOutput);
}

export interface Verification {
  maxAbsDiff: number;
  /** The largest |output| onnxruntime gave: the scale of the bound. */
  maxAbsOutput: number;
  /** The bound maxAbsDiff was held to: TOLERANCE × max(1, maxAbsOutput). */
  allowed: number;
  samples: number;
}

/** Runs both on `samples` random images (values as normalized pixels would be, roughly −2..2). */
export async function compareWithOnnxRuntime(file: Uint8Array, converted: ConvertedModel, samples = 3, seed = 12): Promise<Verification> {
  const { imageSize: size, channels: c } = converted;
  // Seeded, so a refused import repeats with the same figure.
  const next = seededRandom(seed);
  const nhwc = Float32Array.from({ length: samples * size * size * c }, () => next() * 4 - 2);
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(file, { graphOptimizationLevel: 'disabled', intraOpNumThreads: 1 });
  } catch (e) {
    throw new LoupeError('BAD_INPUT', `onnxruntime cannot load the model, so Loupe cannot check its conversion: ${(e as Error).message}`);
  }
  let reference: Float32Array;
  try {
    // One image per run: a file exported with a fixed batch of 1 runs too.
    const outs: Float32Array[] = [];
    const per = size * size * c;
    const nchw = tf.tidy(() => tf.transpose(tf.tensor4d(nhwc, [samples, size, size, c]), [0, 3, 1, 2]).dataSync() as Float32Array);
    for (let i = 0; i < samples; i++) {
      const result = await session.run({ [converted.inputName]: new ort.Tensor('float32', nchw.slice(i * per, (i + 1) * per), [1, c, size, size]) });
      outs.push(Float32Array.from((result[session.outputNames[0]!]!.data as Float32Array) ?? []));
    }
    reference = Float32Array.from(outs.flatMap((o) => [...o]));
  } catch (e) {
    throw new LoupeError('BAD_INPUT', `onnxruntime cannot run the model: ${(e as Error).message}`);
  } finally {
    await session.release();
  }
  const ours = tf.tidy(() => converted.model.predict(tf.tensor4d(nhwc, [samples, size, size, c])) as tf.Tensor);
  const values = (await ours.data()) as Float32Array;
  ours.dispose();
  if (values.length !== reference.length) {
    throw new LoupeError('BAD_INPUT', `The converted model gives ${values.length / samples} outputs per image, onnxruntime ${reference.length / samples}`);
  }
  let maxAbsDiff = 0;
  let maxAbsOutput = 0;
  for (let i = 0; i < values.length; i++) {
    const d = Math.abs(values[i]! - reference[i]!);
    maxAbsDiff = Math.max(maxAbsDiff, Number.isNaN(d) ? Infinity : d);
    maxAbsOutput = Math.max(maxAbsOutput, Math.abs(reference[i]!));
  }
  return { maxAbsDiff, maxAbsOutput, allowed: allowedDifference(maxAbsOutput), samples };
}

/** Refuses a conversion whose outputs differ from onnxruntime's by more than the bound. */
export async function verifyConversion(file: Uint8Array, converted: ConvertedModel): Promise<Verification> {
  const v = await compareWithOnnxRuntime(file, converted);
  if (!(v.maxAbsDiff <= v.allowed)) {
    const scale = v.maxAbsOutput > 1 ? ` for outputs up to ${v.maxAbsOutput.toPrecision(3)}` : '';
    throw new LoupeError(
      'UNSUPPORTED',
      `The converted network does not reproduce the ONNX file: its outputs differ from onnxruntime's by up to ${v.maxAbsDiff.toExponential(2)} (allowed ${v.allowed.toExponential(2)}${scale}) on ${v.samples} random images. Nothing was imported.`,
    );
  }
  return v;
}
