/**
 * The GPU host page's script. The app ships it built (dist/renderer/gpu-host/page.js, by scripts/build-electron.js,
 * where the hidden window loads it); a source checkout (the CLI under tsx, the tests) bundles page.ts on first use,
 * in memory, with the same options, so it is never a stale build.
 */
import { readFileSync } from 'node:fs';
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
    const out = await build({ ...pageBuildOptions(), write: false });
    return out.outputFiles[0]!.text;
  })();
  return script;
}
