/**
 * Messages between the fit loop (the training process's main thread) and its gradient threads. Data-parallel
 * training, as PyTorch's DistributedDataParallel does it: every thread holds a replica of the model and of the
 * optimizer. Each step the batch is cut into shards; every thread computes the gradient of its shard, the fit loop
 * adds them up and sends the sum back, and every thread, the fit loop included, applies that same sum with its own
 * optimizer. The same kernels on the same values give the same weights, so the replicas stay identical to the fit
 * loop's model without weights crossing threads each step (that cost a flatten, a copy and a load per step, on
 * the step's critical path). `sync` sets a replica from the fit loop's model and optimizer when a fit starts.
 *
 * A replica's batch-norm moving averages follow its own shards and are never read: the fit loop's model is the
 * one validated and saved. The same threads also share inference: each predicts a shard with the weights it holds.
 */

/** The model as tfjs saves it (topology, weight specs, weights): enough to rebuild it in a thread. */
export interface ModelArtifacts {
  modelTopology: unknown;
  weightSpecs: unknown;
  weightData: ArrayBuffer;
}

import type { OptimizerConfig, ThreadMemory } from '../../../../shared/training.ts';
import type { SlotValue } from '../optimizer.ts';

/**
 * Asks carry a number, and the answer the same one (peers.ts): the answer to an ask the fit loop gave up on (a fit
 * stopped while a thread still computed its shard) is dropped instead of answering the next ask.
 */
export type Asked<T> = T & { readonly ask?: number };

export type ToGradientThread =
  | {
      readonly type: 'init';
      /** The tfjs backend the main thread trains on (wasm or cpu); a thread loads the same. */
      readonly backend: string;
      readonly model: ModelArtifacts;
      readonly numClasses: number;
      readonly classWeights: number[] | null;
    }
  | {
      /** Makes the replica the fit loop's model and optimizer at the start of a fit (or of a phase of one). */
      readonly type: 'sync';
      /** Every weight of the model (model.weights order), flattened. */
      readonly weights: Float32Array;
      /** Indexes into model.weights of the variables to differentiate, in the order gradients travel. */
      readonly trainable: readonly number[];
      /** Each of model.layers' trainable flag (a frozen layer runs in inference mode, see transfer.ts). */
      readonly layerTrainable: readonly boolean[];
      readonly optimizer: OptimizerConfig;
      /** The slots the fit loop's optimizer was restored with (a resumed run), or null for a fresh one. */
      readonly restore: readonly SlotValue[] | null;
      /** At most this many images per pass (step.ts, ShardContext), or null. */
      readonly imagesPerPass: number | null;
    }
  | {
      /** The step's summed gradients (trainable order), for the replica's optimizer at this learning rate. */
      readonly type: 'apply';
      readonly gradients: Float32Array;
      readonly lr: number;
    }
  | {
      readonly type: 'step';
      readonly xs: Float32Array;
      readonly ys: Int32Array;
      readonly n: number;
      readonly shape: readonly [number, number, number];
      /** The whole batch's total loss weight (its size without class weights): shard losses add up to the mean. */
      readonly batchWeight: number;
    }
  | {
      /** Inference with the weights the thread holds: class probabilities for a shard. */
      readonly type: 'predict';
      readonly xs: Float32Array;
      readonly n: number;
      readonly shape: readonly [number, number, number];
    }
  /** The replica's weights (model.weights order), flattened: tests compare them with the fit loop's. */
  | { readonly type: 'read-weights' }
  /** The thread's memory (thread-memory.ts), asked after each epoch. */
  | { readonly type: 'memory' }
  | { readonly type: 'close' };

/** Where a gradient thread's step went, in milliseconds (bench/step-profile.ts reports them). */
export interface ThreadStepTimes {
  /** Applying the previous step's summed gradients to the replica (before this shard). */
  apply: number;
  /** Its shard's forward and backward pass. */
  compute: number;
  /** Reading the gradients out into the reply. */
  copy: number;
}

export type FromGradientThread =
  | { readonly type: 'ready' }
  | {
      readonly type: 'gradients';
      /** The trainable variables' gradients, concatenated in the step's `trainable` order. */
      readonly gradients: Float32Array;
      readonly loss: number;
      readonly hits: number;
      readonly mass: number;
      readonly ms: ThreadStepTimes;
    }
  | { readonly type: 'probabilities'; readonly probs: Float32Array }
  | { readonly type: 'weights'; readonly weights: Float32Array }
  | { readonly type: 'memory'; readonly memory: ThreadMemory }
  | { readonly type: 'error'; readonly message: string };
