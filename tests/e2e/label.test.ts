// E2E (issue 3): labeling by hand in Chromium against a real `loupe serve`. Class hotkeys with auto-advance in
// the Unlabeled view (the cursor stays on the next image when labeled ones leave the view), the cheat sheet,
// undo/redo with toasts, flags and notes with history, bulk labeling of a whole view behind the >100 confirm,
// rubber-band and ctrl/shift-click selection, class add/rename/merge, the focused single-image mode, a
// group-aware split with the summary's warnings and bad input refused, and a labels CSV round trip.
// What the UI shows is checked against what the host stored (its HTTP API). Screenshots: tests/.artifacts/.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import type { Page } from 'playwright-core';
import type { Served } from './support/serve.ts';
import { loupeCli } from './support/cli.ts';
import { openSession, type Session } from './support/session.ts';
import { MainPage } from './pages/main-page.ts';
import { LabelPage } from './pages/label-page.ts';

/** A small PNG whose pixels depend on the seed (every file has its own hash). */
async function png(path: string, seed: number): Promise<void> {
  const w = 24;
  const h = 24;
  const px = Buffer.alloc(w * h * 3);
  for (let i = 0; i < w * h; i++) {
    px[i * 3] = (i * 7 + seed * 31) & 0xff;
    px[i * 3 + 1] = (seed * 53) & 0xff;
    px[i * 3 + 2] = ((i >> 3) * 11 + seed) & 0xff;
  }
  // The seed itself in the first pixel: no two seeds give the same file.
  px[0] = seed & 0xff;
  px[1] = seed >> 8;
  writeFileSync(path, await sharp(px, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer());
}

/**
 * 15 cat and 15 dog patients with 4 images each (P01_1.png …), one exact duplicate under another name, and 30
 * unlabeled images in a second folder imported without labels: 151 images.
 */
async function makeData(root: string): Promise<void> {
  let seed = 1;
  for (const [cls, from] of [['cats', 1], ['dogs', 16]] as const) {
    mkdirSync(join(root, 'labeled', cls), { recursive: true });
    for (let p = from; p < from + 15; p++) {
      for (let n = 1; n <= 4; n++) await png(join(root, 'labeled', cls, `P${String(p).padStart(2, '0')}_${n}.png`), seed++);
    }
  }
  copyFileSync(join(root, 'labeled', 'cats', 'P01_1.png'), join(root, 'labeled', 'dogs', 'copy-of-P01_1.png'));
  mkdirSync(join(root, 'inbox'), { recursive: true });
  for (let i = 1; i <= 30; i++) await png(join(root, 'inbox', `Q${String(i).padStart(2, '0')}.png`), 1000 + i);
}


let s: Session;
let tmp: string;
let served: Served;
let page: Page;
let pageErrors: string[];

/** Calls the host's API as the page does: what was stored, not what is shown. */
async function hostApi<T>(method: string, body: unknown = {}): Promise<T> {
  const res = await fetch(`${served.origin}/api/${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-loupe-token': served.token },
    body: JSON.stringify(body),
  });
  const reply = (await res.json()) as { ok: boolean; data: T; error?: { message: string } };
  if (!reply.ok) throw new Error(reply.error?.message);
  return reply.data;
}

async function until(check: () => Promise<boolean>, what: string, timeout = 10_000): Promise<void> {
  const end = Date.now() + timeout;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const storedClass = async (id: number): Promise<number | null> => (await hostApi<{ classId: number | null }>('images:get', { id })).classId;

before(async () => {
  s = await openSession({
    name: 'label',
    viewport: { width: 1280, height: 800 },
    prepare: async ({ tmp, home }) => {
      await makeData(join(tmp, 'data'));
      const project = join(tmp, 'project');
      loupeCli(['import', project, join(tmp, 'data', 'labeled'), '--labels', 'folders'], home);
      loupeCli(['import', project, join(tmp, 'data', 'inbox'), '--labels', 'none'], home);
      return project;
    },
  });
  ({ tmp, served, page, pageErrors } = s);
});

after(() => s?.close());

const shot = (name: string) => s.shot(name);

test('labeling by hand: keys, bulk, undo, flags, classes, focus mode, splits, CSV', async (t) => {
  const main = new MainPage(page);
  const ui = new LabelPage(page);
  let ids: Record<string, number> = {};

  await t.test('the project opens with its classes and hotkeys', async () => {
    await page.goto(served.url);
    await main.waitForCount('all', 151);
    await main.waitForCount('unlabeled', 30);
    assert.deepEqual(await main.classCounts(), { cats: 60, dogs: 61 });
    await page.getByTestId('label-button').first().waitFor();
    assert.deepEqual(await page.getByTestId('label-button').evaluateAll((b) => b.map((x) => x.textContent?.trim())), ['1cats', '2dogs']);
  });

  await t.test('add a class and rename it', async () => {
    await ui.addClass('birds');
    await ui.renameClass('birds', 'rare');
    ids = await ui.classIds();
    assert.deepEqual(Object.keys(ids), ['cats', 'dogs', 'rare']);
    assert.equal(await page.getByTestId(`view-class-${ids['rare']}`).locator('kbd').innerText(), '3', 'the third class gets key 3');
    // Bad input: a duplicate name is refused with a reason, and nothing changes.
    await page.getByTestId('class-add').click();
    await page.getByTestId('class-new-name').fill('Cats');
    await page.getByTestId('class-new-name').press('Enter');
    assert.match(await page.getByTestId('class-error').innerText(), /already exists/);
    await page.getByTestId('class-new-name').press('Escape');
    assert.deepEqual(Object.keys(await ui.classIds()), ['cats', 'dogs', 'rare']);
  });

  await t.test('hotkeys label and auto-advance; labeled images leave the Unlabeled view without the cursor skipping', async () => {
    await page.getByTestId('view-unlabeled').click();
    await main.waitForGrid(30);
    const before = await ui.cellIds();
    await ui.cell(0).click();
    await ui.press('3');
    // Shown at once: the cell's label and the class count, before any reload.
    await ui.waitCellClass(before[0]!, ids['rare']!);
    await main.waitForCount(`class-${ids['rare']}`, 1);
    await ui.waitFocusedId(before[1]!);
    await ui.press('3');
    await ui.press('3');
    await main.waitForCount(`class-${ids['rare']}`, 3);
    // After a pause the labeled images leave the view; the cursor is still on the fourth image.
    await main.waitForGrid(27);
    await ui.waitFocusedId(before[3]!);
    assert.equal(await ui.focusedIndex(), 0);
    for (const id of before.slice(0, 3)) assert.equal(await storedClass(id), ids['rare'], 'stored by the host');
    await main.waitForCount('unlabeled', 27);

    // Auto-advance off: the cursor stays.
    await page.getByTestId('auto-advance').uncheck();
    await ui.cell(0).click();
    await ui.press('2');
    await ui.waitCellClass(before[3]!, ids['dogs']!);
    assert.equal(await ui.focusedIndex(), 0);
    // The labeled image no longer belongs to the view, but it stays while the cursor is on it (well past the
    // pause after which it would leave), so the next key corrects it instead of labeling the next image.
    await page.waitForTimeout(2000);
    assert.equal(await main.gridTotal(), 27);
    await ui.waitFocusedId(before[3]!);
    await page.getByTestId('auto-advance').check();
    await ui.press('0');
    await ui.waitCellClass(before[3]!, null);
    await main.waitForCount(`class-${ids['dogs']}`, 61);
    await shot('label-0-hotkeys');
  });

  await t.test('? shows every key, the class hotkeys included', async () => {
    await ui.grid.focus();
    await ui.press('?');
    const sheet = page.getByTestId('cheat-sheet');
    await sheet.waitFor();
    const text = await sheet.innerText();
    for (const want of ['cats', 'dogs', 'rare', 'Shift+U', 'Shift+X', 'Ctrl+Z', 'Ctrl+A', 'Shift+1']) assert.ok(text.includes(want), `cheat sheet lists ${want}`);
    await shot('label-1-cheat-sheet');
    await ui.press('Escape');
    await sheet.waitFor({ state: 'detached' });
  });

  await t.test('undo and redo, with a toast naming the edit', async () => {
    await ui.press('Control+z');
    assert.match(await ui.waitToast(/Undid/), /Undid: Clear label/);
    await ui.press('Control+z');
    assert.match(await ui.waitToast(/Undid: Label dogs/), /Label dogs/);
    await main.waitForCount(`class-${ids['dogs']}`, 61);
    await ui.press('Control+Shift+z');
    assert.match(await ui.waitToast(/Redid/), /Redid: Label dogs/);
    await main.waitForCount(`class-${ids['dogs']}`, 62);
    await ui.press('Control+z');
    await main.waitForCount(`class-${ids['dogs']}`, 61);
    // Toasts go away by themselves.
    await page.getByTestId('toast').filter({ hasText: 'Redid' }).waitFor({ state: 'detached', timeout: 8000 });
  });

  await t.test('flags and a note from the keyboard; the label history in the details', async () => {
    await page.getByTestId(`view-class-${ids['rare']}`).click();
    await main.waitForGrid(3);
    await ui.cell(0).click();
    const id = (await ui.cellIds())[0]!;
    await ui.press('Shift+U');
    await ui.cellById(id).getByTestId('badge-unsure').waitFor();
    await ui.press('Shift+X');
    await ui.cellById(id).getByTestId('badge-excluded').waitFor();
    await main.waitForCount('unsure', 1);
    await main.waitForCount('excluded', 1);
    assert.equal(await page.getByTestId('flag-unsure').isChecked(), true);
    await ui.press('Shift+N');
    await page.waitForFunction(() => document.activeElement?.getAttribute('data-testid') === 'note');
    await page.keyboard.type('blurry, ask Dr. K');
    await page.keyboard.press('Control+Enter');
    await page.waitForFunction(() => !document.querySelector('[data-testid="label-panel"] .unsaved'));
    const stored = await hostApi<{ unsure: boolean; excluded: boolean; userNote: string }>('images:get', { id });
    assert.deepEqual([stored.unsure, stored.excluded, stored.userNote], [true, true, 'blurry, ask Dr. K']);
    const entry = page.getByTestId('history-entry').first();
    await entry.waitFor();
    assert.match(await entry.innerText(), /– → rare/);
    await shot('label-2-flags-history');
    // Shift+X again: the flag goes off everywhere.
    await ui.grid.focus();
    await ui.press('Shift+X');
    await ui.cellById(id).getByTestId('badge-excluded').waitFor({ state: 'detached' });
    await main.waitForCount('excluded', 0);
  });

  await t.test('selection: ctrl-click, shift-click, rubber band, select all; bulk label behind the >100 confirm', async () => {
    await page.getByTestId('view-all').click();
    await main.waitForGrid(151);
    await ui.cell(0).click();
    await ui.cell(2).click({ modifiers: ['Control'] });
    await ui.waitSelectedCount(2);
    await ui.cell(6).click({ modifiers: ['Shift'] });
    await ui.waitSelectedCount(5); // 2..6
    await page.getByTestId('selection-panel').waitFor();

    // A rubber band from the padding left of cell 0 down through the second row selects 2 rows of cells.
    const box = (await ui.grid.boundingBox())!;
    const c0 = (await ui.cell(0).boundingBox())!;
    const cols = await ui.grid.evaluate((g) => {
      const tops = [...g.querySelectorAll<HTMLElement>('[data-testid="grid-cell"]')].map((c) => c.getBoundingClientRect().top);
      return tops.filter((x) => x === tops[0]).length;
    });
    const c1 = (await ui.cell(cols + 1).boundingBox())!;
    await page.mouse.move(box.x + 3, box.y + 3);
    await page.mouse.down();
    await page.mouse.move(c0.x + c0.width / 2, c0.y + c0.height / 2, { steps: 4 });
    await page.mouse.move(c1.x + c1.width / 2, c1.y + c1.height / 2, { steps: 4 });
    await page.getByTestId('rubber-band').waitFor();
    await shot('label-3-rubber-band');
    await page.mouse.up();
    await ui.waitSelectedCount(4); // cells 0, 1 and cols, cols+1
    await ui.press('Escape');
    await ui.waitSelectedCount(0);

    // Ctrl+A selects the whole view (ids, not DOM cells); a class key asks first.
    await ui.press('Control+a');
    await ui.waitSelectedCount(151);
    await ui.press('2');
    const confirm = page.getByTestId('confirm-bulk');
    await confirm.waitFor();
    assert.equal(await confirm.getAttribute('data-count'), '151');
    await shot('label-4-bulk-confirm');
    await ui.press('Escape');
    await confirm.waitFor({ state: 'detached' });
    assert.equal(await main.count(`class-${ids['dogs']}`), 61, 'canceled: nothing changed');
    await ui.press('2');
    await confirm.waitFor();
    await ui.press('Enter');
    await main.waitForCount(`class-${ids['dogs']}`, 151);
    await main.waitForCount('unlabeled', 0);
    // One step to undo all of it.
    await ui.press('Control+z');
    assert.match(await ui.waitToast(/Undid: Label dogs \(151\)/), /151/);
    await main.waitForCount(`class-${ids['dogs']}`, 61);
    await main.waitForCount(`class-${ids['cats']}`, 60);
    await main.waitForCount('unlabeled', 27);
    await ui.press('Escape');
  });

  await t.test('merge a class into another', async () => {
    await ui.addClass('kittens');
    ids = await ui.classIds();
    await page.getByTestId('view-unlabeled').click();
    await main.waitForGrid(27);
    await ui.cell(0).click();
    await ui.press('4');
    await ui.press('4');
    await main.waitForCount(`class-${ids['kittens']}`, 2);
    await ui.mergeClass('kittens', 'cats');
    await main.waitForCount(`class-${ids['cats']}`, 62);
    assert.deepEqual(Object.keys(await ui.classIds()), ['cats', 'dogs', 'rare']);
  });

  await t.test('the focused single-image mode labels and advances too', async () => {
    await main.waitForGrid(25);
    await ui.cell(0).click();
    const first = (await ui.cellIds())[0]!;
    await ui.press('Enter');
    const focus = page.getByTestId('focus-view');
    await focus.waitFor();
    await page.waitForFunction(() => {
      const img = document.querySelector<HTMLImageElement>('[data-testid="focus-image"]');
      return img !== null && img.complete && img.naturalWidth === 24;
    });
    const name = await page.getByTestId('focus-name').innerText();
    await ui.press('1');
    await page.waitForFunction((n) => document.querySelector('[data-testid="focus-name"]')?.textContent !== n, name);
    await until(async () => (await storedClass(first)) === ids['cats'], 'the label is stored');
    await shot('label-5-focus-mode');
    await ui.press('Enter');
    await ui.grid.waitFor();
    await main.waitForCount(`class-${ids['cats']}`, 63);
  });

  await t.test('split by patient with a filename regex; the summary warns; bad input changes nothing', async () => {
    await ui.openSplits();
    const d = ui.splitDialog;
    await d.getByTestId('group-kind').selectOption('regex');
    await d.getByTestId('group-pattern').fill('(');
    assert.match(await d.getByTestId('group-preview-error').innerText(), /does not compile/);
    await d.getByTestId('group-pattern').fill('^(P\\d+)_');
    await page.waitForFunction(() => document.querySelector('[data-testid="group-count"]')?.textContent === '30');
    // Ratios that do not add up: refused here, nothing sent.
    await d.getByTestId('ratio-val').fill('25');
    await d.getByTestId('assign-splits').click();
    assert.match(await d.getByTestId('split-error').innerText(), /add up to 110%/);
    await d.getByTestId('ratio-val').fill('15');
    // "rare" has 3 images: 70/15/15 leaves its test split empty, and core refuses with the reason.
    await d.getByTestId('assign-splits').click();
    await page.waitForFunction(() => /leave a split empty/.test(document.querySelector('[data-testid="split-error"]')?.textContent ?? ''));
    assert.match(await d.getByTestId('split-error').innerText(), /"rare" \(3 images\) gets none in test/);
    const unchanged = await hostApi<{ totals: { unassigned: number; total: number } }>('splits:summary');
    assert.equal(unchanged.totals.unassigned, unchanged.totals.total, 'nothing was split');
    await shot('label-6-split-refused');
    // Two more rare images, then the same form again.
    await page.keyboard.press('Escape');
    await d.waitFor({ state: 'detached' });
    await page.getByTestId('view-unlabeled').click();
    await main.waitForGrid(24);
    await ui.cell(0).click();
    await ui.press('3');
    await ui.press('3');
    await main.waitForCount(`class-${ids['rare']}`, 5);
    await ui.openSplits();
    assert.equal(await d.getByTestId('group-pattern').inputValue(), '^(P\\d+)_', 'the form kept its values');
    await d.getByTestId('assign-splits').click();
    await page.waitForFunction(() => !document.querySelector('[data-testid="split-error"]'));
    await page.waitForFunction(() => document.querySelector('[data-testid="summary-row"][data-name="cats"] td[data-split="train"]')?.textContent !== '0');
    const cats = await ui.summaryRow('cats');
    assert.ok(cats.train > cats.val && cats.val > 0 && cats.test > 0, JSON.stringify(cats));
    // "rare" has 5 images: fewer than 5 in each split.
    assert.ok((await ui.warningKinds()).includes('small-class'));
    // Every patient sits in one split (checked against the host).
    const stored = await hostApi<{ warnings: { kind: string }[] }>('splits:summary');
    assert.ok(!stored.warnings.some((w) => w.kind === 'group-across-splits'));
    await shot('label-7-split-summary');
    await page.keyboard.press('Escape');
    await d.waitFor({ state: 'detached' });

    // Move one image of patient P01 by hand to another split: the summary now warns about that patient.
    await page.getByTestId('view-all').click();
    await page.getByTestId('search').fill('P01_2');
    await main.waitForGrid(1);
    await ui.cell(0).click();
    const split = await page.getByTestId('detail-split').innerText();
    await ui.press(split === 'Train' ? 'Shift+Digit2' : 'Shift+Digit1');
    await page.waitForFunction((s) => document.querySelector('[data-testid="detail-split"]')?.textContent !== s, split);
    await page.getByTestId('search').fill('');
    await ui.openSplits();
    await page.waitForFunction(() => [...document.querySelectorAll('[data-testid="split-warning"]')].some((w) => w.getAttribute('data-kind') === 'group-across-splits'));
    assert.match(await d.locator('[data-kind="group-across-splits"]').innerText(), /P01/);
    await shot('label-8-split-warnings');
    await page.keyboard.press('Escape');
  });

  await t.test('labels CSV: export, edit, import with a report', async () => {
    await main.waitForGrid(151);
    const download = await ui.exportCsv();
    const file = join(tmp, 'labels.csv');
    await download.saveAs(file);
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    assert.equal(lines[0], 'path,label,split,group');
    assert.equal(lines.length, 152);
    const q20 = lines.findIndex((l) => l.startsWith('Q20.png,'));
    assert.ok(q20 > 0);
    assert.match(lines[q20]!, /^Q20\.png,,/, 'Q20 is unlabeled');
    const edited = [...lines];
    edited[q20] = 'Q20.png,owls,,';
    edited.push('not/in/project.png,cats,,');
    writeFileSync(file, edited.join('\n') + '\n');

    const dialog = await ui.openCsvImport();
    await dialog.getByTestId('csv-file').setInputFiles(file);
    await dialog.getByTestId('csv-run').click();
    // An unknown class is refused unless creating classes is allowed; nothing changes.
    assert.match(await dialog.getByTestId('csv-error').innerText(), /unknown classes "owls"/);
    await dialog.getByTestId('csv-create-classes').check();
    await dialog.getByTestId('csv-run').click();
    const report = dialog.getByTestId('csv-report');
    await report.waitFor();
    assert.equal(await report.getAttribute('data-applied'), '1');
    assert.match(await report.innerText(), /New classes: owls/);
    assert.match(await dialog.getByTestId('csv-unknown-paths').innerText(), /not\/in\/project\.png/);
    await shot('label-9-csv-report');
    await page.keyboard.press('Escape');
    await page.getByTestId('class-list').locator('button.view[data-label="owls"]').waitFor();
    assert.equal(await main.count(`class-${(await ui.classIds())['owls']}`), 1);
  });

  await t.test('classes: edit a hotkey, recolor, reorder by dragging, delete moving its images', async () => {
    ids = await ui.classIds();
    const owls = ids['owls']!;
    const row = page.locator('[data-testid="class-row"][data-name="owls"]');
    await row.hover();
    await row.getByTestId('class-menu').click();
    await row.getByTestId('class-hotkey').click();
    await page.getByTestId('class-hotkey-input').fill('o');
    await page.getByTestId('class-hotkey-input').press('Enter');
    await page.waitForFunction((id) => document.querySelector(`[data-testid="view-class-${id}"] kbd`)?.textContent === 'O', owls);
    // The new key labels.
    await page.getByTestId('search').fill('Q21');
    await main.waitForGrid(1);
    await ui.cell(0).click();
    const q21 = (await ui.cellIds())[0]!;
    await ui.press('o');
    await ui.waitCellClass(q21, owls);
    await main.waitForCount(`class-${owls}`, 2);
    await page.getByTestId('search').fill('');

    await row.getByTestId('class-color-input').fill('#22aa88');
    await until(async () => (await hostApi<{ id: number; color: string }[]>('classes:list')).find((c) => c.id === owls)?.color === '#22aa88', 'the color is stored');

    await row.dragTo(page.locator('[data-testid="class-row"][data-name="cats"]'));
    await page.waitForFunction(() => document.querySelector('[data-testid="class-row"]')?.getAttribute('data-name') === 'owls');
    assert.deepEqual(Object.keys(await ui.classIds()), ['owls', 'cats', 'dogs', 'rare']);
    assert.equal(await page.getByTestId(`view-class-${ids['cats']}`).locator('kbd').innerText(), '1', 'default keys follow the order');

    const rareBefore = await main.count(`class-${ids['rare']}`);
    await row.hover();
    await row.getByTestId('class-menu').click();
    await row.getByTestId('class-delete').click();
    const dialog = page.getByTestId('class-dialog');
    await dialog.getByTestId('delete-move').check();
    await dialog.getByTestId('class-target').selectOption({ label: 'rare' });
    await shot('label-10-delete-class');
    await dialog.getByTestId('class-apply').click();
    await dialog.waitFor({ state: 'detached' });
    await main.waitForCount(`class-${ids['rare']}`, rareBefore + 2);
    assert.deepEqual(Object.keys(await ui.classIds()), ['cats', 'dogs', 'rare']);
    assert.equal(await storedClass(q21), ids['rare']);
  });

  assert.deepEqual(pageErrors, [], 'no uncaught errors in the page');
});
