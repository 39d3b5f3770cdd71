/**
 * Why a file could not be read or written, in words, without the path: Node's messages embed the absolute path
 * ("ENOENT: no such file or directory, open '/home/…'"), and these reasons are stored in project.db and end up in
 * shared artifacts (run warnings in model cards and reports, prediction CSVs), which carry no absolute paths or
 * user names (issue 14). Callers add the path relative to its import root where it helps.
 */
const REASONS: Record<string, string> = {
  ENOENT: 'the file is missing',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'not a file',
  ENOTDIR: 'a part of the path is a file, not a folder',
  ENAMETOOLONG: 'path too long for the file system',
  ELOOP: 'symlink loop',
  EROFS: 'the file system is read-only',
  ENOSPC: 'the disk is full',
  EIO: 'input/output error (a failing disk or network share?)',
  EMFILE: 'too many open files',
};

export function fileErrorReason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (typeof err?.code === 'string') return REASONS[err.code] ?? `system error ${err.code}`;
  return err instanceof Error ? err.message : String(e);
}
