/**
 * Train → Backbones → Import (issue 12): an ONNX file converted, checked against onnxruntime and stored as a
 * backbone of the project, as a job in a training process (the app stays responsive; Cancel stops it). The
 * failure message says what was wrong with the file; nothing is added then.
 */
import type { BackboneSummary, Job } from '../../shared/contract.ts';
import type { PreprocessPreset } from '../../shared/preprocess-presets.ts';
import { api } from './api.ts';
import { app } from './app-state.svelte.ts';
import { whenJobEnds } from './evaluation.svelte.ts';

export interface BackboneImportForm {
  path: string;
  name: string;
  preprocess: PreprocessPreset;
  /** Empty: the size fixed in the file. */
  imageSize: string;
}

/** The backbone name the file suggests: its name without .onnx, in the characters a backbone name may use. */
export function nameFromPath(path: string): string {
  const file = path.split(/[\\/]/).pop() ?? '';
  return file.replace(/\.onnx$/i, '').replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[.-]+/, '');
}

class BackboneImport {
  form = $state<BackboneImportForm | null>(null);
  jobId = $state<string | null>(null);
  error = $state<string | null>(null);
  imported = $state.raw<BackboneSummary | null>(null);

  job = $derived<Job | null>(this.jobId ? (app.jobs.find((j) => j.jobId === this.jobId) ?? null) : null);

  open(): void {
    this.form = { path: '', name: '', preprocess: 'imagenet', imageSize: '' };
    this.error = null;
    this.imported = null;
  }

  close(): void {
    if (this.jobId) return;
    this.form = null;
  }

  setPath(path: string): void {
    if (!this.form) return;
    const suggested = nameFromPath(this.form.path);
    // The name follows the file until the user types their own.
    if (!this.form.name || this.form.name === suggested) this.form.name = nameFromPath(path);
    this.form.path = path;
  }

  /** Runs the import; resolves with the backbone, or null (failed: `error` says why; canceled). */
  async start(): Promise<BackboneSummary | null> {
    const f = this.form;
    if (!f || this.jobId) return null;
    this.error = null;
    const size = f.imageSize.trim() ? Number(f.imageSize) : undefined;
    try {
      const { jobId } = await api['backbones:importStart']({
        path: f.path.trim(),
        name: f.name.trim() || undefined,
        preprocess: f.preprocess,
        ...(size !== undefined ? { imageSize: size } : {}),
      });
      this.jobId = jobId;
      const job = await whenJobEnds(jobId);
      if (job.state === 'succeeded') {
        this.imported = job.result as BackboneSummary;
        return this.imported;
      }
      if (job.state === 'failed') this.error = job.message;
      return null;
    } catch (e) {
      this.error = e instanceof Error ? e.message : String(e);
      return null;
    } finally {
      this.jobId = null;
    }
  }

  cancel(): void {
    if (this.jobId) void api['jobs:cancel']({ jobId: this.jobId });
  }
}

export const backboneImport = new BackboneImport();
