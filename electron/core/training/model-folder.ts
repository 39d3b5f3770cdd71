/**
 * A TF.js LayersModel folder on disk, read as untrusted input (issue 14): imported backbones, a run's checkpoints
 * and model bundles all come through here, so the rules live in one place. model.json may only name weight files
 * inside its own folder (no `..`, no absolute path, no symlink out), every size is bounded before anything is
 * allocated, and a bundle's weight files must be listed in its manifest with the checksum of the bytes read.
 * No TensorFlow here: the main process checks backbones with it; checkpoint.ts hands the bytes to tfjs.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fstatSync, openSync, readSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { z } from 'zod';
import { LoupeError } from '../../../shared/contract.ts';
import { dicomWindowSchema, resizeModes, type Preprocessing } from '../../../shared/training.ts';

/** model.json holds the topology and the manifest; Loupe's own are a few hundred kB. */
export const MAX_MODEL_JSON_BYTES = 32 * 1024 * 1024;
/** All weights together: far above any model Loupe trains or fine-tunes, far below what would exhaust memory. */
export const MAX_WEIGHTS_BYTES = 1024 * 1024 * 1024;
export const MAX_CLASSES = 10_000;
/** Larger than any classifier a workstation fine-tunes (ResNet-152 is 240 MB); checked before reading. */
export const MAX_ONNX_BYTES = 1024 ** 3;
/** An ONNX backbone keeps its original file under this name, for its frozen features on onnxruntime (issue 12). */
export const ONNX_SOURCE_FILE = 'source.onnx';
/** The same bounds as a training config's input (shared/training.ts). */
export const MIN_IMAGE_SIZE = 16;
export const MAX_IMAGE_SIZE = 512;

export interface WeightSpec {
  name: string;
  shape: number[];
  dtype?: string;
  quantization?: { dtype?: string };
}

export interface ModelJson {
  modelTopology: object;
  weightsManifest: { paths: string[]; weights: WeightSpec[] }[];
  format?: string;
}

/** For a bundle: the manifest's files (plain names) and their SHA-256; weight files must be among them. */
export type ListedFiles = Record<string, { sha256: string }>;

const weightSpecSchema = z
  .object({
    name: z.string().max(1000),
    shape: z.array(z.number().int().min(0).max(1 << 30)).max(8),
    dtype: z.string().max(20).optional(),
    quantization: z.object({ dtype: z.string().max(20).optional() }).passthrough().optional(),
  })
  .passthrough();

const modelJsonSchema = z
  .object({
    modelTopology: z.record(z.string(), z.unknown()),
    weightsManifest: z.array(z.object({ paths: z.array(z.string().min(1).max(1000)).max(10_000), weights: z.array(weightSpecSchema).max(100_000) }).passthrough()).max(10_000),
    format: z.string().max(100).optional(),
  })
  .passthrough();

function bad(message: string): LoupeError {
  return new LoupeError('BAD_INPUT', message);
}

function firstIssue(e: z.ZodError): string {
  const i = e.issues[0]!;
  return `${i.path.join('.') || '(top)'}: ${i.message}`;
}

/** Reads a file of at most `max` bytes, checking the size on the open descriptor before allocating. */
export function readBounded(file: string, max: number, what: string): Buffer {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw bad(`${what} cannot be read (${code === 'ENOENT' ? 'missing' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : (code ?? 'error')})`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw bad(`${what} is not a file`);
    if (st.size > max) throw bad(`${what} is ${st.size} bytes; Loupe reads at most ${max}`);
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, off);
      if (n === 0) break;
      off += n;
    }
    if (off !== buf.length) throw bad(`${what} changed while it was read`);
    return buf;
  } finally {
    closeSync(fd);
  }
}

/** A small JSON file of the folder, size-bounded and parsed. */
export function readJsonFile(dir: string, name: string, max = 1024 * 1024): unknown {
  const text = readBounded(join(dir, name), max, name).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw bad(`${name} is not valid JSON: ${(e as Error).message}`);
  }
}

export function readModelJson(dir: string): ModelJson {
  const raw = readJsonFile(dir, 'model.json', MAX_MODEL_JSON_BYTES);
  const parsed = modelJsonSchema.safeParse(raw);
  if (!parsed.success) throw bad(`model.json is not a TF.js LayersModel (${firstIssue(parsed.error)}; graph models are not supported)`);
  return parsed.data as ModelJson;
}

const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1 };
const QUANTIZED_BYTES: Record<string, number> = { uint8: 1, uint16: 2, float16: 2 };

/** Bytes one weight takes in the weight files, as tfjs decodes them. */
function bytesOf(w: WeightSpec): number {
  const per = w.quantization ? QUANTIZED_BYTES[w.quantization.dtype ?? ''] : DTYPE_BYTES[w.dtype ?? 'float32'];
  if (per === undefined) throw bad(`model.json: weight ${w.name} has an unsupported type (${w.quantization?.dtype ?? w.dtype})`);
  let n = per;
  for (const d of w.shape) {
    n *= d;
    if (n > MAX_WEIGHTS_BYTES) throw bad(`model.json: weight ${w.name} would need more than ${MAX_WEIGHTS_BYTES} bytes`);
  }
  return n;
}

/** A manifest's name for a file at `rel` inside the folder ("./weights.bin" is listed as "weights.bin"). */
function listedName(rel: string): string {
  return rel.split(sep).join('/');
}

/**
 * The absolute path of a weights file named by model.json: relative, inside `dir` once resolved and once symlinks
 * are followed, and (for a bundle) listed in its manifest.
 */
export function weightFilePath(dir: string, name: string, listed?: ListedFiles): string {
  const root = resolve(dir);
  if (name.includes('\0') || isAbsolute(name) || /^[a-zA-Z]:/.test(name) || name.includes('\\')) {
    throw bad(`model.json names the weights file "${name}": only file names inside the model's folder are allowed`);
  }
  const file = resolve(root, name);
  const rel = relative(root, file);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) {
    throw bad(`model.json names the weights file "${name}", outside the model's folder: refused`);
  }
  if (listed && !Object.hasOwn(listed, listedName(rel))) {
    throw bad(`model.json names the weights file "${name}", which the bundle's manifest does not list: refused`);
  }
  if (!existsSync(file)) throw bad(`The weights file ${name} is missing`);
  const realRoot = realpathSync(root);
  const realRel = relative(realRoot, realpathSync(file));
  if (realRel.startsWith('..') || isAbsolute(realRel)) throw bad(`The weights file ${name} links outside the model's folder: refused`);
  return file;
}

export interface WeightFiles {
  json: ModelJson;
  specs: WeightSpec[];
  files: { name: string; path: string; bytes: number }[];
  /** What the specs need; equal to the files' total size. */
  bytes: number;
}

/** Checks model.json against its weight files without reading them: names, places and total size. */
export function checkModelFolder(dir: string, listed?: ListedFiles): WeightFiles {
  const json = readModelJson(dir);
  const specs = json.weightsManifest.flatMap((g) => g.weights);
  let expected = 0;
  for (const w of specs) {
    expected += bytesOf(w);
    if (expected > MAX_WEIGHTS_BYTES) throw bad(`The model's weights need more than ${MAX_WEIGHTS_BYTES} bytes; Loupe loads at most that`);
  }
  const files = json.weightsManifest.flatMap((g) => g.paths).map((name) => {
    const path = weightFilePath(dir, name, listed);
    return { name, path, bytes: statSync(path).size };
  });
  const actual = files.reduce((s, f) => s + f.bytes, 0);
  if (actual !== expected) {
    throw bad(`The weights files hold ${actual} bytes, model.json needs ${expected}: the files do not belong together`);
  }
  return { json, specs, files, bytes: expected };
}

/** model.json and the weights, read and checked: what tfjs' fromMemory needs. */
export function readModelFolder(dir: string, listed?: ListedFiles): { modelTopology: object; weightSpecs: WeightSpec[]; weightData: ArrayBuffer } {
  const checked = checkModelFolder(dir, listed);
  const all = Buffer.alloc(checked.bytes);
  let off = 0;
  for (const f of checked.files) {
    const body = readBounded(f.path, checked.bytes - off, f.name);
    if (listed) {
      const got = createHash('sha256').update(body).digest('hex');
      if (got !== listed[listedName(relative(resolve(dir), f.path))]?.sha256) throw bad(`The weights file ${f.name} does not match the bundle's manifest (changed after the check)`);
    }
    body.copy(all, off);
    off += body.length;
  }
  if (off !== checked.bytes) throw bad('The weights files changed while they were read');
  return { modelTopology: checked.json.modelTopology, weightSpecs: checked.specs, weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) };
}

const normalizationSchema = z
  .object({
    mean: z.array(z.number().min(-1e3).max(1e3)).min(1).max(3),
    std: z.array(z.number().positive().max(1e3)).min(1).max(3),
  })
  .passthrough();

const preprocessingSchema = z
  .object({
    imageSize: z.number().int().min(MIN_IMAGE_SIZE).max(MAX_IMAGE_SIZE),
    channels: z.union([z.literal(1), z.literal(3)]),
    resize: z.enum(resizeModes),
    normalization: normalizationSchema,
    sixteenBit: z.literal('own-range').default('own-range'),
    dicomWindow: dicomWindowSchema.optional(),
  })
  .passthrough()
  .refine((p) => p.normalization.mean.length === p.channels && p.normalization.std.length === p.channels, 'normalization needs one mean and one std per channel');

/** preprocessing.json of a bundle or a run checkpoint: bounded image size, 1 or 3 channels, finite normalization. */
export function parsePreprocessing(raw: unknown, what = 'preprocessing.json'): Preprocessing {
  const parsed = preprocessingSchema.safeParse(raw);
  if (!parsed.success) throw bad(`${what} is not valid (${firstIssue(parsed.error)})`);
  return parsed.data as Preprocessing;
}

const labelsSchema = z
  .array(z.string().min(1).max(200))
  .min(2)
  .max(MAX_CLASSES)
  .refine((l) => new Set(l).size === l.length, 'class names must be distinct');

/** labels.json: 2 to MAX_CLASSES distinct, non-empty class names. */
export function parseLabels(raw: unknown, what = 'labels.json'): string[] {
  const parsed = labelsSchema.safeParse(raw);
  if (!parsed.success) throw bad(`${what} must list 2 to ${MAX_CLASSES} distinct class names (${firstIssue(parsed.error)})`);
  return parsed.data;
}

const backboneJsonSchema = z
  .object({
    name: z.string().min(1).max(100).optional(),
    imageSize: z.number().int().min(MIN_IMAGE_SIZE).max(MAX_IMAGE_SIZE).optional(),
    channels: z.union([z.literal(1), z.literal(3)]).optional(),
    normalization: normalizationSchema.optional(),
    featureLayer: z.string().min(1).max(200).optional(),
    description: z.string().max(2000).optional(),
    // Only Loupe's own file name (so never a path out of the folder), its checksum and the graph value to cut at.
    // Anything else, or nothing, only means the features are computed on TF.js: the backbone still loads.
    onnx: z
      .object({ file: z.literal(ONNX_SOURCE_FILE), sha256: z.string().regex(/^[0-9a-f]{64}$/), featureOutput: z.string().min(1).max(1000) })
      .optional()
      .catch(undefined),
  })
  .passthrough();

export type BackboneJson = z.output<typeof backboneJsonSchema>;

/** backbone.json of a foreign backbone folder: every field optional, every field bounded. */
export function parseBackboneJson(raw: unknown): BackboneJson {
  const parsed = backboneJsonSchema.safeParse(raw);
  if (!parsed.success) throw bad(`backbone.json is not valid (${firstIssue(parsed.error)})`);
  return parsed.data;
}
