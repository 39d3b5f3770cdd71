/**
 * LoupeCore implements the contract's handlers over the core services. Every face (Electron main, the browser
 * host, the CLI) constructs one and calls it through `dispatch`, which validates each request first.
 */
import { homedir } from 'node:os';
import { existsSync, mkdirSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import {
  LoupeError,
  parseRequest,
  type AppInfo,
  type Events,
  type EventName,
  type LoupeHandlers,
  type Method,
  type Request,
  type Response,
} from '../../../shared/contract.ts';
import type { PreprocessPreset } from '../../../shared/preprocess-presets.ts';
import type { ExternalEvaluationRequest } from '../../../shared/worker-protocol.ts';
import { Project } from '../project/project.ts';
import { RecentProjects } from '../project/recent.ts';
import { JobManager } from '../jobs/jobs.ts';
import { listDir } from './fs-browse.ts';
import { previewImport, runImport } from '../import/importer.ts';
import { getImage, listClasses, queryImageIds, queryImages, summarizeProject } from '../images/queries.ts';
import { applyEdit, applyValues, editState, redo, undo } from '../labels/edits.ts';
import { classNameOf, createClass, deleteClass, mergeClasses, reorderClasses, updateClass } from '../labels/classes.ts';
import { imageHistory } from '../labels/history.ts';
import { exportLabelsCsv, importLabelsCsv } from '../labels/labels-csv.ts';
import {
  adoptFolderSplits,
  assignKFolds,
  assignSplits,
  moveToSplit,
  previewGroups,
  setTestLock,
  splitSummary,
} from '../splits/splits.ts';
import { writeSampleImages } from '../sample/sample-project.ts';
import { APP_VERSION } from '../version.ts';
import { TrainingSupervisor, probeBackends, spawnNodeTrainer, type SpawnTrainer } from '../training/supervisor.ts';
import { getRun, listRuns, runEpochs } from '../training/runs.ts';
import { recoverInterruptedRuns } from '../training/run-recovery.ts';
import { createRuns, deletePreset, extendRun, listPresets, rerun, savePreset, suggestConfig } from '../training/run-service.ts';
import { importBackbone, listBackbones, type BackboneInfo } from '../training/backbones.ts';
import { acceptSuggestions, getEvaluation, labelErrorCandidates, listEvaluations, listExternalEvaluations } from '../evaluation/evaluations.ts';
import { crossValidation } from '../evaluation/cross-validation.ts';
import { reevaluationRequest } from '../evaluation/reevaluate-external.ts';
import { exportBundle } from '../export/bundle.ts';
import { exportDataset } from '../export/dataset-export.ts';
import { finishedModelDir } from '../export/run-facts.ts';
import { prepareOutDir, prepareOutFile } from '../export/out-dir.ts';
import { dicomFacets, dicomHeader } from '../images/dicom-view.ts';

export type Face = AppInfo['face'];
export type EventListener = <E extends EventName>(name: E, payload: Events[E]) => void;

export interface CoreOptions {
  face: Face;
  /** Where the recent-projects list lives (e.g. ~/.config/loupe). */
  configDir: string;
  /** A native folder picker, when the face has one (Electron). */
  pickFolder?: (title?: string) => Promise<string | null>;
  /** A native file picker offering the files with these extensions ('.onnx'), when the face has one. */
  pickFile?: (files: readonly string[], title?: string) => Promise<string | null>;
  /** Starts a training process (Electron forks its bundled worker; Node faces fork the TypeScript one). */
  spawnTrainer?: SpawnTrainer;
}

function backboneSummary(b: BackboneInfo) {
  return { name: b.name, source: b.source, imageSize: b.imageSize, channels: b.channels, description: b.description };
}

export class LoupeCore {
  readonly jobs = new JobManager();
  readonly recent: RecentProjects;
  private project: Project | null = null;
  private trainer: TrainingSupervisor | null = null;
  private readonly listeners = new Set<EventListener>();
  private readonly opts: CoreOptions;
  readonly handlers: LoupeHandlers;

  constructor(opts: CoreOptions) {
    this.opts = opts;
    this.recent = new RecentProjects(opts.configDir);
    this.jobs.subscribe((job) => this.emit('job:progress', job));
    this.handlers = this.makeHandlers();
  }

  /** Validates the raw payload, then runs the handler. The single entry point for every face. */
  async dispatch<M extends Method>(method: M, payload: unknown): Promise<Response<M>> {
    const request = parseRequest(method, payload);
    const handler = this.handlers[method] as (r: Request<M>) => Promise<Response<M>>;
    return handler(request);
  }

  on(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit<E extends EventName>(name: E, payload: Events[E]): void {
    for (const l of this.listeners) {
      try {
        l(name, payload);
      } catch {
        // A broken listener (closed socket, destroyed window) must not break core.
      }
    }
  }

  /** The open project, or a NO_PROJECT error that the UI turns into the start screen. */
  requireProject(): Project {
    if (!this.project) throw new LoupeError('NO_PROJECT', 'No project is open');
    return this.project;
  }

  get currentProject(): Project | null {
    return this.project;
  }

  openProject(path: string, opts: { create?: boolean; name?: string } = {}): Project {
    // The faces that answer a UI keep WAL checkpoints off their thread; a CLI command lets SQLite do them.
    const open = { backgroundCheckpoints: this.opts.face !== 'cli' };
    const next = opts.create ? Project.create(path, opts.name, open) : Project.open(path, open);
    this.closeProject();
    this.project = next;
    recoverInterruptedRuns(next);
    this.trainer = new TrainingSupervisor(next, (e) => this.emit('training:event', e), this.opts.spawnTrainer ?? spawnNodeTrainer);
    this.recent.touch(next.info());
    this.emit('project:changed', { reason: 'opened' });
    return next;
  }

  closeProject(): boolean {
    if (!this.project) return false;
    this.jobs.cancelAll();
    // Stopping asks the training process to finish its batch; it records its own end in project.db.
    void this.trainer?.shutdown();
    this.trainer = null;
    this.project.close();
    this.project = null;
    this.emit('project:changed', { reason: 'closed' });
    return true;
  }

  /** The training supervisor of the open project. */
  requireTrainer(): TrainingSupervisor {
    this.requireProject();
    return this.trainer!;
  }

  async shutdown(): Promise<void> {
    await this.trainer?.shutdown();
    const running = this.jobs.list().filter((j) => j.state === 'running');
    this.jobs.cancelAll();
    await Promise.all(running.map((j) => this.jobs.wait(j.jobId)));
    this.closeProject();
  }

  /** Evaluates a run (or predicts its unlabeled images) as a job, in a training process. */
  private startEvaluation(runId: number, split: 'val' | 'test' | 'unlabeled'): string {
    const project = this.requireProject();
    const run = getRun(project.db, runId);
    if (!run.preprocessing || run.bestEpoch === null) {
      throw new LoupeError('BAD_INPUT', `Run ${runId} has no trained model yet (status: ${run.status})`);
    }
    const trainer = this.requireTrainer();
    const job = this.jobs.start(split === 'unlabeled' ? 'predict' : 'evaluate', async (ctx) => {
      ctx.progress(0, 0, split === 'unlabeled' ? 'Waiting to predict' : `Waiting to evaluate on ${split}`);
      const r = await trainer.evaluate({ runId, split, signal: ctx.signal, progress: ctx.progress });
      this.emit('project:changed', { reason: 'evaluations' });
      ctx.progress(r.n, r.n, `Evaluation ${r.evaluationId} stored`);
      return { evaluationId: r.evaluationId, notes: r.notes };
    });
    return job.jobId;
  }

  /** Evaluates a foreign classifier (a file or a bundle folder) on the project's images as a job (issue 12). */
  private startExternalEvaluation(request: ExternalEvaluationRequest): string {
    const trainer = this.requireTrainer();
    const job = this.jobs.start('evaluate', async (ctx) => {
      ctx.progress(0, 0, `Waiting to evaluate ${basename(request.file)} on ${request.split}`);
      const r = await trainer.evaluateExternal(request, ctx);
      this.emit('project:changed', { reason: 'evaluations' });
      ctx.progress(r.n, r.n, `Evaluation ${r.evaluationId} stored`);
      return { evaluationId: r.evaluationId, notes: r.notes };
    });
    return job.jobId;
  }

  /** Converts, verifies and stores an ONNX backbone as a job, in a training process (issue 12). */
  private startBackboneImport(req: { path: string; name?: string; preprocess?: PreprocessPreset; imageSize?: number }): string {
    if (!/\.onnx$/i.test(req.path)) throw new LoupeError('BAD_INPUT', `${basename(req.path)} is not an .onnx file`);
    const trainer = this.requireTrainer();
    const job = this.jobs.start('backbone', async (ctx) => {
      ctx.progress(0, 0, `Waiting to import ${basename(req.path)}`);
      const { path, ...rest } = req;
      const b = await trainer.importBackbone({ file: path, ...rest }, ctx);
      this.emit('project:changed', { reason: 'backbones' });
      return b;
    });
    return job.jobId;
  }

  /** Tells every face that something changed, then passes the result through. */
  private changed<T>(reason: 'labels' | 'classes' | 'splits', result: T): T {
    this.emit('project:changed', { reason });
    return result;
  }

  private makeHandlers(): LoupeHandlers {
    return {
      'app:info': async () => ({
        version: APP_VERSION,
        face: this.opts.face,
        platform: process.platform,
        project: this.project?.info() ?? null,
        nativeDialogs: Boolean(this.opts.pickFolder),
        homeDir: homedir(),
      }),
      'projects:recent': async () => this.recent.list(),
      'projects:create': async ({ path, name }) => this.openProject(path, { create: true, name }).info(),
      'projects:open': async ({ path }) => this.openProject(path).info(),
      'projects:close': async () => ({ closed: this.closeProject() }),
      'projects:createSample': async ({ path, perClass }) => {
        const dir = resolve(path);
        const project = this.openProject(dir, { create: true, name: 'Sample chest X-rays' });
        const imagesDir = join(dir, 'sample-images');
        mkdirSync(imagesDir, { recursive: true });
        const job = this.jobs.start('sample', async (ctx) => {
          await writeSampleImages(imagesDir, { perClass: perClass ?? 120, signal: ctx.signal, progress: ctx.progress });
          const report = await runImport(project, [imagesDir], 'folders', ctx);
          adoptFolderSplits(project.db);
          this.emit('project:changed', { reason: 'images' });
          return report;
        });
        return { project: project.info(), jobId: job.jobId };
      },
      'project:summary': async () => summarizeProject(this.requireProject()),
      'fs:list': async ({ path, ...opts }) => listDir(path ?? homedir(), opts),
      'dialogs:pickFolder': async ({ title }) => {
        if (!this.opts.pickFolder) return { supported: false, path: null };
        return { supported: true, path: await this.opts.pickFolder(title) };
      },
      'dialogs:pickFile': async ({ title, files }) => {
        if (!this.opts.pickFile) return { supported: false, path: null };
        return { supported: true, path: await this.opts.pickFile(files, title) };
      },
      'import:preview': async ({ folders }) => previewImport(folders.map((f) => resolve(f))),
      'import:start': async ({ folders, labels, frames }) => {
        const project = this.requireProject();
        const abs = folders.map((f) => resolve(f));
        for (const f of abs) {
          if (!existsSync(f)) throw new LoupeError('NOT_FOUND', `Folder not found: ${f}`);
        }
        const job = this.jobs.start('import', async (ctx) => {
          const report = await runImport(project, abs, labels, ctx, () => this.emit('project:changed', { reason: 'images' }), {
            dicomFrames: frames,
          });
          adoptFolderSplits(project.db);
          this.emit('project:changed', { reason: 'images' });
          return report;
        });
        return { jobId: job.jobId };
      },
      'jobs:list': async () => this.jobs.list(),
      'jobs:cancel': async ({ jobId }) => ({ canceled: this.jobs.cancel(jobId) }),
      'classes:list': async () => listClasses(this.requireProject().db),
      'images:query': async (req) => queryImages(this.requireProject().db, req),
      'images:get': async ({ id }) => getImage(this.requireProject(), id),
      'images:ids': async (req) => ({ ids: queryImageIds(this.requireProject().db, req) }),
      'images:setFlags': async ({ imageIds, excluded, unsure, note }) => {
        const db = this.requireProject().db;
        const changes = [
          ...(excluded === undefined ? [] : imageIds.map((imageId) => ({ imageId, field: 'excluded' as const, value: excluded ? 1 : 0 }))),
          ...(unsure === undefined ? [] : imageIds.map((imageId) => ({ imageId, field: 'unsure' as const, value: unsure ? 1 : 0 }))),
          ...(note === undefined ? [] : imageIds.map((imageId) => ({ imageId, field: 'user_note' as const, value: note?.trim() || null }))),
        ];
        const what = [excluded !== undefined && (excluded ? 'Exclude' : 'Include'), unsure !== undefined && (unsure ? 'Mark unsure' : 'Clear unsure'), note !== undefined && 'Edit note']
          .filter(Boolean)
          .join(', ');
        return this.changed('labels', applyValues(db, `${what} (${imageIds.length})`, changes, 'flags'));
      },
      'images:history': async ({ id }) => {
        const project = this.requireProject();
        getImage(project, id); // NOT_FOUND for an unknown id
        return imageHistory(project.db, id);
      },
      'dicom:facets': async () => dicomFacets(this.requireProject().db),
      'dicom:header': async ({ id }) => dicomHeader(this.requireProject(), id),
      'labels:set': async ({ imageIds, classId }) => {
        const db = this.requireProject().db;
        // By id only: listing the classes would count every class's images on each keystroke.
        const name = classId === null ? null : classNameOf(db, classId);
        if (classId !== null && name === null) throw new LoupeError('NOT_FOUND', `No class with id ${classId}`);
        const label = `${name !== null ? `Label ${name}` : 'Clear label'}${imageIds.length > 1 ? ` (${imageIds.length})` : ''}`;
        return this.changed('labels', applyEdit(db, label, imageIds, 'class_id', classId));
      },
      'labels:undo': async () => this.changed('labels', undo(this.requireProject().db)),
      'labels:redo': async () => this.changed('labels', redo(this.requireProject().db)),
      'edits:state': async () => editState(this.requireProject().db),
      'labels:exportCsv': async () => exportLabelsCsv(this.requireProject().db),
      'labels:importCsv': async ({ csv, createClasses }) => {
        const report = importLabelsCsv(this.requireProject().db, csv, createClasses);
        this.emit('project:changed', { reason: 'labels' });
        return report;
      },
      'classes:create': async ({ name, color }) => this.changed('classes', createClass(this.requireProject().db, name, color)),
      'classes:update': async (req) => this.changed('classes', updateClass(this.requireProject().db, req)),
      'classes:merge': async ({ sourceId, targetId }) =>
        this.changed('classes', mergeClasses(this.requireProject().db, sourceId, targetId)),
      'classes:delete': async (req) => this.changed('classes', deleteClass(this.requireProject().db, req)),
      'classes:reorder': async ({ ids }) => this.changed('classes', reorderClasses(this.requireProject().db, ids)),
      'splits:summary': async () => splitSummary(this.requireProject().db),
      'splits:assign': async (req) => this.changed('splits', assignSplits(this.requireProject().db, req)),
      'splits:folds': async (req) => this.changed('splits', assignKFolds(this.requireProject().db, req)),
      'splits:move': async ({ imageIds, split }) => this.changed('splits', moveToSplit(this.requireProject().db, imageIds, split)),
      'splits:lockTest': async ({ locked }) => this.changed('splits', setTestLock(this.requireProject().db, locked)),
      'groups:preview': async ({ groupBy }) => previewGroups(this.requireProject().db, groupBy),
      'training:suggest': async () => suggestConfig(this.requireProject()),
      'training:start': async ({ config, name }) => {
        const runs = createRuns(this.requireProject(), { config, name }, APP_VERSION);
        for (const r of runs) this.requireTrainer().enqueue(r.id, 'start');
        this.emit('project:changed', { reason: 'runs' });
        return runs;
      },
      'training:stop': async ({ runId }) => ({ stopped: this.requireTrainer().stop(runId) }),
      'training:resume': async ({ runId }) => {
        const project = this.requireProject();
        getRun(project.db, runId);
        // Another live process's run is refused by the lease; a 'running' run without a live holder is resumable.
        this.requireTrainer().enqueue(runId, 'resume', () => {
          project.db.prepare(`UPDATE runs SET status = 'queued', error = NULL WHERE id = ?`).run(runId);
        });
        return getRun(project.db, runId);
      },
      'training:extend': async ({ runId, epochs }) => {
        const project = this.requireProject();
        this.requireTrainer().enqueue(runId, 'resume', () => extendRun(project, runId, epochs));
        return getRun(project.db, runId);
      },
      'training:rerun': async ({ runId }) => {
        const run = rerun(this.requireProject(), runId, APP_VERSION);
        this.requireTrainer().enqueue(run.id, 'start');
        this.emit('project:changed', { reason: 'runs' });
        return run;
      },
      'training:doctor': async () => probeBackends(this.opts.spawnTrainer ?? spawnNodeTrainer),
      'runs:list': async () => listRuns(this.requireProject().db),
      'runs:get': async ({ runId }) => {
        const db = this.requireProject().db;
        return { run: getRun(db, runId), epochs: runEpochs(db, runId), live: this.requireTrainer().liveState(runId) };
      },
      'presets:list': async () => listPresets(this.requireProject()),
      'presets:save': async ({ name, config }) => {
        savePreset(this.requireProject(), name, config);
        return { saved: true };
      },
      'presets:delete': async ({ name }) => ({ deleted: deletePreset(this.requireProject(), name) }),
      'backbones:list': async () => listBackbones(this.requireProject()).map(backboneSummary),
      'backbones:import': async ({ path, name, preprocess, imageSize }) => {
        if (/\.onnx$/i.test(path)) {
          // The same training-process task as the app's Import job, awaited here so its error keeps its code.
          const b = await this.requireTrainer().importBackbone({ file: path, name, preprocess, imageSize }, { signal: new AbortController().signal, progress: () => {} });
          this.emit('project:changed', { reason: 'backbones' });
          return b;
        }
        if (preprocess || imageSize) throw new LoupeError('BAD_INPUT', '--preprocess and --image-size apply to .onnx files; a TF.js backbone folder carries its own');
        return backboneSummary(importBackbone(this.requireProject(), path, name));
      },
      'backbones:importStart': async (req) => ({ jobId: this.startBackboneImport(req) }),
      'evaluations:external': async ({ path, ...rest }) => ({ jobId: this.startExternalEvaluation({ file: path, ...rest }) }),
      'evaluations:reevaluateExternal': async ({ evaluationId }) => ({ jobId: this.startExternalEvaluation(reevaluationRequest(this.requireProject().db, evaluationId)) }),
      'evaluations:listExternal': async () => listExternalEvaluations(this.requireProject().db),
      'evaluations:run': async ({ runId, split }) => ({ jobId: this.startEvaluation(runId, split) }),
      'evaluations:predictUnlabeled': async ({ runId }) => ({ jobId: this.startEvaluation(runId, 'unlabeled') }),
      'evaluations:list': async ({ runId }) => listEvaluations(this.requireProject().db, runId),
      'evaluations:get': async ({ evaluationId }) => getEvaluation(this.requireProject().db, evaluationId),
      'evaluations:labelErrors': async ({ runId, limit }) => labelErrorCandidates(this.requireProject().db, runId, limit),
      'evaluations:crossValidation': async ({ runId }) => crossValidation(this.requireProject().db, runId),
      'suggestions:accept': async ({ evaluationId, imageIds, minConfidence }) =>
        this.changed('labels', acceptSuggestions(this.requireProject().db, evaluationId, { imageIds, minConfidence })),
      // Exports run in this process: file work and pdfkit, no TensorFlow (the ONNX graph is built from the files).
      // The checks that can fail at once (no model, folder not empty or not writable) answer the call itself.
      'export:model': async (req) => {
        const project = this.requireProject();
        finishedModelDir(project, getRun(project.db, req.runId));
        prepareOutDir(req.outDir, req.force);
        const job = this.jobs.start('export', (ctx) => exportBundle(project, { ...req, appVersion: APP_VERSION, signal: ctx.signal, progress: ctx.progress }));
        return { jobId: job.jobId };
      },
      'export:dataset': async (req) => {
        const project = this.requireProject();
        if (req.runId !== undefined) getRun(project.db, req.runId);
        prepareOutDir(req.outDir, req.force);
        if (req.mappingPath !== undefined) prepareOutFile(req.mappingPath, req.force);
        const job = this.jobs.start('export', (ctx) => exportDataset(project, { ...req, signal: ctx.signal, progress: ctx.progress }));
        return { jobId: job.jobId };
      },
      'report:create': async (req) => {
        const project = this.requireProject();
        if (req.runId !== undefined) finishedModelDir(project, getRun(project.db, req.runId));
        else getEvaluation(project.db, req.evaluationId!); // NOT_FOUND at once
        prepareOutFile(req.outPath, req.force);
        // Loaded on first use: pdfkit and its fonts take about half a second, which every CLI command would pay.
        const job = this.jobs.start('report', async (ctx) => {
          const { createReport } = await import('../export/report/report.ts');
          return createReport(project, { ...req, appVersion: APP_VERSION, signal: ctx.signal, progress: ctx.progress });
        });
        return { jobId: job.jobId };
      },
    };
  }
}
