/**
 * The ResNet-18 fine-tuning setup that bench:transfer and bench:gpu share: torchvision's resnet18 with random weights
 * (scripts/make-onnx-fixtures.py --full) imported with `loupe backbone import`, into a project of the first N
 * Fashion-MNIST training images, with the run configs saved as presets; bench/torch_transfer.py mirrors them.
 */
import { join } from 'node:path';
import { LoupeCore } from '../electron/core/api/loupe-core.ts';
import type { TrainConfigInput } from '../shared/training.ts';
import { fashionTree } from './fashion-tree.ts';
import { loupe } from './loupe-cli.ts';

export const TRANSFER_NET = 'resnet18';
export const TRANSFER_BATCH = 32;

/** The run config every preset starts from: what PyTorch's side mirrors. */
export function transferConfig(threads: number): TrainConfigInput {
  return {
    arch: 'backbone',
    backbone: TRANSFER_NET,
    imageSize: 224,
    channels: 3,
    resize: 'squash',
    batchSize: TRANSFER_BATCH,
    dropout: 0,
    optimizer: { kind: 'adam', lr: 0.001, beta1: 0.9, beta2: 0.999 },
    fineTuneLrFactor: 1,
    augment: { cropScale: 0, hflip: false, vflip: false, rotation: 0, brightness: 0, contrast: 0 },
    earlyStopping: null,
    imbalance: 'none',
    threads,
    seed: 1,
  };
}

/** Every layer trainable from the first epoch: one epoch of full fine-tuning. */
export const finetunePreset = (threads: number): TrainConfigInput => ({ ...transferConfig(threads), epochs: 1, headEpochs: 0, unfreezeBlocks: 100 });

/** A project of the first `images` Fashion-MNIST training images, the backbone imported and `presets` saved. */
export async function transferProject(work: string, name: string, images: number, onnx: string, presets: Record<string, TrainConfigInput>): Promise<string> {
  const tree = await fashionTree('fashion', images, 10);
  const dir = join(work, name);
  await loupe(['import', dir, tree.dir, '--json']);
  await loupe(['backbone', 'import', dir, onnx, '--name', TRANSFER_NET, '--preprocess', 'imagenet']);
  const core = new LoupeCore({ face: 'cli', configDir: join(work, 'config') });
  try {
    core.openProject(dir);
    for (const [preset, config] of Object.entries(presets)) await core.dispatch('presets:save', { name: preset, config: config as never });
  } finally {
    await core.shutdown();
  }
  return dir;
}
