/** Page object: the main window (sidebar, grid, details, status bar). */
import type { Locator, Page } from 'playwright-core';

export class MainPage {
  constructor(private readonly page: Page) {}

  get root() {
    return this.page.getByTestId('main-screen');
  }
  get grid() {
    return this.page.getByTestId('grid');
  }
  get details() {
    return this.page.getByTestId('details');
  }

  async openImport(): Promise<void> {
    await this.page.getByTestId('open-import').click();
    await this.page.getByTestId('import-dialog').waitFor();
  }

  /** The count shown next to a sidebar view (e.g. 'all', 'errors', 'class-2'). */
  async count(viewKey: string): Promise<number> {
    const text = await this.page.getByTestId(`count-${viewKey}`).innerText();
    return Number(text.replace(/[^0-9]/g, ''));
  }

  /** Class name -> count, as the sidebar lists them. */
  async classCounts(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const b of await this.page.getByTestId('class-list').locator('button.view').all()) {
      out[(await b.getAttribute('data-label'))!] = Number((await b.locator('.count').innerText()).replace(/[^0-9]/g, ''));
    }
    return out;
  }

  classView(name: string): Locator {
    return this.page.getByTestId('class-list').locator(`button[data-label="${name}"]`);
  }

  async waitForCount(viewKey: string, expected: number, timeout = 30_000): Promise<void> {
    await this.page.waitForFunction(
      ({ key, n }) => {
        const el = document.querySelector(`[data-testid="count-${key}"]`);
        return el !== null && Number(el.textContent?.replace(/[^0-9]/g, '')) === n;
      },
      { key: viewKey, n: expected },
      { timeout },
    );
  }

  /** Waits until the grid reports `total` results and its rendered cells (all of them, when few) have items. */
  async waitForGrid(total: number): Promise<void> {
    await this.page.waitForFunction(
      (n) => {
        const g = document.querySelector('[data-testid="grid"]');
        if (!g || g.getAttribute('data-loaded') !== 'true' || Number(g.getAttribute('data-total')) !== n) return false;
        const cells = [...g.querySelectorAll('[data-testid="grid-cell"]')];
        const enough = n <= 24 ? cells.length === n : cells.length > 0;
        return enough && cells.every((c) => c.hasAttribute('data-id'));
      },
      total,
      { timeout: 30_000 },
    );
  }

  /** The number of results the grid reports now. */
  async gridTotal(): Promise<number> {
    return Number(await this.page.getByTestId('grid').getAttribute('data-total'));
  }

  async cellNames(): Promise<string[]> {
    return this.grid.locator('[data-testid="grid-cell"] .name').allInnerTexts();
  }

  /** Waits until every rendered thumbnail <img> has decoded (or failed). */
  async waitForThumbnails(): Promise<number> {
    return this.page.waitForFunction(() => {
      const imgs = [...document.querySelectorAll<HTMLImageElement>('[data-testid="grid-cell"] img')];
      return imgs.length > 0 && imgs.every((i) => i.complete) ? imgs.filter((i) => i.naturalWidth > 0).length : false;
    }).then((h) => h.jsonValue() as Promise<number>);
  }

  /** Sets one of the sidebar's DICOM filters ('' for any). */
  async dicomFilter(key: 'modality' | 'bodyPart' | 'view' | 'series', value: string): Promise<void> {
    await this.page.getByTestId(`dicom-filter-${key}`).selectOption(value);
  }

  async selectById(id: number): Promise<void> {
    await this.grid.locator(`[data-testid="grid-cell"][data-id="${id}"]`).click();
    await this.page.locator(`[data-testid="details"][data-image-id="${id}"]`).waitFor();
  }

  async selectByName(name: string): Promise<void> {
    await this.grid.locator('[data-testid="grid-cell"]', { hasText: name }).click();
    await this.details.getByTestId('detail-name').filter({ hasText: name }).waitFor();
  }
}
