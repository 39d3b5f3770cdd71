/**
 * The application's state: which project is open, its classes and counts, the current view (filter, sort,
 * search), the selection, running jobs, and which overlay is open. Components read it and call its methods;
 * only this class and the grid state talk to the API.
 */
import { LoupeError } from '../../shared/errors.ts';
import type { AppInfo, ClassInfo, DicomFacets, DicomFilter, ImageFilter, ImagePage, Job, ProjectInfo, ProjectSummary, SortKey } from '../../shared/contract.ts';
import { api, invoke, onEvent } from './api.ts';
import { CountGuard } from './count-guard.ts';
import { GridState, type GridQuery } from './grid-state.svelte.ts';
import { viewFilter, type View } from './view-filter.ts';

export const isPredictionSort = (sort: SortKey): boolean => sort === 'confidence' || sort === 'uncertainty' || sort === 'loss';

export type Overlay = 'none' | 'viewer' | 'import' | 'report';

export interface Counts {
  images: number;
  unlabeled: number;
  splits: ProjectSummary['splits'];
  duplicates: number;
  errors: number;
  missing: number;
  unsure: number;
  excluded: number;
}

const emptyCounts: Counts = {
  images: 0,
  unlabeled: 0,
  splits: { train: 0, val: 0, test: 0, unassigned: 0 },
  duplicates: 0,
  errors: 0,
  missing: 0,
  unsure: 0,
  excluded: 0,
};

/** A prefetched page older than this is asked for again: labels may have changed meanwhile. */
const PREFETCH_FRESH_MS = 5000;

/** Updates during an import arrive per batch; reloading counts more often than this only burns CPU. */
const REFRESH_INTERVAL_MS = 400;

/** How soon a count read that overlapped the page's own edits is tried again (see CountGuard). */
const COUNT_RETRY_MS = 100;

export class AppState {
  info = $state<AppInfo | null>(null);
  project = $state<ProjectInfo | null>(null);
  classes = $state<ClassInfo[]>([]);
  counts = $state<Counts>(emptyCounts);
  view = $state<View>({ kind: 'all' });
  search = $state('');
  /** The DICOM header filters (modality, body part, view, series), and the values the project offers for them. */
  dicomFilter = $state<DicomFilter>({});
  dicomFacets = $state.raw<DicomFacets | null>(null);
  sort = $state<SortKey>('name');
  desc = $state(false);
  jobs = $state<Job[]>([]);
  overlay = $state<Overlay>('none');
  /** The last error worth telling the user about; cleared by the user. */
  error = $state<string | null>(null);
  /** True until the first app:info reply, so the start screen does not flash. */
  booting = $state(true);

  readonly grid: GridState = new GridState((offset, limit, signal) => this.queryPage(offset, limit, signal));
  /** Told by labeling.svelte.ts of every edit it shows before the server has it. */
  readonly countGuard = new CountGuard();
  filter = $derived(viewFilter(this.view, this.search, this.dicomFilter));

  /**
   * Set by labeling.svelte.ts: label, class and split changes are reconciled there (cheaper than the reload an
   * import needs, and skipped for the UI's own edits it already shows).
   */
  editListener: ((reason: 'labels' | 'classes' | 'splits') => void) | null = null;

  /** A first page asked for ahead of a click (see prefetchEvaluation). */
  private prefetched: { key: string; at: number; page: Promise<ImagePage> } | null = null;
  private refreshTimer: ReturnType<typeof setTimeout> | null = null;
  private lastRefresh = 0;
  private lastCountsMs = 0;
  private countRetry: { timer: ReturnType<typeof setTimeout>; full: boolean } | null = null;

  async start(): Promise<void> {
    onEvent((event, payload) => {
      if (event === 'job:progress') this.upsertJob(payload as Job);
      else if (event === 'project:changed') {
        const reason = (payload as { reason: string }).reason;
        this.prefetched = null;
        if (reason === 'opened' || reason === 'closed') void this.loadInfo();
        else if ((reason === 'labels' || reason === 'classes' || reason === 'splits') && this.editListener) this.editListener(reason);
        else this.scheduleRefresh();
      }
    });
    // The first page is asked for once app:info says a project is open: asking alongside it saved one local round
    // trip but, on the start screen, was refused (HTTP 409, an error in the console of every first start; issue 15).
    await this.loadInfo();
    this.booting = false;
  }

  async loadInfo(): Promise<void> {
    try {
      const info = await api['app:info']({});
      performance.mark('loupe:info');
      this.info = info;
      const changed = info.project?.path !== this.project?.path;
      this.project = info.project;
      if (changed) {
        this.view = { kind: 'all' };
        this.search = '';
        this.dicomFilter = {};
        this.dicomFacets = null;
        this.overlay = 'none';
        if (info.project) this.grid.reset(this.filter, this.sort, this.desc);
      }
      // Not awaited: the main screen must mount (and show its first thumbnails) before this runs.
      if (info.project) void this.loadSideData(changed);
    } catch (e) {
      this.report(e);
    }
  }

  /** Jobs and counts of a newly shown project, once its first screen of thumbnails is there. */
  private async loadSideData(justOpened: boolean): Promise<void> {
    try {
      // The grid's first page and its thumbnails go first; counts scan the whole table, so they wait until
      // the first screen is shown rather than compete with it on the host.
      if (justOpened) await this.grid.whenFirstScreen(1500);
      // Jobs that ended a while ago (earlier in this session) are history, not status.
      const recent = Date.now() - 60_000;
      this.jobs = (await api['jobs:list']({})).filter(
        (j) => j.state === 'running' || (j.endedAt !== null && Date.parse(j.endedAt) > recent),
      );
      await this.refreshCounts();
      await this.refreshDicomFacets();
    } catch (e) {
      if (e instanceof LoupeError && e.code === 'NO_PROJECT') return;
      this.report(e);
    }
  }

  /**
   * Coalesces bursts of project:changed into one reload every REFRESH_INTERVAL_MS at most, and backs off when
   * the counts themselves are slow (a very large project), so a long import never turns into a query storm.
   */
  scheduleRefresh(): void {
    if (!this.project || this.refreshTimer) return;
    const interval = Math.max(REFRESH_INTERVAL_MS, this.lastCountsMs * 10);
    const wait = Math.max(0, this.lastRefresh + interval - Date.now());
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = null;
      this.lastRefresh = Date.now();
      this.grid.refresh();
      void this.refreshCounts();
      void this.refreshDicomFacets();
    }, wait);
  }

  /**
   * Sidebar counts, from the same filters the grid queries (so a count and its view always agree). Not
   * project:summary: that one also lists every duplicate path and error, which the sidebar does not show.
   */
  async refreshCounts(): Promise<void> {
    if (!this.project) return;
    const ticket = this.countGuard.begin();
    if (ticket === null) return this.retryCounts(true);
    const started = performance.now();
    const total = (filter: ImageFilter) => invoke('images:query', { filter, limit: 1 }).then((p) => p.total);
    try {
      const [classes, images, unlabeled, train, val, test, unassigned, duplicates, errors, missing, unsure, excluded] = await Promise.all([
        api['classes:list']({}),
        total({}),
        total({ unlabeled: true }),
        total({ split: 'train' }),
        total({ split: 'val' }),
        total({ split: 'test' }),
        total({ split: 'unassigned' }),
        total({ duplicates: true }),
        total({ errors: true }),
        total({ missing: true }),
        total({ unsure: true }),
        total({ excluded: true }),
      ]);
      if (!this.countGuard.fresh(ticket)) return this.retryCounts(true);
      this.classes = classes;
      this.counts = { images, unlabeled, splits: { train, val, test, unassigned }, duplicates, errors, missing, unsure, excluded };
      this.lastCountsMs = performance.now() - started;
    } catch (e) {
      if (e instanceof LoupeError && e.code === 'NO_PROJECT') return;
      this.report(e);
    }
  }

  /** The values the DICOM filters offer; none (and no filters shown) in a project without DICOM images. */
  async refreshDicomFacets(): Promise<void> {
    if (!this.project) return;
    try {
      this.dicomFacets = await api['dicom:facets']({});
    } catch (e) {
      if (e instanceof LoupeError && e.code === 'NO_PROJECT') return;
      this.report(e);
    }
  }

  setDicomFilter(filter: DicomFilter): void {
    this.dicomFilter = filter;
    this.requery();
  }

  /** The counts a label, flag, class or split edit can change (not the import's duplicate/error scans). */
  async refreshLabelCounts(): Promise<void> {
    if (!this.project) return;
    const ticket = this.countGuard.begin();
    if (ticket === null) return this.retryCounts(false);
    const total = (filter: ImageFilter) => invoke('images:query', { filter, limit: 1 }).then((p) => p.total);
    try {
      const [classes, unlabeled, train, val, test, unassigned, unsure, excluded] = await Promise.all([
        api['classes:list']({}),
        total({ unlabeled: true }),
        total({ split: 'train' }),
        total({ split: 'val' }),
        total({ split: 'test' }),
        total({ split: 'unassigned' }),
        total({ unsure: true }),
        total({ excluded: true }),
      ]);
      if (!this.countGuard.fresh(ticket)) return this.retryCounts(false);
      this.classes = classes;
      this.counts = { ...this.counts, unlabeled, splits: { train, val, test, unassigned }, unsure, excluded };
    } catch (e) {
      if (e instanceof LoupeError && e.code === 'NO_PROJECT') return;
      this.report(e);
    }
  }

  /** Reads the counts again in a moment, once the page's own writes are answered (see CountGuard). */
  private retryCounts(full: boolean): void {
    if (this.countRetry) {
      this.countRetry.full ||= full;
      return;
    }
    const retry = {
      full,
      timer: setTimeout(() => {
        this.countRetry = null;
        void (retry.full ? this.refreshCounts() : this.refreshLabelCounts());
      }, COUNT_RETRY_MS),
    };
    this.countRetry = retry;
  }

  setView(view: View): void {
    this.view = view;
    // The prediction orders (confidence, uncertainty, loss) only exist within an evaluation's images.
    if (view.kind !== 'evaluation' && isPredictionSort(this.sort)) {
      this.sort = 'name';
      this.desc = false;
    }
    this.requery();
  }

  /** An evaluation's images in one query (view and order together): the confusion-matrix cells and galleries. */
  showEvaluation(view: Extract<View, { kind: 'evaluation' }>, sort: SortKey = 'name', desc = false): void {
    this.view = view;
    this.sort = sort;
    this.desc = desc;
    this.requery();
  }

  setSearch(text: string): void {
    this.search = text;
    this.requery();
  }

  setSort(sort: SortKey, desc: boolean): void {
    this.sort = sort;
    this.desc = desc;
    this.requery();
  }

  private requery(): void {
    this.grid.reset(this.filter, this.sort, this.desc);
  }

  private queryPage(offset: number, limit: number, signal: AbortSignal): Promise<ImagePage> {
    const q: GridQuery = this.grid.query;
    const request = { filter: q.filter, sort: q.sort, desc: q.desc, offset, limit };
    const early = this.prefetched;
    if (early && early.key === JSON.stringify(request)) {
      this.prefetched = null;
      if (Date.now() - early.at < PREFETCH_FRESH_MS) return early.page;
    }
    return invoke('images:query', request, signal);
  }

  /**
   * Starts loading the first page of an evaluation view the user is about to open (a hovered confusion-matrix
   * cell), so that the click shows its images without waiting for the host. Used once, and only while fresh.
   */
  prefetchEvaluation(view: Extract<View, { kind: 'evaluation' }>, sort: SortKey = 'name', desc = false): void {
    const request = { filter: viewFilter(view, this.search, this.dicomFilter), sort, desc, offset: 0, limit: this.grid.cache.pageSize };
    const key = JSON.stringify(request);
    if (this.prefetched?.key === key && Date.now() - this.prefetched.at < PREFETCH_FRESH_MS) return;
    const page = invoke('images:query', request);
    page.catch(() => {});
    this.prefetched = { key, at: Date.now(), page };
  }

  async openProject(path: string): Promise<boolean> {
    return this.run(async () => {
      await api['projects:open']({ path });
      await this.loadInfo();
    });
  }

  async createProject(path: string, name?: string): Promise<boolean> {
    return this.run(async () => {
      await api['projects:create']({ path, ...(name ? { name } : {}) });
      await this.loadInfo();
    });
  }

  async createSample(path: string): Promise<boolean> {
    return this.run(async () => {
      const r = await api['projects:createSample']({ path });
      await this.loadInfo();
      this.upsertJob({
        jobId: r.jobId,
        kind: 'sample',
        state: 'running',
        done: 0,
        total: 0,
        rate: 0,
        etaSeconds: null,
        message: 'Generating sample images',
        startedAt: new Date().toISOString(),
        endedAt: null,
      });
    });
  }

  async closeProject(): Promise<void> {
    await this.run(async () => {
      await api['projects:close']({});
      await this.loadInfo();
    });
  }

  async cancelJob(jobId: string): Promise<void> {
    await this.run(async () => {
      await api['jobs:cancel']({ jobId });
    });
  }

  dismissJob(jobId: string): void {
    this.jobs = this.jobs.filter((j) => j.jobId !== jobId);
  }

  /** Runs an action, turning its error into the banner; resolves to whether it succeeded. */
  async run(action: () => Promise<void>): Promise<boolean> {
    try {
      await action();
      return true;
    } catch (e) {
      this.report(e);
      return false;
    }
  }

  report(e: unknown): void {
    const message = e instanceof Error ? e.message : String(e);
    this.error = message;
  }

  private upsertJob(job: Job): void {
    const i = this.jobs.findIndex((j) => j.jobId === job.jobId);
    if (i === -1) this.jobs = [...this.jobs, job];
    else this.jobs[i] = job;
    if (job.state !== 'running') this.scheduleRefresh();
  }
}

export const app = new AppState();
