/**
 * Reactive glue between the layout model (grid-layout.ts), the page cache (page-cache.ts) and the Grid
 * component: scroll position, viewport size, total, selection. Only primitive values cross into the derived
 * chain, so a scroll event that stays within the same rows re-renders nothing.
 */
import { LoupeError } from '../../shared/errors.ts';
import type { ImageFilter, ImageSummary, SortKey } from '../../shared/contract.ts';
import { GridLayout, type CellRect, type GridMove } from './grid-layout.ts';
import { PageCache, type PageFetcher } from './page-cache.ts';

export interface GridQuery {
  filter: ImageFilter;
  sort: SortKey;
  desc: boolean;
}

export interface GridCell {
  index: number;
  rect: CellRect;
  item: ImageSummary | undefined;
  /** In the viewport itself (not just the overscan) when the cell was laid out: its thumbnail goes first. */
  urgent: boolean;
}

/**
 * Above this speed the user is flinging or dragging the scrollbar, not looking: thumbnails wait until the
 * scroll slows, as photo apps do. Decoding and rasterizing hundreds of thumbnails that are on screen for a
 * few frames is what costs frames on a small machine (bench/grid.ts measures both kinds of scroll).
 */
const FAST_SCROLL_PX_PER_S = 1500;
const SETTLE_MS = 120;

export class GridState {
  scrollTop = $state(0);
  /** The same value, not reactive: read where a dependency on every scroll event would cost frames. */
  private scrollTopNow = 0;
  /** True while scrolling fast (see FAST_SCROLL_PX_PER_S); cells hold back thumbnails not yet loaded. */
  fast = $state(false);
  /** Thumbnails already loaded once: they stay on screen even while scrolling fast (the memory cache has them). */
  readonly seen = new Set<number>();
  private lastScrollAt = 0;
  private settleTimer: ReturnType<typeof setTimeout> | undefined;
  width = $state(0);
  height = $state(0);
  total = $state(0);
  /** False until the first page of the current query arrived (shows "Loading…" rather than "No images"). */
  loaded = $state(false);
  selectedIndex = $state(-1);
  /** Bumped when pages land; the cells read it to pick up new items. */
  private version = $state(0);
  query = $state.raw<GridQuery>({ filter: {}, sort: 'name', desc: false });
  /** Bumped by reset(): the Grid component scrolls to the top. */
  resetCount = $state(0);
  error = $state<string | null>(null);

  readonly cache: PageCache<ImageSummary>;
  /** The image the cursor is on, so it stays on it when a refresh moves it to another index (see onChange). */
  private focusId: number | null = null;
  /**
   * Edits shown before the server confirmed them (labeling.svelte.ts), by image id: re-applied to pages that
   * land meanwhile, so a page fetched before the write cannot flash the old value back.
   */
  private readonly pending = new Map<number, Partial<ImageSummary>>();

  layout = $derived.by(() => {
    const l = new GridLayout();
    l.setViewport(this.width, this.height);
    l.setCount(this.total);
    return l;
  });
  private range = $derived(this.layout.visibleRange(this.scrollTop));
  private firstIndex = $derived(this.range.firstIndex);
  private endIndex = $derived(this.range.endIndex);
  /** Pages the viewport needs, as a string so the effect re-runs only when the set changes. */
  private pageKey = $derived.by(() => {
    const pages = this.layout.pagesFor({ firstIndex: this.firstIndex, endIndex: this.endIndex });
    // Nothing known yet (or an empty result): ask for page 0, which also brings the total.
    return (pages.length ? pages : [0]).join(',');
  });

  /**
   * The cells last handed to the Grid, by index. A cell whose item and geometry did not change is handed over
   * as the same object, so the keyed {#each} re-renders nothing for it: scrolling one row (what auto-advance
   * does every few keys) then builds one row of cells instead of re-running every visible cell's bindings.
   */
  private cellCache = new Map<number, GridCell>();
  private cellCacheLayout: GridLayout | null = null;

  cells = $derived.by((): GridCell[] => {
    void this.version;
    const layout = this.layout;
    if (this.cellCacheLayout !== layout) {
      this.cellCache = new Map();
      this.cellCacheLayout = layout;
    }
    const out: GridCell[] = [];
    const kept = new Map<number, GridCell>();
    const top = this.scrollTopNow;
    const bottom = top + this.height;
    for (let i = this.firstIndex; i < this.endIndex; i++) {
      const item = this.cache.get(i);
      let cell = this.cellCache.get(i);
      if (!cell || cell.item !== item) {
        const rect = layout.cellRect(i);
        cell = { index: i, rect, item, urgent: rect.y < bottom && rect.y + rect.height > top };
      }
      kept.set(i, cell);
      out.push(cell);
    }
    this.cellCache = kept;
    return out;
  });

  selected = $derived.by((): ImageSummary | undefined => {
    void this.version;
    return this.selectedIndex >= 0 ? this.cache.get(this.selectedIndex) : undefined;
  });

  constructor(fetcher: PageFetcher<ImageSummary>) {
    this.cache = new PageCache<ImageSummary>({
      fetcher,
      pageSize: new GridLayout().options.pageSize,
      onChange: () => {
        if (!this.loaded) performance.mark('loupe:first-page');
        this.total = this.cache.total ?? 0;
        this.loaded = true;
        this.error = null;
        if (this.pending.size) this.cache.patch((item) => this.withPending(item));
        this.followFocus();
        if (this.selectedIndex >= this.total) this.selectedIndex = this.total - 1;
        this.version++;
      },
      onError: (e) => {
        // No project (the start screen) is not an error of the grid: it is not even shown.
        if (e instanceof LoupeError && e.code === 'NO_PROJECT') return;
        this.error = e instanceof Error ? e.message : String(e);
      },
    });
  }

  /**
   * Resolves once the first screen is shown (first page landed and the thumbnails in the viewport loaded),
   * or after `timeoutMs`: the moment heavier, less urgent queries may start.
   */
  whenFirstScreen(timeoutMs: number): Promise<void> {
    const shown = (): boolean => {
      if (!this.loaded) return false;
      if (this.total === 0) return true;
      // Before the Grid is mounted and measured there are no cells yet: not shown.
      if (this.width === 0) return false;
      const wanted = this.cells.filter((c) => c.urgent && c.item?.status === 'ok' && c.item.sha256);
      return wanted.length > 0 && wanted.every((c) => this.seen.has(c.item!.id));
    };
    return new Promise((resolve) => {
      const started = Date.now();
      const poll = () => (shown() || Date.now() - started > timeoutMs ? resolve() : setTimeout(poll, 25));
      poll();
    });
  }

  /**
   * After new pages land, keeps the cursor on the same image: a refresh after labeling in the "Unlabeled" view
   * removes images above it, and without this the cursor would silently skip ahead. When the focused image
   * left the view, the cursor stays at its index, which now holds the next image.
   */
  private followFocus(): void {
    const at = this.selectedIndex >= 0 ? this.cache.get(this.selectedIndex)?.id : undefined;
    if (this.focusId !== null && at !== this.focusId) {
      const id = this.focusId;
      const found = this.cache.findIndex((item) => item.id === id);
      if (found >= 0) {
        this.selectedIndex = found;
        return;
      }
    }
    this.focusId = at ?? null;
  }

  private withPending(item: ImageSummary): ImageSummary | undefined {
    const p = this.pending.get(item.id);
    if (!p) return undefined;
    for (const k of Object.keys(p) as (keyof ImageSummary)[]) if (item[k] !== p[k]) return { ...item, ...p };
    return undefined;
  }

  /** Shows an edit at once on every loaded cell of `ids`; it stays applied to later pages until `settle`. */
  patchItems(ids: Iterable<number>, patch: Partial<ImageSummary>): void {
    for (const id of ids) this.pending.set(id, { ...this.pending.get(id), ...patch });
    if (this.cache.patch((item) => this.withPending(item))) this.version++;
  }

  /** The server answered for these ids (confirmed or refused): pages fetched from now on are the truth. */
  settle(ids: Iterable<number>): void {
    for (const id of ids) this.pending.delete(id);
  }

  /** Called from the Grid component's effect: loads the pages the viewport needs. */
  ensurePages(): void {
    const key = this.pageKey;
    this.cache.ensure(key.split(',').map(Number));
  }

  /** A new query (filter, sort): drop everything and go back to the top. */
  reset(filter: ImageFilter, sort: SortKey, desc: boolean): void {
    this.query = { filter, sort, desc };
    this.cache.reset();
    this.seen.clear();
    this.error = null;
    this.total = 0;
    this.loaded = false;
    this.selectedIndex = -1;
    this.focusId = null;
    this.scrollTop = 0;
    this.scrollTopNow = 0;
    this.resetCount++;
    this.version++;
    this.cache.ensure([0]);
  }

  /** Same query, new data (an import landed): keep the scroll position and what is on screen. */
  refresh(): void {
    this.cache.refresh();
    this.cache.ensure(this.pageKey.split(',').map(Number));
  }

  onScroll(top: number): void {
    const now = performance.now();
    const dt = now - this.lastScrollAt;
    // A lone jump after a pause (a key, a click on the track) is not a fling: no speed without a recent event.
    const speed = dt > 0 && dt < 100 ? (Math.abs(top - this.scrollTopNow) / dt) * 1000 : 0;
    this.lastScrollAt = now;
    this.scrollTopNow = top;
    this.scrollTop = top;
    if (speed > FAST_SCROLL_PX_PER_S) {
      if (!this.fast) this.fast = true;
      clearTimeout(this.settleTimer);
      this.settleTimer = setTimeout(() => (this.fast = false), SETTLE_MS);
    }
  }

  setViewport(width: number, height: number): void {
    this.width = width;
    this.height = height;
  }

  select(index: number): void {
    if (this.total === 0) return;
    this.selectedIndex = Math.min(Math.max(index, 0), this.total - 1);
    this.focusId = this.cache.get(this.selectedIndex)?.id ?? null;
  }

  /** No image under the cursor (Escape). */
  clearFocus(): void {
    this.selectedIndex = -1;
    this.focusId = null;
  }

  /** Moves the selection by a key; returns the scrollTop that keeps it in view. */
  move(how: GridMove): number {
    const from = this.selectedIndex < 0 ? (how === 'end' ? this.total - 1 : 0) : this.selectedIndex;
    const next = this.selectedIndex < 0 && how !== 'end' ? 0 : this.layout.move(from, how);
    if (next >= 0) this.selectedIndex = next;
    this.focusId = this.cache.get(this.selectedIndex)?.id ?? null;
    return this.layout.scrollToReveal(this.selectedIndex, this.scrollTop);
  }

  /** The item at an index if its page is loaded (the viewer's previous/next). */
  itemAt(index: number): ImageSummary | undefined {
    void this.version;
    return this.cache.get(index);
  }
}
