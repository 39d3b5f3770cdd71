/**
 * `loupe predict`: runs a verified model bundle on image files, with only the bundle (no project, no database).
 * Files go through decodeForModel, the same function training and evaluation use, and normalizeInto with the
 * bundle's normalization, so a file gets the probabilities Loupe's evaluation gives it. Decoding (sharp, on
 * libuv threads) of the next batch overlaps the prediction of the current one, and inference threads join when
 * the files left are worth starting them (BatchPredictor, as project evaluations).
 *
 * Loads TensorFlow.js: only the CLI's `predict` command (its own process) and benches import this file.
 */
import { readFileSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { basename, join, relative, resolve, sep } from 'node:path';
import type * as tfl from '@tensorflow/tfjs-layers';
import { LoupeError } from '../../../shared/contract.ts';
import { fileErrorReason } from '../images/file-error.ts';
import { decodeForModel, inputShapeOf } from '../images/model-input.ts';
import { DEFAULT_LIMIT_INPUT_PIXELS, probeImage } from '../import/probe.ts';
import { hasImageExtension, hasNoExtension, isHiddenOrSystemFile } from '../import/formats.ts';
import { looksLikeImage } from '../import/walk.ts';
import { displayFrame, isDicomBuffer, readDicomFile } from '../import/dicom-source.ts';
import { loadModel } from '../training/checkpoint.ts';
import { openPredictor } from '../training/predict.ts';
import type { VerifiedBundle } from './bundle-format.ts';

export interface PredictionRow {
  path: string;
  /** DICOM multi-frame files predicted frame by frame (`--frames all`): the frame, 1-based; else null. */
  frame: number | null;
  /** Whether the file is DICOM (by content): its name may hold a patient's, so outputs name it by pseudonym. */
  dicom: boolean;
  /** Null when the file could not be used (see error). */
  predicted: string | null;
  confidence: number | null;
  probabilities: number[] | null;
  error: string | null;
  /** E.g. "colour image converted to grayscale". */
  note: string | null;
}

export interface PredictSummary {
  images: number;
  predicted: number;
  failed: number;
  converted: number;
  seconds: number;
  imagesPerSecond: number;
  /** Which engine predicted ("onnxruntime on 2 threads", "TF.js on wasm"). */
  engine: string;
  /** Why the faster engine did not predict, when it did not. */
  notes: string[];
}

const BATCH = 256;
const DECODE_CONCURRENCY = 4;

/**
 * Image files named on the command line: files as given, folders walked (sorted, hidden files skipped). `names`
 * says how each is shown in predictions, without an absolute path (issue 14): inside a folder given,
 * `<folder name>/<path inside it>`; a file given by itself, its file name.
 */
export async function collectInputs(args: string[]): Promise<{ files: string[]; problems: PredictionRow[]; names: Map<string, string> }> {
  const files: string[] = [];
  const problems: PredictionRow[] = [];
  const names = new Map<string, string>();
  const walk = async (dir: string, top: string): Promise<void> => {
    const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (isHiddenOrSystemFile(e.name)) continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p, top);
      // Extensionless files by content, as the importer finds them (DICOM exports rarely have an extension).
      else if (e.isFile() && (hasImageExtension(e.name) || (hasNoExtension(e.name) && looksLikeImage(Buffer.from(p))))) {
        files.push(p);
        names.set(p, join(basename(top), relative(top, p)).split(sep).join('/'));
      }
    }
  };
  for (const arg of args) {
    const p = resolve(arg);
    names.set(p, basename(p));
    try {
      const s = await stat(p);
      if (s.isDirectory()) await walk(p, p);
      else files.push(p);
    } catch (e) {
      problems.push(failed(p, (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or folder' : fileErrorReason(e)));
    }
  }
  return { files, problems, names };
}

function failed(path: string, error: string, frame: number | null = null, dicom = false): PredictionRow {
  return { path, frame, dicom, predicted: null, confidence: null, probabilities: null, error, note: null };
}

/** Which frames of a multi-frame DICOM file are predicted: the middle one (as training uses) or each of them. */
export type FramesChoice = 'middle' | 'all';

/** One thing to predict: a file, or (`--frames all`) one frame of a multi-frame DICOM file (0-based). */
interface PredictItem {
  path: string;
  frame: number | null;
}

/** Every file, with each multi-frame DICOM file expanded into its frames when `all` is asked for. */
function expandFrames(files: string[], frames: FramesChoice): PredictItem[] {
  if (frames === 'middle') return files.map((path) => ({ path, frame: null }));
  return files.flatMap((path): PredictItem[] => {
    try {
      const buf = readFileSync(path);
      const content = isDicomBuffer(buf) ? readDicomFile(buf, DEFAULT_LIMIT_INPUT_PIXELS) : null;
      const n = content?.kind === 'image' ? content.pixel.frames : 1;
      return n > 1 ? Array.from({ length: n }, (_, frame) => ({ path, frame })) : [{ path, frame: null }];
    } catch {
      // Unreadable or corrupt: decodeFile reports the reason in the file's row.
      return [{ path, frame: null }];
    }
  });
}

export async function loadBundleModel(bundle: VerifiedBundle): Promise<tfl.LayersModel> {
  let model: tfl.LayersModel;
  try {
    model = await loadModel(bundle.dir, bundle.manifest.files);
  } catch (e) {
    throw new LoupeError('BAD_INPUT', `The bundle's TF.js model cannot be loaded: ${(e as Error).message}`);
  }
  // The batch buffers are sized from preprocessing.json and the rows cut by labels.json: both must be the model's.
  const p = bundle.preprocessing;
  const input = model.inputs[0]?.shape ?? [];
  const output = model.outputs[0]?.shape ?? [];
  const fits = model.inputs.length === 1 && input.length === 4 && input[1] === p.imageSize && input[2] === p.imageSize && input[3] === p.channels;
  if (!fits || output.length !== 2 || output[1] !== bundle.labels.length) {
    model.dispose();
    throw new LoupeError(
      'BAD_INPUT',
      `The bundle's model does not match its files: it takes ${JSON.stringify(input)} and gives ${JSON.stringify(output)}, preprocessing.json says ${p.imageSize}×${p.imageSize}×${p.channels} and labels.json lists ${bundle.labels.length} classes`,
    );
  }
  return model;
}

interface Decoded {
  path: string;
  frame: number | null;
  dicom: boolean;
  pixels: Uint8Array | null;
  error: string | null;
  note: string | null;
}

async function decodeFile(item: PredictItem, bundle: VerifiedBundle): Promise<Decoded> {
  const { path, frame } = item;
  const p = bundle.preprocessing;
  let dicom = false;
  try {
    // A sync read: images to classify are small, and fs/promises' open/fstat/read/close round trips through the
    // thread pool cost more than the read itself (a fifth of the run in a profile on 10,000 PNGs).
    const buf = readFileSync(path);
    dicom = isDicomBuffer(buf);
    if (dicom) {
      // DICOM: the pixel pipeline with the bundle's windowing gives 8-bit grey levels; no value range to measure.
      const { pixels, converted } = await decodeForModel(buf, inputShapeOf(p), { min: null, max: null }, DEFAULT_LIMIT_INPUT_PIXELS, frame ?? undefined);
      return { path, frame, dicom, pixels, error: null, note: [frame === null ? middleFrameNote(buf) : null, converted].filter(Boolean).join('; ') || null };
    }
    // The 16-bit value range as the importer measures it (whole image), so 16-bit files scale as in training.
    const facts = await probeImage(buf, path, { limitInputPixels: DEFAULT_LIMIT_INPUT_PIXELS, makeThumb: false, checkChannels: false });
    const { pixels, converted } = await decodeForModel(buf, inputShapeOf(p), { min: facts.minValue, max: facts.maxValue }, DEFAULT_LIMIT_INPUT_PIXELS);
    return { path, frame, dicom, pixels, error: null, note: [facts.note, converted].filter(Boolean).join('; ') || null };
  } catch (e) {
    return { path, frame, dicom, pixels: null, error: fileErrorReason(e), note: null };
  }
}

/** Says which frame of a multi-frame file was used, as the importer's note does. */
function middleFrameNote(buf: Buffer): string | null {
  const content = readDicomFile(buf, DEFAULT_LIMIT_INPUT_PIXELS);
  if (content.kind !== 'image' || content.pixel.frames < 2) return null;
  return `multi-frame DICOM with ${content.pixel.frames} frames: frame ${displayFrame(content) + 1} (the middle one) is used`;
}

async function decodeAll(paths: PredictItem[], bundle: VerifiedBundle): Promise<Decoded[]> {
  const out = new Array<Decoded>(paths.length);
  let next = 0;
  const worker = async () => {
    while (next < paths.length) {
      const i = next++;
      out[i] = await decodeFile(paths[i]!, bundle);
    }
  };
  await Promise.all(Array.from({ length: Math.min(DECODE_CONCURRENCY, paths.length) }, worker));
  return out;
}

/**
 * Predicts every file; `onRow` receives rows in input order (unreadable files included, with their reason).
 * Resolves with counts and the throughput over the whole run (decoding included).
 */
export async function predictFiles(
  bundle: VerifiedBundle,
  model: tfl.LayersModel,
  files: string[],
  opts: { onRow: (row: PredictionRow) => void; progress?: (done: number, total: number) => void; signal?: AbortSignal; batchSize?: number; frames?: FramesChoice },
): Promise<PredictSummary> {
  const start = performance.now();
  const items = expandFrames(files, opts.frames ?? 'middle');
  const p = bundle.preprocessing;
  const k = bundle.labels.length;
  const batchSize = opts.batchSize ?? BATCH;
  const per = p.imageSize * p.imageSize * p.channels;
  const rows = new Uint8Array(batchSize * per);
  let predicted = 0;
  let failedCount = 0;
  let converted = 0;
  let done = 0;
  let engine = '';
  let notes: readonly string[] = [];
  const batches = Math.ceil(items.length / batchSize);
  let pending = batches > 0 ? decodeAll(items.slice(0, batchSize), bundle) : null;
  // Opened while the first batch decodes. On TF.js, inference threads join once the work left is worth them.
  const predictor = await openPredictor(model, p, k);
  try {
    for (let b = 0; b < batches; b++) {
      if (opts.signal?.aborted) throw new LoupeError('CONFLICT', 'Canceled');
      const decoded = await pending!;
      // Start decoding the next batch before predicting this one: sharp works on other threads meanwhile.
      pending = b + 1 < batches ? decodeAll(items.slice((b + 1) * batchSize, (b + 2) * batchSize), bundle) : null;
      const good = decoded.filter((d) => d.pixels !== null);
      good.forEach((d, i) => rows.set(d.pixels!, i * per));
      const probs = good.length ? await predictor.predict(rows, good.length, items.length - done - decoded.length) : new Float32Array(0);
      let g = 0;
      for (const d of decoded) {
        if (!d.pixels) {
          failedCount++;
          opts.onRow(failed(d.path, d.error ?? 'unreadable', d.frame === null ? null : d.frame + 1, d.dicom));
          continue;
        }
        const row = Array.from(probs.subarray(g * k, (g + 1) * k));
        g++;
        let best = 0;
        for (let c = 1; c < k; c++) if (row[c]! > row[best]!) best = c;
        if (d.note?.includes('converted')) converted++;
        predicted++;
        opts.onRow({ path: d.path, frame: d.frame === null ? null : d.frame + 1, dicom: d.dicom, predicted: bundle.labels[best]!, confidence: row[best]!, probabilities: row, error: null, note: d.note });
      }
      done += decoded.length;
      opts.progress?.(done, items.length);
    }
    engine = predictor.engine;
    notes = predictor.notes;
  } finally {
    await predictor.close();
    // A canceled run leaves the next batch decoding (decodeAll never rejects): wait for it, so no sharp call
    // outlives the command.
    await pending;
  }
  const seconds = (performance.now() - start) / 1000;
  return { images: items.length, predicted, failed: failedCount, converted, seconds, imagesPerSecond: seconds > 0 ? predicted / seconds : 0, engine, notes: [...notes] };
}
