/**
 * Tensors to and from GPU host frames, on both sides (the page bundles this too: tfjs only, no Node). Everything that
 * arrives is checked against its description before a tensor is made: the other side may be broken.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { floats, ints, type TensorListWire } from '../../../../shared/gpu-host-protocol.ts';

export type NamedTensor = { name: string; tensor: tf.Tensor };

/** Named tensors (optimizer slots) as a description and one part each. */
export async function tensorList(named: NamedTensor[]): Promise<{ list: TensorListWire; parts: ArrayBufferView[] }> {
  const parts = await Promise.all(named.map((w) => w.tensor.data() as Promise<Float32Array | Int32Array>));
  return {
    list: { names: named.map((w) => w.name), shapes: named.map((w) => w.tensor.shape), dtypes: named.map((w) => w.tensor.dtype as 'float32' | 'int32') },
    parts,
  };
}

/** The named tensors a description and its parts make; throws when they do not match. */
export function tensorsOf(list: TensorListWire, parts: Uint8Array[]): NamedTensor[] {
  if (!Array.isArray(list.names) || list.names.length !== parts.length) throw new Error('GPU host: tensors that do not match their description');
  return list.names.map((name, i) => {
    const shape = list.shapes[i];
    const size = Array.isArray(shape) && shape.every((d) => Number.isInteger(d) && d >= 0) ? shape.reduce((a, b) => a * b, 1) : NaN;
    if (parts[i]!.byteLength !== size * 4) throw new Error(`GPU host: ${name} has ${parts[i]!.byteLength} bytes for shape [${shape}]`);
    // A copy: the frame's buffer goes when the message is handled.
    const part = parts[i]!.slice();
    const dtype = list.dtypes[i] === 'int32' ? 'int32' : 'float32';
    return { name, tensor: tf.tensor(dtype === 'int32' ? ints(part) : floats(part), shape, dtype) };
  });
}

/** Every weight of the model in model.weights order, as one byte array. */
export async function weightBytes(model: tfl.LayersModel): Promise<Uint8Array> {
  const values = await Promise.all(model.weights.map((w) => w.read().data() as Promise<Float32Array>));
  const out = new Float32Array(values.reduce((a, v) => a + v.length, 0));
  let at = 0;
  for (const v of values) {
    out.set(v, at);
    at += v.length;
  }
  return new Uint8Array(out.buffer);
}

/** Sets the model's weights (model.weights order) from such bytes; refuses bytes of another size. */
export function setWeightBytes(model: tfl.LayersModel, bytes: Uint8Array): void {
  const sizes = model.weights.map((w) => w.shape.reduce((a: number, b) => a * (b ?? 1), 1));
  const total = sizes.reduce((a, b) => a + b, 0);
  if (bytes.byteLength !== total * 4) throw new Error(`GPU host: ${bytes.byteLength} bytes of weights for a model of ${total * 4}`);
  const values = floats(bytes);
  let at = 0;
  const tensors = model.weights.map((w, i) => {
    const t = tf.tensor(values.slice(at, at + sizes[i]!), w.shape as number[]);
    at += sizes[i]!;
    return t;
  });
  model.setWeights(tensors);
  tf.dispose(tensors);
}
