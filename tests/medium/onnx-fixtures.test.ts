// Issue 12: torchvision's network families (width-reduced, same operator sets: ResNet-18, MobileNetV2,
// MobileNetV3-Small, EfficientNet-B0, DenseNet), exported by PyTorch 1.13 with opset 13 and committed in
// tests/fixtures/onnx by scripts/make-onnx-fixtures.py. Each converts, matches onnxruntime on random inputs, and
// reproduces torch's own recorded outputs for fixed inputs within 1e-4. No Python at run time.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { readOnnx } from '../../electron/core/onnx-import/onnx-read.ts';
import { convertGraph } from '../../electron/core/onnx-import/convert-graph.ts';
import { TOLERANCE, verifyConversion } from '../../electron/core/onnx-import/verify.ts';
import { LoupeError } from '../../shared/contract.ts';
import * as ort from 'onnxruntime-node';
import { modelFiles } from '../../electron/core/training/checkpoint.ts';
import { convertToOnnx, type LayersModelJson } from '../../electron/core/export/onnx/convert.ts';

const dir = fileURLToPath(new URL('../fixtures/onnx/', import.meta.url));
const expected = JSON.parse(readFileSync(`${dir}expected.json`, 'utf8')) as {
  size: number;
  inputs: number;
  classes: number;
  outputs: Record<string, number[][]>;
};
const inputs = new Float32Array(new Uint8Array(readFileSync(`${dir}inputs.bin`)).buffer);

before(async () => {
  await tf.setBackend('cpu');
});

test('the fixtures cover the five network families', () => {
  assert.deepEqual(Object.keys(expected.outputs).sort(), ['densenet-tiny', 'efficientnet-b0-tiny', 'mobilenetv2-tiny', 'mobilenetv3-small-tiny', 'resnet18-tiny']);
});

for (const name of Object.keys(expected.outputs)) {
  test(`${name}: converts, matches onnxruntime and torch's recorded outputs within 1e-4, and exports to ONNX again`, async () => {
    const bytes = new Uint8Array(readFileSync(`${dir}${name}.onnx`));
    const converted = convertGraph(readOnnx(bytes));
    assert.deepEqual([converted.imageSize, converted.channels, converted.classes], [expected.size, 3, expected.classes]);
    const { maxAbsDiff } = await verifyConversion(bytes, converted);
    assert.ok(maxAbsDiff <= TOLERANCE);

    const { size, inputs: n } = expected;
    const out = tf.tidy(() => converted.model.predict(tf.transpose(tf.tensor4d(inputs, [n, 3, size, size]), [0, 2, 3, 1])) as tf.Tensor);
    const ours = (await out.array()) as number[][];
    out.dispose();
    const reference = expected.outputs[name]!;
    let diff = 0;
    reference.forEach((row, i) => row.forEach((v, j) => (diff = Math.max(diff, Math.abs(v - ours[i]![j]!)))));
    assert.ok(diff <= TOLERANCE, `max abs diff to torch ${diff}`);
    // The fixture is useful only if its outputs depend on the input (a random deep net's hardly do).
    const spread = Math.max(...reference[0]!.map((v, j) => Math.abs(v - reference[1]![j]!)));
    assert.ok(spread > 0.1, `outputs for two inputs differ by only ${spread}`);

    // The backbone ends at the input of the last Gemm: a vector per image.
    assert.equal(converted.features.outputs[0]!.shape.length, 2);
    assert.equal(converted.features.layers.at(-1)!.name, converted.featureLayer);
    // Round trip: Loupe's own ONNX export of the converted network (NHWC input) gives onnxruntime the same outputs.
    const files = await modelFiles(converted.model);
    const exported = convertToOnnx(JSON.parse(files['model.json'] as string) as LayersModelJson, files['weights.bin'] as Buffer, { producerVersion: 't' });
    const [original, again] = await Promise.all([ort.InferenceSession.create(bytes), ort.InferenceSession.create(exported)]);
    const nchw = new ort.Tensor('float32', inputs.slice(), [n, 3, size, size]);
    const nhwc = new ort.Tensor('float32', tf.tidy(() => tf.transpose(tf.tensor4d(inputs, [n, 3, size, size]), [0, 2, 3, 1]).dataSync() as Float32Array), [n, size, size, 3]);
    const a = (await original.run({ [original.inputNames[0]!]: nchw }))[original.outputNames[0]!]!.data as Float32Array;
    const b = (await again.run({ [again.inputNames[0]!]: nhwc }))[again.outputNames[0]!]!.data as Float32Array;
    assert.equal(a.length, b.length);
    const roundTrip = a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
    assert.ok(roundTrip <= TOLERANCE, `re-exported ONNX differs by ${roundTrip}`);
    await Promise.all([original.release(), again.release()]);
    converted.model.dispose();
  });
}

test('a real network cut short is refused as truncated, wherever the cut falls', () => {
  const bytes = new Uint8Array(readFileSync(`${dir}mobilenetv2-tiny.onnx`));
  for (const cut of [10, 1000, bytes.length >> 1, bytes.length - 100]) {
    assert.throws(() => convertGraph(readOnnx(bytes.subarray(0, cut))), (e: unknown) => e instanceof LoupeError && /Not a usable ONNX model/.test(e.message), `cut at ${cut}`);
  }
});
