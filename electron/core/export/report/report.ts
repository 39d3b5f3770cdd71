/**
 * The PDF evaluation report of a run (issue 6): made in the main process with pdfkit, vector graphics, DejaVu
 * fonts embedded, A4 or Letter. Title page, dataset and splits, training settings, curves, confusion matrix
 * (counts and row-normalized, tiled across pages past 20 classes), per-class table, ROC, calibration, the most
 * confident mistakes, and the user's notes. No patient identifiers: thumbnails can be switched off, and file
 * names appear only when asked for.
 */
import type { ExportReport } from '../../../../shared/contract.ts';
import type { Project } from '../../project/project.ts';
import { sha256 } from '../bundle-format.ts';
import type { RunFacts } from '../run-facts.ts';
import { prepareOutFile, writeFileAtomic } from '../out-dir.ts';
import { heatLegend, heatmap, lineChart, seriesColor, tiles, type Series } from './charts.ts';
import { COLORS, FONT, Layout, newDocument, type Doc } from './pdf-layout.ts';
import { gatherReportData, type ReportData, type ReportOptions } from './report-data.ts';

export interface CreateReportOptions extends ReportOptions {
  outPath: string;
  pageSize: 'A4' | 'Letter';
  notes: string;
  force: boolean;
  signal?: AbortSignal;
  progress?: (done: number, total: number, message: string) => void;
}

/** Classes per confusion-matrix tile: at 20 the counts stay at 6 pt or more on A4 portrait. */
const TILE = 20;

const f4 = (v: number | null | undefined) => (v === null || v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(4));
const pct = (v: number) => `${(v * 100).toFixed(1)}%`;

export async function createReport(project: Project, o: CreateReportOptions): Promise<ExportReport> {
  const out = prepareOutFile(o.outPath, o.force);
  o.progress?.(0, 3, 'Reading the evaluation');
  const data = await gatherReportData(project, o);
  if (o.signal?.aborted) throw new Error('Canceled');
  o.progress?.(1, 3, 'Drawing the report');
  const pdf = await renderReport(data, { pageSize: o.pageSize, notes: o.notes, thumbnails: o.thumbnails });
  o.progress?.(2, 3, 'Writing the PDF');
  writeFileAtomic(out, pdf.bytes);
  o.progress?.(3, 3, `Wrote ${out} (${pdf.pages} pages)`);
  return { path: out, files: [{ name: out, bytes: pdf.bytes.length, sha256: sha256(pdf.bytes) }], notes: [], pages: pdf.pages };
}

export async function renderReport(data: ReportData, o: { pageSize: 'A4' | 'Letter'; notes: string; thumbnails: boolean }): Promise<{ bytes: Buffer; pages: number }> {
  const { facts, evaluation } = data;
  const ext = evaluation.external;
  const what = facts ? `run ${facts.run.id}` : `external model ${ext!.fileName}`;
  const title = `Evaluation report — ${data.projectName}, ${what}`;
  const subject = facts ? `Run ${facts.run.id} (${facts.run.name}) on the ${evaluation.split} split` : `External model ${ext!.fileName} sha256 ${ext!.sha256} on the ${evaluation.split} split`;
  const doc = newDocument(o.pageSize, { title, author: data.author, subject });
  const chunks: Buffer[] = [];
  doc.on('data', (c: Buffer) => chunks.push(c));
  const ended = new Promise<void>((resolve, reject) => {
    doc.on('end', () => resolve());
    doc.on('error', reject);
  });
  const L = new Layout(doc, `${title} · ${evaluation.split} split · ${data.createdAt.slice(0, 10)}`);
  titlePage(L, data);
  // An external model brings no training to describe: its report is the evaluation alone.
  if (data.facts) {
    datasetPage(L, data, data.facts);
    curvesPage(L, data.facts);
  }
  confusionPages(L, data);
  perClassPage(L, data);
  rocAndCalibrationPage(L, data);
  mistakesPage(L, data, o.thumbnails);
  notesPage(L, data, o.notes);
  const range = doc.bufferedPageRange();
  for (let i = range.start; i < range.start + range.count; i++) {
    doc.switchToPage(i);
    // Drawing inside the bottom margin would make pdfkit open a new page: lift the margin for the footer.
    const bottom = doc.page.margins.bottom;
    doc.page.margins.bottom = 0;
    doc.font(FONT.regular).fontSize(7.5).fillColor(COLORS.muted).text(`Page ${i + 1} of ${range.count}`, L.left, doc.page.height - 32, { width: L.width, align: 'right', lineBreak: false });
    doc.page.margins.bottom = bottom;
  }
  doc.end();
  await ended;
  return { bytes: Buffer.concat(chunks), pages: range.count };
}

function titlePage(L: Layout, d: ReportData): void {
  const { facts, evaluation: ev } = d;
  const m = ev.metrics!;
  const ci = m.confidenceIntervals;
  L.newPage();
  L.y = L.top + 60;
  L.doc.font(FONT.bold).fontSize(24).fillColor(COLORS.text).text('Evaluation report', L.left, L.y, { width: L.width });
  L.y = L.doc.y + 4;
  L.doc.font(FONT.regular).fontSize(14).fillColor(COLORS.accent).text(d.projectName, L.left, L.y, { width: L.width });
  L.y = L.doc.y + 24;
  const evaluatedOn: [string, string] = ['Evaluated on', `the ${ev.split === 'test' ? 'test' : 'validation'} split: ${ev.n} images (evaluation ${ev.id}, ${ev.createdAt})`];
  const ext = ev.external;
  L.keyValues(
    facts
      ? [
          ['Run', `${facts.run.id} — ${facts.run.name} (${facts.run.status})`],
          evaluatedOn,
          ['Report date', d.createdAt],
          ['Prepared by', d.author],
          ['Model SHA-256', facts.modelSha256],
          ['Evaluated model', ev.modelSha256 === facts.modelSha256 ? 'the same weights' : `other weights (${ev.modelSha256.slice(0, 16)}…): the run changed since this evaluation`],
          ['Loupe', `${d.appVersion} (run trained with ${facts.run.appVersion}, backend ${facts.run.backend ?? '—'})`],
        ]
      : [
          ['Model', `external model ${ext!.fileName} sha256 ${ext!.sha256}`],
          ['Input', `${ext!.imageSize}×${ext!.imageSize}, ${ext!.preprocess} preprocessing, classes matched to the project's by name`],
          evaluatedOn,
          ['Report date', d.createdAt],
          ['Prepared by', d.author],
          ['Loupe', d.appVersion],
        ],
  );
  L.y += 16;
  L.heading('Headline', 2);
  L.table(
    [
      { title: 'Metric', width: 200 },
      { title: 'Value', width: 100, align: 'right' },
      { title: '95% confidence interval', width: 195, align: 'right' },
    ],
    [
      ['Accuracy', f4(m.accuracy), ci ? `${f4(ci.accuracy.lower)} – ${f4(ci.accuracy.upper)}` : '—'],
      ['Balanced accuracy', f4(m.balancedAccuracy), '—'],
      ['Macro AUC (one-vs-rest)', f4(m.auc.macro), ci?.auc ? `${f4(ci.auc.lower)} – ${f4(ci.auc.upper)}` : '—'],
      ["Cohen's kappa", f4(m.kappa), '—'],
      ['Macro F1', f4(m.macro.f1), '—'],
      ['Expected calibration error', f4(m.calibration.ece), '—'],
    ],
    { size: 9.5 },
  );
  if (ci) L.paragraph(`Confidence intervals from ${ci.resamples} bootstrap resamples of the evaluated images (${ci.method}, seed ${ci.seed}).`, { size: 8, color: COLORS.muted });
  if (ev.stale) L.paragraph(`Stale: ${ev.stale} of the evaluated images were relabeled since this evaluation; the numbers describe the labels of that time. Evaluate again for current labels.`, { color: COLORS.warn, bold: true });
}

function datasetPage(L: Layout, d: ReportData, facts: RunFacts): void {
  const run = facts.run;
  const c = run.config;
  L.newPage();
  L.heading('Dataset and splits');
  L.paragraph(`Images per class and split in the run's dataset snapshot (taken when training started). The test split is never used for training or model selection.`, { size: 8.5, color: COLORS.muted });
  const totals = facts.splitCounts.reduce((t, r) => [t[0]! + r.train, t[1]! + r.val, t[2]! + r.test], [0, 0, 0]);
  L.table(
    [
      { title: 'Class', width: 215 },
      { title: 'Train', width: 70, align: 'right' },
      { title: 'Validation', width: 70, align: 'right' },
      { title: 'Test', width: 70, align: 'right' },
      { title: 'Total', width: 70, align: 'right' },
    ],
    [
      ...facts.splitCounts.map((r) => [r.className, String(r.train), String(r.val), String(r.test), String(r.train + r.val + r.test)]),
      ['Total', ...totals.map(String), String(totals[0]! + totals[1]! + totals[2]!)],
    ],
    { boldLastRow: true, size: facts.splitCounts.length > 30 ? 7.5 : 8.5 },
  );
  L.heading('Training settings', 2);
  const opt = c.optimizer;
  const p = run.preprocessing!;
  L.keyValues([
    ['Architecture', c.arch === 'backbone' ? `backbone ${c.backbone} (unfreeze ${c.unfreezeBlocks} blocks)` : c.arch === 'resnet' ? `ResNet, width ${c.width}, depth ${c.depth}` : c.arch],
    ['Seed', String(c.seed)],
    ['Input', `${p.imageSize}×${p.imageSize}, ${p.channels === 1 ? 'grayscale' : 'RGB'}, resize ${p.resize}`],
    ['Normalization', `mean ${p.normalization.mean.map((v) => v.toFixed(4)).join(', ')}, std ${p.normalization.std.map((v) => v.toFixed(4)).join(', ')}`],
    ['Optimizer', `${opt.kind}, learning rate ${opt.lr}${opt.kind === 'sgd' ? `, momentum ${opt.momentum}` : ''}; weight decay ${c.weightDecay}; schedule ${c.schedule.kind}`],
    ['Epochs', `${run.epochsDone} of ${c.epochs}, batch ${c.batchSize}; best epoch ${run.bestEpoch === null ? '—' : run.bestEpoch + 1}`],
    ['Early stopping', c.earlyStopping ? `${c.earlyStopping.monitor}, patience ${c.earlyStopping.patience}` : 'off'],
    ['Regularization', `dropout ${c.dropout}; augmentation ${Object.entries(c.augment).filter(([, v]) => v).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`],
    ['Class imbalance', c.imbalance],
    ['Backend', run.backend ?? '—'],
  ]);
  for (const w of run.warnings) L.paragraph(`Warning: ${w}`, { size: 8.5, color: COLORS.warn });
}

function curvesPage(L: Layout, facts: RunFacts): void {
  const e = facts.epochs;
  L.heading('Training curves');
  if (e.length === 0) {
    L.paragraph('No epochs were recorded for this run.');
    return;
  }
  const x = (i: number) => e[i]!.epoch + 1;
  const seriesOf = (name: string, color: string, pick: (m: (typeof e)[number]) => number | null, dashed = false): Series => ({
    name,
    color,
    dashed,
    points: e.map((m, i) => [x(i), pick(m) ?? NaN] as [number, number]),
  });
  const h = 220;
  const xRange: [number, number] = [1, Math.max(2, x(e.length - 1))];
  L.ensure(h + 10);
  lineChart(L.doc, { x: L.left, y: L.y, w: L.width / 2 - 6, h }, [seriesOf('train', seriesColor(0), (m) => m.trainLoss), seriesOf('validation', seriesColor(1), (m) => m.valLoss, true)], {
    title: 'Loss',
    xLabel: 'epoch',
    yLabel: 'cross-entropy',
    xRange,
    integerX: true,
  });
  lineChart(L.doc, { x: L.left + L.width / 2 + 6, y: L.y, w: L.width / 2 - 6, h }, [seriesOf('train', seriesColor(0), (m) => m.trainAccuracy), seriesOf('validation', seriesColor(1), (m) => m.valAccuracy, true)], {
    title: 'Accuracy',
    xLabel: 'epoch',
    yLabel: 'accuracy',
    yRange: [0, 1],
    xRange,
    integerX: true,
  });
  L.y += h + 8;
  if (facts.run.bestEpoch !== null) L.paragraph(`The model kept is the one of epoch ${facts.run.bestEpoch + 1} (best on the validation split).`, { size: 8.5, color: COLORS.muted });
}

function confusionPages(L: Layout, d: ReportData): void {
  const ev = d.evaluation;
  const m = ev.metrics!;
  const k = ev.classes.length;
  const data = { counts: m.confusionMatrix.matrix, normalized: m.confusionMatrix.normalized, labels: ev.classes };
  const parts = tiles(k, TILE);
  L.newPage();
  L.heading('Confusion matrix');
  L.paragraph(`Rows: true class; columns: predicted class; ${ev.n} images of the ${ev.split} split. Colour: share of the row (row-normalized).${k > TILE ? ` With ${k} classes the matrix is split into ${parts.length} tiles of up to ${TILE}×${TILE} classes, after an overview.` : ''}`, { size: 8.5, color: COLORS.muted });
  heatLegend(L.doc, L.left + 10, L.y, 120);
  L.y += 16;
  if (k > TILE) {
    L.heading('Overview (colours only)', 2);
    L.y += heatmap(L.doc, { x: L.left, y: L.y, maxW: L.width }, data, { rows: [0, k], cols: [0, k] }, 'none', 10) + 8;
  }
  for (const show of ['counts', 'normalized'] as const) {
    for (const t of parts) {
      const nc = t.cols[1] - t.cols[0];
      const nr = t.rows[1] - t.rows[0];
      const cell = Math.min(30, (L.width - 102) / nc);
      L.ensure(74 + nr * cell + 30);
      const where = parts.length > 1 ? ` — true ${t.rows[0] + 1}–${t.rows[1]}, predicted ${t.cols[0] + 1}–${t.cols[1]}` : '';
      L.heading(`${show === 'counts' ? 'Counts' : 'Row-normalized'}${where}`, 2);
      L.y += heatmap(L.doc, { x: L.left, y: L.y, maxW: L.width }, data, t, show) + 10;
    }
  }
}

function perClassPage(L: Layout, d: ReportData): void {
  const m = d.evaluation.metrics!;
  const ev = d.evaluation;
  L.newPage();
  L.heading('Per-class metrics');
  const rows = m.perClass.map((c) => [ev.classes[c.classIndex]!, f4(c.precision), f4(c.recall), f4(c.specificity), f4(c.f1), f4(m.auc.perClass[c.classIndex]), String(c.support)]);
  rows.push(['Macro average', f4(m.macro.precision), f4(m.macro.recall), f4(m.macro.specificity), f4(m.macro.f1), f4(m.auc.macro), String(m.n)]);
  rows.push(['Weighted average', f4(m.weighted.precision), f4(m.weighted.recall), f4(m.weighted.specificity), f4(m.weighted.f1), '', String(m.n)]);
  L.table(
    [
      { title: 'Class', width: 145 },
      { title: 'Precision', width: 58, align: 'right' },
      { title: 'Recall', width: 58, align: 'right' },
      { title: 'Specificity', width: 62, align: 'right' },
      { title: 'F1', width: 58, align: 'right' },
      { title: 'AUC', width: 58, align: 'right' },
      { title: 'Support', width: 56, align: 'right' },
    ],
    rows,
    { size: ev.classes.length > 30 ? 7.5 : 8.5 },
  );
  L.paragraph('Recall is sensitivity. Definitions as scikit-learn (zero where a denominator is zero); AUC one-vs-rest, empty for a class without positives or negatives.', { size: 8, color: COLORS.muted });
  const top = m.topK.slice(0, Math.min(5, m.topK.length));
  L.paragraph(`Top-k accuracy: ${top.map((v, i) => `top-${i + 1} ${pct(v)}`).join(', ')}.`, { size: 8.5 });
}

function rocAndCalibrationPage(L: Layout, d: ReportData): void {
  const m = d.evaluation.metrics!;
  const ev = d.evaluation;
  L.newPage();
  L.heading('ROC curves');
  const curves: Series[] = [];
  m.roc.forEach((r, i) => {
    if (!r) return;
    curves.push({ name: `${ev.classes[i]} (AUC ${f4(m.auc.perClass[i])})`, color: seriesColor(i), points: r.fpr.map((f, j) => [f, r.tpr[j]!] as [number, number]), width: ev.classes.length > 10 ? 0.6 : 1.2 });
  });
  const legend = curves.length > 12 ? curves.slice(0, 0) : curves;
  const h = curves.length > 12 ? 300 : 300 + Math.ceil(curves.length / 3) * 9;
  L.ensure(h);
  lineChart(L.doc, { x: L.left + 40, y: L.y, w: L.width - 80, h }, curves, {
    title: `One-vs-rest ROC per class — macro AUC ${f4(m.auc.macro)}`,
    xLabel: 'false positive rate (1 − specificity)',
    yLabel: 'true positive rate (sensitivity)',
    xRange: [0, 1],
    yRange: [0, 1],
    diagonal: true,
    legend,
  });
  L.y += h + 6;
  if (curves.length > 12) L.paragraph(`${curves.length} curves; the AUC of each class is in the per-class table.`, { size: 8.5, color: COLORS.muted });

  L.heading('Calibration', 2);
  const bins = m.calibration.bins;
  const ch = 230;
  L.ensure(ch + 20);
  const used = bins.filter((b) => b.count > 0 && b.meanConfidence !== null && b.accuracy !== null);
  lineChart(
    L.doc,
    { x: L.left + 40, y: L.y, w: L.width - 80, h: ch },
    [{ name: 'model (each point: one confidence bin)', color: seriesColor(0), points: used.map((b) => [b.meanConfidence!, b.accuracy!] as [number, number]) }],
    { title: `Reliability diagram — expected calibration error ${f4(m.calibration.ece)}`, xLabel: 'mean confidence in the bin', yLabel: 'accuracy in the bin', xRange: [0, 1], yRange: [0, 1], diagonal: true },
  );
  // Points too, so one-bin or sparse diagrams stay visible.
  const plot = { x: L.left + 40 + 42, y: L.y + 18, w: L.width - 80 - 52, h: ch - 48 };
  for (const b of used) L.doc.circle(plot.x + b.meanConfidence! * plot.w, plot.y + plot.h - b.accuracy! * plot.h, 2).fill(seriesColor(0));
  L.y += ch + 4;
  L.paragraph(`Images per bin: ${bins.map((b) => `${b.lower.toFixed(1)}–${b.upper.toFixed(1)}: ${b.count}`).join(', ')}.`, { size: 7.5, color: COLORS.muted });
}

function mistakesPage(L: Layout, d: ReportData, thumbnails: boolean): void {
  L.newPage();
  L.heading('Most confident mistakes');
  if (d.mistakes.length === 0) {
    L.paragraph('The model made no mistakes on these images.');
    return;
  }
  L.paragraph(
    `${d.mistakes.length} of ${d.mistakesTotal} misclassified images, most confident first.${thumbnails ? '' : ' Thumbnails are switched off for this report.'}${d.mistakes.some((m) => m.fileName) ? '' : ' File names are left out.'}`,
    { size: 8.5, color: COLORS.muted },
  );
  if (!thumbnails) {
    const named = d.mistakes.some((m) => m.fileName);
    L.table(
      [
        ...(named ? [{ title: 'File', width: 170 }] : []),
        { title: 'True class', width: named ? 125 : 190 },
        { title: 'Predicted', width: named ? 125 : 190 },
        { title: 'Confidence', width: named ? 75 : 100, align: 'right' as const },
      ],
      d.mistakes.map((m) => [...(named ? [m.fileName ?? ''] : []), m.label, m.predicted, pct(m.confidence)]),
    );
    return;
  }
  const cols = 4;
  const cellW = L.width / cols;
  // Six rows of four: the 24 mistakes fit one A4 or Letter page.
  const img = 76;
  const cellH = img + (d.mistakes.some((m) => m.fileName) ? 36 : 28);
  d.mistakes.forEach((m, i) => {
    if (i % cols === 0) {
      if (i > 0) L.y += cellH;
      L.ensure(cellH);
    }
    const x = L.left + (i % cols) * cellW;
    const y = L.y;
    drawThumb(L.doc, m.png, x + (cellW - img) / 2, y, img, m.missing);
    L.doc.font(FONT.regular).fontSize(7.5).fillColor(COLORS.text);
    L.doc.text(`true: ${m.label}`, x + 4, y + img + 4, { width: cellW - 8, align: 'center', lineBreak: false, ellipsis: true });
    L.doc.fillColor(COLORS.warn).text(`predicted: ${m.predicted} (${pct(m.confidence)})`, x + 4, y + img + 14, { width: cellW - 8, align: 'center', lineBreak: false, ellipsis: true });
    if (m.fileName) L.doc.fillColor(COLORS.muted).fontSize(6.5).text(m.fileName, x + 4, y + img + 24, { width: cellW - 8, align: 'center', lineBreak: false, ellipsis: true });
  });
  L.y += cellH;
}

function drawThumb(doc: Doc, png: Buffer | null, x: number, y: number, size: number, missing: string | null): void {
  doc.rect(x, y, size, size).fill('#000000');
  if (png) doc.image(png, x, y, { fit: [size, size], align: 'center', valign: 'center' });
  else {
    doc.font(FONT.regular).fontSize(7).fillColor('#ffffff').text(missing ? 'image unavailable' : 'no thumbnail', x, y + size / 2 - 4, { width: size, align: 'center', lineBreak: false });
  }
}

function notesPage(L: Layout, d: ReportData, notes: string): void {
  L.newPage();
  L.heading('Notes and limitations');
  if (notes.trim()) {
    L.heading('From the user', 2);
    L.paragraph(notes.trim());
  }
  L.heading('Limitations', 2);
  for (const line of [
    `These results hold for images like the ${d.evaluation.split} images evaluated here (same sources, acquisition and population); other sources need their own evaluation.`,
    'The model always answers with one of its classes, also for images of none of them.',
    'Small classes have wide confidence intervals; differences within an interval are not evidence.',
    'Research and decision support only: not a validated diagnostic device.',
    ...d.evaluation.notes.map((n) => `Evaluation note: ${n}`),
  ]) {
    L.paragraph(`•  ${line}`, { size: 9 });
  }
}
