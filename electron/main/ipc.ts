/**
 * The contract over Electron IPC: one `ipcMain.handle` on IPC_INVOKE_CHANNEL serves every method of the
 * contract through `LoupeCore.dispatch`, which validates the payload with the contract's zod schema. Replies
 * are WireReply envelopes (the host's format), so error codes survive the contextBridge.
 * Core events go to the window on IPC_EVENT_CHANNEL.
 */
import type { IpcMain } from 'electron';
import { LoupeError, isMethod, type ErrorEnvelope, type EventName, type Events, type Method } from '../../shared/contract.ts';
import { IPC_EVENT_CHANNEL, IPC_INVOKE_CHANNEL, type WireEvent, type WireReply } from '../../shared/transport.ts';
import type { Logger, SenderEvent } from './security.ts';

/** What IPC needs of LoupeCore. */
export interface Dispatcher {
  dispatch(method: Method, payload: unknown): Promise<unknown>;
}

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

/** Turns anything thrown by core into the envelope that crosses the boundary. */
export function toErrorEnvelope(err: unknown): ErrorEnvelope {
  if (err instanceof LoupeError) return err.toEnvelope();
  const message = err instanceof Error ? err.message : String(err);
  return { name: 'LoupeError', code: 'INTERNAL', message };
}

/** Routes one call; never throws, so a bad call cannot take the main process down. */
export async function invokeMethod(core: Dispatcher, method: unknown, payload: unknown): Promise<WireReply<unknown>> {
  if (typeof method !== 'string' || !isMethod(method)) {
    const shown = typeof method === 'string' ? method.slice(0, 100) : typeof method;
    return { ok: false, error: new LoupeError('NOT_FOUND', `Unknown method: ${shown}`).toEnvelope() };
  }
  try {
    return { ok: true, data: await core.dispatch(method, payload) };
  } catch (err) {
    return { ok: false, error: toErrorEnvelope(err) };
  }
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
