/**
 * The Electron main process: creates the one window and wires the pieces — security guards, the `loupe://`
 * media protocol, the IPC handler over LoupeCore, native dialogs and event forwarding. Each piece lives in its
 * own module and takes the Electron objects it needs, so tests run them with fakes; only this file imports
 * `electron` at run time.
 */
import { app, BrowserWindow, dialog, ipcMain, Menu, MessageChannelMain, protocol, screen, session } from 'electron';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LoupeCore } from '../core/api/loupe-core.ts';
import { renderMedia } from '../core/images/media.ts';
import { defaultConfigDir } from '../core/project/config-dir.ts';
import { projectDirOf } from '../core/project/project.ts';
import { projectArg } from './args.ts';
import { makeFilePicker, makeFolderPicker } from './dialogs.ts';
import { forwardEvents, registerIpc } from './ipc.ts';
import { createMediaHandler, mediaScheme, registerMediaProtocol } from './protocol.ts';
import { guardWebContents, installSessionGuards, isTrustedSender } from './security.ts';
import { appPaths, createMainWindow, focusWindow } from './window.ts';
import { backbonesDir, electronTrainer } from './trainer.ts';
import { aboutText, menuTemplate } from './menu.ts';
import { loadWindowState, trackWindowState } from './window-state.ts';
import { APP_VERSION } from '../core/version.ts';

const log = (message: string): void => console.warn(message);
const paths = appPaths(dirname(fileURLToPath(import.meta.url)));

// Both must happen before 'ready': privileged schemes are fixed at startup, and enableSandbox makes every
// renderer sandboxed whatever a window asks for.
protocol.registerSchemesAsPrivileged([mediaScheme]);
app.enableSandbox();

let win: BrowserWindow | null = null;
let appCore: LoupeCore | null = null;
let pendingOpen: string | null = projectArg(process.argv);

/** Opens the project a file association or a second launch named, once core is up. */
function openPending(): void {
  if (!appCore || !pendingOpen) return;
  const path = pendingOpen;
  pendingOpen = null;
  try {
    appCore.openProject(projectDirOf(path));
  } catch (err: unknown) {
    log(`Loupe: could not open ${path}: ${String(err)}`);
  }
}

function openFromArgs(argv: string[]): void {
  pendingOpen = projectArg(argv) ?? pendingOpen;
  openPending();
}

if (!app.requestSingleInstanceLock()) {
  // Another Loupe owns the projects and their SQLite files; it is focused by its 'second-instance' handler.
  app.quit();
} else {
  app.on('second-instance', (_event, argv) => {
    openFromArgs(argv);
    focusWindow(win);
  });
  // macOS hands files over by event, also before the app is ready.
  app.on('open-file', (event, path) => {
    event.preventDefault();
    pendingOpen = path;
    openPending();
  });
  app.on('web-contents-created', (_event, contents) => {
    guardWebContents(contents, { appPages: [paths.rendererIndex, paths.gpuHostPage], log });
  });
  app.whenReady().then(start, (err: unknown) => {
    log(`Loupe could not start: ${String(err)}`);
    app.exit(1);
  });
}

function start(): void {
  installSessionGuards(session.defaultSession, { fileRoots: [paths.rendererDir], log });

  // The same settings folder as `loupe serve` and the CLI, so recent projects are shared between faces.
  // Core reads the shipped backbones' folder from the environment (it cannot ask Electron where it is).
  process.env['LOUPE_BACKBONES_DIR'] ??= backbonesDir(paths.appRoot, process.resourcesPath, app.isPackaged);
  const core = new LoupeCore({
    face: 'electron',
    configDir: defaultConfigDir(),
    pickFolder: makeFolderPicker(dialog, () => win),
    pickFile: makeFilePicker(dialog, () => win),
    spawnTrainer: electronTrainer(paths.trainWorker, process.env, { BrowserWindow, MessageChannelMain, page: paths.gpuHostPage, preload: paths.gpuHostPreload, log }),
  });

  registerMediaProtocol(
    protocol,
    createMediaHandler({ getProject: () => core.currentProject, render: renderMedia, log }),
  );
  registerIpc({
    ipcMain,
    core,
    isTrustedSender: (event) => isTrustedSender(event, win, paths.rendererDir),
    log,
  });
  forwardEvents(core, () => win?.webContents ?? null);
  appCore = core;
  openPending();

  const configDir = defaultConfigDir();
  const saved = loadWindowState(configDir, screen.getAllDisplays().map((d) => d.workArea));
  // DevTools only in development (issue 14): packaged builds also lose NODE_OPTIONS and --inspect (fuses).
  win = createMainWindow(BrowserWindow, paths, log, saved, { devTools: !app.isPackaged });
  trackWindowState(win, configDir);
  win.on('closed', () => {
    win = null;
  });

  const about = () => {
    void dialog.showMessageBox({
      type: 'info',
      title: 'About Loupe',
      message: 'Loupe',
      detail: aboutText({
        app: APP_VERSION,
        electron: process.versions.electron ?? '',
        chrome: process.versions.chrome ?? '',
        node: process.versions.node,
        v8: process.versions.v8,
        backend: core.currentProject ? (core.requireTrainer().lastBackend?.chosen.detail ?? null) : null,
      }),
    });
  };
  Menu.setApplicationMenu(
    Menu.buildFromTemplate(menuTemplate({ platform: process.platform, send: (command) => core.emit('menu:command', { command }), about })),
  );

  // One window: closing it quits, on macOS too (a project stays open only while its window does).
  app.on('window-all-closed', () => app.quit());

  // Let running jobs stop at a batch boundary and close the database cleanly before the process exits.
  let shutDown = false;
  app.on('will-quit', (event) => {
    if (shutDown) return;
    event.preventDefault();
    core
      .shutdown()
      .catch((err: unknown) => log(`Loupe: shutdown failed: ${String(err)}`))
      .finally(() => {
        shutDown = true;
        app.quit();
      });
  });
}
