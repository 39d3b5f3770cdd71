/**
 * The one spelling of a tag for each use (tag-key.ts): dicom-parser's element key, the dictionary's key and the
 * label of a dump, and back from a key; checked against a real parse and the dictionary so that they cannot drift.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDicom } from '../../electron/core/dicom/parse.ts';
import { entryOf } from '../../electron/core/dicom/tag-table.ts';
import { dictionaryKey, elementKey, tagLabel, tagOfKey } from '../../electron/core/dicom/tag-key.ts';
import { tagOfAttribute } from '../../electron/core/dicom/keywords.ts';
import { part10, pixelData, pixelTags } from '../helpers/dicom-writer.ts';

test('a tag spelled for the parser, the dictionary and people, and read back from a key', () => {
  const ds = parseDicom(part10([...pixelTags(), { tag: 0x0020000d, vr: 'UI', value: '1.2.3' }, pixelData(new Uint8Array(8))])).dataSet;
  assert.ok(ds.elements[elementKey(0x0020000d)], 'the parser keys elements the same way');
  assert.equal(elementKey(0x7fe00010), 'x7fe00010', 'a group above 0x7fff stays unsigned');
  assert.equal(tagOfKey(elementKey(0xfffee000)), 0xfffee000);
  assert.equal(entryOf(dictionaryKey(0x0020000d))?.keyword, 'StudyInstanceUID');
  assert.equal(tagLabel(0x0008103e), '0008,103E');
  assert.equal(tagOfAttribute('0008,103e'), 'x0008103e');
  assert.equal(tagOfAttribute('SeriesDescription'), 'x0008103e');
});
