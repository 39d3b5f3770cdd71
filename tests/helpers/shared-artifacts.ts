/**
 * Reading what Loupe writes for others as the person receiving it would: for the privacy tests that search every
 * artifact for paths, user names and patient identifiers.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export function filesUnder(path: string): string[] {
  return statSync(path).isDirectory() ? readdirSync(path).flatMap((n) => filesUnder(join(path, n))) : [path];
}

/** What someone receiving the file can read in it: text of PDFs (and their metadata), entries of zips, bytes of the rest. */
export function readable(file: string): string {
  const run = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
    assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  if (file.endsWith('.pdf')) return run('pdftotext', [file, '-']) + run('pdfinfo', [file]) + readFileSync(file, 'latin1');
  if (file.endsWith('.zip')) return run('unzip', ['-Z1', file]) + run('unzip', ['-p', file]); // -Z1: entry names only (-l prints the archive's own path)
  return readFileSync(file, 'latin1');
}
