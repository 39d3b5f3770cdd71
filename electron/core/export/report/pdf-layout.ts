/**
 * A small layout layer over pdfkit for the report: embedded DejaVu fonts (pdfkit's 14 standard fonts are not
 * embedded, and cannot show every character a class name may hold), a running cursor with page breaks, headings,
 * paragraphs, and tables that repeat their header on each page.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import PDFDocument from 'pdfkit';
import { LoupeError } from '../../../../shared/contract.ts';

export type Doc = PDFKit.PDFDocument;

export const COLORS = {
  text: '#1a1a1a',
  muted: '#666666',
  rule: '#bbbbbb',
  grid: '#e3e3e3',
  accent: '#1f5fa8',
  warn: '#a33a00',
  zebra: '#f4f6f8',
};

/** tab10: distinct on screen and in print; cycled past ten series. */
export const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

const FONT_FILES = { regular: 'DejaVuSans.ttf', bold: 'DejaVuSans-Bold.ttf' };

let foundDir: string | null = null;

/** resources/fonts in the source tree, the packaged app's resources, or Debian's fonts-dejavu-core. */
export function fontDir(): string {
  if (foundDir) return foundDir;
  const candidates = [
    process.env['LOUPE_FONTS_DIR'],
    fileURLToPath(new URL('../../../../resources/fonts', import.meta.url)),
    (process as { resourcesPath?: string }).resourcesPath ? join((process as { resourcesPath?: string }).resourcesPath!, 'fonts') : undefined,
    '/usr/share/fonts/truetype/dejavu',
  ].filter((d): d is string => Boolean(d));
  const found = candidates.find((d) => existsSync(join(d, FONT_FILES.regular)) && existsSync(join(d, FONT_FILES.bold)));
  if (!found) throw new LoupeError('INTERNAL', `The report fonts (${FONT_FILES.regular}) are missing; looked in ${candidates.join(', ')}`);
  foundDir = found;
  return found;
}

/**
 * Font files by weight. Fonts are selected by path, not by a registered name: pdfkit caches a font under the key
 * it was first opened with, and a registered name that resolves to an already-open font is never cached, so
 * each doc.font('name') would parse the TTF again (50 ms each; a 50-class report selects fonts thousands of times).
 */
export const FONT = {
  get regular(): string {
    return join(fontDir(), FONT_FILES.regular);
  },
  get bold(): string {
    return join(fontDir(), FONT_FILES.bold);
  },
};

export function newDocument(size: 'A4' | 'Letter', info: { title: string; author: string; subject: string }): Doc {
  const dir = fontDir();
  // `font` replaces pdfkit's default Helvetica, so no unembedded standard font is ever referenced.
  const doc = new PDFDocument({
    size,
    margin: 50,
    bufferPages: true,
    autoFirstPage: false,
    font: join(dir, FONT_FILES.regular),
    info: { Title: info.title, Author: info.author, Subject: info.subject, Creator: 'Loupe', Producer: 'Loupe (pdfkit)' },
    pdfVersion: '1.7',
  });
  doc.font(FONT.bold).font(FONT.regular);
  return doc;
}

export interface Column {
  title: string;
  width: number;
  align?: 'left' | 'right' | 'center';
}

/** A cursor over the pages of one document. */
export class Layout {
  readonly doc: Doc;
  y = 0;
  private readonly header: string;

  constructor(doc: Doc, header: string) {
    this.doc = doc;
    this.header = header;
  }

  get left(): number {
    return this.doc.page.margins.left;
  }
  get width(): number {
    return this.doc.page.width - this.doc.page.margins.left - this.doc.page.margins.right;
  }
  get top(): number {
    return this.doc.page.margins.top;
  }
  get bottom(): number {
    return this.doc.page.height - this.doc.page.margins.bottom;
  }
  get space(): number {
    return this.bottom - this.y;
  }

  newPage(): void {
    this.doc.addPage();
    this.doc.font(FONT.regular).fontSize(7.5).fillColor(COLORS.muted).text(this.header, this.left, 28, { width: this.width, lineBreak: false, ellipsis: true });
    this.y = this.top;
  }

  /** Starts a new page unless `height` points still fit on this one. */
  ensure(height: number): void {
    if (this.y + height > this.bottom) this.newPage();
  }

  heading(text: string, level: 1 | 2 = 1): void {
    const size = level === 1 ? 16 : 12;
    this.ensure(size * 3);
    if (this.y > this.top) this.y += level === 1 ? 10 : 6;
    this.doc.font(FONT.bold).fontSize(size).fillColor(COLORS.text).text(text, this.left, this.y, { width: this.width });
    this.y = this.doc.y + (level === 1 ? 6 : 3);
  }

  paragraph(text: string, opts: { size?: number; color?: string; bold?: boolean; gap?: number } = {}): void {
    const size = opts.size ?? 9.5;
    this.doc.font(opts.bold ? FONT.bold : FONT.regular).fontSize(size);
    const h = this.doc.heightOfString(text, { width: this.width });
    this.ensure(Math.min(h, 200));
    this.doc.fillColor(opts.color ?? COLORS.text).text(text, this.left, this.y, { width: this.width });
    this.y = this.doc.y + (opts.gap ?? 4);
  }

  /** Rows of (key, value) in two columns. */
  keyValues(rows: [string, string][], keyWidth = 150): void {
    const size = 9;
    for (const [k, v] of rows) {
      this.doc.font(FONT.regular).fontSize(size);
      const h = Math.max(this.doc.heightOfString(v, { width: this.width - keyWidth }), size * 1.25);
      this.ensure(h + 2);
      this.doc.font(FONT.bold).fillColor(COLORS.muted).text(k, this.left, this.y, { width: keyWidth - 8 });
      this.doc.font(FONT.regular).fillColor(COLORS.text).text(v, this.left + keyWidth, this.y, { width: this.width - keyWidth });
      this.y += h + 3;
    }
  }

  /** A table; rows that do not fit start a new page under a repeated header. */
  table(columns: Column[], rows: string[][], opts: { size?: number; boldLastRow?: boolean } = {}): void {
    const size = opts.size ?? 8.5;
    const rowH = size * 1.7;
    const total = columns.reduce((s, c) => s + c.width, 0);
    const scale = total > this.width ? this.width / total : 1;
    const cols = columns.map((c) => ({ ...c, width: c.width * scale }));
    const drawRow = (cells: string[], bold: boolean, fill: string | null) => {
      if (fill) this.doc.rect(this.left, this.y, this.width * Math.min(1, total * scale / this.width), rowH).fill(fill);
      let x = this.left;
      this.doc.font(bold ? FONT.bold : FONT.regular).fontSize(size).fillColor(COLORS.text);
      cells.forEach((cell, i) => {
        const c = cols[i]!;
        this.doc.text(cell, x + 3, this.y + (rowH - size) / 2 - 1, { width: c.width - 6, align: c.align ?? 'left', lineBreak: false, ellipsis: true });
        x += c.width;
      });
      this.y += rowH;
    };
    const header = () => {
      drawRow(cols.map((c) => c.title), true, null);
      this.doc.moveTo(this.left, this.y).lineTo(this.left + cols.reduce((s, c) => s + c.width, 0), this.y).lineWidth(0.6).strokeColor(COLORS.rule).stroke();
    };
    this.ensure(rowH * 3);
    header();
    rows.forEach((r, i) => {
      if (this.y + rowH > this.bottom) {
        this.newPage();
        header();
      }
      drawRow(r, Boolean(opts.boldLastRow) && i === rows.length - 1, i % 2 === 1 ? COLORS.zebra : null);
    });
    this.y += 6;
  }
}
