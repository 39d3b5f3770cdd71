// WAL checkpoints on a worker thread, on a real project.db: the log is copied back without the main connection
// doing it, and when the worker is gone the main connection checkpoints by itself again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Checkpointer, type CheckpointEvent } from '../../electron/core/db/checkpointer.ts';
import { LoupeCore } from '../../electron/core/api/loupe-core.ts';
import { Project } from '../../electron/core/project/project.ts';
import { seedProject } from '../helpers/seed-project.ts';
import { tempDir } from '../helpers/tmp.ts';

const autocheckpoint = (db: { pragma: (s: string, o: { simple: true }) => unknown }) => db.pragma('wal_autocheckpoint', { simple: true });

/** A seeded project opened as the desktop app and the browser host open theirs. */
function withCheckpointer(dir: string, perClass: number[]): Project {
  seedProject(dir, { perClass }).project.close();
  return Project.open(join(dir, 'project'), { backgroundCheckpoints: true });
}

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a project checkpoints its WAL on a worker thread; the main connection only keeps a backstop', async () => {
  const dir = tempDir();
  // Enough rows that one UPDATE of their split passes the 1,000 pages at which SQLite would copy the log back itself.
  const project = withCheckpointer(dir, [12_000, 12_000]);
  const events: CheckpointEvent[] = [];
  project.checkpointer!.onCheckpoint((e) => events.push(e));
  await until(() => autocheckpoint(project.db) === 20_000);
  // A write of thousands of pages: with SQLite's default the commit itself would copy them back.
  const before = events.length;
  project.db.prepare(`UPDATE images SET split = CASE WHEN id % 3 = 0 THEN 'val' ELSE 'train' END`).run();
  project.checkpointer!.nudge();
  await until(() => events.slice(before).some((e) => e.log > 0 && e.done === e.log));
  // Nothing is left for the main connection to copy: the log holds no frame beyond what is in project.db.
  const [left] = project.db.pragma('wal_checkpoint(PASSIVE)') as { log: number; checkpointed: number }[];
  assert.equal(left!.checkpointed, left!.log);
  assert.ok(events.at(-1)!.log > 1000, `the write took ${events.at(-1)!.log} pages`);
  project.close();
});

test('without its worker thread the main connection checkpoints by itself', async () => {
  const dir = tempDir();
  const project = withCheckpointer(dir, [10]);
  project.checkpointer!.stop();
  assert.equal(autocheckpoint(project.db), 1000);
  // A worker that cannot load SQLite: the connection keeps SQLite's default.
  const broken = Checkpointer.start(project.db, join(dir, 'project', 'project.db'), { sqlitePath: join(dir, 'no-such-module.js') });
  // The worker never holds a process open (unref); hold it here while waiting for it to fail.
  broken['worker'].ref();
  await new Promise((done) => broken['worker'].on('exit', done));
  assert.equal(autocheckpoint(project.db), 1000);
  project.close();
});

test('close() returns only when the worker has let go: the log is folded back and nothing touches the folder after', async () => {
  const dir = tempDir();
  // Closed while the worker is still starting, while it opens, and once it runs: a worker that outlived close()
  // kept project.db-wal and -shm open, and one that opened late recreated them in a folder being deleted (a CI flake).
  for (const waitMs of [0, 0, 1, 3, 10, 30, 100, 300]) {
    const folder = join(dir, `p${waitMs}-${Math.random().toString(36).slice(2)}`);
    const project = Project.create(folder, undefined, { backgroundCheckpoints: true });
    if (waitMs) await new Promise((r) => setTimeout(r, waitMs));
    project.close();
    const files = () => readdirSync(folder).filter((f) => f.startsWith('project.db')).sort();
    assert.deepEqual(files(), ['project.db'], `closed after ${waitMs} ms: ours was the last connection`);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(files(), ['project.db'], `closed after ${waitMs} ms: no connection opened afterwards`);
  }
});

test('the training process and CLI commands open their project without a checkpoint thread; the UI faces with one', async () => {
  const dir = tempDir();
  seedProject(dir, { perClass: [3] }).project.close();
  const inWorker = Project.open(join(dir, 'project'));
  assert.equal(inWorker.checkpointer, null);
  assert.equal(autocheckpoint(inWorker.db), 1000, "SQLite's own checkpoints");
  inWorker.close();
  for (const face of ['cli', 'host'] as const) {
    const core = new LoupeCore({ face, configDir: join(dir, `config-${face}`) });
    core.openProject(join(dir, 'project'));
    assert.equal(core.requireProject().checkpointer !== null, face === 'host', face);
    await core.shutdown();
  }
});

test('a process that leaves its project open still exits by itself (the worker never holds it)', () => {
  const dir = tempDir();
  const project = fileURLToPath(new URL('../../electron/core/project/project.ts', import.meta.url));
  const script = join(dir, 'leave-open.mts');
  writeFileSync(
    script,
    `import { Project } from ${JSON.stringify(project)};
     const p = Project.create(${JSON.stringify(join(dir, 'p'))}, undefined, { backgroundCheckpoints: true });
     p.db.prepare("INSERT INTO meta (key, value) VALUES ('x', '1')").run();
     setTimeout(() => console.log('done'), 300);\n`,
  );
  const r = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.signal, null, 'exited by itself, not killed after 30 s');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'done');
});
