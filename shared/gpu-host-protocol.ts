/**
 * The GPU host (issue 16): a Chromium page with no Node that runs the core's fit loop on TensorFlow.js's WebGPU or
 * WebGL backend, while the training process keeps everything else (tensor cache, augmentation, checkpoints, the
 * project). Messages between them, both directions, as single binary frames so pixels and weights travel without
 * JSON: a 4-byte little-endian header length, the JSON header, then the header's `parts` as byte arrays, each
 * starting at a multiple of 4 so the receiver can view float32 data in place.
 */
import type { BatchMetrics, EpochMetrics, OptimizerConfig, ScheduleConfig } from './training.ts';

export type GpuBackendName = 'webgpu' | 'webgl';

/** In the desktop app, the page's message port arrives on this IPC channel and then as this window message. */
export const GPU_HOST_PORT_CHANNEL = 'loupe:gpu-host-port';

/** What the page found: for each backend, its adapter or renderer, whether it is software, and its limits. */
export interface GpuAdapterReport {
  readonly backend: GpuBackendName;
  /** null: the API is absent or refused a context/adapter (then `reason` says what happened). */
  readonly available: boolean;
  readonly reason: string | null;
  /** WebGPU: vendor, architecture, device; WebGL: the unmasked renderer string. */
  readonly adapter: string;
  readonly driver: string;
  /** SwiftShader, llvmpipe, a WebGPU fallback adapter: never chosen without --allow-software-gpu. */
  readonly software: boolean;
  /** Chromium's GPU blocklist refused hardware acceleration (WebGL's major-performance-caveat context). */
  readonly blocklisted: boolean;
  /** The limits that bound a model: the largest buffer (WebGPU) or texture side (WebGL). */
  readonly limits: Record<string, number>;
}

export interface GpuProbe {
  readonly userAgent: string;
  readonly adapters: readonly GpuAdapterReport[];
}

/** The fit loop's options that can cross to the page (callbacks and the signal stay behind). */
export interface RemoteFitOptions {
  readonly epochs: number;
  readonly batchSize: number;
  readonly optimizer: OptimizerConfig;
  readonly schedule: ScheduleConfig;
  readonly earlyStopping: { monitor: 'val_loss' | 'val_accuracy'; patience: number } | null;
  readonly weightDecay: number;
  readonly classWeights: number[] | null;
  readonly numClasses: number;
  readonly heldOut: boolean;
  /** Names of the layers that train (transfer phases); null: every trainable layer. */
  readonly trainableLayers: string[] | null;
}

export interface FitStateWire {
  epoch: number;
  schedule: { factor: number; best: number | null; badEpochs: number };
  earlyStop: { best: number | null; bestEpoch: number | null; badEpochs: number };
}

/** Tensors described in a header; their bytes are the frame's parts, in order. */
export interface TensorListWire {
  readonly names: string[];
  readonly shapes: number[][];
  readonly dtypes: ('float32' | 'int32')[];
}

export type ToGpuHost =
  | { readonly type: 'probe' }
  /** parts: [weightData, optimizer slot tensors…] */
  | {
      readonly type: 'fit';
      readonly backend: GpuBackendName;
      readonly modelTopology: unknown;
      readonly weightSpecs: unknown[];
      readonly options: RemoteFitOptions;
      readonly shape: [number, number, number];
      readonly trainSize: number;
      readonly valSize: number;
      readonly resume: { readonly state: FitStateWire; readonly slots: TensorListWire } | null;
    }
  /** parts: [xs float32, ys int32], or none when the stream ended. */
  | { readonly type: 'batch'; readonly stream: number; readonly n: number; readonly done: boolean }
  | { readonly type: 'ack' }
  | { readonly type: 'stop' };

export type FromGpuHost =
  | { readonly type: 'probed'; readonly probe: GpuProbe }
  | { readonly type: 'started'; readonly backend: GpuBackendName; readonly detail: string }
  /** Opens a batch stream of the train or validation source for one epoch; then 'next' asks for each batch. */
  | { readonly type: 'open'; readonly stream: number; readonly source: 'train' | 'val'; readonly epoch: number; readonly batchSize: number }
  | { readonly type: 'next'; readonly stream: number }
  | { readonly type: 'batchEnd'; readonly metrics: BatchMetrics }
  /** parts: [weightData, optimizer slot tensors…]; answered by 'ack' once the checkpoint is on disk. */
  | { readonly type: 'checkpoint'; readonly state: FitStateWire; readonly improved: boolean; readonly metrics: EpochMetrics; readonly slots: TensorListWire }
  /** Answered by 'ack' once recorded. */
  | { readonly type: 'epochEnd'; readonly metrics: EpochMetrics; readonly improved: boolean; readonly state: FitStateWire }
  /** parts: [weightData]: the weights the fit ended with. */
  | { readonly type: 'ended'; readonly status: 'finished' | 'stopped' | 'early-stopped' | 'nan'; readonly state: FitStateWire; readonly message: string }
  | { readonly type: 'failed'; readonly message: string };

/** One line on an adapter for `loupe doctor` and the Train view: what it is, its driver and limits, or why it is absent. */
export function describeAdapter(a: GpuAdapterReport): string {
  if (!a.available) return `unavailable: ${a.reason ?? 'unknown'}`;
  const limits = Object.entries(a.limits).map(([k, v]) => `${k} ${v}`).join(', ');
  const flags = [a.software ? 'software' : '', a.blocklisted ? 'blocklisted' : ''].filter(Boolean).join(', ');
  return `${a.adapter}${a.driver ? ` (driver: ${a.driver})` : ''}${flags ? `, ${flags}` : ''}${limits ? `; ${limits}` : ''}`;
}

/** A frame's header is JSON: a bound keeps a broken or hostile peer from making us parse megabytes of it. */
export const MAX_HEADER_BYTES = 4 << 20;

const align4 = (n: number) => (n + 3) & ~3;

/** One message and its byte parts as one frame. */
export function encodeFrame(header: object, parts: readonly ArrayBufferView[] = []): Uint8Array<ArrayBuffer> {
  const json = new TextEncoder().encode(JSON.stringify({ ...header, parts: parts.map((p) => p.byteLength) }));
  let size = align4(4 + json.byteLength);
  for (const p of parts) size += align4(p.byteLength);
  const out = new Uint8Array(size);
  new DataView(out.buffer).setUint32(0, json.byteLength, true);
  out.set(json, 4);
  let at = align4(4 + json.byteLength);
  for (const p of parts) {
    out.set(new Uint8Array(p.buffer, p.byteOffset, p.byteLength), at);
    at += align4(p.byteLength);
  }
  return out;
}

/** The header and its parts (views into `frame`, 4-byte aligned); throws on a frame that does not add up. */
export function decodeFrame<T>(frame: Uint8Array): { header: T; parts: Uint8Array[] } {
  if (frame.byteLength < 4 || frame.byteOffset % 4 !== 0) throw new Error('GPU host: a malformed frame');
  const length = new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getUint32(0, true);
  if (length > MAX_HEADER_BYTES || 4 + length > frame.byteLength) throw new Error('GPU host: a frame header out of bounds');
  const header = JSON.parse(new TextDecoder().decode(frame.subarray(4, 4 + length))) as T & { parts?: unknown };
  const sizes = header.parts;
  if (!Array.isArray(sizes) || !sizes.every((s) => Number.isInteger(s) && s >= 0)) throw new Error('GPU host: a frame without its part sizes');
  let at = align4(4 + length);
  const parts = (sizes as number[]).map((s) => {
    if (at + s > frame.byteLength) throw new Error('GPU host: a frame shorter than its parts');
    const part = frame.subarray(at, at + s);
    at += align4(s);
    return part;
  });
  return { header, parts };
}

/** A part as float32 or int32 values (a view, no copy). */
export function floats(part: Uint8Array): Float32Array {
  return new Float32Array(part.buffer, part.byteOffset, part.byteLength >> 2);
}
export function ints(part: Uint8Array): Int32Array {
  return new Int32Array(part.buffer, part.byteOffset, part.byteLength >> 2);
}

/**
 * The backend to train on, from what the page found (issue 16's order): WebGPU on a hardware adapter, else WebGL2
 * on a hardware renderer. Software adapters (SwiftShader, llvmpipe, fallback adapters) are slower than the CPU path
 * and are used only when allowed (tests), even when forced. `forced` names the one backend to consider; a GPU on
 * Chromium's blocklist is used when forced (the user's call), never automatically. Null with the reasons when none
 * will do: the CPU path trains then.
 */
export function chooseGpuBackend(
  probe: GpuProbe,
  o: { allowSoftware: boolean; forced?: GpuBackendName | null },
): { chosen: GpuAdapterReport | null; passedOver: { backend: GpuBackendName; reason: string }[] } {
  const passedOver: { backend: GpuBackendName; reason: string }[] = [];
  const order: GpuBackendName[] = o.forced ? [o.forced] : ['webgpu', 'webgl'];
  for (const name of order) {
    const a = probe.adapters.find((r) => r.backend === name);
    if (!a || !a.available) passedOver.push({ backend: name, reason: a?.reason ?? 'not offered by this browser' });
    else if (a.blocklisted && !o.forced) passedOver.push({ backend: name, reason: `the GPU is on Chromium's blocklist (${a.adapter})` });
    else if (a.software && !o.allowSoftware) passedOver.push({ backend: name, reason: `software rendering only (${a.adapter}): slower than the CPU path (--allow-software-gpu to use it anyway)` });
    else return { chosen: a, passedOver };
  }
  return { chosen: null, passedOver };
}
