// E2E (issue 14, the flaky "flags and a note" test): a sidebar count read that is on its way while the user
// edits must not put the count from before the edit back. The page's WebSocket is routed through the test, which
// holds the replies to count reads (images:query with limit 1) while another client's edit makes the page
// re-read its counts; Shift+X is pressed while those replies are held. Before the fix, the held replies (answered
// before the write) set `excluded` back to 1 and it stayed there: the edit's own change event is ignored as
// expected, so nothing read the counts again.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { WebSocketRoute } from 'playwright-core';
import { loupeCli } from './support/cli.ts';
import { hostApi } from './support/host-api.ts';
import { openSession, type Session } from './support/session.ts';
import { MainPage } from './pages/main-page.ts';
import { LabelPage } from './pages/label-page.ts';

let s: Session;

before(async () => {
  s = await openSession({
    name: 'count-race',
    viewport: { width: 1100, height: 700 },
    prepare: async ({ tmp, home }) => {
      const project = join(tmp, 'project');
      loupeCli(['sample', project, '--per-class', '10'], home);
      return project;
    },
  });
});

after(() => s?.close());

/** Routes the page's socket through the test; while `hold` is on, replies to count reads wait for `release`. */
function countReplyGate() {
  const countCalls = new Set<number>();
  const held: (() => void)[] = [];
  let hold = false;
  let sawHeldRead: () => void = () => {};
  const gate = {
    heldRead: new Promise<void>((r) => (sawHeldRead = r)),
    get heldCount() {
      return held.length;
    },
    start() {
      hold = true;
    },
    release() {
      hold = false;
      for (const send of held.splice(0)) send();
    },
    route(ws: WebSocketRoute) {
      const server = ws.connectToServer();
      ws.onMessage((m) => {
        const frame = typeof m === 'string' ? (JSON.parse(m) as { call?: number; method?: string; request?: { limit?: number } }) : {};
        if (frame.method === 'images:query' && frame.request?.limit === 1 && frame.call !== undefined) countCalls.add(frame.call);
        server.send(m);
      });
      server.onMessage((m) => {
        const frame = typeof m === 'string' ? (JSON.parse(m) as { call?: number }) : {};
        if (hold && frame.call !== undefined && countCalls.has(frame.call)) {
          held.push(() => ws.send(m));
          sawHeldRead();
        } else ws.send(m);
      });
    },
  };
  return gate;
}

test('a count read overlapping an edit does not bring the old count back', async () => {
  const { page, served } = s;
  const gate = countReplyGate();
  await page.routeWebSocket(/\/events/, (ws) => gate.route(ws));
  const main = new MainPage(page);
  const ui = new LabelPage(page);
  await page.goto(served.url);
  await main.waitForCount('all', 30);
  await main.waitForGrid(30);

  await ui.cell(0).click();
  const [id, other] = (await ui.cellIds()) as [number, number];
  await ui.press('Shift+X');
  await main.waitForCount('excluded', 1);
  await ui.cellById(id).getByTestId('badge-excluded').waitFor();

  // Another client edits a different image: the page hears project:changed and reads its counts again.
  gate.start();
  await hostApi(served, 'images:setFlags', { imageIds: [other], unsure: true });
  await gate.heldRead;
  // The count read is answered (for the database before the next write) but not delivered yet: turn the flag off.
  await ui.press('Shift+X');
  await ui.cellById(id).getByTestId('badge-excluded').waitFor({ state: 'detached' });
  await main.waitForCount('excluded', 0);
  assert.ok(gate.heldCount > 0, 'count replies are being held');
  const stored = await hostApi(served, 'images:get', { id });
  assert.equal(stored.excluded, false, 'the host has the flag off');
  gate.release();

  // The late replies must not win: the count is 0, and still 0 once every re-read has landed.
  await main.waitForCount('unsure', 1);
  await new Promise((r) => setTimeout(r, 1500));
  await main.waitForCount('excluded', 0, 1000);
  assert.deepEqual(s.pageErrors, []);
});
