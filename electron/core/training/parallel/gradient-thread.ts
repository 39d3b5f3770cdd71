/**
 * A gradient thread of data-parallel training (see protocol.ts): its own tfjs instance on the main thread's
 * backend, a copy of the model, and for each step the gradient of one shard, computed by the same function the
 * fit loop uses (step.ts), or the probabilities of a shard for inference. Holds no optimizer: the weights arrive
 * with every training shard.
 */
import { parentPort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { activateBackend } from '../backend.ts';
// Loupe's training layers under tfjs's names: the thread's copy of the model loads with their training passes.
import '../kernels/layers.ts';
import { shardGradients, type ShardContext } from '../step.ts';
import { inferenceForward } from '../inference-graph.ts';
import { runFrozenLayersInInferenceMode } from '../frozen-layers.ts';
import type { FromGradientThread, ToGradientThread } from './protocol.ts';

const port = parentPort;
if (!port) throw new Error('gradient-thread.ts runs as a worker thread');

let model: tfl.LayersModel | null = null;
let numClasses = 0;
let classWeights: tf.Tensor1D | null = null;

function reply(msg: FromGradientThread, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(msg, transfer);
}

/** Every weight of the model from one flat array, in model.weights order. */
function setWeights(m: tfl.LayersModel, flat: Float32Array): void {
  tf.tidy(() => {
    let at = 0;
    const values = m.weights.map((w) => {
      const size = w.shape.reduce<number>((a, b) => a * (b ?? 1), 1);
      const t = tf.tensor(flat.subarray(at, at + size), w.shape as number[]);
      at += size;
      return t;
    });
    if (at !== flat.length) throw new Error(`weights do not match the model: ${flat.length} values for ${at}`);
    m.setWeights(values);
  });
}

async function handle(msg: ToGradientThread): Promise<void> {
  switch (msg.type) {
    case 'init': {
      await activateBackend(msg.backend);
      model = await tfl.loadLayersModel(
        tf.io.fromMemory({
          modelTopology: msg.model.modelTopology as object,
          weightSpecs: msg.model.weightSpecs as tf.io.WeightsManifestEntry[],
          weightData: msg.model.weightData,
        }),
      );
      for (const layer of model.layers) runFrozenLayersInInferenceMode(layer);
      numClasses = msg.numClasses;
      classWeights = msg.classWeights ? tf.keep(tf.tensor1d(msg.classWeights)) : null;
      reply({ type: 'ready' });
      return;
    }
    case 'step': {
      const m = model;
      if (!m) throw new Error('step before init');
      const t0 = performance.now();
      m.layers.forEach((layer, i) => (layer.trainable = msg.layerTrainable[i] ?? layer.trainable));
      setWeights(m, msg.weights);
      const vars = msg.trainable.map((i) => m.weights[i]!.read() as tf.Variable);
      const context: ShardContext = { model: m, vars, shape: msg.shape, numClasses, classWeights, decay: null };
      const t1 = performance.now();
      const r = await shardGradients(context, { xs: msg.xs, ys: msg.ys, n: msg.n }, msg.batchWeight);
      const t2 = performance.now();
      const total = r.grads.reduce((a, g) => a + g.size, 0);
      const gradients = new Float32Array(total);
      let at = 0;
      for (const g of r.grads) {
        gradients.set(g.dataSync() as Float32Array, at);
        at += g.size;
      }
      tf.dispose(r.grads);
      const ms = { weights: t1 - t0, compute: t2 - t1, copy: performance.now() - t2 };
      reply({ type: 'gradients', gradients, loss: r.loss, hits: r.hits, mass: r.mass, ms }, [gradients.buffer]);
      return;
    }
    case 'predict': {
      const m = model;
      if (!m) throw new Error('predict before init');
      const probs = tf.tidy(() => inferenceForward(m)(tf.tensor4d(msg.xs, [msg.n, ...msg.shape])).dataSync() as Float32Array);
      reply({ type: 'probabilities', probs }, [probs.buffer as ArrayBuffer]);
      return;
    }
    case 'close':
      model?.dispose();
      classWeights?.dispose();
      port!.close();
  }
}

// Messages are handled one at a time, in order: a step never starts before init has finished.
let queue = Promise.resolve();
port.on('message', (msg: ToGradientThread) => {
  queue = queue.then(() => handle(msg)).catch((e: unknown) => reply({ type: 'error', message: e instanceof Error ? e.message : String(e) }));
});
