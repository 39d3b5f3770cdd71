/** The `loupe` CLI as a child process with the e2e session's HOME, for set-up (importing test data). */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export function loupeCli(args: string[], home: string): void {
  const r = spawnSync(process.execPath, ['bin/loupe.js', ...args], {
    cwd: ROOT,
    env: { ...process.env, HOME: home, LOUPE_CONFIG_DIR: join(home, '.config', 'loupe') },
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`loupe ${args.join(' ')} failed:\n${r.stderr}`);
}
