/**
 * The renderer lock-down, read from the real objects main builds: webPreferences, the CSP, and the
 * network / permission / navigation guards driven through fakes of session and webContents.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  CONTENT_SECURITY_POLICY,
  guardWebContents,
  installSessionGuards,
  isAllowedRequestUrl,
  isFileUrlInside,
} from '../../electron/main/security.ts';
import { appPaths, createMainWindow, focusWindow, mainWindowOptions, secureWebPreferences } from '../../electron/main/window.ts';
import { electronPage } from '../../scripts/build-electron.js';
import { FakeBrowserWindow, FakeEvent, FakeSession, FakeWebContents } from '../helpers/electron-fakes.ts';

const appRoot = resolve('/opt/loupe-test-app');
const paths = appPaths(join(appRoot, 'dist', 'electron'));
const fileUrl = (p: string) => pathToFileURL(p).href;

test('the window is created with the secure webPreferences and loads only the built renderer', () => {
  FakeBrowserWindow.created.length = 0;
  const win = createMainWindow(FakeBrowserWindow, paths);
  assert.equal(FakeBrowserWindow.created.length, 1);
  const prefs = win.options.webPreferences;
  assert.equal(prefs.contextIsolation, true);
  assert.equal(prefs.sandbox, true);
  assert.equal(prefs.nodeIntegration, false);
  assert.equal(prefs.nodeIntegrationInWorker, false);
  assert.equal(prefs.nodeIntegrationInSubFrames, false);
  assert.equal(prefs.webSecurity, true);
  assert.equal(prefs.allowRunningInsecureContent, false);
  assert.equal(prefs.experimentalFeatures, false);
  assert.equal(prefs.webviewTag, false);
  assert.equal(prefs.navigateOnDragDrop, false);
  assert.equal('enableRemoteModule' in prefs, false, 'no remote');
  assert.equal(prefs.preload, join(appRoot, 'dist', 'electron', 'preload.cjs'));
  assert.deepEqual(win.options, mainWindowOptions(paths), 'the options main builds are the ones used');
  assert.equal(win.loaded, join(appRoot, 'dist', 'renderer', 'electron.html'));
  assert.equal(win.shown, false, 'shown only when ready');
  win.emit('ready-to-show');
  assert.equal(win.shown, true);
  win.minimized = true;
  focusWindow(win);
  assert.equal(win.minimized, false);
  assert.equal(win.focused, true);
  assert.deepEqual(secureWebPreferences('/p.cjs', { devTools: false }).devTools, false);
  const packaged = createMainWindow(FakeBrowserWindow, paths, () => {}, undefined, { devTools: false });
  assert.equal(packaged.options.webPreferences.devTools, false, 'main’s choice reaches the window');
});

test('the CSP allows no remote origin, no eval and no inline script', () => {
  const directives = new Map(
    CONTENT_SECURITY_POLICY.split(';').map((d) => {
      const [name, ...values] = d.trim().split(/\s+/);
      return [name!, values];
    }),
  );
  assert.deepEqual(directives.get('default-src'), ["'none'"]);
  assert.deepEqual(directives.get('script-src'), ["'self'"]);
  assert.deepEqual(directives.get('object-src'), ["'none'"]);
  assert.deepEqual(directives.get('base-uri'), ["'none'"]);
  assert.deepEqual(directives.get('frame-ancestors'), ["'none'"]);
  for (const [name, values] of directives) {
    for (const v of values) {
      assert.notEqual(v, "'unsafe-eval'", name);
      assert.notEqual(v, "'wasm-unsafe-eval'", name);
      assert.notEqual(v, '*', name);
      assert.doesNotMatch(v, /^(https?|wss?|ftp):/, `${name} names a remote scheme`);
      assert.doesNotMatch(v, /\./, `${name} names a host`);
    }
  }
  assert.ok(directives.get('img-src')?.includes('loupe:'));
});

test('file URLs are allowed only inside the renderer folder, whatever the spelling', () => {
  const roots = [paths.rendererDir];
  assert.equal(isFileUrlInside(fileUrl(paths.rendererIndex), roots), true);
  assert.equal(isFileUrlInside(fileUrl(join(paths.rendererDir, 'assets', 'index-abc.js')), roots), true);
  const outside = [
    fileUrl(paths.rendererDir),
    fileUrl(join(appRoot, 'package.json')),
    fileUrl('/etc/passwd'),
    `${fileUrl(paths.rendererDir)}/../../../etc/passwd`,
    `${fileUrl(paths.rendererDir)}/%2e%2e/%2e%2e/package.json`,
    `${fileUrl(paths.rendererDir)}/..%2f..%2fpackage.json`,
    `${fileUrl(paths.rendererDir)}-evil/index.html`,
    'file://remote-host/share/index.html',
    'not a url',
  ];
  for (const url of outside) assert.equal(isFileUrlInside(url, roots), false, url);
});

test('the network guard blocks and logs every request that is not the app or loupe://', async () => {
  const session = new FakeSession();
  const logs: string[] = [];
  installSessionGuards(session as never, { fileRoots: [paths.rendererDir], log: (m) => logs.push(m) });

  for (const url of [
    fileUrl(paths.rendererIndex),
    fileUrl(join(paths.rendererDir, 'assets', 'app.css')),
    'loupe://thumb/3',
    'data:image/png;base64,iVBORw0KGgo=',
    'blob:file:///8b2c1e9a-0000-4000-8000-000000000000',
  ]) {
    assert.deepEqual(await session.request(url), {}, url);
  }
  assert.equal(logs.length, 0);
  const blocked = [
    'https://example.com/track.js',
    'http://127.0.0.1:8080/api',
    'http://localhost/',
    'ws://127.0.0.1:9000/events',
    'wss://example.com/',
    'ftp://example.com/x',
    fileUrl('/etc/passwd'),
    `${fileUrl(paths.rendererDir)}/../../package.json`,
    'chrome-extension://abc/x.js',
    'javascript:alert(1)',
  ];
  for (const url of blocked) assert.deepEqual(await session.request(url, 'script'), { cancel: true }, url);
  assert.equal(logs.length, blocked.length);
  assert.match(logs[0]!, /blocked a script request to https:\/\/example\.com\/track\.js/);
  assert.equal(isAllowedRequestUrl('https://cdn.example/tfjs.wasm', [paths.rendererDir]), false);
});

test('pages get our CSP header, replacing any policy a response brings', async () => {
  const session = new FakeSession();
  installSessionGuards(session as never, { fileRoots: [paths.rendererDir], log: () => {} });
  const page = await session.headers({
    url: fileUrl(paths.rendererIndex),
    resourceType: 'mainFrame',
    responseHeaders: { 'content-security-policy': ["script-src *"], 'X-Other': ['1'] },
  });
  assert.deepEqual(page.responseHeaders, { 'X-Other': ['1'], 'Content-Security-Policy': [CONTENT_SECURITY_POLICY] });
  const image = await session.headers({ url: 'loupe://thumb/1', resourceType: 'image', responseHeaders: {} });
  assert.deepEqual(image, {});
});

test('permission requests and checks are denied, downloads refused', async () => {
  const session = new FakeSession();
  const logs: string[] = [];
  installSessionGuards(session as never, { fileRoots: [paths.rendererDir], log: (m) => logs.push(m) });
  for (const permission of ['media', 'geolocation', 'notifications', 'clipboard-read', 'openExternal', 'fullscreen']) {
    const granted = await new Promise<boolean>((done) => session.permissionRequest!({}, permission, done, {}));
    assert.equal(granted, false, permission);
    assert.equal(session.permissionCheck!({}, permission, 'file:///', {}), false, permission);
  }
  assert.equal(session.devicePermission!({ deviceType: 'usb' }), false);
  assert.equal(logs.length, 6);
  const download = new FakeEvent();
  session.emit('will-download', download, { getURL: () => 'https://example.com/x.zip' });
  assert.equal(download.defaultPrevented, true);
});

test('navigation, redirects, new windows and webviews are refused; the app page itself is not', () => {
  const contents = new FakeWebContents(fileUrl(paths.rendererIndex));
  const logs: string[] = [];
  guardWebContents(contents as never, { appPages: [paths.rendererIndex], log: (m) => logs.push(m) });

  const navigate = (url: string) => {
    const e = new FakeEvent();
    contents.emit('will-navigate', e, url);
    return e.defaultPrevented;
  };
  assert.equal(navigate(fileUrl(paths.rendererIndex)), false, 'reloading the app page');
  assert.equal(navigate(`${fileUrl(paths.rendererIndex)}#/images?class=2`), false);
  for (const url of [
    'https://example.com/',
    'http://127.0.0.1:1234/?token=x',
    fileUrl('/etc/passwd'),
    fileUrl(join(paths.rendererDir, 'other.html')),
    'loupe://image/1',
    'javascript:alert(1)',
  ]) {
    assert.equal(navigate(url), true, url);
  }

  const frameNav = new FakeEvent({ url: 'https://example.com/frame' });
  contents.emit('will-frame-navigate', frameNav);
  assert.equal(frameNav.defaultPrevented, true);

  const redirect = new FakeEvent();
  contents.emit('will-redirect', redirect, fileUrl(paths.rendererIndex));
  assert.equal(redirect.defaultPrevented, true);

  const webview = new FakeEvent();
  contents.emit('will-attach-webview', webview, {}, {});
  assert.equal(webview.defaultPrevented, true);

  assert.ok(contents.windowOpenHandler);
  for (const url of ['https://example.com/', fileUrl(paths.rendererIndex), 'about:blank']) {
    assert.deepEqual(contents.windowOpenHandler({ url }), { action: 'deny' });
  }
  assert.ok(logs.length >= 10);
});

test('the page Electron loads carries the same CSP as a meta tag, first in <head>', () => {
  const vitePage =
    '<!doctype html>\n<html lang="en">\n  <head>\n    <meta charset="UTF-8" />\n    <script type="module" crossorigin src="./assets/index-x.js"></script>\n  </head>\n  <body><div id="app"></div></body>\n</html>\n';
  const page = electronPage(vitePage, CONTENT_SECURITY_POLICY);
  const meta = /<head>\s*<meta http-equiv="Content-Security-Policy" content="([^"]+)" \/>/.exec(page);
  assert.ok(meta, page);
  const policy = meta[1]!.replaceAll('&amp;', '&');
  assert.ok(page.indexOf('Content-Security-Policy') < page.indexOf('<script'), 'before any script');
  const expected = CONTENT_SECURITY_POLICY.split('; ').filter((d) => !d.startsWith('frame-ancestors'));
  assert.deepEqual(policy.split('; '), expected);
  assert.equal(page.replace(/\n\s*<meta http-equiv="Content-Security-Policy"[^>]*>/, ''), vitePage, 'nothing else changes');
  assert.throws(() => electronPage('<html><body></body></html>', CONTENT_SECURITY_POLICY), /no <head>/);
});
