/**
 * The contract over Electron IPC: one `ipcMain.handle` on IPC_INVOKE_CHANNEL serves every method of the
 * contract through `LoupeCore.dispatch`, which validates the payload with the contract's zod schema. Replies
 * are WireReply envelopes (the host's format), so error codes survive the contextBridge.
 * Core events go to the window on IPC_EVENT_CHANNEL.
 */
import type { IpcMain } from 'electron';
import type { EventName, Events } from '../../shared/contract.ts';
import { IPC_EVENT_CHANNEL, IPC_INVOKE_CHANNEL, type WireEvent } from '../../shared/transport.ts';
import { invokeMethod, type Dispatcher } from '../core/api/wire.ts';
import type { Logger, SenderEvent } from './security.ts';

export { invokeMethod, toErrorEnvelope, type Dispatcher } from '../core/api/wire.ts';

export interface EventSource {
  on(listener: <E extends EventName>(name: E, payload: Events[E]) => void): () => void;
}

export type IpcMainLike = Pick<IpcMain, 'handle' | 'removeHandler'>;

export interface IpcOptions {
  ipcMain: IpcMainLike;
  core: Dispatcher;
  /** The sender check (security.ts `isTrustedSender` bound to our window). */
  isTrustedSender: (event: SenderEvent) => boolean;
  log: Logger;
}

/** Registers the handler; returns a function that removes it (used on shutdown and by tests). */
export function registerIpc(opts: IpcOptions): () => void {
  opts.ipcMain.handle(IPC_INVOKE_CHANNEL, async (event, method: unknown, payload: unknown) => {
    if (!opts.isTrustedSender(event)) {
      const url = event.senderFrame?.url ?? '(no frame)';
      opts.log(`Loupe refused an IPC call from an untrusted frame: ${url}`);
      // A rejection, not an envelope: a foreign frame gets nothing it could act on.
      throw new Error('Refused: IPC from an untrusted frame');
    }
    const reply = await invokeMethod(opts.core, method, payload);
    if (!reply.ok && reply.error.code === 'INTERNAL') opts.log(`Loupe: ${String(method)} failed: ${reply.error.message}`);
    return reply;
  });
  return () => opts.ipcMain.removeHandler(IPC_INVOKE_CHANNEL);
}

export interface EventTarget {
  isDestroyed(): boolean;
  send(channel: string, message: WireEvent): void;
}

/** Forwards every core event to the window (if it is still there); returns the unsubscribe function. */
export function forwardEvents(core: EventSource, target: () => EventTarget | null): () => void {
  return core.on((event, payload) => {
    const contents = target();
    if (!contents || contents.isDestroyed()) return;
    contents.send(IPC_EVENT_CHANNEL, { event, payload } as WireEvent);
  });
}
