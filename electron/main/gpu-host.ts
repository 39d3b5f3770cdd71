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
import { decodeFrame, GPU_HOST_PORT_CHANNEL } from '../../shared/gpu-host-protocol.ts';
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

/** A frame's header type, or null when it is not a frame (the page and the process are checked again at their ends). */
function frameType(frame: Uint8Array): string | null {
  try {
    return decodeFrame<{ type?: unknown }>(frame.byteOffset % 4 === 0 ? frame : frame.slice()).header.type as string;
  } catch {
    return null;
  }
}

/** What every training process of this app shares: the last probe's answer. */
interface ProbeCache {
  probed: Uint8Array | null;
}

/**
 * The app's GPU host service: returns the function that serves one training process. The first probe opens a
 * window; its answer is kept and given to later processes (each run and each `doctor` asks) without opening one,
 * so a run that ends up on the CPU, or a doctor, costs no window. A window is opened when a process sends anything
 * else, which only a run that chose the GPU does. A lost window or a failed fit forgets the answer: the GPU may
 * have been reset.
 */
export function gpuHostService(deps: GpuHostDeps): (child: Pick<ChildProcess, 'on' | 'send' | 'connected'>) => void {
  const cache: ProbeCache = { probed: null };
  return (child) => serveOne(child, deps, cache);
}

function serveOne(child: Pick<ChildProcess, 'on' | 'send' | 'connected'>, deps: GpuHostDeps, cache: ProbeCache): void {
  let asked = false;
  let win: WindowLike | null = null;
  let port: PortLike | null = null;
  let opening: Promise<PortLike | null> | null = null;
  const tell = (m: GpuHostRelayDown) => {
    if (child.connected) child.send(m);
  };
  const close = () => {
    port?.close();
    port = null;
    opening = null;
    if (win && !win.isDestroyed()) win.destroy();
    win = null;
  };
  const lose = (message: string) => {
    cache.probed = null;
    tell({ type: 'gpuHost', op: 'lost', message });
    close();
  };
  const fromPage = (frame: Uint8Array) => {
    const type = frameType(frame);
    if (type === 'probed') cache.probed = frame.slice();
    else if (type === 'failed') cache.probed = null;
    tell({ type: 'gpuHost', op: 'frame', frame });
  };
  const openWindow = async (): Promise<PortLike | null> => {
    if (!existsSync(deps.page)) {
      lose(`its page is not built (${deps.page}): run npm run build`);
      return null;
    }
    const w = (win = new deps.BrowserWindow(gpuHostWindowOptions(deps.preload)));
    w.webContents.on('render-process-gone', (_e, details) => {
      deps.log(`The GPU host window's renderer went away: ${details.reason}`);
      lose(`its renderer went away (${details.reason})`);
    });
    w.on('closed', () => {
      if (win === w) win = null;
    });
    try {
      await w.loadFile(deps.page);
    } catch (e) {
      lose(`the page did not load: ${(e as Error).message}`);
      return null;
    }
    if (win !== w) return null;
    const { port1, port2 } = new deps.MessageChannelMain();
    port = port1;
    port1.on('message', (e) => {
      const data = e.data;
      const frame = data instanceof ArrayBuffer ? new Uint8Array(data) : data instanceof Uint8Array ? data : null;
      if (frame) fromPage(frame);
    });
    port1.start();
    w.webContents.postMessage(GPU_HOST_PORT_CHANNEL, null, [port2]);
    return port1;
  };
  // Frames wait for the window in the order they came: each waits on the same opening.
  const ready = () => (opening ??= openWindow());
  child.on('message', (m: unknown) => {
    if (!isRelay(m)) return;
    if (m.op === 'open') {
      if (asked) {
        tell({ type: 'gpuHost', op: 'lost', message: 'a GPU window is already open for this training process' });
        return;
      }
      asked = true;
      // A kept probe answer needs no window yet: the first frame other than a probe opens it.
      if (cache.probed) tell({ type: 'gpuHost', op: 'opened' });
      else void ready().then((p) => p && tell({ type: 'gpuHost', op: 'opened' }));
    } else if (m.op === 'frame' && asked) {
      const cached = cache.probed;
      if (cached && !win && frameType(m.frame) === 'probe') {
        tell({ type: 'gpuHost', op: 'frame', frame: cached.slice() });
        return;
      }
      // A copy in a buffer of its own: the page receives it whole.
      const copy = m.frame.slice().buffer;
      void ready().then((p) => p?.postMessage(copy));
    } else if (m.op === 'close') {
      asked = false;
      close();
    }
  });
  child.on('exit', close);
}
