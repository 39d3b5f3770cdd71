/** Page object: the in-app folder browser (browser host has no native dialog). */
import type { Page } from 'playwright-core';

export class FolderBrowserPage {
  constructor(private readonly page: Page) {}

  get root() {
    return this.page.getByTestId('folder-browser');
  }

  /** Types a path, goes there, checks the listing shows it, and chooses it. */
  async choose(path: string): Promise<void> {
    await this.root.waitFor();
    await this.root.getByTestId('folder-path').fill(path);
    await this.root.getByTestId('folder-path').press('Enter');
    await this.page.waitForFunction(
      (p) => (document.querySelector('[data-testid="folder-path"]') as HTMLInputElement | null)?.value === p,
      path,
    );
    await this.root.getByTestId('folder-choose').click();
    await this.root.waitFor({ state: 'detached' });
  }

  async entryNames(): Promise<string[]> {
    return this.root.getByTestId('folder-entry').evaluateAll((els) => els.map((e) => e.getAttribute('data-name') ?? ''));
  }
}
