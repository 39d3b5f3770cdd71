/**
 * The folder and file browser served by the browser host (Electron uses the native dialogs instead). Files are
 * listed only when asked for by extension (issue 12: an `.onnx` model), after the folders, with the same caps.
 *
 * A listing runs in a child process of its own (issue 14): a folder of a million files, or a network mount that
 * stopped answering, must not stall every other call the host answers on the main thread (a synchronous
 * listing of 200,000 files stalled them for 1–1.6 s). A process, not a worker thread: a thread stuck in a hung
 * mount's system call can never be stopped, and Node waits for it at exit, so `loupe serve` could not quit
 * (tests/faults/fs-list.test.ts); a process waiting on FUSE or NFS dies of SIGKILL. It reads directory entries
 * with their types, so it stats only symbolic links and the page it returns; it reads at most MAX_SCANNED names
 * and keeps at most MAX_FOLDERS folders and MAX_FILES files, which the caller pages through. A listing that does
 * not answer in time is killed, and at most MAX_PENDING may run at once, so a hung mount can tie up a few
 * processes but never the host.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { LoupeError, type DirListing } from '../../../shared/contract.ts';
import { imageExtensions } from '../import/formats.ts';
import { MANIFEST } from '../export/bundle-format.ts';
import { INCOMPLETE_MARKER } from '../export/out-dir.ts';

/** Names read from one folder before the listing stops and says it is truncated. */
const MAX_SCANNED = 500_000;
/** Folders kept (sorted, then paged) from one folder. */
const MAX_FOLDERS = 50_000;
/** Files of the extensions asked for kept (sorted after the folders, then paged) from one folder. */
const MAX_FILES = 50_000;
/** A listing slower than this is abandoned: a local disk lists 500,000 names in well under it. */
const LIST_TIMEOUT_MS = 15_000;
/** Listings that may be running (or stuck in a hung mount) at the same time. */
const MAX_PENDING = 4;

export interface ListOptions {
  showHidden?: boolean;
  /** Also list the files with these extensions (lower case, with the dot), after the folders. */
  files?: readonly string[];
  /** Mark the folders that are Loupe model bundles (one more stat for each folder on the page). */
  bundles?: boolean;
  /** Paging over the entries found (folders by name, then files by name). */
  offset?: number;
  limit?: number;
  /** For tests; LIST_TIMEOUT_MS otherwise. */
  timeoutMs?: number;
}

interface Scanned {
  entries: { name: string; isDir: boolean; size?: number; bundle?: boolean }[];
  totalFolders: number;
  totalFiles: number;
  imageFiles: number;
  truncated: boolean;
}
type ListerReply = { ok: true; scanned: Scanned } | { ok: false; code: string; message: string };

// Plain CommonJS run with `-e`, so no bundler has to find a second entry file (as db/checkpointer.ts does).
// It pages too: only the page's files are stat'ed (for their size) and only the page's folders are looked into
// (for a bundle's manifest), so a folder of 50,000 matches costs names, not 50,000 more system calls.
const LISTER_SOURCE = `
const fs = require('node:fs');
const path = require('node:path');
const { dir, showHidden, maxScanned, maxFolders, maxFiles, extensions, wanted, offset, limit, bundleMarker, incompleteMarker } = JSON.parse(process.argv[1]);
// The listing yields the CPU to the process that answers every other call.
try { require('node:os').setPriority(19); } catch {}
const images = new Set(extensions);
const wantedFiles = new Set(wanted);
function extOf(name) {
  const dot = name.lastIndexOf('.');
  return dot > 0 ? name.slice(dot).toLowerCase() : '';
}
function isBundle(folder) {
  try { return fs.statSync(path.join(folder, bundleMarker)).isFile() && !fs.existsSync(path.join(folder, incompleteMarker)); } catch { return false; }
}
function run() {
  if (!fs.statSync(dir).isDirectory()) return { ok: false, code: 'ENOTDIR', message: 'not a folder' };
  const handle = fs.opendirSync(dir, { bufferSize: 256 });
  const folders = [];
  const files = [];
  let imageFiles = 0, scanned = 0, truncated = false;
  try {
    for (let e = handle.readSync(); e !== null; e = handle.readSync()) {
      if (++scanned > maxScanned) { truncated = true; break; }
      const name = e.name;
      if (!showHidden && name.startsWith('.')) continue;
      let isDir = e.isDirectory();
      let isFile = e.isFile();
      // A link is listed as what it points to (a broken one not at all), as a folder always was.
      if (e.isSymbolicLink()) {
        try { const st = fs.statSync(path.join(dir, name)); isDir = st.isDirectory(); isFile = st.isFile(); } catch { continue; }
      }
      if (isDir) {
        if (folders.length < maxFolders) folders.push(name); else truncated = true;
        continue;
      }
      const ext = extOf(name);
      if (images.has(ext)) imageFiles++;
      // Regular files only: a pipe or a device named x.onnx would hang whoever opened it.
      if (isFile && wantedFiles.has(ext)) {
        if (files.length < maxFiles) files.push(name); else truncated = true;
      }
    }
  } finally {
    handle.closeSync();
  }
  const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });
  folders.sort(collator.compare);
  files.sort(collator.compare);
  const all = folders.length + files.length;
  const entries = [];
  for (let i = offset; i < Math.min(all, offset + limit); i++) {
    if (i < folders.length) {
      const entry = { name: folders[i], isDir: true };
      if (bundleMarker && isBundle(path.join(dir, folders[i]))) entry.bundle = true;
      entries.push(entry);
    } else {
      const name = files[i - folders.length];
      const entry = { name, isDir: false };
      try { entry.size = fs.statSync(path.join(dir, name)).size; } catch {}
      entries.push(entry);
    }
  }
  return { ok: true, scanned: { entries, totalFolders: folders.length, totalFiles: files.length, imageFiles, truncated } };
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

function scanInProcess(dir: string, opts: ListOptions): Promise<ListerReply> {
  if (pending >= MAX_PENDING) {
    throw new LoupeError('CONFLICT', `Still waiting for ${pending} folder listings (a slow or unreachable drive?); try again shortly`);
  }
  const timeoutMs = opts.timeoutMs ?? LIST_TIMEOUT_MS;
  pending++;
  const args = JSON.stringify({
    dir,
    showHidden: opts.showHidden ?? false,
    maxScanned: MAX_SCANNED,
    maxFolders: MAX_FOLDERS,
    maxFiles: MAX_FILES,
    extensions: imageExtensions(),
    wanted: (opts.files ?? []).map((e) => e.toLowerCase()),
    offset: opts.offset ?? 0,
    limit: opts.limit ?? MAX_FOLDERS + MAX_FILES,
    bundleMarker: opts.bundles ? MANIFEST : null,
    incompleteMarker: INCOMPLETE_MARKER,
  });
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
  const reply = await scanInProcess(dir, opts);
  if (!reply.ok) {
    if (reply.code === 'ENOTDIR') throw new LoupeError('BAD_INPUT', `Not a folder: ${dir}`);
    const why = reply.code === 'ENOENT' ? 'does not exist' : reply.code === 'EACCES' ? 'permission denied' : reply.message;
    throw new LoupeError(reply.code === 'ENOENT' ? 'NOT_FOUND' : 'BAD_INPUT', `Cannot list ${dir}: ${why}`);
  }
  const { entries, ...counts } = reply.scanned;
  const parent = dirname(dir);
  return {
    path: dir,
    parent: parent === dir ? null : parent,
    entries: entries.map((e) => ({ ...e, path: join(dir, e.name) })),
    ...counts,
  };
}
