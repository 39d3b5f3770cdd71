/**
 * model-card.md of a bundle (issue 6), after "Model Cards for Model Reporting" (Mitchell et al. 2019): what the
 * model is, what it was trained on (class counts per split, never file names: they can carry patient
 * identifiers), the settings, the metrics with their confidence intervals, intended use and limits, versions,
 * and the SHA-256 of every other file of the bundle.
 */
import type { EvaluationDetail } from '../../../shared/contract.ts';
import type { RunFacts } from './run-facts.ts';
import { describeDicomWindow } from '../dicom/presets.ts';

export interface CardInput {
  facts: RunFacts;
  appVersion: string;
  tfjsVersion: string;
  exportedAt: string;
  /** name → SHA-256 and size of every other file in the bundle. */
  files: Record<string, { sha256: string; bytes: number }>;
  parameters: number;
  onnx: { written: boolean; note: string | null };
  /** Intended use and limitations typed by the user, added to the standard ones. */
  notes?: string;
}

const f4 = (v: number | null | undefined) => (v === null || v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(4));
/** Markdown table cells: a pipe or newline in a class name must not break the table. */
const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');

function table(head: string[], rows: (string | number)[][]): string {
  return [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.map((c) => cell(String(c))).join(' | ')} |`)].join('\n');
}

function evaluationSection(title: string, ev: EvaluationDetail | null): string {
  if (!ev?.metrics) return `### ${title}\n\nNot evaluated yet. Run \`loupe eval --split ${title.toLowerCase().startsWith('test') ? 'test' : 'val'}\` (or Evaluate in the app) and export again.\n`;
  const m = ev.metrics;
  const ci = m.confidenceIntervals;
  const lines = [
    `### ${title}`,
    '',
    `Evaluation ${ev.id} of ${ev.createdAt}, ${ev.n} images, model SHA-256 \`${ev.modelSha256.slice(0, 16)}…\`.`,
    ev.stale ? `\n**Stale:** ${ev.stale} of these images were relabeled since; these numbers describe the labels of that time.\n` : '',
    table(
      ['Metric', 'Value', '95% CI'],
      [
        ['Accuracy', f4(m.accuracy), ci ? `${f4(ci.accuracy.lower)} – ${f4(ci.accuracy.upper)}` : '—'],
        ['Balanced accuracy', f4(m.balancedAccuracy), '—'],
        ['Macro AUC (one-vs-rest)', f4(m.auc.macro), ci?.auc ? `${f4(ci.auc.lower)} – ${f4(ci.auc.upper)}` : '—'],
        ["Cohen's kappa", f4(m.kappa), '—'],
        ['Macro F1', f4(m.macro.f1), '—'],
        ['Expected calibration error', f4(m.calibration.ece), '—'],
      ],
    ),
    '',
    ci ? `Confidence intervals: ${ci.resamples} bootstrap resamples (${ci.method}), seed ${ci.seed}.` : '',
    '',
    table(
      ['Class', 'Precision', 'Recall (sensitivity)', 'Specificity', 'F1', 'AUC', 'Support'],
      m.perClass.map((c) => [ev.classes[c.classIndex]!, f4(c.precision), f4(c.recall), f4(c.specificity), f4(c.f1), f4(m.auc.perClass[c.classIndex]), c.support]),
    ),
    '',
    ...ev.notes.map((n) => `- Note: ${n}`),
  ];
  return lines.filter((l, i, a) => !(l === '' && a[i - 1] === '')).join('\n') + '\n';
}

export function modelCard(input: CardInput): string {
  const { facts, files } = input;
  const { run } = facts;
  const c = run.config;
  const p = run.preprocessing!;
  const totals = facts.splitCounts.reduce((t, r) => ({ train: t.train + r.train, val: t.val + r.val, test: t.test + r.test }), { train: 0, val: 0, test: 0 });
  const arch = c.arch === 'backbone' ? `transfer learning on backbone "${c.backbone}"` : { lenet5: 'LeNet-5', cnn: 'custom CNN', resnet: `compact ResNet (width ${c.width}, depth ${c.depth})` }[c.arch];
  const opt = c.optimizer;
  const optText =
    opt.kind === 'sgd' ? `SGD, lr ${opt.lr}, momentum ${opt.momentum}${opt.nesterov ? ', Nesterov' : ''}` : opt.kind === 'adam' ? `Adam, lr ${opt.lr}, β1 ${opt.beta1}, β2 ${opt.beta2}` : `RMSprop, lr ${opt.lr}, decay ${opt.decay}, momentum ${opt.momentum}`;
  const best = facts.epochs.find((e) => e.epoch === run.bestEpoch);
  const out = [
    `# Model card: ${facts.projectName} — run ${run.id} (${run.name})`,
    '',
    `Exported by Loupe ${input.appVersion} on ${input.exportedAt}. Model SHA-256 (weights.bin): \`${facts.modelSha256}\`.`,
    '',
    '## Model',
    '',
    table(
      ['', ''],
      [
        ['Architecture', arch],
        ['Parameters', input.parameters.toLocaleString('en-US')],
        ['Input', `${p.imageSize}×${p.imageSize}×${p.channels} (${p.channels === 1 ? 'grayscale' : 'RGB'}), resize: ${p.resize}`],
        ['Normalization', `mean ${p.normalization.mean.map((v) => v.toFixed(4)).join(', ')}; std ${p.normalization.std.map((v) => v.toFixed(4)).join(', ')} (${c.normalization.kind === 'dataset' ? 'from the training split' : 'fixed'})`],
        ['16-bit images', 'scaled by their own min…max to 0…255 before resizing'],
        ['DICOM windowing', `grey DICOM images: ${describeDicomWindow(p.dicomWindow)}; MONOCHROME1 inverted`],
        ['Output', `softmax probabilities over ${run.classes.length} classes, in the order of labels.json`],
        ['Formats', `TF.js LayersModel (model.json, weights.bin)${input.onnx.written ? '; ONNX opset 13 (model.onnx), input NHWC float32 "image", output "probabilities"' : ''}`],
      ],
    ),
    input.onnx.note ? `\nONNX: ${input.onnx.note}\n` : '',
    '## Training data',
    '',
    `Class counts per split of the dataset snapshot taken when the run started (${totals.train} train, ${totals.val} validation, ${totals.test} test images). The test split was never used in training.`,
    '',
    table(['Class', 'Train', 'Validation', 'Test'], [...facts.splitCounts.map((r) => [r.className, r.train, r.val, r.test]), ['**Total**', totals.train, totals.val, totals.test]]),
    '',
    '## Training settings',
    '',
    table(
      ['Setting', 'Value'],
      [
        ['Seed', c.seed],
        ['Epochs', `${run.epochsDone} of ${c.epochs} (best epoch ${run.bestEpoch === null ? '—' : run.bestEpoch + 1}${best ? `: val loss ${f4(best.valLoss)}, val accuracy ${f4(best.valAccuracy)}` : ''})`],
        ['Batch size', c.batchSize],
        ['Optimizer', optText],
        ['Weight decay', c.weightDecay],
        ['Schedule', c.schedule.kind],
        ['Early stopping', c.earlyStopping ? `${c.earlyStopping.monitor}, patience ${c.earlyStopping.patience}` : 'off'],
        ['Dropout', c.dropout],
        ['Augmentation', Object.entries(c.augment).filter(([, v]) => v).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'],
        ['Class imbalance', c.imbalance],
        ['Cross-validation fold', run.fold === null ? '—' : run.fold + 1],
        ['Backend', run.backend ?? '—'],
        ['Trained with', `Loupe ${run.appVersion}, TensorFlow.js ${input.tfjsVersion}`],
        ['Run', `started ${run.startedAt ?? '—'}, ended ${run.endedAt ?? '—'}, status ${run.status}`],
      ],
    ),
    '',
    '## Metrics',
    '',
    evaluationSection('Validation split', facts.evaluations.val),
    evaluationSection('Test split', facts.evaluations.test),
    '## Intended use and limitations',
    '',
    '- Intended for research and for assisting trained staff in sorting images into the classes above; not a diagnostic device, and not validated for clinical decisions.',
    `- Valid only for images like the training images: same modality, acquisition, resolution and population. Performance on other sources (another scanner, site or patient group) is unknown until measured.`,
    `- The model always answers with one of its ${run.classes.length} classes, also for images of none of them; low confidence is a hint, not a guarantee.`,
    '- Confidence intervals come from the validation/test images above; small classes have wide intervals.',
    ...run.warnings.map((w) => `- Training warning: ${w}`),
    ...(input.notes?.trim() ? ['', '### Notes from the user', '', input.notes.trim()] : []),
    '',
    '## Files',
    '',
    'Checked by `loupe predict` before every use (manifest.json holds the same hashes, this card included).',
    '',
    table(['File', 'Bytes', 'SHA-256'], Object.entries(files).map(([name, f]) => [name, f.bytes, `\`${f.sha256}\``])),
    '',
  ];
  return out.join('\n');
}
