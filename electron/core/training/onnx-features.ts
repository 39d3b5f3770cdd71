/**
 * The frozen backbone's features on onnxruntime (issue 12). A backbone imported from ONNX keeps its original file
 * (source.onnx); for the cached head-only phase that file, cut at the value the TF.js feature layer computes,
 * runs natively on all cores instead of through TF.js on wasm. Its features agree with the TF.js ones within
 * float32 rounding (the import checked the whole network against onnxruntime), so the feature cache does not
 * care which engine filled it. Anything that goes wrong here is thrown with a reason: the caller falls back on
 * TF.js and says why.
 */
import { createHash } from 'node:crypto';
import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import { featureOutputModel } from '../onnx-import/feature-output.ts';
import type { OnnxSource } from './backbones.ts';
import { MAX_ONNX_BYTES, readBounded } from './model-folder.ts';
import { cpuSessionLabel, openCpuSession } from './ort-session.ts';

/** Images per onnxruntime call: enough to amortize a call's overhead, small enough to stop soon on cancel. */
export const ORT_BATCH = 16;

/** Computes feature vectors of normalized NHWC images (the layout the TF.js backbone and the tensor cache use). */
export interface FeatureEngine {
  readonly batchSize: number;
  /** For the run's status: which engine, on how many threads. */
  readonly label: string;
  /** `n` images as NHWC floats → n × dim features. */
  run(nhwc: Float32Array, n: number): Promise<Float32Array>;
  close(): Promise<void>;
}

/** NHWC → NCHW: ONNX image models take channels first (convert-graph.ts refuses any other input layout). */
function toNchw(nhwc: Float32Array, n: number, size: number, channels: number): Float32Array {
  const out = new Float32Array(nhwc.length);
  const plane = size * size;
  for (let i = 0; i < n; i++) {
    const base = i * plane * channels;
    for (let p = 0; p < plane; p++) for (let c = 0; c < channels; c++) out[base + c * plane + p] = nhwc[base + p * channels + c]!;
  }
  return out;
}

/** Reads source.onnx (a real file, bounded, with the checksum backbone.json recorded) and cuts it at the features. */
function readFeatureModel(dir: string, onnx: OnnxSource): Uint8Array {
  const file = join(dir, onnx.file);
  let link = false;
  try {
    link = lstatSync(file).isSymbolicLink();
  } catch {
    throw new Error(`${onnx.file} is missing from the backbone's folder`);
  }
  if (link) throw new Error(`${onnx.file} is a symbolic link`);
  const bytes = readBounded(file, MAX_ONNX_BYTES, onnx.file);
  if (createHash('sha256').update(bytes).digest('hex') !== onnx.sha256) throw new Error(`${onnx.file} does not match the checksum in backbone.json (changed or corrupt)`);
  return featureOutputModel(bytes, onnx.featureOutput);
}

/** Opens the backbone's ONNX file on onnxruntime, for images of `size`×`size`×`channels` giving `dim` features. */
export async function openOnnxFeatures(dir: string, onnx: OnnxSource, size: number, channels: number, dim: number): Promise<FeatureEngine> {
  const model = readFeatureModel(dir, onnx);
  const { ort, session, threads } = await openCpuSession(model);
  const meta = session.inputMetadata[0];
  const fixed = meta?.isTensor ? meta.shape[0] : undefined;
  // A file exported with a fixed batch (often 1) takes exactly that many images: a short batch is padded.
  const rows = typeof fixed === 'number' && fixed > 0 ? fixed : null;
  const per = size * size * channels;
  return {
    batchSize: rows ?? ORT_BATCH,
    label: cpuSessionLabel(threads),
    async run(nhwc, n) {
      const count = rows ?? n;
      const nchw = toNchw(nhwc.length === count * per ? nhwc : Float32Array.from({ length: count * per }, (_, i) => nhwc[i] ?? 0), count, size, channels);
      const result = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', nchw, [count, channels, size, size]) });
      const out = result[session.outputNames[0]!]!;
      if (out.type !== 'float32' || out.data.length !== count * dim) {
        throw new Error(`onnxruntime gave ${out.type} of shape ${JSON.stringify(out.dims)} for ${count} images, not ${dim} features each`);
      }
      return (out.data as Float32Array).slice(0, n * dim);
    },
    close: () => session.release(),
  };
}
