/**
 * Electron IPC over a real LoupeCore (temp config and project folders): every contract method is served by
 * the one handler, payloads are validated, foreign senders are refused, events reach the window.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { LoupeCore } from '../../electron/core/api/loupe-core.ts';
import { makeFilePicker, makeFolderPicker } from '../../electron/main/dialogs.ts';
import { forwardEvents, registerIpc } from '../../electron/main/ipc.ts';
import { isTrustedSender, type SenderEvent } from '../../electron/main/security.ts';
import { methods } from '../../shared/contract.ts';
import { IPC_EVENT_CHANNEL, IPC_INVOKE_CHANNEL, type WireReply } from '../../shared/transport.ts';
import { FakeIpcMain, fakeFrame, fakeWindowShowing, type FakeBrowserWindow } from '../helpers/electron-fakes.ts';
import { tempDir } from '../helpers/tmp.ts';

interface Rig {
  core: LoupeCore;
  ipc: FakeIpcMain;
  win: FakeBrowserWindow;
  rendererDir: string;
  logs: string[];
  dialogAnswer: { canceled: boolean; filePaths: string[] };
  /** The options each native dialog was opened with. */
  dialogOptions: Record<string, unknown>[];
  call(method: unknown, payload?: unknown, event?: SenderEvent): Promise<WireReply<any>>;
  trusted(): SenderEvent;
}

function rig(): Rig {
  const dir = tempDir('loupe-ipc-');
  const rendererDir = join(dir, 'app', 'dist', 'renderer');
  const win = fakeWindowShowing(pathToFileURL(join(rendererDir, 'index.html')).href + '#/grid');
  const logs: string[] = [];
  const r = {
    dialogAnswer: { canceled: true, filePaths: [] as string[] },
    dialogOptions: [] as Record<string, unknown>[],
  } as Rig;
  const dialog = {
    showOpenDialog: async (options: Record<string, unknown>) => {
      r.dialogOptions.push(options);
      return r.dialogAnswer;
    },
  };
  const core = new LoupeCore({
    face: 'electron',
    configDir: join(dir, 'config'),
    pickFolder: makeFolderPicker(dialog as never, () => null),
    pickFile: makeFilePicker(dialog as never, () => null),
  });
  const ipc = new FakeIpcMain();
  registerIpc({
    ipcMain: ipc,
    core,
    isTrustedSender: (event) => isTrustedSender(event, win, rendererDir),
    log: (m) => logs.push(m),
  });
  const trusted = (): SenderEvent => ({ sender: win.webContents as never, senderFrame: win.webContents.mainFrame });
  Object.assign(r, {
    core,
    ipc,
    win,
    rendererDir,
    logs,
    trusted,
    call: (method: unknown, payload: unknown = {}, event: SenderEvent = trusted()) =>
      ipc.invoke(IPC_INVOKE_CHANNEL, event, method, payload) as Promise<WireReply<any>>,
  });
  return r;
}

test('one handler on the invoke channel serves every contract method, validating each payload', async () => {
  const r = rig();
  assert.deepEqual([...r.ipc.handlers.keys()], [IPC_INVOKE_CHANNEL]);
  assert.ok(methods.length >= 16);
  for (const method of methods) {
    // A number is not a valid request for any method: each must answer VALIDATION naming the method, which
    // proves the call reached the contract's zod schema for that method.
    const reply = await r.call(method, 42);
    assert.equal(reply.ok, false, method);
    if (reply.ok) continue;
    assert.equal(reply.error.code, 'VALIDATION', `${method}: ${reply.error.message}`);
    assert.match(reply.error.message, new RegExp(method.replace(':', '\\:')));
  }
});

test('every contract method reaches a core handler (an empty request never hits a missing handler)', async () => {
  const r = rig();
  for (const method of methods) {
    const reply = await r.call(method, {});
    // Without a project most methods answer NO_PROJECT or VALIDATION; a method with no handler behind it
    // would surface as INTERNAL ("handler is not a function") or NOT_FOUND ("Unknown method").
    if (!reply.ok) {
      assert.notEqual(reply.error.code, 'INTERNAL', `${method}: ${reply.error.message}`);
      assert.doesNotMatch(reply.error.message, /Unknown method/, method);
    }
  }
  await r.core.shutdown();
});

test('valid calls return core data; unknown methods answer NOT_FOUND', async () => {
  const r = rig();
  const info = await r.call('app:info');
  assert.ok(info.ok);
  assert.equal(info.data.face, 'electron');
  assert.equal(info.data.nativeDialogs, true);

  const projectDir = join(tempDir('loupe-ipc-project-'), 'p');
  const created = await r.call('projects:create', { path: projectDir, name: 'IPC test' });
  assert.ok(created.ok, JSON.stringify(created));
  assert.equal(created.data.name, 'IPC test');
  assert.ok(existsSync(join(projectDir, 'project.db')));

  const page = await r.call('images:query', {});
  assert.ok(page.ok);
  assert.equal(page.data.total, 0);

  const bad = await r.call('images:query', { limit: 100000 });
  assert.ok(!bad.ok);
  assert.equal(bad.error.code, 'VALIDATION');
  assert.match(bad.error.message, /limit/);

  for (const name of ['nope:nothing', '__proto__', 'constructor', 42, null, { method: 'app:info' }]) {
    const reply = await r.call(name);
    assert.ok(!reply.ok);
    assert.equal(reply.error.code, 'NOT_FOUND', String(name));
  }
  await r.core.shutdown();
});

test('calls from foreign senders are refused before they reach core', async () => {
  const r = rig();
  const projectDir = join(tempDir('loupe-ipc-foreign-'), 'p');
  const main = r.win.webContents.mainFrame;
  const other = fakeWindowShowing(main.url);
  const foreign: [string, SenderEvent][] = [
    ['no frame', { sender: r.win.webContents as never, senderFrame: null }],
    ['a subframe of our page', { sender: r.win.webContents as never, senderFrame: fakeFrame(main.url, main) }],
    ['another window', { sender: other.webContents as never, senderFrame: other.webContents.mainFrame }],
    ['a frame that is not our main frame', { sender: r.win.webContents as never, senderFrame: fakeFrame(main.url) }],
  ];
  for (const [label, event] of foreign) {
    await assert.rejects(r.call('projects:create', { path: projectDir }, event), /untrusted frame/, label);
  }
  // Our own main frame after navigating away from the app's page.
  (main as { url: string }).url = 'https://example.com/';
  await assert.rejects(r.call('projects:create', { path: projectDir }), /untrusted frame/);
  (main as { url: string }).url = pathToFileURL(join(r.rendererDir, '..', 'elsewhere.html')).href;
  await assert.rejects(r.call('projects:create', { path: projectDir }), /untrusted frame/);
  // A destroyed window trusts nobody.
  (main as { url: string }).url = pathToFileURL(join(r.rendererDir, 'index.html')).href;
  r.win.destroyed = true;
  await assert.rejects(r.call('projects:create', { path: projectDir }), /untrusted frame/);

  assert.equal(existsSync(projectDir), false, 'no refused call may reach core');
  assert.ok(r.logs.length >= 7 && r.logs.every((l) => /untrusted frame/.test(l)));
  r.win.destroyed = false;
  const ok = await r.call('app:info');
  assert.ok(ok.ok, 'the trusted sender is still served');
});

test('dialogs:pickFolder goes through the native picker', async () => {
  const r = rig();
  r.dialogAnswer = { canceled: false, filePaths: ['/data/xrays'] };
  const picked = await r.call('dialogs:pickFolder', { title: 'Import' });
  assert.deepEqual(picked, { ok: true, data: { supported: true, path: '/data/xrays' } });
  r.dialogAnswer = { canceled: true, filePaths: [] };
  const canceled = await r.call('dialogs:pickFolder', {});
  assert.deepEqual(canceled, { ok: true, data: { supported: true, path: null } });
});

test('dialogs:pickFile opens the native file picker filtered to the extensions asked for', async () => {
  const r = rig();
  r.dialogAnswer = { canceled: false, filePaths: ['/data/models/resnet18.onnx'] };
  const picked = await r.call('dialogs:pickFile', { title: 'ONNX backbone', files: ['.onnx'] });
  assert.deepEqual(picked, { ok: true, data: { supported: true, path: '/data/models/resnet18.onnx' } });
  assert.deepEqual(r.dialogOptions[0], {
    title: 'ONNX backbone',
    filters: [{ name: '.onnx', extensions: ['onnx'] }],
    properties: ['openFile', 'dontAddToRecent'],
  });
  r.dialogAnswer = { canceled: true, filePaths: [] };
  assert.deepEqual(await r.call('dialogs:pickFile', { files: ['.onnx', '.ONNX'] }), { ok: true, data: { supported: true, path: null } });
  // The filter is checked before any dialog opens: no extension, a path, or a long list is refused.
  for (const files of [[], ['onnx'], ['../x'], ['.a/b'], Array.from({ length: 11 }, (_, i) => `.e${i}`)]) {
    const bad = await r.call('dialogs:pickFile', { files });
    assert.equal(bad.ok ? 'ok' : bad.error.code, 'VALIDATION', JSON.stringify(files));
  }
  assert.equal(r.dialogOptions.length, 2);
});

test('core events are forwarded to the window on the event channel, not to a destroyed one', async () => {
  const r = rig();
  const contents = r.win.webContents;
  const stop = forwardEvents(r.core, () => contents);
  const projectDir = join(tempDir('loupe-ipc-events-'), 'p');
  await r.call('projects:create', { path: projectDir });
  assert.deepEqual(contents.sent, [
    { channel: IPC_EVENT_CHANNEL, message: { event: 'project:changed', payload: { reason: 'opened' } } },
  ]);
  contents.destroyed = true;
  await r.call('projects:close');
  assert.equal(contents.sent.length, 1);
  contents.destroyed = false;
  stop();
  await r.call('projects:open', { path: projectDir });
  assert.equal(contents.sent.length, 1, 'unsubscribed');
  await r.core.shutdown();
});
