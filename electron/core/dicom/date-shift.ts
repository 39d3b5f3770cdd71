/**
 * PS3.15 E.3.6 "Retain Longitudinal Temporal Information with Modified Dates" (issue 11): instead of emptying every
 * date, de-identified files carry each date moved back by a number of days that is fixed per patient, so the
 * intervals between one patient's studies (follow-ups, treatment response) survive while the calendar dates do not.
 *
 * The shift is derived from the project's secret and the patient (HMAC-SHA256), so it is the same in every export
 * of the project and cannot be recomputed without the secret. Its range is 1…365 days back: never zero (no date
 * leaves unchanged) and at most a year, so the season and an age in years stay roughly right for research, which is
 * what the option is for. Times of day are kept as they are (a whole-day shift does not move them).
 */
import { createHmac } from 'node:crypto';

export const MAX_SHIFT_DAYS = 365;
const DAY_MS = 86_400_000;

/** The days (−365…−1) every date of this patient moves by, in this project. */
export function dateShiftDays(secret: string, patientKey: string): number {
  const digest = createHmac('sha256', secret).update(`date-shift:${patientKey}`).digest();
  return -(1 + (digest.readUInt32BE(0) % MAX_SHIFT_DAYS));
}

/** YYYYMMDD moved by `days`; null when it is not a real calendar date in that form (e.g. 20230230, 2023.01.05). */
function shiftDate(yyyymmdd: string, days: number): string | null {
  const m = /^(\d{4})(\d{2})(\d{2})$/.exec(yyyymmdd);
  if (!m) return null;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  // setUTCFullYear, not Date.UTC: the latter reads years 0…99 as 1900…1999.
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  if (d.getUTCFullYear() !== year || d.getUTCMonth() !== month - 1 || d.getUTCDate() !== day) return null;
  const shifted = new Date(d.getTime() + days * DAY_MS);
  const y = shifted.getUTCFullYear();
  if (y < 0 || y > 9999) return null;
  return `${String(y).padStart(4, '0')}${String(shifted.getUTCMonth() + 1).padStart(2, '0')}${String(shifted.getUTCDate()).padStart(2, '0')}`;
}

/** A DA value: exactly YYYYMMDD (PS3.5 Table 6.2-1). */
export function shiftDa(value: string, days: number): string | null {
  return shiftDate(value.trim(), days);
}

/**
 * A DT value, YYYYMMDD[HH[MM[SS[.F{1,6}]]]][&ZZXX]: the date moved, the time and UTC offset kept as written. A DT
 * coarser than a day (YYYY, YYYYMM) is refused: moving it by days would have to invent a day.
 */
export function shiftDt(value: string, days: number): string | null {
  const m = /^(\d{8})((?:\d{2}(?:\d{2}(?:\d{2}(?:\.\d{1,6})?)?)?)?)([+-]\d{4})?$/.exec(value.trim());
  if (!m) return null;
  const date = shiftDate(m[1]!, days);
  return date === null ? null : `${date}${m[2]}${m[3] ?? ''}`;
}

/**
 * A DA or DT element's value (multi-valued with backslashes) with every date moved, or null when any of its values
 * is malformed: a value that cannot be moved is removed, never passed through. An empty value stays empty.
 */
export function shiftDateValue(value: string, vr: 'DA' | 'DT', days: number): string | null {
  if (value.trim() === '') return '';
  const shifted = value.split('\\').map((v) => (vr === 'DA' ? shiftDa(v, days) : shiftDt(v, days)));
  return shifted.some((v) => v === null) ? null : shifted.join('\\');
}
