/**
 * External validation (issue 12): a finished classifier from elsewhere (an ONNX file) run by onnxruntime on the
 * project's labeled images of a split, with the preprocessing it declares, its classes mapped to the project's by
 * name, and the result stored as an evaluation of an "external model": its file name and SHA-256 (the path is kept
 * in project.db only, for Re-evaluate; summaries and reports never show it).
 * Runs in the training process, as run evaluations do. Any failure before the store adds nothing to the project.
 */
import { createHash } from 'node:crypto';
import { basename, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { LoupeError } from '../../../shared/contract.ts';
import { presetNormalization, type PreprocessPreset } from '../../../shared/preprocess-presets.ts';
import type { Project } from '../project/project.ts';
import { modelInputShape } from '../onnx-import/convert-graph.ts';
import { readModelFile } from '../onnx-import/import-backbone.ts';
import { readOnnx } from '../onnx-import/onnx-read.ts';
import { normalizeInto } from '../training/augment.ts';
import { cachedImages } from '../training/predict.ts';
import { mapByClassName, storeEvaluation } from './evaluate.ts';

export interface ExternalEvaluationTask {
  /** The ONNX file; its name is shown, its path kept for Re-evaluate only. */
  file: string;
  /** The model's class names, in the order of its outputs. */
  classes: string[];
  split: 'val' | 'test';
  preprocess?: PreprocessPreset;
  imageSize?: number;
  /** Re-evaluate: the SHA-256 the file had, so a different file at the same path is refused, not mistaken for it. */
  expectSha256?: string;
}

const BATCH = 32;

/** A sum within this of 1 (and every value in 0..1) is read as probabilities; anything else as scores. */
const PROBABILITY_SUM_TOLERANCE = 1e-3;

export function checkClassNames(classes: readonly string[]): string[] {
  const names = classes.map((c) => c.trim());
  if (names.length < 2) throw new LoupeError('BAD_INPUT', 'Give the model\'s class names (at least two), in the order of its outputs');
  const seen = new Set<string>();
  for (const n of names) {
    if (!n) throw new LoupeError('BAD_INPUT', 'A class name is empty');
    if (seen.has(n.toLowerCase())) throw new LoupeError('BAD_INPUT', `The class name "${n}" is given twice`);
    seen.add(n.toLowerCase());
  }
  return names;
}

/** Re-evaluate reads the file at the path it was read from: only the same model may stand for the stored one. */
export function checkSameModel(expected: string | undefined, actual: string, name: string): void {
  if (expected === undefined || expected === actual) return;
  throw new LoupeError(
    'CONFLICT',
    `${name} has changed since it was evaluated (its SHA-256 is now ${actual.slice(0, 12)}…, was ${expected.slice(0, 12)}…): evaluate it as a new model file with "Evaluate a model file"`,
  );
}

interface Session {
  session: ort.InferenceSession;
  input: string;
  output: string;
  batch: number;
  size: number;
  channels: 1 | 3;
}

async function openSession(bytes: Uint8Array, imageSize: number | undefined): Promise<Session> {
  const graph = readOnnx(bytes);
  const { name, size, channels } = modelInputShape(graph, { imageSize });
  const fixedBatch = graph.inputs[0]!.shape?.[0];
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 0 });
  } catch (e) {
    throw new LoupeError('BAD_INPUT', `onnxruntime cannot load the model: ${(e as Error).message}`);
  }
  return { session, input: name, output: session.outputNames[0]!, batch: typeof fixedBatch === 'number' && fixedBatch > 0 ? fixedBatch : BATCH, size, channels };
}

/** Runs `n` NCHW images (n ≤ s.batch; a fixed-batch model gets its batch padded) and returns n × K outputs. */
async function runBatch(s: Session, nchw: Float32Array, n: number, classes: number): Promise<Float32Array> {
  const per = s.channels * s.size * s.size;
  const rows = s.batch === BATCH ? n : s.batch;
  const input = rows === n ? nchw.subarray(0, n * per) : Float32Array.from({ length: rows * per }, (_, i) => nchw[i] ?? 0);
  let out: ort.Tensor;
  try {
    const result = await s.session.run({ [s.input]: new ort.Tensor('float32', input, [rows, s.channels, s.size, s.size]) });
    out = result[s.output]!;
  } catch (e) {
    throw new LoupeError('BAD_INPUT', `onnxruntime cannot run the model: ${(e as Error).message}`);
  }
  const dims = out.dims.map(Number);
  const perImage = dims.slice(1).reduce((a, b) => a * b, 1);
  const vector = dims[0] === rows && dims.slice(1).filter((d) => d !== 1).length <= 1;
  if (out.type !== 'float32' || !vector) {
    throw new LoupeError('BAD_INPUT', `The model's output "${s.output}" is ${out.type} of shape ${JSON.stringify(dims)}, not a class vector per image (N×classes, float)`);
  }
  if (perImage !== classes) {
    throw new LoupeError('BAD_INPUT', `The model gives ${perImage} outputs per image, but ${classes} class names were given`);
  }
  return (out.data as Float32Array).slice(0, n * classes);
}

/** NHWC uint8 rows → normalized NCHW floats. */
function toNchw(rows: Uint8Array, n: number, s: Session, preset: PreprocessPreset): Float32Array {
  const hw = s.size * s.size;
  const per = hw * s.channels;
  const nhwc = new Float32Array(n * per);
  const norm = presetNormalization(preset, s.channels);
  for (let i = 0; i < n; i++) normalizeInto(rows.subarray(i * per, (i + 1) * per), nhwc, i * per, s.channels, norm);
  const out = new Float32Array(n * per);
  for (let i = 0; i < n; i++) for (let p = 0; p < hw; p++) for (let c = 0; c < s.channels; c++) out[i * per + c * hw + p] = nhwc[i * per + p * s.channels + c]!;
  return out;
}

/** Softmax per row, unless every row is already a probability vector. Says which it did. */
export function asProbabilities(outputs: Float32Array, k: number): { probs: Float32Array; softmax: boolean } {
  let probabilities = true;
  for (let r = 0; r < outputs.length && probabilities; r += k) {
    let sum = 0;
    for (let c = 0; c < k; c++) {
      const v = outputs[r + c]!;
      if (!(v >= 0 && v <= 1)) probabilities = false;
      sum += v;
    }
    if (Math.abs(sum - 1) > PROBABILITY_SUM_TOLERANCE) probabilities = false;
  }
  if (probabilities) return { probs: outputs, softmax: false };
  const probs = new Float32Array(outputs.length);
  for (let r = 0; r < outputs.length; r += k) {
    let max = -Infinity;
    for (let c = 0; c < k; c++) max = Math.max(max, outputs[r + c]!);
    let sum = 0;
    for (let c = 0; c < k; c++) sum += probs[r + c] = Math.exp(outputs[r + c]! - max);
    for (let c = 0; c < k; c++) probs[r + c]! /= sum;
  }
  return { probs, softmax: true };
}

/** The split's labeled images mapped to the model's classes by name, with what was left out and why. */
export function externalTargets(project: Project, classes: readonly string[], split: 'val' | 'test'): { targets: { imageId: number; label: number | null }[]; notes: string[] } {
  const rows = project.db
    .prepare(
      `SELECT i.id, c.name FROM images i JOIN classes c ON c.id = i.class_id
       WHERE i.split = ? AND i.status = 'ok' AND i.excluded = 0 ORDER BY i.id`,
    )
    .all(split) as { id: number; name: string }[];
  const { targets, notes } = mapByClassName(rows, classes, 'the model has no class of that name');
  const projectNames = new Set(rows.map((r) => r.name.toLowerCase()));
  const unmatched = classes.filter((c) => !projectNames.has(c.toLowerCase()));
  if (unmatched.length) notes.push(`The model's classes with no ${split} images in the project: ${unmatched.join(', ')}`);
  if (targets.length === 0) throw new LoupeError('BAD_INPUT', `The ${split} split has no labeled images of the model's classes (${classes.join(', ')})`);
  return { targets, notes };
}

/** Stores the external model and its evaluation in one transaction. */
export function storeExternalEvaluation(
  project: Project,
  model: { path: string; fileName: string; sha256: string; format: 'onnx' | 'bundle'; classes: string[]; preprocess: string; imageSize: number; channels: number },
  e: { split: 'val' | 'test'; imageIds: number[]; labels: (number | null)[]; probs: Float32Array; notes: string[] },
): number {
  return project.db.transaction(() => {
    const externalModelId = Number(
      project.db
        .prepare(
          `INSERT INTO external_models (path, file_name, sha256, format, classes, preprocess, image_size, channels, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(model.path, model.fileName, model.sha256, model.format, JSON.stringify(model.classes), model.preprocess, model.imageSize, model.channels, new Date().toISOString()).lastInsertRowid,
    );
    return storeEvaluation(project.db, { runId: null, externalModelId, split: e.split, modelSha256: model.sha256, imageIds: e.imageIds, labels: e.labels, probs: e.probs, k: model.classes.length, notes: e.notes });
  })();
}

export async function runExternalEvaluation(
  project: Project,
  task: ExternalEvaluationTask,
  opts: { signal?: AbortSignal; progress?: (done: number, total: number, message: string) => void } = {},
): Promise<{ evaluationId: number; n: number; notes: string[] }> {
  const file = resolve(task.file);
  const classes = checkClassNames(task.classes);
  const preset = task.preprocess ?? 'imagenet';
  const bytes = readModelFile(file);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  checkSameModel(task.expectSha256, sha256, basename(file));
  const s = await openSession(bytes, task.imageSize);
  try {
    const k = classes.length;
    // The output is checked on one blank image before any image is decoded: a wrong model fails at once.
    await runBatch(s, new Float32Array(s.channels * s.size * s.size), 1, k);
    const { targets, notes } = externalTargets(project, classes, task.split);
    const shape = { imageSize: s.size, channels: s.channels, resize: 'squash' as const };
    const { cache, kept, dropped } = await cachedImages(project, shape, targets.map((t) => t.imageId), opts);
    const outputs = new Float32Array(kept.length * k);
    try {
      for (const d of dropped.slice(0, 20)) notes.push(`Left out ${d.path}: ${d.reason}`);
      const step = Math.min(s.batch, BATCH);
      const buf = new Uint8Array(step * cache.rowBytes);
      for (let start = 0; start < kept.length; start += step) {
        if (opts.signal?.aborted) throw new LoupeError('CONFLICT', 'Canceled');
        const n = Math.min(step, kept.length - start);
        for (let i = 0; i < n; i++) cache.read(kept[start + i]!.sha256, buf, i * cache.rowBytes);
        outputs.set(await runBatch(s, toNchw(buf, n, s, preset), n, k), start * k);
        opts.progress?.(start + n, kept.length, 'Predicting');
      }
    } finally {
      cache.close();
    }
    const { probs, softmax } = asProbabilities(outputs, k);
    if (softmax) notes.push('The model outputs scores (logits): Loupe turned them into probabilities with softmax');
    const labelOf = new Map(targets.map((t) => [t.imageId, t.label]));
    const imageIds = kept.map((it) => it.imageId);
    opts.progress?.(kept.length, kept.length, 'Computing metrics');
    const evaluationId = storeExternalEvaluation(
      project,
      { path: file, fileName: basename(file), sha256, format: 'onnx', classes, preprocess: preset, imageSize: s.size, channels: s.channels },
      { split: task.split, imageIds, labels: imageIds.map((id) => labelOf.get(id) ?? null), probs, notes },
    );
    return { evaluationId, n: imageIds.length, notes };
  } finally {
    await s.session.release();
  }
}
