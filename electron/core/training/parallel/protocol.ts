/**
 * Messages between the fit loop (the training process's main thread) and its gradient threads. Data-parallel
 * training: each step the batch is cut into shards; every thread computes the gradient of its shard on a copy of
 * the model whose weights the main thread sent with the shard, and the main thread adds the gradients up and
 * applies its optimizer. Threads hold no optimizer state, so nothing can drift between them. The same threads
 * also share inference: each predicts a shard with the weights it was started with.
 */

/** The model as tfjs saves it (topology, weight specs, weights): enough to rebuild it in a thread. */
export interface ModelArtifacts {
  modelTopology: unknown;
  weightSpecs: unknown;
  weightData: ArrayBuffer;
}

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
      readonly type: 'step';
      /** Indexes into model.weights of the variables to differentiate, in the order the gradients come back. */
      readonly trainable: readonly number[];
      /** Each of model.layers' trainable flag (a frozen layer runs in inference mode, see transfer.ts). */
      readonly layerTrainable: readonly boolean[];
      /** Every weight of the model (model.weights order), flattened: the state after the last update. */
      readonly weights: Float32Array;
      readonly xs: Float32Array;
      readonly ys: Int32Array;
      readonly n: number;
      readonly shape: readonly [number, number, number];
      /** The whole batch's total loss weight (its size without class weights): shard losses add up to the mean. */
      readonly batchWeight: number;
    }
  | {
      /** Inference with the weights the thread was started with: class probabilities for a shard. */
      readonly type: 'predict';
      readonly xs: Float32Array;
      readonly n: number;
      readonly shape: readonly [number, number, number];
    }
  | { readonly type: 'close' };

/** Where a gradient thread's step went, in milliseconds (bench/step-profile.ts reports them). */
export interface ThreadStepTimes {
  /** Setting the weights that came with the step. */
  weights: number;
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
  | { readonly type: 'error'; readonly message: string };
