/**
 * The Loupe side of the benches runs as a user runs it: `node bin/loupe.js <command> … --json` in its own process,
 * timed from spawn to exit, its JSON lines parsed. Nothing of the product is re-implemented here.
 */
import { join } from 'node:path';
import { REPO_DIR, runTimed, type TimedRun } from './support.ts';

export function loupe(args: string[]): Promise<TimedRun> {
  return runTimed(process.execPath, [join(REPO_DIR, 'bin', 'loupe.js'), ...args], { cwd: REPO_DIR });
}
