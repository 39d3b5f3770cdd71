/** What cross-validation will train and evaluate on, in words the split dialog and `loupe split` both show. */
import type { SplitSummary } from './contract.ts';

/** One paragraph about the current folds, or null when there are none. */
export function foldPlan(s: Pick<SplitSummary, 'folds' | 'foldCounts' | 'totals' | 'testLocked'>): string | null {
  if (!s.folds) return null;
  const inFolds = s.foldCounts.reduce((a, b) => a + b, 0);
  const test = s.totals.test
    ? `The ${s.totals.test} test images${s.testLocked ? ' (locked)' : ''} are in no fold: they stay out of cross-validation, for the final check.`
    : 'No test images are held out.';
  return (
    `Cross-validation: ${inFolds} images in ${s.folds} folds (${s.foldCounts.join(' / ')}). Training with folds makes ` +
    `${s.folds} runs; run k trains on the other folds and is evaluated only on fold k, the images it never saw. ${test}`
  );
}
