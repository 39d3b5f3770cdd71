/** Prints a job's progress: a bar on a TTY, one JSON line per update with --json, sparse lines otherwise. */
import type { Job } from '../../shared/contract.ts';

export interface ProgressPrinter {
  update(job: Job): void;
  end(job: Job): void;
}

function formatEta(s: number | null): string {
  if (s === null) return '--:--';
  const m = Math.floor(s / 60);
  return `${m}:${String(Math.floor(s % 60)).padStart(2, '0')}`;
}

export function progressPrinter(opts: { json: boolean; out: NodeJS.WriteStream; err: NodeJS.WriteStream }): ProgressPrinter {
  if (opts.json) {
    const line = (job: Job) =>
      opts.out.write(
        JSON.stringify({
          type: 'progress',
          jobId: job.jobId,
          kind: job.kind,
          state: job.state,
          done: job.done,
          total: job.total,
          rate: Math.round(job.rate * 10) / 10,
          etaSeconds: job.etaSeconds,
          message: job.message,
        }) + '\n',
      );
    return { update: line, end: line };
  }
  const tty = Boolean(opts.err.isTTY);
  let lastPlain = 0;
  const render = (job: Job): string => {
    const pct = job.total > 0 ? job.done / job.total : 0;
    const width = 28;
    const filled = Math.round(pct * width);
    const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
    return `${bar} ${job.done}/${job.total} ${(pct * 100).toFixed(0).padStart(3)}%  ${job.rate.toFixed(0)} img/s  ETA ${formatEta(job.etaSeconds)}  ${job.message}`;
  };
  return {
    update(job) {
      if (tty) {
        const cols = opts.err.columns ?? 100;
        opts.err.write(`\r${render(job).slice(0, cols - 1).padEnd(cols - 1)}`);
      } else if (Date.now() - lastPlain > 2000) {
        lastPlain = Date.now();
        opts.err.write(`${job.kind}: ${job.done}/${job.total} ${job.message}\n`);
      }
    },
    end(job) {
      if (tty) opts.err.write(`\r${render(job).slice(0, (opts.err.columns ?? 100) - 1)}\n`);
    },
  };
}
