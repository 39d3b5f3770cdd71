/**
 * The renderer's only way to the Loupe API. Two transports, one typed surface (`LoupeApi` from the contract):
 * - Electron: the preload's `window.loupe` (IPC + the `loupe://` media protocol);
 * - the browser host (`loupe serve`): calls as frames on the WebSocket that also brings the events (once it is
 *   open; POST /api/<method> with the per-launch token before that), a socket that reconnects, media over
 *   /media/<kind>/<id>?token=… (wire format in shared/transport.ts).
 * Errors come back as envelopes and are rebuilt as LoupeError, so callers can switch on `code`.
 */
import { LoupeError, isErrorEnvelope } from '../../shared/errors.ts';
import type {
  EventName,
  Events,
  LoupeApi,
  MediaKind,
  Method,
  RequestInput,
  Response,
} from '../../shared/contract.ts';
import {
  CALL_TOO_LARGE_MESSAGE,
  CLOSE_TOO_LARGE,
  MAX_CALL_BYTES,
  TOKEN_HEADER,
  apiPath,
  isWireCallReply,
  type LoupeBridge,
  type WireCall,
  type WireEvent,
  type WireReply,
} from '../../shared/transport.ts';

export type EventListener = <E extends EventName>(event: E, payload: Events[E]) => void;

declare global {
  interface Window {
    loupe?: LoupeBridge;
  }
}

export interface Transport {
  invoke<M extends Method>(method: M, request: RequestInput<M>, signal?: AbortSignal): Promise<Response<M>>;
  on(listener: EventListener): () => void;
  mediaUrl(kind: MediaKind, id: number): string;
  /** Host only: whether the event socket is connected (always true in Electron). */
  readonly connected: boolean;
}

/** Rebuilds a thrown value (envelope, Error, anything) as a LoupeError. */
export function toLoupeError(e: unknown): LoupeError {
  if (e instanceof LoupeError) return e;
  if (isErrorEnvelope(e)) return LoupeError.fromEnvelope(e);
  // The preload rejects with plain envelopes (handled above); anything else still gets a readable message.
  if (e instanceof Error) return new LoupeError('INTERNAL', e.message);
  return new LoupeError('INTERNAL', String(e));
}

class ElectronTransport implements Transport {
  readonly connected = true;
  constructor(private readonly bridge: LoupeBridge) {}

  async invoke<M extends Method>(method: M, request: RequestInput<M>, signal?: AbortSignal): Promise<Response<M>> {
    try {
      const result = await this.bridge.invoke(method, request);
      // IPC cannot be canceled; a caller that gave up simply never sees the answer.
      if (signal?.aborted) throw new DOMException('Aborted', 'AbortError');
      return result;
    } catch (e) {
      if (e instanceof DOMException && e.name === 'AbortError') throw e;
      throw toLoupeError(e);
    }
  }

  on(listener: EventListener): () => void {
    return this.bridge.on((event, payload) => listener(event, payload as Events[typeof event]));
  }

  mediaUrl(kind: MediaKind, id: number): string {
    return this.bridge.mediaUrl(kind, id);
  }
}

const TOKEN_KEY = 'loupe.token';

/**
 * Reads the token from `?token=` once, keeps it in sessionStorage for reloads and takes it out of the address
 * bar. The first sessionStorage access is a synchronous round trip to the browser process (~200 ms on a busy
 * machine), so on a first load it is written after the first screen, or at the latest when the page goes away.
 */
function takeToken(): string {
  const url = new URL(window.location.href);
  const fromUrl = url.searchParams.get('token');
  if (fromUrl) {
    url.searchParams.delete('token');
    history.replaceState(history.state, '', url.pathname + url.search + url.hash);
    let saved = false;
    const save = () => {
      if (saved) return;
      saved = true;
      sessionStorage.setItem(TOKEN_KEY, fromUrl);
    };
    setTimeout(save, 1500);
    window.addEventListener('pagehide', save, { once: true });
    return fromUrl;
  }
  return sessionStorage.getItem(TOKEN_KEY) ?? '';
}

class HostTransport implements Transport {
  private readonly token: string;
  private readonly listeners = new Set<EventListener>();
  private socket: WebSocket | null = null;
  private retryMs = 250;
  private everConnected = false;
  private nextCall = 1;
  /** Calls sent on the socket and not answered yet. */
  private readonly pending = new Map<number, { resolve: (r: WireReply<unknown>) => void; reject: (e: unknown) => void }>();
  connected = false;

  constructor() {
    this.token = takeToken();
  }

  /**
   * On the socket when it is open: a frame costs Chromium a fraction of a fetch (no request object, no trip
   * through the network service's loader), which was most of a label keystroke's round trip. Over HTTP before.
   */
  async invoke<M extends Method>(method: M, request: RequestInput<M>, signal?: AbortSignal): Promise<Response<M>> {
    const ws = this.socket;
    const reply =
      ws && ws.readyState === WebSocket.OPEN ? await this.overSocket(ws, method, request, signal) : await this.overHttp(method, request, signal);
    if (!reply.ok) throw toLoupeError(reply.error);
    return reply.data as Response<M>;
  }

  private overSocket(ws: WebSocket, method: Method, request: unknown, signal?: AbortSignal): Promise<WireReply<unknown>> {
    if (signal?.aborted) return Promise.reject(new DOMException('Aborted', 'AbortError'));
    const call = this.nextCall++;
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        // The server still runs it; the caller just no longer waits (as with Electron's IPC).
        this.pending.delete(call);
        reject(new DOMException('Aborted', 'AbortError'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(call, {
        resolve: (r) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(r);
        },
        reject: (e) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      });
      const frame = JSON.stringify({ call, method, request: request ?? {} } satisfies WireCall);
      // The host would close the socket on it (and every other call in flight with it): refuse it here. A UTF-16
      // length under a third of the limit cannot encode to more than the limit.
      if (frame.length * 3 > MAX_CALL_BYTES && new TextEncoder().encode(frame).length > MAX_CALL_BYTES) {
        this.pending.get(call)?.reject(new LoupeError('VALIDATION', CALL_TOO_LARGE_MESSAGE));
        this.pending.delete(call);
        return;
      }
      ws.send(frame);
    });
  }

  private async overHttp(method: Method, request: unknown, signal?: AbortSignal): Promise<WireReply<unknown>> {
    let res: globalThis.Response;
    try {
      res = await fetch(apiPath(method), {
        method: 'POST',
        headers: { 'content-type': 'application/json', [TOKEN_HEADER]: this.token },
        body: JSON.stringify(request ?? {}),
        signal,
      });
    } catch (e) {
      if (e instanceof DOMException && e.name === 'AbortError') throw e;
      throw new LoupeError('INTERNAL', `Loupe is not reachable (${(e as Error).message}). Is \`loupe serve\` still running?`);
    }
    try {
      return (await res.json()) as WireReply<unknown>;
    } catch {
      throw new LoupeError('INTERNAL', `Bad reply from Loupe for ${method}: HTTP ${res.status}`);
    }
  }

  on(listener: EventListener): () => void {
    this.listeners.add(listener);
    if (!this.socket) this.connect();
    return () => this.listeners.delete(listener);
  }

  mediaUrl(kind: MediaKind, id: number): string {
    return `/media/${kind}/${id}?token=${encodeURIComponent(this.token)}`;
  }

  private connect(): void {
    const proto = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${proto}//${window.location.host}/events?token=${encodeURIComponent(this.token)}`);
    this.socket = ws;
    ws.onopen = () => {
      this.connected = true;
      this.retryMs = 250;
      // After a reconnect, events may have been missed while away: let everyone reload what they show.
      if (this.everConnected) this.dispatch({ event: 'project:changed', payload: { reason: 'images' } });
      this.everConnected = true;
    };
    ws.onmessage = (m) => {
      let msg: unknown;
      try {
        msg = JSON.parse(String(m.data));
      } catch {
        // A malformed frame is dropped; the next project:changed brings the UI back in step.
        return;
      }
      if (isWireCallReply(msg)) {
        const waiting = this.pending.get(msg.call);
        this.pending.delete(msg.call);
        waiting?.resolve(msg.reply);
      } else this.dispatch(msg as WireEvent);
    };
    ws.onclose = (e) => {
      this.connected = false;
      this.socket = null;
      // Calls on their way may or may not have run: say so rather than guess.
      const lost =
        e.code === CLOSE_TOO_LARGE
          ? new LoupeError('VALIDATION', `${CALL_TOO_LARGE_MESSAGE}; the connection was reset, so calls in flight were not answered`)
          : new LoupeError('INTERNAL', 'The connection to Loupe was lost before it answered. Is `loupe serve` still running?');
      for (const waiting of this.pending.values()) waiting.reject(lost);
      this.pending.clear();
      if (this.listeners.size === 0) return;
      // Back off up to 5 s: the host may be restarting or the laptop waking up.
      setTimeout(() => this.connect(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, 5000);
    };
  }

  private dispatch(e: WireEvent): void {
    for (const l of this.listeners) {
      try {
        l(e.event, e.payload);
      } catch (err) {
        console.error('event listener failed', err);
      }
    }
  }
}

export const transport: Transport = window.loupe ? new ElectronTransport(window.loupe) : new HostTransport();

/**
 * The typed API: `api['images:query']({ ... })`, one function per contract method. A Proxy rather than a
 * table built from the contract's method list: that list lives next to the zod schemas, which the renderer
 * must not pull into its bundle (the faces validate; the UI only needs the types).
 */
export const api: LoupeApi = new Proxy({} as LoupeApi, {
  get: (_target, method) => (request: RequestInput<Method>) => transport.invoke(method as Method, request),
});

export const onEvent = (listener: EventListener): (() => void) => transport.on(listener);
export const mediaUrl = (kind: MediaKind, id: number): string => transport.mediaUrl(kind, id);
/** For calls that may be abandoned (grid pages scrolled away). */
export const invoke = <M extends Method>(method: M, request: RequestInput<M>, signal?: AbortSignal) =>
  transport.invoke(method, request, signal);
