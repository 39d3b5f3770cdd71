/**
 * A run's last words when the disk is too full to record them (issue 14). A training process that fails because
 * the disk is full often cannot write the failure into project.db either, and the next open would then only say
 * "interrupted". So before training, the run reserves a small file of its own; overwriting bytes a file already
 * has needs no new blocks, so the reason still fits when nothing else does. The next open (run-recovery.ts)
 * records it. Copy-on-write filesystems (btrfs, ZFS) may still refuse the overwrite: then the run says
 * "interrupted", as before.
 */
import { closeSync, mkdirSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';

const NAME = 'failure-note';
const SIZE = 4096;

function notePath(runDirectory: string): string {
  return join(runDirectory, NAME);
}

/** Writes exactly SIZE bytes at the start of the note, the rest blank, without changing the file's size. */
function overwrite(path: string, flags: 'w' | 'r+', text: string): void {
  const buf = Buffer.alloc(SIZE, 0x20);
  buf.write(text, 0, SIZE, 'utf8');
  const fd = openSync(path, flags);
  try {
    writeSync(fd, buf, 0, SIZE, 0);
  } finally {
    closeSync(fd);
  }
}

/** Reserves the note's blocks while there is room. Best effort: a disk already this full fails the run anyway. */
export function reserveFailureNote(runDirectory: string): void {
  try {
    mkdirSync(runDirectory, { recursive: true });
    overwrite(notePath(runDirectory), 'w', '');
  } catch {
    // No room even for this: the run fails at its first write and the next open says "interrupted".
  }
}

/** Puts the reason into the reserved note; false when there is no note or the overwrite itself was refused. */
export function writeFailureNote(runDirectory: string, message: string): boolean {
  // JSON keeps the text whole, and SIZE bounds what the next open reads; an over-long reason is cut to fit.
  let text = JSON.stringify({ message });
  for (let cut = message.length; Buffer.byteLength(text) > SIZE && cut > 0; ) {
    cut = Math.floor(cut * 0.9);
    text = JSON.stringify({ message: `${message.slice(0, cut)}…` });
  }
  try {
    overwrite(notePath(runDirectory), 'r+', text);
    return true;
  } catch {
    return false;
  }
}

/** The reason a failed process left, if any. The note is read bounded and checked: it is only a file on disk. */
export function readFailureNote(runDirectory: string): string | null {
  let fd: number;
  try {
    fd = openSync(notePath(runDirectory), 'r');
  } catch {
    return null;
  }
  try {
    const buf = Buffer.alloc(SIZE);
    const n = readSync(fd, buf, 0, SIZE, 0);
    const text = buf.subarray(0, n).toString('utf8').trim();
    if (!text) return null;
    const parsed = JSON.parse(text) as unknown;
    const message = (parsed as { message?: unknown } | null)?.message;
    return typeof message === 'string' && message.trim() ? message.slice(0, SIZE) : null;
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

/** Best effort: a blank note left behind reads as no reason. */
export function clearFailureNote(runDirectory: string): void {
  try {
    rmSync(notePath(runDirectory), { force: true });
  } catch {
    // Left for the next run of this id to overwrite.
  }
}
