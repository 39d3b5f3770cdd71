/**
 * The Train workspace's state: the suggested config and the one being edited, presets, backbones, the backend
 * report, the runs list, and the live curves of the runs on screen. Curves are kept outside $state (plain
 * arrays, bumped by a version counter): batch events arrive up to 10 times a second and chart.js wants plain
 * objects anyway.
 */
import type { BackboneSummary, Response } from '../../shared/contract.ts';
import type { BatchMetrics, EpochMetrics, RunInfo, TrainConfig } from '../../shared/training.ts';
import type { BackendReport, TrainingEvent } from '../../shared/worker-protocol.ts';
import { api, onEvent } from './api.ts';
import { app } from './app-state.svelte.ts';

export interface RunCurves {
  epochs: EpochMetrics[];
  batches: BatchMetrics[];
  /** The training process's last status line ("Preparing images", "Training on wasm", …). */
  status: string;
  prepare: { done: number; total: number } | null;
  ended: { status: string; message: string } | null;
}

export interface Preset {
  name: string;
  config: TrainConfig;
  savedAt: string;
}

/** A batch's place on the epoch axis: epoch e's batches lie in (e, e + 1], its epoch point at e + 1. */
export const batchX = (b: BatchMetrics): number => b.epoch + b.batch / Math.max(1, b.batches);

export const isActive = (r: RunInfo): boolean => r.status === 'running' || r.status === 'queued';

export class TrainingState {
  runs = $state<RunInfo[]>([]);
  suggestion = $state<Response<'training:suggest'> | null>(null);
  /** The config the Train button uses: the suggestion until the user edits it in the advanced panel. */
  draft = $state<TrainConfig | null>(null);
  /** The project has DICOM images: the settings offer their windowing. */
  hasDicom = $state(false);
  runName = $state('');
  presets = $state<Preset[]>([]);
  backbones = $state<BackboneSummary[]>([]);
  doctor = $state<BackendReport | null>(null);
  doctorError = $state<string | null>(null);
  selectedRunId = $state<number | null>(null);
  compareRunId = $state<number | null>(null);
  starting = $state(false);
  /** Bumped whenever any curve changes; the charts derive from it. */
  curvesVersion = $state(0);

  private readonly curves = new Map<number, RunCurves>();
  private started = false;
  private reloadTimer: ReturnType<typeof setTimeout> | null = null;

  selectedRun = $derived(this.runs.find((r) => r.id === this.selectedRunId) ?? null);
  compareRun = $derived(this.runs.find((r) => r.id === this.compareRunId) ?? null);
  /** The draft differs from the suggestion (the panel says so, and offers to go back). */
  edited = $derived(
    this.draft !== null && this.suggestion !== null && JSON.stringify(this.draft) !== JSON.stringify(this.suggestion.config),
  );

  /** Loads what the workspace shows; called each time it opens (cheap), events keep it current afterwards. */
  async open(): Promise<void> {
    if (!this.started) {
      this.started = true;
      onEvent((event, payload) => {
        if (event === 'training:event') this.onTrainingEvent(payload as TrainingEvent);
        else if (event === 'project:changed') {
          const reason = (payload as { reason: string }).reason;
          if (reason === 'opened' || reason === 'closed') this.forgetProject();
          if (reason === 'runs' || reason === 'opened' || reason === 'labels' || reason === 'splits') this.scheduleReload();
        }
      });
    }
    await app.run(async () => {
      const [runs, suggestion, presets, backbones, dicom] = await Promise.all([
        api['runs:list']({}),
        api['training:suggest']({}),
        api['presets:list']({}),
        api['backbones:list']({}),
        api['dicom:facets']({}),
      ]);
      this.hasDicom = dicom.images > 0;
      this.runs = runs;
      this.suggestion = suggestion;
      if (!this.draft) this.draft = structuredClone(suggestion.config);
      this.presets = presets;
      this.backbones = backbones;
      if (this.selectedRunId === null && runs.length) this.select(runs[0]!.id);
      else if (this.selectedRunId !== null) void this.loadCurves(this.selectedRunId);
    });
    if (!this.doctor && !this.doctorError) void this.loadDoctor();
  }

  private forgetProject(): void {
    this.runs = [];
    this.suggestion = null;
    this.draft = null;
    this.selectedRunId = null;
    this.compareRunId = null;
    this.curves.clear();
    this.curvesVersion++;
  }

  async loadDoctor(): Promise<void> {
    try {
      this.doctor = await api['training:doctor']({});
    } catch (e) {
      this.doctorError = e instanceof Error ? e.message : String(e);
    }
  }

  /** After a backbone import: the list, and the one-click suggestion, which may now start from it. */
  async reloadBackbones(): Promise<void> {
    await app.run(async () => {
      const [backbones, suggestion] = await Promise.all([api['backbones:list']({}), api['training:suggest']({})]);
      this.backbones = backbones;
      this.suggestion = suggestion;
    });
  }

  async reloadRuns(): Promise<void> {
    try {
      this.runs = await api['runs:list']({});
    } catch {
      // No project any more (closed meanwhile): nothing to show.
    }
  }

  private scheduleReload(): void {
    if (this.reloadTimer) return;
    this.reloadTimer = setTimeout(() => {
      this.reloadTimer = null;
      void this.reloadRuns();
    }, 250);
  }

  resetDraft(): void {
    if (this.suggestion) this.draft = structuredClone($state.snapshot(this.suggestion.config) as TrainConfig);
  }

  applyPreset(name: string): void {
    const p = this.presets.find((x) => x.name === name);
    if (p) this.draft = structuredClone($state.snapshot(p.config) as TrainConfig);
  }

  async savePreset(name: string): Promise<void> {
    if (!this.draft || !name.trim()) return;
    await app.run(async () => {
      await api['presets:save']({ name: name.trim(), config: $state.snapshot(this.draft) as TrainConfig });
      this.presets = await api['presets:list']({});
    });
  }

  async deletePreset(name: string): Promise<void> {
    await app.run(async () => {
      await api['presets:delete']({ name });
      this.presets = await api['presets:list']({});
    });
  }

  /** The big button: one run (or one per fold) with the draft config. */
  async train(): Promise<void> {
    if (!this.draft || this.starting) return;
    this.starting = true;
    try {
      await app.run(async () => {
        const name = this.runName.trim();
        const runs = await api['training:start']({
          config: $state.snapshot(this.draft) as TrainConfig,
          ...(name ? { name } : {}),
        });
        this.runName = '';
        await this.reloadRuns();
        if (runs[0]) this.select(runs[0].id);
      });
    } finally {
      this.starting = false;
    }
  }

  async stop(runId: number): Promise<void> {
    await app.run(async () => {
      await api['training:stop']({ runId });
    });
  }

  async resume(runId: number): Promise<void> {
    await app.run(async () => {
      await api['training:resume']({ runId });
      const c = this.curves.get(runId);
      if (c) c.ended = null;
      await this.reloadRuns();
    });
  }

  async extend(runId: number, epochs: number): Promise<void> {
    await app.run(async () => {
      await api['training:extend']({ runId, epochs });
      const c = this.curves.get(runId);
      if (c) c.ended = null;
      await this.reloadRuns();
    });
  }

  async rerun(runId: number): Promise<void> {
    await app.run(async () => {
      const run = await api['training:rerun']({ runId });
      await this.reloadRuns();
      this.select(run.id);
    });
  }

  select(runId: number | null): void {
    this.selectedRunId = runId;
    if (this.compareRunId === runId) this.compareRunId = null;
    if (runId !== null) void this.loadCurves(runId);
  }

  compare(runId: number | null): void {
    this.compareRunId = runId;
    if (runId !== null) void this.loadCurves(runId);
  }

  curvesOf(runId: number | null): RunCurves | null {
    void this.curvesVersion;
    return runId === null ? null : (this.curves.get(runId) ?? null);
  }

  /**
   * Stored epochs plus, for a run still training, the live state the supervisor kept (recent batches, status),
   * so a reloaded page picks the curves up where they were. Events that arrive meanwhile are merged, not lost.
   */
  async loadCurves(runId: number): Promise<void> {
    try {
      const d = await api['runs:get']({ runId });
      const c = this.ensure(runId);
      for (const e of d.epochs) this.addEpoch(c, e);
      c.epochs.sort((a, b) => a.epoch - b.epoch);
      if (d.live) {
        c.status = d.live.status;
        c.prepare = d.live.prepare;
        for (const b of d.live.batches) this.addBatch(c, b);
      }
      const i = this.runs.findIndex((r) => r.id === runId);
      if (i >= 0) this.runs[i] = d.run;
      else this.runs = [d.run, ...this.runs];
      this.curvesVersion++;
    } catch (e) {
      app.report(e);
    }
  }

  private ensure(runId: number): RunCurves {
    let c = this.curves.get(runId);
    if (!c) {
      c = { epochs: [], batches: [], status: '', prepare: null, ended: null };
      this.curves.set(runId, c);
    }
    return c;
  }

  /** Replaces an epoch seen again (a resumed run redoes the epoch it was stopped in) and drops what followed. */
  private addEpoch(c: RunCurves, e: EpochMetrics): void {
    const at = c.epochs.findIndex((x) => x.epoch >= e.epoch);
    if (at >= 0) c.epochs.splice(at);
    c.epochs.push(e);
  }

  private addBatch(c: RunCurves, b: BatchMetrics): void {
    const x = batchX(b);
    const last = c.batches[c.batches.length - 1];
    if (last && batchX(last) >= x) {
      // Resumed from a checkpoint: the batches after it are replaced by the new ones.
      const at = c.batches.findIndex((p) => batchX(p) >= x);
      c.batches.splice(at);
    }
    c.batches.push(b);
  }

  private onTrainingEvent(e: TrainingEvent): void {
    const watched = this.curves.has(e.runId) || e.runId === this.selectedRunId;
    if (e.kind === 'status' || e.kind === 'ended' || e.kind === 'epoch') this.scheduleReload();
    if (!watched) {
      // A run started elsewhere (the CLI, another window): follow it when nothing is selected.
      if (this.selectedRunId === null) this.select(e.runId);
      return;
    }
    const c = this.ensure(e.runId);
    switch (e.kind) {
      case 'status':
        c.status = e.message;
        c.ended = null;
        break;
      case 'prepare':
        c.prepare = { done: e.done, total: e.total };
        break;
      case 'batch':
        this.addBatch(c, e.metrics);
        break;
      case 'epoch':
        this.addEpoch(c, e.metrics);
        break;
      case 'ended':
        c.ended = { status: e.status, message: e.message };
        c.status = e.message;
        break;
    }
    this.curvesVersion++;
  }
}

export const training = new TrainingState();
