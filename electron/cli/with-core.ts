/** Opens a project in a CLI core for one command and always shuts the core down after. */
import { resolve } from 'node:path';
import { LoupeCore } from '../core/api/loupe-core.ts';
import { defaultConfigDir } from '../core/project/config-dir.ts';

export function newCliCore(): LoupeCore {
  return new LoupeCore({ face: 'cli', configDir: defaultConfigDir() });
}

export async function withProject<T>(projectDir: string, fn: (core: LoupeCore) => Promise<T>, opts: { create?: boolean } = {}): Promise<T> {
  const core = newCliCore();
  try {
    core.openProject(resolve(projectDir), opts);
    return await fn(core);
  } finally {
    await core.shutdown();
  }
}
