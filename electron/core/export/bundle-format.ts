/**
 * The model bundle on disk (issue 6): what it holds, and the check that it is what Loupe wrote. Used by export
 * (writing) and by `loupe predict` (reading, with no project and no database), so the two agree by construction.
 *
 *   model.json + weights.bin   TF.js LayersModel
 *   model.onnx                 the same model as ONNX (when exported)
 *   labels.json                class names, in the model's output order
 *   preprocessing.json         how a file becomes the model's input
 *   model-card.md              what it was trained on, how well it does, its limits, file hashes
 *   predict.mjs                a sample: running the bundle with Node and @tensorflow/tfjs
 *   manifest.json              SHA-256 of every other file; `loupe predict` refuses a bundle that does not match
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { LoupeError } from '../../../shared/contract.ts';
import type { Preprocessing } from '../../../shared/training.ts';
import { INCOMPLETE_MARKER } from './out-dir.ts';
import { MAX_MODEL_JSON_BYTES, MAX_WEIGHTS_BYTES, parseLabels, parsePreprocessing, readBounded, readJsonFile } from '../training/model-folder.ts';

export const MANIFEST = 'manifest.json';
export const BUNDLE_FORMAT = 'loupe-model-bundle';
export const BUNDLE_VERSION = 1;

/** preprocessing.json: the run's Preprocessing plus what a reader outside Loupe needs to know. */
export interface BundlePreprocessing extends Preprocessing {
  input: { name: string; layout: 'NHWC'; dtype: 'float32'; shape: [null, number, number, number] };
  /** Pixel value the model sees, per channel c: (byte / 255 − mean[c]) / std[c]. */
  formula: string;
  colour: string;
  orientation: string;
}

export interface BundleManifest {
  format: typeof BUNDLE_FORMAT;
  version: number;
  createdAt: string;
  appVersion: string;
  project: string;
  runId: number;
  /** SHA-256 of weights.bin: the model hash evaluations and reports cite. */
  modelSha256: string;
  files: Record<string, { sha256: string; bytes: number }>;
}

/** manifest.json, as read from a bundle that may come from anyone: every field typed, a bounded number of files. */
const manifestSchema = z
  .object({
    format: z.literal(BUNDLE_FORMAT),
    version: z.number().int().min(1),
    createdAt: z.string().max(100),
    appVersion: z.string().max(100),
    project: z.string().max(1000),
    runId: z.number().int(),
    modelSha256: z.string().regex(/^[0-9a-f]{64}$/),
    files: z
      .record(z.string().min(1).max(255), z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/), bytes: z.number().int().min(0) }).passthrough())
      .refine((files) => Object.keys(files).length <= 64, 'more than 64 files'),
  })
  .passthrough();

export function sha256(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export interface VerifiedBundle {
  dir: string;
  manifest: BundleManifest;
  labels: string[];
  preprocessing: BundlePreprocessing;
}

function readJson(dir: string, name: string): unknown {
  try {
    return readJsonFile(dir, name);
  } catch (e) {
    throw new LoupeError('BAD_INPUT', `The bundle's ${name} cannot be read: ${(e as Error).message}`);
  }
}

/**
 * Checks every file against manifest.json (present, same size, same SHA-256) and reads the labels and the
 * preprocessing. A file edited by hand, missing or added to the model's set is a clear error, not a wrong answer.
 */
export function verifyBundle(path: string): VerifiedBundle {
  const dir = resolve(path);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new LoupeError('NOT_FOUND', `No bundle folder at ${dir}`);
  if (existsSync(join(dir, INCOMPLETE_MARKER))) {
    throw new LoupeError('BAD_INPUT', `${dir} is an export that was interrupted before it finished; run the export again`);
  }
  if (!existsSync(join(dir, MANIFEST))) {
    throw new LoupeError('BAD_INPUT', `${dir} is not a Loupe model bundle (no ${MANIFEST}); export one with 'loupe export'`);
  }
  const raw = readJson(dir, MANIFEST) as { format?: unknown; version?: unknown } | null;
  // A newer Loupe's bundle may hold other fields: say "update", not "broken".
  if (raw?.format === BUNDLE_FORMAT && typeof raw.version === 'number' && raw.version > BUNDLE_VERSION) {
    throw new LoupeError('UNSUPPORTED', `The bundle is format version ${raw.version}; this Loupe reads up to ${BUNDLE_VERSION}. Update Loupe.`);
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) throw new LoupeError('BAD_INPUT', `${join(dir, MANIFEST)} is not a Loupe bundle manifest (${parsed.error.issues[0]!.path.join('.') || 'top'}: ${parsed.error.issues[0]!.message})`);
  const manifest: BundleManifest = parsed.data;
  if (!manifest.files['model.json']) {
    throw new LoupeError('UNSUPPORTED', `The bundle at ${dir} has no TF.js model (exported with --format onnx only); run its model.onnx with an ONNX runtime, or export again with --format tfjs`);
  }
  const problems: string[] = [];
  for (const required of ['model.json', 'weights.bin', 'labels.json', 'preprocessing.json']) {
    if (!manifest.files[required]) problems.push(`${required} is not listed in the manifest`);
  }
  for (const [name, want] of Object.entries(manifest.files)) {
    const file = join(dir, name);
    if (name.includes('..') || name.includes('/') || name.includes('\\')) {
      problems.push(`${name}: not a plain file name`);
      continue;
    }
    if (!existsSync(file)) {
      problems.push(`${name} is missing`);
      continue;
    }
    const got = sha256(readBounded(file, MAX_WEIGHTS_BYTES + MAX_MODEL_JSON_BYTES, name));
    if (got !== want.sha256) problems.push(`${name} was changed after export (SHA-256 ${got.slice(0, 12)}…, expected ${want.sha256.slice(0, 12)}…)`);
  }
  if (problems.length) {
    throw new LoupeError('BAD_INPUT', `The bundle at ${dir} failed its checksum check: ${problems.join('; ')}. Export it again from Loupe; do not edit bundle files by hand.`);
  }
  // Checked with bounds before anything is allocated from them (a batch buffer is imageSize² × channels × batch).
  const labels = parseLabels(readJson(dir, 'labels.json'));
  const preprocessing = parsePreprocessing(readJson(dir, 'preprocessing.json')) as BundlePreprocessing;
  return { dir, manifest, labels, preprocessing };
}

export function bundlePreprocessing(p: Preprocessing): BundlePreprocessing {
  return {
    ...p,
    input: { name: 'image', layout: 'NHWC', dtype: 'float32', shape: [null, p.imageSize, p.imageSize, p.channels] },
    formula: 'x = (byte / 255 - mean[c]) / std[c] for each channel c',
    colour: p.channels === 1 ? 'grayscale (colour images are converted to luminance)' : 'sRGB (grayscale images are replicated to 3 channels)',
    orientation: 'EXIF orientation applied; transparent pixels become black; letterbox padding is black',
  };
}
