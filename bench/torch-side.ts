/**
 * The PyTorch side of the benches: a script of bench/ run by Debian's /usr/bin/python3 (python3-torch lives with the
 * system Python, not with a pyenv one that may come first on PATH), timed from spawn to exit like the Loupe side,
 * its JSON lines parsed.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { BENCH_DIR, runTimed, type TimedRun } from './support.ts';

export const PYTHON = process.env['PYTHON'] ?? '/usr/bin/python3';

/** Throws a message that says what to install when the Python side cannot run. */
export function torchAvailable(modules: string[] = ['torch']): void {
  const r = spawnSync(PYTHON, ['-c', `import ${modules.join(', ')}`], { encoding: 'utf8' });
  if (r.status !== 0) {
    throw new Error(
      `the PyTorch side needs ${modules.join(', ')} for ${PYTHON} (Debian: apt install python3-torch python3-torchvision python3-pil): ${(r.stderr || String(r.error ?? '')).trim().split('\n').at(-1)}`,
    );
  }
}

export function runTorch(script: string, args: string[]): Promise<TimedRun> {
  return runTimed(PYTHON, [join(BENCH_DIR, script), ...args]);
}
