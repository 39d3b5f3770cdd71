/**
 * What ends a running command early: Ctrl-C, or the reader of its output going away (`loupe import … --json | head`).
 * Node turns a write to a closed pipe into an 'error' event on the stream; unhandled, the CLI crashed with a stack
 * trace in the middle of its work. A closed output now ends the command as Unix tools end on SIGPIPE, the way
 * Ctrl-C does: a running job is canceled (what it committed stays, the next run resumes it), a command without one
 * ends at once. Exit code 141 (128 + SIGPIPE), as a shell reports for `yes | head`.
 */
export type StopReason = 'interrupt' | 'output-closed';

export const OUTPUT_CLOSED_EXIT = 141;

const handlers = new Set<(why: StopReason) => void>();
let watching = false;
let closed = false;

/** Installs the closed-pipe handling on stdout and stderr (once per process). */
export function watchOutput(): void {
  if (watching) return;
  watching = true;
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') throw e;
      if (closed) return;
      closed = true;
      if (handlers.size === 0) process.exit(OUTPUT_CLOSED_EXIT);
      for (const h of handlers) h('output-closed');
    });
  }
}

/** Whether stdout or stderr lost its reader during this process. */
export function outputClosed(): boolean {
  return closed;
}

/** Calls `handler` on each Ctrl-C and once if the output closes, until the returned function is called. */
export function onStop(handler: (why: StopReason) => void): () => void {
  const onSigint = () => handler('interrupt');
  handlers.add(handler);
  process.on('SIGINT', onSigint);
  return () => {
    handlers.delete(handler);
    process.off('SIGINT', onSigint);
  };
}
