// The backend chain (electron/core/training/backend.ts) with loaders that fail in the ways they fail for users:
// a package that is not installed, CUDA libraries that cannot be opened, a backend that loads but computes a
// wrong gradient, a package that registers nothing. And the real chain on this machine, with clean stdout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { DEFAULT_LOADERS, explainLoadError, selectBackend, tfjsNodeLoader, type BackendLoader } from '../../electron/core/training/backend.ts';

const NOT_INSTALLED = 'not installed (optional dependency; its libtensorflow download failed or was skipped)';
const loader = (name: string) => DEFAULT_LOADERS.find((l) => l.name === name)!;

function installed(pkg: string): boolean {
  try {
    createRequire(import.meta.url).resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

test('the real chain picks the first backend that works and says why the others were passed over', async () => {
  const report = await selectBackend();
  assert.equal(tf.getBackend(), report.chosen.name === 'wasm' ? 'wasm' : report.chosen.name === 'cpu' ? 'cpu' : 'tensorflow');
  if (!installed('@tensorflow/tfjs-node-gpu') && !installed('@tensorflow/tfjs-node')) {
    assert.equal(report.chosen.name, 'wasm');
    assert.match(report.chosen.detail, /WebAssembly \(XNNPACK, SIMD\)/);
    assert.equal(report.threads, availableParallelism(), 'one training thread per core on wasm');
    assert.deepEqual(report.rejected, [
      { name: 'tfjs-node-gpu', reason: NOT_INSTALLED },
      { name: 'tfjs-node', reason: NOT_INSTALLED },
    ]);
  }
});

test('load errors become reasons a technician can act on', () => {
  // Real errors: a missing package, and the dynamic loader failing on a CUDA library.
  const missing = (() => {
    try {
      createRequire(import.meta.url)('@tensorflow/tfjs-node-gpu-not-here');
    } catch (e) {
      return e;
    }
  })();
  assert.equal(explainLoadError('@tensorflow/tfjs-node-gpu-not-here', missing), NOT_INSTALLED);
  const cuda = (() => {
    try {
      process.dlopen({ exports: {} } as NodeJS.Module, '/nonexistent/libcudart.so.11.0');
    } catch (e) {
      return e;
    }
  })();
  assert.match(explainLoadError('@tensorflow/tfjs-node-gpu', cuda), /^CUDA libraries not found: .*libcudart\.so\.11\.0/);
  const binding = new Error('/x/node_modules/@tensorflow/tfjs-node/lib/napi-v8/tfjs_binding.node: cannot open shared object file');
  assert.match(explainLoadError('@tensorflow/tfjs-node', binding), /^native library could not load: /);
});

test('a backend that loads but gets a gradient wrong is rejected by the self-test; the next one wins', async () => {
  // A real backend: the cpu backend's kernels, except a Conv2DBackpropFilter that is off by a factor.
  const name = 'cpu-wrong-filter-grad';
  if (!tf.findBackendFactory(name)) {
    tf.registerBackend(name, () => new MathBackendCPU(), 0);
    for (const k of tf.getKernelsForBackend('cpu')) {
      const kernelFunc: tf.KernelFunc =
        k.kernelName === 'Conv2DBackpropFilter'
          ? (args) => {
              const good = k.kernelFunc(args) as tf.TensorInfo;
              const backend = args.backend as MathBackendCPU;
              const values = (backend.readSync(good.dataId) as Float32Array).map((v) => v * 1.01);
              backend.disposeIntermediateTensorInfo(good);
              return backend.makeTensorInfo(good.shape, 'float32', values);
            }
          : k.kernelFunc;
      tf.registerKernel({ ...k, backendName: name, kernelFunc });
    }
  }
  const broken: BackendLoader = { name: 'broken', backendName: name, load: async () => {}, describe: async () => 'cpu with a bug' };
  const report = await selectBackend({ loaders: [broken, loader('cpu')] });
  assert.equal(report.chosen.name, 'cpu');
  assert.equal(tf.getBackend(), 'cpu');
  assert.equal(report.rejected.length, 1);
  assert.equal(report.rejected[0]!.name, 'broken');
  assert.match(report.rejected[0]!.reason, /^self-test failed: conv2d filter gradient is wrong/);
});

test('missing packages and backends that register nothing are skipped; when nothing works, all reasons are given', async () => {
  const absent = tfjsNodeLoader('@tensorflow/tfjs-node-not-installed', 'tfjs-node-x', 'CPU');
  const hollow: BackendLoader = { name: 'hollow', backendName: 'no-such-backend', load: async () => {}, describe: async () => '' };
  const report = await selectBackend({ loaders: [absent, hollow, loader('wasm')] });
  assert.equal(report.chosen.name, 'wasm');
  assert.deepEqual(report.rejected, [
    { name: 'tfjs-node-x', reason: NOT_INSTALLED },
    { name: 'hollow', reason: "loaded, but no 'no-such-backend' backend was registered (another copy of @tensorflow/tfjs-core?)" },
  ]);
  await assert.rejects(selectBackend({ loaders: [absent, hollow] }), (e: Error) => {
    assert.match(e.message, /^No TensorFlow\.js backend works here: tfjs-node-x: not installed .*; hollow: loaded, but no/);
    return true;
  });
});

test('stdout stays clean JSON: no "running TensorFlow.js in Node.js" banner, even on the cpu fallback', () => {
  for (const only of ['', 'cpu']) {
    const script = `
      import { selectBackend, DEFAULT_LOADERS } from './electron/core/training/backend.ts';
      import * as tf from '@tensorflow/tfjs-core';
      const r = await selectBackend(${only ? `{ loaders: DEFAULT_LOADERS.filter((l) => l.name === '${only}') }` : ''});
      tf.dispose(tf.matMul(tf.ones([4, 4]), tf.ones([4, 4]))); // use the backend after selection too
      console.log(JSON.stringify(r));`;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', cwd: process.cwd() });
    assert.equal(child.status, 0, child.stderr);
    const lines = child.stdout.trim().split('\n');
    assert.equal(lines.length, 1, child.stdout);
    assert.equal(JSON.parse(lines[0]!).chosen.name, only || JSON.parse(lines[0]!).chosen.name);
    assert.doesNotMatch(child.stdout + child.stderr, /looks like you are running TensorFlow\.js in Node\.js/);
  }
});
