/**
 * The folder browser served by the browser host (Electron uses the native dialog instead).
 *
 * A listing runs on its own worker thread (issue 14): a folder of a million files, or a network mount that
 * stopped answering, must not stall every other call the host answers on the main thread (a synchronous
 * listing of 200,000 files stalled them for 1–1.6 s). The thread reads directory entries with their types, so
 * it stats only symbolic links; it reads at most MAX_SCANNED names, keeps at most MAX_FOLDERS folders, and the
 * caller pages through those. A listing that does not answer in time is abandoned, and at most MAX_PENDING
 * threads may be busy at once, so a hung mount can tie up a few threads but never the host.
 */
import { Worker } from 'node:worker_threads';
import { dirname, join, resolve } from 'node:path';
import { LoupeError, type DirListing } from '../../../shared/contract.ts';
import { imageExtensions } from '../import/formats.ts';

/** Names read from one folder before the listing stops and says it is truncated. */
const MAX_SCANNED = 500_000;
/** Folders kept (sorted, then paged) from one folder. */
const MAX_FOLDERS = 50_000;
/** A listing slower than this is abandoned: a local disk lists 500,000 names in well under it. */
const LIST_TIMEOUT_MS = 15_000;
/** Listing threads that may be running (or stuck in a hung mount) at the same time. */
const MAX_PENDING = 4;

export interface ListOptions {
  showHidden?: boolean;
  /** Paging over the folders found (sorted by name). */
  offset?: number;
  limit?: number;
  /** For tests; LIST_TIMEOUT_MS otherwise. */
  timeoutMs?: number;
}

interface Scanned {
  folders: string[];
  imageFiles: number;
  truncated: boolean;
}
type WorkerReply = { ok: true; scanned: Scanned } | { ok: false; code: string; message: string };

// Plain CommonJS run with `eval`, so no bundler has to find a second entry file (as db/checkpointer.ts does).
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const path = require('node:path');
const { dir, showHidden, maxScanned, maxFolders, extensions, lowPriority } = workerData;
// On Linux setpriority(0) applies to the calling thread alone: the listing yields the CPU to the thread that
// answers every other call (elsewhere it would lower the whole process, so it is not done there).
if (lowPriority) { try { require('node:os').setPriority(19); } catch {} }
const images = new Set(extensions);
function run() {
  if (!fs.statSync(dir).isDirectory()) return { ok: false, code: 'ENOTDIR', message: 'not a folder' };
  const handle = fs.opendirSync(dir, { bufferSize: 256 });
  const folders = [];
  let imageFiles = 0, scanned = 0, truncated = false;
  try {
    for (let e = handle.readSync(); e !== null; e = handle.readSync()) {
      if (++scanned > maxScanned) { truncated = true; break; }
      const name = e.name;
      if (!showHidden && name.startsWith('.')) continue;
      let isDir = e.isDirectory();
      if (e.isSymbolicLink()) {
        try { isDir = fs.statSync(path.join(dir, name)).isDirectory(); } catch { continue; }
      }
      if (isDir) {
        if (folders.length < maxFolders) folders.push(name); else truncated = true;
      } else {
        const dot = name.lastIndexOf('.');
        if (dot > 0 && images.has(name.slice(dot).toLowerCase())) imageFiles++;
      }
    }
  } finally {
    handle.closeSync();
  }
  const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });
  folders.sort(collator.compare);
  return { ok: true, scanned: { folders, imageFiles, truncated } };
}
let reply;
try { reply = run(); } catch (e) { reply = { ok: false, code: e.code || 'EIO', message: String(e.message) }; }
parentPort.postMessage(reply);
`;

let pending = 0;

function scanOnThread(dir: string, showHidden: boolean, timeoutMs: number): Promise<WorkerReply> {
  if (pending >= MAX_PENDING) {
    throw new LoupeError('CONFLICT', `Still waiting for ${pending} folder listings (a slow or unreachable drive?); try again shortly`);
  }
  pending++;
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: {
      dir,
      showHidden,
      maxScanned: MAX_SCANNED,
      maxFolders: MAX_FOLDERS,
      extensions: imageExtensions(),
      lowPriority: process.platform === 'linux',
    },
    resourceLimits: { maxOldGenerationSizeMb: 256 },
  });
  // The slot frees when the thread is really gone: a thread stuck in a hung mount keeps holding it.
  worker.once('exit', () => pending--);
  return new Promise<WorkerReply>((done) => {
    const timer = setTimeout(() => {
      done({ ok: false, code: 'ETIMEDOUT', message: `no answer in ${Math.round(timeoutMs / 1000)} s (a slow or unreachable drive?)` });
      void worker.terminate();
    }, timeoutMs);
    worker.once('message', (reply: WorkerReply) => {
      clearTimeout(timer);
      done(reply);
    });
    worker.once('error', (e) => {
      clearTimeout(timer);
      done({ ok: false, code: 'EIO', message: e.message });
    });
    // The timer, not the thread, keeps the process alive while it waits: a listing stuck in a hung mount must
    // not stop `loupe serve` from exiting. After the listeners, which ref the worker again.
    worker.unref();
  });
}

export async function listDir(path: string, opts: ListOptions = {}): Promise<DirListing> {
  const dir = resolve(path);
  const reply = await scanOnThread(dir, opts.showHidden ?? false, opts.timeoutMs ?? LIST_TIMEOUT_MS);
  if (!reply.ok) {
    if (reply.code === 'ENOTDIR') throw new LoupeError('BAD_INPUT', `Not a folder: ${dir}`);
    const why = reply.code === 'ENOENT' ? 'does not exist' : reply.code === 'EACCES' ? 'permission denied' : reply.message;
    throw new LoupeError(reply.code === 'ENOENT' ? 'NOT_FOUND' : 'BAD_INPUT', `Cannot list ${dir}: ${why}`);
  }
  const { folders, imageFiles, truncated } = reply.scanned;
  const offset = opts.offset ?? 0;
  const page = folders.slice(offset, offset + (opts.limit ?? folders.length));
  const parent = dirname(dir);
  return {
    path: dir,
    parent: parent === dir ? null : parent,
    entries: page.map((name) => ({ name, path: join(dir, name), isDir: true })),
    imageFiles,
    totalFolders: folders.length,
    truncated,
  };
}
