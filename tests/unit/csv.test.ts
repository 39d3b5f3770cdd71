// CSV outputs neutralise formula injection (issue 14): a text cell a spreadsheet would run as a formula gets a
// leading apostrophe; numbers stay numbers; reading undoes the guard exactly, so labels round-trip.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { csvField, csvLine, csvText, parseCsv } from '../../shared/csv.ts';

test('text cells starting with = + - @ tab or CR are written with a leading apostrophe', () => {
  assert.equal(csvField('=1+1'), "'=1+1");
  assert.equal(csvField('+cmd'), "'+cmd");
  assert.equal(csvField('-2+3'), "'-2+3");
  assert.equal(csvField('@SUM(A1)'), "'@SUM(A1)");
  assert.equal(csvField('=HYPERLINK("http://x","y")'), `"'=HYPERLINK(""http://x"",""y"")"`);
  assert.equal(csvField('\t=1'), "'\t=1");
  assert.equal(csvField("'=1"), "''=1", 'an apostrophe already there is kept');
  assert.equal(csvField('normal'), 'normal');
  assert.equal(csvField('a=b'), 'a=b');
});

test('numbers stay numbers, whether passed as numbers or as numeric text', () => {
  assert.equal(csvField(-0.5), '-0.5');
  assert.equal(csvField('-0.123456'), '-0.123456');
  assert.equal(csvField('+1e-5'), '+1e-5');
  assert.equal(csvField(null), '');
});

test('reading undoes the guard exactly: every value comes back as written', () => {
  const values = ['=1+1', "'=1+1", "''@x", '-2+3', '-1', 'plain', "it's", "'quoted'", '\t=tab', '=a,"b"\nc'];
  const { rows, error } = parseCsv(csvLine(values) + '\n');
  assert.equal(error, null);
  assert.deepEqual(rows[0]!.fields.map(csvText), values);
});
