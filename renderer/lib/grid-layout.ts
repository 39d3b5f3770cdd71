/**
 * The thumbnail grid's layout model (Immich style): pure arithmetic over the item count and the viewport, no
 * DOM. Cells have a fixed height per width, so the height of rows never loaded is exact
 * (`rows * rowHeight`), the scrollbar never jumps, and only the rows within `overscan` px of the viewport are
 * rendered. Which pages of `images:query` are needed follows from the visible index range.
 */

export interface GridLayoutOptions {
  /** Smallest cell width; the real width stretches so the columns fill the row. */
  minCellWidth: number;
  /** Height under the thumbnail for the file name. */
  captionHeight: number;
  gap: number;
  padding: number;
  /** Pixels rendered above and below the viewport. */
  overscan: number;
  /** Items per `images:query` page. */
  pageSize: number;
}

export const defaultGridOptions: GridLayoutOptions = {
  minCellWidth: 132,
  captionHeight: 20,
  gap: 6,
  padding: 8,
  overscan: 500,
  pageSize: 200,
};

export interface VisibleRange {
  firstRow: number;
  /** Exclusive. */
  endRow: number;
  firstIndex: number;
  /** Exclusive. */
  endIndex: number;
}

export interface CellRect {
  x: number;
  y: number;
  width: number;
  height: number;
}

export type GridMove = 'left' | 'right' | 'up' | 'down' | 'pageUp' | 'pageDown' | 'home' | 'end';

export class GridLayout {
  readonly options: GridLayoutOptions;
  private width = 0;
  private viewportHeight = 0;
  private itemCount = 0;

  constructor(options: Partial<GridLayoutOptions> = {}) {
    this.options = { ...defaultGridOptions, ...options };
  }

  /** Returns true when something that moves cells changed. */
  setViewport(width: number, height: number): boolean {
    const w = Math.max(0, Math.floor(width));
    const h = Math.max(0, Math.floor(height));
    const changed = w !== this.width || h !== this.viewportHeight;
    this.width = w;
    this.viewportHeight = h;
    return changed;
  }

  setCount(n: number): void {
    this.itemCount = Math.max(0, Math.floor(n));
  }

  get count(): number {
    return this.itemCount;
  }

  get columns(): number {
    const { minCellWidth, gap, padding } = this.options;
    const inner = this.width - 2 * padding;
    return Math.max(1, Math.floor((inner + gap) / (minCellWidth + gap)));
  }

  /** Cell width after stretching the columns over the inner width. */
  get cellWidth(): number {
    const { minCellWidth, gap, padding } = this.options;
    const cols = this.columns;
    const inner = this.width - 2 * padding - gap * (cols - 1);
    return Math.max(minCellWidth, Math.floor(inner / cols));
  }

  /** The square thumbnail plus the caption. */
  get cellHeight(): number {
    return this.cellWidth + this.options.captionHeight;
  }

  get rowHeight(): number {
    return this.cellHeight + this.options.gap;
  }

  get rows(): number {
    return Math.ceil(this.itemCount / this.columns);
  }

  /** Exact content height: `rows * rowHeight` plus the padding (the last row's gap becomes padding). */
  get totalHeight(): number {
    if (this.itemCount === 0) return 0;
    return this.rows * this.rowHeight - this.options.gap + 2 * this.options.padding;
  }

  /** Rows that fit fully in the viewport (at least one): the PageUp/PageDown step. */
  get rowsPerPage(): number {
    return Math.max(1, Math.floor(this.viewportHeight / this.rowHeight));
  }

  get maxScrollTop(): number {
    return Math.max(0, this.totalHeight - this.viewportHeight);
  }

  /** Rows and item indices within `overscan` px of the viewport at `scrollTop`. */
  visibleRange(scrollTop: number, overscan = this.options.overscan): VisibleRange {
    const rows = this.rows;
    if (rows === 0) return { firstRow: 0, endRow: 0, firstIndex: 0, endIndex: 0 };
    const top = Math.max(0, scrollTop - overscan - this.options.padding);
    const bottom = Math.max(0, scrollTop + this.viewportHeight + overscan - this.options.padding);
    const firstRow = Math.min(rows - 1, Math.floor(top / this.rowHeight));
    const endRow = Math.min(rows, Math.max(firstRow + 1, Math.ceil(bottom / this.rowHeight)));
    const cols = this.columns;
    return {
      firstRow,
      endRow,
      firstIndex: firstRow * cols,
      endIndex: Math.min(this.itemCount, endRow * cols),
    };
  }

  cellRect(index: number): CellRect {
    const cols = this.columns;
    const row = Math.floor(index / cols);
    const col = index % cols;
    const w = this.cellWidth;
    return {
      x: this.options.padding + col * (w + this.options.gap),
      y: this.options.padding + row * this.rowHeight,
      width: w,
      height: this.cellHeight,
    };
  }

  /** The item under a point in content coordinates, or null in a gap or past the end. */
  indexAt(x: number, y: number): number | null {
    const { padding, gap } = this.options;
    const w = this.cellWidth;
    const col = Math.floor((x - padding) / (w + gap));
    const row = Math.floor((y - padding) / this.rowHeight);
    if (col < 0 || col >= this.columns || row < 0) return null;
    if (x - padding - col * (w + gap) > w || y - padding - row * this.rowHeight > this.cellHeight) return null;
    const index = row * this.columns + col;
    return index < this.itemCount ? index : null;
  }

  /** Pages of `pageSize` items that overlap [firstIndex, endIndex). */
  pagesFor(range: Pick<VisibleRange, 'firstIndex' | 'endIndex'>): number[] {
    if (range.endIndex <= range.firstIndex) return [];
    const size = this.options.pageSize;
    const first = Math.floor(range.firstIndex / size);
    const last = Math.floor((range.endIndex - 1) / size);
    const pages: number[] = [];
    for (let p = first; p <= last; p++) pages.push(p);
    return pages;
  }

  /** Keyboard navigation: the index a key moves the selection to, clamped to the items. */
  move(index: number, how: GridMove): number {
    const n = this.itemCount;
    if (n === 0) return -1;
    const cols = this.columns;
    const i = Math.min(Math.max(index, 0), n - 1);
    const page = this.rowsPerPage * cols;
    let next: number;
    switch (how) {
      case 'left':
        next = i - 1;
        break;
      case 'right':
        next = i + 1;
        break;
      case 'up':
        next = i - cols;
        break;
      case 'down':
        // From the second-last row into a shorter last row, land on the last item rather than stay.
        next = i + cols < n ? i + cols : Math.floor(i / cols) < this.rows - 1 ? n - 1 : i;
        break;
      case 'pageUp':
        next = i - page;
        break;
      case 'pageDown':
        next = i + page;
        break;
      case 'home':
        next = 0;
        break;
      case 'end':
        next = n - 1;
        break;
    }
    if (how === 'up' || how === 'pageUp') next = next < 0 ? i % cols : next;
    return Math.min(Math.max(next, 0), n - 1);
  }

  /** The scrollTop that makes `index` fully visible with the least movement (unchanged if it already is). */
  scrollToReveal(index: number, scrollTop: number): number {
    if (index < 0 || index >= this.itemCount) return scrollTop;
    const r = this.cellRect(index);
    const pad = this.options.padding;
    let top = scrollTop;
    if (r.y - pad < top) top = r.y - pad;
    else if (r.y + r.height + pad > top + this.viewportHeight) top = r.y + r.height + pad - this.viewportHeight;
    return Math.min(Math.max(0, top), this.maxScrollTop);
  }
}
