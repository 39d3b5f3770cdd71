/**
 * The Evaluate workspace's state: which run and split, its stored evaluations, the one on screen, the jobs that
 * make new ones (evaluate, predict unlabeled), the label-error review queue, and the jumps from the metrics to
 * the images behind them (a confusion-matrix cell, a gallery, the model's suggestions) in the Images workspace.
 */
import type {
  CrossValidation,
  EvaluationDetail,
  EvaluationSummary,
  ImageFilter,
  ImageSummary,
  Job,
  LabelErrorCandidate,
  SortKey,
} from '../../shared/contract.ts';
import type { RunInfo } from '../../shared/training.ts';
import { api, invoke, onEvent } from './api.ts';
import { app } from './app-state.svelte.ts';
import type { View } from './view-filter.ts';
import { workspace } from './workspace.svelte.ts';

export type EvalSplit = 'val' | 'test';
export type Gallery = 'misclassified' | 'top-losses' | 'least-confident';

export const galleryQuery: Record<Gallery, { title: string; filter: (id: number) => NonNullable<ImageFilter['evaluation']>; sort: SortKey }> = {
  misclassified: { title: 'Misclassified', filter: (id) => ({ id, misclassified: true }), sort: 'name' },
  // The lowest probability given to the true class first: the model's most confident mistakes.
  'top-losses': { title: 'Top losses', filter: (id) => ({ id, misclassified: true }), sort: 'loss' },
  'least-confident': { title: 'Least confident', filter: (id) => ({ id }), sort: 'uncertainty' },
};

/** Resolves when a job ends (succeeded, failed, canceled), from the job events or the job list. */
export function whenJobEnds(jobId: string): Promise<Job> {
  return new Promise((resolve) => {
    const done = (j: Job | undefined): boolean => {
      if (!j || j.jobId !== jobId || j.state === 'running') return false;
      off();
      clearInterval(poll);
      resolve(j);
      return true;
    };
    const off = onEvent((event, payload) => {
      if (event === 'job:progress') done(payload as Job);
    });
    // Events can be missed across a reconnect: the job list is the fallback.
    const poll = setInterval(() => {
      void api['jobs:list']({}).then((jobs) => done(jobs.find((j) => j.jobId === jobId)), () => {});
    }, 3000);
    done(app.jobs.find((j) => j.jobId === jobId));
  });
}

export class EvaluationState {
  runs = $state<RunInfo[]>([]);
  runId = $state<number | null>(null);
  split = $state<EvalSplit>('val');
  evaluations = $state<EvaluationSummary[]>([]);
  /** Evaluations of model files from elsewhere (issue 12): in no run's list, refreshed with it. */
  externals = $state<EvaluationSummary[]>([]);
  current = $state.raw<EvaluationDetail | null>(null);
  normalized = $state(false);
  evaluating = $state(false);
  predicting = $state(false);
  labelErrors = $state.raw<{ candidates: LabelErrorCandidate[]; outOfFold: boolean } | null>(null);
  /** Candidates already handled in this session (accepted, kept or excluded). */
  handled = $state<number[]>([]);
  /** The k-fold cross-validation the chosen run belongs to (null for a run trained on its own). */
  cv = $state.raw<CrossValidation | null>(null);
  evaluatingFolds = $state(false);

  private started = false;
  /** Bumped by each show(): answers to earlier ones are dropped. */
  private showing = 0;
  /** The run asked for ("Evaluate →" on a run), picked up by whichever open() call gets there first. */
  private wanted: number | null = null;
  private reloadTimer: ReturnType<typeof setTimeout> | null = null;

  /** Runs with a model to evaluate (a best checkpoint exists). */
  usableRuns = $derived(this.runs.filter((r) => r.bestEpoch !== null && r.preprocessing !== null));
  run = $derived(this.runs.find((r) => r.id === this.runId) ?? null);
  /** The latest stored prediction of the unlabeled images for this run (model-assisted labeling). */
  suggestions = $derived(this.evaluations.find((e) => e.split === 'unlabeled') ?? null);
  queue = $derived(this.labelErrors?.candidates.filter((c) => !this.handled.includes(c.imageId)) ?? []);

  async open(runId?: number): Promise<void> {
    if (!this.started) {
      this.started = true;
      onEvent((event, payload) => {
        if (event !== 'project:changed') return;
        const reason = (payload as { reason: string }).reason;
        if (reason === 'opened' || reason === 'closed') {
          this.runId = null;
          this.current = null;
          this.evaluations = [];
          this.externals = [];
          this.labelErrors = null;
          this.cv = null;
        }
        // Relabeling makes evaluations stale; new runs and evaluations appear.
        if (reason === 'labels' || reason === 'evaluations' || reason === 'runs' || reason === 'opened') this.scheduleReload();
      });
    }
    if (runId !== undefined) this.wanted = runId;
    await app.run(async () => {
      this.runs = await api['runs:list']({});
    });
    const pick = this.wanted ?? this.runId ?? this.usableRuns[0]?.id ?? null;
    this.wanted = null;
    // reload() lists the model-file evaluations too; the other paths list them here, so each entry lists them once.
    if (pick !== null && pick === this.runId) return this.reload();
    if (pick !== null) await this.selectRun(pick);
    await this.reloadExternals();
  }

  private scheduleReload(): void {
    if (this.reloadTimer) return;
    this.reloadTimer = setTimeout(() => {
      this.reloadTimer = null;
      void this.reload();
    }, 300);
  }

  /** Refreshes the list and the evaluation on screen (its stale count) without changing what is shown. */
  async reload(): Promise<void> {
    try {
      this.runs = await api['runs:list']({});
      if (this.runId !== null) {
        this.evaluations = await api['evaluations:list']({ runId: this.runId });
        await this.loadCrossValidation(this.runId);
      }
      await this.reloadExternals();
      if (this.current) {
        // An external model's evaluation is in no run's list (and may be on screen with no run at all).
        const list = this.current.external ? this.externals : this.evaluations;
        const s = list.find((e) => e.id === this.current!.id);
        if (s && s.stale !== this.current.stale) this.current = { ...this.current, stale: s.stale };
      }
    } catch {
      // The project closed meanwhile.
    }
  }

  async reloadExternals(): Promise<void> {
    try {
      this.externals = await api['evaluations:listExternal']({});
    } catch {
      // No project (closed meanwhile).
    }
  }

  async selectRun(runId: number): Promise<void> {
    this.runId = runId;
    this.current = null;
    this.labelErrors = null;
    this.handled = [];
    this.cv = null;
    await app.run(async () => {
      const evaluations = await api['evaluations:list']({ runId });
      // Another run was chosen meanwhile: its own call shows its list.
      if (this.runId !== runId) return;
      this.evaluations = evaluations;
      await this.loadCrossValidation(runId);
      const latest = this.evaluations.find((e) => e.split === this.split) ?? this.evaluations.find((e) => e.split !== 'unlabeled');
      if (latest) {
        this.split = latest.split as EvalSplit;
        await this.show(latest.id);
      }
    });
  }

  async setSplit(split: EvalSplit): Promise<void> {
    this.split = split;
    const latest = this.evaluations.find((e) => e.split === split);
    if (latest) await this.show(latest.id);
    else this.current = null;
  }

  async show(evaluationId: number): Promise<void> {
    const mine = ++this.showing;
    await app.run(async () => {
      const evaluation = await api['evaluations:get']({ evaluationId });
      // Only the evaluation asked for last is shown, whichever answer comes back first.
      if (mine !== this.showing) return;
      this.current = evaluation;
      if (evaluation.split !== 'unlabeled') this.split = evaluation.split;
    });
  }

  async evaluate(): Promise<void> {
    if (this.runId === null || this.evaluating) return;
    this.evaluating = true;
    try {
      await app.run(async () => {
        const { jobId } = await api['evaluations:run']({ runId: this.runId!, split: this.split });
        const job = await whenJobEnds(jobId);
        if (job.state === 'failed') throw new Error(`Evaluation failed: ${job.message}`);
        const result = job.result && 'evaluationId' in job.result ? job.result : null;
        await this.reload();
        if (result) await this.show(result.evaluationId);
      });
    } finally {
      this.evaluating = false;
    }
  }

  private async loadCrossValidation(runId: number): Promise<void> {
    const run = this.runs.find((r) => r.id === runId);
    const cv = run?.cvGroup ? await api['evaluations:crossValidation']({ runId }) : null;
    if (this.runId === runId) this.cv = cv;
  }

  /** Evaluates every fold run not yet judged on its held-out images, one after the other, then pools them. */
  async evaluateFolds(): Promise<void> {
    const cv = this.cv;
    if (!cv || this.evaluatingFolds) return;
    this.evaluatingFolds = true;
    try {
      await app.run(async () => {
        for (const f of cv.folds.filter((x) => x.evaluationId === null)) {
          const { jobId } = await api['evaluations:run']({ runId: f.runId, split: 'val' });
          const job = await whenJobEnds(jobId);
          if (job.state === 'failed') throw new Error(`Evaluating fold ${(f.fold ?? 0) + 1} failed: ${job.message}`);
          if (job.state === 'canceled') break;
        }
        await this.reload();
        // The chosen fold's own evaluation was among them: show it below the cross-validation.
        const own = this.evaluations.find((e) => e.split === this.split);
        if (!this.current && own) await this.show(own.id);
      });
    } finally {
      this.evaluatingFolds = false;
    }
  }

  /** Runs the model on the unlabeled images, then opens them sorted by uncertainty with its suggestions. */
  async predictUnlabeled(): Promise<void> {
    if (this.runId === null || this.predicting) return;
    this.predicting = true;
    try {
      await app.run(async () => {
        const { jobId } = await api['evaluations:predictUnlabeled']({ runId: this.runId! });
        const job = await whenJobEnds(jobId);
        if (job.state === 'failed') throw new Error(`Prediction failed: ${job.message}`);
        await this.reload();
      });
    } finally {
      this.predicting = false;
    }
  }

  async loadLabelErrors(): Promise<void> {
    if (this.runId === null) return;
    await app.run(async () => {
      this.labelErrors = await api['evaluations:labelErrors']({ runId: this.runId!, limit: 200 });
      this.handled = [];
    });
  }

  /** Accept: relabel to the suggested class. Keep: the label is right. Exclude: leave the image out of training. */
  async review(c: LabelErrorCandidate, action: 'accept' | 'keep' | 'exclude'): Promise<void> {
    const ok = await app.run(async () => {
      if (action === 'accept') {
        const cls = app.classes.find((x) => x.name === c.suggested);
        if (!cls) throw new Error(`The class "${c.suggested}" no longer exists`);
        await api['labels:set']({ imageIds: [c.imageId], classId: cls.id });
      } else if (action === 'exclude') {
        await api['images:setFlags']({ imageIds: [c.imageId], excluded: true });
      }
    });
    if (ok) this.handled = [...this.handled, c.imageId];
  }

  // ---------- from the numbers to the images ----------

  private showImages(filter: NonNullable<ImageFilter['evaluation']>, title: string, sort: SortKey = 'name', suggestions = false): void {
    const classes = this.current?.classes ?? this.run?.classes;
    if (!classes) return;
    app.showEvaluation({ kind: 'evaluation', evaluation: filter, title, classes, suggestions }, sort, false);
    workspace.go('images');
  }

  /** `pooled`: a cell of the cross-validation's pooled matrix, whose images are spread over the fold evaluations. */
  private cellView(label: number, predicted: number, pooled: boolean): Extract<View, { kind: 'evaluation' }> | null {
    if (pooled) {
      const p = this.cv?.pooled;
      if (!p) return null;
      const [id, ...pool] = p.evaluationIds;
      const title = `Out of fold: true ${p.classes[label]} → predicted ${p.classes[predicted]}`;
      return { kind: 'evaluation', evaluation: { id: id!, pool, label, predicted }, title, classes: p.classes };
    }
    const ev = this.current;
    if (!ev) return null;
    const title = `True ${ev.classes[label]} → predicted ${ev.classes[predicted]}`;
    return { kind: 'evaluation', evaluation: { id: ev.id, label, predicted }, title, classes: ev.classes };
  }

  /** A confusion-matrix cell: the images of true class `label` that the model called `predicted`. */
  openCell(label: number, predicted: number, pooled = false): void {
    const view = this.cellView(label, predicted, pooled);
    if (!view) return;
    performance.mark('loupe:cell-click');
    app.showEvaluation(view);
    workspace.go('images');
  }

  /** The pointer is on a cell (or a key moved to it): its images are likely next, ask for them now. */
  prefetchCell(label: number, predicted: number, pooled = false): void {
    const view = this.cellView(label, predicted, pooled);
    if (view) app.prefetchEvaluation(view);
  }

  openGallery(g: Gallery): void {
    if (!this.current) return;
    const q = galleryQuery[g];
    this.showImages(q.filter(this.current.id), `${q.title} (${this.current.split === 'test' ? 'test' : 'validation'})`, q.sort);
  }

  /** The unlabeled images with the model's suggestion, the most uncertain first (the most useful to label). */
  openSuggestions(): void {
    const s = this.suggestions;
    if (!s) return;
    this.showImages({ id: s.id }, 'Model suggestions for unlabeled images', 'uncertainty', true);
  }

  /** A few images of a gallery for the preview strips. */
  async galleryItems(g: Gallery, limit = 12): Promise<ImageSummary[]> {
    if (!this.current) return [];
    const q = galleryQuery[g];
    const page = await invoke('images:query', { filter: { evaluation: q.filter(this.current.id) }, sort: q.sort, limit });
    return page.items;
  }
}

export const evaluation = new EvaluationState();
