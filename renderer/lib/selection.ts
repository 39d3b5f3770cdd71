/**
 * The grid's multi-selection, by image id (never by DOM node: the grid is virtualized and most cells do not
 * exist). Plain TS with no Svelte, so it is unit-tested directly; labeling.svelte.ts wraps it reactively.
 *
 * Model (as in file managers): a focused index (the grid's cursor, GridState.selectedIndex) and a set of
 * selected ids. An empty set means "the focused image is the selection", so plain clicks and arrow keys cost
 * nothing; ctrl/cmd-click, shift-click, shift-arrows, rubber-band and select-all fill the set.
 */
import type { GridLayout } from './grid-layout.ts';

export class SelectionModel {
  private readonly selected = new Set<number>();
  /** Where shift-ranges start: the index of the last plain or ctrl click (or the focus when none). */
  anchor = -1;
  /** Bumped on every change: the reactive wrapper reads it. */
  version = 0;

  get size(): number {
    return this.selected.size;
  }

  has(id: number): boolean {
    return this.selected.has(id);
  }

  ids(): number[] {
    return [...this.selected];
  }

  /** A plain click or an arrow key: back to focus-only. */
  collapse(anchor: number): void {
    this.anchor = anchor;
    if (this.selected.size) this.selected.clear();
    this.version++;
  }

  /**
   * Ctrl/cmd-click. The first toggle keeps the image that was focused before (the user sees it selected, so it
   * stays selected), as file managers do.
   */
  toggle(id: number, index: number, focusedId: number | null): void {
    if (this.selected.size === 0 && focusedId !== null && focusedId !== id) this.selected.add(focusedId);
    if (this.selected.has(id)) this.selected.delete(id);
    else this.selected.add(id);
    this.anchor = index;
    this.version++;
  }

  /** Shift-click / shift-arrow (replaces the set), or ctrl+shift (adds to it). The anchor stays. */
  setRange(ids: readonly number[], additive: boolean): void {
    if (!additive) this.selected.clear();
    for (const id of ids) this.selected.add(id);
    this.version++;
  }

  /** Select-all in the current filter. */
  setAll(ids: readonly number[]): void {
    this.selected.clear();
    for (const id of ids) this.selected.add(id);
    this.version++;
  }

  clear(): void {
    if (this.selected.size === 0) return;
    this.selected.clear();
    this.version++;
  }

  /**
   * The images an action applies to: the selected set, else the focused image, else nothing. Resolving
   * `focusedId` is the caller's (the focused page may not be loaded yet).
   */
  targets(focusedId: number | null): number[] {
    if (this.selected.size) return this.ids();
    return focusedId === null ? [] : [focusedId];
  }
}

/** Indices from `a` to `b`, both included, in either order. */
export function indexRange(a: number, b: number): number[] {
  const lo = Math.max(0, Math.min(a, b));
  const hi = Math.max(a, b);
  const out: number[] = [];
  for (let i = lo; i <= hi; i++) out.push(i);
  return out;
}

export interface Band {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/**
 * The items a rubber band (in content coordinates) touches: every cell whose rectangle intersects it. Pure
 * arithmetic on the layout model, so it covers rows that were never rendered (a band dragged while scrolling).
 */
export function bandIndices(layout: GridLayout, band: Band): number[] {
  const n = layout.count;
  if (n === 0) return [];
  const { padding, gap } = layout.options;
  const left = Math.min(band.x0, band.x1);
  const right = Math.max(band.x0, band.x1);
  const top = Math.min(band.y0, band.y1);
  const bottom = Math.max(band.y0, band.y1);
  const w = layout.cellWidth;
  const cols = layout.columns;
  const rowH = layout.rowHeight;
  // First column/row whose far edge is right of/below the band's near edge; last whose near edge is before its far edge.
  const c0 = Math.max(0, Math.ceil((left - padding - w) / (w + gap)));
  const c1 = Math.min(cols - 1, Math.floor((right - padding) / (w + gap)));
  const r0 = Math.max(0, Math.ceil((top - padding - layout.cellHeight) / rowH));
  const r1 = Math.min(layout.rows - 1, Math.floor((bottom - padding) / rowH));
  const out: number[] = [];
  for (let r = r0; r <= r1; r++) {
    for (let c = c0; c <= c1; c++) {
      const i = r * cols + c;
      if (i < n) out.push(i);
    }
  }
  return out;
}

/**
 * Ids for item indices: from the loaded pages when they are all there, otherwise from one `images:ids` call for
 * the whole query (the order is the grid's), sliced. `fetchAll` is only called when needed.
 */
export async function idsAt(
  indices: readonly number[],
  loaded: (index: number) => number | undefined,
  fetchAll: () => Promise<number[]>,
): Promise<number[]> {
  const out: number[] = [];
  for (const i of indices) {
    const id = loaded(i);
    if (id === undefined) {
      const all = await fetchAll();
      return indices.map((j) => all[j]).filter((v): v is number => v !== undefined);
    }
    out.push(id);
  }
  return out;
}
