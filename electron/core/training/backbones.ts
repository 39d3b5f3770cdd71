/**
 * Backbones for transfer learning: TF.js LayersModel folders from resources/backbones (shipped with the app), from
 * the project's backbones/ folder (imported by the user), or one of the project's own runs (`run:<id>`). Nothing
 * is ever downloaded. No TensorFlow here: this runs in the main process; transfer.ts builds the model in the
 * training process.
 */
import { copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LoupeError } from '../../../shared/contract.ts';
import type { Normalization, TrainConfig } from '../../../shared/training.ts';
import type { Project } from '../project/project.ts';
import { checkpointDir } from './checkpoint-paths.ts';
import { type BackboneJson, checkModelFolder, MAX_ONNX_BYTES, parseBackboneJson, parsePreprocessing, readJsonFile, readModelJson } from './model-folder.ts';
import { getRun, runDir } from './runs.ts';

export type OnnxSource = NonNullable<BackboneJson['onnx']>;

export interface BackboneMeta {
  name: string;
  imageSize: number;
  channels: 1 | 3;
  normalization: Normalization;
  /** The layer whose output feeds the new head; default: the input of the last Dense layer. */
  featureLayer?: string;
  description?: string;
  /** An imported ONNX network's original file, kept in the folder for its features on onnxruntime (issue 12). */
  onnx?: OnnxSource;
}

export interface BackboneInfo extends BackboneMeta {
  source: 'shipped' | 'imported' | 'run';
  dir: string;
}

/** Read when used: the Electron face sets LOUPE_BACKBONES_DIR after this module has loaded. */
function shippedDir(): string {
  return process.env['LOUPE_BACKBONES_DIR'] ?? fileURLToPath(new URL('../../../resources/backbones', import.meta.url));
}

function readMeta(dir: string, fallbackName: string): BackboneMeta {
  const modelJson = join(dir, 'model.json');
  if (!existsSync(modelJson)) throw new LoupeError('BAD_INPUT', `${dir} has no model.json: a backbone is a TF.js LayersModel folder`);
  const topology = readModelJson(dir) as { modelTopology: { config?: { layers?: { class_name: string; config: { batch_input_shape?: (number | null)[] } }[] } } };
  const inputLayer = topology.modelTopology.config?.layers?.find((l) => l.class_name === 'InputLayer');
  const shape = inputLayer?.config.batch_input_shape ?? null;
  // A Loupe run's checkpoint carries its preprocessing; a foreign model may carry backbone.json. Both are checked
  // with bounds: a backbone folder comes from someone else.
  const fromRun = existsSync(join(dir, 'preprocessing.json')) ? parsePreprocessing(readJsonFile(dir, 'preprocessing.json')) : null;
  const declared: Partial<BackboneMeta> = {
    ...(fromRun ? { imageSize: fromRun.imageSize, channels: fromRun.channels, normalization: fromRun.normalization } : {}),
    ...(existsSync(join(dir, 'backbone.json')) ? parseBackboneJson(readJsonFile(dir, 'backbone.json')) : {}),
  };
  const size = declared.imageSize ?? (shape?.[1] as number | undefined);
  const channels = declared.channels ?? (shape?.[3] as 1 | 3 | undefined);
  if (!size || !channels || (shape && (shape[1] !== shape[2] || (shape[1] !== null && shape[1] !== size) || (shape[3] !== null && shape[3] !== channels)))) {
    throw new LoupeError('BAD_INPUT', `The backbone's input does not fit: Loupe needs a square image input of 1 or 3 channels (found ${JSON.stringify(shape)})`);
  }
  if (channels !== 1 && channels !== 3) throw new LoupeError('BAD_INPUT', `The backbone takes ${channels} channels; Loupe supports 1 or 3`);
  return {
    name: declared.name ?? fallbackName,
    imageSize: size,
    channels,
    normalization: declared.normalization ?? { mean: new Array(channels).fill(0.5), std: new Array(channels).fill(0.25) },
    featureLayer: declared.featureLayer,
    description: declared.description,
    ...(declared.onnx ? { onnx: declared.onnx } : {}),
  };
}

function listDirBackbones(dir: string, source: 'shipped' | 'imported'): BackboneInfo[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(dir, d.name, 'model.json')))
    .flatMap((d) => {
      try {
        return [{ ...readMeta(join(dir, d.name), d.name), source, dir: join(dir, d.name) }];
      } catch {
        return []; // listed backbones must load; a broken folder is reported when used by name
      }
    });
}

export function listBackbones(project: Project): BackboneInfo[] {
  return [...listDirBackbones(shippedDir(), 'shipped'), ...listDirBackbones(join(project.path, 'backbones'), 'imported')];
}

/** Resolves a backbone name: `run:<id>`, an imported one, or a shipped one. */
export function findBackbone(project: Project, name: string): BackboneInfo {
  const m = /^run:(\d+)$/.exec(name);
  if (m) {
    const run = getRun(project.db, Number(m[1]));
    const dir = checkpointDir(runDir(project, run.id), 'best');
    if (!existsSync(join(dir, 'model.json')) || !run.preprocessing) {
      throw new LoupeError('BAD_INPUT', `Run ${run.id} has no finished model to reuse as a backbone`);
    }
    return {
      name,
      imageSize: run.preprocessing.imageSize,
      channels: run.preprocessing.channels,
      normalization: run.preprocessing.normalization,
      source: 'run',
      dir,
    };
  }
  // The name may come from a run config in someone else's project file: only a folder directly in backbones/.
  checkBackboneName(name);
  const found = listBackbones(project).find((b) => b.name === name);
  if (found) return found;
  for (const [base, source] of [[join(project.path, 'backbones'), 'imported'], [shippedDir(), 'shipped']] as const) {
    if (existsSync(join(base, name))) return { ...readMeta(join(base, name), name), source, dir: join(base, name) };
  }
  throw new LoupeError('NOT_FOUND', `No backbone named "${name}" (see \`loupe backbone list\`)`);
}

/** Reserved by Windows whatever the extension: a backbone folder named so could not be opened there. */
const WINDOWS_RESERVED = /^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$/i;

/**
 * A backbone's name becomes a folder name, so it must be a plain file name: no path separators, no `..`, no
 * control characters (a backbone named `../../x` once wrote its files outside the project).
 */
export function checkBackboneName(name: string): string {
  const ok =
    name.length >= 1 &&
    name.length <= 100 &&
    !/[/\\:*?"<>|\p{Cc}]/u.test(name) &&
    !name.includes('..') &&
    !name.startsWith('.') &&
    !/[. ]$/.test(name) &&
    name.trim() === name &&
    !WINDOWS_RESERVED.test(name);
  if (!ok) throw new LoupeError('BAD_INPUT', `"${name}" cannot name a backbone: use a plain name (letters, digits, spaces, - _ . but no / \\ or ..), e.g. --name resnet18`);
  return name;
}

function isSymlink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Where an imported backbone's files go: a new folder directly inside the project's backbones/, which must be a
 * real folder (a symlinked backbones/ would send the files elsewhere).
 */
export function backboneTarget(project: Project, name: string): string {
  checkBackboneName(name);
  const root = join(project.path, 'backbones');
  if (isSymlink(root)) throw new LoupeError('BAD_INPUT', `${root} is a symbolic link; Loupe keeps backbones in a real folder inside the project`);
  const target = resolve(root, name);
  if (dirname(target) !== resolve(root)) throw new LoupeError('BAD_INPUT', `"${name}" cannot name a backbone`);
  if (exists(target)) throw new LoupeError('CONFLICT', `A backbone named "${name}" is already imported`);
  mkdirSync(root, { recursive: true });
  return target;
}

/** A file of the source folder that may be copied: named by a plain relative path inside it, a regular file. */
function sourceFile(dir: string, rel: string): string {
  const file = resolve(dir, rel);
  if (!file.startsWith(dir + sep)) throw new LoupeError('BAD_INPUT', `The backbone names a file outside its folder (${rel}); nothing was imported`);
  let st;
  try {
    st = lstatSync(file);
  } catch {
    throw new LoupeError('BAD_INPUT', `The backbone's file ${rel} is missing`);
  }
  if (st.isSymbolicLink()) throw new LoupeError('BAD_INPUT', `The backbone's file ${rel} is a symbolic link; Loupe copies only real files`);
  if (!st.isFile()) throw new LoupeError('BAD_INPUT', `The backbone's ${rel} is not a file`);
  return file;
}

/**
 * Copies a LayersModel folder into the project's backbones/, after checking that it loads and fits. Only
 * model.json, the weights files its manifest names and Loupe's own side files are copied, each a real file inside
 * the folder; the copy is removed again if any of it fails, so nothing half-imported stays.
 */
export function importBackbone(project: Project, src: string, name?: string): BackboneInfo {
  const dir = resolve(src);
  if (isSymlink(dir)) throw new LoupeError('BAD_INPUT', `${dir} is a symbolic link; give the backbone's real folder`);
  const meta = readMeta(dir, name ?? basename(dir));
  const finalName = checkBackboneName(name ?? meta.name);
  const manifest = JSON.parse(readFileSync(sourceFile(dir, 'model.json'), 'utf8')) as { weightsManifest: { paths: string[] }[] };
  // An ONNX backbone's original file goes along (bounded like any import of one); without it, or too large, the
  // copy computes its features on TF.js, so backbone.json then no longer names it.
  const onnx = meta.onnx && exists(join(dir, meta.onnx.file)) && lstatSync(sourceFile(dir, meta.onnx.file)).size <= MAX_ONNX_BYTES ? meta.onnx : undefined;
  const files = ['model.json', ...manifest.weightsManifest.flatMap((g) => g.paths), ...['preprocessing.json'].filter((f) => exists(join(dir, f))), ...(onnx ? [onnx.file] : [])];
  const sources = files.map((f) => [f, sourceFile(dir, f)] as const);
  const { onnx: _declared, ...plain } = meta;
  const copied: BackboneMeta = { ...plain, ...(onnx ? { onnx } : {}) };
  checkWeightFiles(dir);
  const target = backboneTarget(project, finalName);
  try {
    for (const [rel, file] of sources) {
      mkdirSync(dirname(join(target, rel)), { recursive: true });
      copyFileSync(file, join(target, rel));
    }
    writeFileSync(join(target, 'backbone.json'), JSON.stringify({ ...copied, name: finalName }, null, 2));
  } catch (e) {
    rmSync(target, { recursive: true, force: true });
    throw e;
  }
  return { ...copied, name: finalName, source: 'imported', dir: target };
}

/** The config a backbone run trains with: the backbone's input size, channels and normalization win. */
export function applyBackbone(config: TrainConfig, b: BackboneMeta): TrainConfig {
  return {
    ...config,
    imageSize: b.imageSize,
    channels: b.channels,
    normalization: { kind: 'fixed', mean: b.normalization.mean, std: b.normalization.std },
  };
}

/** Every weights file the manifest names exists and holds exactly the bytes its weights need. */
export function checkWeightFiles(dir: string): void {
  const { specs } = checkModelFolder(dir);
  if (specs.some((w) => w.quantization)) throw new LoupeError('BAD_INPUT', 'Quantized backbones cannot be fine-tuned; export the backbone in float32');
}
