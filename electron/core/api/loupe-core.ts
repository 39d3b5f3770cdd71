/**
 * LoupeCore implements the contract's handlers over the core services. Every face (Electron main, the browser
 * host, the CLI) constructs one and calls it through `dispatch`, which validates each request first.
 */
import { homedir } from 'node:os';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
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
import { Project } from '../project/project.ts';
import { RecentProjects } from '../project/recent.ts';
import { JobManager } from '../jobs/jobs.ts';
import { listDir } from './fs-browse.ts';
import { previewImport, runImport } from '../import/importer.ts';
import { getImage, listClasses, queryImages, summarizeProject } from '../images/queries.ts';
import { writeSampleImages } from '../sample/sample-project.ts';
import { APP_VERSION } from '../version.ts';

export type Face = AppInfo['face'];
export type EventListener = <E extends EventName>(name: E, payload: Events[E]) => void;

export interface CoreOptions {
  face: Face;
  /** Where the recent-projects list lives (e.g. ~/.config/loupe). */
  configDir: string;
  /** A native folder picker, when the face has one (Electron). */
  pickFolder?: (title?: string) => Promise<string | null>;
}

export class LoupeCore {
  readonly jobs = new JobManager();
  readonly recent: RecentProjects;
  private project: Project | null = null;
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
    const next = opts.create ? Project.create(path, opts.name) : Project.open(path);
    this.closeProject();
    this.project = next;
    this.recent.touch(next.info());
    this.emit('project:changed', { reason: 'opened' });
    return next;
  }

  closeProject(): boolean {
    if (!this.project) return false;
    this.jobs.cancelAll();
    this.project.close();
    this.project = null;
    this.emit('project:changed', { reason: 'closed' });
    return true;
  }

  async shutdown(): Promise<void> {
    const running = this.jobs.list().filter((j) => j.state === 'running');
    this.jobs.cancelAll();
    await Promise.all(running.map((j) => this.jobs.wait(j.jobId)));
    this.closeProject();
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
          this.emit('project:changed', { reason: 'images' });
          return report;
        });
        return { project: project.info(), jobId: job.jobId };
      },
      'project:summary': async () => summarizeProject(this.requireProject()),
      'fs:list': async ({ path, showHidden }) => listDir(path ?? homedir(), showHidden ?? false),
      'dialogs:pickFolder': async ({ title }) => {
        if (!this.opts.pickFolder) return { supported: false, path: null };
        return { supported: true, path: await this.opts.pickFolder(title) };
      },
      'import:preview': async ({ folders }) => previewImport(folders.map((f) => resolve(f))),
      'import:start': async ({ folders, labels }) => {
        const project = this.requireProject();
        const abs = folders.map((f) => resolve(f));
        for (const f of abs) {
          if (!existsSync(f)) throw new LoupeError('NOT_FOUND', `Folder not found: ${f}`);
        }
        const job = this.jobs.start('import', async (ctx) => {
          const report = await runImport(project, abs, labels, ctx, () =>
            this.emit('project:changed', { reason: 'images' }),
          );
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
    };
  }
}
