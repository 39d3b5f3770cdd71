// E2E (issue 14's "CI never flakes"): the folder browser's first listing (the home folder) may land after the user
// typed a path. It used to put the home folder's path over what was typed, so Enter listed the home folder again:
// seen as the browse e2e timing out at the folder step on a loaded CI machine. The page's socket is routed through
// the test, which holds the reply to that first listing until the path is typed.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { loupeCli } from './support/cli.ts';
import { openSession, type Session } from './support/session.ts';
import { MainPage } from './pages/main-page.ts';

let s: Session;
let target: string;

before(async () => {
  s = await openSession({
    name: 'folder-race',
    viewport: { width: 1100, height: 700 },
    prepare: async ({ tmp, home }) => {
      target = join(tmp, 'scans', 'study-1');
      mkdirSync(target, { recursive: true });
      const project = join(tmp, 'project');
      loupeCli(['sample', project, '--per-class', '10'], home);
      return project;
    },
  });
});

after(() => s?.close());

test('a listing that lands after the user typed a path does not replace it', async () => {
  const { page, served } = s;
  let releaseFirst: () => void = () => {};
  const firstHeld = new Promise<void>((r) => (releaseFirst = r));
  let sawFirst: () => void = () => {};
  const firstSeen = new Promise<void>((r) => (sawFirst = r));
  let listings = 0;
  await page.routeWebSocket(/\/events/, (ws) => {
    const server = ws.connectToServer();
    const held = new Set<number>();
    ws.onMessage((m) => {
      const frame = typeof m === 'string' ? (JSON.parse(m) as { call?: number; method?: string }) : {};
      if (frame.method === 'fs:list' && frame.call !== undefined && ++listings === 1) held.add(frame.call);
      server.send(m);
    });
    server.onMessage((m) => {
      const frame = typeof m === 'string' ? (JSON.parse(m) as { call?: number }) : {};
      if (frame.call !== undefined && held.has(frame.call)) {
        sawFirst();
        void firstHeld.then(() => ws.send(m));
      } else ws.send(m);
    });
  });
  const main = new MainPage(page);
  await page.goto(served.url);
  await main.waitForCount('all', 30);
  await main.openImport();
  await page.getByTestId('import-add-folder').click();
  const browser = page.getByTestId('folder-browser');
  await browser.waitFor();
  await firstSeen;
  await browser.getByTestId('folder-path').fill(target);
  releaseFirst();
  // The home folder's listing lands now: it shows, but the typed path stays.
  await page.waitForFunction(() => document.querySelector('[data-testid="folder-browser"]')?.getAttribute('aria-busy') === 'false');
  assert.equal(await browser.getByTestId('folder-path').inputValue(), target);
  await browser.getByTestId('folder-path').press('Enter');
  await page.waitForFunction((p) => document.querySelector('[data-testid="folder-browser"]')?.getAttribute('data-path') === p, target);
  await browser.getByTestId('folder-choose').click();
  await page.getByTestId('import-dialog').getByTestId('import-folder').filter({ hasText: target }).waitFor();
  assert.deepEqual(s.pageErrors, []);
});
