/** The recent-projects list, kept as JSON in the user's config folder (passed in by each face). */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ProjectInfo, RecentProject } from '../../../shared/contract.ts';
import { PROJECT_DB } from './project.ts';

const MAX_RECENT = 12;

export class RecentProjects {
  private readonly file: string;
  constructor(configDir: string) {
    this.file = join(configDir, 'recent-projects.json');
  }

  list(): RecentProject[] {
    return this.read().map((r) => ({ ...r, exists: existsSync(join(r.path, PROJECT_DB)) }));
  }

  touch(info: ProjectInfo): void {
    const rest = this.read().filter((r) => r.path !== info.path);
    const next = [{ path: info.path, name: info.name, openedAt: new Date().toISOString() }, ...rest].slice(0, MAX_RECENT);
    mkdirSync(dirname(this.file), { recursive: true });
    // Write then rename, so a crash never leaves a half-written list.
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(next, null, 2));
    renameSync(tmp, this.file);
  }

  private read(): Omit<RecentProject, 'exists'>[] {
    try {
      const data = JSON.parse(readFileSync(this.file, 'utf8')) as unknown;
      if (!Array.isArray(data)) return [];
      return data.filter(
        (r): r is Omit<RecentProject, 'exists'> =>
          typeof r === 'object' && r !== null && typeof r.path === 'string' && typeof r.name === 'string',
      );
    } catch {
      return [];
    }
  }
}
