/**
 * The training process's side of the desktop app's GPU host: the hidden window lives in the main process, which
 * relays frames between its message port and this process's IPC channel (shared/worker-protocol.ts, GpuHostRelay*).
 * The frames are the same as the headless Chromium's (chromium.ts), so everything above the link is shared.
 */
import { decodeFrame, encodeFrame, type FromGpuHost } from '../../../../shared/gpu-host-protocol.ts';
import type { GpuHostRelayDown, GpuHostRelayUp } from '../../../../shared/worker-protocol.ts';
import type { GpuHostLink, GpuHostListener } from './chromium.ts';

/** This process's IPC channel, as child_process.fork gives it (tests pass an EventEmitter). */
export interface RelayChannel {
  send?(message: GpuHostRelayUp): unknown;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
}

const isRelay = (m: unknown): m is GpuHostRelayDown => typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'gpuHost';

const OPEN_TIMEOUT_MS = 30_000;

/** Asks the main process for its hidden window and resolves once the window's page is connected. */
export function openRelayGpuHost(channel: RelayChannel = process as unknown as RelayChannel): Promise<GpuHostLink> {
  if (!channel.send) return Promise.reject(new Error('no main process to host a GPU window (not started by the desktop app)'));
  const send = channel.send.bind(channel);
  let listener: GpuHostListener | null = null;
  const lostCallbacks = new Set<(e: Error) => void>();
  let closed = false;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`the GPU window did not open within ${OPEN_TIMEOUT_MS / 1000} s`)), OPEN_TIMEOUT_MS);
    let opened = false;
    function fail(e: Error): void {
      clearTimeout(timer);
      if (!opened) {
        channel.off('message', onMessage);
        reject(e);
        return;
      }
      if (closed) return;
      closed = true;
      channel.off('message', onMessage);
      for (const c of lostCallbacks) c(e);
    }
    function onMessage(m: unknown): void {
      if (!isRelay(m)) return;
      if (m.op === 'lost') fail(new Error(`the GPU window ${opened ? 'went away' : 'could not open'}: ${m.message}`));
      else if (m.op === 'opened' && !opened) {
        opened = true;
        clearTimeout(timer);
        resolve(link);
      } else if (m.op === 'frame') {
        // The channel may hand over a view at any offset: the parts are read as float32 in place.
        const frame = m.frame.byteOffset % 4 === 0 ? m.frame : m.frame.slice();
        let decoded: ReturnType<typeof decodeFrame<FromGpuHost>>;
        try {
          decoded = decodeFrame<FromGpuHost>(frame);
        } catch (e) {
          fail(e as Error);
          return;
        }
        listener?.(decoded.header, decoded.parts);
      }
    }
    const link: GpuHostLink = {
      send: (header, parts = []) => {
        if (!closed) send({ type: 'gpuHost', op: 'frame', frame: encodeFrame(header, parts) });
      },
      listen: (l) => {
        listener = l;
        return () => {
          if (listener === l) listener = null;
        };
      },
      onLost: (c) => {
        lostCallbacks.add(c);
        return () => lostCallbacks.delete(c);
      },
      close: async () => {
        if (closed) return;
        closed = true;
        channel.off('message', onMessage);
        send({ type: 'gpuHost', op: 'close' });
      },
    };
    channel.on('message', onMessage);
    send({ type: 'gpuHost', op: 'open' });
  });
}
