/** Page object: the start screen (no project open). */
import type { Page } from 'playwright-core';

export class StartPage {
  constructor(private readonly page: Page) {}

  get root() {
    return this.page.getByTestId('start-screen');
  }

  async createProject(location: string, name: string): Promise<void> {
    await this.root.waitFor();
    await this.root.getByTestId('new-project-name').fill(name);
    await this.root.getByTestId('new-project-location').fill(location);
    await this.root.getByTestId('create-project').click();
    await this.page.getByTestId('main-screen').waitFor();
  }

  async recentProjects(): Promise<string[]> {
    return this.root.getByTestId('recent-project').allInnerTexts();
  }
}
