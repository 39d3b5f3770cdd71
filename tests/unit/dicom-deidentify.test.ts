/**
 * The Basic Profile writer on a hand-made header (issue 11): identifying values nested in a kept sequence are
 * emptied, private attributes go at every depth, a UN value holding items (a sequence it cannot see into) goes,
 * UIDs are replaced the same way wherever they appear, stale group lengths go, and the result reads back with the elements that say what
 * was done. Its faults: the same file with the profile switched off would keep every one of these values.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDicom } from '../../electron/core/dicom/parse.ts';
import { deidentify, remappedUid } from '../../electron/core/dicom/deidentify.ts';
import { dataSet, part10, pixelData, pixelTags } from '../helpers/dicom-writer.ts';

const STUDY = '1.2.826.0.1.3680043.8.498.77';
const SOP = '1.2.826.0.1.3680043.8.498.78';

function source(): Buffer {
  const item = dataSet([{ tag: 0x00100010, vr: 'PN', value: 'Unseen^Nested1' }], false);
  const itemHead = Buffer.from([0xfe, 0xff, 0x00, 0xe0, 0, 0, 0, 0]);
  itemHead.writeUInt32LE(item.length, 4);
  const unItems = Buffer.concat([itemHead, item]);
  return part10([
    ...pixelTags(),
    // A group length the new values would make stale.
    { tag: 0x00100000, vr: 'UL', value: { ul: [1234] } },
    { tag: 0x00080018, vr: 'UI', value: SOP },
    { tag: 0x0020000d, vr: 'UI', value: STUDY },
    { tag: 0x00100010, vr: 'PN', value: 'Hidden^Patient' },
    { tag: 0x00100020, vr: 'LO', value: 'MRN-123456' },
    { tag: 0x00100030, vr: 'DA', value: '19700101' },
    { tag: 0x00080090, vr: 'PN', value: 'Referrer^Doctor' },
    { tag: 0x00191001, vr: 'LO', value: 'PRIVATE-SECRET' },
    { tag: 0x00181999, vr: 'UN', value: unItems },
    {
      // A sequence the profile keeps (VOI LUT), with identifying and private attributes inside its item.
      tag: 0x00283010,
      vr: 'SQ',
      value: {
        items: [[
          { tag: 0x00283003, vr: 'LO', value: 'KEPT-EXPLANATION' },
          { tag: 0x00100010, vr: 'PN', value: 'Nested^Patient' },
          { tag: 0x00091010, vr: 'LO', value: 'NESTED-PRIVATE' },
        ]],
      },
    },
    {
      tag: 0x00081140,
      vr: 'SQ',
      value: { items: [[{ tag: 0x00081155, vr: 'UI', value: STUDY }]] },
    },
    pixelData(new Uint8Array(8)),
  ]);
}

test('identifiers go at every depth; UIDs are replaced consistently; the record of de-identification is added', () => {
  const input = source();
  assert.ok(input.toString('latin1').includes('Unseen^Nested1'));
  const out = deidentify(parseDicom(input), 'project-secret', 'patient-00112233');
  const text = out.bytes.toString('latin1');
  for (const gone of ['MRN-123456', 'Hidden^Patient', '19700101', 'Referrer^Doctor', 'PRIVATE-SECRET', 'Unseen^Nested1', 'Nested^Patient', 'NESTED-PRIVATE', STUDY, SOP]) {
    assert.ok(!text.includes(gone), gone);
  }
  const back = parseDicom(out.bytes);
  const ds = back.dataSet;
  assert.equal(ds.string('x00100010') ?? '', '');
  assert.equal(ds.string('x00100020'), 'patient-00112233');
  assert.equal(ds.string('x00120062'), 'YES');
  assert.equal(ds.elements.x00120064?.items?.[0]?.dataSet?.string('x00080100'), '113100');
  assert.equal(ds.elements.x00191001, undefined);
  assert.equal(ds.elements.x00100000, undefined);
  assert.equal(ds.elements.x00181999, undefined);
  const voi = ds.elements.x00283010!.items![0]!.dataSet!;
  assert.equal(voi.string('x00283003'), 'KEPT-EXPLANATION');
  assert.equal(voi.string('x00100010') ?? '', '');
  assert.equal(voi.elements.x00091010, undefined);
  // The same source UID gives the same new UID wherever it is, and in the meta header.
  const study = remappedUid('project-secret', STUDY);
  assert.match(study, /^2\.25\.\d{1,39}$/);
  assert.equal(ds.string('x0020000d'), study);
  assert.equal(ds.elements.x00081140!.items![0]!.dataSet!.string('x00081155'), study);
  assert.equal(ds.string('x00080018'), out.sopInstanceUid);
  assert.equal(back.meta?.string('x00020003'), out.sopInstanceUid);
  assert.notEqual(remappedUid('another-project', STUDY), study);
});
