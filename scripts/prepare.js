// After `npm ci`/`npm install`: builds the renderer, so `npx loupe serve` has a UI to serve at once, and the
// bundles plain Node runs (the CLI and the gradient thread), which start in a third of the time the sources take
// through tsx (electron/core/prebuilt.mjs).
// Skipped quietly when the sources or the build tools are not there (e.g. a production install).
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

function run(args) {
  const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

if (existsSync('renderer/index.html') && existsSync('node_modules/vite')) run(['node_modules/vite/bin/vite.js', 'build', '--logLevel', 'warn']);
if (existsSync('electron/core/training/parallel/gradient-thread.ts') && existsSync('node_modules/esbuild')) run(['scripts/build-electron.js', '--node']);
