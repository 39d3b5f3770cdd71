// What Loupe's JS kernels for the wasm backend share: views of tensors on the wasm heap, output allocation, and
// the blocking of per-channel passes over NHWC activations ([rows, C], channels innermost).
import type * as tf from '@tensorflow/tfjs-core';

/** The two BackendWasm methods we use (typed structurally to keep tfjs-backend-wasm's types out). */
export interface HeapBackend {
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
  /** Frees a scratch tensor that makeOutput made and nothing else holds. */
  disposeData(dataId: object): void;
}

export interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}

/** A float32 view of `t` on the wasm heap; `kernel` and `name` say whose input was wrong. */
export function heapFloats(backend: HeapBackend, t: tf.TensorInfo | undefined, kernel: string, name: string): Float32Array {
  if (!t) throw new Error(`${kernel}: missing ${name}`);
  const a = backend.typedArrayFromHeap(t);
  if (!(a instanceof Float32Array)) throw new Error(`${kernel}: ${name} must be float32, got ${t.dtype}`);
  return a;
}

/**
 * Allocates a kernel's output, runs `body` with it and `temp` (scratch tensors of any shape, freed when `body`
 * returns or throws), and returns the output (freed too if `body` throws). Heap offsets must be taken after the last
 * allocation: allocating may grow the heap.
 */
export function withScratch(backend: HeapBackend, outShape: number[], body: (out: tf.TensorInfo, temp: (shape: number[]) => tf.TensorInfo) => void): tf.TensorInfo {
  const out = backend.makeOutput(outShape, 'float32');
  const scratch: tf.TensorInfo[] = [];
  const temp = (shape: number[]) => {
    const t = backend.makeOutput(shape, 'float32');
    scratch.push(t);
    return t;
  };
  try {
    body(out, temp);
    return out;
  } catch (err) {
    backend.disposeData(out.dataId);
    throw err;
  } finally {
    for (const t of scratch) backend.disposeData(t.dataId);
  }
}

export interface Prepared {
  /** The kernel's inputs, by name, as float32 views of the wasm heap. */
  readonly in: Record<string, Float32Array>;
  /** Its outputs: one the shape of the first input, then per-channel vectors. */
  readonly outInfos: tf.TensorInfo[];
  readonly out: Float32Array[];
  readonly channels: number;
  readonly rows: number;
}

/**
 * Allocates the outputs of a per-channel kernel (a full tensor shaped as the first input, and `vectors`
 * per-channel ones), then views every input and output.
 */
export function prepareChannelKernel(kernel: string, args: KernelArgs, names: readonly string[], vectors: number): Prepared {
  const backend = args.backend as HeapBackend;
  const first = args.inputs[names[0]!];
  if (!first) throw new Error(`${kernel}: missing ${names[0]}`);
  const channels = first.shape[first.shape.length - 1] ?? 1;
  const rows = first.shape.reduce((a, b) => a * b, 1) / channels;
  const outInfos = [backend.makeOutput([...first.shape], 'float32')];
  for (let v = 0; v < vectors; v++) outInfos.push(backend.makeOutput([channels], 'float32'));
  // Views only after the last makeOutput: allocating may grow (and detach) the wasm heap.
  const views: Record<string, Float32Array> = {};
  for (const n of names) views[n] = heapFloats(backend, args.inputs[n], kernel, n);
  return { in: views, outInfos, out: outInfos.map((t, i) => heapFloats(backend, t, kernel, `output ${i}`)), channels, rows };
}

const GROUP = 4;
const BLOCK_BYTES = 32 * 1024;

/** A pass over one block of rows for channels c… : its elements are start + c, start + c + C, … up to end. */
export type ChannelPass = (start: number, end: number, c: number) => void;

/**
 * Runs `quad` for each group of four channels (c … c + 3) and `single` for each channel past the last group, block
 * by block of rows of [rows, C]. Four channels at a time down a block (stride C) let a pass keep its sums in local
 * doubles, which V8 holds in registers, where a row-major loop over a per-channel Float64Array loads and stores each
 * sum per element; the block stays in cache while its channel groups pass over it; each channel still adds its rows
 * in order. The callbacks run once per block and channel group; they copy the arrays and C they read into locals
 * first: V8 reloads a captured variable on every pass of a loop, which cost the batch-norm kernels 6–8%, and with the
 * locals they are as fast as the loops written inline.
 */
export function forChannelBlocks(C: number, rows: number, quad: ChannelPass, single: ChannelPass, rowMultiple = 1): void {
  // `rowMultiple`: blocks of whole runs, for a pass whose sums restart every so many rows (batch norm's).
  const block = Math.max(rowMultiple, Math.floor(BLOCK_BYTES / (4 * C) / rowMultiple) * rowMultiple);
  for (let r0 = 0; r0 < rows; r0 += block) {
    const start = r0 * C;
    const end = Math.min(rows, r0 + block) * C;
    let c = 0;
    for (; c + GROUP <= C; c += GROUP) quad(start, end, c);
    for (; c < C; c++) single(start, end, c);
  }
}
