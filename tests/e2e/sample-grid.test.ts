// E2E: "Open sample project" from the start screen, the job's progress in the status bar, then the grid as a
// virtualized list: only the rows near the viewport exist in the DOM, keys move the selection and scroll.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { openSession, type Session } from './support/session.ts';
import { MainPage } from './pages/main-page.ts';

let s: Session;
let page: Page;

before(async () => {
  s = await openSession({ name: 'sample', viewport: { width: 1100, height: 700 } });
  page = s.page;
});

after(() => s?.close());

test('the sample project opens from the start screen and browses as a virtualized grid', async () => {
  await page.goto(s.served.url);
  const samplePath = page.getByTestId('sample-path');
  await samplePath.waitFor();
  assert.equal(await samplePath.inputValue(), join(s.home, 'Loupe Sample'), 'defaults to ~/Loupe Sample');
  await page.getByTestId('create-sample').click();

  const main = new MainPage(page);
  await main.root.waitFor();
  // The job shows in the status bar while it runs, then ends as succeeded.
  await page.locator('[data-testid="job"][data-kind="sample"]').waitFor();
  await page.locator('[data-testid="job"][data-kind="sample"][data-state="succeeded"]').waitFor({ timeout: 120_000 });
  await main.waitForCount('all', 360);
  const classes = await main.classCounts();
  assert.equal(Object.keys(classes).length, 3);
  assert.equal(Object.values(classes).reduce((a, b) => a + b, 0), 360);
  await main.waitForGrid(360);
  await main.waitForThumbnails();

  // Virtualized: far fewer cells than images, and the content is as tall as all the rows.
  const dom = await main.grid.evaluate((g) => ({
    cells: g.querySelectorAll('[data-testid="grid-cell"]').length,
    scrollHeight: g.scrollHeight,
    clientHeight: g.clientHeight,
  }));
  assert.ok(dom.cells > 0 && dom.cells < 200, `only nearby rows are rendered (${dom.cells})`);
  assert.ok(dom.scrollHeight > dom.clientHeight * 5, 'the scroll height covers every row');
  await s.shot('10-sample-grid');

  // End selects the last image and scrolls it into view; its page is fetched on the way.
  await main.grid.focus();
  await page.keyboard.press('End');
  const last = page.locator('[data-testid="grid-cell"][data-index="359"]');
  await last.waitFor();
  await page.waitForFunction(() => document.querySelector('[data-testid="grid-cell"][data-index="359"]')?.getAttribute('aria-selected') === 'true');
  await page.waitForFunction(() => document.querySelector('[data-testid="grid-cell"][data-index="359"]')?.hasAttribute('data-id'));
  const visible = await last.evaluate((c) => {
    const g = c.closest('[data-testid="grid"]')!.getBoundingClientRect();
    const r = c.getBoundingClientRect();
    return r.top >= g.top && r.bottom <= g.bottom;
  });
  assert.ok(visible, 'the last cell is inside the viewport');
  assert.equal(await page.locator('[data-testid="grid-cell"][data-index="0"]').count(), 0, 'the first rows left the DOM');
  await main.details.getByTestId('detail-name').waitFor();

  // Home goes back; ArrowRight and ArrowDown move by one and by a row.
  await page.keyboard.press('Home');
  await page.waitForFunction(() => document.querySelector('[data-testid="grid-cell"][data-index="0"]')?.getAttribute('aria-selected') === 'true');
  const cols = await main.grid.evaluate((g) => {
    const tops = [...g.querySelectorAll<HTMLElement>('[data-testid="grid-cell"]')].map((c) => c.getBoundingClientRect().top);
    return tops.filter((t) => t === tops[0]).length;
  });
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowRight');
  await page.waitForFunction(
    (i) => document.querySelector(`[data-testid="grid-cell"][data-index="${i}"]`)?.getAttribute('aria-selected') === 'true',
    cols + 1,
  );
  await s.shot('11-sample-selected');
  assert.deepEqual(s.pageErrors, []);
});
