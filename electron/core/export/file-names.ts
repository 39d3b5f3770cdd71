/**
 * File and folder names made from user text (class names, image paths) for exports that must open on any system:
 * no separators or characters Windows refuses, no reserved device names (CON, NUL, COM1…), no trailing dot or
 * space, a bounded length, and distinct inputs never sharing one name, also on case-insensitive file systems.
 */

/** UTF-8 bytes per name: well under the 255 of common file systems, so folder + file stay short on Windows too. */
export const MAX_NAME_BYTES = 100;

const RESERVED = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])$/i;

function extOf(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot > 0 && name.length - dot <= 10 ? name.slice(dot) : '';
}

/** Cuts to at most `max` UTF-8 bytes without splitting a character. */
function cutBytes(s: string, max: number): string {
  let out = '';
  let bytes = 0;
  for (const ch of s) {
    const n = Buffer.byteLength(ch);
    if (bytes + n > max) break;
    out += ch;
    bytes += n;
  }
  return out;
}

/** `name` with its stem cut so that stem + suffix + extension fit MAX_NAME_BYTES. */
function fit(name: string, suffix = ''): string {
  const ext = extOf(name);
  const stem = name.slice(0, name.length - ext.length);
  const room = MAX_NAME_BYTES - Buffer.byteLength(ext) - Buffer.byteLength(suffix);
  return `${cutBytes(stem, Math.max(1, room)).replace(/[. ]+$/, '') || '_'}${suffix}${ext}`;
}

/** One safe path component for `text`; distinct texts may give the same result (UniqueNames keeps them apart). */
export function safeFileName(text: string): string {
  let s = [...text.normalize('NFC')].map((ch) => (ch.charCodeAt(0) < 32 || '/\\:*?"<>|'.includes(ch) ? '_' : ch)).join('');
  s = s.trim().replace(/^\.+/, '_').replace(/[. ]+$/, '');
  if (!s) s = '_';
  const stem = s.split('.')[0]!;
  if (RESERVED.test(stem.trim())) s = `_${s}`;
  return fit(s);
}

/**
 * Names within one folder: each key (a class name, a source path) gets one name, and two keys never get names
 * that differ only by case or Unicode form; a clash gets "-2", "-3"… before the extension.
 */
export class UniqueNames {
  private readonly byKey = new Map<string, string>();
  private readonly taken = new Set<string>();

  /** The name of `key`: the same for the same key, never one another key has. */
  nameFor(key: string): string {
    let name = this.byKey.get(key);
    if (name === undefined) this.byKey.set(key, (name = this.claim(key)));
    return name;
  }

  /** A new name for `text`, unlike every name given so far (two files may have the same text). */
  claim(text: string): string {
    const base = safeFileName(text);
    let name = base;
    for (let n = 2; this.taken.has(name.toLowerCase()); n++) name = fit(base, `-${n}`);
    this.taken.add(name.toLowerCase());
    return name;
  }
}
