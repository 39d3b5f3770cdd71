/**
 * The desktop app's GPU host (issue 16): a hidden, sandboxed window with no Node whose page runs the training fit
 * loop on WebGPU or WebGL, on whatever GPU the workstation has. A training process asks for it on its IPC channel;
 * this relays frames between that channel and the page's message port, closes the window when the process is done
 * with it or gone, and tells the process when the window is lost (its renderer or the GPU process crashed).
 *
 * Takes the Electron constructors as parameters so tests drive it with fakes.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { BrowserWindowConstructorOptions, MessagePortMain } from 'electron';
import type { GpuHostRelayDown, GpuHostRelayUp } from '../../shared/worker-protocol.ts';
import { GPU_HOST_PORT_CHANNEL } from '../../shared/gpu-host-protocol.ts';
import { secureWebPreferences } from './window.ts';
import type { Logger } from './security.ts';


/** The main window's lock-down, no DevTools, never shown, never throttled (it does all the work while hidden). */
export function gpuHostWindowOptions(preload: string): BrowserWindowConstructorOptions {
  return {
    show: false,
    width: 320,
    height: 240,
    title: 'Loupe GPU host',
    skipTaskbar: true,
    webPreferences: { ...secureWebPreferences(preload, { devTools: false }), backgroundThrottling: false },
  };
}

interface PortLike {
  postMessage(message: unknown): void;
  on(event: 'message', listener: (e: { data: unknown }) => void): unknown;
  start(): void;
  close(): void;
}

interface WindowLike {
  readonly webContents: {
    postMessage(channel: string, message: unknown, transfer: MessagePortMain[]): void;
    on(event: 'render-process-gone', listener: (e: unknown, details: { reason: string }) => void): unknown;
  };
  loadFile(path: string): Promise<void>;
  on(event: 'closed', listener: () => void): unknown;
  isDestroyed(): boolean;
  destroy(): void;
}

export interface GpuHostDeps {
  BrowserWindow: new (options: BrowserWindowConstructorOptions) => WindowLike;
  MessageChannelMain: new () => { port1: PortLike; port2: MessagePortMain };
  /** The page (dist/renderer/gpu-host/index.html) and its preload (dist/electron/gpu-host-preload.cjs). */
  page: string;
  preload: string;
  log: Logger;
}

const isRelay = (m: unknown): m is GpuHostRelayUp => typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'gpuHost';

/** Serves one training process's requests for a GPU window, for as long as the process lives. */
export function serveGpuHost(child: Pick<ChildProcess, 'on' | 'send' | 'connected'>, deps: GpuHostDeps): void {
  let win: WindowLike | null = null;
  let port: PortLike | null = null;
  const tell = (m: GpuHostRelayDown) => {
    if (child.connected) child.send(m);
  };
  const close = () => {
    port?.close();
    port = null;
    if (win && !win.isDestroyed()) win.destroy();
    win = null;
  };
  const open = async () => {
    if (win) {
      tell({ type: 'gpuHost', op: 'lost', message: 'a GPU window is already open for this training process' });
      return;
    }
    if (!existsSync(deps.page)) {
      tell({ type: 'gpuHost', op: 'lost', message: `its page is not built (${deps.page}): run npm run build` });
      return;
    }
    const w = (win = new deps.BrowserWindow(gpuHostWindowOptions(deps.preload)));
    w.webContents.on('render-process-gone', (_e, details) => {
      deps.log(`The GPU host window's renderer went away: ${details.reason}`);
      tell({ type: 'gpuHost', op: 'lost', message: `its renderer went away (${details.reason})` });
      close();
    });
    w.on('closed', () => {
      if (win === w) win = null;
    });
    try {
      await w.loadFile(deps.page);
    } catch (e) {
      tell({ type: 'gpuHost', op: 'lost', message: `the page did not load: ${(e as Error).message}` });
      close();
      return;
    }
    const { port1, port2 } = new deps.MessageChannelMain();
    port = port1;
    port1.on('message', (e) => {
      const data = e.data;
      const frame = data instanceof ArrayBuffer ? new Uint8Array(data) : data instanceof Uint8Array ? data : null;
      if (frame) tell({ type: 'gpuHost', op: 'frame', frame });
    });
    port1.start();
    w.webContents.postMessage(GPU_HOST_PORT_CHANNEL, null, [port2]);
    tell({ type: 'gpuHost', op: 'opened' });
  };
  child.on('message', (m: unknown) => {
    if (!isRelay(m)) return;
    if (m.op === 'open') void open();
    else if (m.op === 'frame') {
      // A copy in a buffer of its own: the page receives it whole.
      port?.postMessage(m.frame.slice().buffer);
    } else if (m.op === 'close') close();
  });
  child.on('exit', close);
}
