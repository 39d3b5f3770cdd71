/**
 * Exporting a run as a self-contained model bundle (issue 6): the run's best checkpoint copied as a TF.js
 * LayersModel, the same model as ONNX, labels, preprocessing, a model card, a sample script and a manifest of
 * SHA-256 hashes. Pure file work (the ONNX graph is built from model.json and weights.bin), so it runs in the
 * main process without TensorFlow.
 */
import { basename, join } from 'node:path';
import { createRequire } from 'node:module';
import { LoupeError, type ExportReport } from '../../../shared/contract.ts';
import type { Project } from '../project/project.ts';
import { MAX_MODEL_JSON_BYTES, MAX_WEIGHTS_BYTES, checkModelFolder, readBounded } from '../training/model-folder.ts';
import { BUNDLE_FORMAT, BUNDLE_VERSION, MANIFEST, bundlePreprocessing, sha256, type BundleManifest } from './bundle-format.ts';
import { modelCard } from './model-card.ts';
import { convertToOnnx, type LayersModelJson } from './onnx/convert.ts';
import { markExportComplete, markExportIncomplete, prepareOutDir, prepareOutFile, writeFileAtomic } from './out-dir.ts';
import { collectRunFacts } from './run-facts.ts';
import { SAMPLE_SCRIPT } from './sample-script.ts';
import { buildZip } from './zip.ts';

export type ModelFormat = 'tfjs' | 'onnx';

export interface BundleOptions {
  runId: number;
  outDir: string;
  /** Undefined: TF.js always, ONNX when the model converts (a note says why not). Given: exactly these, or fail. */
  formats?: ModelFormat[];
  zip?: boolean;
  force?: boolean;
  /** Intended use and limitations typed by the user, for the model card. */
  notes?: string;
  appVersion: string;
  progress?: (done: number, total: number, message: string) => void;
  signal?: AbortSignal;
}

function tfjsVersion(): string {
  try {
    const require = createRequire(import.meta.url);
    return (require('@tensorflow/tfjs-core/package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export async function exportBundle(project: Project, opts: BundleOptions): Promise<ExportReport> {
  const facts = collectRunFacts(project, opts.runId);
  const formats = opts.formats ?? ['tfjs', 'onnx'];
  const onnxRequired = opts.formats?.includes('onnx') ?? false;
  if (formats.length === 0) throw new LoupeError('VALIDATION', 'Choose at least one format: tfjs, onnx');
  // The folder first: one left by an interrupted export takes its zip with it when it is cleared.
  const dir = prepareOutDir(opts.outDir, opts.force ?? false);
  const zipPath = opts.zip ? prepareOutFile(`${opts.outDir.replace(/[/\\]+$/, '')}.zip`, opts.force ?? false) : undefined;
  const step = (i: number, message: string) => {
    if (opts.signal?.aborted) throw new LoupeError('CONFLICT', 'Canceled');
    opts.progress?.(i, 5, message);
  };

  step(0, 'Reading the model');
  // A project folder may come from someone else: the bundle copies model.json and weights.bin, so the model must
  // be exactly those, checked as loading would check them (model-folder.ts).
  const checked = checkModelFolder(facts.modelDir);
  if (checked.files.length !== 1 || checked.files[0]!.name !== 'weights.bin') {
    throw new LoupeError('BAD_INPUT', `Run ${facts.run.id}'s model.json names other weights files than weights.bin; it was not written by Loupe`);
  }
  const modelJsonText = readBounded(join(facts.modelDir, 'model.json'), MAX_MODEL_JSON_BYTES, 'model.json').toString('utf8');
  const weights = readBounded(join(facts.modelDir, 'weights.bin'), MAX_WEIGHTS_BYTES, 'weights.bin');
  const modelJson = JSON.parse(modelJsonText) as LayersModelJson;
  const parameters = modelJson.weightsManifest.flatMap((g) => g.weights).reduce((s, w) => s + w.shape.reduce((a, b) => a * b, 1), 0);
  const files = new Map<string, Uint8Array | string>();
  const notes: string[] = [];
  if (formats.includes('tfjs')) {
    files.set('model.json', modelJsonText);
    files.set('weights.bin', weights);
  }

  step(1, 'Building the ONNX graph');
  let onnxNote: string | null = null;
  if (formats.includes('onnx')) {
    try {
      files.set(
        'model.onnx',
        convertToOnnx(modelJson, weights, {
          producerVersion: opts.appVersion,
          docString: `Loupe run ${facts.run.id} of ${facts.projectName}`,
          metadata: { classes: JSON.stringify(facts.run.classes), preprocessing: JSON.stringify(facts.run.preprocessing), model_sha256: facts.modelSha256 },
        }),
      );
    } catch (e) {
      if (onnxRequired) throw e;
      onnxNote = `not exported: ${(e as Error).message}`;
      notes.push(`ONNX ${onnxNote}`);
    }
  }
  files.set('labels.json', JSON.stringify(facts.run.classes, null, 2) + '\n');
  files.set('preprocessing.json', JSON.stringify(bundlePreprocessing(facts.run.preprocessing!), null, 2) + '\n');
  if (formats.includes('tfjs')) files.set('predict.mjs', SAMPLE_SCRIPT);

  step(2, 'Writing the model card');
  const hashes = (): Record<string, { sha256: string; bytes: number }> =>
    Object.fromEntries([...files].map(([name, body]) => [name, { sha256: sha256(body), bytes: typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength }]));
  const exportedAt = new Date().toISOString();
  files.set(
    'model-card.md',
    modelCard({ facts, appVersion: opts.appVersion, tfjsVersion: tfjsVersion(), exportedAt, files: hashes(), parameters, onnx: { written: files.has('model.onnx'), note: onnxNote }, notes: opts.notes }),
  );

  step(3, 'Writing the files');
  const manifest: BundleManifest = {
    format: BUNDLE_FORMAT,
    version: BUNDLE_VERSION,
    createdAt: exportedAt,
    appVersion: opts.appVersion,
    project: facts.projectName,
    runId: facts.run.id,
    modelSha256: facts.modelSha256,
    files: hashes(),
  };
  // The manifest goes last: a bundle interrupted mid-write has none (or the old one) and fails its check.
  markExportIncomplete(dir, zipPath ? [zipPath] : []);
  for (const [name, body] of files) writeFileAtomic(join(dir, name), body);
  const manifestText = JSON.stringify(manifest, null, 2) + '\n';
  writeFileAtomic(join(dir, MANIFEST), manifestText);
  files.set(MANIFEST, manifestText);

  let zip: string | undefined;
  if (zipPath) {
    step(4, 'Writing the zip');
    const folder = basename(dir);
    writeFileAtomic(zipPath, buildZip([...files].map(([name, body]) => ({ name: `${folder}/${name}`, data: typeof body === 'string' ? Buffer.from(body) : body }))));
    zip = zipPath;
  }
  // Only now: a bundle killed while its zip was written is run again as a whole.
  markExportComplete(dir);
  opts.progress?.(5, 5, `Exported run ${facts.run.id} to ${dir}`);
  return {
    path: dir,
    files: Object.entries({ ...manifest.files, [MANIFEST]: { sha256: sha256(manifestText), bytes: Buffer.byteLength(manifestText) } }).map(([name, f]) => ({ name, ...f })),
    notes,
    zip,
  };
}
