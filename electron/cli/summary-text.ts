/** The human-readable form of `loupe info`. */
import type { ProjectSummary, SplitSummary } from '../../shared/contract.ts';
import { foldPlan } from '../../shared/fold-plan.ts';

export function printSummary(s: ProjectSummary): string {
  const lines: string[] = [];
  lines.push(`${s.project.name}  (${s.project.path})`);
  lines.push(`Images: ${s.images}   labeled: ${s.labeled}   unlabeled: ${s.unlabeled}   missing: ${s.missing}   errors: ${s.errors.length}`);
  lines.push(`Splits: train ${s.splits.train}   val ${s.splits.val}   test ${s.splits.test}   unassigned ${s.splits.unassigned}`);
  if (s.classes.length) {
    lines.push('Classes:');
    const w = Math.max(...s.classes.map((c) => c.name.length));
    for (const c of s.classes) lines.push(`  ${c.name.padEnd(w)}  ${String(c.count).padStart(7)}`);
  } else {
    lines.push('Classes: none');
  }
  if (s.duplicates.length) {
    lines.push(`Exact duplicates: ${s.duplicates.length} groups`);
    for (const g of s.duplicates.slice(0, 5)) lines.push(`  ${g.join('  =  ')}`);
    if (s.duplicates.length > 5) lines.push(`  … ${s.duplicates.length - 5} more (--json lists all)`);
  }
  if (s.errors.length) {
    lines.push(`Import errors: ${s.errors.length}`);
    for (const e of s.errors.slice(0, 10)) lines.push(`  ✗ ${e.path}: ${e.reason}`);
    if (s.errors.length > 10) lines.push(`  … ${s.errors.length - 10} more (--json lists all)`);
  }
  if (s.missingFiles.length) {
    lines.push(`Missing files: ${s.missing} (deleted or moved since import)`);
    for (const p of s.missingFiles.slice(0, 10)) lines.push(`  ✗ ${p}`);
    if (s.missing > 10) lines.push(`  … ${s.missing - 10} more (--json lists up to 1000)`);
  }
  if (s.noImageData?.length) {
    lines.push(`No image data (DICOM): ${s.noImageData.length}`);
    for (const n of s.noImageData.slice(0, 5)) lines.push(`  ○ ${n.path}: ${n.sopClass}`);
  }
  if (s.notes.length) {
    lines.push(`Notes: ${s.notes.length}`);
    for (const n of s.notes.slice(0, 5)) lines.push(`  • ${n.path}: ${n.note}`);
  }
  return lines.join('\n') + '\n';
}

/** The classes × splits table with warnings, as `loupe split` and `loupe info` print it. */
export function printSplitSummary(s: SplitSummary): string {
  const lines: string[] = [];
  const w = Math.max(8, ...s.rows.map((r) => r.name.length));
  const cols = ['train', 'val', 'test', 'unassigned', 'total'] as const;
  lines.push(`${'class'.padEnd(w)}  ${cols.map((c) => c.padStart(11)).join('')}`);
  for (const r of s.rows) lines.push(`${r.name.padEnd(w)}  ${cols.map((c) => String(r[c]).padStart(11)).join('')}`);
  lines.push(`${'all'.padEnd(w)}  ${cols.map((c) => String(s.totals[c]).padStart(11)).join('')}`);
  lines.push(`Test set: ${s.testLocked ? 'locked' : 'not locked'}${s.groups ? `   groups: ${s.groups}` : ''}`);
  const plan = foldPlan(s);
  if (plan) lines.push(plan);
  for (const warn of s.warnings) {
    lines.push(`⚠ ${warn.message}`);
    for (const item of warn.items.slice(0, 3)) lines.push(`    ${item}`);
  }
  return lines.join('\n') + '\n';
}
