/**
 * The split form's plain parts: the group rule it describes and the checks that stop bad input before it is
 * sent (the core checks again). Pure, so unit-tested without Svelte.
 */
export type GroupKind = 'none' | 'folder' | 'regex' | 'csv' | 'dicom-patient' | 'dicom-study';
export type GroupRule =
  | { kind: 'folder'; level: number }
  | { kind: 'regex'; pattern: string }
  | { kind: 'csv' }
  | { kind: 'dicom'; field: 'PatientID' | 'StudyInstanceUID' };

export interface SplitForm {
  /** Percentages. */
  train: number;
  val: number;
  test: number;
  seed: number;
  group: GroupKind;
  level: number;
  pattern: string;
  k: number;
  lockTest: boolean;
}

/** The group rule of a form, or a reason it is not one. Pure (unit-tested). */
export function groupRuleOf(f: Pick<SplitForm, 'group' | 'level' | 'pattern'>): { rule: GroupRule | undefined; error: string | null } {
  switch (f.group) {
    case 'none':
      return { rule: undefined, error: null };
    case 'csv':
      return { rule: { kind: 'csv' }, error: null };
    case 'dicom-patient':
      return { rule: { kind: 'dicom', field: 'PatientID' }, error: null };
    case 'dicom-study':
      return { rule: { kind: 'dicom', field: 'StudyInstanceUID' }, error: null };
    case 'folder':
      if (!Number.isInteger(f.level) || f.level < 1 || f.level > 64) return { rule: undefined, error: 'The folder level is a whole number from 1 (the top folder) up' };
      return { rule: { kind: 'folder', level: f.level }, error: null };
    case 'regex': {
      if (!f.pattern.trim()) return { rule: undefined, error: 'Give a pattern, e.g. ^(P\\d+)_ for files named P123_…' };
      try {
        new RegExp(f.pattern);
      } catch (e) {
        return { rule: undefined, error: `The pattern does not compile: ${(e as Error).message}` };
      }
      return { rule: { kind: 'regex', pattern: f.pattern }, error: null };
    }
  }
}

/** Why a split request cannot be sent, or null. Ratios are percentages that must add up to 100. */
export function splitProblem(f: SplitForm, testLocked: boolean): string | null {
  const parts = [f.train, f.val, f.test];
  if (parts.some((p) => !Number.isFinite(p) || p < 0 || p > 100)) return 'Each ratio is a percentage from 0 to 100';
  if (Math.abs(parts[0]! + parts[1]! + parts[2]! - 100) > 0.01) return `The ratios add up to ${Math.round((parts[0]! + parts[1]! + parts[2]!) * 100) / 100}%, not 100%`;
  if (f.train <= 0) return 'The training split cannot be empty';
  if (testLocked && f.test > 0) return 'The test set is locked: give test 0% (train and validation share the rest)';
  if (!Number.isInteger(f.seed) || f.seed < 0 || f.seed > 2 ** 31 - 1) return 'The seed is a whole number from 0 to 2147483647';
  return groupRuleOf(f).error;
}

export function foldsProblem(f: SplitForm): string | null {
  if (!Number.isInteger(f.k) || f.k < 2 || f.k > 10) return 'k is a whole number from 2 to 10';
  if (!Number.isInteger(f.seed) || f.seed < 0 || f.seed > 2 ** 31 - 1) return 'The seed is a whole number from 0 to 2147483647';
  return groupRuleOf(f).error;
}
