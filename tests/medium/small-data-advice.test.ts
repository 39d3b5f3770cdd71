// Issue 15: one-click training on a tiny project (72 images) trained a CNN to 100% train / 50% validation and
// stopped early with no advice. With a small labeled set the suggestion says what would help: more labels, a
// pretrained backbone (named once one is imported), k-fold to judge.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runImport } from '../../electron/core/import/importer.ts';
import { assignSplits } from '../../electron/core/splits/splits.ts';
import { suggestConfig } from '../../electron/core/training/run-service.ts';
import { pretrainedChoice, smallDataAdvice } from '../../electron/core/training/advice.ts';
import * as img from '../fixtures/images.ts';
import { newProject, recordingContext } from '../fixtures/import-context.ts';
import { tempDir } from '../helpers/tmp.ts';

async function tinyProject(perClass: number) {
  const dir = tempDir();
  const files: Record<string, Buffer> = {};
  for (const [c, cls] of ['normal', 'pneumonia', 'covid'].entries()) {
    for (let i = 0; i < perClass; i++) files[`${cls}/${i}.png`] = await img.png({ width: 24, height: 24, channels: 1, seed: c * 100 + i + 1 });
  }
  img.writeTree(join(dir, 'src'), files);
  const p = newProject(dir);
  await runImport(p, [join(dir, 'src')], 'folders', recordingContext());
  return p;
}

test('a 72-image project: the suggestion says what would help, most useful first', async () => {
  const p = await tinyProject(24);
  const before = suggestConfig(p).advice;
  assert.equal(before.length, 3, before.join('\n'));
  assert.match(before[0]!, /^More labels help most: 72 labeled images \(24 in the smallest class\)/);
  assert.match(before[1]!, /once a pretrained backbone is imported/);
  // No split yet: the one-click run will make a 70/15/15 one, so about 11 validation images.
  assert.match(before[2]!, /k-fold cross-validation: on 11 validation images one run's accuracy can be off by ±30 points/);

  assignSplits(p.db, { seed: 1, ratios: [0.5, 0.5, 0] });
  const backbone = join(p.path, 'backbones', 'chest-pretrained');
  mkdirSync(backbone, { recursive: true });
  writeFileSync(
    join(backbone, 'model.json'),
    // A LayersModel folder as the backbone list reads it (topology and manifest; the weights are not loaded here).
    JSON.stringify({ modelTopology: { config: { layers: [{ class_name: 'InputLayer', config: { batch_input_shape: [null, 64, 64, 1] } }] } }, weightsManifest: [] }),
  );
  const suggestion = suggestConfig(p);
  const after = suggestion.advice;
  assert.match(after[1]!, /one-click training starts from the pretrained backbone “chest-pretrained”/);
  assert.match(after[2]!, /on 36 validation images one run's accuracy can be off by ±16 points/);
  // Issue 12: with a pretrained backbone and a small data set, one click trains from it, says why, and takes
  // its input (size, channels) with augmentation off, so the head trains on cached features.
  assert.equal(suggestion.config.arch, 'backbone');
  assert.equal(suggestion.config.backbone, 'chest-pretrained');
  assert.deepEqual([suggestion.config.imageSize, suggestion.config.channels], [64, 1]);
  assert.deepEqual([suggestion.config.augment.cropScale, suggestion.config.augment.rotation, suggestion.config.augment.brightness], [0, 0, 0]);
  assert.ok(suggestion.reasons.some((r) => /^Transfer learning from the pretrained backbone “chest-pretrained”: 72 labeled images is few \(under 5,000\)/.test(r)), suggestion.reasons.join('\n'));
  assert.match(suggestion.reasons[0]!, /^Image size 64, grey: what the backbone expects/);
  assert.equal(pretrainedChoice(p, 4999)?.backbone.name, 'chest-pretrained');
  assert.equal(pretrainedChoice(p, 5000), null, 'a large data set trains from scratch');
});

test('no advice once the labeled set is large enough', async () => {
  const p = await tinyProject(2);
  assert.deepEqual(smallDataAdvice(p, [600, 450]), []);
  assert.equal(smallDataAdvice(p, [600, 30]).length, 3, 'one small class is enough to need it');
  assert.deepEqual(smallDataAdvice(p, []), [], 'nothing labeled: nothing to advise yet');
});
