/**
 * A GPU host in an installed Chrome or Chromium, started headless by the training process (issue 16): for the CLI
 * and `loupe serve` on machines without Electron, and for headless GPU servers. The page is served from 127.0.0.1 on
 * a port of our own with a one-time token in its address, under a CSP that allows its own script and its WebSocket
 * back to us, nothing else; the browser runs with a throwaway profile and no extensions, and is killed when the run
 * ends. The desktop app's hidden window speaks the same frames over a message port instead.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { decodeFrame, encodeFrame, type FromGpuHost, type ToGpuHost } from '../../../../shared/gpu-host-protocol.ts';
import { gpuHostPageScript } from './page-bundle.ts';

export type GpuHostListener = (header: FromGpuHost, parts: Uint8Array[]) => void;

/** A connected GPU host: frames in and out, and a way to learn it is gone. */
export interface GpuHostLink {
  /** The browser's process id, where there is one of our own. */
  readonly pid?: number;
  send(header: ToGpuHost, parts?: ArrayBufferView[]): void;
  /** One listener at a time (the one exchange under way); returns a function that removes it. */
  listen(listener: GpuHostListener): () => void;
  /** Called once if the host goes away (browser exit, crash, closed socket) before close(). */
  onLost(callback: (reason: Error) => void): () => void;
  close(): Promise<void>;
}

export interface ChromiumOptions {
  /** The Chrome or Chromium executable. */
  readonly executable: string;
  /** Render with SwiftShader (Chromium's software GPU): for tests on machines without a GPU. */
  readonly software?: boolean;
  /** How long Chromium may take to start and connect. */
  readonly connectTimeoutMs?: number;
}

const STDERR_KEPT = 4096;

/**
 * Chromium under a watchdog shell, leader of a process group of its own: when the training process dies (even by
 * kill -9), the shell's stdin, a pipe only the training process writes to, reaches its end and the shell kills the
 * whole group. Chromium's own ways of noticing (a closed socket, a closed debugging pipe) wait for its GPU process,
 * which can be inside a minutes-long draw call on a software GPU; measured here: a busy Chromium outlived a killed
 * parent by 20 s and more without this. The shell exits with Chromium's status otherwise.
 */
const WATCHDOG = [
  'exec 5<&0',
  '"$@" 5<&- </dev/null &',
  'browser=$!',
  '{ read -r _ <&5; kill -KILL 0; } &',
  'watcher=$!',
  'exec 5<&-',
  'wait "$browser"',
  'status=$?',
  'kill "$watcher" 2>/dev/null',
  'exit "$status"',
].join('\n');

/**
 * Ends a GPU host: Chromium with all its processes (GPU, renderer, utility), then our servers and its profile. It
 * is killed as a process group of its own, and awaited, because its children outlive a killed parent for a moment
 * and would keep writing into the profile.
 */
async function teardown(child: ChildProcess, sockets: WebSocketServer, server: Server, profile: string): Promise<void> {
  const running = child.pid !== undefined && child.exitCode === null && child.signalCode === null;
  const exited = running ? new Promise((r) => child.once('exit', r)) : null;
  if (child.pid !== undefined) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // The group is gone already.
    }
  }
  await exited;
  sockets.close();
  await new Promise((r) => server.close(r));
  removeProfile(profile);
}

/** The throwaway profile goes; a leftover file must not fail the run (the OS cleans tmp). */
function removeProfile(profile: string): void {
  try {
    rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  } catch {
    // Left behind: a later run makes its own.
  }
}

function page(token: string, port: number): { html: string; csp: string } {
  const csp = `default-src 'none'; script-src 'self'; connect-src ws://127.0.0.1:${port}; base-uri 'none'; form-action 'none'`;
  return { csp, html: `<!doctype html><meta charset="utf-8"><title>Loupe GPU host</title><script type="module" src="/page.js?t=${token}"></script>` };
}

function chromiumArgs(o: ChromiumOptions, profile: string, url: string): string[] {
  return [
    '--headless=new',
    `--user-data-dir=${profile}`,
    '--no-first-run',
    '--no-default-browser-check',
    '--disable-extensions',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-default-apps',
    '--mute-audio',
    // A hidden page must not be throttled like a background tab: it does all the work.
    '--disable-background-timer-throttling',
    '--disable-renderer-backgrounding',
    '--disable-backgrounding-occluded-windows',
    // WebGPU still sits behind these on Linux; Chromium's own blocklist still applies.
    '--enable-unsafe-webgpu',
    '--enable-features=Vulkan',
    ...(o.software ? ['--use-angle=swiftshader', '--enable-unsafe-swiftshader'] : ['--enable-gpu']),
    // Chromium refuses to start its sandbox as root (containers, CI): only then does it run without one.
    ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
    url,
  ];
}

class ChromiumLink implements GpuHostLink {
  readonly pid: number | undefined;
  private listener: GpuHostListener | null = null;
  private lostCallbacks = new Set<(e: Error) => void>();
  private closed = false;

  private ended: Promise<void> | null = null;

  constructor(
    private readonly socket: WebSocket,
    private readonly child: ChildProcess,
    private readonly stderr: () => string,
    private readonly teardown: () => Promise<void>,
  ) {
    this.pid = child.pid;
    socket.on('message', (data: Buffer) => {
      // A copy at offset 0: the frame's parts are viewed as float32 in place.
      const frame = new Uint8Array(data.byteLength);
      frame.set(data);
      let message: ReturnType<typeof decodeFrame<FromGpuHost>>;
      try {
        message = decodeFrame<FromGpuHost>(frame);
      } catch (e) {
        this.lose(e as Error);
        return;
      }
      this.listener?.(message.header, message.parts);
    });
    socket.on('close', () => this.lose(new Error(`the GPU host's connection closed${this.why()}`)));
    child.on('exit', (code, signal) => this.lose(new Error(`Chromium (the GPU host) exited with ${signal ?? `code ${code}`}${this.why()}`)));
  }

  private why(): string {
    const tail = this.stderr().trim().split('\n').filter((l) => /error|fatal|crash/i.test(l)).slice(-2).join(' / ');
    return tail ? `: ${tail}` : '';
  }

  private lose(e: Error): void {
    if (this.closed) return;
    this.closed = true;
    for (const c of this.lostCallbacks) c(e);
    void this.close();
  }

  send(header: ToGpuHost, parts: ArrayBufferView[] = []): void {
    if (this.socket.readyState === this.socket.OPEN) this.socket.send(encodeFrame(header, parts));
  }

  listen(listener: GpuHostListener): () => void {
    this.listener = listener;
    return () => {
      if (this.listener === listener) this.listener = null;
    };
  }

  onLost(callback: (e: Error) => void): () => void {
    this.lostCallbacks.add(callback);
    return () => this.lostCallbacks.delete(callback);
  }

  close(): Promise<void> {
    this.closed = true;
    this.socket.terminate();
    this.ended ??= this.teardown();
    return this.ended;
  }
}

/** Starts Chromium on the GPU host page and resolves once the page has connected. */
export async function launchChromiumGpuHost(o: ChromiumOptions): Promise<GpuHostLink> {
  const script = await gpuHostPageScript();
  const token = randomBytes(24).toString('base64url');
  let port = 0;
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (req.method !== 'GET' || url.searchParams.get('t') !== token) {
      res.writeHead(404).end();
      return;
    }
    const { html, csp } = page(token, port);
    const body = url.pathname === '/page.js' ? script : url.pathname === '/' ? html : null;
    if (body === null) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, {
      'content-type': url.pathname === '/page.js' ? 'text/javascript' : 'text/html',
      'content-security-policy': csp,
      'cache-control': 'no-store',
    });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
  const origin = `http://127.0.0.1:${port}`;
  const sockets = new WebSocketServer({
    server,
    path: '/ws',
    maxPayload: 1 << 30,
    // Only our page, once: the token is in its address and nowhere else.
    verifyClient: ({ origin: from, req }: { origin: string; req: IncomingMessage }) => from === origin && new URL(req.url ?? '/', origin).searchParams.get('t') === token,
  });
  const profile = mkdtempSync(join(tmpdir(), 'loupe-gpu-host-'));
  let stderr = '';
  const args = chromiumArgs(o, profile, `${origin}/?t=${token}${o.software ? '&software=1' : ''}`);
  const child =
    process.platform === 'win32'
      ? spawn(o.executable, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true })
      : spawn('/bin/sh', ['-c', WATCHDOG, 'loupe-gpu-host', o.executable, ...args], { stdio: ['pipe', 'ignore', 'pipe'], detached: true });
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-STDERR_KEPT);
  });
  const end = () => teardown(child, sockets, server, profile);
  try {
    const socket = await new Promise<WebSocket>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`Chromium did not open the GPU host page within ${(o.connectTimeoutMs ?? 30_000) / 1000} s`)), o.connectTimeoutMs ?? 30_000);
      child.once('error', (e) => {
        clearTimeout(timer);
        reject(new Error(`cannot start ${o.executable}: ${e.message}`));
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${o.executable} exited before connecting (${signal ?? `code ${code}`}): ${stderr.trim().split('\n').slice(-2).join(' / ')}`));
      });
      sockets.once('connection', (ws) => {
        clearTimeout(timer);
        resolve(ws);
      });
    });
    child.removeAllListeners('exit');
    child.removeAllListeners('error');
    // Later connections (none are expected) are refused: the page is ours alone.
    sockets.on('connection', (ws) => ws.terminate());
    return new ChromiumLink(socket, child, () => stderr, end);
  } catch (e) {
    await end();
    throw e;
  }
}
