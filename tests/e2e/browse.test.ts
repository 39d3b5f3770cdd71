// E2E: Chromium against a real `loupe serve` child process. Create a project from the start screen, import a
// generated messy folder through the import dialog (folder browser, detected classes), check the counts, filter
// by class, inspect an unreadable file, open images in the viewer (8-bit and 16-bit with window/level).
// Screenshots go to tests/.artifacts/ (gitignored).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import type { Page } from 'playwright-core';
import type { Served } from './support/serve.ts';
import { openSession, type Session } from './support/session.ts';
import { StartPage } from './pages/start-page.ts';
import { MainPage } from './pages/main-page.ts';
import { ImportDialogPage } from './pages/import-dialog.ts';
import { ViewerPage } from './pages/viewer-page.ts';

/** Pixels that differ per seed, so every generated file has its own hash. */
function pattern(width: number, height: number, channels: number, seed: number): Buffer {
  const px = Buffer.alloc(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) {
        const dx = x - width / 2;
        const dy = y - height / 2;
        px[(y * width + x) * channels + c] = (Math.hypot(dx, dy) * (3 + seed) + c * 70 + seed * 29) & 0xff;
      }
    }
  }
  return px;
}

async function writeImage(path: string, kind: 'png' | 'jpeg', seed: number, width = 96, height = 72): Promise<void> {
  const img = sharp(pattern(width, height, 3, seed), { raw: { width, height, channels: 3 } });
  writeFileSync(path, await (kind === 'png' ? img.png() : img.jpeg({ quality: 85 })).toBuffer());
}

/** A 16-bit gray PNG holding values 20000..24000 only: shown flat unless windowed to its range. */
async function write16(path: string, width = 64, height = 48): Promise<void> {
  const px = new Uint16Array(width * height);
  for (let i = 0; i < px.length; i++) px[i] = 20000 + Math.round((4000 * i) / (px.length - 1));
  // A Uint16Array (not a Buffer) tells sharp the samples are 16-bit.
  const buf = await sharp(px, { raw: { width, height, channels: 1 } }).toColourspace('grey16').png().toBuffer();
  writeFileSync(path, buf);
}

/**
 * The messy folder: three class folders, PNG and JPEG, an exact duplicate, a 16-bit PNG, a "JPEG" that is
 * not one, and macOS litter that must be ignored.
 */
async function makeMessyFolder(root: string): Promise<void> {
  for (const c of ['cats', 'dogs', 'birds']) mkdirSync(join(root, c), { recursive: true });
  for (let i = 1; i <= 3; i++) await writeImage(join(root, 'cats', `cat-${i}.png`), 'png', i);
  copyFileSync(join(root, 'cats', 'cat-1.png'), join(root, 'cats', 'cat-1 copy.png'));
  for (let i = 1; i <= 4; i++) await writeImage(join(root, 'dogs', `dog-${i}.JPG`), 'jpeg', 10 + i);
  writeFileSync(join(root, 'dogs', 'broken.jpg'), Buffer.from('this is not a jpeg at all, just text'));
  await writeImage(join(root, 'birds', 'bird-1.png'), 'png', 20, 120, 80);
  await write16(join(root, 'birds', 'bird-16bit.png'));
  writeFileSync(join(root, '.DS_Store'), Buffer.alloc(64, 1));
  writeFileSync(join(root, 'cats', '.DS_Store'), Buffer.alloc(64, 2));
}

let s: Session;
let tmp: string;
let served: Served;
let page: Page;
let pageErrors: string[];

before(async () => {
  s = await openSession({ name: 'browse', viewport: { width: 1280, height: 800 }, prepare: ({ tmp }) => makeMessyFolder(join(tmp, 'data')) });
  ({ tmp, served, page, pageErrors } = s);
});

after(() => s?.close());

const shot = (name: string) => s.shot(name);

test('browse: create a project, import a messy folder, filter, inspect, view', async (t) => {
  const main = new MainPage(page);

  await t.test('the start screen loads and the token leaves the address bar', async () => {
    await page.goto(served.url);
    const start = new StartPage(page);
    await start.root.waitFor();
    assert.equal(new URL(page.url()).searchParams.get('token'), null);
    assert.deepEqual(await start.recentProjects(), []);
    await shot('01-start');
    await start.createProject(join(tmp, 'home'), 'Clinic study');
    assert.equal(await page.getByTestId('project-name').innerText(), 'Clinic study');
    assert.equal(await main.count('all'), 0);
    await page.getByTestId('grid-empty').waitFor();
  });

  await t.test('the import dialog shows the detected classes before importing', async () => {
    await main.openImport();
    const dialog = new ImportDialogPage(page);
    await dialog.addFolder(join(tmp, 'data'));
    const preview = await dialog.preview();
    assert.equal(preview.layout, 'classes');
    // .DS_Store files are not images; broken.jpg is counted here (by extension) and fails at import.
    assert.equal(preview.files, 11);
    assert.deepEqual(preview.classes, { birds: 2, cats: 4, dogs: 5 });
    await shot('02-import-preview');
    await dialog.useFolderLabels();
    await dialog.start();
  });

  await t.test('the counts appear as the import lands', async () => {
    // The unreadable file is listed under Import errors only: not an image, not unlabeled, not unassigned (issue 15).
    await main.waitForCount('all', 10);
    await main.waitForCount('errors', 1);
    assert.deepEqual(await main.classCounts(), { birds: 2, cats: 4, dogs: 4 });
    assert.equal(await main.count('unlabeled'), 0, 'the unreadable file is not an unlabeled image');
    assert.equal(await main.count('duplicates'), 2);
    assert.equal(await main.count('split-unassigned'), 10);
    await page.locator('[data-testid="job"][data-state="succeeded"]').waitFor();
    await main.waitForGrid(10);
    assert.equal(await main.waitForThumbnails(), 10, 'every readable image shows a thumbnail');
    await shot('03-imported');
  });

  await t.test('filtering by class shows only that class', async () => {
    await main.classView('dogs').click();
    await main.waitForGrid(4);
    const names = await main.cellNames();
    assert.deepEqual(names.sort(), ['dog-1.JPG', 'dog-2.JPG', 'dog-3.JPG', 'dog-4.JPG']);
    assert.equal(await page.getByTestId('status-shown').innerText(), '4 shown');
    await shot('04-filter-dogs');
    await page.getByTestId('search').fill('cat-1');
    await page.getByTestId('view-all').click();
    await main.waitForGrid(2);
    assert.deepEqual((await main.cellNames()).sort(), ['cat-1 copy.png', 'cat-1.png']);
    await page.getByTestId('search').fill('');
    await main.waitForGrid(10);
  });

  await t.test('an unreadable file is listed with its reason', async () => {
    await page.getByTestId('view-errors').click();
    await main.waitForGrid(1);
    const cell = page.locator('[data-testid="grid-cell"][data-status="error"]');
    await cell.click();
    const reason = await main.details.getByTestId('detail-reason').innerText();
    assert.ok(reason.length > 5 && !/unknown/i.test(reason), `a clear reason, got: ${reason}`);
    await shot('05-error-detail');
    await page.getByTestId('open-report').click();
    const report = page.getByTestId('import-report');
    await report.getByTestId('report-error').first().waitFor();
    assert.match(await report.getByTestId('report-error').innerText(), /broken\.jpg/);
    await shot('06-report');
    await page.keyboard.press('Escape');
    await report.waitFor({ state: 'detached' });
  });

  await t.test('keyboard: select, open the viewer, zoom, next image, close', async () => {
    await main.classView('birds').click();
    await main.waitForGrid(2);
    await main.selectByName('bird-1.png');
    assert.equal(await main.details.getByTestId('detail-dimensions').innerText(), '120 × 80');
    await main.grid.focus();
    // Space opens the viewer (Enter toggles the focused labeling mode, issue 3).
    await page.keyboard.press('Space');
    const viewer = new ViewerPage(page);
    await viewer.waitOpen();
    assert.deepEqual(await viewer.imageSize(), { w: 120, h: 80 });
    const fitted = await viewer.zoomPercent();
    await page.keyboard.press('+');
    assert.ok((await viewer.zoomPercent()) > fitted, 'zoomed in');
    await page.keyboard.press('0');
    assert.equal(await viewer.zoomPercent(), fitted, 'fit again');
    await shot('07-viewer-8bit');

    // → goes to the 16-bit image: drawn on a canvas, windowed to its own range by default.
    await page.keyboard.press('ArrowRight');
    await page.getByTestId('viewer-name').filter({ hasText: 'bird-16bit.png' }).waitFor();
    await page.getByTestId('viewer-canvas').waitFor();
    await page.waitForFunction(() => {
      const c = document.querySelector<HTMLCanvasElement>('[data-testid="viewer-canvas"]');
      return c !== null && c.width === 64;
    });
    await page.waitForTimeout(100); // the canvas is drawn on the next animation frame
    const own = await viewer.canvasMean();
    assert.ok(own > 100 && own < 155, `windowed to its range the ramp averages mid-gray, got ${own}`);
    // A narrow window at the bottom of the range turns most pixels white.
    await page.getByTestId('wl-center').fill('20500');
    await page.getByTestId('wl-width').fill('500');
    await page.waitForTimeout(100);
    const narrow = await viewer.canvasMean();
    assert.ok(narrow > own + 50, `narrow window brightens: ${own} -> ${narrow}`);
    await shot('08-viewer-16bit-windowed');
    await page.getByTestId('wl-reset').click();
    await page.waitForTimeout(100);
    assert.ok(Math.abs((await viewer.canvasMean()) - own) < 1, 'reset returns to the image range');
    await viewer.close();
    assert.equal(await main.grid.evaluate((g) => g === document.activeElement), true, 'focus back on the grid');
  });

  await t.test('a reload keeps working (token kept for the session)', async () => {
    await page.reload();
    await main.root.waitFor();
    await main.waitForCount('all', 10);
    await main.waitForGrid(10);
    assert.equal(await main.waitForThumbnails(), 10);
  });

  assert.deepEqual(pageErrors, [], 'no errors in the page or its console, no failed requests');
});
