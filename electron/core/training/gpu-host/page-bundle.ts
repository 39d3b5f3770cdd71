/**
 * The GPU host page's script. The app ships it built (dist/renderer/gpu-host/page.js, by scripts/build-electron.js,
 * where the hidden window loads it); a source checkout (the CLI under tsx, the tests) bundles page.ts with the same
 * options, so it is never a stale build, and keeps it in node_modules/.cache with the size and time of every file
 * that went in: the next process reuses it while none changed (a bundle takes a second; every run starts a host).
 */
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** esbuild options for the page: one browser module with tfjs and the core's fit loop inside. */
export function pageBuildOptions(): Record<string, unknown> {
  return {
    entryPoints: [fileURLToPath(new URL('./page.ts', import.meta.url))],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    // Electron 45's Chromium; an installed Chrome is newer.
    target: 'chrome120',
    logLevel: 'warning',
  };
}

let script: Promise<string> | null = null;

export function gpuHostPageScript(): Promise<string> {
  script ??= (async () => {
    if (!import.meta.url.endsWith('.ts')) {
      // From dist/electron/train-worker.js. Packaged, the training process runs unpacked beside the asar archive,
      // and the page stays inside it, where Electron's Node reads files too.
      const built = fileURLToPath(new URL('../renderer/gpu-host/page.js', import.meta.url));
      return readFileSync(built.replace(/app\.asar\.unpacked([\\/])/, 'app.asar$1'), 'utf8');
    }
    // A variable specifier: the app's bundles must not pull esbuild in (they use the built page).
    const bundler = 'esbuild';
    const { build } = (await import(/* @vite-ignore */ bundler)) as typeof import('esbuild');
    const cached = readCached();
    if (cached !== null) return cached;
    const out = await build({ ...pageBuildOptions(), absWorkingDir: ROOT, metafile: true, write: false });
    const text = out.outputFiles[0]!.text;
    // Files only: '(disabled):util' and the like are Node modules the page leaves out.
    writeCached(text, Object.keys(out.metafile.inputs).filter((p) => !p.startsWith('(')));
    return text;
  })();
  return script;
}

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
// In the checkout, not the shared tmp: what is here runs in the GPU host and sees the training data.
const CACHE = join(ROOT, 'node_modules', '.cache', 'loupe-gpu-host');

type Inputs = Record<string, [size: number, mtimeMs: number]>;

function stamp(path: string): [number, number] {
  const s = statSync(join(ROOT, path));
  return [s.size, s.mtimeMs];
}

/** The kept bundle when every file that went into it is as it was, else null. */
function readCached(): string | null {
  try {
    const inputs = JSON.parse(readFileSync(join(CACHE, 'inputs.json'), 'utf8')) as Inputs;
    for (const [path, [size, mtime]] of Object.entries(inputs)) {
      const [s, m] = stamp(path);
      if (s !== size || m !== mtime) return null;
    }
    return readFileSync(join(CACHE, 'page.js'), 'utf8');
  } catch {
    return null;
  }
}

/** Page first, then its inputs, each by rename: a reader that finds the inputs finds their page whole. */
function writeCached(text: string, paths: string[]): void {
  try {
    mkdirSync(CACHE, { recursive: true });
    const inputs: Inputs = Object.fromEntries(paths.map((p) => [p, stamp(p)]));
    const tmp = `.${process.pid}.tmp`;
    writeFileSync(join(CACHE, `page.js${tmp}`), text);
    renameSync(join(CACHE, `page.js${tmp}`), join(CACHE, 'page.js'));
    writeFileSync(join(CACHE, `inputs.json${tmp}`), JSON.stringify(inputs));
    renameSync(join(CACHE, `inputs.json${tmp}`), join(CACHE, 'inputs.json'));
  } catch {
    // No cache (a read-only checkout): the next process bundles again.
  }
}
