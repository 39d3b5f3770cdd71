/** Small display helpers: sizes, durations, rates, paths. Pure, so the components stay thin. */

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

/** 12,345. By hand: the first toLocaleString call loads ICU data, ~100 ms on a busy machine at startup. */
export function formatCount(n: number): string {
  return String(Math.trunc(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

export function formatEta(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '–';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}

export function formatRate(perSecond: number): string {
  if (perSecond <= 0) return '–';
  return perSecond >= 100 ? `${Math.round(perSecond)}/s` : `${perSecond.toFixed(1)}/s`;
}

export function formatDate(msOrIso: number | string): string {
  const d = new Date(msOrIso);
  if (Number.isNaN(d.getTime())) return '–';
  return d.toISOString().slice(0, 16).replace('T', ' ');
}

/** Joins a folder and a name with the separator the folder already uses (Windows paths from Electron). */
export function joinPath(dir: string, name: string): string {
  const sep = dir.includes('\\') && !dir.includes('/') ? '\\' : '/';
  return dir.endsWith(sep) ? dir + name : dir + sep + name;
}

export function baseName(path: string): string {
  const parts = path.split(/[\\/]/).filter(Boolean);
  return parts[parts.length - 1] ?? path;
}

/** The folder holding a typed path ("/" for a file at the root), or undefined when it names none. */
export function folderOf(path: string): string | undefined {
  const trimmed = path.trim().replace(/(?<=.)[\\/]+$/, '');
  const cut = trimmed.search(/[\\/][^\\/]*$/);
  if (cut < 0) return undefined;
  return cut === 0 ? trimmed[0] : trimmed.slice(0, cut);
}
