/**
 * `loupe backbone import <project> FILE.onnx` (issue 12): reads the file (bounded), converts it, verifies the
 * conversion against onnxruntime, and stores the network up to its feature layer as a TF.js LayersModel in the
 * project's backbones/<name>/, with the preprocessing it expects in backbone.json, so `loupe train --arch
 * backbone:<name>` fine-tunes it through the transfer path that exists. Any failure adds nothing to the project.
 */
import { createHash } from 'node:crypto';
import { lstatSync, readFileSync, rmSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { LoupeError } from '../../../shared/contract.ts';
import { presetNormalization, type PreprocessPreset } from '../../../shared/preprocess-presets.ts';
import type { Project } from '../project/project.ts';
import { backboneTarget, checkBackboneName, type BackboneInfo, type BackboneMeta } from '../training/backbones.ts';
import { selectBackend } from '../training/backend.ts';
import { saveModel } from '../training/checkpoint.ts';
import { MAX_ONNX_BYTES, ONNX_SOURCE_FILE } from '../training/model-folder.ts';
import { convertGraph } from './convert-graph.ts';
import { readOnnx } from './onnx-read.ts';
import { verifyConversion } from './verify.ts';

export { MAX_ONNX_BYTES } from '../training/model-folder.ts';

export interface OnnxImportOptions {
  name?: string;
  preprocess?: PreprocessPreset;
  imageSize?: number;
  /** Checked between the steps (reading, converting, verifying, writing); nothing is written once it aborts. */
  signal?: AbortSignal;
  progress?: (done: number, total: number, message: string) => void;
}

function checkCanceled(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new LoupeError('CONFLICT', 'Canceled');
}

/** What backbone.json records beyond BackboneMeta, so the file's origin and checks can be told later. */
interface OnnxBackboneJson extends BackboneMeta {
  preprocess: PreprocessPreset;
  channelOrder: 'rgb';
  /** Grey images are replicated to the network's 3 channels (decodeForModel's colour conversion). */
  greyToRgb: boolean;
  source: { format: 'onnx'; file: string; sha256: string; producer: string; opset: number };
  verification: { maxAbsDiff: number; samples: number };
}

/** An ONNX file's bytes: the file itself (no symbolic link), bounded before it is read. */
export function readModelFile(file: string): Uint8Array {
  let st;
  try {
    st = lstatSync(file);
  } catch {
    throw new LoupeError('NOT_FOUND', `No file ${file}`);
  }
  if (st.isSymbolicLink()) throw new LoupeError('BAD_INPUT', `${file} is a symbolic link; give the model file itself`);
  if (!st.isFile()) throw new LoupeError('BAD_INPUT', `${file} is not a file`);
  if (st.size > MAX_ONNX_BYTES) throw new LoupeError('BAD_INPUT', `${basename(file)} is ${(st.size / 1024 ** 3).toFixed(1)} GB; Loupe imports ONNX files up to 1 GB`);
  return new Uint8Array(readFileSync(file));
}

export async function importOnnxBackbone(project: Project, path: string, opts: OnnxImportOptions = {}): Promise<BackboneInfo> {
  const file = resolve(path);
  const name = checkBackboneName(opts.name ?? basename(file).replace(/\.onnx$/i, ''));
  const preset = opts.preprocess ?? 'imagenet';
  const bytes = readModelFile(file);
  // The CLI and the desktop main process have no backend yet: the same choice as training (and no tfjs banner).
  if (tf.engine().backendName == null) await selectBackend();
  checkCanceled(opts.signal);
  opts.progress?.(1, 4, `Reading ${basename(file)}`);
  const graph = readOnnx(bytes);
  opts.progress?.(2, 4, `Converting ${graph.nodes.length} operators`);
  const converted = convertGraph(graph, { imageSize: opts.imageSize });
  try {
    checkCanceled(opts.signal);
    opts.progress?.(3, 4, 'Checking the conversion against onnxruntime');
    const verification = await verifyConversion(bytes, converted);
    checkCanceled(opts.signal);
    opts.progress?.(4, 4, 'Saving the backbone');
    // Checked again right before writing: another import may have taken the name meanwhile.
    const target = backboneTarget(project, name);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const meta: OnnxBackboneJson = {
      name,
      imageSize: converted.imageSize,
      channels: converted.channels,
      normalization: presetNormalization(preset, converted.channels),
      featureLayer: converted.featureLayer,
      description: `${basename(file)} (ONNX, ${converted.classes}-class classifier dropped, ${preset} preprocessing)`,
      preprocess: preset,
      channelOrder: 'rgb',
      greyToRgb: converted.channels === 3,
      source: { format: 'onnx', file: basename(file), sha256, producer: graph.producer, opset: graph.opset },
      onnx: { file: ONNX_SOURCE_FILE, sha256, featureOutput: converted.featureValue },
      verification,
    };
    try {
      // The original file stays with the converted one: the frozen head-only phase runs it on onnxruntime, which
      // is several times faster than TF.js on wasm (training/onnx-features.ts).
      await saveModel(target, converted.features, { 'backbone.json': JSON.stringify(meta, null, 2), [ONNX_SOURCE_FILE]: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) });
    } catch (e) {
      rmSync(target, { recursive: true, force: true });
      throw e;
    }
    return { ...meta, source: 'imported', dir: target };
  } finally {
    converted.model.dispose();
  }
}
