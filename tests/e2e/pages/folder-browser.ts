/** Page object: the in-app folder and file browser (browser host has no native dialog). */
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
    await this.shows(path);
    await this.root.getByTestId('folder-choose').click();
    await this.root.waitFor({ state: 'detached' });
  }

  /** Waits until the listing of `path` is shown and no other is on its way. */
  async shows(path: string): Promise<void> {
    await this.page.waitForFunction(
      (p) => {
        const root = document.querySelector('[data-testid="folder-browser"]');
        return root?.getAttribute('data-path') === p && root.getAttribute('aria-busy') === 'false';
      },
      path,
    );
  }

  /** The highlighted entry, which Enter acts on. */
  async activeName(): Promise<string | null> {
    return this.root.locator('[data-testid="folder-entry"].active').getAttribute('data-name');
  }

  /** Moves the highlight to `name` with the arrow keys, as a user would (the list has the focus). */
  async arrowTo(name: string): Promise<void> {
    const names = await this.entryNames();
    const target = names.indexOf(name);
    if (target < 0) throw new Error(`${name} is not listed: ${names.join(', ')}`);
    const from = names.indexOf((await this.activeName()) ?? '');
    for (let i = from; i !== target; i += Math.sign(target - from)) await this.page.keyboard.press(target > from ? 'ArrowDown' : 'ArrowUp');
    if ((await this.activeName()) !== name) throw new Error(`the highlight is on ${await this.activeName()}, not ${name}`);
  }

  async entryNames(): Promise<string[]> {
    return this.root.getByTestId('folder-entry').evaluateAll((els) => els.map((e) => e.getAttribute('data-name') ?? ''));
  }
}
