/**
 * One job model for all long work (import, sample generation; later training, evaluation, export):
 * `{ jobId, kind, state, done, total, message }`, progress throttled to ~10 events a second, an AbortSignal
 * end to end. A canceled job is not a failure.
 */
import { randomUUID } from 'node:crypto';
import type { Job, JobKind } from '../../../shared/contract.ts';
import { explainDiskFull } from '../project/disk-full.ts';

export type EventSink = (job: Job) => void;

export interface JobContext {
  readonly signal: AbortSignal;
  /** Reports progress; cheap to call per item (events are throttled here). */
  progress(done: number, total: number, message?: string): void;
}

export type JobBody = (ctx: JobContext) => Promise<Job['result'] | void>;

const EMIT_INTERVAL_MS = 100;
const RATE_WINDOW_MS = 3000;

export class CanceledError extends Error {
  constructor() {
    super('Canceled');
    this.name = 'CanceledError';
  }
}

export function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new CanceledError();
}

export class JobManager {
  private readonly jobs = new Map<string, { job: Job; controller: AbortController; done: Promise<Job> }>();
  private readonly sinks = new Set<EventSink>();
  private readonly now: () => number;

  constructor(opts: { now?: () => number } = {}) {
    this.now = opts.now ?? Date.now;
  }

  subscribe(sink: EventSink): () => void {
    this.sinks.add(sink);
    return () => this.sinks.delete(sink);
  }

  list(): Job[] {
    return [...this.jobs.values()].map((j) => ({ ...j.job }));
  }

  get(jobId: string): Job | undefined {
    const j = this.jobs.get(jobId);
    return j ? { ...j.job } : undefined;
  }

  /** Resolves with the job once it has ended, whatever its end state. */
  wait(jobId: string): Promise<Job> {
    const j = this.jobs.get(jobId);
    if (!j) return Promise.reject(new Error(`No job ${jobId}`));
    return j.done;
  }

  cancel(jobId: string): boolean {
    const j = this.jobs.get(jobId);
    if (!j || j.job.state !== 'running') return false;
    j.controller.abort();
    return true;
  }

  cancelAll(): void {
    for (const id of this.jobs.keys()) this.cancel(id);
  }

  start(kind: JobKind, body: JobBody, opts: { signal?: AbortSignal } = {}): Job {
    const controller = new AbortController();
    if (opts.signal) opts.signal.addEventListener('abort', () => controller.abort(), { once: true });
    const job: Job = {
      jobId: randomUUID(),
      kind,
      state: 'running',
      done: 0,
      total: 0,
      rate: 0,
      etaSeconds: null,
      message: '',
      startedAt: new Date(this.now()).toISOString(),
      endedAt: null,
    };
    let lastEmit = 0;
    const samples: { t: number; done: number }[] = [];
    const ctx: JobContext = {
      signal: controller.signal,
      progress: (done, total, message) => {
        job.done = done;
        job.total = total;
        if (message !== undefined) job.message = message;
        const t = this.now();
        samples.push({ t, done });
        while (samples.length > 2 && t - samples[0]!.t > RATE_WINDOW_MS) samples.shift();
        const first = samples[0]!;
        const dt = (t - first.t) / 1000;
        job.rate = dt > 0.2 ? (done - first.done) / dt : job.rate;
        job.etaSeconds = job.rate > 0 && total >= done ? Math.round((total - done) / job.rate) : null;
        if (t - lastEmit >= EMIT_INTERVAL_MS) {
          lastEmit = t;
          this.emit(job);
        }
      },
    };
    const done = (async (): Promise<Job> => {
      // Let the caller receive the job id before the body's first progress event.
      await Promise.resolve();
      try {
        const result = await body(ctx);
        if (result) job.result = result;
        job.state = controller.signal.aborted ? 'canceled' : 'succeeded';
      } catch (e) {
        if (controller.signal.aborted || e instanceof CanceledError) {
          job.state = 'canceled';
          job.message = job.message || 'Canceled';
        } else {
          job.state = 'failed';
          const err = explainDiskFull(e);
          job.message = (err as Error).message || String(err);
        }
      }
      job.endedAt = new Date(this.now()).toISOString();
      job.etaSeconds = null;
      this.emit(job);
      return { ...job };
    })();
    this.jobs.set(job.jobId, { job, controller, done });
    this.emit(job);
    return { ...job };
  }

  private emit(job: Job): void {
    const copy = { ...job };
    for (const s of this.sinks) {
      try {
        s(copy);
      } catch {
        // A failing listener (e.g. a closed socket) must not break the job.
      }
    }
  }
}
