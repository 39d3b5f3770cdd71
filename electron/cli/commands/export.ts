/**
 * `loupe export`, `loupe export-dataset`, `loupe report`: through the contract, like the UI's buttons.
 * (`loupe predict` is in predict.ts: it needs no project and loads none of core's project machinery.)
 */
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { LoupeError, type ExportReport, type Job } from '../../../shared/contract.ts';
import { followJob, jobExitCode } from '../run-job.ts';
import { withProject } from '../with-core.ts';
import type { LoupeCore } from '../../core/api/loupe-core.ts';

function runIdOf(v: string | undefined, usage: string): number {
  const id = Number(v);
  if (!v || !Number.isInteger(id) || id < 1) throw new LoupeError('VALIDATION', usage.trim());
  return id;
}

function notesOf(values: { notes?: string; 'notes-file'?: string }): string | undefined {
  if (values['notes-file']) {
    try {
      return readFileSync(resolve(values['notes-file']), 'utf8');
    } catch (e) {
      throw new LoupeError('BAD_INPUT', `Cannot read --notes-file: ${(e as Error).message}`);
    }
  }
  return values.notes;
}

async function finish(core: LoupeCore, jobId: string, json: boolean, describe: (r: ExportReport) => string): Promise<number> {
  const job: Job = await followJob(core, jobId, false);
  if (job.state !== 'succeeded') {
    process.stderr.write(`loupe: ${job.kind} ${job.state}: ${job.message}\n`);
    return jobExitCode(job);
  }
  const r = job.result as ExportReport;
  process.stdout.write(json ? JSON.stringify(r, null, 2) + '\n' : describe(r));
  return 0;
}

export async function exportCommand(args: string[]): Promise<number> {
  const usage = `Usage: loupe export <project> --run ID --out DIR [--format tfjs,onnx] [--zip] [--force] [--notes TEXT | --notes-file F] [--json]
       loupe export <project> --dataset --out DIR [--run ID] [--link] [--force] [--json]
            [--format png|png16|tiff16|dicom] [--mapping FILE.csv] [--include-burned-in] [--remove-dates]
`;
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      run: { type: 'string' },
      out: { type: 'string' },
      format: { type: 'string' },
      zip: { type: 'boolean', default: false },
      force: { type: 'boolean', default: false },
      notes: { type: 'string' },
      'notes-file': { type: 'string' },
      json: { type: 'boolean', default: false },
      dataset: { type: 'boolean', default: false },
      // Copies are the default (--copy is accepted for old scripts); --link hard-links instead.
      copy: { type: 'boolean', default: false },
      link: { type: 'boolean', default: false },
      mapping: { type: 'string' },
      'include-burned-in': { type: 'boolean', default: false },
      'remove-dates': { type: 'boolean', default: false },
    },
  });
  const [projectDir] = positionals;
  if (!projectDir || !values.out) {
    process.stderr.write(usage);
    return 2;
  }
  if (values.dataset) return exportDataset(projectDir, values, usage);
  const runId = runIdOf(values.run, usage);
  const formats = values.format?.split(',').map((f) => f.trim().toLowerCase());
  if (formats?.some((f) => f !== 'tfjs' && f !== 'onnx')) throw new LoupeError('VALIDATION', `--format takes tfjs, onnx or tfjs,onnx; got "${values.format}"`);
  return withProject(projectDir, async (core) => {
    const { jobId } = await core.dispatch('export:model', {
      runId,
      outDir: resolve(values.out!),
      formats: formats as ('tfjs' | 'onnx')[] | undefined,
      zip: values.zip,
      force: values.force,
      notes: notesOf(values),
    });
    return finish(core, jobId, values.json, (r) =>
      [
        `Exported run ${runId} to ${r.path}`,
        ...r.files.map((f) => `  ${f.name.padEnd(20)} ${String(f.bytes).padStart(10)}  ${f.sha256}`),
        ...(r.zip ? [`Zip: ${r.zip}`] : []),
        ...r.notes.map((n) => `note: ${n}`),
        `Run it anywhere: loupe predict ${r.path} <images>`,
        '',
      ].join('\n'),
    );
  });
}

const DATASET_FORMATS = ['png', 'png16', 'tiff16', 'dicom'] as const;

interface DatasetArgs {
  out?: string;
  run?: string;
  link: boolean;
  copy: boolean;
  force: boolean;
  json: boolean;
  format?: string;
  mapping?: string;
  'include-burned-in': boolean;
  'remove-dates': boolean;
}

function datasetSummary(r: ExportReport, format: string | undefined): string {
  const how = format ? `as ${format}` : `${r.linked} hard-linked, ${(r.images ?? 0) - (r.linked ?? 0)} copied`;
  const lines = [`Exported ${r.images} images to ${r.path} (${how}); labels in ${resolve(r.path, 'labels.csv')}`];
  if (r.burnedInExcluded?.length) {
    lines.push(`Left out ${r.burnedInExcluded.length} DICOM image(s) with burned-in annotation (--include-burned-in exports them):`);
    lines.push(...r.burnedInExcluded.map((p) => `  ${p}`));
  }
  if (r.mapping) lines.push(`Mapping of exported to original names: ${r.mapping} (it holds the original names, which may identify patients: do not share it)`);
  return [...lines, ...r.notes.map((n) => `note: ${n}`), ''].join('\n');
}

async function exportDataset(projectDir: string, values: DatasetArgs, usage: string): Promise<number> {
  const runId = values.run === undefined ? undefined : runIdOf(values.run, usage);
  const format = values.format?.trim().toLowerCase();
  if (format !== undefined && !(DATASET_FORMATS as readonly string[]).includes(format)) {
    throw new LoupeError('VALIDATION', `--format takes ${DATASET_FORMATS.join(', ')} with --dataset; got "${values.format}"`);
  }
  return withProject(projectDir, async (core) => {
    const { jobId } = await core.dispatch('export:dataset', {
      outDir: resolve(values.out!),
      runId,
      mode: values.link && !values.copy ? 'link' : 'copy',
      force: values.force,
      format: format as (typeof DATASET_FORMATS)[number] | undefined,
      mappingPath: values.mapping === undefined ? undefined : resolve(values.mapping),
      includeBurnedIn: values['include-burned-in'],
      dicomDates: values['remove-dates'] ? 'remove' : 'shift',
    });
    return finish(core, jobId, values.json, (r) => datasetSummary(r, format));
  });
}

/** `loupe export-dataset …` is `loupe export --dataset …`: one parser, one behaviour. */
export async function exportDatasetCommand(args: string[]): Promise<number> {
  return exportCommand([...args, '--dataset']);
}

export async function reportCommand(args: string[]): Promise<number> {
  const usage = `Usage: loupe report <project> --run ID --out report.pdf [--evaluation ID] [--letter] [--thumbnails] [--file-names]
       loupe report <project> --evaluation ID --out report.pdf ...   (any evaluation, e.g. of an external model)
        [--notes TEXT | --notes-file F] [--prepared-by NAME] [--force] [--json]
`;
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      run: { type: 'string' },
      out: { type: 'string' },
      evaluation: { type: 'string' },
      letter: { type: 'boolean', default: false },
      // Thumbnails of mistakes and file names are off unless asked for (images may identify a patient).
      thumbnails: { type: 'boolean', default: false },
      'no-thumbnails': { type: 'boolean', default: false },
      'file-names': { type: 'boolean', default: false },
      notes: { type: 'string' },
      'notes-file': { type: 'string' },
      'prepared-by': { type: 'string' },
      author: { type: 'string' },
      force: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  const [projectDir] = positionals;
  if (!projectDir || !values.out) {
    process.stderr.write(usage);
    return 2;
  }
  const evaluationId = values.evaluation === undefined ? undefined : runIdOf(values.evaluation, usage);
  const runId = values.run === undefined && evaluationId !== undefined ? undefined : runIdOf(values.run, usage);
  return withProject(projectDir, async (core) => {
    const { jobId } = await core.dispatch('report:create', {
      runId,
      outPath: resolve(values.out!),
      evaluationId,
      pageSize: values.letter ? 'Letter' : 'A4',
      thumbnails: values.thumbnails && !values['no-thumbnails'],
      fileNames: values['file-names'],
      notes: notesOf(values) ?? '',
      author: values['prepared-by'] ?? values.author,
      force: values.force,
    });
    return finish(core, jobId, values.json, (r) => `Wrote ${r.path} (${r.pages} pages)\n`);
  });
}
