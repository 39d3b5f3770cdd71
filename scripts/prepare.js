// Builds the renderer after `npm ci`/`npm install`, so `npx loupe serve` has a UI to serve at once.
// Skipped quietly when the renderer sources or vite are not there (e.g. a production install).
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
if (existsSync('renderer/index.html') && existsSync('node_modules/vite')) {
  const r = spawnSync(process.execPath, ['node_modules/vite/bin/vite.js', 'build', '--logLevel', 'warn'], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
