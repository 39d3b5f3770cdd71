// Issue 15: `npm install` must work as written, with no environment variables, on a workstation that cannot reach
// GitHub's release servers. The two downloads outside the npm registry were Electron's binary and onnxruntime-node's
// CUDA add-ons. (CI proves the whole install: .ci/run runs `npm ci` on a fresh machine with neither variable set.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { allowScripts?: Record<string, boolean> };

test("onnxruntime-node's CUDA download is off in the project's own npm configuration, for every npm", () => {
  // npm >= 11.19: the install script is denied outright.
  assert.equal(pkg.allowScripts?.['onnxruntime-node'], false);
  // Older npm runs it: the flag reaches it from .npmrc through npm's environment, and its own parser reads "skip".
  const env = { ...process.env };
  delete env['ONNXRUNTIME_NODE_INSTALL'];
  delete env['ONNXRUNTIME_NODE_INSTALL_CUDA'];
  for (const k of Object.keys(env)) if (k.toLowerCase().startsWith('npm_config_onnxruntime')) delete env[k];
  const r = spawnSync(
    process.platform === 'win32' ? 'npm.cmd' : 'npm',
    ['exec', '--offline', '--', 'node', '-e', "process.stdout.write(String(require('onnxruntime-node/script/install-utils.js').parseInstallFlag()))"],
    { env, encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'false', 'parseInstallFlag() === false means "skip"');
});

test('the native modules Loupe needs keep their install scripts where npm asks for approval', () => {
  for (const name of ['better-sqlite3', 'esbuild']) assert.equal(pkg.allowScripts?.[name], true, name);
});

test("Electron's package downloads nothing at install: its binary comes on first `npm start` (scripts/start.js)", () => {
  const electron = JSON.parse(readFileSync('node_modules/electron/package.json', 'utf8')) as { scripts?: Record<string, string> };
  for (const hook of ['preinstall', 'install', 'postinstall']) assert.equal(electron.scripts?.[hook], undefined, hook);
});
