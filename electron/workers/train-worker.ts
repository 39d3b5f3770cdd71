/**
 * The training process. One process per run (crash isolation: an out-of-memory or native error ends this process
 * and the run as failed, never the app). Speaks shared/worker-protocol.ts over the IPC channel of
 * child_process.fork (or Electron's utility process, which has the same API shape).
 */
import type { FromTrainer, ToTrainer } from '../../shared/worker-protocol.ts';
import { Project } from '../core/project/project.ts';
import { selectBackend } from '../core/training/backend.ts';
import { selectTrainingBackend } from '../core/training/gpu-host/select.ts';
import { runTraining } from '../core/training/trainer.ts';
import { runEvaluation } from '../core/evaluation/evaluate.ts';
import { predictionEngine } from '../core/training/predict.ts';
import { statSync } from 'node:fs';
import { LoupeError } from '../../shared/contract.ts';

const BATCH_EVENT_INTERVAL_MS = 100;

function send(msg: FromTrainer): void {
  process.send?.(msg);
}

const controller = new AbortController();
let started = false;

async function start(msg: Extract<ToTrainer, { type: 'start' }>): Promise<void> {
  const { report: backend, host } = await selectTrainingBackend({ keepHost: true });
  send({ type: 'ready', backend });
  const project = Project.open(msg.projectPath);
  let lastBatch = 0;
  try {
    const result = await runTraining(project, msg.runId, {
      mode: msg.mode,
      backend: backend.chosen.name,
      gpuHost: host,
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
        epoch: (metrics, improved, memory) => send({ type: 'epoch', runId: msg.runId, metrics, improved, memory }),
      },
    });
    send({ type: 'done', runId: msg.runId, ...result });
  } finally {
    await host?.link.close();
    project.close();
  }
}

/** Opens the project for a one-off task, with progress throttled as batches are. */
async function withProject<T>(
  projectPath: string,
  work: (project: Project, progress: (done: number, total: number, message: string) => void) => Promise<T>,
  opts: { tensorflow: boolean } = { tensorflow: true },
): Promise<T> {
  // An external model runs in onnxruntime alone: no TensorFlow backend (and its self-test) to wait for.
  if (opts.tensorflow) send({ type: 'ready', backend: await selectBackend() });
  const project = Project.open(projectPath);
  let last = 0;
  try {
    return await work(project, (done, total, message) => {
      if (done === total || Date.now() - last > BATCH_EVENT_INTERVAL_MS) {
        last = Date.now();
        send({ type: 'progress', done, total, message });
      }
    });
  } finally {
    project.close();
  }
}

async function task(msg: Exclude<ToTrainer, { type: 'start' | 'cancel' | 'doctor' }>): Promise<void> {
  const signal = controller.signal;
  switch (msg.type) {
    case 'evaluate': {
      const r = await withProject(msg.projectPath, (project, progress) => runEvaluation(project, { runId: msg.runId, split: msg.split }, { signal, progress }));
      send({ type: 'evaluated', ...r });
      return;
    }
    case 'evaluateExternal': {
      // A folder is a Loupe bundle (TF.js, needs a backend); a file is ONNX (onnxruntime alone).
      const bundle = statSync(msg.request.file, { throwIfNoEntry: false })?.isDirectory() ?? false;
      const { runExternalEvaluation } = await import('../core/evaluation/external-model.ts');
      const { runBundleEvaluation } = await import('../core/evaluation/external-bundle.ts');
      const r = await withProject(
        msg.projectPath,
        (project, progress) =>
          bundle ? runBundleEvaluation(project, msg.request, { signal, progress }) : runExternalEvaluation(project, { ...msg.request, classes: msg.request.classes ?? [] }, { signal, progress }),
        { tensorflow: bundle },
      );
      send({ type: 'evaluated', ...r });
      return;
    }
    case 'importBackbone': {
      const { importOnnxBackbone } = await import('../core/onnx-import/import-backbone.ts');
      const b = await withProject(msg.projectPath, (project, progress) => importOnnxBackbone(project, msg.request.file, { ...msg.request, signal, progress }));
      send({ type: 'imported', backbone: { name: b.name, source: b.source, imageSize: b.imageSize, channels: b.channels, description: b.description } });
      return;
    }
  }
}

process.on('message', (msg: ToTrainer) => {
  if (msg.type === 'cancel') {
    controller.abort();
    return;
  }
  if (msg.type === 'doctor') {
    selectTrainingBackend({ keepHost: false })
      .then(async ({ report }) => send({ type: 'ready', backend: { ...report, predictions: await predictionEngine() } }))
      // A forced backend that cannot be used says why, as the reply.
      .catch((e) => send({ type: 'failed', message: (e as Error).message ?? String(e), code: e instanceof LoupeError ? e.code : 'INTERNAL' }))
      .finally(() => setTimeout(() => process.exit(0), 50));
    return;
  }
  if (msg.type !== 'start' && !started) {
    started = true;
    task(msg)
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
