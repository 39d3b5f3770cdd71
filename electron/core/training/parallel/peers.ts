/**
 * The fit loop's side of data-parallel training (protocol.ts): starts the gradient threads, sets their replicas
 * when a fit starts, hands each a shard every step, collects their gradients and sends back the sum they apply. A
 * thread that fails or exits fails the step (and so the run, which stays resumable from its last checkpoint).
 */
import { pathToFileURL } from 'node:url';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { ShardInput } from '../step.ts';
import type { OptimizerConfig, ThreadMemory } from '../../../../shared/training.ts';
import type { SlotValue } from '../optimizer.ts';
import type { Asked, FromGradientThread, ModelArtifacts, ToGradientThread } from './protocol.ts';
import { launchFrom, prebuiltEntry } from '../../prebuilt.mjs';

/** The gradient thread's bundle (scripts/build-electron.js), in dist/electron/. */
export const GRADIENT_THREAD_BUNDLE = 'gradient-thread.cjs';
const PREBUILT_THREAD = `electron/${GRADIENT_THREAD_BUNDLE}`;

type Gradients = Extract<FromGradientThread, { type: 'gradients' }>;
type Probabilities = Extract<FromGradientThread, { type: 'probabilities' }>;
type Weights = Extract<FromGradientThread, { type: 'weights' }>;
type Memory = Extract<FromGradientThread, { type: 'memory' }>;

/**
 * What a thread runs: 'auto' is, in the Electron build, the bundle beside the main bundle; under tsx (CLI, host,
 * tests), the prebuilt bundle while it matches the sources (prebuilt.mjs: 4× faster to start), else the TypeScript
 * through its shim ('source'). Tests name a bundle of their own to compare it with the sources.
 */
export type ThreadCode = 'auto' | 'source' | { bundle: string };

function threadEntry(code: ThreadCode): { url: URL; execArgv: string[]; prebuilt: boolean } {
  const source = new URL('./gradient-thread-node.js', import.meta.url);
  if (code === 'source') return launchFrom(null, source);
  if (typeof code === 'object') return launchFrom(pathToFileURL(code.bundle), source);
  // The Electron build: its own bundle, beside the main bundle, with Electron's options.
  if (!import.meta.url.endsWith('.ts')) return { url: new URL(`./${GRADIENT_THREAD_BUNDLE}`, import.meta.url), execArgv: [...process.execArgv], prebuilt: true };
  return launchFrom(prebuiltEntry(PREBUILT_THREAD), source);
}

/** Whether threads start from a bundle (~0.15 s) rather than through tsx (~0.6 s): callers weigh what they cost. */
export function threadsStartFast(): boolean {
  return threadEntry('auto').prebuilt;
}

/** Topology, weight specs and weights of a model, as tfjs saves them, in memory. */
async function artifactsOf(model: tfl.LayersModel): Promise<ModelArtifacts> {
  let saved: tf.io.ModelArtifacts | null = null;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      saved = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  const a = saved as tf.io.ModelArtifacts | null;
  if (!a?.weightData || !a.weightSpecs) throw new Error('the model could not be serialized for the gradient threads');
  const data = Array.isArray(a.weightData) ? tf.io.concatenateArrayBuffers(a.weightData) : a.weightData;
  return { modelTopology: a.modelTopology, weightSpecs: a.weightSpecs, weightData: data };
}

class Peer {
  private pending: { ask: number; resolve: (g: Gradients) => void; reject: (e: Error) => void } | null = null;
  private failure: Error | null = null;
  private asks = 0;

  /** `port`: the channel to the thread (its other end in the thread's workerData), polled by spin(). */
  constructor(
    private readonly worker: Worker,
    private readonly port: MessagePort,
  ) {
    port.on('message', (msg: Asked<FromGradientThread>) => this.receive(msg));
    worker.on('error', (e) => this.fail(new Error(`a gradient thread failed: ${e.message}`), this.pending));
    worker.on('exit', (code) => this.fail(new Error(`a gradient thread exited (code ${code})`), this.pending));
  }

  private receive(msg: Asked<FromGradientThread>): void {
    const p = this.pending;
    // Any failure fails the thread: a message that was told, not asked (sync, apply), may have left its replica
    // half updated.
    if (msg.type === 'error') this.fail(new Error(`a gradient thread failed: ${msg.message}`), p);
    else if (p && msg.ask === p.ask) {
      this.pending = null;
      p.resolve(msg as Gradients);
    }
    // Else the answer to an ask given up on (protocol.ts, Asked): dropped.
  }

  private fail(e: Error, p: Peer['pending']): void {
    this.failure ??= e;
    this.pending = null;
    p?.reject(this.failure);
  }

  get waiting(): boolean {
    return this.pending !== null;
  }

  /** Takes the thread's answer if it is there, without waiting for the event loop to bring it. */
  poll(): void {
    const got = receiveMessageOnPort(this.port);
    if (got) this.receive(got.message as Asked<FromGradientThread>);
  }

  /** Sends one message and waits for its one answer. */
  ask<T extends FromGradientThread>(msg: ToGradientThread, transfer: ArrayBuffer[] = []): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<T>((resolve, reject) => {
      const ask = ++this.asks;
      this.pending = { ask, resolve: resolve as (g: Gradients) => void, reject };
      const asked: Asked<ToGradientThread> = { ...msg, ask };
      this.port.postMessage(asked, transfer);
    });
  }

  /**
   * Sends a message that has no answer. Messages are handled in order, so a failure reaches the next ask; until
   * then nothing waits on it.
   */
  tell(msg: ToGradientThread, transfer: ArrayBuffer[] = []): void {
    if (!this.failure) this.port.postMessage(msg, transfer);
  }

  async close(): Promise<void> {
    // A step in flight fails now: the fit loop posts the next batch's shards before a batch ends, and whether their
    // answer or the thread's exit came first decided whether one more step ran on a closed thread.
    this.fail(new Error('a gradient thread was closed'), this.pending);
    await this.worker.terminate();
    this.port.close();
  }
}

export interface PeerStep {
  /** The shards for the threads (the fit loop computes its own first shard itself). */
  shards: ShardInput[];
  shape: readonly [number, number, number];
  batchWeight: number;
}

/** What makes a replica the fit loop's model and optimizer (protocol.ts, 'sync'). */
export interface ReplicaState {
  weights: Float32Array;
  trainable: readonly number[];
  layerTrainable: readonly boolean[];
  optimizer: OptimizerConfig;
  restore: readonly SlotValue[] | null;
  imagesPerPass: number | null;
}

export class ModelThreads {
  private constructor(private readonly peers: Peer[]) {}

  /** Starts `count` threads with a copy of `model`; resolves once every one has loaded it. */
  static async start(count: number, backend: string, model: tfl.LayersModel, numClasses: number, classWeights: number[] | null, code: ThreadCode = 'auto'): Promise<ModelThreads> {
    const artifacts = await artifactsOf(model);
    const entry = threadEntry(code);
    const peers = Array.from({ length: count }, () => {
      const { port1, port2 } = new MessageChannel();
      return new Peer(new Worker(entry.url, { execArgv: entry.execArgv, workerData: { port: port2 }, transferList: [port2] }), port1);
    });
    const group = new ModelThreads(peers);
    try {
      await Promise.all(peers.map((p) => p.ask({ type: 'init', backend, model: artifacts, numClasses, classWeights })));
    } catch (e) {
      await group.close();
      throw e;
    }
    return group;
  }

  get size(): number {
    return this.peers.length;
  }

  /** Makes every replica the fit loop's model and optimizer (a fit starting); the next step waits for it. */
  sync(state: ReplicaState): void {
    for (const p of this.peers) p.tell({ type: 'sync', ...state });
  }

  /** The step's summed gradients, for every replica's optimizer (each gets a copy). */
  apply(gradients: Float32Array, lr: number): void {
    for (const p of this.peers) p.tell({ type: 'apply', gradients, lr });
  }

  /** The gradients of the shards, one thread each, in shard order. */
  step(s: PeerStep): Promise<Gradients[]> {
    return Promise.all(
      s.shards.map((shard, i) => {
        // Copies: the batch's buffers stay with the fit loop, the thread's go with the message.
        const xs = shard.xs.slice();
        const ys = shard.ys.slice();
        return this.peers[i]!.ask<Gradients>({ type: 'step', xs, ys, n: shard.n, shape: s.shape, batchWeight: s.batchWeight }, [xs.buffer, ys.buffer]);
      }),
    );
  }

  /**
   * Polls for the threads' answers for up to `ms` instead of sleeping until the event loop brings them: a sleeping
   * thread wakes a quarter of a millisecond after the message on a virtual machine, sometimes several, twice a
   * step. The fit loop spins only where it would otherwise sit idle, waiting on the threads.
   */
  spin(ms: number): void {
    const until = performance.now() + ms;
    while (this.peers.some((p) => p.waiting) && performance.now() < until) for (const p of this.peers) if (p.waiting) p.poll();
  }

  /** Each replica's weights, flattened in model.weights order (tests compare them with the fit loop's model). */
  async replicaWeights(): Promise<Float32Array[]> {
    const replies = await Promise.all(this.peers.map((p) => p.ask<Weights>({ type: 'read-weights' })));
    return replies.map((r) => r.weights);
  }

  /** Each thread's memory, in thread order (asked between steps: a thread answers after the updates told before). */
  async memory(): Promise<ThreadMemory[]> {
    const replies = await Promise.all(this.peers.map((p) => p.ask<Memory>({ type: 'memory' })));
    return replies.map((r) => r.memory);
  }

  /** Class probabilities of the shards, one thread each, in shard order (the weights each thread holds). */
  async predict(shards: readonly { xs: Float32Array; n: number }[], shape: readonly [number, number, number]): Promise<Float32Array[]> {
    const replies = await Promise.all(
      shards.map((shard, i) => {
        const xs = shard.xs.slice();
        return this.peers[i]!.ask<Probabilities>({ type: 'predict', xs, n: shard.n, shape }, [xs.buffer]);
      }),
    );
    return replies.map((r) => r.probs);
  }

  async close(): Promise<void> {
    await Promise.all(this.peers.map((p) => p.close()));
  }
}
