/** Page object: the Train workspace (Train button, advanced settings, runs, the selected run's live charts). */
import type { Locator, Page } from 'playwright-core';

export type ChartId = 'batch-loss' | 'epoch-loss' | 'epoch-accuracy' | 'lr' | 'speed';

export class TrainPage {
  constructor(private readonly page: Page) {}

  get root(): Locator {
    return this.page.getByTestId('train-view');
  }
  get detail(): Locator {
    return this.page.getByTestId('run-detail');
  }

  async open(): Promise<void> {
    await this.page.getByTestId('workspace-train').click();
    await this.root.waitFor();
  }

  async reasons(): Promise<string[]> {
    await this.page.getByTestId('train-reasons').waitFor();
    return this.page.getByTestId('train-reasons').locator('li').allInnerTexts();
  }

  async engineName(): Promise<string> {
    const el = this.page.getByTestId('engine-name');
    await el.waitFor({ timeout: 60_000 });
    return el.innerText();
  }

  async openAdvanced(): Promise<void> {
    if ((await this.page.getByTestId('advanced-settings').count()) === 0) await this.page.getByTestId('advanced-toggle').click();
    await this.page.getByTestId('advanced-settings').waitFor();
  }

  async setNumber(testid: string, value: number): Promise<void> {
    await this.page.getByTestId(testid).fill(String(value));
  }

  async select(testid: string, value: string): Promise<void> {
    await this.page.getByTestId(testid).selectOption(value);
  }

  async setChecked(testid: string, on: boolean): Promise<void> {
    await this.page.getByTestId(testid).setChecked(on);
  }

  /** A tiny LeNet-5 run (32 px, batch 4) long enough to be stopped mid-run: 300 epochs, no early stopping. */
  async tinyLongRun(): Promise<void> {
    await this.openAdvanced();
    await this.select('cfg-arch', 'lenet5');
    await this.setNumber('cfg-image-size', 32);
    await this.setNumber('cfg-batch', 4);
    await this.setNumber('cfg-epochs', 300);
    await this.setChecked('cfg-early-stopping', false);
  }

  async train(): Promise<void> {
    await this.page.getByTestId('train-button').click();
  }

  /** The selected run's id and status, as the detail pane shows them. */
  async selected(): Promise<{ id: number; status: string }> {
    await this.detail.waitFor();
    return {
      id: Number(await this.detail.getAttribute('data-run-id')),
      status: (await this.detail.getAttribute('data-status')) ?? '',
    };
  }

  async waitForStatus(status: string, timeout = 60_000): Promise<void> {
    await this.page.locator(`[data-testid="run-detail"][data-status="${status}"]`).waitFor({ timeout });
  }

  /** How many data points a chart holds (all its datasets). */
  async points(chart: ChartId): Promise<number> {
    return Number(await this.page.getByTestId(`chart-${chart}`).getAttribute('data-points'));
  }

  /** Waits until a chart holds more than `n` points. */
  async waitForPoints(chart: ChartId, n: number, timeout = 60_000): Promise<number> {
    await this.page.waitForFunction(
      ({ id, min }) => Number(document.querySelector(`[data-testid="chart-${id}"]`)?.getAttribute('data-points') ?? 0) > min,
      { id: chart, min: n },
      { timeout },
    );
    return this.points(chart);
  }

  /** The chart's pixels, to tell that it redrew. */
  async canvasImage(chart: ChartId): Promise<string> {
    return this.page.getByTestId(`chart-${chart}`).locator('canvas').evaluate((c) => (c as HTMLCanvasElement).toDataURL());
  }

  async stop(): Promise<void> {
    await this.page.getByTestId('run-stop').click();
  }

  async resume(): Promise<void> {
    await this.page.getByTestId('run-resume').click();
  }

  runRow(id: number): Locator {
    return this.page.locator(`[data-testid="run-row"][data-run-id="${id}"]`);
  }
}
