// The grid's layout model as a plain class: columns, exact heights, visible ranges with overscan, pages
// needed, keyboard moves and scroll-to-reveal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GridLayout } from '../../renderer/lib/grid-layout.ts';

// Numbers chosen to check by hand: in 440 px, 5 px padding each side, 10 px gaps -> 4 columns of 100 px.
const opts = { minCellWidth: 100, captionHeight: 20, gap: 10, padding: 5, overscan: 500, pageSize: 50 };

function layout(width: number, height: number, count: number): GridLayout {
  const l = new GridLayout(opts);
  l.setViewport(width, height);
  l.setCount(count);
  return l;
}

test('columns follow the width and the cells stretch to fill the row', () => {
  // inner = 440 - 10 = 430; (430 + 10) / 110 = 4 columns; cell = (430 - 30) / 4 = 100
  const l = layout(440, 600, 1000);
  assert.equal(l.columns, 4);
  assert.equal(l.cellWidth, 100);
  // 20 px wider: still 4 columns, cells widen by 5 px each
  const wider = layout(460, 600, 1000);
  assert.equal(wider.columns, 4);
  assert.equal(wider.cellWidth, 105);
  // a whole extra cell fits
  assert.equal(layout(550, 600, 1000).columns, 5);
  // narrower than one cell: still one column, never zero
  assert.equal(layout(50, 600, 10).columns, 1);
  assert.equal(layout(0, 0, 10).columns, 1);
});

test('total height is exact: rows * rowHeight, with padding, and zero for no items', () => {
  const l = layout(440, 600, 1001); // 4 cols -> 251 rows
  assert.equal(l.rows, 251);
  assert.equal(l.rowHeight, 130); // 100 thumb + 20 caption + 10 gap
  assert.equal(l.totalHeight, 251 * 130 - 10 + 2 * 5);
  assert.equal(layout(440, 600, 0).totalHeight, 0);
  assert.equal(layout(440, 600, 4).rows, 1);
  assert.equal(layout(440, 600, 5).rows, 2);
});

test('the visible range covers the viewport plus the overscan, clamped to the items', () => {
  const l = layout(440, 600, 100_000);
  const top = l.visibleRange(0);
  assert.equal(top.firstRow, 0);
  // (0 + 600 + 500 - 5) / 130 -> 9 rows (ceil 8.42)
  assert.equal(top.endRow, 9);
  assert.equal(top.firstIndex, 0);
  assert.equal(top.endIndex, 36);

  const mid = l.visibleRange(13_000); // row 100 at the top of the viewport
  assert.equal(mid.firstRow, Math.floor((13_000 - 500 - 5) / 130));
  assert.equal(mid.endRow, Math.ceil((13_000 + 600 + 500 - 5) / 130));
  assert.equal(mid.firstIndex, mid.firstRow * 4);
  // every cell intersecting the viewport is inside the range
  for (let i = 400; i < 400 + 4 * 5; i++) {
    assert.ok(i >= mid.firstIndex && i < mid.endIndex, `index ${i} in range`);
  }
  // the rendered count is bounded by the viewport, not by the number of items
  assert.ok(mid.endIndex - mid.firstIndex <= 4 * 14);

  const end = l.visibleRange(l.maxScrollTop);
  assert.equal(end.endIndex, 100_000);
  assert.equal(end.endRow, l.rows);
  // scrolled past the end (elastic scrolling): still a valid non-empty range at the end
  const past = l.visibleRange(l.totalHeight + 10_000);
  assert.equal(past.endIndex, 100_000);
  assert.ok(past.firstIndex < past.endIndex);
  assert.deepEqual(layout(440, 600, 0).visibleRange(0), { firstRow: 0, endRow: 0, firstIndex: 0, endIndex: 0 });
});

test('pages needed are those overlapping the visible indices', () => {
  const l = layout(440, 600, 100_000);
  assert.deepEqual(l.pagesFor({ firstIndex: 0, endIndex: 36 }), [0]);
  assert.deepEqual(l.pagesFor({ firstIndex: 0, endIndex: 50 }), [0]);
  assert.deepEqual(l.pagesFor({ firstIndex: 0, endIndex: 51 }), [0, 1]);
  assert.deepEqual(l.pagesFor({ firstIndex: 149, endIndex: 201 }), [2, 3, 4]);
  assert.deepEqual(l.pagesFor({ firstIndex: 10, endIndex: 10 }), []);
  const mid = l.visibleRange(13_000);
  const pages = l.pagesFor(mid);
  assert.equal(pages[0], Math.floor(mid.firstIndex / 50));
  assert.equal(pages[pages.length - 1], Math.floor((mid.endIndex - 1) / 50));
});

test('cell rectangles and hit testing agree', () => {
  const l = layout(440, 600, 10);
  assert.deepEqual(l.cellRect(0), { x: 5, y: 5, width: 100, height: 120 });
  assert.deepEqual(l.cellRect(5), { x: 5 + 110, y: 5 + 130, width: 100, height: 120 });
  assert.equal(l.indexAt(5 + 110 + 50, 5 + 130 + 50), 5);
  assert.equal(l.indexAt(5 + 105, 50), null, 'the gap between cells');
  assert.equal(l.indexAt(5 + 3 * 110 + 10, 5 + 2 * 130 + 10), null, 'past the last item');
  assert.equal(l.indexAt(-1, 10), null);
});

test('keyboard moves stay within the items and keep the column where they can', () => {
  const l = layout(440, 600, 10); // 4 columns, rows: 0-3, 4-7, 8-9
  assert.equal(l.move(0, 'left'), 0);
  assert.equal(l.move(0, 'right'), 1);
  assert.equal(l.move(3, 'right'), 4, 'right wraps to the next row');
  assert.equal(l.move(9, 'right'), 9);
  assert.equal(l.move(5, 'down'), 9);
  assert.equal(l.move(6, 'down'), 9, 'into a shorter last row: the last item');
  assert.equal(l.move(9, 'down'), 9);
  assert.equal(l.move(9, 'up'), 5);
  assert.equal(l.move(2, 'up'), 2);
  assert.equal(l.move(5, 'home'), 0);
  assert.equal(l.move(0, 'end'), 9);
  assert.equal(new GridLayout(opts).move(0, 'down'), -1, 'no items: no selection');

  const big = layout(440, 600, 1000); // 4 rows per page of 600 px
  assert.equal(big.rowsPerPage, 4);
  assert.equal(big.move(1, 'pageDown'), 17);
  assert.equal(big.move(17, 'pageUp'), 1);
  assert.equal(big.move(5, 'pageUp'), 1, 'page up near the top: same column, first row');
  assert.equal(big.move(990, 'pageDown'), 999);
});

test('scrollToReveal moves the least needed and never past the ends', () => {
  const l = layout(440, 600, 1000);
  assert.equal(l.scrollToReveal(0, 0), 0);
  assert.equal(l.scrollToReveal(8, 0), 0, 'already visible');
  // row 10 at y = 5 + 1300; its bottom 5 + 1300 + 120 (+5 padding) must reach the viewport's bottom
  assert.equal(l.scrollToReveal(40, 0), 5 + 1300 + 120 + 5 - 600);
  // going back up aligns the row's top
  assert.equal(l.scrollToReveal(0, 5000), 0);
  assert.equal(l.scrollToReveal(80, 5000), 5 + 20 * 130 - 5);
  assert.equal(l.scrollToReveal(999, 0), l.maxScrollTop);
  assert.equal(l.scrollToReveal(-1, 123), 123);
});

test('setViewport reports whether the geometry changed', () => {
  const l = new GridLayout(opts);
  assert.equal(l.setViewport(440, 600), true);
  assert.equal(l.setViewport(440.4, 600.2), false);
  assert.equal(l.setViewport(441, 600), true);
});
