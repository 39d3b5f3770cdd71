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

  /** A digest of the canvas pixels (FNV-1a over RGBA): equal digests, equal pictures. */
  async canvasDigest(): Promise<string> {
    return this.root.getByTestId('viewer-canvas').evaluate((c: HTMLCanvasElement) => {
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let h = 0x811c9dc5;
      for (let i = 0; i < d.length; i++) h = Math.imul(h ^ d[i]!, 0x01000193);
      return `${c.width}x${c.height}:${(h >>> 0).toString(16)}`;
    });
  }

  /** Waits until the canvas shows the DICOM window `center/width/fn` (the viewer marks what it drew). */
  async waitDrawn(window: string): Promise<void> {
    await this.page.locator(`[data-testid="viewer-canvas"][data-drawn="${window}"]`).waitFor({ timeout: 10_000 });
  }

  /** The center and width the DICOM window bar shows. */
  async dicomWindow(): Promise<{ center: number; width: number; text: string }> {
    const cw = this.root.getByTestId('dicom-cw');
    return { center: Number(await cw.getAttribute('data-center')), width: Number(await cw.getAttribute('data-width')), text: await cw.innerText() };
  }

  async choosePreset(label: RegExp): Promise<void> {
    const select = this.root.getByTestId('dicom-preset');
    const value = await select.locator('option').evaluateAll(
      (os, src) => (os as HTMLOptionElement[]).find((o) => new RegExp(src).test(o.textContent ?? ''))?.value ?? null,
      label.source,
    );
    if (value === null) throw new Error(`no preset matches ${label}`);
    await select.selectOption(value);
  }

  /** Drags on the image with the right button by (dx, dy) CSS pixels: window/level. */
  async rightDrag(dx: number, dy: number): Promise<void> {
    const box = (await this.root.getByTestId('viewer-stage').boundingBox())!;
    const x = box.x + box.width / 2;
    const y = box.y + box.height / 2;
    await this.page.mouse.move(x, y);
    await this.page.mouse.down({ button: 'right' });
    for (let i = 1; i <= 5; i++) await this.page.mouse.move(x + (dx * i) / 5, y + (dy * i) / 5);
    await this.page.mouse.up({ button: 'right' });
  }

  async close(): Promise<void> {
    await this.page.keyboard.press('Escape');
    await this.root.waitFor({ state: 'detached' });
  }
}
