/**
 * Another process writing to project.db, for the concurrency tests (issue 14). Prints "locked" once it holds
 * SQLite's write lock for the first time.
 *   tsx hold-write-lock.ts <db> loop <ms>      for <ms>: take the write lock, write, hold it 100 ms, commit, pause 60 ms, repeat
 *   tsx hold-write-lock.ts <db> migrate <v>    take the write lock, hold it 500 ms, apply migration <v>, commit
 *   tsx hold-write-lock.ts <db> class <name>   take the write lock, create the class, hold it 500 ms, commit
 *   tsx hold-write-lock.ts <db> hold <ms>      take the write lock, write, hold it <ms>, commit
 */
import BetterSqlite3 from 'better-sqlite3';
import { migrations } from '../../electron/core/db/migrations.ts';

const [file, mode, arg] = process.argv.slice(2) as [string, 'loop' | 'migrate' | 'class' | 'hold', string];
const db = new BetterSqlite3(file);
db.pragma('busy_timeout = 5000');
const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

if (mode === 'loop') {
  const end = Date.now() + Number(arg);
  let first = true;
  while (Date.now() < end) {
    db.transaction(() => {
      db.prepare(`INSERT OR REPLACE INTO meta (key, value) VALUES ('other-process', ?)`).run(String(Date.now()));
      if (first) process.stdout.write('locked\n');
      first = false;
      sleep(100);
    }).immediate();
    sleep(60);
  }
} else if (mode === 'hold') {
  db.transaction(() => {
    db.prepare(`INSERT OR REPLACE INTO meta (key, value) VALUES ('other-process', 'holding')`).run();
    process.stdout.write('locked\n');
    sleep(Number(arg));
  }).immediate();
} else if (mode === 'class') {
  db.transaction(() => {
    db.prepare(`INSERT INTO classes (name, color, position) VALUES (?, '#4e79a7', (SELECT COALESCE(MAX(position), -1) + 1 FROM classes))`).run(arg);
    process.stdout.write('locked\n');
    sleep(500);
  }).immediate();
} else {
  const m = migrations.find((x) => x.version === Number(arg))!;
  db.transaction(() => {
    process.stdout.write('locked\n');
    sleep(500);
    m.up(db);
    db.pragma(`user_version = ${m.version}`);
  }).immediate();
}
db.close();
