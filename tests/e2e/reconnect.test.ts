// E2E: the browser host goes away and comes back (same port and token, as after a restart): the page's event
// socket reconnects by itself and the grid picks up images imported while it was away.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from './support/browser.ts';
import { startServe, type Served } from './support/serve.ts';
import { watchProblems } from './support/session.ts';
import { MainPage } from './pages/main-page.ts';

let tmp: string;
let served: Served;
let browser: Browser;
let page: Page;

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'loupe-e2e-reconnect-'));
  const data = join(tmp, 'data', 'lesion');
  mkdirSync(data, { recursive: true });
  for (let i = 0; i < 3; i++) {
    const png = await sharp({ create: { width: 32, height: 24, channels: 3, background: { r: 40 * i, g: 90, b: 200 - 30 * i } } }).png().toBuffer();
    writeFileSync(join(data, `scan-${i}.png`), png);
  }
  served = await startServe({ home: tmp, project: join(tmp, 'project') });
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1000, height: 640 } });
  watchProblems(page, (p) => problems.push(p));
});

const problems: string[] = [];

after(async () => {
  await browser?.close();
  await served?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test('events resume after the host restarts', async () => {
  await page.goto(served.url);
  const main = new MainPage(page);
  await main.root.waitFor();
  await main.waitForCount('all', 0);

  // The page's start-up calls (jobs, counts) are done: what follows is the host going away, not a start cut short.
  await page.waitForLoadState('networkidle');
  assert.deepEqual(problems, [], 'a normal start logs no errors');
  const port = Number(new URL(served.origin).port);
  const token = served.token;
  await served.stop();
  // The page keeps running without its host (no crash, no uncaught error) ...
  await page.waitForTimeout(500);
  served = await startServe({ home: tmp, project: join(tmp, 'project'), port, token });

  // ... and once the host is back, an import started elsewhere (here: straight through the HTTP API) reaches it.
  const res = await fetch(`${served.origin}/api/import:start`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-loupe-token': token },
    body: JSON.stringify({ folders: [join(tmp, 'data')], labels: 'folders' }),
  });
  assert.equal(res.status, 200, await res.text());
  await main.waitForCount('all', 3, 20_000);
  await main.waitForGrid(3);
  assert.deepEqual(await main.classCounts(), { lesion: 3 });
  // While the host was away, only its absence shows: the socket's reconnect attempts, refused.
  const unexpected = problems.filter((p) => !/WebSocket connection to .* failed|ERR_CONNECTION_REFUSED/.test(p));
  assert.deepEqual(unexpected, []);
});
