/**
 * A stand-in for the `electron` module, for loading the built main bundle under plain Node (the Electron
 * binary cannot be downloaded here). tests/unit/electron-main-wiring.test.ts redirects `import 'electron'` to
 * this file and then inspects what main did to these objects.
 */
import { EventEmitter } from 'node:events';
import { FakeBrowserWindow, FakeIpcMain, FakeMessageChannelMain, FakeProtocol, FakeSession } from './electron-fakes.ts';

class FakeApp extends EventEmitter {
  /** Main is tested as the installed app runs it. */
  readonly isPackaged = true;
  sandboxEnabled = false;
  quitCalls = 0;
  private readyResolve!: () => void;
  private readonly ready = new Promise<void>((resolve) => {
    this.readyResolve = resolve;
  });
  enableSandbox(): void {
    this.sandboxEnabled = true;
  }
  requestSingleInstanceLock(): boolean {
    return true;
  }
  whenReady(): Promise<void> {
    return this.ready;
  }
  /** Test control: what Electron does once it has initialised. */
  fireReady(): void {
    this.readyResolve();
  }
  quit(): void {
    this.quitCalls += 1;
    const event = { defaultPrevented: false, preventDefault() { this.defaultPrevented = true; } };
    this.emit('will-quit', event);
  }
  exit(): void {
    throw new Error('app.exit called');
  }
}

class FakeMainProtocol extends FakeProtocol {
  readonly privileged: unknown[] = [];
  registerSchemesAsPrivileged(schemes: unknown[]): void {
    this.privileged.push(...schemes);
  }
}

export const app = new FakeApp();
export const BrowserWindow = FakeBrowserWindow;
export const MessageChannelMain = FakeMessageChannelMain;
export const ipcMain = new FakeIpcMain();
export const protocol = new FakeMainProtocol();
export const session = { defaultSession: new FakeSession() };
export const dialog = {
  /** The options of every open dialog shown (the last argument: a window may come first). */
  opened: [] as unknown[],
  showOpenDialog: async (...args: unknown[]) => {
    dialog.opened.push(args.at(-1));
    return { canceled: true, filePaths: [] as string[] };
  },
  messages: [] as unknown[],
  showMessageBox: async (options: unknown) => {
    dialog.messages.push(options);
    return { response: 0 };
  },
};
export const screen = {
  getAllDisplays: () => [{ workArea: { x: 0, y: 0, width: 1920, height: 1080 } }],
};
/** The application menu main installs, as the template it was built from. */
export const Menu = {
  installed: null as unknown[] | null,
  buildFromTemplate: (template: unknown[]) => ({ template }),
  setApplicationMenu(menu: { template: unknown[] } | null) {
    Menu.installed = menu?.template ?? null;
  },
};
export default { app, BrowserWindow, MessageChannelMain, ipcMain, protocol, session, dialog, screen, Menu };
