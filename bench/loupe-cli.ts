/**
 * The Loupe side of the benches runs as a user runs it: `node bin/loupe.js <command> … --json` in its own process,
 * timed from spawn to exit, its JSON lines parsed. Nothing of the product is re-implemented here.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO_DIR } from './support.ts';

export interface CliRun {
  wallSeconds: number;
  /** Every stdout line that parsed as JSON, in order. */
  lines: Record<string, unknown>[];
  stdout: string;
  stderr: string;
}

export function loupe(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [join(REPO_DIR, 'bin', 'loupe.js'), ...args], { cwd: REPO_DIR, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const wallSeconds = (performance.now() - t0) / 1000;
      if (code !== 0) {
        reject(new Error(`loupe ${args.slice(0, 2).join(' ')} exited with ${code}:\n${err.slice(-2000)}${out.slice(-2000)}`));
        return;
      }
      const lines: Record<string, unknown>[] = [];
      for (const line of out.split('\n')) {
        if (!line.startsWith('{')) continue;
        try {
          lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          // Part of a pretty-printed object: callers that want one parse stdout whole.
        }
      }
      resolve({ wallSeconds, lines, stdout: out, stderr: err });
    });
  });
}
