// A training process stand-in for tests/medium/gpu-host.test.ts: starts a GPU host, prints its process group, and
// keeps it busy with a compact ResNet at 64 px (minutes of SwiftShader work) until it is killed.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { buildModel } from '../../electron/core/training/models.ts';
import { trainConfigSchema } from '../../shared/training.ts';
import { launchChromiumGpuHost } from '../../electron/core/training/gpu-host/chromium.ts';
import { remoteFit } from '../../electron/core/training/gpu-host/remote-fit.ts';
import { randomSource, sgdOptions } from './tiny-fit.ts';

await tf.setBackend('cpu');
const link = await launchChromiumGpuHost({ executable: process.argv[2]!, software: true });
const model = buildModel(trainConfigSchema.parse({ arch: 'resnet', imageSize: 64, channels: 1, width: 16, depth: 2, seed: 1 }), 3);
let said = false;
await remoteFit(link, 'webgl', model, randomSource(512, 64), null, {
  ...sgdOptions({ epochs: 5, batchSize: 64 }),
  // Told once the page trains: the GPU process is busy from here on.
  onStarted: () => {
    if (!said) process.stdout.write(`${link.pid}\n`);
    said = true;
  },
});
