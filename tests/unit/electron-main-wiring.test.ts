/**
 * The built main bundle itself, loaded under plain Node with `electron` redirected to a fake
 * (tests/helpers/fake-electron.ts): before 'ready' it registers the privileged scheme and enables the sandbox;
 * after, it guards the session, serves `loupe://`, creates the secure window and answers every contract
 * method over IPC from a real LoupeCore; on quit it shuts core down.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync } from 'node:fs';
import { register } from 'node:module';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { mainOptions, workerOptions } from '../../scripts/build-electron.js';
import { methods } from '../../shared/contract.ts';
import { IPC_INVOKE_CHANNEL, type WireReply } from '../../shared/transport.ts';
import * as electron from '../helpers/fake-electron.ts';
import type { FakeBrowserWindow } from '../helpers/electron-fakes.ts';
import { tempDir } from '../helpers/tmp.ts';

const root = join(import.meta.dirname, '..', '..');
// Inside the repo so the bundle's externals (better-sqlite3, sharp) resolve from node_modules.
const outRoot = join(root, 'tests', '.artifacts', `electron-main-${process.pid}`);
const outfile = join(outRoot, 'dist', 'electron', 'main.js');
after(() => rmSync(outRoot, { recursive: true, force: true }));

async function loadBuiltMain(): Promise<void> {
  mkdirSync(outRoot, { recursive: true });
  await build({ ...mainOptions(), outfile, sourcemap: false });
  // The training process it forks (training:doctor runs it).
  await build({ ...workerOptions(), outfile: join(outRoot, 'dist', 'electron', 'train-worker.js'), sourcemap: false });
  const fake = pathToFileURL(join(import.meta.dirname, '..', 'helpers', 'fake-electron.ts')).href;
  const hooks = `export async function resolve(specifier, context, next) {
    if (specifier === 'electron') return { url: ${JSON.stringify(fake)}, shortCircuit: true };
    return next(specifier, context);
  }`;
  register(`data:text/javascript,${encodeURIComponent(hooks)}`);
  await import(pathToFileURL(outfile).href);
}

test('the built main wires security, protocol, window and IPC for every contract method', async () => {
  process.env['LOUPE_CONFIG_DIR'] = tempDir('loupe-main-config-');
  await loadBuiltMain();

  // Before 'ready'.
  assert.equal(electron.app.sandboxEnabled, true, 'app.enableSandbox() before ready');
  assert.deepEqual(
    electron.protocol.privileged.map((s) => (s as { scheme: string }).scheme),
    ['loupe'],
  );
  assert.equal(electron.BrowserWindow.created.length, 0, 'no window before ready');

  electron.app.fireReady();
  await new Promise((r) => setTimeout(r, 50));

  // Session guards, protocol, window.
  const ses = electron.session.defaultSession;
  assert.ok(ses.beforeRequest && ses.headersReceived && ses.permissionRequest && ses.permissionCheck);
  assert.deepEqual(await ses.request('https://example.com/x.js'), { cancel: true });
  assert.ok(electron.protocol.handlers.has('loupe'));
  const win = electron.BrowserWindow.created.at(-1) as FakeBrowserWindow;
  assert.ok(win, 'a window was created');
  const appRoot = resolve(outRoot);
  assert.equal(win.loaded, join(appRoot, 'dist', 'renderer', 'electron.html'));
  const prefs = win.options.webPreferences;
  assert.equal(prefs.contextIsolation, true);
  assert.equal(prefs.sandbox, true);
  assert.equal(prefs.nodeIntegration, false);
  assert.equal(prefs.webSecurity, true);
  assert.equal(prefs.devTools, false, 'no DevTools in a packaged build');
  assert.equal(prefs.preload, join(appRoot, 'dist', 'electron', 'preload.cjs'));

  // Every WebContents gets the navigation guards.
  electron.app.emit('web-contents-created', {}, win.webContents);
  assert.deepEqual(win.webContents.windowOpenHandler?.({ url: 'https://example.com' }), { action: 'deny' });

  // IPC: the one handler answers every method from the real core; foreign frames are refused.
  (win.webContents.mainFrame as { url: string }).url = pathToFileURL(win.loaded!).href;
  const event = { sender: win.webContents, senderFrame: win.webContents.mainFrame };
  const call = (method: string, payload: unknown) =>
    electron.ipcMain.invoke(IPC_INVOKE_CHANNEL, event, method, payload) as Promise<WireReply<any>>;
  for (const method of methods) {
    const invalid = await call(method, 'not an object');
    assert.ok(!invalid.ok && invalid.error.code === 'VALIDATION', method);
    const empty = await call(method, {});
    if (!empty.ok) assert.notEqual(empty.error.code, 'INTERNAL', `${method}: ${empty.error.message}`);
  }
  // Its training processes ask main for the GPU window (issue 16); this build has no GPU page, and the doctor says so.
  const doctor = await call('training:doctor', {});
  assert.ok(doctor.ok);
  assert.match(doctor.data.rejected.find((r: { name: string }) => r.name === 'gpu-host')?.reason ?? '', /the GPU window could not open: its page is not built/);
  assert.equal(doctor.data.gpu.host, "the app's GPU window");
  // The application menu is installed; its UI commands reach the renderer as events.
  assert.ok(electron.Menu.installed && electron.Menu.installed.length >= 4);
  const info = await call('app:info', {});
  assert.ok(info.ok);
  assert.equal(info.data.face, 'electron');
  assert.equal(info.data.nativeDialogs, true);
  // The native file picker is wired too, offering only the extensions asked for.
  electron.dialog.opened.length = 0;
  assert.deepEqual(await call('dialogs:pickFile', { files: ['.onnx'] }), { ok: true, data: { supported: true, path: null } });
  assert.deepEqual((electron.dialog.opened[0] as { filters: unknown }).filters, [{ name: '.onnx', extensions: ['onnx'] }]);
  await assert.rejects(
    electron.ipcMain.invoke(IPC_INVOKE_CHANNEL, { sender: {}, senderFrame: event.senderFrame }, 'app:info', {}),
    /untrusted frame/,
  );

  // Quitting waits for core to shut down, then quits for real.
  electron.app.quit();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(electron.app.quitCalls, 2, 'quit deferred once for core.shutdown(), then completed');
});
