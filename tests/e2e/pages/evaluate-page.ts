/** Page object: the Evaluate workspace, the evaluation bar over the grid, and the Export dialog. */
import type { Locator, Page } from 'playwright-core';

export interface MatrixCell {
  label: number;
  predicted: number;
  count: number;
}

export class EvaluatePage {
  constructor(private readonly page: Page) {}

  get root(): Locator {
    return this.page.getByTestId('evaluate-view');
  }
  get summary(): Locator {
    return this.page.getByTestId('eval-summary');
  }
  get staleBanner(): Locator {
    return this.page.getByTestId('stale-banner');
  }
  get bar(): Locator {
    return this.page.getByTestId('evaluation-bar');
  }
  get dialog(): Locator {
    return this.page.getByTestId('export-dialog');
  }

  async open(): Promise<void> {
    await this.page.getByTestId('workspace-evaluate').click();
    await this.root.waitFor();
  }

  async evaluate(split: 'val' | 'test' = 'val'): Promise<void> {
    await this.page.getByTestId(`eval-split-${split}`).click();
    await this.page.getByTestId('eval-run-button').click();
    await this.summary.waitFor({ timeout: 120_000 });
  }

  async accuracy(): Promise<string> {
    return this.page.getByTestId('eval-accuracy').innerText();
  }

  async cells(): Promise<MatrixCell[]> {
    return this.page.getByTestId('cm-cell').evaluateAll((els) =>
      els.map((e) => ({ label: Number(e.getAttribute('data-label')), predicted: Number(e.getAttribute('data-predicted')), count: Number(e.getAttribute('data-count')) })),
    );
  }

  cell(c: Pick<MatrixCell, 'label' | 'predicted'>): Locator {
    return this.page.locator(`[data-testid="cm-cell"][data-label="${c.label}"][data-predicted="${c.predicted}"]`);
  }

  /**
   * Clicks a matrix cell and measures, in the page, from the click handler's performance mark to the moment
   * the grid shows `count` cells with their images' data (a MutationObserver, then the next frame), and to the
   * moment their thumbnails have decoded. With `hoverMs`, the pointer rests on the cell that long first.
   */
  async clickCellTimed(c: MatrixCell, hoverMs = 0): Promise<{ cellsMs: number; thumbnailsMs: number }> {
    // A string, not a function: tsx's name-keeping helper (__name) does not exist in the page.
    await this.page.evaluate(`(() => {
      const n = ${c.count};
      window.__cellShown = new Promise((resolve) => {
        let cellsMs = -1;
        const armed = performance.now();
        const clickMark = () => performance.getEntriesByName('loupe:cell-click').filter((m) => m.startTime > armed).pop();
        const since = () => performance.now() - clickMark().startTime;
        let poll = 0;
        const obs = new MutationObserver(() => check());
        const check = () => {
          // Only after this click, and only in the Images workspace (the hidden one keeps its old cells).
          if (!clickMark() || document.querySelector('[data-testid="main-screen"]').dataset.workspace !== 'images') return;
          const cells = document.querySelectorAll('[data-testid="grid-cell"][data-id]');
          if (cellsMs < 0 && cells.length === n) {
            // The DOM is there; the frame that paints it follows.
            cellsMs = 0;
            requestAnimationFrame(() => { cellsMs = since(); });
          }
          const imgs = [...document.querySelectorAll('[data-testid="grid-cell"] img')];
          if (cellsMs > 0 && imgs.length === n && imgs.every((i) => i.complete)) {
            obs.disconnect();
            clearInterval(poll);
            resolve({ cellsMs, thumbnailsMs: since() });
          }
        };
        obs.observe(document.body, { subtree: true, childList: true, attributes: true });
        // Image decoding does not mutate the DOM: poll for it too.
        poll = setInterval(check, 5);
      });
    })()`);
    // A user's pointer rests on a cell before the click; the UI asks for its images then.
    if (hoverMs > 0) {
      await this.cell(c).hover();
      await this.page.waitForTimeout(hoverMs);
    }
    await this.cell(c).click();
    return this.page.evaluate('window.__cellShown') as Promise<{ cellsMs: number; thumbnailsMs: number }>;
  }

  async badges(): Promise<number> {
    return this.page.getByTestId('prediction-badge').count();
  }

  async backToEvaluation(): Promise<void> {
    await this.page.getByTestId('back-to-evaluation').click();
    await this.root.waitFor();
  }
}
