// The TensorFlow.js backend chain (issue 4, "Engine"): the first backend that loads AND computes a conv and its
// gradients right wins, in this order: tfjs-node-gpu (CUDA), tfjs-node (libtensorflow), wasm (XNNPACK, SIMD, with
// our training kernels), cpu (plain JS, ~100× slower for conv training). The tfjs-node packages are optional
// dependencies whose install downloads libtensorflow; where that failed they are simply absent, and we say so.
//
// We import tfjs-core and the backend packages, never the umbrella `@tensorflow/tfjs`; the cpu backend's
// "Hi, looks like you are running TensorFlow.js in Node.js" banner is silenced (see quietCpuBanner) so the CLI's
// JSON output stays clean.
import * as tf from '@tensorflow/tfjs-core';
import { trainingThreads } from './parallel/threads.ts';
import { threadPoolOf } from '../thread-pool.cjs';
// Side effect: tfjs-core's Node bundle registers no gradient functions; tfjs-layers' bundle registers them all
// (into tfjs-core's global registry). Training needs them whatever the backend.
import '@tensorflow/tfjs-layers';
import type { BackendReport } from '../../../shared/worker-protocol.ts';
import { registerWasmTrainingKernels } from './kernels/index.ts';
import { loadSimdKernels, simdMultiplyAdd } from './kernels/simd.ts';
import { backendSelfTest } from './backend-self-test.ts';

export type { BackendReport };

/** One link of the chain. Tests inject their own to exercise failures. */
export interface BackendLoader {
  /** Shown to the user and stored with runs: 'tfjs-node-gpu', 'tfjs-node', 'wasm', 'cpu'. */
  readonly name: string;
  /** The tfjs backend this loader registers, activated with tf.setBackend after load(). */
  readonly backendName: string;
  /** Imports and registers the backend; throws (with a message for the user) when it cannot. */
  load(): Promise<void>;
  /** A one-line description once active (device, threads, SIMD). */
  describe(): Promise<string>;
  /** Runs once the backend is active (tf.setBackend done): what needs the live backend, such as its memory. */
  ready?(): Promise<void>;
}

export interface SelectOptions {
  readonly loaders?: readonly BackendLoader[];
  /** Defaults to backendSelfTest: a conv and its input/filter gradients against a float64 reference. */
  readonly selfTest?: () => Promise<void>;
}

const NOT_INSTALLED = 'not installed (optional dependency; its libtensorflow download failed or was skipped)';

function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0]!.trim();
}

/** Turns an import failure of a tfjs-node package into a reason a technician can act on. */
export function explainLoadError(pkg: string, e: unknown): string {
  const code = (e as { code?: string } | null)?.code;
  const msg = e instanceof Error ? e.message : String(e);
  if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && msg.includes(pkg)) return NOT_INSTALLED;
  if (/libcu|cuda|cudnn/i.test(msg)) return `CUDA libraries not found: ${firstLine(e)}`;
  if (/tfjs_binding|libtensorflow|\.node\b/i.test(msg)) return `native library could not load: ${firstLine(e)}`;
  return `failed to load: ${firstLine(e)}`;
}

// A variable specifier keeps TypeScript (and bundlers) from resolving packages that are optional.
async function importOptional(pkg: string): Promise<void> {
  try {
    await import(/* @vite-ignore */ pkg);
  } catch (e) {
    throw new Error(explainLoadError(pkg, e));
  }
}

/** A loader for a tfjs-node flavour (an optional dependency registering the 'tensorflow' backend). */
export function tfjsNodeLoader(pkg: string, name: string, device: string): BackendLoader {
  return {
    name,
    backendName: 'tensorflow',
    load: () => importOptional(pkg),
    describe: async () => `${pkg} (libtensorflow, ${device})`,
  };
}

/** Why Loupe's SIMD kernels are not running on the active wasm backend (null: they are), for its description. */
let simdMissing: string | null = null;

export const DEFAULT_LOADERS: readonly BackendLoader[] = [
  tfjsNodeLoader('@tensorflow/tfjs-node-gpu', 'tfjs-node-gpu', 'CUDA'),
  tfjsNodeLoader('@tensorflow/tfjs-node', 'tfjs-node', 'CPU'),
  {
    name: 'wasm',
    backendName: 'wasm',
    load: async () => {
      await import('@tensorflow/tfjs-backend-wasm');
      registerWasmTrainingKernels();
    },
    ready: async () => {
      simdMissing = await loadSimdKernels(tf.backend());
    },
    describe: async () => {
      const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
      // One wasm thread per tfjs instance: tfjs turns wasm threads off under Node (WASM_HAS_MULTITHREAD_SUPPORT is
      // false when IS_NODE). The cores are used by data-parallel gradient threads instead (parallel/peers.ts).
      const madd = { fused: ', fused multiply-add', unfused: ', multiply-add unfused: no FMA', plain: '' }[simdMultiplyAdd() ?? 'plain'];
      const ours = simdMissing ? `Loupe's training kernels (in JS: ${simdMissing})` : `Loupe's training kernels (SIMD${madd})`;
      return `WebAssembly (XNNPACK${simd ? ', SIMD' : ', no SIMD'}) with ${ours}`;
    },
  },
  {
    name: 'cpu',
    backendName: 'cpu',
    load: async () => {
      await import('@tensorflow/tfjs-backend-cpu');
    },
    describe: async () => 'plain JavaScript (slow: about 1/100 of wasm for convolutional training)',
  },
];

/**
 * The cpu backend prints its banner (console.warn) on its first tensor write unless tfjs is in PROD mode. Do that
 * first write now, with PROD on only for that moment, so the banner never appears and later warnings still do.
 */
async function quietCpuBanner(): Promise<void> {
  if (tf.findBackendFactory('cpu') == null) return;
  const env = tf.env();
  const prod = env.getBool('PROD');
  const previous = tf.engine().backendName;
  env.set('PROD', true);
  try {
    const cpu = tf.findBackend('cpu') ?? ((await tf.setBackend('cpu')) ? tf.findBackend('cpu') : null);
    cpu?.disposeData(cpu.write(new Float32Array(1), [1], 'float32'));
  } finally {
    env.set('PROD', prod);
    if (previous && previous !== tf.engine().backendName) await tf.setBackend(previous);
  }
}

/**
 * Loads and activates one backend of the chain by its name, without the self-test: for a gradient thread, whose
 * training process already chose that backend (and tested it).
 */
export async function activateBackend(name: string, loaders: readonly BackendLoader[] = DEFAULT_LOADERS): Promise<void> {
  const loader = loaders.find((l) => l.name === name);
  if (!loader) throw new Error(`unknown backend '${name}'`);
  await activate(loader);
}

async function activate(loader: BackendLoader): Promise<void> {
  await loader.load();
  if (loader.backendName === 'cpu' || tf.findBackendFactory('cpu')) await quietCpuBanner();
  if (tf.findBackendFactory(loader.backendName) == null) {
    throw new Error(`loaded, but no '${loader.backendName}' backend was registered (another copy of @tensorflow/tfjs-core?)`);
  }
  if (!(await tf.setBackend(loader.backendName))) throw new Error(`the '${loader.backendName}' backend failed to initialise`);
  await tf.ready();
  await loader.ready?.();
}

/** Walks the chain; resolves with the chosen backend (now active) and why the others were passed over. */
export async function selectBackend(options: SelectOptions = {}): Promise<BackendReport> {
  const loaders = options.loaders ?? DEFAULT_LOADERS;
  const selfTest = options.selfTest ?? backendSelfTest;
  const rejected: BackendReport['rejected'] = [];
  for (const loader of loaders) {
    try {
      await activate(loader);
      try {
        await selfTest();
      } catch (e) {
        throw new Error(`self-test failed: ${firstLine(e)}`);
      }
      return { chosen: { name: loader.name, detail: await loader.describe() }, rejected, threads: trainingThreads(0, loader.name), threadPool: threadPoolOf(process.env) };
    } catch (e) {
      rejected.push({ name: loader.name, reason: firstLine(e) });
    }
  }
  throw new Error(`No TensorFlow.js backend works here: ${rejected.map((r) => `${r.name}: ${r.reason}`).join('; ')}`);
}
