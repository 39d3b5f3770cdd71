// One project, several processes (issue 14): while another Loupe process (as the app or `loupe serve` would)
// trains one run and has a second queued, CLI commands neither mark its runs failed nor start a second trainer on
// them; once that process is gone, even with its trainer's pid reused by an unrelated process, the runs are taken
// for interrupted.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Project } from '../../electron/core/project/project.ts';
import { getRun, runDir } from '../../electron/core/training/runs.ts';
import { createRuns } from '../../electron/core/training/run-service.ts';
import { trainInProcess } from '../helpers/run-invariants.ts';
import { smallProject } from '../helpers/small-project.ts';

const ROOT = join(import.meta.dirname, '..', '..');
let projectDir = '';
const children: ChildProcess[] = [];
/** The other process's training process: not our child, but ours to end if a failed assertion leaves it running. */
let trainerPid = 0;

before(async () => {
  ({ projectDir } = await smallProject());
});
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  try {
    if (trainerPid) process.kill(trainerPid, 'SIGKILL');
  } catch {
    // Already ended.
  }
});

function loupe(...args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'loupe.js'), ...args], { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stderr: r.stderr };
}

function statuses(ids: number[]): string[] {
  const p = Project.open(projectDir);
  try {
    return ids.map((id) => getRun(p.db, id).status);
  } finally {
    p.close();
  }
}

function lease(runId: number): { pid: number; started: string | null } {
  const p = Project.open(projectDir);
  try {
    return JSON.parse(readFileSync(join(runDir(p, runId), 'lease.json'), 'utf8')) as { pid: number; started: string | null };
  } finally {
    p.close();
  }
}

test('CLI commands leave another live process’s running and queued runs alone, and refuse to train them again', { timeout: 240_000 }, async () => {
  const holder = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'tests', 'helpers', 'hold-runs.ts'), projectDir], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(holder);
  const [line] = (await Promise.race([
    once(createInterface({ input: holder.stdout! }), 'line'),
    once(holder, 'exit').then(([code]) => Promise.reject(new Error(`the other process exited (${code}) before training`))),
  ])) as [string];
  const held = JSON.parse(line) as { training: number; queued: number; trainerPid: number };
  trainerPid = held.trainerPid;
  const ids = [held.training, held.queued];
  assert.deepEqual(statuses(ids), ['running', 'queued']);

  assert.equal(loupe('info', projectDir).status, 0);
  assert.deepEqual(statuses(ids), ['running', 'queued'], '`loupe info` did not mark the other process’s runs as failed');

  const again = loupe('train', projectDir, '--resume', String(held.training));
  assert.equal(again.status, 1);
  assert.match(again.stderr, new RegExp(`Run ${held.training} is being trained by another Loupe process \\(pid ${held.trainerPid}\\)`));
  const queued = loupe('train', projectDir, '--resume', String(held.queued));
  assert.equal(queued.status, 1);
  assert.match(queued.stderr, new RegExp(`Run ${held.queued} is queued by another Loupe process \\(pid ${holder.pid}\\)`));
  const extend = loupe('train', projectDir, '--extend', String(held.queued), '--epochs', '1');
  assert.equal(extend.status, 1, extend.stderr);
  assert.deepEqual(statuses(ids), ['running', 'queued'], 'no CLI command changed them');
  assert.equal(lease(held.training).pid, held.trainerPid, 'the training process still holds its run: no second trainer took it');

  // The other process dies with its trainer (a power cut, kill -9), and the trainer's pid is then reused by an
  // unrelated process: the lease names a live pid, but not the process that took it.
  const recorded = lease(held.training);
  holder.kill('SIGKILL');
  process.kill(held.trainerPid, 'SIGKILL');
  await once(holder, 'exit');
  const unrelated = spawn(process.execPath, ['-e', 'setInterval(() => {}, 60000)'], { stdio: 'ignore' });
  children.push(unrelated);
  const p = Project.open(projectDir);
  writeFileSync(join(runDir(p, held.training), 'lease.json'), JSON.stringify({ ...recorded, pid: unrelated.pid }));
  p.close();

  assert.equal(loupe('info', projectDir).status, 0);
  assert.deepEqual(statuses(ids), ['failed', 'failed'], 'a dead process’s runs are interrupted, whatever now has its pid');
  unrelated.kill('SIGKILL');
});

test('two `loupe train --resume` of one run at the same moment: one trains it, the other is refused', { timeout: 240_000 }, async () => {
  const p = Project.open(projectDir);
  const [run] = createRuns(p, { config: { arch: 'lenet5', imageSize: 24, channels: 1, epochs: 1000, batchSize: 8, dropout: 0, augment: {}, earlyStopping: null, seed: 1 } }, 'test');
  p.close();
  // A run with a checkpoint, interrupted: killed right after its first epoch's last/ checkpoint.
  assert.equal(trainInProcess(projectDir, run!.id, 'start', '^last$', 1).signal, 'SIGKILL');

  const resume = () => {
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'loupe.js'), 'train', projectDir, '--resume', String(run!.id)], { stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(child);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    return { child, done: once(child, 'exit').then(([code]) => ({ code: code as number | null, stderr })) };
  };
  const a = resume();
  const b = resume();
  const first = await Promise.race([a.done.then((r) => ({ ...r, loser: a, winner: b })), b.done.then((r) => ({ ...r, loser: b, winner: a }))]);
  assert.equal(first.code, 1, first.stderr);
  assert.match(first.stderr, new RegExp(`Run ${run!.id} is (queued|being trained) by another Loupe process`));
  assert.equal(first.winner.child.exitCode, null, 'the other one is still training');
  assert.ok(['queued', 'running'].includes(statuses([run!.id])[0]!), 'the refused command did not mark it failed');
  const holder = lease(run!.id).pid;
  assert.notEqual(holder, first.loser.child.pid);
  first.winner.child.kill('SIGKILL');
  try {
    process.kill(holder, 'SIGKILL');
  } catch {
    // The training process had already seen its parent go.
  }
  await first.winner.done;
});
