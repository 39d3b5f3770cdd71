/**
 * One call of the contract as the faces carry it: a method name and payload in, a WireReply envelope out. Used
 * by the Electron IPC handler and by both of the browser host's ways in (HTTP POST and WebSocket frames), so an
 * error reads the same whichever way the call came.
 */
import { LoupeError, isMethod, type ErrorEnvelope, type Method } from '../../../shared/contract.ts';
import type { WireReply } from '../../../shared/transport.ts';
import { explainDiskFull } from '../project/disk-full.ts';

/** What a face needs of LoupeCore. */
export interface Dispatcher {
  dispatch(method: Method, payload: unknown): Promise<unknown>;
}

/** Turns anything thrown by core into the envelope that crosses the boundary. */
export function toErrorEnvelope(thrown: unknown): ErrorEnvelope {
  const err = explainDiskFull(thrown);
  if (err instanceof LoupeError) return err.toEnvelope();
  const message = err instanceof Error ? err.message : String(err);
  return { name: 'LoupeError', code: 'INTERNAL', message };
}

/** Routes one call; never throws, so a bad call cannot take a face down. */
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
