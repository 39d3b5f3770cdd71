// Issue 15: the README's first command, `npm install && npm start`, must work as written both on a workstation that
// cannot reach GitHub's release servers and on a connected one. `npm start` (scripts/start.js) runs here in a
// scratch project whose Electron installer, binary, loupe CLI and build steps are small scripts that record calls.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/tmp.ts';

const RECORD = `const fs = require('node:fs'); const log = (s) => fs.appendFileSync(process.env.CALLS, s + '\\n');`;

/** A scratch project with start.js and recording stand-ins; `installer` is the body of electron/install.js. */
function scratch(installer: string): { dir: string; calls: () => string[] } {
  const dir = tempDir('loupe-start-');
  const put = (rel: string, text: string, exec = false) => {
    mkdirSync(join(dir, rel, '..'), { recursive: true });
    writeFileSync(join(dir, rel), text);
    if (exec) chmodSync(join(dir, rel), 0o755);
  };
  mkdirSync(join(dir, 'scripts'));
  copyFileSync('scripts/start.js', join(dir, 'scripts/start.js'));
  put('package.json', JSON.stringify({ name: 'scratch', private: true, type: 'module' }));
  put('node_modules/electron/package.json', JSON.stringify({ name: 'electron', version: '0.0.0' }));
  put('node_modules/electron/install.js', `${RECORD}\n${installer}`);
  put('bin/loupe.js', `import fs from 'node:fs'; fs.appendFileSync(process.env.CALLS, 'loupe ' + process.argv.slice(2).join(' ') + '\\n');`);
  put('dist/renderer/index.html', '<!doctype html>');
  put('node_modules/vite/bin/vite.js', `import fs from 'node:fs'; fs.appendFileSync(process.env.CALLS, 'vite build\\n');`);
  put('scripts/build-electron.js', `import fs from 'node:fs'; fs.appendFileSync(process.env.CALLS, 'build-electron\\n');`);
  put('node_modules/.bin/electron-builder', `#!/bin/sh\necho "electron-builder $*" >> "$CALLS"\n`, true);
  const calls = () => (existsSync(join(dir, 'calls')) ? readFileSync(join(dir, 'calls'), 'utf8').trim().split('\n') : []);
  return { dir, calls };
}

function start(dir: string, extraEnv: Record<string, string> = {}) {
  const env: NodeJS.ProcessEnv = { ...process.env, CALLS: join(dir, 'calls'), ...extraEnv };
  for (const k of ['ELECTRON_SKIP_BINARY_DOWNLOAD', 'ELECTRON_OVERRIDE_DIST_PATH', 'ONNXRUNTIME_NODE_INSTALL']) if (!(k in extraEnv)) delete env[k];
  return spawnSync(process.execPath, [join(dir, 'scripts/start.js'), 'my-project'], { cwd: dir, env, encoding: 'utf8', timeout: 60_000 });
}

test('offline: npm start tries the Electron download once, says why it failed in one line, and serves the browser host', () => {
  const { dir, calls } = scratch(`log('electron install'); console.error('Error: getaddrinfo ENOTFOUND github.com'); process.exit(1);`);
  const r = start(dir);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /Electron binary could not be downloaded \(Error: getaddrinfo ENOTFOUND github\.com\)/);
  assert.match(r.stdout, /served through the browser host/);
  assert.deepEqual(calls(), ['electron install', 'loupe serve --open my-project']);
});

test('ELECTRON_SKIP_BINARY_DOWNLOAD=1 still skips the download attempt', () => {
  const { dir, calls } = scratch(`log('electron install'); process.exit(1);`);
  const r = start(dir, { ELECTRON_SKIP_BINARY_DOWNLOAD: '1' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(calls(), ['loupe serve --open my-project']);
});

test('connected: npm start downloads the binary on first use and opens the desktop app', () => {
  // What @electron/get's installer leaves behind: dist/<exe> and path.txt naming it.
  const { dir, calls } = scratch(
    `log('electron install');
     const exe = require('node:path').join(__dirname, 'dist', 'electron');
     fs.mkdirSync(require('node:path').dirname(exe), { recursive: true });
     fs.writeFileSync(exe, '#!/bin/sh\\necho "electron $*" >> "$CALLS"\\n', { mode: 0o755 });
     fs.writeFileSync(require('node:path').join(__dirname, 'path.txt'), 'electron');`,
  );
  const r = start(dir);
  assert.equal(r.status, 0, r.stderr);
  const seen = calls();
  assert.deepEqual(seen.slice(0, 4), ['electron install', 'vite build', 'build-electron', 'electron-builder install-app-deps']);
  assert.equal(seen[4], `electron ${dir} my-project`);
  assert.ok(!seen.some((c) => c.startsWith('loupe serve')), 'no browser host when the app opens');
  // A second start finds the binary: no second download.
  start(dir);
  assert.equal(calls().filter((c) => c === 'electron install').length, 1);
});
