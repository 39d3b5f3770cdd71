/**
 * Every contract method fuzzed with generated invalid payloads (tests/faults/support/fuzz.ts) through each
 * face: the live host's POST and its WebSocket (the real `loupe serve`), and the Electron IPC handler over a
 * real LoupeCore. Every payload must be answered with a validation error, nothing may crash, and project.db
 * must hold exactly the rows it held before (issue 14).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { LoupeCore } from '../../electron/core/api/loupe-core.ts';
import { registerIpc } from '../../electron/main/ipc.ts';
import { isTrustedSender } from '../../electron/main/security.ts';
import { methods } from '../../shared/contract.ts';
import { IPC_INVOKE_CHANNEL, type WireReply } from '../../shared/transport.ts';
import { startServe, type Served } from '../e2e/support/serve.ts';
import { FakeIpcMain, fakeWindowShowing } from '../helpers/electron-fakes.ts';
import { tempDir } from '../helpers/tmp.ts';
import { cloneOnlyCases, invalidCases, type Case } from './support/fuzz.ts';
import { importedProject, post, projectDigest, raw, socketCaller } from './support/live-host.ts';

let home: string;
let project: string;
let served: Served;
let baseline: ReturnType<typeof projectDigest>;
const { cases, droppedAsValid } = invalidCases();

before(async () => {
  home = tempDir('loupe-fuzz-');
  project = await importedProject(home);
  baseline = projectDigest(project);
  served = await startServe({ home, project, ui: false });
});
after(() => served.stop());

/** Runs `each` over `some` cases, a few at a time; returns the ones whose reply was not a validation error. */
async function fuzz(some: Case[], each: (c: Case) => Promise<WireReply<unknown>>, inFlight = 8): Promise<string[]> {
  const wrong: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < some.length) {
        const c = some[next++]!;
        const reply = await each(c);
        if (reply.ok || reply.error.code !== 'VALIDATION') {
          wrong.push(`${c.method} (${c.label}): ${JSON.stringify(reply).slice(0, 200)}`);
        }
      }
    }),
  );
  return wrong;
}

test('the generator covers every method with many invalid payloads', (t) => {
  t.diagnostic(`${cases.length} invalid payloads; ${droppedAsValid} generated values were valid and dropped`);
  const methodsHit = new Set(cases.map((c) => c.method));
  assert.deepEqual([...methodsHit].sort(), [...methods].sort(), 'every method of the contract');
  assert.ok(cases.length > 2000);
  for (const label of ['NaN', 'Infinity', 'negative', 'enormous', 'deep nesting', 'huge string', 'payload nested 100,000 deep']) {
    assert.ok(cases.some((c) => c.label.endsWith(label)), label);
  }
});

test('through the host’s POST: every payload gets 400 VALIDATION', async () => {
  const statuses = new Map<number, number>();
  const wrong = await fuzz(cases, async (c) => {
    const r = await raw(served, `/api/${c.method}`, { body: c.json });
    statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
    return r.json as WireReply<unknown>;
  });
  assert.deepEqual(wrong, []);
  assert.deepEqual([...statuses.keys()], [400]);
});

test('through the host’s WebSocket: every call frame gets a VALIDATION reply', async () => {
  const socket = await socketCaller(served);
  try {
    // A frame that is not JSON (NaN) has no call number to answer; the host drops it (tests/medium/host.test.ts).
    const frames = cases.filter((c) => !c.label.endsWith('NaN'));
    assert.ok(frames.length > cases.length * 0.9);
    const wrong = await fuzz(frames, (c) => socket.callJson(c.method, c.json), 32);
    assert.deepEqual(wrong, []);
  } finally {
    socket.close();
  }
});

test('the host is still up, logged no internal error, and changed no row of project.db', async () => {
  assert.equal((await post(served, 'app:info', {})).status, 200);
  await served.stop();
  assert.equal(served.child.exitCode, 0, served.log());
  assert.doesNotMatch(served.log(), /failed:|unexpected error/);
  assert.deepEqual(projectDigest(project), baseline);
});

test('through the Electron IPC handler: every payload gets VALIDATION, and project.db is unchanged', async () => {
  const core = new LoupeCore({ face: 'electron', configDir: join(home, 'ipc-config') });
  core.openProject(project);
  const ipc = new FakeIpcMain();
  const rendererDir = join(tempDir('loupe-fuzz-app-'), 'dist', 'renderer');
  const win = fakeWindowShowing(pathToFileURL(join(rendererDir, 'index.html')).href);
  const logs: string[] = [];
  const remove = registerIpc({ ipcMain: ipc, core, isTrustedSender: (e) => isTrustedSender(e, win, rendererDir), log: (m) => logs.push(m) });
  const event = { sender: win.webContents, senderFrame: win.webContents.mainFrame };
  // Electron's IPC structured-clones each argument (NaN and Infinity survive it); a renderer cannot send what
  // does not clone, such as a payload nested 100,000 deep.
  const sendable = [...cases.filter((c) => !c.label.startsWith('payload nested')), ...cloneOnlyCases()];
  assert.ok(sendable.length > cases.length);
  try {
    const wrong = await fuzz(sendable, async (c) => (await ipc.invoke(IPC_INVOKE_CHANNEL, event, c.method, structuredClone(c.payload))) as WireReply<unknown>);
    assert.deepEqual(wrong, []);
    assert.deepEqual(logs, []);
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined, 'no prototype was polluted');
  } finally {
    remove();
    await core.shutdown();
  }
  assert.deepEqual(projectDigest(project), baseline);
});
