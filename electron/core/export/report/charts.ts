/**
 * Vector charts for the report, drawn with pdfkit paths (no raster images): line charts with axes and legends
 * (training curves, ROC), the reliability diagram, and confusion-matrix heat maps that tile across pages.
 */
import { COLORS, FONT, PALETTE, type Doc } from './pdf-layout.ts';

export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface Series {
  name: string;
  color: string;
  points: [number, number][];
  dashed?: boolean;
  width?: number;
}

/** Round tick steps (1, 2, 5 × 10^n) covering [min, max] with about `count` ticks. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!(max > min)) return [min];
  const raw = (max - min) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let v = Math.ceil(min / step - 1e-9) * step; v <= max + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

function label(v: number): string {
  return Math.abs(v) >= 1000 ? v.toFixed(0) : Number(v.toPrecision(3)).toString();
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  xRange?: [number, number];
  yRange?: [number, number];
  /** Draw y = x (ROC chance line, perfect calibration). */
  diagonal?: boolean;
  /** Legend entries shown (all when omitted). */
  legend?: Series[];
  /** x is a count (epochs): whole-number ticks only. */
  integerX?: boolean;
}

export function lineChart(doc: Doc, box: Box, series: Series[], o: LineChartOptions): void {
  const plot = { x: box.x + 42, y: box.y + 18, w: box.w - 52, h: box.h - 48 };
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1])).filter(Number.isFinite);
  let [x0, x1] = o.xRange ?? [Math.min(...xs, 0), Math.max(...xs, 1)];
  let [y0, y1] = o.yRange ?? [Math.min(...ys, 0), Math.max(...ys, 1e-9)];
  if (!(x1 > x0)) x1 = x0 + 1;
  if (!(y1 > y0)) y1 = y0 + 1;
  const xt = o.integerX ? niceTicks(x0, x1, Math.min(5, Math.round(x1 - x0))).filter((t) => Number.isInteger(t)) : niceTicks(x0, x1);
  const yt = niceTicks(y0, y1);
  if (!o.xRange) [x0, x1] = [Math.min(x0, xt[0]!), Math.max(x1, xt[xt.length - 1]!)];
  if (!o.yRange) [y0, y1] = [Math.min(y0, yt[0]!), Math.max(y1, yt[yt.length - 1]!)];
  const px = (v: number) => plot.x + ((v - x0) / (x1 - x0)) * plot.w;
  const py = (v: number) => plot.y + plot.h - ((v - y0) / (y1 - y0)) * plot.h;

  doc.font(FONT.bold).fontSize(9).fillColor(COLORS.text).text(o.title, box.x, box.y, { width: box.w, lineBreak: false });
  doc.lineWidth(0.4).strokeColor(COLORS.grid);
  doc.font(FONT.regular).fontSize(7).fillColor(COLORS.muted);
  for (const t of yt) {
    if (t < y0 - 1e-9 || t > y1 + 1e-9) continue;
    doc.moveTo(plot.x, py(t)).lineTo(plot.x + plot.w, py(t)).stroke();
    doc.text(label(t), plot.x - 40, py(t) - 3.5, { width: 36, align: 'right', lineBreak: false });
  }
  for (const t of xt) {
    if (t < x0 - 1e-9 || t > x1 + 1e-9) continue;
    doc.moveTo(px(t), plot.y).lineTo(px(t), plot.y + plot.h).stroke();
    doc.text(label(t), px(t) - 20, plot.y + plot.h + 3, { width: 40, align: 'center', lineBreak: false });
  }
  doc.rect(plot.x, plot.y, plot.w, plot.h).lineWidth(0.6).strokeColor(COLORS.rule).stroke();
  doc.text(o.xLabel, plot.x, plot.y + plot.h + 13, { width: plot.w, align: 'center', lineBreak: false });
  doc.save();
  doc.rotate(-90, { origin: [box.x + 4, plot.y + plot.h / 2] });
  doc.text(o.yLabel, box.x + 4 - plot.h / 2, plot.y + plot.h / 2 - 4, { width: plot.h, align: 'center', lineBreak: false });
  doc.restore();

  doc.save();
  doc.rect(plot.x, plot.y, plot.w, plot.h).clip();
  if (o.diagonal) {
    doc.moveTo(px(x0), py(y0)).lineTo(px(x1), py(y1)).lineWidth(0.6).dash(3, { space: 3 }).strokeColor(COLORS.muted).stroke();
    doc.undash();
  }
  for (const s of series) {
    const pts = s.points.filter((p) => Number.isFinite(p[0]) && Number.isFinite(p[1]));
    if (pts.length === 0) continue;
    if (pts.length === 1) {
      doc.circle(px(pts[0]![0]), py(pts[0]![1]), 1.8).fill(s.color);
      continue;
    }
    doc.moveTo(px(pts[0]![0]), py(pts[0]![1]));
    for (const p of pts.slice(1)) doc.lineTo(px(p[0]), py(p[1]));
    doc.lineWidth(s.width ?? 1.2).strokeColor(s.color);
    if (s.dashed) doc.dash(4, { space: 2 });
    doc.stroke();
    doc.undash();
  }
  doc.restore();

  const legend = o.legend ?? series;
  let lx = plot.x;
  let ly = box.y + box.h - 8;
  doc.font(FONT.regular).fontSize(7);
  for (const s of legend) {
    const w = doc.widthOfString(s.name) + 22;
    if (lx + w > plot.x + plot.w) {
      lx = plot.x;
      ly += 9;
    }
    doc.moveTo(lx, ly + 3.5).lineTo(lx + 12, ly + 3.5).lineWidth(1.5).strokeColor(s.color);
    if (s.dashed) doc.dash(3, { space: 1.5 });
    doc.stroke();
    doc.undash();
    doc.fillColor(COLORS.text).text(s.name, lx + 15, ly, { lineBreak: false });
    lx += w;
  }
}

export function seriesColor(i: number): string {
  return PALETTE[i % PALETTE.length]!;
}

/** Blue ramp from white (0) to dark blue (1). */
export function heatColor(v: number): string {
  const t = Math.max(0, Math.min(1, v));
  const from = [247, 251, 255];
  const to = [8, 48, 107];
  const c = from.map((f, i) => Math.round(f + (to[i]! - f) * Math.pow(t, 0.8)));
  return `#${c.map((n) => n.toString(16).padStart(2, '0')).join('')}`;
}

export interface HeatmapTile {
  rows: [number, number];
  cols: [number, number];
}

/** Splits a k × k matrix into tiles of at most `max` rows and columns. */
export function tiles(k: number, max: number): HeatmapTile[] {
  const out: HeatmapTile[] = [];
  for (let r = 0; r < k; r += max) for (let c = 0; c < k; c += max) out.push({ rows: [r, Math.min(k, r + max)], cols: [c, Math.min(k, c + max)] });
  return out;
}

/**
 * One tile of a confusion matrix: colour from the row-normalized value, text the count or the fraction. Row
 * labels on the left, column labels rotated on top; returns the height used.
 */
export function heatmap(
  doc: Doc,
  at: { x: number; y: number; maxW: number },
  m: { counts: number[][]; normalized: number[][]; labels: string[] },
  tile: HeatmapTile,
  show: 'counts' | 'normalized' | 'none',
  cellMax = 30,
): number {
  const nr = tile.rows[1] - tile.rows[0];
  const nc = tile.cols[1] - tile.cols[0];
  const labelW = 92;
  const cell = Math.max(4, Math.min(cellMax, (at.maxW - labelW - 10) / nc));
  const labelSize = Math.min(7.5, Math.max(3.5, cell * 0.55));
  const colLabelH = show === 'none' ? 60 : 74;
  const x0 = at.x + labelW;
  const y0 = at.y + colLabelH;
  doc.font(FONT.regular).fontSize(labelSize).fillColor(COLORS.text);
  for (let c = 0; c < nc; c++) {
    const cx = x0 + c * cell + cell / 2;
    doc.save();
    doc.rotate(-90, { origin: [cx, y0 - 3] });
    doc.text(m.labels[tile.cols[0] + c]!, cx, y0 - 3 - labelSize / 2 - 1, { width: colLabelH - 6, lineBreak: false, ellipsis: true });
    doc.restore();
  }
  for (let r = 0; r < nr; r++) {
    const i = tile.rows[0] + r;
    const cy = y0 + r * cell;
    doc.font(FONT.regular).fontSize(labelSize).fillColor(COLORS.text).text(m.labels[i]!, at.x, cy + cell / 2 - labelSize / 2 - 1, { width: labelW - 5, align: 'right', lineBreak: false, ellipsis: true });
    for (let c = 0; c < nc; c++) {
      const j = tile.cols[0] + c;
      const v = m.normalized[i]?.[j] ?? 0;
      const cx = x0 + c * cell;
      doc.rect(cx, cy, cell, cell).fill(heatColor(v));
      if (show === 'none') continue;
      const text = show === 'counts' ? String(m.counts[i]![j]!) : v === 0 ? '0' : v.toFixed(2);
      // As large as fits: the widest text in DejaVu is about 0.64 em per digit.
      const size = Math.max(3, Math.min(8, cell * 0.42, (cell - 2) / (text.length * 0.64)));
      doc.font(i === j ? FONT.bold : FONT.regular).fontSize(size).fillColor(v > 0.5 ? '#ffffff' : COLORS.text);
      doc.text(text, cx, cy + cell / 2 - size / 2 - 0.5, { width: cell, align: 'center', lineBreak: false });
    }
  }
  doc.rect(x0, y0, nc * cell, nr * cell).lineWidth(0.5).strokeColor(COLORS.rule).stroke();
  return colLabelH + nr * cell;
}

/** A colour scale legend for the heat maps. */
export function heatLegend(doc: Doc, x: number, y: number, w: number): void {
  const steps = 40;
  for (let i = 0; i < steps; i++) doc.rect(x + (i * w) / steps, y, w / steps + 0.3, 7).fill(heatColor(i / (steps - 1)));
  doc.font(FONT.regular).fontSize(7).fillColor(COLORS.muted);
  doc.text('0', x - 10, y, { lineBreak: false });
  doc.text('1 (share of the true class)', x + w + 4, y, { lineBreak: false });
}
