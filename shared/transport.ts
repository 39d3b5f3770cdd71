/**
 * How the faces carry the contract. Pure data: used by the host server, the Electron main/preload and the
 * renderer's api.ts, so all three agree on one wire format.
 *
 * Browser host (`loupe serve`), bound to 127.0.0.1 with a random per-launch token:
 *   POST /api/<method>        body: JSON request; header `x-loupe-token: <token>`
 *                             reply: `{ ok: true, data }` or `{ ok: false, error: ErrorEnvelope }`
 *   GET  /events?token=<t>    WebSocket; server sends `{ event, payload }` (see `Events`). The page may also send
 *                             calls as `{ call: <n>, method, request }` frames; each is answered, in any order,
 *                             by `{ call: <n>, reply }` with the same reply as a POST.
 *   GET  /media/<kind>/<id>?token=<t>   image bytes (kind: thumb | image | raw); ids only, never paths
 *   GET  /?token=<t>          the UI; it keeps the token for later calls
 *
 * Electron: `window.loupe` = { invoke(method, request), on(listener), mediaUrl(kind, id) }, bytes through the
 * `loupe://<kind>/<id>` protocol.
 */
import type {
  ErrorEnvelope,
  EventName,
  Events,
  MediaKind,
  Method,
  RequestInput,
  Response as MethodResponse,
} from './contract.ts';

export const TOKEN_HEADER = 'x-loupe-token';
export const IPC_INVOKE_CHANNEL = 'loupe:invoke';
export const IPC_EVENT_CHANNEL = 'loupe:event';
export const MEDIA_SCHEME = 'loupe';

export type WireReply<T> = { ok: true; data: T } | { ok: false; error: ErrorEnvelope };

export interface WireEvent<E extends EventName = EventName> {
  event: E;
  payload: Events[E];
}

/** A call sent as a WebSocket frame; `call` numbers it so its reply can be matched. */
export interface WireCall {
  call: number;
  method: string;
  request: unknown;
}

export interface WireCallReply {
  call: number;
  reply: WireReply<unknown>;
}

/** The largest request body or call frame the host takes: 16 MiB holds the ids of a select-all over two million images. */
export const MAX_CALL_BYTES = 16 << 20;

/** Why a call over MAX_CALL_BYTES was refused, in the same words whichever way it came. */
export const CALL_TOO_LARGE_MESSAGE = `Request body is larger than ${MAX_CALL_BYTES >> 20} MiB, the most Loupe takes in one call`;

/**
 * Close code and reason of a socket whose peer sent a frame over MAX_CALL_BYTES (RFC 6455's 1009, "message too
 * big"): the frame is not read, so its call number is unknown and nothing can answer it.
 */
export const CLOSE_TOO_LARGE = 1009;

export function isWireCall(v: unknown): v is WireCall {
  const o = v as Partial<WireCall> | null;
  return typeof o === 'object' && o !== null && Number.isSafeInteger(o.call) && typeof o.method === 'string';
}

export function isWireCallReply(v: unknown): v is WireCallReply {
  const o = v as Partial<WireCallReply> | null;
  return typeof o === 'object' && o !== null && Number.isSafeInteger(o.call) && typeof o.reply === 'object' && o.reply !== null;
}

export const mediaKinds: readonly MediaKind[] = ['thumb', 'image', 'raw'];

/**
 * What the Electron preload exposes as `window.loupe` (the renderer's api.ts wraps it). `invoke` resolves with
 * the method's response or rejects with a plain `ErrorEnvelope` object, not an Error: an Error crossing
 * Electron's contextBridge keeps only its message, and the renderer needs the `code`.
 */
export interface LoupeBridge {
  invoke<M extends Method>(method: M, request: RequestInput<M>): Promise<MethodResponse<M>>;
  /** Subscribes to every core event; returns the unsubscribe function. */
  on(listener: (event: EventName, payload: Events[EventName]) => void): () => void;
  /** `loupe://<kind>/<id>`: the only way the renderer reaches image bytes. */
  mediaUrl(kind: MediaKind, id: number): string;
}

export function apiPath(method: Method): string {
  return `/api/${method}`;
}

/**
 * The `raw` media format: for window/level in the viewer. A 16-byte header then pixels, little-endian:
 * magic 'LRAW' (4 bytes), width u32, height u32, channels u16, bitsPerSample u16; then width*height*channels
 * samples (u8 or u16), row-major, interleaved. Images are capped at 2048 px on the longest side.
 */
export const RAW_MAGIC = 'LRAW';
export const RAW_HEADER_BYTES = 16;

export interface RawImage {
  width: number;
  height: number;
  channels: number;
  bitsPerSample: 8 | 16;
  data: Uint8Array | Uint16Array;
}

/** The 16-byte header of a raw image (the pixels follow it, little-endian). */
export function rawHeader(width: number, height: number, channels: number, bits: 8 | 16): Uint8Array {
  const header = new Uint8Array(RAW_HEADER_BYTES);
  const view = new DataView(header.buffer);
  for (let i = 0; i < 4; i++) header[i] = RAW_MAGIC.charCodeAt(i);
  view.setUint32(4, width, true);
  view.setUint32(8, height, true);
  view.setUint16(12, channels, true);
  view.setUint16(14, bits, true);
  return header;
}

export function decodeRaw(buf: ArrayBuffer): RawImage {
  const view = new DataView(buf);
  const magic = String.fromCharCode(view.getUint8(0), view.getUint8(1), view.getUint8(2), view.getUint8(3));
  if (magic !== RAW_MAGIC) throw new Error('Not a Loupe raw image');
  const width = view.getUint32(4, true);
  const height = view.getUint32(8, true);
  const channels = view.getUint16(12, true);
  const bits = view.getUint16(14, true);
  const n = width * height * channels;
  const data =
    bits === 16
      ? new Uint16Array(buf.slice(RAW_HEADER_BYTES, RAW_HEADER_BYTES + n * 2))
      : new Uint8Array(buf, RAW_HEADER_BYTES, n);
  return { width, height, channels, bitsPerSample: bits === 16 ? 16 : 8, data };
}
