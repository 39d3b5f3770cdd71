// A checkpoint write that fails half-way (a full disk, a vanished folder) leaves the previous checkpoint whole,
// and the run's failure says what happened and what to do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeAtomically } from '../../electron/core/training/checkpoint.ts';
import { describeError } from '../../electron/core/training/trainer.ts';
import { tempDir } from '../helpers/tmp.ts';

test('a failed checkpoint write keeps the last good checkpoint untouched', () => {
  const runDir = tempDir();
  const last = join(runDir, 'last');
  mkdirSync(last);
  writeFileSync(join(last, 'model.json'), 'good');
  // The second file cannot be written (its folder does not exist): the write fails after the first file.
  assert.throws(() => writeAtomically(last, { 'model.json': 'new', 'missing/weights.bin': Buffer.alloc(8) }), /ENOENT/);
  assert.equal(readFileSync(join(last, 'model.json'), 'utf8'), 'good');
  writeAtomically(last, { 'model.json': 'newer' });
  assert.equal(readFileSync(join(last, 'model.json'), 'utf8'), 'newer');
  assert.deepEqual(readdirSync(runDir), ['last'], 'no temporary folders are left behind');
});

test('a full disk and out-of-memory become messages that say what to do', () => {
  const full = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  assert.match(describeError(full), /disk is full.*last good checkpoint is kept/);
  assert.match(describeError(new Error('Cannot allocate memory')), /Out of memory.*smaller image size or batch size/);
  assert.equal(describeError(new Error('something else')), 'something else');
});
