// Loupe's Add layer (electron/core/training/kernels/residual-add.ts) on the wasm backend: the same sums and the same
// gradients as tfjs-layers' Add, bit for bit, without the Cast (a full copy of the gradient) that the stock layer's
// clone puts in every backward pass. The compact ResNet's residual sums use it, and saved models stay plain Add layers.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import * as tfl from '@tensorflow/tfjs-layers';
import { registerWasmTrainingKernels } from '../../electron/core/training/kernels/index.ts';
import { Add, add } from '../../electron/core/training/kernels/residual-add.ts';
import { buildModel } from '../../electron/core/training/models.ts';
import { trainConfigSchema } from '../../shared/training.ts';
import { seededValues } from '../helpers/seeded-values.ts';

before(async () => {
  tf.env().set('PROD', true);
  registerWasmTrainingKernels();
  assert.ok(await tf.setBackend('wasm'));
});

/** input → relu → add(relu, input·w) → sum, with `merge` as the sum: the input's gradient goes through both branches. */
function gradientOf(merge: (args: { name: string }) => tfl.layers.Layer, x: tf.Tensor4D, w: tf.Tensor4D) {
  const input = tfl.input({ shape: x.shape.slice(1) });
  const branch = tfl.layers.reLU().apply(input) as tfl.SymbolicTensor;
  const sum = merge({ name: 'sum' }).apply([branch, input]) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: sum });
  const kernels: string[] = [];
  const profiler = (tf.engine() as unknown as { profiler: { profileKernel: (n: string, i: unknown, f: () => tf.Tensor[]) => unknown } }).profiler;
  const original = profiler.profileKernel.bind(profiler);
  profiler.profileKernel = (name, inputs, f) => (kernels.push(name), original(name, inputs, f));
  try {
    tf.env().set('DEBUG', false);
    const { value, grads } = tf.tidy(() => {
      const xv = tf.variable(x);
      const r = tf.variableGrads(() => tf.sum(tf.mul(model.apply(xv, { training: true }) as tf.Tensor, w)), [xv]);
      xv.dispose();
      return { value: r.value, grads: Object.values(r.grads)[0]! };
    });
    return { value: value.dataSync().slice(), grad: grads.dataSync().slice(), kernels, model };
  } finally {
    profiler.profileKernel = original;
  }
}

test('the residual sum gives tfjs-layers Add values and gradients bit for bit, with no Cast in its backward pass', async () => {
  const shape = [2, 5, 4, 3] as [number, number, number, number];
  const x = tf.tensor4d(seededValues(2 * 5 * 4 * 3, 7), shape);
  const w = tf.tensor4d(seededValues(2 * 5 * 4 * 3, 8), shape);
  // Every kernel call goes through the profiler only while tf.profile runs.
  let stock!: ReturnType<typeof gradientOf>;
  let ours!: ReturnType<typeof gradientOf>;
  await tf.profile(() => void (stock = gradientOf((a) => tfl.layers.add(a), x, w)));
  await tf.profile(() => void (ours = gradientOf(add, x, w)));
  assert.deepEqual(ours.value, stock.value);
  assert.deepEqual(ours.grad, stock.grad);
  // Other gradients cast too (Multiply's, ReLU's composition on this backend): the clone's Cast is the one less.
  const casts = (kernels: string[]) => kernels.filter((k) => k === 'Cast').length;
  assert.equal(casts(stock.kernels) - casts(ours.kernels), 1, `stock: ${stock.kernels.join(' ')}\nours: ${ours.kernels.join(' ')}`);
  assert.equal(stock.kernels.filter((k) => k === 'Identity').length - ours.kernels.filter((k) => k === 'Identity').length, 1, 'and no clone forward');
  // Saved as a plain Add layer.
  const saved = ours.model.toJSON(null, false) as { config: { layers: { class_name: string }[] } };
  assert.deepEqual(saved.config.layers.map((l) => l.class_name), ['InputLayer', 'ReLU', 'Add']);
  tf.dispose([x, w]);
});

test("the compact ResNet's residual sums are this layer, also in a model loaded from its JSON", async () => {
  const config = trainConfigSchema.parse({ arch: 'resnet', imageSize: 32, width: 8, depth: 1, channels: 1 });
  const model = buildModel(config, 3);
  const adds = model.layers.filter((l) => l.getClassName() === 'Add');
  assert.equal(adds.length, 3, 'one per block');
  assert.ok(adds.every((l) => l instanceof Add));
  const loaded = await tfl.models.modelFromJSON({ modelTopology: model.toJSON(null, false) as tf.io.ModelJSON['modelTopology'] });
  const loadedAdds = loaded.layers.filter((l) => l.getClassName() === 'Add');
  assert.equal(loadedAdds.length, 3);
  assert.ok(loadedAdds.every((l) => l instanceof Add), 'registered under tfjs-layers\' class name');
  model.dispose();
  loaded.dispose();
});
