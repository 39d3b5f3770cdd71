/** The project a launch names: the first argument that is a project.loupe file or a folder holding one. */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';

export function projectArg(argv: readonly string[]): string | null {
  for (const a of argv.slice(1)) {
    if (a.startsWith('-')) continue;
    if (a.endsWith('.loupe') && existsSync(a)) return a;
    try {
      if (statSync(a).isDirectory() && existsSync(join(a, 'project.db'))) return a;
    } catch {
      // not a path
    }
  }
  return null;
}
