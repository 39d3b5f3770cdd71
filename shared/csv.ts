/**
 * RFC 4180 CSV: quoting on write, a parser that handles quotes, embedded commas/newlines and CRLF. Text cells that
 * a spreadsheet would run as a formula (starting with = + - @, tab or CR) are written with a leading apostrophe, as
 * OWASP's CSV-injection advice and spreadsheet programs expect; csvText undoes it on reading.
 */

/** Any apostrophes, then a character that starts a formula: one more apostrophe is added on write, removed on read. */
const FORMULA = /^'*[=+\-@\t\r]/;
/** Plain numbers stay numbers (a negative one is no formula). */
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

export function csvField(v: string | number | null | undefined): string {
  let s = v === null || v === undefined ? '' : String(v);
  if (typeof v === 'string' && FORMULA.test(s) && !NUMBER.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) || /^\s|\s$/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** A parsed text cell as it was before csvField guarded it against formula injection. */
export function csvText(field: string): string {
  return field.startsWith("'") && FORMULA.test(field) ? field.slice(1) : field;
}

export function csvLine(fields: readonly (string | number | null | undefined)[]): string {
  return fields.map(csvField).join(',');
}

export interface CsvRow {
  /** 1-based line number where the row starts, for messages. */
  line: number;
  fields: string[];
}

/** Parses CSV text. An unterminated quote is reported with its line, not guessed. */
export function parseCsv(text: string): { rows: CsvRow[]; error: { line: number; reason: string } | null } {
  const rows: CsvRow[] = [];
  let fields: string[] = [];
  let field = '';
  let inQuotes = false;
  let line = 1;
  let rowStart = 1;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0; // a UTF-8 BOM from spreadsheet exports
  const endRow = () => {
    fields.push(field);
    if (!(fields.length === 1 && fields[0] === '')) rows.push({ line: rowStart, fields });
    fields = [];
    field = '';
  };
  for (; i < text.length; i++) {
    const ch = text[i]!;
    if (inQuotes) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else inQuotes = false;
      } else {
        if (ch === '\n') line++;
        field += ch;
      }
      continue;
    }
    if (ch === '"' && field === '') inQuotes = true;
    else if (ch === ',') {
      fields.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      endRow();
      line++;
      rowStart = line;
    } else field += ch;
  }
  if (inQuotes) return { rows, error: { line: rowStart, reason: 'a quoted field is never closed' } };
  if (field !== '' || fields.length) endRow();
  return { rows, error: null };
}
