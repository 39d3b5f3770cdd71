/**
 * Reusable read buffers for the import's mid-sized files (photos, scans: 256 KiB to 8 MiB). A fresh Buffer of a
 * few MiB is fresh memory from the kernel, and faulting its pages in costs more than the read itself: a 2 MB JPEG
 * reads in 0.8 ms into a new Buffer, 0.2 ms into one used before. Small files come from malloc's free lists and
 * gain nothing; they are read as before.
 *
 * A lent buffer must not be referenced once given back: the importer gives it back when the file's probe and
 * thumbnail write are done, and never for DICOM files, whose parsed metadata may keep views into it.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';

/** The largest file an import reads; anything larger is refused from its size, before a byte is read. */
export const MAX_FILE_BYTES = 1024 * 1024 * 1024;

/** A file over the reader's limit, found from the open file's size. */
export class FileTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`file too large (over ${formatBytes(limit)})`);
  }
}

function formatBytes(n: number): string {
  return n % (1024 * 1024 * 1024) === 0 ? `${n / (1024 * 1024 * 1024)} GiB` : `${Math.ceil(n / (1024 * 1024))} MiB`;
}

/** Files at least this large are read into a pooled buffer. */
export const POOLED_READ_MIN_BYTES = 256 * 1024;
/**
 * Larger than this, nothing is pooled (such files are rare; keeping their buffers would hold a lot of memory), and
 * files are read asynchronously: below it a sync read beats fs.promises.readFile (open, stat, read, close: four
 * thread-pool hops).
 */
export const POOLED_READ_MAX_BYTES = 8 * 1024 * 1024;

export interface ReadFile {
  /** The file's bytes: a view into a pooled buffer, or a Buffer of its own. */
  bytes: Buffer;
  /** Gives a pooled buffer back; a no-op for a Buffer of its own. Call once, after the last use of `bytes`. */
  done: () => void;
}

function capacityFor(size: number): number {
  // Powers of two: buffers fit the next file of a similar size, and a handful of sizes cover the whole range.
  return 2 ** Math.ceil(Math.log2(Math.max(size, POOLED_READ_MIN_BYTES)));
}

export class ReadBuffers {
  private readonly free: Buffer[] = [];

  /**
   * `keep`: buffers held for reuse at most (the files in flight at once). `maxBytes`: the largest file read; a larger
   * one (by its size when opened, whatever the scan saw) throws FileTooLarge without being read.
   */
  constructor(
    private readonly keep: number,
    private readonly maxBytes = MAX_FILE_BYTES,
  ) {}

  /** Reads a file whose size the scan saw as `size`: on this thread up to POOLED_READ_MAX_BYTES, in the pool above. */
  async load(path: string | Buffer, size: number): Promise<ReadFile> {
    // Larger files are sized again from the open file (readWhole) and refused there before anything is allocated.
    if (size <= POOLED_READ_MAX_BYTES) return this.read(path, size);
    return { bytes: await readWhole(path, this.maxBytes), done: () => {} };
  }

  /** Reads a file whose size the scan saw as `size` (it may have changed since), on this thread. */
  read(path: string | Buffer, size: number): ReadFile {
    if (size < POOLED_READ_MIN_BYTES || size > POOLED_READ_MAX_BYTES) return { bytes: readWholeSync(path, this.maxBytes), done: () => {} };
    const fd = openSync(path, 'r');
    const slab = this.take(capacityFor(size));
    let length = 0;
    let grew = false;
    try {
      for (;;) {
        const n = readSync(fd, slab, length, slab.length - length, null);
        if (n === 0) break;
        length += n;
        if (length === slab.length) {
          // Full: the file grew past the buffer since the scan; one more byte tells.
          grew = readSync(fd, Buffer.alloc(1), 0, 1, null) > 0;
          break;
        }
      }
    } catch (e) {
      this.give(slab);
      throw e;
    } finally {
      closeSync(fd);
    }
    if (grew) {
      this.give(slab);
      return { bytes: readWholeSync(path, this.maxBytes), done: () => {} };
    }
    let given = false;
    return {
      bytes: slab.subarray(0, length),
      done: () => {
        if (given) return;
        given = true;
        this.give(slab);
      },
    };
  }

  private take(capacity: number): Buffer {
    const i = this.free.findIndex((b) => b.length === capacity);
    if (i >= 0) return this.free.splice(i, 1)[0]!;
    // Slow: its own memory, outside Node's small-buffer pool, so it can be handed out whole.
    return Buffer.allocUnsafeSlow(capacity);
  }

  private give(slab: Buffer): void {
    this.free.push(slab);
    // Past `keep`, the oldest goes to the garbage collector.
    if (this.free.length > this.keep) this.free.shift();
  }
}

/**
 * The bytes of a file no larger than `maxBytes`, sized from the open file itself, so that nothing larger is ever
 * allocated. Like readFileSync, it reads the size the file had when opened (a file still being written gives what
 * it had then; the next import sees its new size and mtime).
 */
function readWholeSync(path: string | Buffer, maxBytes: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buf = bufferFor(fstatSync(fd).size, maxBytes);
    let n = 0;
    while (n < buf.length) {
      const got = readSync(fd, buf, n, buf.length - n, n);
      if (got === 0) break;
      n += got;
    }
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/** readWholeSync in libuv's pool, for files too large to read on the import's own thread. */
async function readWhole(path: string | Buffer, maxBytes: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const buf = bufferFor((await handle.stat()).size, maxBytes);
    let n = 0;
    while (n < buf.length) {
      const { bytesRead } = await handle.read(buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
    }
    return buf.subarray(0, n);
  } finally {
    await handle.close();
  }
}

function bufferFor(size: number, maxBytes: number): Buffer {
  if (size > maxBytes) throw new FileTooLarge(maxBytes);
  return Buffer.allocUnsafe(size);
}

/**
 * Bytes of file contents an import holds at once, at most: readers wait past it, in order. A file larger than the
 * whole budget waits until nothing else is held, then is read alone. Files are counted at the size the scan saw.
 */
export class ReadBudget {
  private free: number;
  private readonly waiting: { bytes: number; wake: () => void }[] = [];

  constructor(readonly capacity: number) {
    this.free = capacity;
  }

  /** Resolves with the bytes held for a file of `size` (give the same number to release). */
  async acquire(size: number): Promise<number> {
    const bytes = Math.min(Math.max(size, 0), this.capacity);
    if (this.waiting.length === 0 && bytes <= this.free) {
      this.free -= bytes;
      return bytes;
    }
    await new Promise<void>((wake) => this.waiting.push({ bytes, wake }));
    return bytes;
  }

  release(bytes: number): void {
    this.free += bytes;
    // In order: a large file first in line is not passed by smaller ones forever.
    while (this.waiting.length > 0 && this.waiting[0]!.bytes <= this.free) {
      const next = this.waiting.shift()!;
      this.free -= next.bytes;
      next.wake();
    }
  }

  /** Bytes held now (for tests and diagnostics). */
  get held(): number {
    return this.capacity - this.free;
  }
}
