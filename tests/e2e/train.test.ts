// E2E: the Train workspace against a real `loupe serve` and a real training process. A small sample project
// (3 classes × 12 synthetic radiographs), a tiny config set in the advanced panel (LeNet-5, 32 px, batch 4), then:
// press Train, watch the charts move, reload the page mid-run and see the curves come back, stop, resume.
// Screenshots go to tests/.artifacts/.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
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
  s = await openSession({ name: 'train', viewport: { width: 1280, height: 820 } });
  ({ served, page } = s);
  await createSampleProject(served, join(s.tmp, 'project'), 12);
});

after(() => s?.close());

test('press Train, watch the curves move, reload mid-run, stop and resume', async () => {
  await page.goto(served.url);
  await new MainPage(page).root.waitFor();
  const train = new TrainPage(page);
  await train.open();

  // One click comes with its reasons and the engine in use.
  const reasons = await train.reasons();
  assert.ok(reasons.length >= 3, `reasons for the suggested settings: ${reasons.join(' | ')}`);
  assert.ok(['wasm', 'tfjs-node', 'tfjs-node-gpu', 'cpu'].includes(await train.engineName()));
  // And the engine of its predictions: onnxruntime on this machine's CPU backend.
  assert.match(await page.getByTestId('engine-predictions').innerText(), /^Predictions: onnxruntime \d+\.\d+\.\d+ on \d+ threads?$/);
  // And how many threads share each batch on the CPU backends: one per core (issue 13).
  const threads = page.getByTestId('engine-threads');
  if (availableParallelism() > 1) assert.equal(await threads.innerText(), `· up to ${availableParallelism()} threads share each batch`);
  else assert.equal(await threads.count(), 0);
  // A small project: the view says what would help, beside the run, not only its chart (issue 15).
  const advice = page.getByTestId('train-advice');
  await advice.waitFor();
  const adviceItems = await advice.locator('li').allInnerTexts();
  assert.equal(adviceItems.length, 3, adviceItems.join(' | '));
  assert.match(adviceItems[0]!, /^More labels help most: 36 labeled images/);
  assert.match(adviceItems[1]!, /pretrained backbone/);
  assert.match(adviceItems[2]!, /k-fold/);

  // A tiny config, long enough (many epochs, no early stopping) to be stopped mid-run.
  await train.tinyLongRun();
  assert.equal(await page.getByTestId('aug-hflip').isChecked(), false, 'flips are off by default');
  await page.getByTestId('reset-draft').waitFor();
  await s.shot('20-train-advanced');

  await train.train();
  await train.waitForStatus('running');
  const { id: runId } = await train.selected();

  // The charts move: batch points arrive, then epochs; the canvas redraws.
  await train.waitForPoints('batch-loss', 0);
  const before = await train.canvasImage('epoch-loss');
  const epochPoints = await train.waitForPoints('epoch-loss', 2);
  await train.waitForPoints('epoch-loss', epochPoints);
  assert.notEqual(await train.canvasImage('epoch-loss'), before, 'the epoch loss chart redrew');
  const batches = await train.points('batch-loss');
  await train.waitForPoints('batch-loss', batches);
  await s.shot('21-train-live');

  // Reload mid-run: the workspace, the run and its curves come back (stored epochs plus the live batches).
  await page.reload();
  await train.root.waitFor();
  assert.equal((await train.selected()).id, runId);
  await train.waitForStatus('running');
  await train.waitForPoints('epoch-loss', 2);
  await train.waitForPoints('batch-loss', 0);
  await s.shot('22-train-after-reload');

  // Stop keeps the best checkpoint; resume continues from the last one.
  await train.stop();
  await train.waitForStatus('stopped');
  await page.locator(`[data-testid="run-row"][data-run-id="${runId}"][data-status="stopped"]`).waitFor();
  const stopped = await hostApi(served, 'runs:get', { runId });
  assert.equal(stopped.run.status, 'stopped');
  const epochsAtStop = stopped.run.epochsDone;
  assert.ok(epochsAtStop >= 2);

  await train.resume();
  await train.waitForStatus('running');
  await page.waitForFunction(
    ({ n }) => Number(document.querySelector('[data-testid="chart-epoch-loss"]')?.getAttribute('data-points') ?? 0) > n,
    { n: (await train.points('epoch-loss')) + 1 },
    { timeout: 60_000 },
  );
  await train.stop();
  await train.waitForStatus('stopped');
  const resumed = await hostApi(served, 'runs:get', { runId });
  assert.ok(resumed.run.epochsDone > epochsAtStop, `resumed past epoch ${epochsAtStop} (now ${resumed.run.epochsDone})`);
  assert.ok(await advice.isVisible(), 'the advice stays above the stopped run and its curves');
  await s.shot('23-train-stopped');

  assert.deepEqual(s.pageErrors, []);
});
