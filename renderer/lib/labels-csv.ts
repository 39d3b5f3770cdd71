/**
 * Labels CSV in and out from the UI (`path,label,split,group`): the export is downloaded as a file (a Blob link,
 * which works in the browser host and in Electron alike), the import reads a file the user picked.
 */
import type { CsvImportReport } from '../../shared/contract.ts';
import { api } from './api.ts';

/** Asks for the CSV and saves it as `<project>-labels.csv`; resolves to the number of rows. */
export async function exportLabelsCsv(projectName: string): Promise<number> {
  const { csv, rows } = await api['labels:exportCsv']({});
  const url = URL.createObjectURL(new Blob([csv], { type: 'text/csv;charset=utf-8' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = `${safeName(projectName)}-labels.csv`;
  document.body.appendChild(a);
  a.click();
  a.remove();
  // Revoked later: the download starts asynchronously.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return rows;
}

export function safeName(name: string): string {
  return name.replace(/[^\w.-]+/g, '_').replace(/^_+|_+$/g, '') || 'loupe';
}

export function importLabelsCsv(csv: string, createClasses: boolean): Promise<CsvImportReport> {
  return api['labels:importCsv']({ csv, createClasses });
}

/** Up to `n` items and how many more there are, for report lists. */
export function firstOf<T>(items: readonly T[], n = 20): { shown: T[]; more: number } {
  return { shown: items.slice(0, n), more: Math.max(0, items.length - n) };
}
