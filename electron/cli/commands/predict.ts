/**
 * `loupe predict <bundle> <folder-or-files>...`: a model bundle on image files, with nothing but the bundle (no
 * project, no database). Its own process, so it loads TensorFlow.js itself (the backend chain of training).
 * Checksums are verified before anything else: a bundle edited by hand never reaches TensorFlow.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { LoupeError, type Job } from '../../../shared/contract.ts';
import { csvLine } from '../../../shared/csv.ts';
import { verifyBundle } from '../../core/export/bundle-format.ts';
import { writeFileAtomic, prepareOutFile } from '../../core/export/out-dir.ts';
import { progressPrinter } from '../progress.ts';
import { pseudonym } from '../../core/project/pseudonyms.ts';

export async function predictCommand(args: string[]): Promise<number> {
  const usage = 'Usage: loupe predict <bundle> <folder-or-files>... [--out preds.csv] [--frames middle|all] [--mapping FILE.csv] [--json] [--full-paths]\n';
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { out: { type: 'string' }, json: { type: 'boolean', default: false }, 'full-paths': { type: 'boolean', default: false }, frames: { type: 'string', default: 'middle' }, mapping: { type: 'string' } },
  });
  const [bundleDir, ...inputs] = positionals;
  const frames = values.frames;
  if (!bundleDir || inputs.length === 0 || (frames !== 'middle' && frames !== 'all')) {
    process.stderr.write(usage);
    return 2;
  }
  // Checksums first: a bundle edited by hand never reaches TensorFlow.
  const bundle = verifyBundle(bundleDir);
  const out = values.out ? prepareOutFile(values.out, true) : null;
  const mappingOut = values.mapping ? prepareOutFile(values.mapping, true) : null;
  const { collectInputs, loadBundleModel, predictFiles } = await import('../../core/export/bundle-predict.ts');
  const { files, problems, names } = await collectInputs(inputs);
  if (files.length === 0 && problems.length === 0) throw new LoupeError('BAD_INPUT', `No image files found in ${inputs.join(', ')}`);
  const { selectBackend } = await import('../../core/training/backend.ts');
  const backend = await selectBackend();
  const model = await loadBundleModel(bundle);
  const k = bundle.labels.length;
  const lines = [csvLine(['path', 'predicted', 'confidence', ...bundle.labels.map((l) => `p_${l}`), 'error', 'note'])];
  const json: object[] = [];
  // DICOM file and folder names often hold the patient's name: rows name such files by a pseudonym, stable within
  // this output (a secret of this run only), and --mapping says which file each is (issue 11).
  const secret = randomBytes(32).toString('hex');
  const mapping = [csvLine(['pseudonym', 'path'])];
  let pseudonyms = 0;
  const rowOut = (row: import('../../core/export/bundle-predict.ts').PredictionRow) => {
    // Predictions are shared: paths as the folder or file given names them, absolute only when asked (issue 14).
    // A frame of a multi-frame DICOM file is `file#N`, as the importer names it.
    const frame = row.frame === null ? '' : `#${row.frame}`;
    const given = values['full-paths'] ? row.path : (names.get(row.path) ?? row.path);
    let shown = given + frame;
    if (row.dicom && !values['full-paths']) {
      shown = pseudonym(secret, 'img', row.path) + frame;
      mapping.push(csvLine([shown, given + frame]));
      pseudonyms++;
    }
    const { dicom: _dicom, ...rest } = row;
    const r = { ...rest, path: shown };
    lines.push(csvLine([r.path, r.predicted, r.confidence?.toFixed(6) ?? '', ...(r.probabilities ?? new Array<number | null>(k).fill(null)).map((p) => (p === null ? '' : p.toFixed(6))), r.error ?? '', r.note ?? '']));
    if (values.json && !out) json.push(r);
  };
  problems.forEach(rowOut);
  const printer = progressPrinter({ json: false, out: process.stdout, err: process.stderr });
  const started = Date.now();
  const job = (done: number, total: number): Job => {
    const rate = done / Math.max((Date.now() - started) / 1000, 1e-3);
    return { jobId: 'predict', kind: 'predict', state: 'running', done, total, rate, etaSeconds: rate > 0 ? Math.round((total - done) / rate) : null, message: 'Predicting', startedAt: new Date(started).toISOString(), endedAt: null };
  };
  const summary = await predictFiles(bundle, model, files, { onRow: rowOut, progress: (done, total) => printer.update(job(done, total)), frames });
  printer.end(job(summary.images, summary.images));
  model.dispose();
  const failedTotal = summary.failed + problems.length;
  const csv = lines.join('\n') + '\n';
  if (out) writeFileAtomic(out, csv);
  if (mappingOut) writeFileAtomic(mappingOut, mapping.join('\n') + '\n');
  const result = { bundle: bundle.dir, backend: backend.chosen.name, ...summary, failed: failedTotal, out };
  if (values.json) process.stdout.write(JSON.stringify(out ? result : { ...result, predictions: json }) + '\n');
  else if (!out) process.stdout.write(csv);
  if (!values.json) {
    process.stderr.write(
      `Predicted ${summary.predicted} of ${summary.images + problems.length} images in ${summary.seconds.toFixed(1)} s (${summary.imagesPerSecond.toFixed(0)} images/s, ${summary.engine || backend.chosen.name})` +
        (out ? `; wrote ${out}` : '') +
        '\n',
    );
    if (pseudonyms) {
      process.stderr.write(
        mappingOut
          ? `${pseudonyms} DICOM row${pseudonyms > 1 ? 's are' : ' is'} named by pseudonym; ${mappingOut} says which file each is: it holds the original names, keep it on this workstation\n`
          : `${pseudonyms} DICOM row${pseudonyms > 1 ? 's are' : ' is'} named by pseudonym (file names may hold patient names); --mapping FILE.csv writes which file each is, --full-paths names them by path\n`,
      );
    }
    for (const note of summary.notes) process.stderr.write(`${note}\n`);
    if (failedTotal) process.stderr.write(`${failedTotal} file${failedTotal > 1 ? 's' : ''} could not be used; their rows say why\n`);
    if (summary.converted) process.stderr.write(`${summary.converted} image${summary.converted > 1 ? 's' : ''} had another channel count and ${summary.converted > 1 ? 'were' : 'was'} converted (see the note column)\n`);
  }
  return failedTotal > 0 && summary.predicted === 0 ? 1 : 0;
}
