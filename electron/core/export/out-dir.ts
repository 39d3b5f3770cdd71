/**
 * Where exports go: a folder that must be empty (unless forced) and writable, or a single output file. Problems
 * become clear LoupeErrors before any work is done, so a failed export never leaves half a bundle behind in a
 * folder that held something else.
 *
 * A folder export holds INCOMPLETE_MARKER from its first file to its last (issue 14): a folder killed mid-export
 * says so, and running the same export again clears it and writes it whole without --force (the marker shows
 * that everything in it is ours).
 */
import { accessSync, constants, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, renameSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { LoupeError } from '../../../shared/contract.ts';
import { pidAlive } from '../training/run-lease.ts';

/** Present in an export folder while it is being written; a folder holding it is an interrupted export. */
export const INCOMPLETE_MARKER = '.loupe-export-incomplete';
const PROBE_PREFIX = '.loupe-write-test-';

function reason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  switch (err.code) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EROFS':
      return 'the file system is read-only';
    case 'ENOTDIR':
      return 'a part of the path is a file, not a folder';
    case 'ENOSPC':
      return 'the disk is full';
    default:
      return err.message ?? String(e);
  }
}

/** Creates `dir` if needed and checks it can be written; refuses a non-empty folder unless `force`. */
export function prepareOutDir(dir: string, force: boolean): string {
  const abs = resolve(dir);
  if (existsSync(abs)) {
    if (!statSync(abs).isDirectory()) throw new LoupeError('BAD_INPUT', `${abs} is a file; give a folder to export into`);
    // A write probe left by a process killed during this check is ours too.
    for (const n of readdirSync(abs)) if (n.startsWith(PROBE_PREFIX)) rmSync(join(abs, n), { force: true });
    const entries = readdirSync(abs).filter((n) => n !== '.DS_Store');
    if (entries.includes(INCOMPLETE_MARKER)) {
      for (const sibling of siblingsOf(abs)) rmSync(join(dirname(abs), sibling), { force: true });
      for (const n of entries) rmSync(join(abs, n), { recursive: true, force: true });
    } else if (entries.length > 0 && !force) {
      throw new LoupeError('CONFLICT', `${abs} is not empty (${entries.length} item${entries.length > 1 ? 's' : ''}); choose an empty folder or use --force to write over it`);
    }
  } else {
    try {
      mkdirSync(abs, { recursive: true });
    } catch (e) {
      throw new LoupeError('BAD_INPUT', `Cannot create ${abs}: ${reason(e)}`);
    }
  }
  // access() says yes to root everywhere; writing a probe file is the real test (read-only mounts, ACLs).
  const probe = join(abs, `${PROBE_PREFIX}${process.pid}`);
  try {
    accessSync(abs, constants.W_OK);
    writeFileSync(probe, '');
    rmSync(probe);
  } catch (e) {
    throw new LoupeError('BAD_INPUT', `Cannot write to ${abs}: ${reason(e)}`);
  }
  return abs;
}

/**
 * Marks `dir` as being written (see INCOMPLETE_MARKER); `markExportComplete` when its last file is in place.
 * `siblings`: files next to `dir` that the same export writes (a bundle's zip), replaced too by the re-run.
 */
export function markExportIncomplete(dir: string, siblings: string[] = []): void {
  const note = 'A Loupe export was interrupted here; run it again to complete it.';
  writeFileAtomic(join(dir, INCOMPLETE_MARKER), JSON.stringify({ note, siblings: siblings.map((s) => basename(s)) }) + '\n');
}

/** The sibling files an interrupted export named: only plain names that start with the folder's own. */
function siblingsOf(dir: string): string[] {
  try {
    const { siblings } = JSON.parse(readFileSync(join(dir, INCOMPLETE_MARKER), 'utf8')) as { siblings?: unknown };
    if (!Array.isArray(siblings)) return [];
    return siblings.filter((n): n is string => typeof n === 'string' && n === basename(n) && n.startsWith(`${basename(dir)}.`));
  } catch {
    return [];
  }
}

export function markExportComplete(dir: string): void {
  rmSync(join(dir, INCOMPLETE_MARKER), { force: true });
}

/** Checks an output file can be created (its folder exists or can be made, and the file is new or `force`). */
export function prepareOutFile(file: string, force: boolean): string {
  const abs = resolve(file);
  if (existsSync(abs)) {
    if (statSync(abs).isDirectory()) throw new LoupeError('BAD_INPUT', `${abs} is a folder; give a file name`);
    if (!force) throw new LoupeError('CONFLICT', `${abs} already exists; use --force to replace it`);
  }
  prepareParent(abs);
  return abs;
}

function prepareParent(abs: string): void {
  const parent = dirname(abs);
  try {
    mkdirSync(parent, { recursive: true });
    // The temporary file of a write killed midway (see throughTemp): its process is gone, nobody will rename it.
    const leftover = new RegExp(`^${basename(abs).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.tmp-(\\d+)$`);
    for (const n of readdirSync(parent)) {
      const pid = leftover.exec(n)?.[1];
      if (pid !== undefined && !pidAlive(Number(pid))) rmSync(join(parent, n), { force: true });
    }
    const probe = join(parent, `${PROBE_PREFIX}${process.pid}`);
    writeFileSync(probe, '');
    rmSync(probe);
  } catch (e) {
    throw new LoupeError('BAD_INPUT', `Cannot write to ${parent}: ${reason(e)}`);
  }
}

/** Writes a file through a temporary name, so a reader never sees half of it. */
export function writeFileAtomic(path: string, body: Uint8Array | string): void {
  throughTemp(path, (tmp) => writeFileSync(tmp, body));
}

/** Copies a file through a temporary name: a copy killed or out of space never sits under the final name. */
export function copyFileAtomic(source: string | Buffer, path: string): void {
  throughTemp(path, (tmp) => copyFileSync(source, tmp), true);
}

function throughTemp(path: string, write: (tmp: string) => void, passMissingSource = false): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    write(tmp);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    // A vanished source is the caller's to report (it names the image, not the target).
    if (passMissingSource && (e as NodeJS.ErrnoException).code === 'ENOENT') throw e;
    throw new LoupeError('BAD_INPUT', `Cannot write ${path}: ${reason(e)}`);
  }
}
