/**
 * Recursive scan of an import root. Paths are handled as Buffers end to end so that names that are not valid
 * UTF-8 can still be opened; such names get a display path with `%XX` escapes and keep their raw bytes.
 *
 * Sync fs calls with a yield to the event loop every few hundred entries: a stat through the thread pool costs
 * ~10x more per file, which matters for 100,000-file trees, and the yields keep the process responsive.
 * Symlinks are followed, but a folder is never entered twice (device+inode), so loops cannot recurse forever.
 */
import { closeSync, fstatSync, openSync, readSync, readdirSync, statSync, type Dirent, type Stats } from 'node:fs';
import { isUtf8 } from 'node:buffer';
import { resolve } from 'node:path';
import { CanceledError } from '../jobs/jobs.ts';
import { fileErrorReason } from '../images/file-error.ts';
import { DICOM_SNIFF_BYTES, looksLikeDicom } from '../dicom/parse.ts';
import {
  SNIFF_BYTES,
  hasImageExtension,
  hasNoExtension,
  isHiddenOrSystemDir,
  isHiddenOrSystemFile,
  sniffFormat,
} from './formats.ts';

export interface WalkEntry {
  /** Absolute path: a string, or a Buffer when some segment is not valid UTF-8. */
  absPath: string | Buffer;
  /** Display path relative to the root, '/'-separated. */
  rel: string;
  /** Raw bytes of the relative path when it is not valid UTF-8; null otherwise. */
  relRaw: Buffer | null;
  /** Display segments of `rel` (folders then file name); labels and splits come from these. */
  segments: string[];
  size: number;
  mtimeMs: number;
  /** Set when the entry cannot be imported at all (broken symlink, loop, unreadable folder). */
  error?: string;
}

export interface WalkCounters {
  /** Hidden/system files and folders, non-image files, special files, folders reached twice. */
  ignored: number;
}

export interface WalkOptions {
  /** Stat files for size and mtime (import). The preview skips it where it can. */
  stat: boolean;
  signal?: AbortSignal;
  /** Absolute folders never to enter (the project folder itself, whose cache holds WebP thumbnails). */
  exclude?: string[];
}

const SEP = Buffer.from('/');
const YIELD_EVERY = 500;

/** A display form of one path segment: itself when valid UTF-8, else bytes >= 0x80 escaped as %XX. */
export function displaySegment(raw: Buffer): { text: string; valid: boolean } {
  if (isUtf8(raw)) return { text: raw.toString('utf8'), valid: true };
  let text = '';
  for (const byte of raw) {
    text += byte < 0x80 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return { text, valid: false };
}

interface Frame {
  abs: Buffer;
  relRaw: Buffer[];
  rel: string[];
  allValid: boolean;
  /** device:inode of this folder and its ancestors, to tell a loop from a second path to the same folder. */
  ancestors: string[];
}

function describe(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  switch (err.code) {
    case 'ENOENT':
      return 'broken symlink: its target does not exist';
    case 'ELOOP':
      return 'symlink loop: the link resolves to itself';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    default:
      return fileErrorReason(e);
  }
}

function key(st: Stats): string {
  return `${st.dev}:${st.ino}`;
}

/** Sniffs an extensionless file: an image format's magic bytes, or DICOM (preamble or a bare data set). */
export function looksLikeImage(path: Buffer): boolean {
  let fd = -1;
  try {
    fd = openSync(path, 'r');
    const head = Buffer.alloc(Math.max(SNIFF_BYTES, DICOM_SNIFF_BYTES));
    const n = readSync(fd, head, 0, head.length, 0);
    return sniffFormat(head.subarray(0, n)) !== null || looksLikeDicom(head.subarray(0, n), fstatSync(fd).size);
  } catch {
    return false;
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

/** Yields every import candidate under `root` (images by extension or content, and per-file scan errors). */
export async function* walk(root: string, opts: WalkOptions, counters: WalkCounters): AsyncGenerator<WalkEntry> {
  const rootAbs = resolve(root);
  const rootStat = statSync(rootAbs);
  if (!rootStat.isDirectory()) throw new Error(`Not a folder: ${rootAbs}`);
  const excluded = new Set<string>();
  for (const ex of opts.exclude ?? []) {
    try {
      excluded.add(key(statSync(ex)));
    } catch {
      // An exclusion that does not exist excludes nothing.
    }
  }
  const visited = new Set<string>([key(rootStat)]);
  const stack: Frame[] = [{ abs: Buffer.from(rootAbs), relRaw: [], rel: [], allValid: true, ancestors: [key(rootStat)] }];
  let sinceYield = 0;

  const entryFor = (frame: Frame, nameRaw: Buffer, name: string, valid: boolean) => {
    const relRawParts = [...frame.relRaw, nameRaw];
    const segments = [...frame.rel, name];
    const allValid = frame.allValid && valid;
    const abs = Buffer.concat([frame.abs, SEP, nameRaw]);
    return {
      absPath: allValid ? abs.toString('utf8') : abs,
      rel: segments.join('/'),
      relRaw: allValid ? null : Buffer.concat(relRawParts.flatMap((p, i) => (i === 0 ? [p] : [SEP, p]))),
      segments,
    };
  };

  while (stack.length > 0) {
    const frame = stack.pop()!;
    let dirents: Dirent<Buffer>[];
    try {
      dirents = readdirSync(frame.abs, { withFileTypes: true, encoding: 'buffer' });
    } catch (e) {
      if (frame.rel.length === 0) throw e;
      const base = {
        absPath: frame.allValid ? frame.abs.toString('utf8') : frame.abs,
        rel: frame.rel.join('/'),
        relRaw: frame.allValid ? null : Buffer.concat(frame.relRaw.flatMap((p, i) => (i === 0 ? [p] : [SEP, p]))),
        segments: frame.rel,
      };
      yield { ...base, size: 0, mtimeMs: 0, error: `cannot read folder: ${describe(e)}` };
      continue;
    }
    dirents.sort((a, b) => Buffer.compare(a.name, b.name));
    const subdirs: Frame[] = [];
    for (const d of dirents) {
      if (++sinceYield >= YIELD_EVERY) {
        sinceYield = 0;
        await new Promise((r) => setImmediate(r));
        if (opts.signal?.aborted) throw new CanceledError();
      }
      const { text: name, valid } = displaySegment(d.name);
      let isDir = d.isDirectory();
      let isFile = d.isFile();
      let st: Stats | null = null;
      if (d.isSymbolicLink()) {
        const e = entryFor(frame, d.name, name, valid);
        try {
          st = statSync(Buffer.concat([frame.abs, SEP, d.name]));
        } catch (err) {
          if (isHiddenOrSystemFile(name) || (!hasImageExtension(name) && !hasNoExtension(name))) {
            // A dangling link to a text file is not an import problem.
            counters.ignored++;
            continue;
          }
          yield { ...e, size: 0, mtimeMs: 0, error: describe(err) };
          continue;
        }
        isDir = st.isDirectory();
        isFile = st.isFile();
      }
      if (isDir) {
        if (isHiddenOrSystemDir(name)) {
          counters.ignored++;
          continue;
        }
        const abs = Buffer.concat([frame.abs, SEP, d.name]);
        try {
          st ??= statSync(abs);
        } catch (err) {
          const e = entryFor(frame, d.name, name, valid);
          yield { ...e, size: 0, mtimeMs: 0, error: `cannot read folder: ${describe(err)}` };
          continue;
        }
        const k = key(st);
        if (excluded.has(k)) {
          counters.ignored++;
          continue;
        }
        if (frame.ancestors.includes(k)) {
          const e = entryFor(frame, d.name, name, valid);
          yield { ...e, size: 0, mtimeMs: 0, error: 'symlink loop: the link points to one of its own parent folders' };
          continue;
        }
        if (visited.has(k)) {
          // Another symlink to a folder already scanned: importing it twice would only make duplicates.
          counters.ignored++;
          continue;
        }
        visited.add(k);
        subdirs.push({
          abs,
          relRaw: [...frame.relRaw, d.name],
          rel: [...frame.rel, name],
          allValid: frame.allValid && valid,
          ancestors: [...frame.ancestors, k],
        });
        continue;
      }
      if (!isFile || isHiddenOrSystemFile(name)) {
        // FIFOs, sockets and devices are never opened (reading a FIFO would block the import).
        counters.ignored++;
        continue;
      }
      const abs = Buffer.concat([frame.abs, SEP, d.name]);
      if (!hasImageExtension(name) && !(hasNoExtension(name) && looksLikeImage(abs))) {
        counters.ignored++;
        continue;
      }
      const e = entryFor(frame, d.name, name, valid);
      if (!opts.stat) {
        yield { ...e, size: 0, mtimeMs: 0 };
        continue;
      }
      try {
        st ??= statSync(abs);
      } catch (err) {
        yield { ...e, size: 0, mtimeMs: 0, error: describe(err) };
        continue;
      }
      yield { ...e, size: st.size, mtimeMs: Math.floor(st.mtimeMs) };
    }
    // Reverse so that popping visits folders in name order.
    for (let i = subdirs.length - 1; i >= 0; i--) stack.push(subdirs[i]!);
  }
}
