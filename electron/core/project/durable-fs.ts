/**
 * Writes that survive a kill or a power loss: a file's bytes are fsynced before it is renamed into place, and the
 * folder is fsynced after, so the rename itself is on disk (ext4 and APFS may otherwise persist the rename before
 * the data, leaving an empty file under the final name).
 */
import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** Writes a file and fsyncs it before returning. */
export function writeFileSynced(path: string, body: Buffer | string): void {
  const fd = openSync(path, 'w');
  try {
    const bytes = typeof body === 'string' ? Buffer.from(body) : body;
    let offset = 0;
    while (offset < bytes.length) offset += writeSync(fd, bytes, offset, bytes.length - offset);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Persists a folder's entries (new, renamed or removed names). */
export function fsyncDir(dir: string): void {
  // Windows cannot open a folder for fsync; NTFS journals renames itself.
  if (process.platform === 'win32') return;
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Replaces a file in one step: a reader sees the old content or the new, never a part. */
export function replaceFileDurably(path: string, body: Buffer | string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSynced(tmp, body);
  renameSync(tmp, path);
  fsyncDir(dirname(path));
}
