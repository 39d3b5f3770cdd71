/** Page object: the image viewer overlay. */
import type { Page } from 'playwright-core';

export class ViewerPage {
  constructor(private readonly page: Page) {}

  get root() {
    return this.page.getByTestId('viewer');
  }

  async waitOpen(): Promise<void> {
    await this.root.waitFor();
  }

  async zoomPercent(): Promise<number> {
    return Number((await this.root.getByTestId('viewer-zoom').innerText()).replace('%', ''));
  }

  /** Waits for the 8-bit <img> to decode; returns its natural size. */
  async imageSize(): Promise<{ w: number; h: number }> {
    const img = this.root.getByTestId('viewer-image');
    await img.waitFor();
    await this.page.waitForFunction(() => {
      const i = document.querySelector<HTMLImageElement>('[data-testid="viewer-image"]');
      return i !== null && i.complete && i.naturalWidth > 0;
    });
    return img.evaluate((i: HTMLImageElement) => ({ w: i.naturalWidth, h: i.naturalHeight }));
  }

  /** Mean gray value of the 16-bit canvas, read back from its pixels. */
  async canvasMean(): Promise<number> {
    return this.root.getByTestId('viewer-canvas').evaluate((c: HTMLCanvasElement) => {
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let sum = 0;
      for (let i = 0; i < d.length; i += 4) sum += d[i]!;
      return sum / (d.length / 4);
    });
  }

  async close(): Promise<void> {
    await this.page.keyboard.press('Escape');
    await this.root.waitFor({ state: 'detached' });
  }
}
