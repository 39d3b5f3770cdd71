/** The folder browser served by the browser host (Electron uses the native dialog instead). */
import { readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { LoupeError, type DirListing } from '../../../shared/contract.ts';
import { hasImageExtension } from '../import/formats.ts';

const MAX_ENTRIES = 5000;

export function listDir(path: string, showHidden: boolean): DirListing {
  const dir = resolve(path);
  let names: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new LoupeError('BAD_INPUT', `Not a folder: ${dir}`);
    names = readdirSync(dir);
  } catch (e) {
    if (e instanceof LoupeError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'permission denied' : (e as Error).message;
    throw new LoupeError(code === 'ENOENT' ? 'NOT_FOUND' : 'BAD_INPUT', `Cannot list ${dir}: ${why}`);
  }
  const entries: DirListing['entries'] = [];
  let imageFiles = 0;
  for (const name of names) {
    if (!showHidden && name.startsWith('.')) continue;
    const full = join(dir, name);
    let isDir = false;
    try {
      isDir = statSync(full).isDirectory();
    } catch {
      continue; // broken link or unreadable: not browsable
    }
    if (isDir) entries.push({ name, path: full, isDir });
    else if (hasImageExtension(name)) imageFiles++;
    if (entries.length >= MAX_ENTRIES) break;
  }
  entries.sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true, sensitivity: 'base' }));
  const parent = dirname(dir);
  return { path: dir, parent: parent === dir ? null : parent, entries, imageFiles };
}
