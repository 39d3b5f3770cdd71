/**
 * tfjs's SGD-with-momentum and Adam optimizers, updating each variable with one SIMD kernel on the wasm backend
 * (kernels/simd.ts) instead of tfjs's 4 (momentum) or 12 (Adam) kernels, each a call from JS with its own pass over
 * memory. The kernel does the same float32 operations in the same order, so the weights and slots are tfjs's own,
 * bit for bit (tests/medium/fused-optimizers.test.ts); the slots are the same variables under the same names, so
 * checkpoints and replicas do not change. Why it matters: on a gradient thread the update runs between the summed
 * gradients' arrival and the next shard, on the step's critical path.
 *
 * The first update (which makes the slots), and every update on a backend without the kernels, is tfjs's own code.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { HeapBackend } from './kernels/heap.ts';
import { simdKernels } from './kernels/simd.ts';

/** What tfjs's optimizers take: a map by variable name, or named tensors in variable order. */
type Grads = Parameters<tf.MomentumOptimizer['applyGradients']>[0];
interface Slot {
  originalName: string;
  variable: tf.Variable;
}
function gradientList(g: Grads): { name: string; tensor: tf.Tensor | undefined }[] {
  return Array.isArray(g) ? g.map((v) => ({ name: v.name, tensor: v.tensor })) : Object.keys(g).map((name) => ({ name, tensor: g[name] }));
}

/** Where a tensor's data starts in the wasm memory, in bytes. */
function offset(b: HeapBackend, t: tf.TensorInfo): number {
  return b.typedArrayFromHeap(t).byteOffset;
}

/**
 * Makes a new float32 output for each of `targets`, has `write` fill them (given their offsets, then the inputs',
 * all taken after the allocations: allocating may grow the heap), and assigns them to `targets`, inside a tidy.
 */
function update(targets: readonly tf.Variable[], inputs: readonly tf.Tensor[], write: (outs: number[], ins: number[]) => void): void {
  const b = tf.backend() as unknown as HeapBackend;
  tf.tidy(() => {
    const infos = targets.map((t) => b.makeOutput([...t.shape], 'float32'));
    write(
      infos.map((i) => offset(b, i)),
      inputs.map((t) => offset(b, t)),
    );
    infos.forEach((info, i) => targets[i]!.assign(tf.engine().makeTensorFromTensorInfo(info) as tf.Tensor));
  });
}

/** The variable a gradient updates, by its name (as tfjs's optimizers find it). */
function variable(name: string): tf.Variable {
  const v = tf.engine().registeredVariables[name];
  if (!v) throw new Error(`no variable named ${name}`);
  return v;
}

export class FusedMomentum extends tf.MomentumOptimizer {
  override applyGradients(variableGradients: Grads): void {
    const kernels = simdKernels(tf.backend());
    const self = this as unknown as { accumulations: (Slot | undefined)[]; momentum: number; useNesterov: boolean; learningRate: number; incrementIterations(): void };
    const grads = gradientList(variableGradients);
    if (!kernels || grads.some((_, i) => !self.accumulations[i])) return super.applyGradients(variableGradients);
    // tfjs keeps both as float32 scalars (m, and c = −lr); the kernel's float32 parameters round them the same way.
    const m = self.momentum;
    const c = -self.learningRate;
    const nesterov = self.useNesterov ? 1 : 0;
    grads.forEach(({ name, tensor: g }, i) => {
      if (g == null) return;
      const value = variable(name);
      const acc = self.accumulations[i]!.variable;
      update([value, acc], [value, acc, g], ([outValue, outAcc], [v, a, gr]) => kernels.momentum(v!, a!, gr!, outValue!, outAcc!, value.size, m, c, nesterov));
    });
    self.incrementIterations();
  }
}

export class FusedAdam extends tf.AdamOptimizer {
  override applyGradients(variableGradients: Grads): void {
    const kernels = simdKernels(tf.backend());
    const self = this as unknown as {
      accumulatedFirstMoment: (Slot | undefined)[];
      accumulatedSecondMoment: (Slot | undefined)[];
      accBeta1: tf.Variable;
      accBeta2: tf.Variable;
      beta1: number;
      beta2: number;
      epsilon: number;
      learningRate: number;
      incrementIterations(): void;
    };
    const grads = gradientList(variableGradients);
    if (!kernels || grads.some((_, i) => !self.accumulatedFirstMoment[i] || !self.accumulatedSecondMoment[i])) {
      return super.applyGradients(variableGradients);
    }
    // The bias corrections as tfjs computes them: sub(1, accBeta) in float32.
    const [bc1, bc2] = tf.tidy(() => [tf.sub(1, self.accBeta1).dataSync()[0]!, tf.sub(1, self.accBeta2).dataSync()[0]!]);
    const { beta1, beta2, epsilon } = self;
    const negLr = -self.learningRate;
    grads.forEach(({ name, tensor: g }, i) => {
      if (g == null) return;
      const value = variable(name);
      const m1 = self.accumulatedFirstMoment[i]!.variable;
      const m2 = self.accumulatedSecondMoment[i]!.variable;
      update([value, m1, m2], [value, m1, m2, g], ([ov, o1, o2], [v, a, s, gr]) =>
        kernels.adam(v!, a!, s!, gr!, ov!, o1!, o2!, value.size, beta1, 1 - beta1, beta2, 1 - beta2, bc1, bc2, epsilon, negLr),
      );
    });
    tf.tidy(() => {
      self.accBeta1.assign(tf.mul(self.accBeta1, beta1));
      self.accBeta2.assign(tf.mul(self.accBeta2, beta2));
    });
    self.incrementIterations();
  }
}
