/**
 * Another Loupe process with the project open, as the app or `loupe serve` would have it, for the lease tests
 * (issue 14): `tsx hold-runs.ts <project>` starts two long runs with the real training supervisor (the first
 * trains in a real training process, the second waits in this process's queue), prints their ids once the first
 * has trained an epoch, and then stays alive until it is killed.
 */
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { LoupeCore } from '../../electron/core/api/loupe-core.ts';
import type { TrainingEvent } from '../../shared/worker-protocol.ts';

const [projectDir] = process.argv.slice(2) as [string];
const core = new LoupeCore({ face: 'host', configDir: join(tmpdir(), `loupe-hold-runs-${process.pid}`) });
core.openProject(projectDir);
const config = { arch: 'lenet5', imageSize: 24, channels: 1, epochs: 1000, batchSize: 8, dropout: 0, augment: {}, earlyStopping: null, seed: 1 } as const;
const [first] = await core.dispatch('training:start', { config, name: 'held, training' });
const [second] = await core.dispatch('training:start', { config, name: 'held, queued' });
core.on((name, payload) => {
  if (name !== 'training:event') return;
  const e = payload as TrainingEvent;
  if (e.kind === 'epoch' && e.runId === first!.id && e.metrics.epoch === 0) {
    process.stdout.write(JSON.stringify({ training: first!.id, queued: second!.id, trainerPid: core.requireTrainer().pid }) + '\n');
  }
});
setInterval(() => {}, 60_000);
