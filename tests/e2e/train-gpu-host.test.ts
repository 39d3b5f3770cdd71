// E2E (issue 16): `loupe serve` with a GPU host set and WebGL forced, as a workstation whose CUDA does not work
// would run: the Train view names the GPU engine and its adapters, Train moves the charts, Stop stops. Debian's
// Chromium renders with SwiftShader here (hence --allow-software-gpu's variable); the browser that shows the UI
// and the one that trains are two separate Chromium processes.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import type { Served } from './support/serve.ts';
import { openSession, type Session } from './support/session.ts';
import { createSampleProject, hostApi } from './support/host-api.ts';
import { MainPage } from './pages/main-page.ts';
import { TrainPage } from './pages/train-page.ts';

let s: Session;
let served: Served;
let page: Page;

before(async () => {
  s = await openSession({
    name: 'train-gpu-host',
    viewport: { width: 1280, height: 820 },
    env: { LOUPE_GPU_HOST: 'chromium:/usr/bin/chromium', LOUPE_BACKEND: 'webgl', LOUPE_ALLOW_SOFTWARE_GPU: '1' },
  });
  ({ served, page } = s);
  await createSampleProject(served, join(s.tmp, 'project'), 12);
});

after(() => s?.close());

test('with the GPU host forced, the Train view names it and its adapters, and Train moves the charts on it', async () => {
  await page.goto(served.url);
  await new MainPage(page).root.waitFor();
  const train = new TrainPage(page);
  await train.open();
  assert.equal(await train.engineName(), 'webgl');
  await page.getByTestId('engine-gpu').locator('summary').click();
  const adapters = await page.getByTestId('engine-gpu').locator('li').allInnerTexts();
  assert.equal(adapters.length, 2, adapters.join(' | '));
  assert.match(adapters.find((a) => a.startsWith('webgl'))!, /SwiftShader.*software; maxTextureSize \d+/);

  await train.tinyLongRun();
  await train.train();
  await train.waitForStatus('running');
  const { id: runId } = await train.selected();
  await train.waitForPoints('batch-loss', 0);
  await train.waitForPoints('epoch-loss', 1);
  await s.shot('24-train-gpu-host');

  await train.stop();
  await train.waitForStatus('stopped');
  const stopped = await hostApi(served, 'runs:get', { runId });
  assert.equal(stopped.run.status, 'stopped');
  assert.equal(stopped.run.backend, 'webgl');
  assert.ok(stopped.run.epochsDone >= 1);
  assert.deepEqual(s.pageErrors, []);
});
