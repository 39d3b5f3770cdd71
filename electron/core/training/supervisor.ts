/**
 * Runs training processes for the open project, one at a time (2 cores: two trainings would each run at half
 * speed), from a queue. Relays their messages as `training:event`s, keeps the latest live state of the running
 * run so a reloaded UI catches up, and turns a process that died into a failed, resumable run.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type {
  BackboneImportRequest,
  BackendReport,
  ExternalEvaluationRequest,
  FromTrainer,
  ToTrainer,
  TrainingEvent,
} from '../../../shared/worker-protocol.ts';
import type { LiveState } from '../../../shared/live-state.ts';
import type { Project } from '../project/project.ts';
import { LoupeError, type BackboneSummary, type ErrorCode } from '../../../shared/contract.ts';
import { endRun, getRun } from './runs.ts';
import { keepLeasesFresh, releaseRunLease, takeRunLease } from './run-lease.ts';
import { withThreadPool } from '../thread-pool.cjs';
import { launchFrom, prebuiltEntry } from '../prebuilt.mjs';

/** Starts a training process; the Electron face passes one that forks its bundled worker. */
export type SpawnTrainer = () => ChildProcess;

const SOURCE_WORKER = new URL('../../workers/train-worker-node.js', import.meta.url);

/**
 * Under plain Node, the training process of the CLI's bundle (dist/cli/train-worker.js, built with the CLI) while
 * that bundle matches the sources: it starts ~0.4 s sooner than the sources through tsx (prebuilt.mjs).
 */
function nodeWorker() {
  const cli = prebuiltEntry('cli/main.js');
  return launchFrom(cli && new URL('./train-worker.js', cli), SOURCE_WORKER);
}

export const spawnNodeTrainer: SpawnTrainer = () => {
  const worker = nodeWorker();
  return fork(fileURLToPath(worker.url), [], {
    execArgv: worker.execArgv,
    // Its dataset cache decodes on every core (thread-pool.cjs).
    env: withThreadPool(process.env),
    // Keep stdout clean for the CLI's JSON; the worker's own output goes to stderr.
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'advanced',
  });
};

interface Job {
  runId: number;
  mode: 'start' | 'resume';
}

export interface EvaluationRequest {
  runId: number;
  split: 'val' | 'test' | 'unlabeled';
  signal: AbortSignal;
  progress: (done: number, total: number, message: string) => void;
}

export interface EvaluationResult {
  evaluationId: number;
  n: number;
  notes: string[];
}

/** What a one-off task (an evaluation, a backbone import) needs from its caller: cancel and progress. */
export interface TaskControl {
  signal: AbortSignal;
  progress: (done: number, total: number, message: string) => void;
}

/** A one-off job for a training process: the message that starts it and which reply is its result. */
interface Task extends TaskControl {
  message: ToTrainer;
  result: (msg: FromTrainer) => boolean;
  resolve: (msg: FromTrainer) => void;
  reject: (e: Error) => void;
}

const LIVE_BATCHES = 500;

export class TrainingSupervisor {
  private readonly queue: Job[] = [];
  private readonly tasks: Task[] = [];
  private evaluating: { task: Task; child: ChildProcess } | null = null;
  private current: { job: Job; child: ChildProcess; ended: boolean; stopping: boolean } | null = null;
  private readonly waiters = new Map<number, ((status: string) => void)[]>();
  private live: LiveState | null = null;
  lastBackend: BackendReport | null = null;
  private stopRefreshing: (() => void) | null = null;

  constructor(
    private readonly project: Project,
    private readonly emit: (e: TrainingEvent) => void,
    private readonly spawn: SpawnTrainer = spawnNodeTrainer,
  ) {}

  get running(): number | null {
    return this.current?.job.runId ?? null;
  }

  /** The training process's pid (shown in the UI's engine panel; tests kill it to check crash handling). */
  get pid(): number | null {
    return this.current?.child.pid ?? this.evaluating?.child.pid ?? null;
  }

  get queued(): number[] {
    return this.queue.map((j) => j.runId);
  }

  liveState(runId: number): LiveState | null {
    return this.live?.runId === runId ? this.live : null;
  }

  /**
   * Queues a run, holding it for this process (run-lease.ts): CONFLICT when it is already queued or training here
   * or in another live process. `then` (e.g. setting the run back to 'queued') runs in the same transaction.
   */
  enqueue(runId: number, mode: 'start' | 'resume', then?: () => void): void {
    // A process that already reported its end may still be exiting: its run is over.
    if ((this.current?.job.runId === runId && !this.current.ended) || this.queue.some((j) => j.runId === runId)) {
      throw new LoupeError('CONFLICT', `Run ${runId} is already training`);
    }
    takeRunLease(this.project, runId, 'queued', { then });
    this.stopRefreshing ??= keepLeasesFresh(this.project, () => this.queued);
    this.queue.push({ runId, mode });
    this.pump();
  }

  /** Resolves with the run's final status once it ends. */
  waitFor(runId: number): Promise<string> {
    const status = getRun(this.project.db, runId).status;
    // A process that already reported its end may still be exiting: its run is over.
    const live = this.current?.job.runId === runId && !this.current.ended;
    if (!live && !this.queue.some((j) => j.runId === runId)) return Promise.resolve(status);
    return new Promise((resolve) => this.waiters.set(runId, [...(this.waiters.get(runId) ?? []), resolve]));
  }

  /** Stops a run: a queued one never starts; a running one stops after its current batch (best kept). */
  stop(runId: number): boolean {
    const i = this.queue.findIndex((j) => j.runId === runId);
    if (i >= 0) {
      this.queue.splice(i, 1);
      endRun(this.project.db, runId, 'stopped', null);
      releaseRunLease(this.project, runId);
      this.finish(runId, 'stopped', 'Stopped before it started');
      return true;
    }
    if (this.current?.job.runId === runId && !this.current.stopping) {
      this.current.stopping = true;
      this.current.child.send({ type: 'cancel' } satisfies ToTrainer);
      // A process that does not stop within 30 s (stuck in a native call) is ended; the run stays resumable.
      const child = this.current.child;
      setTimeout(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }, 30_000).unref();
      return true;
    }
    return false;
  }

  /** Stops everything (project closing, app quitting) and waits for the processes to end. */
  async shutdown(): Promise<void> {
    for (const t of this.tasks.splice(0)) t.reject(new Error('Canceled'));
    const ev = this.evaluating;
    if (ev) {
      const done = new Promise<void>((r) => ev.child.once('exit', () => r()));
      ev.child.send({ type: 'cancel' } satisfies ToTrainer);
      await done;
    }
    for (const j of [...this.queue]) this.stop(j.runId);
    this.stopRefreshing?.();
    this.stopRefreshing = null;
    const cur = this.current;
    if (cur) {
      const done = new Promise<void>((r) => cur.child.once('exit', () => r()));
      this.stop(cur.job.runId);
      await done;
    }
  }

  /**
   * Queues an evaluation (or predictions on unlabeled images) in a training process; resolves when stored.
   * Evaluations wait for a running training to finish: two TensorFlow processes on 2 cores only slow both.
   */
  async evaluate(req: EvaluationRequest): Promise<EvaluationResult> {
    const msg = await this.runTask({ type: 'evaluate', projectPath: this.project.path, runId: req.runId, split: req.split }, req, 'evaluated');
    return { evaluationId: msg.evaluationId, n: msg.n, notes: msg.notes };
  }

  /** Evaluates a foreign classifier on the project's images, in a training process (issue 12). */
  async evaluateExternal(request: ExternalEvaluationRequest, control: TaskControl): Promise<EvaluationResult> {
    const msg = await this.runTask({ type: 'evaluateExternal', projectPath: this.project.path, request }, control, 'evaluated');
    return { evaluationId: msg.evaluationId, n: msg.n, notes: msg.notes };
  }

  /** Converts, verifies and stores an ONNX backbone in a training process: the caller's thread stays free. */
  async importBackbone(request: BackboneImportRequest, control: TaskControl): Promise<BackboneSummary> {
    return (await this.runTask({ type: 'importBackbone', projectPath: this.project.path, request }, control, 'imported')).backbone;
  }

  private runTask<K extends FromTrainer['type']>(message: ToTrainer, control: TaskControl, resultType: K): Promise<Extract<FromTrainer, { type: K }>> {
    return new Promise((resolve, reject) => {
      const task: Task = {
        ...control,
        message,
        result: (msg) => msg.type === resultType,
        resolve: (msg) => resolve(msg as Extract<FromTrainer, { type: K }>),
        reject,
      };
      if (control.signal.aborted) {
        reject(new Error('Canceled'));
        return;
      }
      control.signal.addEventListener('abort', () => {
        const i = this.tasks.indexOf(task);
        if (i >= 0) {
          this.tasks.splice(i, 1);
          reject(new Error('Canceled'));
        } else if (this.evaluating?.task === task) this.evaluating.child.send({ type: 'cancel' } satisfies ToTrainer);
      });
      this.tasks.push(task);
      this.pump();
    });
  }

  private pumpTask(): void {
    const task = this.tasks.shift()!;
    const child = this.spawn();
    this.evaluating = { task, child };
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      fn();
    };
    child.on('message', (msg: FromTrainer) => {
      if (msg.type === 'progress') task.progress(msg.done, msg.total, msg.message);
      else if (task.result(msg)) settle(() => task.resolve(msg));
      else if (msg.type === 'failed') {
        settle(() => task.reject(task.signal.aborted ? new Error('Canceled') : new LoupeError(msg.code as ErrorCode, msg.message)));
      }
    });
    child.on('error', (e) => settle(() => task.reject(e)));
    child.on('exit', (code, signal) => {
      settle(() =>
        task.reject(task.signal.aborted ? new Error('Canceled') : new Error(`the training process ended (${signal ?? `code ${code}`}) before its work was done`)),
      );
      this.evaluating = null;
      this.pump();
    });
    child.send(task.message);
  }

  private pump(): void {
    if (this.current || this.evaluating) return;
    if (this.queue.length === 0) {
      if (this.tasks.length) this.pumpTask();
      return;
    }
    const job = this.queue.shift()!;
    const child = this.spawn();
    const cur = { job, child, ended: false, stopping: false };
    this.current = cur;
    this.live = { runId: job.runId, status: 'Starting the training process', prepare: null, batches: [] };
    this.emit({ kind: 'status', runId: job.runId, message: this.live.status });
    child.on('message', (msg: FromTrainer) => this.onMessage(job.runId, msg, cur));
    child.on('error', (e) => this.onExit(cur, `could not start the training process: ${e.message}`));
    child.on('exit', (code, signal) =>
      this.onExit(cur, signal ? `the training process was killed (${signal}${signal === 'SIGKILL' ? ', perhaps out of memory' : ''})` : `the training process exited with code ${code}`),
    );
    child.send({ type: 'start', projectPath: this.project.path, runId: job.runId, mode: job.mode } satisfies ToTrainer);
  }

  private onMessage(runId: number, msg: FromTrainer, cur: { ended: boolean }): void {
    switch (msg.type) {
      case 'ready':
        this.lastBackend = msg.backend;
        this.emit({ kind: 'status', runId, message: `Training on ${msg.backend.chosen.name}` });
        break;
      case 'status':
        if (this.live) this.live.status = msg.message;
        this.emit({ kind: 'status', runId, message: msg.message });
        break;
      case 'prepare':
        if (this.live) this.live.prepare = { done: msg.done, total: msg.total };
        this.emit({ kind: 'prepare', runId, done: msg.done, total: msg.total });
        break;
      case 'batch':
        if (this.live) {
          this.live.batches.push(msg.metrics);
          if (this.live.batches.length > LIVE_BATCHES) this.live.batches.splice(0, this.live.batches.length - LIVE_BATCHES);
        }
        this.emit({ kind: 'batch', runId, metrics: msg.metrics });
        break;
      case 'epoch':
        this.emit({ kind: 'epoch', runId, metrics: msg.metrics, improved: msg.improved, memory: msg.memory });
        break;
      case 'done':
        cur.ended = true;
        this.finish(runId, msg.status, msg.message);
        break;
    }
  }

  private onExit(cur: { job: Job; ended: boolean }, reason: string): void {
    if (this.current?.job !== cur.job) return;
    this.current = null;
    if (!cur.ended) {
      cur.ended = true;
      const message = `Training failed: ${reason}. Resume continues from the last checkpoint.`;
      try {
        endRun(this.project.db, cur.job.runId, 'failed', message);
      } catch {
        // The project may be closing.
      }
      this.finish(cur.job.runId, 'failed', message);
    }
    this.pump();
  }

  private finish(runId: number, status: 'finished' | 'stopped' | 'failed', message: string): void {
    this.emit({ kind: 'ended', runId, status, message });
    for (const w of this.waiters.get(runId) ?? []) w(status);
    this.waiters.delete(runId);
  }
}

/** Asks a fresh training process which backend it would use, and why the others were rejected. */
export function probeBackends(spawn: SpawnTrainer = spawnNodeTrainer): Promise<BackendReport> {
  return new Promise((resolve, reject) => {
    const child = spawn();
    let got = false;
    child.on('message', (msg: FromTrainer) => {
      if (msg.type === 'ready') {
        got = true;
        resolve(msg.backend);
      } else if (msg.type === 'failed') {
        got = true;
        reject(new LoupeError(msg.code as ErrorCode, msg.message));
      }
    });
    child.on('exit', (code) => {
      if (!got) reject(new Error(`the training process exited (code ${code}) before reporting a backend`));
    });
    child.send({ type: 'doctor' } satisfies ToTrainer);
  });
}
