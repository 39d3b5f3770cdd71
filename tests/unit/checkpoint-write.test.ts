// A checkpoint write that fails half-way (a full disk, a vanished folder) leaves the previous checkpoint whole,
// and the run's failure says what happened and what to do. A write interrupted between any two of its steps still
// leaves a complete checkpoint that readers find, and the next open restores it in place (issue 14).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkpointDir, hasCheckpoint, hasCheckpointLeftovers, recoverCheckpointFolders, replaceFolder, type SwapStep } from '../../electron/core/training/checkpoint-paths.ts';
import { describeError } from '../../electron/core/training/trainer.ts';
import { tempDir } from '../helpers/tmp.ts';

test('a failed checkpoint write keeps the last good checkpoint untouched', () => {
  const runDir = tempDir();
  const last = join(runDir, 'last');
  mkdirSync(last);
  writeFileSync(join(last, 'model.json'), 'good');
  // The second file cannot be written (its folder does not exist): the write fails after the first file.
  assert.throws(() => replaceFolder(last, { 'model.json': 'new', 'missing/weights.bin': Buffer.alloc(8) }), /ENOENT/);
  assert.equal(readFileSync(join(last, 'model.json'), 'utf8'), 'good');
  replaceFolder(last, { 'model.json': 'newer' });
  assert.equal(readFileSync(join(last, 'model.json'), 'utf8'), 'newer');
  assert.deepEqual(readdirSync(runDir), ['last'], 'no temporary folders are left behind');
});

class Interrupted extends Error {}

const steps: SwapStep[] = ['written', 'ready', 'moved-old', 'swapped'];

for (const [i, step] of steps.entries()) {
  test(`a checkpoint write cut off after "${step}" leaves a readable checkpoint, restored at the next open`, () => {
    const runDir = tempDir();
    replaceFolder(join(runDir, 'best'), { 'model.json': 'epoch 1', 'weights.bin': 'w1' });
    assert.throws(
      () =>
        replaceFolder(join(runDir, 'best'), { 'model.json': 'epoch 2', 'weights.bin': 'w2' }, (s) => {
          if (s === step) throw new Interrupted(s);
        }),
      Interrupted,
    );
    // What a reader in another process sees right now, before any recovery.
    const seen = checkpointDir(runDir, 'best');
    const model = readFileSync(join(seen, 'model.json'), 'utf8');
    assert.ok(model === 'epoch 1' || model === 'epoch 2', `a whole checkpoint is readable at ${seen}`);
    assert.equal(readFileSync(join(seen, 'weights.bin'), 'utf8'), model === 'epoch 1' ? 'w1' : 'w2', 'its files belong together');

    assert.ok(hasCheckpointLeftovers(runDir));
    recoverCheckpointFolders(runDir);
    assert.deepEqual(readdirSync(runDir), ['best'], 'only best/ is left');
    // From "ready" on, the new checkpoint was complete on disk: it wins. Before, the old one stays.
    const expected = i >= 1 ? 'epoch 2' : 'epoch 1';
    assert.equal(readFileSync(join(runDir, 'best', 'model.json'), 'utf8'), expected);
    assert.equal(readFileSync(join(runDir, 'best', 'weights.bin'), 'utf8'), expected === 'epoch 1' ? 'w1' : 'w2');
    assert.equal(hasCheckpointLeftovers(runDir), false);
  });
}

test('the first checkpoint cut off before it was complete leaves nothing to read, and nothing behind', () => {
  const runDir = tempDir();
  assert.throws(() => replaceFolder(join(runDir, 'last'), { 'model.json': 'x' }, (s) => {
    if (s === 'written') throw new Interrupted(s);
  }), Interrupted);
  assert.equal(hasCheckpoint(runDir, 'last'), false, 'a partial folder is never read');
  recoverCheckpointFolders(runDir);
  assert.deepEqual(readdirSync(runDir), []);
});

test('a full disk and out-of-memory become messages that say what to do', () => {
  const full = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  assert.match(describeError(full), /disk is full.*last good checkpoint is kept/);
  assert.match(describeError(new Error('Cannot allocate memory')), /Out of memory.*smaller image size or batch size/);
  assert.equal(describeError(new Error('something else')), 'something else');
});
