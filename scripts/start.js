// `npm start [-- <project>]`: the desktop app when the Electron binary is installed or can be downloaded now;
// otherwise (a workstation that cannot reach GitHub's release servers, or ELECTRON_SKIP_BINARY_DOWNLOAD=1) the same
// UI through the browser host, `loupe serve`, with a one-line note instead of a failure. Electron's npm package
// downloads its binary on first use, not at `npm install` (issue 15), so the install never needs the network.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const args = process.argv.slice(2);

/**
 * The Electron executable, or null. Mirrors node_modules/electron/index.js without calling it: requiring
 * 'electron' from Node downloads a missing binary and throws where it cannot (see downloadElectron).
 */
function electronBinary() {
  let pkgDir;
  try {
    pkgDir = dirname(require.resolve('electron/package.json'));
  } catch {
    return null;
  }
  const pathFile = join(pkgDir, 'path.txt');
  const relative = existsSync(pathFile) ? readFileSync(pathFile, 'utf8').trim() : '';
  if (process.env.ELECTRON_OVERRIDE_DIST_PATH) {
    const exe = join(process.env.ELECTRON_OVERRIDE_DIST_PATH, relative || 'electron');
    return existsSync(exe) ? exe : null;
  }
  if (!relative) return null;
  const exe = join(pkgDir, 'dist', relative);
  return existsSync(exe) ? exe : null;
}

function run(command, commandArgs) {
  const r = spawnSync(command, commandArgs, { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const viteBuild = () => run(process.execPath, [join(root, 'node_modules/vite/bin/vite.js'), 'build', '--logLevel', 'warn']);

/** Keeps this process alive until the child has cleaned up and exited. */
function waitForChild(child, onExit) {
  child.on('exit', onExit);
  // Ctrl-C already reaches the child through the terminal's process group: forwarding SIGINT would make it a
  // second one, which stops the host before it has closed the project. SIGTERM may be sent to us alone.
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => child.kill('SIGTERM'));
}
const exitLikeChild = (code, signal) => process.exit(signal ? 1 : (code ?? 0));

/**
 * Fetches the Electron binary with the package's own installer (what `npx install-electron` runs), once, without
 * failing: where it cannot be downloaded, null. Bounded in time, so a network that drops packets still falls back.
 */
function downloadElectron() {
  if (process.env.ELECTRON_SKIP_BINARY_DOWNLOAD || process.env.ELECTRON_OVERRIDE_DIST_PATH) return null;
  let installer;
  try {
    installer = join(dirname(require.resolve('electron/package.json')), 'install.js');
  } catch {
    return null;
  }
  if (!existsSync(installer)) return null;
  console.log('Loupe: downloading the Electron binary (once)…');
  const r = spawnSync(process.execPath, [installer], { cwd: root, stdio: ['ignore', 'inherit', 'pipe'], encoding: 'utf8', timeout: 5 * 60_000 });
  if (r.status !== 0) {
    const reason = (r.error?.message ?? r.stderr ?? '').split('\n').find((l) => /error|ENOTFOUND|EAI_AGAIN|ECONN|timed? ?out/i.test(l));
    console.log(`Loupe: the Electron binary could not be downloaded${reason ? ` (${reason.trim().slice(0, 160)})` : ''}.`);
    return null;
  }
  return electronBinary();
}

const electron = electronBinary() ?? downloadElectron();
if (electron) {
  viteBuild();
  run(process.execPath, [join(root, 'scripts/build-electron.js')]);
  // better-sqlite3 is a V8-ABI module: build it for Electron to launch, and back for Node when the app quits,
  // so `npm test` under plain Node keeps working (issue 7).
  run(npm, ['exec', '--', 'electron-builder', 'install-app-deps']);
  const child = spawn(electron, [root, ...args], { cwd: root, stdio: 'inherit' });
  waitForChild(child, (code, signal) => {
    console.log('Loupe: rebuilding better-sqlite3 for Node (for npm test)…');
    spawnSync(npm, ['rebuild', 'better-sqlite3'], { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
    exitLikeChild(code, signal);
  });
} else {
  console.log(
    'Loupe: the Electron binary is not installed, so the same UI is served through the browser host (`loupe serve`) instead.',
  );
  if (!existsSync(join(root, 'dist/renderer/index.html'))) viteBuild();
  const child = spawn(process.execPath, [join(root, 'bin/loupe.js'), 'serve', '--open', ...args], { cwd: root, stdio: 'inherit' });
  waitForChild(child, exitLikeChild);
}
