/**
 * Bundles of our TypeScript for plain Node: the `loupe` CLI (dist/cli/, which `loupe serve` runs too) and the
 * gradient and inference threads (dist/electron/gradient-thread.cjs). Through tsx, a CLI command spent ~0.5 s
 * starting (tsx's hooks answer each of ~300 module loads from another thread) and a thread ~0.55 s (the hooks again,
 * and tfjs's CommonJS lexed for ES imports); from the bundles, ~0.15 s and ~0.13 s. `npm ci` (scripts/prepare.js),
 * `npm test` and `npm run build` write each bundle with a manifest of its sources and their SHA-256; a bundle is
 * used only while every source still matches, so an edited or checked-out tree runs its sources through tsx as
 * before. LOUPE_FROM_SOURCE=1 forces the sources.
 *
 * Plain JavaScript (types in prebuilt.d.mts): bin/loupe.js decides with it before tsx is loaded.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, normalize, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The checkout this module belongs to. */
export const SOURCE_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Where the builds put them (scripts/build-electron.js). */
export const DIST_DIR = join(SOURCE_ROOT, 'dist');

/** The manifest beside a bundle: gradient-thread.cjs -> gradient-thread.sources.json. */
export function manifestOf(bundle) {
  return bundle.replace(/\.[cm]?js$/, '') + '.sources.json';
}

function sha256(bytes) {
  return createHash('sha256').update(bytes).digest('hex');
}

const digest = (file) => sha256(readFileSync(file));

/** Writes `file` whole or not at all: a process starting meanwhile reads the old file or the new one. */
function writeAtomically(file, contents) {
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, contents);
  renameSync(temporary, file);
}

/**
 * Writes a bundle as esbuild made it (`outputs`: its entry `bundle`, chunks, source maps), each file atomically,
 * then its manifest: the digest of each input (relative to `root`, as esbuild's metafile lists them) and of each
 * JavaScript file of the bundle (relative to its folder), so that a file changed, cut short or missing since
 * disqualifies it.
 */
export function writePrebuilt(bundle, outputs, inputs, root = SOURCE_ROOT) {
  const folder = dirname(bundle);
  /** @type {Record<string, string>} */
  const files = {};
  mkdirSync(folder, { recursive: true });
  for (const { path, contents } of outputs) {
    writeAtomically(path, contents);
    if (/\.[cm]?js$/.test(path)) files[relative(folder, path).split(sep).join('/')] = sha256(contents);
  }
  if (!files[basename(bundle)]) throw new Error(`writePrebuilt: ${bundle} is not among the outputs`);
  /** @type {Record<string, string>} */
  const sources = {};
  for (const input of [...inputs].sort()) sources[input] = digest(join(root, input));
  writeAtomically(manifestOf(bundle), JSON.stringify({ bundle: 2, sources, files }, null, 1) + '\n');
}

/** A manifest path stays inside its folder (the manifest is ours, but a stray one must not read elsewhere). */
function inside(root, rel) {
  if (isAbsolute(rel)) return null;
  const path = normalize(join(root, rel));
  return path.startsWith(normalize(root + sep)) ? path : null;
}

/** Whether every path of `digests` (relative to `folder`) is inside it and has that digest. */
function allMatch(folder, digests) {
  if (!digests || typeof digests !== 'object' || Array.isArray(digests)) return false;
  const entries = Object.entries(digests);
  return (
    entries.length > 0 &&
    entries.every(([rel, want]) => {
      const path = inside(folder, rel);
      return path !== null && typeof want === 'string' && digest(path) === want;
    })
  );
}

/**
 * Whether `bundle`'s manifest lists it, its files still have the digests they were written with, and every
 * source still has the digest it was built from.
 */
export function bundleMatchesSources(bundle, root = SOURCE_ROOT) {
  try {
    const manifest = JSON.parse(readFileSync(manifestOf(bundle), 'utf8'));
    if (manifest?.bundle !== 2 || typeof manifest.files?.[basename(bundle)] !== 'string') return false;
    return allMatch(dirname(bundle), manifest.files) && allMatch(root, manifest.sources);
  } catch {
    return false;
  }
}

/** @type {Map<string, URL | null>} */
const decided = new Map();

/**
 * The file URL of `dist/<path>` when it matches the sources, else null (run the sources). Decided once per
 * process: sources do not change under a running process that already loaded them.
 */
export function prebuiltEntry(path) {
  if (process.env['LOUPE_FROM_SOURCE'] === '1') return null;
  let url = decided.get(path);
  if (url === undefined) {
    const bundle = join(DIST_DIR, path);
    url = bundleMatchesSources(bundle) ? pathToFileURL(bundle) : null;
    decided.set(path, url);
  }
  return url;
}

/**
 * How to start a thread or process: from `built` (a prebuiltEntry, or null) with this process's Node options minus
 * tsx's loader, else from `source` with them all.
 */
export function launchFrom(built, source) {
  return built ? { url: built, execArgv: execArgvWithoutTsx(), prebuilt: true } : { url: source, execArgv: [...process.execArgv], prebuilt: false };
}

/**
 * A thread started from a bundle gets this process's Node options without tsx's loader (the bundle is plain
 * JavaScript; the loader would cost the thread its start-up again).
 */
export function execArgvWithoutTsx(argv = process.execArgv) {
  /** @type {string[]} */
  const out = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const flag = /^--(?:import|require|loader|experimental-loader)(=.*)?$/.exec(a);
    if (!flag) {
      out.push(a);
      continue;
    }
    // The flag's value is joined to it (--import=tsx) or the next argument (--import tsx).
    const joined = flag[1] !== undefined;
    const value = joined ? flag[1].slice(1) : argv[i + 1];
    if (!joined) i++;
    if (value !== undefined && /^tsx(\/|$)/.test(value)) continue;
    out.push(a);
    if (!joined && value !== undefined) out.push(value);
  }
  return out;
}
