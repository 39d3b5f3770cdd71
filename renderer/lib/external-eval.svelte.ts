/**
 * Evaluate → Evaluate a model file (issue 12): a finished classifier from elsewhere (an ONNX file) run on the
 * project's labeled images of a split, in a training process, as a job. Its evaluation is shown like a run's:
 * every metric, the clickable matrix and the galleries, marked with the file's name and SHA-256.
 */
import type { Job } from '../../shared/contract.ts';
import type { PreprocessPreset } from '../../shared/preprocess-presets.ts';
import { api } from './api.ts';
import { app } from './app-state.svelte.ts';
import { evaluation, whenJobEnds, type EvalSplit } from './evaluation.svelte.ts';

export interface ExternalEvalForm {
  path: string;
  /** The model's class names in output order: one a line, or separated by commas. */
  classes: string;
  split: EvalSplit;
  preprocess: PreprocessPreset;
  imageSize: string;
}

export function parseClassNames(text: string): string[] {
  return text
    .split(/[\n,]/)
    .map((c) => c.trim())
    .filter(Boolean);
}

class ExternalEvaluation {
  form = $state<ExternalEvalForm | null>(null);
  jobId = $state<string | null>(null);
  error = $state<string | null>(null);
  /** Why the last Re-evaluate failed, for the stale banner. */
  reevaluateError = $state<string | null>(null);

  job = $derived<Job | null>(this.jobId ? (app.jobs.find((j) => j.jobId === this.jobId) ?? null) : null);

  async open(): Promise<void> {
    this.form ??= { path: '', classes: '', split: 'test', preprocess: 'imagenet', imageSize: '' };
    this.error = null;
    await evaluation.reloadExternals();
  }

  close(): void {
    if (!this.jobId) this.form = null;
  }

  async start(): Promise<void> {
    const f = this.form;
    if (!f || this.jobId) return;
    this.error = null;
    const size = f.imageSize.trim() ? Number(f.imageSize) : undefined;
    try {
      const { jobId } = await api['evaluations:external']({
        path: f.path.trim(),
        // None for a Loupe bundle folder, which names its classes itself.
        ...(parseClassNames(f.classes).length ? { classes: parseClassNames(f.classes) } : {}),
        split: f.split,
        preprocess: f.preprocess,
        ...(size !== undefined ? { imageSize: size } : {}),
      });
      if (await this.follow(jobId, (m) => (this.error = m))) this.form = null;
    } catch (e) {
      this.error = e instanceof Error ? e.message : String(e);
    } finally {
      this.jobId = null;
    }
  }

  /**
   * Re-evaluate: a stale evaluation's model file again, on the split's images as labeled now. The new evaluation
   * is shown; why it could not be done (the file gone or changed) stays on the stale banner.
   */
  async reevaluate(evaluationId: number): Promise<void> {
    if (this.jobId) return;
    this.reevaluateError = null;
    try {
      const { jobId } = await api['evaluations:reevaluateExternal']({ evaluationId });
      await this.follow(jobId, (m) => (this.reevaluateError = m));
    } catch (e) {
      this.reevaluateError = e instanceof Error ? e.message : String(e);
    } finally {
      this.jobId = null;
    }
  }

  /** Waits for an evaluation job; shows its evaluation when stored (true), or hands on why it failed. */
  private async follow(jobId: string, failed: (message: string) => void): Promise<boolean> {
    this.jobId = jobId;
    const job = await whenJobEnds(jobId);
    if (job.state === 'failed') failed(job.message);
    if (job.state !== 'succeeded' || !job.result || !('evaluationId' in job.result)) return false;
    await evaluation.reloadExternals();
    await evaluation.show(job.result.evaluationId);
    return true;
  }

  cancel(): void {
    if (this.jobId) void api['jobs:cancel']({ jobId: this.jobId });
  }
}

export const externalEvaluation = new ExternalEvaluation();
