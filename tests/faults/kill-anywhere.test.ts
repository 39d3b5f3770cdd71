// The fault suite (issue 14): kill -9 at random moments during a bulk label, a re-split and a training run. After
// each kill project.db passes PRAGMA integrity_check, no acknowledged edit is lost, nothing is half-applied, and
// the interrupted operation completes when run again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Project } from '../../electron/core/project/project.ts';
import { assignSplits } from '../../electron/core/splits/splits.ts';
import { createRuns } from '../../electron/core/training/run-service.ts';
import { getRun } from '../../electron/core/training/runs.ts';
import { recoverInterruptedRuns } from '../../electron/core/training/run-recovery.ts';
import { seedProject } from '../helpers/seed-project.ts';
import { smallProject } from '../helpers/small-project.ts';
import { assertRunAgreesWithCheckpoints, trainAndKillAfter } from '../helpers/run-invariants.ts';
import { tempDir } from '../helpers/tmp.ts';
import { KILLS, moment } from './support/scale.ts';

const LOOP = join(import.meta.dirname, 'support', 'edit-loop.ts');
const ROUNDS = KILLS;

/** Runs the edit loop, kill -9s it `ms` after its first ack, and returns the last acknowledged edit. */
async function editUntilKilled(projectDir: string, mode: 'label' | 'split', ms: number): Promise<number> {
  const child = spawn(process.execPath, ['--import', 'tsx', LOOP, projectDir, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  let timer: NodeJS.Timeout | undefined;
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    timer ??= setTimeout(() => child.kill('SIGKILL'), ms);
  });
  const [code, signal] = (await new Promise((resolve) => child.on('exit', (...a) => resolve(a)))) as [number | null, string | null];
  assert.equal(signal, 'SIGKILL', `the edit loop ended by itself (code ${code})`);
  const acks = [...out.matchAll(/^ack (\d+)$/gm)].map((m) => Number(m[1]));
  assert.ok(acks.length > 0, 'at least one edit was acknowledged');
  return acks.at(-1)!;
}

function runAgain(projectDir: string, mode: 'label' | 'split'): void {
  const r = spawnSync(process.execPath, ['--import', 'tsx', LOOP, projectDir, mode, 'once'], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
}

test('bulk labeling killed at random moments: every acknowledged edit is there, none half-applied', async () => {
  const { project } = seedProject(tempDir(), { perClass: [3000, 3000, 3000] });
  const projectDir = project.path;
  const classes = project.db.prepare('SELECT id FROM classes ORDER BY id').pluck().all() as number[];
  project.close();
  for (let round = 0; round < ROUNDS; round++) {
    const acked = await editUntilKilled(projectDir, 'label', moment(50, 1500));
    const p = Project.open(projectDir);
    try {
      assert.equal(p.db.pragma('integrity_check', { simple: true }), 'ok');
      const latest = p.db.prepare(`SELECT label FROM edits WHERE label LIKE 'bulk %' ORDER BY id DESC LIMIT 1`).pluck().get() as string;
      const committed = Number(latest.slice('bulk '.length));
      assert.ok(committed >= acked, `the acknowledged edit ${acked} is kept (latest committed: ${committed})`);
      const labels = p.db.prepare('SELECT class_id, COUNT(*) AS n FROM images GROUP BY class_id').all() as { class_id: number; n: number }[];
      assert.deepEqual(labels, [{ class_id: classes[committed % classes.length]!, n: 9000 }], 'every image carries the latest committed edit');
    } finally {
      p.close();
    }
  }
  runAgain(projectDir, 'label');
  const p = Project.open(projectDir);
  assert.deepEqual(p.db.prepare('SELECT DISTINCT class_id FROM images').pluck().all(), [classes[1000 % classes.length]]);
  p.close();
});

test('re-splitting killed at random moments: the split is the last committed one, whole', async () => {
  const { project } = seedProject(tempDir(), { perClass: [3000, 3000, 3000] });
  const projectDir = project.path;
  project.close();
  for (let round = 0; round < ROUNDS; round++) {
    const acked = await editUntilKilled(projectDir, 'split', moment(50, 2500));
    const p = Project.open(projectDir);
    try {
      assert.equal(p.db.pragma('integrity_check', { simple: true }), 'ok');
      const seed = Number(p.db.prepare(`SELECT value FROM meta WHERE key = 'split_seed'`).pluck().get());
      assert.ok(seed >= acked, `the acknowledged re-split ${acked} is kept (latest committed: ${seed})`);
      const splitOf = () => p.db.prepare('SELECT split FROM images ORDER BY id').pluck().all() as string[];
      const stored = splitOf();
      assert.ok(stored.every((s) => s !== null), 'every image has a split');
      // The same seed again gives the same split: what is stored is that re-split, whole, not a mix of two.
      assignSplits(p.db, { seed, ratios: [0.6, 0.2, 0.2] });
      assert.deepEqual(splitOf(), stored);
    } finally {
      p.close();
    }
  }
  runAgain(projectDir, 'split');
});

test('training killed at random moments: checkpoints and project.db agree after each, and the run finishes', async () => {
  const { projectDir } = await smallProject();
  let p = Project.open(projectDir);
  // Long enough that every kill lands inside training: a round trains at most 0.6 s before its kill, and an epoch of
  // this tiny run takes 30–80 ms here (at most 20 epochs a round; runs are capped at 1,000 epochs).
  const epochs = Math.min(1000, 6 + 40 * ROUNDS);
  const [run] = createRuns(p, { config: { arch: 'lenet5', imageSize: 24, channels: 1, epochs, batchSize: 8, dropout: 0, augment: {}, earlyStopping: null, seed: 4 } }, 'test');
  p.close();
  let mode: 'start' | 'resume' = 'start';
  let landed = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const { signal, result, stderr } = await trainAndKillAfter(projectDir, run!.id, mode, moment(0, 600));
    if (signal === 'SIGKILL') landed++;
    p = Project.open(projectDir);
    try {
      if (signal === 'SIGKILL') {
        recoverInterruptedRuns(p);
        assert.equal(getRun(p.db, run!.id).status, 'failed');
      } else assert.equal(result?.status, 'finished', stderr);
      assertRunAgreesWithCheckpoints(p, run!.id, `round ${round + 1}`);
    } finally {
      p.close();
    }
    mode = 'resume';
    if (signal !== 'SIGKILL') break;
  }
  process.stdout.write(`# ${landed} of ${ROUNDS} kills landed during training\n`);
  assert.ok(landed > 0, 'at least one kill landed while the run trained');
  const { result, stderr } = await trainAndKillAfter(projectDir, run!.id, 'resume', 600_000);
  assert.equal(result?.status, 'finished', stderr);
  p = Project.open(projectDir);
  assert.equal(getRun(p.db, run!.id).epochsDone, epochs);
  assertRunAgreesWithCheckpoints(p, run!.id, 'finished');
  p.close();
});
