/**
 * Where exports go: a folder that must be empty (unless forced) and writable, or a single output file. Problems
 * become clear LoupeErrors before any work is done, so a failed export never leaves half a bundle behind in a
 * folder that held something else.
 */
import { accessSync, constants, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync, renameSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { LoupeError } from '../../../shared/contract.ts';

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
    const entries = readdirSync(abs).filter((n) => n !== '.DS_Store');
    if (entries.length > 0 && !force) {
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
  const probe = join(abs, `.loupe-write-test-${process.pid}`);
  try {
    accessSync(abs, constants.W_OK);
    writeFileSync(probe, '');
    rmSync(probe);
  } catch (e) {
    throw new LoupeError('BAD_INPUT', `Cannot write to ${abs}: ${reason(e)}`);
  }
  return abs;
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
    const probe = join(parent, `.loupe-write-test-${process.pid}`);
    writeFileSync(probe, '');
    rmSync(probe);
  } catch (e) {
    throw new LoupeError('BAD_INPUT', `Cannot write to ${parent}: ${reason(e)}`);
  }
}

/** Writes a file through a temporary name, so a reader never sees half of it. */
export function writeFileAtomic(path: string, body: Uint8Array | string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, body);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new LoupeError('BAD_INPUT', `Cannot write ${path}: ${reason(e)}`);
  }
}
