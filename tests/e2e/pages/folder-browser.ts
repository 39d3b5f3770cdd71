/** Page object: the in-app folder browser (browser host has no native dialog). */
import type { Page } from 'playwright-core';

export class FolderBrowserPage {
  constructor(private readonly page: Page) {}

  get root() {
    return this.page.getByTestId('folder-browser');
  }

  /** Types a path, goes there, waits until the listing shown is that folder (not the typed text), and chooses it. */
  async choose(path: string): Promise<void> {
    await this.root.waitFor();
    await this.root.getByTestId('folder-path').fill(path);
    await this.root.getByTestId('folder-path').press('Enter');
    await this.page.waitForFunction(
      (p) => {
        const root = document.querySelector('[data-testid="folder-browser"]');
        return root?.getAttribute('data-path') === p && root.getAttribute('aria-busy') === 'false';
      },
      path,
    );
    await this.root.getByTestId('folder-choose').click();
    await this.root.waitFor({ state: 'detached' });
  }

  async entryNames(): Promise<string[]> {
    return this.root.getByTestId('folder-entry').evaluateAll((els) => els.map((e) => e.getAttribute('data-name') ?? ''));
  }
}
