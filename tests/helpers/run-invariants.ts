/**
 * What must hold for a run after any crash once the project is opened again (issue 14): exactly best/ and last/
 * (or neither, before the first epoch; or best/ alone, killed between the first epoch's two checkpoints), each with
 * its epoch's metrics, and project.db agreeing with them.
 * Also the training process the durability tests kill: train-until-killed.ts, spawned for real.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Project } from '../../electron/core/project/project.ts';
import { readCheckpointMetrics } from '../../electron/core/training/checkpoint.ts';
import { getRun, runDir, runEpochs } from '../../electron/core/training/runs.ts';

const TRAINER = join(import.meta.dirname, 'train-until-killed.ts');

function trainerArgs(projectDir: string, runId: number, mode: 'start' | 'resume', pattern: string, nth: number): string[] {
  return ['--import', 'tsx', TRAINER, projectDir, String(runId), mode, pattern, String(nth)];
}

export interface TrainOutcome {
  signal: NodeJS.Signals | null;
  result: { status: string; message: string } | null;
  stderr: string;
}

/** Trains a run in a real training process that kill -9s itself after the n-th rename onto a matching name. */
export function trainInProcess(projectDir: string, runId: number, mode: 'start' | 'resume', pattern = '^never$', nth = 1): TrainOutcome {
  const r = spawnSync(process.execPath, trainerArgs(projectDir, runId, mode, pattern, nth), { encoding: 'utf8', timeout: 180_000 });
  return { signal: r.signal, result: r.stdout.trim() ? (JSON.parse(r.stdout.trim()) as TrainOutcome['result']) : null, stderr: r.stderr };
}

/** The line train-until-killed.ts writes to stderr just before it starts training. */
export const TRAINING_STARTED = '# training started';

/**
 * Trains a run in a real training process and kill -9s it `ms` after training started (unless it ended before).
 * Timed from the start of training, not of the process: start-up (loading tfjs and wasm) takes 1–3 s, depending on
 * the machine's load, and a kill timed from the spawn often landed before training or after its end.
 */
export async function trainAndKillAfter(projectDir: string, runId: number, mode: 'start' | 'resume', ms: number): Promise<TrainOutcome> {
  const child = spawn(process.execPath, trainerArgs(projectDir, runId, mode, '^never$', 1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let timer: NodeJS.Timeout | undefined;
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    if (!timer && stderr.includes(TRAINING_STARTED)) timer = setTimeout(() => child.kill('SIGKILL'), ms);
  });
  const [, signal] = (await new Promise((resolve) => child.on('exit', (...a) => resolve(a)))) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  return { signal, result: stdout.trim() ? (JSON.parse(stdout.trim()) as TrainOutcome['result']) : null, stderr };
}

export function assertRunAgreesWithCheckpoints(project: Project, runId: number, label: string): void {
  const dir = runDir(project, runId);
  const folders = readdirSync(dir).filter((n) => n.startsWith('best') || n.startsWith('last')).sort();
  const run = getRun(project.db, runId);
  assert.equal(project.db.pragma('integrity_check', { simple: true }), 'ok', label);
  if (folders.length === 0) {
    assert.equal(run.bestEpoch, null, `${label}: no checkpoint, no best epoch`);
    return;
  }
  if (folders.length === 1 && folders[0] === 'best') {
    // Killed between the first epoch's best/ and its last/: one epoch ahead of nothing, so resume starts over
    // (trainer.ts resumePoint). The only moment best/ may stand alone.
    assert.equal(readCheckpointMetrics(dir, 'best')?.epoch, 0, `${label}: best/ alone holds the first epoch`);
    assert.equal(run.bestEpoch, 0, `${label}: the database's best epoch is the one whose weights are in best/`);
    assert.equal(run.epochsDone, 1, `${label}: epochs done match the checkpoint`);
    return;
  }
  assert.deepEqual(folders, ['best', 'last'], `${label}: only best/ and last/ are left`);
  const best = readCheckpointMetrics(dir, 'best');
  const last = readCheckpointMetrics(dir, 'last');
  assert.ok(best && last, `${label}: both checkpoints carry their epoch`);
  assert.equal(run.bestEpoch, best.epoch, `${label}: the database's best epoch is the one whose weights are in best/`);
  assert.equal(run.bestValLoss, best.valLoss, label);
  // best/ may be one epoch ahead of last/ (killed between the two): resume replays that epoch from last/.
  assert.equal(run.epochsDone, Math.max(best.epoch, last.epoch) + 1, `${label}: epochs done match the checkpoints`);
  assert.ok(best.epoch - last.epoch <= 1, label);
  assert.deepEqual(runEpochs(project.db, runId).map((e) => e.epoch), Array.from({ length: run.epochsDone }, (_, i) => i), `${label}: every epoch is recorded`);
}
