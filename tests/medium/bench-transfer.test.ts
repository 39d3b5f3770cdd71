// bench:transfer keeps running (issue 12): its --tiny mode (one round, 32 images fine-tuned, 64 images' features,
// one round trip) from a data folder that does not exist yet, its result in a temp folder. It needs PyTorch for
// its other side and the full-size ResNet-18 it makes with python3-torchvision: skipped, saying so, without them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runTinyBench } from '../helpers/tiny-bench.ts';
import { fullNetsUnavailable } from '../helpers/onnx-full.ts';

const unavailable = fullNetsUnavailable();

function assertRatio(r: unknown, where: string): void {
  const ratio = r as { perRound: number[]; median: number; rounds: number; enoughRounds: boolean };
  assert.equal(ratio.rounds, 1, `${where}: one round in tiny mode`);
  assert.ok(Number.isFinite(ratio.median) && ratio.median > 0, `${where}: a ratio (${ratio.median})`);
  assert.equal(ratio.enoughRounds, false, `${where}: one round is not enough for a figure, and says so`);
}

test('bench:transfer times fine-tuning, the cached head-only phase and inference against PyTorch and onnxruntime', { skip: unavailable ?? false }, () => {
  const r = runTinyBench('transfer');
  const cpus = (r['machine'] as { cpus: number }).cpus;
  const finetune = r['finetune'] as { ratio: unknown; rounds: Record<'loupe' | 'torch', { imagesPerSecond: number }[]> };
  assertRatio(finetune.ratio, 'finetune');
  for (const side of ['loupe', 'torch'] as const) assert.ok(finetune.rounds[side][0]!.imagesPerSecond > 0, `finetune ${side}`);
  const presets = r['presets'] as Record<string, { unfreezeBlocks: number; headEpochs?: number; threads: number; batchSize: number; imageSize: number }>;
  assert.deepEqual([presets['finetune']!.unfreezeBlocks, presets['finetune']!.headEpochs], [100, 0], 'every layer trains from the first step');
  assert.deepEqual([presets['finetune']!.threads, presets['finetune']!.batchSize, presets['finetune']!.imageSize], [cpus, 32, 224]);

  const head = r['head'] as { ratio: unknown; headEpochs: number; rounds: Record<'loupe' | 'torch', { wallSeconds: number; headSeconds: number }[]> };
  assertRatio(head.ratio, 'head');
  assert.equal(head.headEpochs, 10);
  // The head's epochs on cached features are a small part of the whole command.
  assert.ok(head.rounds.loupe[0]!.headSeconds < head.rounds.loupe[0]!.wallSeconds);

  const inference = r['inference'] as { ratio: unknown; onnxruntime: { intraOpNumThreads: number } };
  assertRatio(inference.ratio, 'inference');
  assert.equal(inference.onnxruntime.intraOpNumThreads, cpus);

  const trips = r['roundTrips'] as Record<string, { ok: boolean; firstConvChanged: boolean; maxAbsDiff: number }>;
  assert.deepEqual(Object.keys(trips), ['mobilenet_v3_small']);
  assert.ok(trips['mobilenet_v3_small']!.ok && trips['mobilenet_v3_small']!.firstConvChanged && trips['mobilenet_v3_small']!.maxAbsDiff <= 1e-4);
});
