// Bundles the Electron faces with esbuild (`node scripts/build-electron.js`):
// - electron/main/index.ts  -> dist/electron/main.js    ESM; native and heavy modules stay external.
// - electron/preload/index.ts -> dist/electron/preload.cjs  one self-contained CJS file: a sandboxed preload
//   can only `require('electron')`, so nothing else may be left as a require (checked below).
// The contract's method list is baked into the preload, so it never loads zod.
import { build } from 'esbuild';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, 'dist', 'electron');

/** Loaded at run time by Electron's Node (or packed with electron-builder), never bundled. */
export const MAIN_EXTERNALS = ['electron', 'better-sqlite3', 'sharp', '@tensorflow/*'];

/** Electron 45 ships Node 22 and Chromium 142. */
const NODE_TARGET = 'node22';
const CHROME_TARGET = 'chrome140';

export function mainOptions() {
  return {
    absWorkingDir: root,
    entryPoints: [join(root, 'electron/main/index.ts')],
    outfile: join(outDir, 'main.js'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: NODE_TARGET,
    external: MAIN_EXTERNALS,
    sourcemap: true,
    // Bundled CommonJS code (and ESM output in general) has no `require`; give it one for Node built-ins.
    banner: { js: "import { createRequire as __loupeCreateRequire } from 'node:module';\nconst require = __loupeCreateRequire(import.meta.url);" },
    logLevel: 'warning',
  };
}

/** @param {readonly string[]} methods the contract's method names */
export function preloadOptions(methods) {
  return {
    absWorkingDir: root,
    entryPoints: [join(root, 'electron/preload/index.ts')],
    outfile: join(outDir, 'preload.cjs'),
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: [NODE_TARGET, CHROME_TARGET],
    external: ['electron'],
    define: { __LOUPE_METHODS__: JSON.stringify(methods) },
    sourcemap: false,
    metafile: true,
    logLevel: 'warning',
  };
}

/** The contract's method names, read from shared/contract.ts through tsx. */
export async function contractMethods() {
  const { register } = await import('tsx/esm/api');
  const unregister = register();
  try {
    const contract = await import(pathToFileURL(join(root, 'shared/contract.ts')).href);
    return [...contract.methods];
  } finally {
    await unregister();
  }
}

/** Fails when the preload bundle would need anything but `electron` at run time. */
export function checkPreloadBundle(code) {
  const requires = [...code.matchAll(/\brequire\(\s*["']([^"']+)["']\s*\)/g)].map((m) => m[1]);
  const foreign = requires.filter((r) => r !== 'electron');
  if (foreign.length > 0) {
    throw new Error(`The sandboxed preload may only require 'electron', but requires: ${[...new Set(foreign)].join(', ')}`);
  }
}

/** @param {{ write?: boolean, methods?: readonly string[] }} [opts] */
export async function buildElectron(opts = {}) {
  const write = opts.write ?? true;
  const methods = opts.methods ?? (await contractMethods());
  const [main, preload] = await Promise.all([
    build({ ...mainOptions(), write }),
    build({ ...preloadOptions(methods), write }),
  ]);
  if (!write) {
    const file = preload.outputFiles.find((f) => f.path.endsWith('preload.cjs'));
    checkPreloadBundle(file.text);
  } else {
    const { readFileSync } = await import('node:fs');
    checkPreloadBundle(readFileSync(join(outDir, 'preload.cjs'), 'utf8'));
  }
  return { main, preload };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    await buildElectron();
    console.log('Built dist/electron/main.js and dist/electron/preload.cjs');
  } catch (err) {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  }
}
