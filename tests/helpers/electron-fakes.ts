/**
 * Small fakes of the Electron objects the main-process modules touch. The Electron binary cannot be downloaded
 * on our build machines, so this is the one place where mocks are right (issue 7); everything behind them —
 * LoupeCore, SQLite, sharp — is real in the tests that use them.
 */
import { EventEmitter } from 'node:events';

type Listener = (...args: any[]) => unknown;

export class FakeIpcMain {
  readonly handlers = new Map<string, Listener>();
  handle(channel: string, listener: Listener): void {
    if (this.handlers.has(channel)) throw new Error(`Attempted to register a second handler for '${channel}'`);
    this.handlers.set(channel, listener);
  }
  removeHandler(channel: string): void {
    this.handlers.delete(channel);
  }
  /** What Electron does when a renderer calls ipcRenderer.invoke(channel, ...args). */
  async invoke(channel: string, event: unknown, ...args: unknown[]): Promise<unknown> {
    const h = this.handlers.get(channel);
    if (!h) throw new Error(`No handler registered for '${channel}'`);
    return h(event, ...args);
  }
}

export interface FakeFrame {
  url: string;
  processId: number;
  frameToken: string;
  parent: FakeFrame | null;
}

let tokens = 0;
export function fakeFrame(url: string, parent: FakeFrame | null = null, processId = 7): FakeFrame {
  tokens += 1;
  return { url, processId, frameToken: `frame-${tokens}`, parent };
}

/** An Electron Event: records preventDefault. */
export class FakeEvent {
  defaultPrevented = false;
  constructor(extra: Record<string, unknown> = {}) {
    Object.assign(this, extra);
  }
  preventDefault(): void {
    this.defaultPrevented = true;
  }
}

export class FakeWebContents extends EventEmitter {
  destroyed = false;
  readonly sent: { channel: string; message: unknown }[] = [];
  readonly mainFrame: FakeFrame;
  windowOpenHandler: ((details: { url: string }) => { action: string }) | null = null;
  constructor(url: string) {
    super();
    this.mainFrame = fakeFrame(url);
  }
  send(channel: string, message: unknown): void {
    this.sent.push({ channel, message });
  }
  readonly postedPorts: { channel: string; message: unknown; transfer: unknown[] }[] = [];
  postMessage(channel: string, message: unknown, transfer: unknown[] = []): void {
    this.postedPorts.push({ channel, message, transfer });
  }
  isDestroyed(): boolean {
    return this.destroyed;
  }
  setWindowOpenHandler(handler: (details: { url: string }) => { action: string }): void {
    this.windowOpenHandler = handler;
  }
}

export class FakeBrowserWindow extends EventEmitter {
  static created: FakeBrowserWindow[] = [];
  readonly options: any;
  readonly webContents: FakeWebContents;
  loaded: string | null = null;
  shown = false;
  focused = false;
  minimized = false;
  destroyed = false;
  constructor(options: any) {
    super();
    this.options = options;
    this.webContents = new FakeWebContents('about:blank');
    FakeBrowserWindow.created.push(this);
  }
  async loadFile(path: string): Promise<void> {
    this.loaded = path;
  }
  show(): void {
    this.shown = true;
  }
  focus(): void {
    this.focused = true;
  }
  isMinimized(): boolean {
    return this.minimized;
  }
  restore(): void {
    this.minimized = false;
  }
  isDestroyed(): boolean {
    return this.destroyed;
  }
  destroy(): void {
    this.destroyed = true;
    this.emit('closed');
  }
  maximized = false;
  bounds = { x: 10, y: 20, width: 1200, height: 800 };
  maximize(): void {
    this.maximized = true;
  }
  isMaximized(): boolean {
    return this.maximized;
  }
  getNormalBounds(): { x: number; y: number; width: number; height: number } {
    return { ...this.bounds };
  }
}

/** A window whose main frame shows `url`, for sender checks. */
export function fakeWindowShowing(url: string): FakeBrowserWindow {
  const win = new FakeBrowserWindow({});
  (win.webContents.mainFrame as { url: string }).url = url;
  return win;
}

type RequestListener = (details: any, callback: (response: any) => void) => void;

export class FakeSession extends EventEmitter {
  beforeRequest: RequestListener | null = null;
  headersReceived: RequestListener | null = null;
  permissionRequest: ((wc: unknown, permission: string, cb: (granted: boolean) => void, details: unknown) => void) | null = null;
  permissionCheck: ((wc: unknown, permission: string, origin: string, details: unknown) => boolean) | null = null;
  devicePermission: ((details: unknown) => boolean) | null = null;
  readonly webRequest = {
    onBeforeRequest: (listener: RequestListener) => {
      this.beforeRequest = listener;
    },
    onHeadersReceived: (listener: RequestListener) => {
      this.headersReceived = listener;
    },
  };
  setPermissionRequestHandler(h: FakeSession['permissionRequest']): void {
    this.permissionRequest = h;
  }
  setPermissionCheckHandler(h: FakeSession['permissionCheck']): void {
    this.permissionCheck = h;
  }
  setDevicePermissionHandler(h: FakeSession['devicePermission']): void {
    this.devicePermission = h;
  }
  /** Runs the onBeforeRequest listener like Chromium would; resolves with its response. */
  request(url: string, resourceType = 'xhr'): Promise<{ cancel?: boolean }> {
    return new Promise((resolve) => this.beforeRequest!({ id: 1, url, method: 'GET', resourceType }, resolve));
  }
  headers(details: any): Promise<{ responseHeaders?: Record<string, string[]>; cancel?: boolean }> {
    return new Promise((resolve) => this.headersReceived!(details, resolve));
  }
}

export class FakeProtocol {
  readonly handlers = new Map<string, (request: Request) => Promise<Response> | Response>();
  handle(scheme: string, handler: (request: Request) => Promise<Response> | Response): void {
    this.handlers.set(scheme, handler);
  }
}

export class FakeIpcRenderer extends EventEmitter {
  readonly calls: { channel: string; args: unknown[] }[] = [];
  /** What ipcRenderer.invoke resolves with; replaced per test. */
  reply: (channel: string, ...args: unknown[]) => Promise<unknown> = async () => ({ ok: true, data: null });
  invoke(channel: string, ...args: unknown[]): Promise<unknown> {
    this.calls.push({ channel, args });
    return this.reply(channel, ...args);
  }
}

export class FakeContextBridge {
  readonly exposed = new Map<string, unknown>();
  exposeInMainWorld(key: string, api: unknown): void {
    if (this.exposed.has(key)) throw new Error(`Cannot bind an API on top of an existing property: ${key}`);
    this.exposed.set(key, api);
  }
}

/** Electron's MessagePortMain: records what main posts; `deliver` plays the page's side. */
export class FakeMessagePortMain extends EventEmitter {
  readonly posted: unknown[] = [];
  started = false;
  closed = false;
  postMessage(message: unknown): void {
    this.posted.push(message);
  }
  start(): void {
    this.started = true;
  }
  close(): void {
    this.closed = true;
  }
  deliver(data: unknown): void {
    this.emit('message', { data });
  }
}

export class FakeMessageChannelMain {
  static created: FakeMessageChannelMain[] = [];
  readonly port1 = new FakeMessagePortMain();
  readonly port2 = new FakeMessagePortMain();
  constructor() {
    FakeMessageChannelMain.created.push(this);
  }
}
