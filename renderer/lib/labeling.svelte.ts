/**
 * Labeling by hand (issue 3): the selection, class hotkeys, flags, split moves, undo/redo, the >100 confirm, the
 * grid/focus mode and toasts. Components stay thin and call these methods.
 *
 * Speed: a keystroke shows its label and counts at once, from what the grid already has (grid.patchItems and
 * countDeltas), and the write goes to the server in the background, one at a time in order. The
 * project:changed event that follows our own exact edit reloads nothing; anything else (another window, the
 * CLI, an undo, a bulk edit over pages not loaded, a view that the edit changes) is reconciled with one cheap
 * reload after a short pause, so a burst of keystrokes never turns into a burst of queries.
 */
import type { EditResult, EditState, ImageSummary } from '../../shared/contract.ts';
import type { SplitName } from '../../shared/domain.ts';
import { api } from './api.ts';
import { app } from './app-state.svelte.ts';
import type { GridMove } from './grid-layout.ts';
import { handleLabelKey } from './label-keys.ts';
import { countDeltas, nextFlagValue, type CountDeltas, type EditPatch } from './label-deltas.ts';
import { SelectionModel, idsAt, indexRange } from './selection.ts';
import { formatCount } from './format.ts';

export type Mode = 'grid' | 'focus';
export type ChangeReason = 'labels' | 'classes' | 'splits';

export interface Toast {
  id: number;
  text: string;
  kind: 'info' | 'error';
}

/** Applying to more images than this asks first (issue 3). */
export const CONFIRM_OVER = 100;
const RECONCILE_QUIET_MS = 300;
const RECONCILE_MAX_WAIT_MS = 1500;
const TOAST_MS = 4000;
const AUTO_ADVANCE_KEY = 'loupe.autoAdvance';
const splitLabel: Record<SplitName | 'none', string> = { train: 'Train', val: 'Validation', test: 'Test', none: 'no split' };

export class LabelingState {
  readonly model = new SelectionModel();
  /** Mirrors model.version: read by everything that shows the selection. */
  private version = $state(0);
  autoAdvance = $state(true);
  mode = $state<Mode>('grid');
  help = $state(false);
  /** The pending "apply to N images?" question; Enter confirms. */
  confirm = $state<{ count: number; what: string; run: () => void } | null>(null);
  toasts = $state<Toast[]>([]);
  edit = $state<EditState>({ canUndo: false, canRedo: false, undoLabel: null, redoLabel: null });
  /** Bumped whenever labels, flags, classes or splits may have changed: panels that show them reload. */
  changes = $state(0);
  /** Bumped by Shift+N: the note field takes the focus. */
  noteRequest = $state(0);
  /** Rubber band being dragged, in grid content coordinates. */
  band = $state<{ x0: number; y0: number; x1: number; y1: number } | null>(null);
  /** How many labeling surfaces (grid, focus view) are mounted: keys only label while one is. */
  surfaces = $state(0);
  /** Modals open (splits, CSV, class dialogs; each counts itself in and out): the labeling keys stay off. */
  modal = $state(0);
  /** Labeling dialogs on screen (splits, CSV, class): toasts move out of their way. */
  dialogs = $state(0);
  /** Which of the labeling dialogs is open. */
  dialog = $state<'none' | 'splits' | 'csv'>('none');

  private writes: Promise<unknown> = Promise.resolve();
  private inFlight = 0;
  /** project:changed events our own exact edits will cause: those reload nothing. */
  private expectedQuiet = 0;
  private reconcileTimer: ReturnType<typeof setTimeout> | undefined;
  private reconcileFirstAt = 0;
  /**
   * The image whose own single edit takes it out of the view (labeling in "Unlabeled"), while the cursor may still
   * be on it: it stays until the cursor moves off, so a second key corrects it instead of hitting the next image.
   */
  private leaving: number | null = null;
  private toastSeq = 0;

  constructor() {
    app.editListener = (reason) => this.onChanged(reason);
  }

  // ---------- selection ----------

  get size(): number {
    void this.version;
    return this.model.size;
  }

  /** Shown as selected: in the set, or the focused cell when the set is empty. */
  isSelected(index: number, id: number | undefined): boolean {
    void this.version;
    if (this.model.size) return id !== undefined && this.model.has(id);
    return index === app.grid.selectedIndex;
  }

  private touched(): void {
    this.version = this.model.version;
  }

  private focusedId(): number | null {
    return app.grid.selected?.id ?? null;
  }

  targets(): number[] {
    void this.version;
    return this.model.targets(this.focusedId());
  }

  clearSelection(): void {
    this.model.clear();
    this.touched();
  }

  /** Another view (filter, sort): its indices and ids have nothing to do with the old selection. */
  resetForView(): void {
    this.model.clear();
    this.model.anchor = -1;
    this.touched();
  }

  /** A click on a cell (pointer up without a drag). */
  click(index: number, mods: { shift: boolean; toggle: boolean }): void {
    const grid = app.grid;
    const item = grid.itemAt(index);
    if (mods.shift) {
      const anchor = this.model.anchor >= 0 ? this.model.anchor : Math.max(0, grid.selectedIndex);
      grid.select(index);
      void this.selectIndices(indexRange(anchor, index), mods.toggle);
      return;
    }
    if (mods.toggle && item) {
      this.model.toggle(item.id, index, this.focusedId());
      grid.select(index);
    } else {
      grid.select(index);
      this.model.collapse(index);
    }
    this.touched();
  }

  /** Keyboard moves: a plain move collapses the selection, Shift extends it from the anchor. */
  move(how: GridMove, extend = false): void {
    const grid = app.grid;
    const from = grid.selectedIndex;
    grid.move(how);
    if (extend) {
      const anchor = this.model.anchor >= 0 ? this.model.anchor : Math.max(0, from);
      this.model.anchor = anchor;
      void this.selectIndices(indexRange(anchor, grid.selectedIndex), false);
    } else {
      this.model.collapse(grid.selectedIndex);
      this.touched();
    }
  }

  /** Selects item indices (a range, a rubber band), whether or not their pages are loaded. */
  async selectIndices(indices: number[], additive: boolean): Promise<void> {
    const grid = app.grid;
    const query = grid.query;
    try {
      const ids = await idsAt(
        indices,
        (i) => grid.itemAt(i)?.id,
        async () => (await api['images:ids']({ filter: query.filter, sort: query.sort, desc: query.desc })).ids,
      );
      if (grid.query !== query) return; // the view changed meanwhile
      this.model.setRange(ids, additive);
      this.touched();
    } catch (e) {
      this.fail(e);
    }
  }

  async selectAll(): Promise<void> {
    const q = app.grid.query;
    try {
      const { ids } = await api['images:ids']({ filter: q.filter, sort: q.sort, desc: q.desc });
      if (app.grid.query !== q) return;
      this.model.setAll(ids);
      this.touched();
    } catch (e) {
      this.fail(e);
    }
  }

  // ---------- edits ----------

  /** Labels the selection (or the focused image) with a class, or clears it (null). */
  applyClass(classId: number | null): void {
    const ids = this.targets();
    if (ids.length === 0) return;
    const cls = classId === null ? null : app.classes.find((c) => c.id === classId);
    if (cls === undefined) return;
    const single = ids.length === 1 && this.model.size === 0;
    const what = cls ? `Label ${formatCount(ids.length)} image${ids.length > 1 ? 's' : ''} as “${cls.name}”` : `Clear the label of ${formatCount(ids.length)} images`;
    this.guard(ids.length, what, () => {
      this.write(ids, { classId }, (list) => api['labels:set']({ imageIds: list, classId }), !single);
      if (single && this.autoAdvance) this.advance();
      else if (!single) this.toast(cls ? `Labeled ${formatCount(ids.length)} as ${cls.name}` : `Cleared ${formatCount(ids.length)} labels`);
    });
  }

  /** Toggles a flag: on for all unless all have it already. */
  toggleFlag(flag: 'unsure' | 'excluded'): void {
    const ids = this.targets();
    if (ids.length === 0) return;
    const items = this.loadedItems(ids);
    const value = nextFlagValue(items, flag);
    this.setFlag(ids, flag, value);
  }

  setFlag(ids: number[], flag: 'unsure' | 'excluded', value: boolean): void {
    const word = flag === 'unsure' ? (value ? 'Mark unsure' : 'Clear unsure') : value ? 'Exclude from training' : 'Include in training';
    this.guard(ids.length, `${word}: ${formatCount(ids.length)} images`, () => {
      this.write(ids, { [flag]: value }, (list) => api['images:setFlags']({ imageIds: list, [flag]: value }), ids.length > 1);
    });
  }

  async setNote(ids: number[], note: string): Promise<boolean> {
    let ok = false;
    await this.enqueue(async () => {
      try {
        const r = await api['images:setFlags']({ imageIds: ids, note: note.trim() || null });
        this.acked(r);
        ok = true;
      } catch (e) {
        this.fail(e);
      }
    });
    return ok;
  }

  moveToSplit(split: SplitName | null): void {
    const ids = this.targets();
    if (ids.length === 0) return;
    const name = splitLabel[split ?? 'none'];
    this.guard(ids.length, `Move ${formatCount(ids.length)} images to ${name}`, () => {
      this.write(ids, { split }, (list) => api['splits:move']({ imageIds: list, split }), true);
      this.toast(`Moved ${formatCount(ids.length)} to ${name}`);
    });
  }

  undo(): void {
    void this.replay('undo');
  }

  redo(): void {
    void this.replay('redo');
  }

  private async replay(which: 'undo' | 'redo'): Promise<void> {
    await this.enqueue(async () => {
      const label = which === 'undo' ? this.edit.undoLabel : this.edit.redoLabel;
      try {
        const r = await api[which === 'undo' ? 'labels:undo' : 'labels:redo']({});
        this.acked(r);
        if (r.changed === 0 && !label) this.toast(which === 'undo' ? 'Nothing to undo' : 'Nothing to redo');
        else this.toast(`${which === 'undo' ? 'Undid' : 'Redid'}: ${label ?? 'last change'}`);
        // What changed is not known here: reload now.
        this.reconcileNow();
      } catch (e) {
        this.fail(e);
      }
    });
  }

  /** Asks before touching more than CONFIRM_OVER images. */
  private guard(count: number, what: string, run: () => void): void {
    if (count > CONFIRM_OVER) this.confirm = { count, what, run };
    else run();
  }

  answer(yes: boolean): void {
    const c = this.confirm;
    this.confirm = null;
    if (yes && c) c.run();
  }

  private loadedItems(ids: readonly number[]): ImageSummary[] {
    const want = new Set(ids);
    const seen = new Map<number, ImageSummary>();
    // The focused image is the common case: no scan.
    const sel = app.grid.selected;
    if (ids.length === 1 && sel && sel.id === ids[0]) return [sel];
    for (const item of app.grid.cache.loaded()) if (want.has(item.id) && !seen.has(item.id)) seen.set(item.id, item);
    return [...seen.values()];
  }

  /**
   * An edit shown at once and written in the background, in order. `inexact` (or images whose old values the
   * grid does not have) means the counts come from the server afterwards rather than from the deltas.
   */
  private write(ids: number[], patch: EditPatch, send: (ids: number[]) => Promise<EditResult>, inexact: boolean): void {
    const items = this.loadedItems(ids);
    const leavesView = this.viewDependsOn(patch);
    const exact = !inexact && items.length === ids.length && !leavesView;
    const deltas = countDeltas(items, patch);
    if (exact) this.expectedQuiet++;
    this.inFlight++;
    app.countGuard.editShown();
    // Queued before the edit is shown: the send then runs in a microtask ahead of Svelte's render of the change,
    // so the server works on it while the page paints.
    void this.enqueue(async () => {
      try {
        performance.mark('loupe:edit-sent');
        // Answered before the reconcile below reads the counts, which it may only do once the write is in.
        const r = await send(ids).finally(() => app.countGuard.editAnswered());
        performance.mark('loupe:edit-saved');
        app.grid.settle(ids);
        this.acked(r);
        // A bulk edit is waited for: its counts now. A single one that changes the view (a labeled image leaving
        // the Unlabeled view) waits for a pause in the typing, so a burst of keys is not a burst of reloads.
        if (!exact) {
          if (ids.length > 1) this.reconcileNow();
          else {
            if (leavesView) this.leaving = ids[0]!;
            this.scheduleReconcile();
          }
        }
      } catch (e) {
        app.grid.settle(ids);
        if (exact) this.expectedQuiet = Math.max(0, this.expectedQuiet - 1);
        this.fail(e);
        // Nothing changed on the server: show what it has.
        this.reconcileNow();
      } finally {
        this.inFlight--;
      }
    });
    this.applyDeltas(deltas);
    app.grid.patchItems(ids, patch);
    performance.mark('loupe:edit-shown');
  }

  /** Whether the grid's current filter selects by what this edit changes (the image may leave the view). */
  private viewDependsOn(patch: EditPatch): boolean {
    const f = app.grid.query.filter;
    if (patch.classId !== undefined && (f.classId !== undefined || f.unlabeled)) return true;
    if (patch.split !== undefined && f.split !== undefined) return true;
    if (patch.unsure !== undefined && f.unsure) return true;
    if (patch.excluded !== undefined && f.excluded) return true;
    return false;
  }

  private applyDeltas(d: CountDeltas): void {
    if (d.changed === 0) return;
    const counts = app.counts;
    for (const [classId, by] of d.classes) {
      if (classId === null) counts.unlabeled += by;
      else {
        const c = app.classes.find((x) => x.id === classId);
        if (c) c.count += by;
      }
    }
    for (const k of ['train', 'val', 'test', 'unassigned'] as const) counts.splits[k] += d.splits[k];
    counts.unsure += d.unsure;
    counts.excluded += d.excluded;
  }

  private acked(r: EditResult): void {
    this.edit = r.edit;
    this.changes++;
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    const next = this.writes.then(task, task);
    this.writes = next.catch(() => {});
    return next;
  }

  private advance(): void {
    const grid = app.grid;
    if (grid.selectedIndex < grid.total - 1) this.move('right');
  }

  // ---------- reconciling with the server ----------

  /** project:changed for labels, classes or splits (ours or anyone's). */
  private onChanged(reason: ChangeReason): void {
    if (reason === 'labels' && this.expectedQuiet > 0) {
      this.expectedQuiet--;
      return;
    }
    this.scheduleReconcile(reason === 'classes');
  }

  private scheduleReconcile(soon = false): void {
    const now = Date.now();
    if (!this.reconcileTimer) this.reconcileFirstAt = now;
    clearTimeout(this.reconcileTimer);
    const wait = soon ? 0 : Math.min(RECONCILE_QUIET_MS, Math.max(0, this.reconcileFirstAt + RECONCILE_MAX_WAIT_MS - now));
    this.reconcileTimer = setTimeout(() => {
      this.reconcileTimer = undefined;
      // Writes still on their way will bring their own event: wait for a quiet moment.
      if (this.inFlight > 0) this.scheduleReconcile();
      else if (this.holding()) this.holdReconcile();
      else void this.reconcile();
    }, wait);
  }

  /** Whether the cursor is still on the image its own edit takes out of the view (see `leaving`). */
  private holding(): boolean {
    if (this.leaving === null) return false;
    if (this.focusedId() === this.leaving) return true;
    this.leaving = null;
    return false;
  }

  /** Looks again after a quiet interval; no query is made while the cursor stays. */
  private holdReconcile(): void {
    this.reconcileFirstAt = Date.now();
    this.reconcileTimer = setTimeout(() => {
      this.reconcileTimer = undefined;
      this.scheduleReconcile();
    }, RECONCILE_QUIET_MS);
  }

  reconcileNow(): void {
    this.leaving = null;
    clearTimeout(this.reconcileTimer);
    this.reconcileTimer = undefined;
    void this.reconcile();
  }

  /** The visible pages and the counts an edit can change; not the duplicate/error scans of an import. */
  private async reconcile(): Promise<void> {
    if (!app.project) return;
    app.grid.refresh();
    this.changes++;
    try {
      const [edit] = await Promise.all([api['edits:state']({}), app.refreshLabelCounts()]);
      this.edit = edit;
    } catch (e) {
      this.fail(e);
    }
  }

  async loadEditState(): Promise<void> {
    try {
      this.edit = await api['edits:state']({});
    } catch {
      // No project yet: nothing to undo.
    }
    setTimeout(() => {
      // Read late: the first storage access is a slow synchronous round trip on a busy machine (see api.ts).
      this.autoAdvance = localStorage.getItem(AUTO_ADVANCE_KEY) !== 'off';
    }, 2000);
  }

  setAutoAdvance(on: boolean): void {
    this.autoAdvance = on;
    localStorage.setItem(AUTO_ADVANCE_KEY, on ? 'on' : 'off');
  }

  // ---------- keys, modes, toasts ----------

  /** A labeling dialog opens: keys stop labeling and toasts move to the top. Returns what its close calls. */
  enterDialog(): () => void {
    this.modal++;
    this.dialogs++;
    return () => {
      this.modal--;
      this.dialogs--;
    };
  }

  toggleMode(): void {
    if (this.mode === 'grid' && app.grid.selectedIndex < 0 && app.grid.total > 0) app.grid.select(0);
    this.mode = this.mode === 'grid' ? 'focus' : 'grid';
  }

  /** The window's keydown (lib/label-keys.ts). */
  onKey(e: KeyboardEvent): void {
    handleLabelKey(this, e);
  }

  toast(text: string, kind: Toast['kind'] = 'info'): void {
    const id = ++this.toastSeq;
    this.toasts = [...this.toasts.slice(-2), { id, text, kind }];
    setTimeout(() => (this.toasts = this.toasts.filter((t) => t.id !== id)), kind === 'error' ? TOAST_MS * 2 : TOAST_MS);
  }

  fail(e: unknown): void {
    this.toast(e instanceof Error ? e.message : String(e), 'error');
  }
}

export const labeling = new LabelingState();
