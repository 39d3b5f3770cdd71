/** RFC 4180 CSV: quoting on write, a parser that handles quotes, embedded commas/newlines and CRLF. */

export function csvField(v: string | number | null | undefined): string {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\r\n]/.test(s) || /^\s|\s$/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
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
