/**
 * The split dialog's state: the summary (classes × splits with warnings), the form (ratios, seed, group rule,
 * k folds, lock), a live preview of the group rule, and the checks that stop bad input before it is sent (the
 * core checks again and answers with a reason; either way nothing changes).
 */
import type { GroupPreview, SplitSummary } from '../../shared/contract.ts';
import { api } from './api.ts';
import { labeling } from './labeling.svelte.ts';

export type GroupKind = 'none' | 'folder' | 'regex' | 'csv';
export type GroupRule = { kind: 'folder'; level: number } | { kind: 'regex'; pattern: string } | { kind: 'csv' };

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

class SplitsState {
  summary = $state<SplitSummary | null>(null);
  form = $state<SplitForm>({ train: 70, val: 15, test: 15, seed: 42, group: 'none', level: 1, pattern: '', k: 5, lockTest: false });
  preview = $state<GroupPreview | null>(null);
  previewError = $state<string | null>(null);
  /** The last refusal (from the form's checks or from core). */
  error = $state<string | null>(null);
  busy = $state(false);
  private previewSeq = 0;

  async load(): Promise<void> {
    try {
      this.summary = await api['splits:summary']({});
      if (this.summary.testLocked && this.form.test > 0) this.form = { ...this.form, train: 80, val: 20, test: 0 };
    } catch (e) {
      this.error = (e as Error).message;
    }
  }

  /** Asks core which group each image gets under the current rule (debounced by the caller). */
  async loadPreview(): Promise<void> {
    const seq = ++this.previewSeq;
    const { rule, error } = groupRuleOf(this.form);
    if (!rule) {
      this.preview = null;
      this.previewError = error;
      return;
    }
    try {
      const p = await api['groups:preview']({ groupBy: rule });
      if (seq !== this.previewSeq) return;
      this.preview = p;
      this.previewError = p.matched === 0 ? 'The rule finds no group in any file name: every image would be its own group' : null;
    } catch (e) {
      if (seq === this.previewSeq) {
        this.preview = null;
        this.previewError = (e as Error).message;
      }
    }
  }

  async assign(): Promise<boolean> {
    const locked = this.summary?.testLocked ?? false;
    const problem = splitProblem(this.form, locked);
    if (problem) {
      this.error = problem;
      return false;
    }
    const f = this.form;
    return this.call(async () => {
      this.summary = await api['splits:assign']({
        ratios: [f.train / 100, f.val / 100, f.test / 100],
        seed: f.seed,
        ...(groupRuleOf(f).rule ? { groupBy: groupRuleOf(f).rule } : {}),
        ...(f.lockTest && !locked ? { lockTest: true } : {}),
      });
      labeling.toast(`Split ${this.summary.totals.train + this.summary.totals.val + this.summary.totals.test} images (seed ${f.seed})`);
    });
  }

  async assignFolds(): Promise<boolean> {
    const problem = foldsProblem(this.form);
    if (problem) {
      this.error = problem;
      return false;
    }
    const f = this.form;
    return this.call(async () => {
      const rule = groupRuleOf(f).rule;
      this.summary = await api['splits:folds']({ k: f.k, seed: f.seed, ...(rule ? { groupBy: rule } : {}) });
      labeling.toast(`Assigned ${f.k} folds`);
    });
  }

  async setLock(locked: boolean): Promise<boolean> {
    return this.call(async () => {
      this.summary = await api['splits:lockTest']({ locked });
      if (locked && this.form.test > 0) this.form = { ...this.form, train: 80, val: 20, test: 0 };
    });
  }

  private async call(action: () => Promise<void>): Promise<boolean> {
    this.busy = true;
    this.error = null;
    try {
      await action();
      labeling.reconcileNow();
      return true;
    } catch (e) {
      this.error = (e as Error).message;
      return false;
    } finally {
      this.busy = false;
    }
  }
}

export const splits = new SplitsState();
