/** Runs a core job from the CLI: prints progress, cancels cleanly on Ctrl-C or a closed output (committed work stays). */
import type { Job } from '../../shared/contract.ts';
import type { LoupeCore } from '../core/api/loupe-core.ts';
import { progressPrinter } from './progress.ts';
import { onStop } from './stop.ts';

export async function followJob(core: LoupeCore, jobId: string, json: boolean): Promise<Job> {
  const printer = progressPrinter({ json, out: process.stdout, err: process.stderr });
  const off = core.jobs.subscribe((job) => {
    if (job.jobId === jobId && job.state === 'running') printer.update(job);
  });
  let interrupts = 0;
  const stopWatching = onStop((why) => {
    if (why === 'interrupt' && ++interrupts > 1) process.exit(130);
    process.stderr.write(why === 'interrupt' ? '\nCanceling… (press Ctrl-C again to quit at once)\n' : '\nThe output was closed: canceling…\n');
    core.jobs.cancel(jobId);
  });
  try {
    const job = await core.jobs.wait(jobId);
    printer.end(job);
    return job;
  } finally {
    off();
    stopWatching();
  }
}

export function jobExitCode(job: Job): number {
  return job.state === 'succeeded' ? 0 : job.state === 'canceled' ? 130 : 1;
}
