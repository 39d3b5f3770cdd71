// Where the file picker starts browsing (issue 12): the folder of the path already typed, on either separator.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { folderOf } from '../../renderer/lib/format.ts';

test('the folder of a typed path', () => {
  assert.equal(folderOf('/home/me/models/resnet18.onnx'), '/home/me/models');
  assert.equal(folderOf('  /home/me/models/bundle/  '), '/home/me/models');
  assert.equal(folderOf('/resnet18.onnx'), '/');
  assert.equal(folderOf('C:\\models\\resnet18.onnx'), 'C:\\models');
  assert.equal(folderOf('resnet18.onnx'), undefined, 'a bare name names no folder: the browser starts at home');
  assert.equal(folderOf(''), undefined);
  assert.equal(folderOf('/'), '/');
});
