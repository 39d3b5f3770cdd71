/**
 * WAL checkpoints on a worker thread. By default SQLite copies the write-ahead log back into project.db inside
 * whichever commit pushes the log past 1,000 pages, on the thread that made it: a 100k-image re-split or bulk label
 * then pays ~120 ms (and two fsyncs) for it on the thread that answers the UI, and a keystroke now and then pays for
 * the keystrokes before it. Here a second connection on its own thread checkpoints once a second (PASSIVE: it never
 * blocks the writer or a reader), and the main connection keeps a high auto-checkpoint only as a backstop. If the
 * thread cannot start or dies, the main connection goes back to SQLite's default.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Database } from './database.ts';

/** Where the worker's connection is; one Int32 shared with the worker. */
const State = { Starting: 0, Opening: 1, Open: 2, Closed: 3 } as const;

/** How long close() waits for the worker to close its connection; past it the worker is presumed stuck. */
const STOP_WAIT_MS = 5000;

/** SQLite's own default, restored when the worker is gone. */
const DEFAULT_AUTOCHECKPOINT = 1000;
/** Pages (4 KiB) the log may reach before the main connection checkpoints anyway: ~80 MB. */
const BACKSTOP_AUTOCHECKPOINT = 20_000;

// Plain CommonJS run with `eval`, so no bundler has to find a second entry file; the module path comes in workerData.
// The worker and close() agree through one shared word (see State): close() must return only when no connection but
// the caller's is open, so that the caller's close is the last one (SQLite then folds the log back and deletes
// project.db-wal and -shm) and nothing touches the folder afterwards, which a user may move or delete at once.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const state = new Int32Array(workerData.state);
// Opens only if close() has not given up on this worker first.
if (Atomics.compareExchange(state, 0, ${State.Starting}, ${State.Opening}) !== ${State.Starting}) {
  parentPort.close();
} else {
  let db = null;
  try {
    const Database = require(workerData.sqlite);
    db = new Database(workerData.file, { fileMustExist: true });
    db.pragma('busy_timeout = 0');
    db.pragma('synchronous = NORMAL');
  } catch (e) {
    if (db) db.close();
    Atomics.store(state, 0, ${State.Closed});
    Atomics.notify(state, 0);
    throw e;
  }
  Atomics.store(state, 0, ${State.Open});
  let last = '';
  const checkpoint = () => {
    try {
      const [row] = db.pragma('wal_checkpoint(PASSIVE)');
      const now = row ? row.log + '/' + row.checkpointed : '';
      if (row && row.log > 0 && now !== last) parentPort.postMessage({ kind: 'checkpointed', log: row.log, done: row.checkpointed });
      last = now;
    } catch (e) {
      // SQLITE_BUSY and friends: the next tick tries again.
    }
  };
  const timer = setInterval(checkpoint, workerData.everyMs);
  parentPort.on('message', (m) => {
    if (m === 'now') checkpoint();
    if (m === 'stop') {
      clearInterval(timer);
      db.close();
      Atomics.store(state, 0, ${State.Closed});
      Atomics.notify(state, 0);
      parentPort.close();
    }
  });
  parentPort.postMessage({ kind: 'ready' });
}
`;

export interface CheckpointEvent {
  /** Frames in the log, and how many of them are now in the database file. */
  log: number;
  done: number;
}

export class Checkpointer {
  private readonly worker: Worker;
  private readonly state = new Int32Array(new SharedArrayBuffer(4));
  private stopped = false;
  private listeners: ((e: CheckpointEvent) => void)[] = [];

  private constructor(
    private readonly db: Database,
    file: string,
    everyMs: number,
    sqlitePath: string,
  ) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file, everyMs, sqlite: sqlitePath, state: this.state.buffer } });
    this.worker.on('message', (m: { kind: string; log?: number; done?: number }) => {
      if (m.kind === 'ready' && !this.stopped && this.db.open) this.db.pragma(`wal_autocheckpoint = ${BACKSTOP_AUTOCHECKPOINT}`);
      if (m.kind === 'checkpointed') for (const l of this.listeners) l({ log: m.log!, done: m.done! });
    });
    this.worker.on('error', () => this.fallBack());
    this.worker.on('exit', () => this.fallBack());
    // Never keeps a process alive (a CLI command, a test that does not close its project). After the listeners:
    // adding a 'message' listener refs the worker again.
    this.worker.unref();
  }

  /** Starts checkpointing `file` (the database `db` has open) in the background. */
  static start(db: Database, file: string, opts: { everyMs?: number; sqlitePath?: string } = {}): Checkpointer {
    const sqlite = opts.sqlitePath ?? createRequire(import.meta.url).resolve('better-sqlite3');
    return new Checkpointer(db, file, opts.everyMs ?? 1000, sqlite);
  }

  /** Checkpoints as soon as the worker is free (tests; a caller that just wrote a lot). */
  nudge(): void {
    if (!this.stopped) this.worker.postMessage('now');
  }

  onCheckpoint(listener: (e: CheckpointEvent) => void): void {
    this.listeners.push(listener);
  }

  /**
   * Stops the worker and returns once its connection is closed (or was never opened): the main connection then
   * checkpoints by itself again, and on close it is the last connection. Blocks for the worker's close, a few ms.
   */
  stop(): void {
    if (this.stopped) return;
    this.fallBack();
    // A worker still starting is told not to open at all; one that is opening or open is asked to close, and waited for.
    const was = Atomics.compareExchange(this.state, 0, State.Starting, State.Closed);
    if (was === State.Starting || was === State.Closed) return;
    this.worker.postMessage('stop');
    const end = Date.now() + STOP_WAIT_MS;
    for (let s = Atomics.load(this.state, 0); s !== State.Closed; s = Atomics.load(this.state, 0)) {
      const left = end - Date.now();
      if (left <= 0) return;
      Atomics.wait(this.state, 0, s, left);
    }
  }

  private fallBack(): void {
    this.stopped = true;
    if (this.db.open) this.db.pragma(`wal_autocheckpoint = ${DEFAULT_AUTOCHECKPOINT}`);
  }
}
