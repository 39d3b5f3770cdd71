/**
 * Checks a conversion against the original file (issue 12): the converted model and onnxruntime on the ONNX
 * file get the same random images, and their outputs must agree within 1e-4 (max abs) or the import is refused,
 * saying by how much. For outputs larger than 1 the bound grows with them (1e-4 of the largest output): float32
 * sums in another order differ by ~1e-7 of their size per layer, and a correct full-size EfficientNet-B0 with
 * logits near 60 differs from onnxruntime by 3e-4 on any backend, while a layout mistake is off by far more. A layout mistake (NCHW vs NHWC, a transposed kernel, TF's 'same' padding standing in for
 * PyTorch's symmetric one) shows here rather than as a backbone that quietly transfers nothing.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as ort from 'onnxruntime-node';
import { LoupeError } from '../../../shared/contract.ts';
import { seededRandom } from '../../../shared/random.ts';
import type { ConvertedModel } from './convert-graph.ts';

export const TOLERANCE = 1e-4;

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
  return { maxAbsDiff, maxAbsOutput, allowed: TOLERANCE * Math.max(1, maxAbsOutput), samples };
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
