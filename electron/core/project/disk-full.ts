/**
 * A full disk, in words a technician can act on (issue 14): SQLite says "database or disk is full"
 * (SQLITE_FULL) and Node says "ENOSPC: no space left on device, write" with a stack. Every face (the job
 * message, the host's and the IPC's error envelope, the CLI's last line) shows this instead. Both leave what
 * was saved before intact: SQLite rolls the transaction back, and files are written through temporary names.
 */
import { statfsSync } from 'node:fs';
import { LoupeError } from '../../../shared/contract.ts';

const DISK_FULL_CODES = new Set(['SQLITE_FULL', 'ENOSPC', 'EDQUOT']);

export function isDiskFull(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && DISK_FULL_CODES.has(code);
}

/** `e` itself, or when it is a full disk, a LoupeError that says so and what to do. */
export function explainDiskFull(e: unknown): unknown {
  if (!isDiskFull(e)) return e;
  const where = (e as { code: string }).code === 'SQLITE_FULL' ? 'the disk holding the project' : 'the disk';
  return new LoupeError(
    'BAD_INPUT',
    `Not saved: ${where} is full. Free some space and try again; everything saved before is intact.`,
  );
}

/** Below this, a SQLite I/O error while opening is taken for a full disk (its shared-memory file cannot grow). */
const NEARLY_FULL_BYTES = 1 << 20;

/**
 * Whether `e`, thrown while opening a database in `dir`, comes from a full disk: opening needs room for the WAL
 * index (project.db-shm), and SQLite reports that failure as a plain "disk I/O error" (SQLITE_IOERR_*).
 */
export function openFailedForSpace(e: unknown, dir: string): boolean {
  if (isDiskFull(e)) return true;
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !code.startsWith('SQLITE_IOERR')) return false;
  try {
    const { bavail, bsize } = statfsSync(dir);
    return bavail * bsize < NEARLY_FULL_BYTES;
  } catch {
    return false;
  }
}
