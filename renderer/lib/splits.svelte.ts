/**
 * The split dialog's state: the summary (classes × splits with warnings), the form (ratios, seed, group rule,
 * k folds, lock), a live preview of the group rule, and the checks that stop bad input before it is sent (the
 * core checks again and answers with a reason; either way nothing changes).
 */
import type { GroupPreview, SplitSummary } from '../../shared/contract.ts';
import { api } from './api.ts';
import { formatCount } from './format.ts';
import { labeling } from './labeling.svelte.ts';
import { foldsProblem, groupRuleOf, splitProblem, type SplitForm } from './split-form.ts';

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
      const t = this.summary.totals;
      // With a locked test set only train and validation were drawn again: say so, not the grand total.
      labeling.toast(
        locked
          ? `Split ${formatCount(t.train + t.val)} images into train and validation (seed ${f.seed}); the ${formatCount(t.test)} locked test images stayed`
          : `Split ${formatCount(t.train + t.val + t.test)} images (seed ${f.seed})`,
      );
    });
  }

  /**
   * Cross-validation in one step: the test share of the ratios is held out (a locked test set stays as it is),
   * every other image goes into k folds (and train/validation by the ratios, for ordinary runs). `keepSplit`:
   * folds over the current train and validation images, the split untouched.
   */
  async assignFolds(keepSplit = false): Promise<boolean> {
    const locked = this.summary?.testLocked ?? false;
    const f = this.form;
    // With a locked test set the test share is 0: train and validation share the rest in their proportion.
    const rest = f.train + f.val;
    const ratios = locked ? { ...f, train: (f.train * 100) / rest, val: (f.val * 100) / rest, test: 0 } : f;
    const problem = foldsProblem(f) ?? (keepSplit ? null : splitProblem(ratios, locked));
    if (problem) {
      this.error = problem;
      return false;
    }
    return this.call(async () => {
      const rule = groupRuleOf(f).rule;
      this.summary = await api['splits:folds']({
        k: f.k,
        seed: f.seed,
        ...(rule ? { groupBy: rule } : {}),
        ...(keepSplit ? {} : { ratios: [ratios.train / 100, ratios.val / 100, ratios.test / 100] as [number, number, number] }),
        ...(!keepSplit && f.lockTest && !locked ? { lockTest: true } : {}),
      });
      const t = this.summary.totals;
      labeling.toast(`${formatCount(t.total - t.test - t.unassigned)} images in ${f.k} folds; ${formatCount(t.test)} test images held out`);
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
