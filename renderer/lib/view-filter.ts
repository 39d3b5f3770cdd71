/** The sidebar's one-of-many view (all, unlabeled, a class, a split, …) and how it maps to an ImageFilter. */
import type { DicomFilter, ImageFilter, SplitName } from '../../shared/contract.ts';

export type View =
  | { kind: 'all' }
  | { kind: 'unlabeled' }
  | { kind: 'class'; classId: number }
  | { kind: 'split'; split: SplitName | 'unassigned' }
  | { kind: 'duplicates' }
  | { kind: 'errors' }
  | { kind: 'missing' }
  | { kind: 'unsure' }
  | { kind: 'excluded' }
  /** Images of an evaluation (a confusion-matrix cell, its mistakes, model suggestions); `classes` are the run's
   * class names, in the order of the predictions' class indices. */
  | {
      kind: 'evaluation';
      evaluation: NonNullable<ImageFilter['evaluation']>;
      title: string;
      classes: string[];
      /** The model's suggestions for unlabeled images (accepted with one key). */
      suggestions?: boolean;
    };

/** The filter of a view, narrowed by the path search and the DICOM header filters. */
export function viewFilter(view: View, search: string, dicom: DicomFilter = {}): ImageFilter {
  const f: ImageFilter = {};
  switch (view.kind) {
    case 'all':
      break;
    case 'unlabeled':
      f.unlabeled = true;
      break;
    case 'class':
      f.classId = view.classId;
      break;
    case 'split':
      f.split = view.split;
      break;
    case 'duplicates':
      f.duplicates = true;
      break;
    case 'errors':
      f.errors = true;
      break;
    case 'missing':
      f.missing = true;
      break;
    case 'unsure':
      f.unsure = true;
      break;
    case 'excluded':
      f.excluded = true;
      break;
    case 'evaluation':
      f.evaluation = view.evaluation;
      break;
  }
  const s = search.trim();
  if (s) f.search = s;
  const d = Object.fromEntries(Object.entries(dicom).filter(([, v]) => v !== undefined && v !== ''));
  if (Object.keys(d).length) f.dicom = d;
  return f;
}

export function sameView(a: View, b: View): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** A stable key for tests and for remembering the view. */
export function viewKey(view: View): string {
  switch (view.kind) {
    case 'class':
      return `class-${view.classId}`;
    case 'split':
      return `split-${view.split}`;
    case 'evaluation':
      return `evaluation-${[view.evaluation.id, ...(view.evaluation.pool ?? [])].join('+')}`;
    default:
      return view.kind;
  }
}
