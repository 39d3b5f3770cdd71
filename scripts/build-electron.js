// Bundles the Electron faces with esbuild (`node scripts/build-electron.js`):
// - electron/main/index.ts  -> dist/electron/main.js    ESM; native and heavy modules stay external.
// - electron/preload/index.ts -> dist/electron/preload.cjs  one self-contained CJS file: a sandboxed preload
//   can only `require('electron')`, so nothing else may be left as a require (checked below).
// - electron/workers/train-worker.ts -> dist/electron/train-worker.js  the training process (ESM, externals as main),
//   and its gradient threads, electron/core/training/parallel/gradient-thread.ts -> dist/electron/gradient-thread.cjs
//   (CommonJS: tfjs is then `require`d, not lexed for an ESM import), with gradient-thread.sources.json, the
//   digests of its sources: under plain Node the CLI, host and tests start threads from it while those still match
//   (electron/core/prebuilt.mjs).
// - dist/renderer/electron.html: vite's page plus the app's CSP as a <meta> tag (see electronPage).
// - electron/cli/main.ts -> dist/cli/ (plain Node only, not packaged): the `loupe` CLI and its training process,
//   see cliOptions.
// `node scripts/build-electron.js --node` builds only the gradient thread and the CLI (`npm ci` through prepare.js,
// and `npm test`).
// The contract's method list is baked into the preload, so it never loads zod.
import { build } from 'esbuild';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join, relative, sep } from 'node:path';
import { readdirSync, rmSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { writePrebuilt } from '../electron/core/prebuilt.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, 'dist', 'electron');

/** Loaded at run time by Electron's Node (or packed with electron-builder), never bundled. */
// The DICOM codecs load their .wasm from their package folder (require.resolve), onnxruntime-node is a native
// add-on, and wabt (which assembles the SIMD training kernels) is a 5 MB Emscripten build: they stay packages.
export const MAIN_EXTERNALS = ['electron', 'better-sqlite3', 'sharp', '@tensorflow/*', '@cornerstonejs/*', 'dcmjs-codecs', 'dicom-parser', 'jpeg-lossless-decoder-js', 'onnxruntime-node', 'wabt'];

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

/**
 * The training process: electron/workers/train-worker.ts -> dist/electron/train-worker.js, run by Electron's own
 * Node (ELECTRON_RUN_AS_NODE) through child_process.fork, with the same protocol as under plain Node.
 */
export function workerOptions() {
  return { ...mainOptions(), entryPoints: [join(root, 'electron/workers/train-worker.ts')], outfile: join(outDir, 'train-worker.js') };
}

/**
 * A gradient thread of data-parallel training: electron/core/training/parallel/gradient-thread.ts ->
 * dist/electron/gradient-thread.cjs, next to the training process that starts it (parallel/peers.ts finds it there).
 * CommonJS, with tfjs external: a thread then loads tfjs with `require` (58 ms) instead of an ESM import of its
 * CommonJS files (186 ms, most of it lexing them for their export names).
 */
export function gradientThreadOptions() {
  const { banner: _esmOnly, ...options } = mainOptions();
  return {
    ...options,
    format: 'cjs',
    entryPoints: [join(root, 'electron/core/training/parallel/gradient-thread.ts')],
    outfile: join(outDir, 'gradient-thread.cjs'),
    metafile: true,
  };
}

/** Builds the gradient thread's bundle and its sources manifest (what plain Node needs; see prebuilt.mjs). */
export async function buildThreads(opts = {}) {
  const options = { ...gradientThreadOptions(), ...opts };
  const result = await build({ ...options, write: false });
  writePrebuilt(options.outfile, result.outputFiles, Object.keys(result.metafile.inputs), root);
  return result;
}

/**
 * Each of our modules keeps its own `import.meta.url` in the CLI bundle: the URL it has in the source tree. Paths
 * built from it (the UI's files for `loupe serve`, fonts, the training process's entry, package.json) then resolve
 * as they do under tsx, whichever chunk the module lands in.
 */
function sourceImportMeta(outdir) {
  return {
    name: 'loupe-source-import-meta',
    setup(b) {
      b.onLoad({ filter: /\.(ts|mjs|js)$/ }, async (args) => {
        if (args.path.includes(`${sep}node_modules${sep}`)) return undefined;
        const text = await readFile(args.path, 'utf8');
        if (!text.includes('import.meta.url')) return undefined;
        const fromBundle = relative(outdir, args.path).split(sep).join('/');
        return { contents: text.replaceAll('import.meta.url', `new URL(${JSON.stringify(fromBundle)}, import.meta.url).href`), loader: args.path.endsWith('.ts') ? 'ts' : 'js' };
      });
    },
  };
}

export const CLI_DIR = join(root, 'dist', 'cli');

/**
 * The `loupe` CLI for plain Node: electron/cli/main.ts -> dist/cli/main.js, and the training process it (or
 * `loupe serve`) starts, electron/workers/train-worker.ts -> dist/cli/train-worker.js; ESM, one chunk per command
 * as the sources import them lazily, shared chunks between the two, every package left to Node. bin/loupe.js and
 * the supervisor run them while the sources manifest matches (electron/core/prebuilt.mjs), instead of the sources
 * through tsx.
 */
export function cliOptions(outdir = CLI_DIR) {
  return {
    absWorkingDir: root,
    entryPoints: [join(root, 'electron/cli/main.ts'), join(root, 'electron/workers/train-worker.ts')],
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    entryNames: '[name]',
    chunkNames: '[name]-[hash]',
    plugins: [sourceImportMeta(outdir)],
    // Bundled CommonJS (thread-pool.cjs) needs a `require` for Node built-ins.
    banner: mainOptions().banner,
    metafile: true,
    logLevel: 'warning',
  };
}

/** Chunks no build has written for a day: no process still running from an older build needs them. */
const STALE_CHUNK_MS = 24 * 3600 * 1000;

/**
 * Builds the CLI bundle into `outdir` with its sources manifest. Chunks are named by their content and written
 * beside the previous build's, not over them: a `loupe serve` started from that build still finds the chunks it
 * imports lazily.
 */
export async function buildCli(outdir = CLI_DIR) {
  const result = await build({ ...cliOptions(outdir), write: false });
  writePrebuilt(join(outdir, 'main.js'), result.outputFiles, Object.keys(result.metafile.inputs), root);
  const fresh = new Set(result.outputFiles.map((f) => f.path));
  for (const name of readdirSync(outdir)) {
    const path = join(outdir, name);
    if (!fresh.has(path) && /-[A-Z0-9]{8}\.js(\.map)?$/.test(name) && Date.now() - statSync(path).mtimeMs > STALE_CHUNK_MS) rmSync(path);
  }
  return result;
}

/** What plain Node runs from bundles (`npm ci`, `npm test`): the CLI and the gradient thread. */
export async function buildForNode() {
  await Promise.all([buildCli(), buildThreads()]);
}

/**
 * The GPU host's page (issue 16): electron/core/training/gpu-host/page.ts -> dist/renderer/gpu-host/page.js, beside
 * its index.html (the hidden window loads it; a training process serves the same script to a headless Chromium,
 * gpu-host/page-bundle.ts), and its window's preload -> dist/electron/gpu-host-preload.cjs.
 */
export const GPU_HOST_DIR = join(root, 'dist', 'renderer', 'gpu-host');

export async function gpuHostPageOptions() {
  const { pageBuildOptions } = await importTs('electron/core/training/gpu-host/page-bundle.ts');
  return { ...pageBuildOptions(), absWorkingDir: root, outfile: join(GPU_HOST_DIR, 'page.js') };
}

export function gpuHostPreloadOptions() {
  return { ...preloadOptions([]), entryPoints: [join(root, 'electron/preload/gpu-host.ts')], outfile: join(outDir, 'gpu-host-preload.cjs'), define: {} };
}

/** The hidden window's page: its script and nothing else, under a CSP that allows only that script. */
export const GPU_HOST_HTML = `<!doctype html>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'self'; base-uri 'none'; form-action 'none'">
<title>Loupe GPU host</title>
<script type="module" src="./page.js"></script>
`;

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

/** Imports TypeScript sources through tsx (this script runs under plain Node). */
async function importTs(relativePath) {
  const { register } = await import('tsx/esm/api');
  const unregister = register();
  try {
    return await import(pathToFileURL(join(root, relativePath)).href);
  } finally {
    await unregister();
  }
}

/** The contract's method names, read from shared/contract.ts. */
export async function contractMethods() {
  const contract = await importTs('shared/contract.ts');
  return [...contract.methods];
}

/**
 * The page Electron loads: vite's index.html with the app's CSP as a <meta> tag first in <head>. A CSP header
 * is not reliably applied to file:// pages (electron/electron#14768), so the policy travels in the file too.
 * `frame-ancestors` is dropped: it is ignored (with a console warning) in a meta tag; the header keeps it.
 */
export function electronPage(indexHtml, policy) {
  const metaPolicy = policy
    .split(';')
    .map((d) => d.trim())
    .filter((d) => d && !d.startsWith('frame-ancestors'))
    .join('; ');
  const escaped = metaPolicy.replaceAll('&', '&amp;').replaceAll('"', '&quot;');
  const head = /<head[^>]*>/i.exec(indexHtml);
  if (!head) throw new Error('The renderer page has no <head>');
  const at = head.index + head[0].length;
  return `${indexHtml.slice(0, at)}\n    <meta http-equiv="Content-Security-Policy" content="${escaped}" />${indexHtml.slice(at)}`;
}

/** Writes dist/renderer/electron.html next to vite's index.html (same folder, so relative asset URLs hold). */
async function writeElectronPage() {
  const { existsSync, readFileSync, writeFileSync } = await import('node:fs');
  const index = join(root, 'dist', 'renderer', 'index.html');
  if (!existsSync(index)) {
    console.warn('build-electron: dist/renderer/index.html is missing; run `vite build` first for a runnable app.');
    return false;
  }
  const { CONTENT_SECURITY_POLICY } = await importTs('electron/main/security.ts');
  writeFileSync(join(root, 'dist', 'renderer', 'electron.html'), electronPage(readFileSync(index, 'utf8'), CONTENT_SECURITY_POLICY));
  return true;
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
    build({ ...workerOptions(), write }),
    write ? buildThreads() : build({ ...gradientThreadOptions(), write }),
    build({ ...(await gpuHostPageOptions()), write }),
    build({ ...gpuHostPreloadOptions(), write }),
  ]);
  if (!write) {
    const file = preload.outputFiles.find((f) => f.path.endsWith('preload.cjs'));
    checkPreloadBundle(file.text);
  } else {
    const { readFileSync } = await import('node:fs');
    checkPreloadBundle(readFileSync(join(outDir, 'preload.cjs'), 'utf8'));
    checkPreloadBundle(readFileSync(join(outDir, 'gpu-host-preload.cjs'), 'utf8'));
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(GPU_HOST_DIR, 'index.html'), GPU_HOST_HTML);
    await writeElectronPage();
  }
  return { main, preload };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    if (process.argv.includes('--node')) {
      await buildForNode();
    } else {
      await buildElectron();
      console.log('Built dist/electron/main.js, preload.cjs, train-worker.js, gradient-thread.cjs, gpu-host-preload.cjs, dist/renderer/gpu-host/ and dist/renderer/electron.html');
    }
  } catch (err) {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  }
}
