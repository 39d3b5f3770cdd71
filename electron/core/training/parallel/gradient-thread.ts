/**
 * A gradient thread of data-parallel training (see protocol.ts): its own tfjs instance on the main thread's
 * backend, a replica of the model and of its optimizer, and for each step the gradient of one shard, computed by
 * the same function the fit loop uses (step.ts), then the step's summed gradients applied to the replica; or the
 * probabilities of a shard for inference.
 */
import { receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { activateBackend } from '../backend.ts';
// Loupe's training layers under tfjs's names: the thread's copy of the model loads with their training passes.
import '../kernels/layers.ts';
import { shardGradients, type ShardContext } from '../step.ts';
import { inferenceForward } from '../inference-graph.ts';
import { runFrozenLayersInInferenceMode } from '../frozen-layers.ts';
import { makeOptimizer, setLearningRate, slotTensors } from '../optimizer.ts';
import { flatWeights, gradientTensors, setFlatWeights } from './weights.ts';
import { threadMemory } from '../thread-memory.ts';
import type { Asked, FromGradientThread, ToGradientThread } from './protocol.ts';

/** The channel to the fit loop (peers.ts), which this thread polls between training messages. */
const port = (workerData as { port?: MessagePort } | null)?.port;
if (!port) throw new Error('gradient-thread.ts runs as a worker thread, with a port in its workerData');

/**
 * After a training message, how long the thread polls for the next one before it sleeps: the next one comes within
 * a millisecond or two (the summed gradients, the next shard), and a sleeping thread wakes a quarter of a
 * millisecond after it on a virtual machine, sometimes several. Between epochs (validation) it sleeps.
 */
const SPIN_MS = 3;

let model: tfl.LayersModel | null = null;
let numClasses = 0;
let classWeights: tf.Tensor1D | null = null;
/** The replica's optimizer and the variables it trains, set by 'sync'. */
let replica: { optimizer: tf.Optimizer; vars: tf.Variable[]; lr: number; imagesPerPass: number | null } | null = null;
/** Milliseconds the last 'apply' took, reported with the next step. */
let applyMs = 0;

/** The number of the ask being answered (protocol.ts, Asked). */
let answering: number | undefined;

function reply(msg: FromGradientThread, transfer: ArrayBuffer[] = []): void {
  const answer: Asked<FromGradientThread> = { ...msg, ask: answering };
  port!.postMessage(answer, transfer);
}

/** The fit loop's update, on the replica: the same optimizer, the same summed gradients, the same kernels. */
function applyGradients(flat: Float32Array, lr: number): void {
  const r = replica;
  if (!r) throw new Error('apply before sync');
  if (lr !== r.lr) {
    setLearningRate(r.optimizer, lr);
    r.lr = lr;
  }
  const grads = gradientTensors(flat, r.vars);
  tf.tidy(() => r.optimizer.applyGradients(r.vars.map((v, i) => ({ name: v.name, tensor: grads[i]! }))));
  tf.dispose(grads);
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
    case 'sync': {
      const m = model;
      if (!m) throw new Error('sync before init');
      m.layers.forEach((layer, i) => (layer.trainable = msg.layerTrainable[i] ?? layer.trainable));
      setFlatWeights(m, msg.weights);
      replica?.optimizer.dispose();
      const optimizer = makeOptimizer(msg.optimizer);
      replica = { optimizer, vars: msg.trainable.map((i) => m.weights[i]!.read() as tf.Variable), lr: msg.optimizer.lr, imagesPerPass: msg.imagesPerPass };
      if (msg.restore) {
        // As the fit loop restored its own: the same slots through the same setWeights.
        const slots = slotTensors(msg.restore);
        await optimizer.setWeights(slots);
        tf.dispose(slots.map((s) => s.tensor));
      }
      return;
    }
    case 'apply': {
      const t0 = performance.now();
      applyGradients(msg.gradients, msg.lr);
      applyMs += performance.now() - t0;
      return;
    }
    case 'step': {
      const m = model;
      const r = replica;
      if (!m || !r) throw new Error('step before sync');
      const context: ShardContext = { model: m, vars: r.vars, shape: msg.shape, numClasses, classWeights, decay: null, imagesPerPass: r.imagesPerPass };
      const t1 = performance.now();
      const result = await shardGradients(context, { xs: msg.xs, ys: msg.ys, n: msg.n }, msg.batchWeight);
      const t2 = performance.now();
      const total = result.grads.reduce((a, g) => a + g.size, 0);
      const gradients = new Float32Array(total);
      let at = 0;
      for (const g of result.grads) {
        gradients.set(g.dataSync() as Float32Array, at);
        at += g.size;
      }
      tf.dispose(result.grads);
      const ms = { apply: applyMs, compute: t2 - t1, copy: performance.now() - t2 };
      applyMs = 0;
      reply({ type: 'gradients', gradients, loss: result.loss, hits: result.hits, mass: result.mass, ms }, [gradients.buffer]);
      return;
    }
    case 'read-weights': {
      if (!model) throw new Error('read-weights before init');
      const weights = flatWeights(model);
      reply({ type: 'weights', weights }, [weights.buffer as ArrayBuffer]);
      return;
    }
    case 'memory':
      reply({ type: 'memory', memory: threadMemory() });
      return;
    case 'predict': {
      const m = model;
      if (!m) throw new Error('predict before init');
      const probs = tf.tidy(() => inferenceForward(m)(tf.tensor4d(msg.xs, [msg.n, ...msg.shape])).dataSync() as Float32Array);
      reply({ type: 'probabilities', probs }, [probs.buffer as ArrayBuffer]);
      return;
    }
    case 'close':
      replica?.optimizer.dispose();
      model?.dispose();
      classWeights?.dispose();
      port!.close();
  }
}

function poll(ms: number): ToGradientThread | null {
  const until = performance.now() + ms;
  do {
    const got = receiveMessageOnPort(port!);
    if (got) return got.message as ToGradientThread;
  } while (performance.now() < until);
  return null;
}

// Messages are handled one at a time, in order (a step never starts before init has finished): those the event loop
// brings wait in the inbox, and the inbox empties before the port is polled.
const inbox: ToGradientThread[] = [];
let draining = false;
let closed = false;

async function drain(): Promise<void> {
  if (draining) return;
  draining = true;
  try {
    let spin = false;
    for (;;) {
      const msg: ToGradientThread | null = inbox.shift() ?? (spin && !closed ? poll(SPIN_MS) : null);
      if (!msg) return;
      if (msg.type === 'close') closed = true;
      answering = (msg as Asked<ToGradientThread>).ask;
      try {
        await handle(msg);
      } catch (e) {
        reply({ type: 'error', message: e instanceof Error ? e.message : String(e) });
      }
      spin = msg.type === 'step' || msg.type === 'apply' || msg.type === 'sync';
    }
  } finally {
    draining = false;
  }
}

port.on('message', (msg: ToGradientThread) => {
  inbox.push(msg);
  void drain();
});
