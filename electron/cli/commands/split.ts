/** `loupe split`: stratified, seeded, group-aware train/val/test splits and k folds. */
import { parseArgs } from 'node:util';
import { LoupeError, type SplitSummary } from '../../../shared/contract.ts';
import { DICOM_GROUP_FIELDS, type GroupRule } from '../../../shared/split-math.ts';
import { withProject } from '../with-core.ts';
import { printSplitSummary } from '../summary-text.ts';

const USAGE =
  'Usage: loupe split <project> [--ratios 0.7,0.15,0.15] [--seed N] [--group-by folder:N|regex:EXPR|csv|dicom:PatientID|dicom:StudyInstanceUID] [--folds K] [--lock-test|--unlock-test] [--json]\n';

export function parseGroupBy(spec: string): GroupRule {
  if (spec === 'csv') return { kind: 'csv' };
  const colon = spec.indexOf(':');
  const kind = colon < 0 ? spec : spec.slice(0, colon);
  const arg = colon < 0 ? '' : spec.slice(colon + 1);
  if (kind === 'folder') {
    const level = Number(arg);
    if (!Number.isInteger(level) || level < 1) throw new LoupeError('VALIDATION', `--group-by folder:N needs a folder level N ≥ 1; got "${arg}"`);
    return { kind: 'folder', level };
  }
  if (kind === 'regex' && arg) return { kind: 'regex', pattern: arg };
  if (kind === 'dicom') {
    const field = DICOM_GROUP_FIELDS.find((f) => f === arg);
    if (!field) throw new LoupeError('VALIDATION', `--group-by dicom: takes ${DICOM_GROUP_FIELDS.join(' or ')}; got "${arg}"`);
    return { kind: 'dicom', field };
  }
  throw new LoupeError('VALIDATION', `--group-by takes folder:N, regex:EXPR, csv or dicom:PatientID|StudyInstanceUID; got "${spec}"`);
}

function parseRatios(s: string): [number, number, number] {
  const parts = s.split(',').map((p) => Number(p.trim()));
  if (parts.length !== 3 || parts.some((p) => Number.isNaN(p))) {
    throw new LoupeError('VALIDATION', `--ratios takes three numbers, train,val,test (e.g. 0.7,0.15,0.15); got "${s}"`);
  }
  return parts as [number, number, number];
}

export async function splitCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      ratios: { type: 'string' },
      seed: { type: 'string', default: '42' },
      'group-by': { type: 'string' },
      folds: { type: 'string' },
      'lock-test': { type: 'boolean', default: false },
      'unlock-test': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  const [projectDir] = positionals;
  if (!projectDir) {
    process.stderr.write(USAGE);
    return 2;
  }
  const seed = Number(values.seed);
  if (!Number.isInteger(seed) || seed < 0) throw new LoupeError('VALIDATION', `--seed must be a whole number ≥ 0; got "${values.seed}"`);
  const groupBy = values['group-by'] ? parseGroupBy(values['group-by']) : undefined;
  return withProject(projectDir, async (core) => {
    let summary: SplitSummary;
    if (values['unlock-test']) await core.dispatch('splits:lockTest', { locked: false });
    if (values.folds !== undefined) {
      // With ratios, one step: the test share is held out and everything else goes into the folds.
      summary = await core.dispatch('splits:folds', {
        k: Number(values.folds),
        seed,
        groupBy,
        ratios: values.ratios ? parseRatios(values.ratios) : undefined,
        lockTest: values['lock-test'] || undefined,
      });
    } else {
      summary = await core.dispatch('splits:assign', {
        ratios: values.ratios ? parseRatios(values.ratios) : undefined,
        seed,
        groupBy,
        lockTest: values['lock-test'] || undefined,
      });
    }
    process.stdout.write(values.json ? JSON.stringify(summary, null, 2) + '\n' : printSplitSummary(summary));
    return 0;
  });
}
