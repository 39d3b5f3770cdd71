/** Page object: labeling (label bar, grid selection, focus mode, class list, splits, CSV, toasts). */
import type { Download, Locator, Page } from 'playwright-core';

export class LabelPage {
  constructor(private readonly page: Page) {}

  get grid(): Locator {
    return this.page.getByTestId('grid');
  }

  cell(index: number): Locator {
    return this.page.locator(`[data-testid="grid-cell"][data-index="${index}"]`);
  }

  cellById(id: number): Locator {
    return this.page.locator(`[data-testid="grid-cell"][data-id="${id}"]`);
  }

  /** Ids of the rendered cells in index order (only the loaded ones). */
  async cellIds(): Promise<number[]> {
    return this.page.$$eval('[data-testid="grid-cell"][data-id]', (cells) =>
      cells
        .map((c) => ({ i: Number(c.getAttribute('data-index')), id: Number(c.getAttribute('data-id')) }))
        .sort((a, b) => a.i - b.i)
        .map((c) => c.id),
    );
  }

  /** The index of the cursor cell (aria-selected when nothing else is selected). */
  async focusedIndex(): Promise<number> {
    return this.page.$eval('[data-testid="grid-cell"][aria-selected="true"]', (c) => Number(c.getAttribute('data-index')));
  }

  async waitFocusedId(id: number, timeout = 10_000): Promise<void> {
    await this.page.waitForFunction(
      (want) => document.querySelector('[data-testid="grid-cell"][aria-selected="true"]')?.getAttribute('data-id') === String(want),
      id,
      { timeout },
    );
  }

  /** The class id of a cell, as the grid shows it (null when unlabeled). */
  async cellClass(id: number): Promise<number | null> {
    const v = await this.cellById(id).getAttribute('data-class');
    return v ? Number(v) : null;
  }

  async waitCellClass(id: number, classId: number | null, timeout = 10_000): Promise<void> {
    await this.page.waitForFunction(
      ({ id, want }) => document.querySelector(`[data-testid="grid-cell"][data-id="${id}"]`)?.getAttribute('data-class') === want,
      { id, want: classId === null ? '' : String(classId) },
      { timeout },
    );
  }

  /** Class name → id, from the sidebar's class views. */
  async classIds(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const b of await this.page.getByTestId('class-list').locator('button.view').all()) {
      out[(await b.getAttribute('data-label'))!] = Number((await b.getAttribute('data-testid'))!.replace('view-class-', ''));
    }
    return out;
  }

  async press(key: string): Promise<void> {
    await this.page.keyboard.press(key);
  }

  async selectedCount(): Promise<number> {
    const el = this.page.getByTestId('status-selected');
    if ((await el.count()) === 0) return 0;
    return Number((await el.innerText()).replace(/[^0-9]/g, ''));
  }

  async waitSelectedCount(n: number): Promise<void> {
    await this.page.waitForFunction(
      (want) => {
        const el = document.querySelector('[data-testid="status-selected"]');
        const got = el ? Number(el.textContent?.replace(/[^0-9]/g, '')) : 0;
        return got === want;
      },
      n,
    );
  }

  async waitToast(text: string | RegExp): Promise<string> {
    const toast = this.page.getByTestId('toast').filter({ hasText: text }).first();
    await toast.waitFor();
    return toast.innerText();
  }

  // ---------- classes ----------

  async addClass(name: string): Promise<void> {
    await this.page.getByTestId('class-add').click();
    await this.page.getByTestId('class-new-name').fill(name);
    await this.page.getByTestId('class-new-name').press('Enter');
    await this.page.getByTestId('class-list').locator(`button.view[data-label="${name}"]`).waitFor();
  }

  private async openClassMenu(name: string): Promise<Locator> {
    const row = this.page.locator(`[data-testid="class-row"][data-name="${name}"]`);
    await row.hover();
    await row.getByTestId('class-menu').click();
    return row;
  }

  async renameClass(from: string, to: string): Promise<void> {
    const row = await this.openClassMenu(from);
    await row.getByTestId('class-rename').click();
    const input = this.page.getByTestId('class-rename-input');
    await input.fill(to);
    await input.press('Enter');
    await this.page.getByTestId('class-list').locator(`button.view[data-label="${to}"]`).waitFor();
  }

  async mergeClass(source: string, target: string): Promise<void> {
    const row = await this.openClassMenu(source);
    await row.getByTestId('class-merge').click();
    const dialog = this.page.getByTestId('class-dialog');
    await dialog.getByTestId('class-target').selectOption({ label: target });
    await dialog.getByTestId('class-apply').click();
    await dialog.waitFor({ state: 'detached' });
  }

  // ---------- splits ----------

  get splitDialog(): Locator {
    return this.page.getByTestId('split-dialog');
  }

  async openSplits(): Promise<void> {
    await this.page.getByTestId('open-splits').click();
    await this.splitDialog.getByTestId('split-summary').waitFor();
  }

  async summaryRow(name: string): Promise<{ train: number; val: number; test: number }> {
    const row = this.splitDialog.locator(`[data-testid="summary-row"][data-name="${name}"]`);
    const n = async (k: string) => Number((await row.locator(`td[data-split="${k}"]`).innerText()).replace(/[^0-9]/g, ''));
    return { train: await n('train'), val: await n('val'), test: await n('test') };
  }

  async warningKinds(): Promise<string[]> {
    return this.splitDialog.getByTestId('split-warning').evaluateAll((els) => els.map((e) => e.getAttribute('data-kind') ?? ''));
  }

  // ---------- CSV ----------

  async exportCsv(): Promise<Download> {
    await this.page.getByTestId('csv-menu').click();
    const [download] = await Promise.all([this.page.waitForEvent('download'), this.page.getByTestId('csv-export').click()]);
    return download;
  }

  async openCsvImport(): Promise<Locator> {
    await this.page.getByTestId('csv-menu').click();
    await this.page.getByTestId('csv-import').click();
    const dialog = this.page.getByTestId('csv-dialog');
    await dialog.waitFor();
    return dialog;
  }
}
