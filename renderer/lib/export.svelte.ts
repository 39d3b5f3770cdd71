/**
 * The Export dialog's state: what to export (the model bundle, the PDF report, the dataset), where, and the job
 * that writes it. The files are written by the process that runs Loupe: in the browser host that is the host
 * machine's disk, which the dialog says.
 */
import type { ExportReport, Job } from '../../shared/contract.ts';
import { LoupeError } from '../../shared/errors.ts';
import { api } from './api.ts';
import { app } from './app-state.svelte.ts';
import { whenJobEnds } from './evaluation.svelte.ts';
import { joinPath } from './format.ts';

export type ExportKind = 'model' | 'report' | 'dataset';

export interface ExportForm {
  kind: ExportKind;
  /** Null for the report of an external model's evaluation (issue 12): no run, that one evaluation only. */
  runId: number | null;
  /** The external model's file name, when runId is null. */
  externalModel: string | null;
  outDir: string;
  tfjs: boolean;
  onnx: boolean;
  zip: boolean;
  force: boolean;
  notes: string;
  /** Report: file name inside outDir. */
  fileName: string;
  pageSize: 'A4' | 'Letter';
  thumbnails: boolean;
  fileNames: boolean;
  author: string;
  evaluationId: number | null;
  datasetMode: 'link' | 'copy';
  datasetSnapshot: boolean;
  /** 'as-is': files copied or linked (DICOM as png); otherwise every image converted (issue 11). */
  datasetFormat: 'as-is' | 'png' | 'png16' | 'tiff16' | 'dicom';
  /** Write the exported → original names CSV next to the export folder. */
  datasetMapping: boolean;
  includeBurnedIn: boolean;
  /** dicom: empty the dates instead of moving them back by the patient's shift (the default keeps intervals). */
  removeDates: boolean;
}

/** The mapping file sits next to the export folder, never inside what is shared. */
export function mappingPathFor(outDir: string): string {
  return `${outDir.replace(/[\\/]+$/, '')}-mapping.csv`;
}

/**
 * What an export writes about the project, and what it leaves out, in the dialog's words (issue 14: the user
 * sees what a shared artifact carries before it is written).
 */
export function exportContents(f: ExportForm): { included: string[]; excluded: string[] } {
  const never = 'absolute paths or your user name';
  if (f.kind === 'model') {
    return {
      included: ['the trained model', 'class names', 'preprocessing', 'a model card with image counts and metrics', 'checksums', ...(f.notes.trim() ? ['your notes'] : [])],
      excluded: ['images', 'file names', never],
    };
  }
  if (f.kind === 'report') {
    return {
      included: [
        'class names, image counts and metrics',
        ...(f.thumbnails ? ['thumbnails of up to 24 misclassified images'] : []),
        ...(f.fileNames ? ['the file names of those images (relative to their import folder)'] : []),
        ...(f.author.trim() ? [`"Prepared by: ${f.author.trim()}"`] : []),
        ...(f.notes.trim() ? ['your notes'] : []),
      ],
      excluded: [...(f.thumbnails ? [] : ['images']), ...(f.fileNames ? [] : ['file names']), ...(f.author.trim() ? [] : ['a "prepared by" name']), never],
    };
  }
  const images =
    f.datasetFormat === 'as-is'
      ? `copies of the images${f.datasetMode === 'link' ? ' (hard links: the same files as the originals)' : ''} (DICOM as 8-bit PNG)`
      : f.datasetFormat === 'dicom'
        ? `de-identified DICOM files, one per frame, ${f.removeDates ? 'without dates' : 'dates moved back by each patient’s own shift so intervals stay'} (other images copied)`
        : `the images as ${f.datasetFormat === 'png' ? '8-bit PNG, as training sees them' : `16-bit ${f.datasetFormat === 'png16' ? 'PNG' : 'TIFF'} (DICOM: modality values plus an offset)`}`;
  return {
    included: [
      images,
      'class names',
      'a labels CSV with file paths relative to their import folder (DICOM images by pseudonym only)',
      ...(f.includeBurnedIn ? ['DICOM images marked as having burned-in annotation'] : []),
    ],
    excluded: [f.datasetFormat === 'dicom' ? 'patient names, IDs, birth dates and the real dates of DICOM headers' : 'patient names, IDs and dates of DICOM headers', ...(f.includeBurnedIn ? [] : ['DICOM images with burned-in annotation']), never],
  };
}

class ExportState {
  form = $state<ExportForm | null>(null);
  jobId = $state<string | null>(null);
  running = $state(false);
  result = $state.raw<ExportReport | null>(null);
  error = $state<string | null>(null);
  /** The folder is not empty: the user may confirm writing into it. */
  needsForce = $state(false);

  job = $derived(this.jobId ? (app.jobs.find((j) => j.jobId === this.jobId) ?? null) : null);

  /** The PDF report of an external model's evaluation. */
  openExternalReport(evaluationId: number, fileName: string): void {
    this.open('report', null);
    this.form!.evaluationId = evaluationId;
    this.form!.externalModel = fileName;
    this.form!.fileName = `loupe-report-${fileName.replace(/\.onnx$/i, '').replace(/[^A-Za-z0-9._-]+/g, '-')}.pdf`;
  }

  open(kind: ExportKind, runId: number | null): void {
    const home = app.info?.homeDir ?? '/';
    const stamp = new Date().toISOString().slice(0, 10);
    this.form = {
      kind,
      runId,
      externalModel: null,
      outDir: joinPath(home, kind === 'dataset' ? `loupe-dataset-${stamp}` : kind === 'model' ? `loupe-model-run${runId}` : ''),
      tfjs: true,
      onnx: true,
      zip: false,
      force: false,
      notes: '',
      fileName: `loupe-report-run${runId}.pdf`,
      pageSize: 'A4',
      // Off unless asked for: Loupe treats every project as possibly holding medical images (issue 14).
      thumbnails: false,
      fileNames: false,
      author: '',
      evaluationId: null,
      datasetMode: 'copy',
      datasetSnapshot: true,
      datasetFormat: 'as-is',
      datasetMapping: false,
      includeBurnedIn: false,
      removeDates: false,
    };
    if (kind === 'report') this.form.outDir = home;
    this.jobId = null;
    this.result = null;
    this.error = null;
    this.needsForce = false;
  }

  close(): void {
    if (this.running) return;
    this.form = null;
  }

  /** Where the file or folder goes, as the dialog shows it. */
  target = $derived.by(() => {
    const f = this.form;
    if (!f) return '';
    return f.kind === 'report' ? joinPath(f.outDir, f.fileName || 'report.pdf') : f.outDir;
  });

  async start(): Promise<void> {
    const f = this.form;
    if (!f || this.running) return;
    this.running = true;
    this.error = null;
    this.result = null;
    try {
      const { jobId } = await this.request(f);
      this.jobId = jobId;
      const job: Job = await whenJobEnds(jobId);
      if (job.state === 'succeeded') {
        this.result = job.result && 'files' in job.result ? job.result : null;
        this.needsForce = false;
      } else this.error = job.state === 'canceled' ? 'Canceled' : job.message;
    } catch (e) {
      const err = e instanceof LoupeError ? e : null;
      this.error = e instanceof Error ? e.message : String(e);
      // A folder that is not empty is refused unless the user says so.
      if (err?.code === 'CONFLICT' || /not empty|exists/i.test(this.error)) this.needsForce = true;
    } finally {
      this.running = false;
    }
  }

  private request(f: ExportForm): Promise<{ jobId: string }> {
    if (f.kind === 'model') {
      const formats = [...(f.tfjs ? (['tfjs'] as const) : []), ...(f.onnx ? (['onnx'] as const) : [])];
      return api['export:model']({
        runId: f.runId!,
        outDir: f.outDir,
        formats: formats.length ? formats : ['tfjs'],
        zip: f.zip,
        force: f.force,
        ...(f.notes.trim() ? { notes: f.notes } : {}),
      });
    }
    if (f.kind === 'report') {
      return api['report:create']({
        ...(f.runId !== null ? { runId: f.runId } : {}),
        outPath: joinPath(f.outDir, f.fileName.endsWith('.pdf') ? f.fileName : `${f.fileName}.pdf`),
        pageSize: f.pageSize,
        thumbnails: f.thumbnails,
        fileNames: f.fileNames,
        notes: f.notes,
        force: f.force,
        ...(f.author.trim() ? { author: f.author.trim() } : {}),
        ...(f.evaluationId !== null ? { evaluationId: f.evaluationId } : {}),
      });
    }
    return api['export:dataset']({
      outDir: f.outDir,
      mode: f.datasetMode,
      force: f.force,
      includeBurnedIn: f.includeBurnedIn,
      ...(f.datasetFormat !== 'as-is' ? { format: f.datasetFormat } : {}),
      ...(f.datasetFormat === 'dicom' && f.removeDates ? { dicomDates: 'remove' as const } : {}),
      ...(f.datasetMapping ? { mappingPath: mappingPathFor(f.outDir) } : {}),
      ...(f.datasetSnapshot && f.runId !== null ? { runId: f.runId } : {}),
    });
  }
}

export const exporter = new ExportState();
