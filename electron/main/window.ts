/**
 * The one Loupe window: where its files are, and the locked-down webPreferences it is created with.
 * Takes the BrowserWindow constructor as a parameter so tests can read the real options without Electron.
 */
import { join, resolve } from 'node:path';
import type { WindowState } from './window-state.ts';
import type { BrowserWindowConstructorOptions, WebPreferences } from 'electron';

export interface AppPaths {
  /** The app folder (the repo in development, `resources/app.asar` when packaged). */
  appRoot: string;
  /** The built renderer (vite's output); the only file:// tree the window may load from. */
  rendererDir: string;
  rendererIndex: string;
  /** The bundled, sandbox-safe preload (one CJS file, see scripts/build-electron.js). */
  preload: string;
  /** The bundled training process, run by Electron's Node. */
  trainWorker: string;
  /** The hidden GPU host window's page and preload (issue 16). */
  gpuHostPage: string;
  gpuHostPreload: string;
}

/** `buildDir` is the folder of the built main bundle, `dist/electron`. */
export function appPaths(buildDir: string): AppPaths {
  const appRoot = resolve(buildDir, '..', '..');
  const rendererDir = join(appRoot, 'dist', 'renderer');
  return {
    appRoot,
    rendererDir,
    // vite's index.html plus the CSP as a <meta> tag, written by scripts/build-electron.js.
    rendererIndex: join(rendererDir, 'electron.html'),
    preload: join(appRoot, 'dist', 'electron', 'preload.cjs'),
    trainWorker: join(appRoot, 'dist', 'electron', 'train-worker.js'),
    gpuHostPage: join(rendererDir, 'gpu-host', 'index.html'),
    gpuHostPreload: join(appRoot, 'dist', 'electron', 'gpu-host-preload.cjs'),
  };
}

/**
 * Electron's security checklist, every point explicit even where it is already the default, so a future
 * Electron default change or a careless edit shows up in tests/unit/electron-window.test.ts.
 */
export function secureWebPreferences(preload: string, opts: { devTools?: boolean } = {}): WebPreferences {
  return {
    preload,
    contextIsolation: true,
    sandbox: true,
    nodeIntegration: false,
    nodeIntegrationInWorker: false,
    nodeIntegrationInSubFrames: false,
    webSecurity: true,
    allowRunningInsecureContent: false,
    experimentalFeatures: false,
    webviewTag: false,
    navigateOnDragDrop: false,
    safeDialogs: true,
    spellcheck: false,
    devTools: opts.devTools ?? true,
  };
}

export function mainWindowOptions(
  paths: AppPaths,
  opts: { devTools?: boolean; state?: { x?: number; y?: number; width: number; height: number } } = {},
): BrowserWindowConstructorOptions {
  return {
    width: opts.state?.width ?? 1400,
    height: opts.state?.height ?? 900,
    ...(opts.state?.x !== undefined && opts.state.y !== undefined ? { x: opts.state.x, y: opts.state.y } : {}),
    minWidth: 900,
    minHeight: 600,
    title: 'Loupe',
    // Shown on ready-to-show so the user never sees a white flash before the UI paints.
    show: false,
    backgroundColor: '#1e1f22',
    webPreferences: secureWebPreferences(paths.preload, opts),
  };
}

/** The few BrowserWindow members main uses; Electron's class satisfies it. */
export interface WindowLike {
  readonly webContents: unknown;
  once(event: 'ready-to-show', listener: () => void): unknown;
  show(): void;
  focus(): void;
  isMinimized(): boolean;
  restore(): void;
  isDestroyed(): boolean;
  loadFile(filePath: string): Promise<void>;
  maximize(): void;
}

export type WindowConstructor<W extends WindowLike> = new (options: BrowserWindowConstructorOptions) => W;

/** `devTools`: main passes `!app.isPackaged`, so an installed Loupe has no inspector into patient data. */
export function createMainWindow<W extends WindowLike>(
  BrowserWindowClass: WindowConstructor<W>,
  paths: AppPaths,
  log: (message: string) => void = console.error,
  state?: WindowState,
  opts: { devTools?: boolean } = {},
): W {
  const win = new BrowserWindowClass(mainWindowOptions(paths, { state, devTools: opts.devTools }));
  win.once('ready-to-show', () => {
    if (state?.maximized) win.maximize();
    win.show();
  });
  win.loadFile(paths.rendererIndex).catch((err: unknown) => {
    log(`Loupe: could not load the UI from ${paths.rendererIndex} (run \`npm run build\`): ${String(err)}`);
  });
  return win;
}

/** Brings the window forward, e.g. when a second instance is launched. */
export function focusWindow(win: WindowLike | null): void {
  if (!win || win.isDestroyed()) return;
  if (win.isMinimized()) win.restore();
  win.show();
  win.focus();
}
