/**
 * The folder browser served by the browser host (Electron uses the native dialog instead).
 *
 * A listing runs in a child process of its own (issue 14): a folder of a million files, or a network mount that
 * stopped answering, must not stall every other call the host answers on the main thread (a synchronous
 * listing of 200,000 files stalled them for 1–1.6 s). A process, not a worker thread: a thread stuck in a hung
 * mount's system call can never be stopped, and Node waits for it at exit, so `loupe serve` could not quit
 * (tests/faults/fs-list.test.ts); a process waiting on FUSE or NFS dies of SIGKILL. It reads directory entries
 * with their types, so it stats only symbolic links; it reads at most MAX_SCANNED names, keeps at most
 * MAX_FOLDERS folders, and the caller pages through those. A listing that does not answer in time is killed,
 * and at most MAX_PENDING may run at once, so a hung mount can tie up a few processes but never the host.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { LoupeError, type DirListing } from '../../../shared/contract.ts';
import { imageExtensions } from '../import/formats.ts';

/** Names read from one folder before the listing stops and says it is truncated. */
const MAX_SCANNED = 500_000;
/** Folders kept (sorted, then paged) from one folder. */
const MAX_FOLDERS = 50_000;
/** A listing slower than this is abandoned: a local disk lists 500,000 names in well under it. */
const LIST_TIMEOUT_MS = 15_000;
/** Listings that may be running (or stuck in a hung mount) at the same time. */
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
type ListerReply = { ok: true; scanned: Scanned } | { ok: false; code: string; message: string };

// Plain CommonJS run with `-e`, so no bundler has to find a second entry file (as db/checkpointer.ts does).
const LISTER_SOURCE = `
const fs = require('node:fs');
const path = require('node:path');
const { dir, showHidden, maxScanned, maxFolders, extensions } = JSON.parse(process.argv[1]);
// The listing yields the CPU to the process that answers every other call.
try { require('node:os').setPriority(19); } catch {}
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
process.stdout.write(JSON.stringify(reply));
`;

let pending = 0;
const running = new Set<ChildProcess>();
// A listing still stuck in a hung mount when the host exits would stay behind, stuck, after it.
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

function scanInProcess(dir: string, showHidden: boolean, timeoutMs: number): Promise<ListerReply> {
  if (pending >= MAX_PENDING) {
    throw new LoupeError('CONFLICT', `Still waiting for ${pending} folder listings (a slow or unreachable drive?); try again shortly`);
  }
  pending++;
  const args = JSON.stringify({ dir, showHidden, maxScanned: MAX_SCANNED, maxFolders: MAX_FOLDERS, extensions: imageExtensions() });
  const child = spawn(process.execPath, ['--max-old-space-size=256', '-e', LISTER_SOURCE, args], {
    // Electron's binary runs as plain Node (as the training process does).
    env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  running.add(child);
  // The slot frees when the process is really gone: one stuck in a hung mount holds it until it dies.
  child.once('exit', () => {
    pending--;
    running.delete(child);
  });
  return new Promise<ListerReply>((done) => {
    const out: Buffer[] = [];
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    const timer = setTimeout(() => {
      done({ ok: false, code: 'ETIMEDOUT', message: `no answer in ${Math.round(timeoutMs / 1000)} s (a slow or unreachable drive?)` });
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      done({ ok: false, code: 'EIO', message: e.message });
    });
    child.once('close', () => {
      clearTimeout(timer);
      try {
        done(JSON.parse(Buffer.concat(out).toString('utf8')) as ListerReply);
      } catch {
        done({ ok: false, code: 'EIO', message: 'the listing ended without an answer' });
      }
    });
    // The timer, not the process, keeps the host alive while it waits: a listing stuck in a hung mount must not
    // stop `loupe serve` from exiting.
    child.unref();
    (child.stdout as unknown as { unref(): void }).unref();
  });
}

export async function listDir(path: string, opts: ListOptions = {}): Promise<DirListing> {
  const dir = resolve(path);
  const reply = await scanInProcess(dir, opts.showHidden ?? false, opts.timeoutMs ?? LIST_TIMEOUT_MS);
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
