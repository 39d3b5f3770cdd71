/**
 * Date shifting for the Retain Longitudinal Temporal Information with Modified Dates option (issue 11), against
 * values worked out by hand on a calendar: leap days (2024 and 2000 are leap years, 1900 is not), month and year
 * ends, a whole-year shift across a February 29th, DT values with fractions and UTC offsets (kept as written), and
 * malformed dates refused rather than passed through.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dateShiftDays, shiftDa, shiftDateValue, shiftDt, MAX_SHIFT_DAYS } from '../../electron/core/dicom/date-shift.ts';

test('DA: leap years, month ends and year ends', () => {
  assert.equal(shiftDa('20240301', -1), '20240229');
  assert.equal(shiftDa('20230301', -1), '20230228');
  assert.equal(shiftDa('20000301', -1), '20000229');
  assert.equal(shiftDa('19000301', -1), '19000228');
  assert.equal(shiftDa('20240101', -1), '20231231');
  assert.equal(shiftDa('20240331', -31), '20240229');
  assert.equal(shiftDa('20240501', -30), '20240401');
  // 365 days back: 2023-01-15 → 2024-01-15 holds no February 29th, 2023-03-15 → 2024-03-15 does (366 days).
  assert.equal(shiftDa('20240115', -365), '20230115');
  assert.equal(shiftDa('20240315', -365), '20230316');
  // Years below 100 are not read as 19xx.
  assert.equal(shiftDa('00500102', -1), '00500101');
});

test('DT: the date moves, hours, fractions and the UTC offset stay as written', () => {
  assert.equal(shiftDt('20240301083000.123456+0100', -1), '20240229083000.123456+0100');
  assert.equal(shiftDt('20240101235959-0500', -1), '20231231235959-0500');
  assert.equal(shiftDt('2024030108', -2), '2024022808');
  assert.equal(shiftDt('20240301', -1), '20240229');
  assert.equal(shiftDt('20240301+0000', -1), '20240229+0000');
});

test('malformed or coarser-than-a-day values are refused; empty stays empty; one bad value refuses the element', () => {
  for (const bad of ['20230230', '20231301', '20230100', '2023.01.05', '202301', '2023', 'ANONYMIZED', '2023-01-05']) {
    assert.equal(shiftDa(bad, -1), null, bad);
  }
  for (const bad of ['2024', '202403', '20240230120000', '20240301083000.1234567', '20240301+01', '2024030108300']) {
    assert.equal(shiftDt(bad, -1), null, bad);
  }
  assert.equal(shiftDateValue('', 'DA', -10), '');
  assert.equal(shiftDateValue('20240301\\20230301', 'DA', -1), '20240229\\20230228');
  assert.equal(shiftDateValue('20240301\\2023', 'DA', -1), null);
  assert.equal(shiftDateValue('20240301 ', 'DA', -1), '20240229');
});

test('the shift: 1…365 days back, stable for one patient, different between patients and between projects', () => {
  const shifts = new Set<number>();
  for (let p = 0; p < 200; p++) {
    const days = dateShiftDays('secret-a', `patient:P${p}`);
    assert.ok(Number.isInteger(days) && days >= -MAX_SHIFT_DAYS && days <= -1, String(days));
    assert.equal(dateShiftDays('secret-a', `patient:P${p}`), days);
    shifts.add(days);
  }
  assert.ok(shifts.size > 100, `only ${shifts.size} distinct shifts for 200 patients`);
  const other = Array.from({ length: 20 }, (_, p) => dateShiftDays('secret-b', `patient:P${p}`));
  assert.notDeepEqual(other, Array.from({ length: 20 }, (_, p) => dateShiftDays('secret-a', `patient:P${p}`)));
});
