// `npm test`: static checks (types, lint), then the test tiers with Node's test runner (TypeScript via tsx).
//   npm test                  everything
//   npm test -- unit medium   only those tiers, no static checks
//   TEST_FILTER=host npm test -- medium   only files whose path contains "host"
//   npm run faults            the fault-injection tier alone, at the full figures (LOUPE_FAULTS=full)
// Files run one after another: the machines have 2 cores and the e2e tier starts a browser.
// A tier folder without tests, an unknown tier name or a TEST_FILTER that selects nothing fails the run: a typo
// must not pass as "0 tests, ok".
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const all = ['unit', 'medium', 'faults', 'e2e'];
const asked = process.argv.slice(2);
const unknown = asked.filter((a) => !all.includes(a));
if (unknown.length) {
  console.error(`test.js: unknown tier ${unknown.join(', ')} (tiers: ${all.join(', ')})`);
  process.exit(2);
}
const tiers = asked.length ? asked : all;

// The fault tier's scale (tests/faults/support/scale.ts): the issue's full figures when it runs alone (`npm run
// faults`), a smaller run inside `npm test`, so CI stays within its time. LOUPE_FAULTS=full|quick overrides.
const faultScale = process.env.LOUPE_FAULTS ?? (asked.length === 1 && asked[0] === 'faults' ? 'full' : 'quick');

function run(label, cmd, args) {
  const t = Date.now();
  const r = spawnSync(cmd, args, { stdio: 'inherit', env: { ...process.env, LOUPE_TEST: '1', LOUPE_FAULTS: faultScale } });
  console.log(`test.js: ${label} ${r.status === 0 ? 'ok' : 'FAILED'} (${((Date.now() - t) / 1000).toFixed(1)}s)`);
  return r.status ?? 1;
}

// `npm start` and `npm run dist` rebuild better-sqlite3 for Electron's ABI and back for Node when they finish; if
// one was interrupted, the module is still built for Electron and every test would fail to load it. Restore it.
{
  const probe = spawnSync(process.execPath, ['-e', "require('better-sqlite3')"], { encoding: 'utf8' });
  if (probe.status !== 0 && /NODE_MODULE_VERSION|was compiled against a different Node/.test(probe.stderr)) {
    console.log('test.js: better-sqlite3 is built for Electron; rebuilding it for Node (npm rebuild better-sqlite3)…');
    if (run('rebuild better-sqlite3', process.platform === 'win32' ? 'npm.cmd' : 'npm', ['rebuild', 'better-sqlite3']) !== 0) process.exit(1);
  }
}

if (!asked.length) {
  if (run('typecheck', process.execPath, ['node_modules/typescript/bin/tsc', '--noEmit', '-p', 'tsconfig.json']) !== 0) process.exit(1);
  if (existsSync('node_modules/svelte-check')) {
    if (run('svelte-check', process.execPath, ['node_modules/svelte-check/bin/svelte-check', '--tsconfig', './tsconfig.json', '--threshold', 'error', '--output', 'human']) !== 0) process.exit(1);
  }
  if (existsSync('eslint.config.js')) {
    if (run('lint', process.execPath, ['node_modules/eslint/bin/eslint.js', '.']) !== 0) process.exit(1);
  }
  // The e2e tier serves the built renderer.
  if (run('renderer build', process.execPath, ['node_modules/vite/bin/vite.js', 'build', '--logLevel', 'warn']) !== 0) process.exit(1);
}

function collect(dir, into) {
  if (!existsSync(dir)) return into;
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) collect(p, into);
    else if (name.endsWith('.test.ts')) into.push(p);
  }
  return into;
}
const files = [];
for (const tier of tiers) {
  const found = collect(join('tests', tier), []);
  if (!found.length) {
    console.error(`test.js: the ${tier} tier selects no test files (nothing matches tests/${tier}/**/*.test.ts)`);
    process.exit(1);
  }
  files.push(...found);
}
const filter = process.env.TEST_FILTER;
const selected = filter ? files.filter((f) => f.includes(filter)) : files;
if (!selected.length) {
  console.error(`test.js: TEST_FILTER=${filter} matches no test file in ${tiers.join(', ')}`);
  process.exit(1);
}
// The tests run what a user runs after `npm ci`: the CLI and the threads from bundles of these very sources
// (electron/core/prebuilt.mjs), rebuilt here, once the run is known to test something, so that an edited checkout
// tests its edits that way too.
if (run('bundles for plain Node', process.execPath, ['scripts/build-electron.js', '--node']) !== 0) process.exit(1);
process.exit(run('tests', process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...selected]));
