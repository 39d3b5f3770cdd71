/**
 * Pages of a long list fetched on demand (the grid's `images:query` pages). Plain TS, no Svelte, so it is
 * unit-tested directly. Pages that scroll out while in flight are aborted and their replies ignored; a
 * `refresh` keeps the old pages on screen until the new ones land, so the grid does not flash on updates.
 */

export interface PageResult<T> {
  total: number;
  items: T[];
}

export type PageFetcher<T> = (offset: number, limit: number, signal: AbortSignal) => Promise<PageResult<T>>;

interface Loaded<T> {
  items: T[];
  generation: number;
}

export class PageCache<T> {
  readonly pageSize: number;
  /** Pages kept beyond those wanted, most recently wanted first, so scrolling back is instant. */
  readonly keepPages: number;
  private readonly fetcher: PageFetcher<T>;
  private readonly onChange: () => void;
  private readonly onError: (e: unknown) => void;
  private pages = new Map<number, Loaded<T>>();
  private inFlight = new Map<number, { controller: AbortController; generation: number }>();
  private recent: number[] = [];
  private generation = 0;
  private knownTotal: number | null = null;

  constructor(opts: {
    fetcher: PageFetcher<T>;
    pageSize: number;
    onChange: () => void;
    onError?: (e: unknown) => void;
    keepPages?: number;
  }) {
    this.fetcher = opts.fetcher;
    this.pageSize = opts.pageSize;
    this.onChange = opts.onChange;
    this.onError = opts.onError ?? (() => {});
    this.keepPages = opts.keepPages ?? 20;
  }

  /** The total from the latest reply, or null before the first one. */
  get total(): number | null {
    return this.knownTotal;
  }

  get(index: number): T | undefined {
    const page = this.pages.get(Math.floor(index / this.pageSize));
    return page?.items[index % this.pageSize];
  }

  /**
   * Rewrites loaded items in place (an optimistic edit: a label shown before the server confirms it). `fn`
   * returns the replacement, or undefined to keep the item. Returns whether anything changed; no onChange.
   */
  patch(fn: (item: T) => T | undefined): boolean {
    let changed = false;
    for (const page of this.pages.values()) {
      for (let i = 0; i < page.items.length; i++) {
        const next = fn(page.items[i]!);
        if (next !== undefined) {
          page.items[i] = next;
          changed = true;
        }
      }
    }
    return changed;
  }

  /** Every loaded item (stale pages included), for edits that need the old values of many images. */
  *loaded(): IterableIterator<T> {
    for (const page of this.pages.values()) yield* page.items;
  }

  /** The index of the first loaded item that matches, or -1 (only loaded pages are searched). */
  findIndex(pred: (item: T) => boolean): number {
    for (const [p, page] of this.pages) {
      const i = page.items.findIndex(pred);
      if (i >= 0) return p * this.pageSize + i;
    }
    return -1;
  }

  /** Whether a page of the current generation is loaded (stale pages still render, but are refetched). */
  isFresh(page: number): boolean {
    return this.pages.get(page)?.generation === this.generation;
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /** Fetches the wanted pages that are missing or stale; aborts in-flight pages no longer wanted. */
  ensure(wanted: number[]): void {
    const want = new Set(wanted);
    for (const [page, f] of this.inFlight) {
      if (!want.has(page)) {
        f.controller.abort();
        this.inFlight.delete(page);
      }
    }
    for (const page of wanted) {
      this.recent = [page, ...this.recent.filter((p) => p !== page)];
      if (this.isFresh(page)) continue;
      const pending = this.inFlight.get(page);
      if (pending && pending.generation === this.generation) continue;
      pending?.controller.abort();
      this.load(page);
    }
    this.evict(want);
  }

  /**
   * Marks every page stale (the data changed: new images imported). Loaded pages stay visible until the
   * next `ensure` replaces them, which is what keeps the grid steady during an import.
   */
  refresh(): void {
    this.generation++;
    for (const f of this.inFlight.values()) f.controller.abort();
    this.inFlight.clear();
  }

  /** Drops everything (the query changed: another filter or sort). */
  reset(): void {
    this.refresh();
    this.pages.clear();
    this.recent = [];
    this.knownTotal = null;
  }

  private load(page: number): void {
    const controller = new AbortController();
    const generation = this.generation;
    this.inFlight.set(page, { controller, generation });
    this.fetcher(page * this.pageSize, this.pageSize, controller.signal).then(
      (result) => {
        if (controller.signal.aborted || generation !== this.generation) return;
        this.inFlight.delete(page);
        this.pages.set(page, { items: result.items, generation });
        this.knownTotal = result.total;
        // Pages beyond a shrunken total hold rows that no longer exist.
        for (const p of [...this.pages.keys()]) if (p * this.pageSize >= result.total && p !== page) this.pages.delete(p);
        this.onChange();
      },
      (e: unknown) => {
        if (controller.signal.aborted || generation !== this.generation) return;
        this.inFlight.delete(page);
        this.onError(e);
      },
    );
  }

  private evict(wanted: Set<number>): void {
    if (this.pages.size <= wanted.size + this.keepPages) return;
    const keep = new Set(wanted);
    for (const p of this.recent) {
      if (keep.size >= wanted.size + this.keepPages) break;
      keep.add(p);
    }
    for (const p of [...this.pages.keys()]) if (!keep.has(p)) this.pages.delete(p);
    this.recent = this.recent.filter((p) => keep.has(p));
  }
}
