/**
 * The training process. One process per run (crash isolation: an out-of-memory or native error ends this process
 * and the run as failed, never the app). Speaks shared/worker-protocol.ts over the IPC channel of
 * child_process.fork (or Electron's utility process, which has the same API shape).
 */
import type { FromTrainer, ToTrainer } from '../../shared/worker-protocol.ts';
import { Project } from '../core/project/project.ts';
import { selectBackend } from '../core/training/backend.ts';
import { runTraining } from '../core/training/trainer.ts';
import { runEvaluation } from '../core/evaluation/evaluate.ts';
import { LoupeError } from '../../shared/contract.ts';

const BATCH_EVENT_INTERVAL_MS = 100;

function send(msg: FromTrainer): void {
  process.send?.(msg);
}

const controller = new AbortController();
let started = false;

async function start(msg: Extract<ToTrainer, { type: 'start' }>): Promise<void> {
  const backend = await selectBackend();
  send({ type: 'ready', backend });
  const project = Project.open(msg.projectPath);
  let lastBatch = 0;
  try {
    const result = await runTraining(project, msg.runId, {
      mode: msg.mode,
      backend: backend.chosen.name,
      supervisorPid: process.ppid,
      signal: controller.signal,
      events: {
        status: (message) => send({ type: 'status', runId: msg.runId, message }),
        prepare: (done, total) => {
          if (done === total || Date.now() - lastBatch > BATCH_EVENT_INTERVAL_MS) {
            lastBatch = Date.now();
            send({ type: 'prepare', runId: msg.runId, done, total });
          }
        },
        batch: (metrics) => {
          // At most ~10 batch events a second reach the UI; the last batch of an epoch always does.
          if (metrics.batch === metrics.batches || Date.now() - lastBatch > BATCH_EVENT_INTERVAL_MS) {
            lastBatch = Date.now();
            send({ type: 'batch', runId: msg.runId, metrics });
          }
        },
        epoch: (metrics, improved) => send({ type: 'epoch', runId: msg.runId, metrics, improved }),
      },
    });
    send({ type: 'done', runId: msg.runId, ...result });
  } finally {
    project.close();
  }
}

async function evaluate(msg: Extract<ToTrainer, { type: 'evaluate' }>): Promise<void> {
  const backend = await selectBackend();
  send({ type: 'ready', backend });
  const project = Project.open(msg.projectPath);
  let last = 0;
  try {
    const r = await runEvaluation(project, { runId: msg.runId, split: msg.split }, {
      signal: controller.signal,
      progress: (done, total, message) => {
        if (done === total || Date.now() - last > BATCH_EVENT_INTERVAL_MS) {
          last = Date.now();
          send({ type: 'progress', done, total, message });
        }
      },
    });
    send({ type: 'evaluated', ...r });
  } finally {
    project.close();
  }
}

process.on('message', (msg: ToTrainer) => {
  if (msg.type === 'cancel') {
    controller.abort();
    return;
  }
  if (msg.type === 'doctor') {
    selectBackend()
      .then((backend) => send({ type: 'ready', backend }))
      .finally(() => setTimeout(() => process.exit(0), 50));
    return;
  }
  if (msg.type === 'evaluate' && !started) {
    started = true;
    evaluate(msg)
      .catch((e) => send({ type: 'failed', message: (e as Error).message ?? String(e), code: e instanceof LoupeError ? e.code : 'INTERNAL' }))
      .finally(() => setTimeout(() => process.exit(0), 50));
    return;
  }
  if (msg.type === 'start' && !started) {
    started = true;
    start(msg)
      .catch((e) => send({ type: 'done', runId: msg.runId, status: 'failed', message: (e as Error).message ?? String(e) }))
      .finally(() => {
        // Let the last message flush, then leave: one process per run.
        setTimeout(() => process.exit(0), 50);
      });
  }
});

// The parent going away (app closed, killed) must not leave an orphan training on the CPU.
process.on('disconnect', () => {
  controller.abort();
  setTimeout(() => process.exit(0), 2000).unref();
});
