/**
 * The object the preload exposes as `window.loupe` (type `LoupeBridge` in shared/transport.ts): three
 * functions and nothing else, never `ipcRenderer` itself. Main validates every request with zod; this side
 * only refuses names that are not contract methods, so a typo fails fast without a round trip.
 *
 * Runs in the sandboxed preload: it may import only `electron` (types) and pure constants from shared/transport
 * (no zod, no Node modules), because the bundle must be one self-contained CJS file.
 */
import type { IpcRenderer, IpcRendererEvent } from 'electron';
import type { ErrorEnvelope, EventName, Events, MediaKind } from '../../shared/contract.ts';
import {
  IPC_EVENT_CHANNEL,
  IPC_INVOKE_CHANNEL,
  MEDIA_SCHEME,
  mediaKinds,
  type LoupeBridge,
  type WireReply,
} from '../../shared/transport.ts';

export type IpcRendererLike = Pick<IpcRenderer, 'invoke' | 'on' | 'removeListener'>;

function envelope(code: ErrorEnvelope['code'], message: string): ErrorEnvelope {
  return { name: 'LoupeError', code, message };
}

function isWireReply(v: unknown): v is WireReply<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { ok?: unknown }).ok === 'boolean';
}

/** `methods` is the contract's method list, baked in at build time (scripts/build-electron.js). */
export function createBridge(ipc: IpcRendererLike, methods: readonly string[]): LoupeBridge {
  const known = new Set(methods);
  const bridge = {
    invoke: async (method: string, request: unknown): Promise<unknown> => {
      if (typeof method !== 'string' || !known.has(method)) {
        // A plain object, not an Error: contextBridge keeps its fields (see LoupeBridge).
        return Promise.reject(envelope('NOT_FOUND', `Unknown method: ${String(method).slice(0, 100)}`));
      }
      const reply: unknown = await ipc.invoke(IPC_INVOKE_CHANNEL, method, request ?? {});
      if (!isWireReply(reply)) return Promise.reject(envelope('INTERNAL', `Malformed reply for ${method}`));
      if (reply.ok) return reply.data;
      return Promise.reject(reply.error);
    },
    on: (listener: (event: EventName, payload: Events[EventName]) => void): (() => void) => {
      if (typeof listener !== 'function') throw new TypeError('loupe.on needs a function');
      // The IpcRendererEvent is dropped here: it carries `sender` (ipcRenderer), which must not reach the page.
      const forward = (_event: IpcRendererEvent, message: unknown): void => {
        if (typeof message !== 'object' || message === null) return;
        const { event, payload } = message as { event?: unknown; payload?: unknown };
        if (typeof event !== 'string') return;
        listener(event as EventName, payload as Events[EventName]);
      };
      ipc.on(IPC_EVENT_CHANNEL, forward);
      return () => {
        ipc.removeListener(IPC_EVENT_CHANNEL, forward);
      };
    },
    mediaUrl: (kind: MediaKind, id: number): string => {
      if (!mediaKinds.includes(kind)) throw new TypeError(`Unknown media kind: ${String(kind)}`);
      if (!Number.isSafeInteger(id) || id <= 0) throw new TypeError(`Bad image id: ${String(id)}`);
      return `${MEDIA_SCHEME}://${kind}/${id}`;
    },
  };
  return bridge as LoupeBridge;
}
