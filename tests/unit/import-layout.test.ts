import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classColor, compareNames, labelsFromPath, splitOfFolder } from '../../electron/core/import/layout.ts';
import { scale16To8 } from '../../electron/core/import/probe.ts';

test('class folders give the class (ImageFolder convention)', () => {
  assert.deepEqual(labelsFromPath(['cat', 'a.png'], 'folders'), { className: 'cat', split: null });
  assert.deepEqual(labelsFromPath(['cat', 'sub', 'deeper', 'a.png'], 'folders'), { className: 'cat', split: null });
  assert.deepEqual(labelsFromPath(['a.png'], 'folders'), { className: null, split: null });
});

test('top-level split folders give the split, any case, with the class below', () => {
  assert.deepEqual(labelsFromPath(['train', 'cat', 'a.png'], 'folders'), { className: 'cat', split: 'train' });
  assert.deepEqual(labelsFromPath(['VAL', 'dog', 'a.png'], 'folders'), { className: 'dog', split: 'val' });
  assert.deepEqual(labelsFromPath(['Valid', 'dog', 'a.png'], 'folders'), { className: 'dog', split: 'val' });
  assert.deepEqual(labelsFromPath(['validation', 'dog', 'x', 'a.png'], 'folders'), { className: 'dog', split: 'val' });
  assert.deepEqual(labelsFromPath(['Test', 'a.png'], 'folders'), { className: null, split: 'test' });
  // Only the top level is a split: a nested "test" folder is just a folder.
  assert.deepEqual(labelsFromPath(['cat', 'test', 'a.png'], 'folders'), { className: 'cat', split: null });
  assert.equal(splitOfFolder('training'), null);
});

test("labels 'none' ignores folders", () => {
  assert.deepEqual(labelsFromPath(['train', 'cat', 'a.png'], 'none'), { className: null, split: null });
});

test('class colours are distinct for many classes', () => {
  const colours = Array.from({ length: 40 }, (_, i) => classColor(i));
  for (const c of colours) assert.match(c, /^#[0-9a-f]{6}$/);
  assert.equal(new Set(colours).size, colours.length);
});

test('names sort naturally', () => {
  assert.deepEqual(['class10', 'Class2', 'class1'].sort(compareNames), ['class1', 'Class2', 'class10']);
});

test('16-bit samples are stretched by their own range; alpha is scaled plainly', () => {
  const grey = scale16To8(Uint16Array.from([1000, 3000, 5000]), 1, false, { min: 1000, max: 5000 });
  assert.deepEqual([...grey], [0, 128, 255]);
  const ga = scale16To8(Uint16Array.from([1000, 65535, 5000, 0]), 2, true, { min: 1000, max: 5000 });
  assert.deepEqual([...ga], [0, 255, 255, 0]);
  // A flat image falls back to the plain 16→8 mapping instead of dividing by zero.
  assert.deepEqual([...scale16To8(Uint16Array.from([512, 512]), 1, false, { min: 512, max: 512 })], [2, 2]);
});
