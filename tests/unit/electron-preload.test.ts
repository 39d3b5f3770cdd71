/**
 * The preload as it ships: bundled by the real build options, then run like Electron's sandbox runs it (a
 * `require` that knows only 'electron') with a fake contextBridge/ipcRenderer. It must expose exactly
 * `window.loupe = { invoke, on, mediaUrl }`, serve the contract's methods and nothing else, and — wired to the
 * real main IPC handler and a real LoupeCore — carry replies and error codes across.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { compileFunction } from 'node:vm';
import { build, type Metafile } from 'esbuild';
import { MAIN_EXTERNALS, checkPreloadBundle, mainOptions, preloadOptions } from '../../scripts/build-electron.js';
import { LoupeCore } from '../../electron/core/api/loupe-core.ts';
import { registerIpc } from '../../electron/main/ipc.ts';
import { parseMediaUrl } from '../../electron/main/protocol.ts';
import { isTrustedSender } from '../../electron/main/security.ts';
import { methods } from '../../shared/contract.ts';
import { IPC_EVENT_CHANNEL, IPC_INVOKE_CHANNEL, type LoupeBridge } from '../../shared/transport.ts';
import { FakeContextBridge, FakeIpcMain, FakeIpcRenderer, fakeWindowShowing } from '../helpers/electron-fakes.ts';
import { tempDir } from '../helpers/tmp.ts';

let bundle: { code: string; metafile: Metafile } | null = null;
async function preloadBundle(): Promise<{ code: string; metafile: Metafile }> {
  if (!bundle) {
    const result = await build({ ...preloadOptions(methods), write: false });
    const file = result.outputFiles?.find((f) => f.path.endsWith('preload.cjs'));
    assert.ok(file && result.metafile);
    bundle = { code: file.text, metafile: result.metafile };
  }
  return bundle;
}

/** Runs the bundle as the sandbox would; returns what it exposed and the fakes. */
async function loadPreload(): Promise<{ bridge: FakeContextBridge; ipc: FakeIpcRenderer; required: string[] }> {
  const { code } = await preloadBundle();
  const bridge = new FakeContextBridge();
  const ipc = new FakeIpcRenderer();
  const required: string[] = [];
  const sandboxRequire = (name: string): unknown => {
    required.push(name);
    if (name === 'electron') return { contextBridge: bridge, ipcRenderer: ipc };
    throw new Error(`module not found: ${name} (sandboxed preloads cannot require it)`);
  };
  const module = { exports: {} };
  compileFunction(code, ['require', 'module', 'exports'])(sandboxRequire, module, module.exports);
  return { bridge, ipc, required };
}

test('the preload bundle is one file that needs only electron, and carries no zod', async () => {
  const { code, metafile } = await preloadBundle();
  checkPreloadBundle(code);
  assert.throws(() => checkPreloadBundle(`${code}\nrequire("fs");`), /may only require 'electron'.*fs/);
  const inputs = Object.keys(metafile.inputs);
  assert.ok(inputs.every((p) => !p.includes('node_modules/')), `bundled packages: ${inputs.join(', ')}`);
  assert.ok(inputs.some((p) => p.endsWith('electron/preload/bridge.ts')));
  assert.ok(!inputs.some((p) => p.endsWith('shared/contract.ts')), 'the contract (and zod) stays in main');
  const { required } = await loadPreload();
  assert.deepEqual(required, ['electron']);
});

test('it exposes exactly window.loupe = { invoke, on, mediaUrl }, never ipcRenderer', async () => {
  const { bridge, ipc } = await loadPreload();
  assert.deepEqual([...bridge.exposed.keys()], ['loupe']);
  const api = bridge.exposed.get('loupe') as Record<string, unknown>;
  assert.deepEqual(Object.keys(api).sort(), ['invoke', 'mediaUrl', 'on']);
  for (const value of Object.values(api)) {
    assert.equal(typeof value, 'function');
    assert.notEqual(value, ipc);
    assert.notEqual(value, ipc.invoke);
    assert.notEqual(value, ipc.on);
  }
});

test('invoke serves every contract method over the invoke channel and refuses other names', async () => {
  const { bridge, ipc } = await loadPreload();
  const loupe = bridge.exposed.get('loupe') as LoupeBridge;
  ipc.reply = async (_channel, method) => ({ ok: true, data: { echoed: method } });
  for (const method of methods) {
    const data = await loupe.invoke(method, {} as never);
    assert.deepEqual(data, { echoed: method });
  }
  assert.equal(ipc.calls.length, methods.length);
  assert.ok(ipc.calls.every((c, i) => c.channel === IPC_INVOKE_CHANNEL && c.args[0] === methods[i]));

  for (const name of ['nope:nothing', 'toString', '__proto__', '', 42]) {
    await assert.rejects(loupe.invoke(name as never, {} as never), (e: unknown) => {
      assert.deepEqual(Object.keys(e as object).sort(), ['code', 'message', 'name']);
      assert.equal((e as { code: string }).code, 'NOT_FOUND');
      return true;
    });
  }
  assert.equal(ipc.calls.length, methods.length, 'refused names never reach main');

  ipc.reply = async () => ({ ok: false, error: { name: 'LoupeError', code: 'NO_PROJECT', message: 'No project is open' } });
  await assert.rejects(loupe.invoke('images:query', {}), { code: 'NO_PROJECT', message: 'No project is open' });
  ipc.reply = async () => 'garbage';
  await assert.rejects(loupe.invoke('app:info', {}), { code: 'INTERNAL' });
});

test('on() delivers (event, payload) without the IPC event, and unsubscribes', async () => {
  const { bridge, ipc } = await loadPreload();
  const loupe = bridge.exposed.get('loupe') as LoupeBridge;
  const seen: unknown[][] = [];
  const off = loupe.on((...args: unknown[]) => seen.push(args));
  const ipcEvent = { sender: ipc, senderId: 0 };
  ipc.emit(IPC_EVENT_CHANNEL, ipcEvent, { event: 'project:changed', payload: { reason: 'images' } });
  ipc.emit(IPC_EVENT_CHANNEL, ipcEvent, 'not an event');
  assert.deepEqual(seen, [['project:changed', { reason: 'images' }]]);
  off();
  assert.equal(ipc.listenerCount(IPC_EVENT_CHANNEL), 0);
  ipc.emit(IPC_EVENT_CHANNEL, ipcEvent, { event: 'project:changed', payload: { reason: 'closed' } });
  assert.equal(seen.length, 1);
  assert.throws(() => loupe.on('x' as never), TypeError);
});

test('mediaUrl builds loupe:// URLs that main accepts, and nothing else', async () => {
  const { bridge } = await loadPreload();
  const loupe = bridge.exposed.get('loupe') as LoupeBridge;
  for (const kind of ['thumb', 'image', 'raw'] as const) {
    const url = loupe.mediaUrl(kind, 12);
    assert.equal(url, `loupe://${kind}/12`);
    assert.deepEqual(parseMediaUrl(url), { kind, id: 12 });
  }
  for (const [kind, id] of [['thumb', 0], ['thumb', -1], ['thumb', 1.5], ['thumb', NaN], ['file', 1], ['../thumb', 1]] as const) {
    assert.throws(() => loupe.mediaUrl(kind as never, id), TypeError, `${kind}/${id}`);
  }
});

test('preload -> main IPC -> real LoupeCore: data and error codes cross the boundary', async () => {
  const dir = tempDir('loupe-preload-');
  const rendererDir = join(dir, 'dist', 'renderer');
  const win = fakeWindowShowing(pathToFileURL(join(rendererDir, 'index.html')).href);
  const core = new LoupeCore({ face: 'electron', configDir: join(dir, 'config') });
  const ipcMain = new FakeIpcMain();
  registerIpc({ ipcMain, core, isTrustedSender: (e) => isTrustedSender(e, win, rendererDir), log: () => {} });
  const { bridge, ipc } = await loadPreload();
  const event = { sender: win.webContents, senderFrame: win.webContents.mainFrame };
  ipc.reply = (channel, ...args) => ipcMain.invoke(channel, event, ...args);
  const loupe = bridge.exposed.get('loupe') as LoupeBridge;

  const info = await loupe.invoke('app:info', {});
  assert.equal(info.face, 'electron');
  await assert.rejects(loupe.invoke('images:query', {}), { code: 'NO_PROJECT' });
  await assert.rejects(loupe.invoke('images:get', { id: -1 }), (e: { code: string; message: string }) => {
    assert.equal(e.code, 'VALIDATION');
    assert.match(e.message, /images:get/);
    return true;
  });
  const project = await loupe.invoke('projects:create', { path: join(dir, 'project') });
  assert.equal(project.path, join(dir, 'project'));
  const page = await loupe.invoke('images:query', {});
  assert.equal(page.total, 0);
  await core.shutdown();
});

test('the main bundle builds and loads only Node built-ins and the declared externals at run time', async () => {
  const result = await build({ ...mainOptions(), write: false, metafile: true, sourcemap: false });
  const out = Object.values(result.metafile!.outputs)[0]!;
  const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
  const allowed = (p: string) =>
    builtins.has(p) ||
    MAIN_EXTERNALS.some((ext) => (ext.endsWith('/*') ? p.startsWith(ext.slice(0, -1)) : p === ext || p.startsWith(`${ext}/`)));
  const externals = out.imports.filter((i) => i.external).map((i) => i.path);
  assert.ok(externals.includes('electron'));
  assert.deepEqual(externals.filter((p) => !allowed(p)), []);
  assert.equal(out.entryPoint, 'electron/main/index.ts');
});
