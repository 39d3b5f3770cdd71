/** Page object: the import dialog (folders, detected layout and classes, labels, start). */
import type { Page } from 'playwright-core';
import { FolderBrowserPage } from './folder-browser.ts';

export interface PreviewSeen {
  layout: string;
  files: number;
  classes: Record<string, number>;
}

export class ImportDialogPage {
  constructor(private readonly page: Page) {}

  get root() {
    return this.page.getByTestId('import-dialog');
  }

  async addFolder(path: string): Promise<void> {
    await this.root.getByTestId('import-add-folder').click();
    await new FolderBrowserPage(this.page).choose(path);
    await this.root.getByTestId('import-folder').filter({ hasText: path }).waitFor();
  }

  async preview(): Promise<PreviewSeen> {
    const section = this.root.getByTestId('import-preview');
    await section.waitFor();
    const classes: Record<string, number> = {};
    for (const row of await section.getByTestId('preview-class').all()) {
      classes[(await row.getAttribute('data-name'))!] = Number(await row.getAttribute('data-count'));
    }
    return {
      layout: (await section.getAttribute('data-layout'))!,
      files: Number(await section.getAttribute('data-files')),
      classes,
    };
  }

  async useFolderLabels(): Promise<void> {
    await this.root.getByTestId('labels-folders').check();
  }

  async start(): Promise<void> {
    await this.root.getByTestId('import-start').click();
    await this.root.waitFor({ state: 'detached' });
  }
}
