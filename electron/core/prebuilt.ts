/**
 * Bundles of the TypeScript entries that start in their own thread, for plain Node (CLI, browser host, tests).
 * Under tsx a gradient or inference thread took ~0.55 s to start: tsx's hooks in the thread, and tfjs's CommonJS
 * lexed for ESM imports. Its CommonJS bundle (tfjs left to `require`) starts in ~0.17 s, which decides whether
 * inference threads pay off on a few thousand images. `npm ci` (scripts/prepare.js) and `npm run build` write each
 * bundle with a manifest of its sources and their SHA-256; a bundle is used only while every source still matches,
 * so an edited or checked-out tree runs its sources through tsx as before. LOUPE_FROM_SOURCE=1 forces the sources.
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, normalize, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The checkout this module belongs to. */
export const SOURCE_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Where the builds put them (scripts/build-electron.js; the Electron build's own folder). */
export const PREBUILT_DIR = join(SOURCE_ROOT, 'dist', 'electron');

/** The manifest beside a bundle: gradient-thread.cjs -> gradient-thread.sources.json. */
export function manifestOf(bundle: string): string {
  return bundle.replace(/\.[cm]?js$/, '') + '.sources.json';
}

function digest(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** Writes a bundle's manifest: each input (relative to `root`, as esbuild's metafile lists them) and its digest. */
export function writeSourcesManifest(bundle: string, inputs: readonly string[], root = SOURCE_ROOT): void {
  const sources: Record<string, string> = {};
  for (const input of [...inputs].sort()) sources[input] = digest(join(root, input));
  writeFileSync(manifestOf(bundle), JSON.stringify({ bundle: 1, sources }, null, 1) + '\n');
}

/** A manifest path stays inside the checkout (the manifest is ours, but a stray one must not read elsewhere). */
function inside(root: string, rel: string): string | null {
  if (isAbsolute(rel)) return null;
  const path = normalize(join(root, rel));
  return path.startsWith(normalize(root + sep)) ? path : null;
}

/** Whether `bundle` exists with a manifest whose every source still has the digest it was built from. */
export function bundleMatchesSources(bundle: string, root = SOURCE_ROOT): boolean {
  try {
    const manifest = JSON.parse(readFileSync(manifestOf(bundle), 'utf8')) as { bundle?: unknown; sources?: unknown };
    const sources = manifest.sources;
    if (manifest.bundle !== 1 || !sources || typeof sources !== 'object') return false;
    const entries = Object.entries(sources as Record<string, unknown>);
    if (entries.length === 0) return false;
    if (!statSync(bundle).isFile()) return false;
    return entries.every(([rel, want]) => {
      const path = inside(root, rel);
      return path !== null && typeof want === 'string' && digest(path) === want;
    });
  } catch {
    return false;
  }
}

const decided = new Map<string, URL | null>();

/**
 * The file URL of `dist/electron/<name>` when it matches the sources, else null (run the sources). Decided once
 * per process: sources do not change under a running process that already loaded them.
 */
export function prebuiltEntry(name: string): URL | null {
  if (process.env['LOUPE_FROM_SOURCE'] === '1') return null;
  let url = decided.get(name);
  if (url === undefined) {
    const bundle = join(PREBUILT_DIR, name);
    url = bundleMatchesSources(bundle) ? pathToFileURL(bundle) : null;
    decided.set(name, url);
  }
  return url;
}

/**
 * A thread started from a bundle gets this process's Node options without tsx's loader (the bundle is plain
 * JavaScript; the loader would cost the thread its start-up again).
 */
export function execArgvWithoutTsx(argv: readonly string[] = process.execArgv): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const flag = /^--(?:import|require|loader|experimental-loader)(=.*)?$/.exec(a);
    if (!flag) {
      out.push(a);
      continue;
    }
    // The flag's value is joined to it (--import=tsx) or the next argument (--import tsx).
    const joined = flag[1] !== undefined;
    const value = joined ? flag[1]!.slice(1) : argv[i + 1];
    if (!joined) i++;
    if (value !== undefined && /^tsx(\/|$)/.test(value)) continue;
    out.push(a);
    if (!joined && value !== undefined) out.push(value);
  }
  return out;
}
