/** `loupe labels export|import`, `loupe history`: labels in and out as CSV, and one image's label history. */
import { parseArgs } from 'node:util';
import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import { resolve, relative, sep } from 'node:path';
import { LoupeError } from '../../../shared/contract.ts';
import { withProject } from '../with-core.ts';

export async function labelsCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: { out: { type: 'string' }, 'create-classes': { type: 'boolean', default: false }, json: { type: 'boolean', default: false } },
  });
  const [projectDir, file] = positionals;
  if (sub === 'export' && projectDir && values.out) {
    return withProject(projectDir, async (core) => {
      const { csv, rows } = await core.dispatch('labels:exportCsv', {});
      const out = resolve(values.out!);
      // Write then rename: an interrupted export never leaves a half file where a good one was.
      writeFileSync(`${out}.tmp`, csv);
      renameSync(`${out}.tmp`, out);
      process.stdout.write(values.json ? JSON.stringify({ rows, out }) + '\n' : `Wrote ${rows} rows to ${out}\n`);
      return 0;
    });
  }
  if (sub === 'import' && projectDir && file) {
    let csv: string;
    try {
      csv = readFileSync(resolve(file), 'utf8');
    } catch (e) {
      throw new LoupeError('BAD_INPUT', `Cannot read ${file}: ${(e as Error).message}`);
    }
    return withProject(projectDir, async (core) => {
      const r = await core.dispatch('labels:importCsv', { csv, createClasses: values['create-classes'] });
      if (values.json) process.stdout.write(JSON.stringify(r) + '\n');
      else {
        process.stdout.write(`${r.rows} rows: ${r.applied} images changed, ${r.unchanged} already so\n`);
        if (r.createdClasses.length) process.stdout.write(`Created classes: ${r.createdClasses.join(', ')}\n`);
        if (r.unknownPaths.length) {
          process.stdout.write(`${r.unknownPaths.length} paths are not in the project (skipped):\n`);
          for (const p of r.unknownPaths.slice(0, 10)) process.stdout.write(`  ? ${p}\n`);
        }
      }
      return 0;
    });
  }
  process.stderr.write(
    'Usage: loupe labels export <project> --out FILE.csv\n       loupe labels import <project> FILE.csv [--create-classes] [--json]\n',
  );
  return 2;
}

export async function historyCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { image: { type: 'string' }, json: { type: 'boolean', default: false } },
  });
  const [projectDir] = positionals;
  if (!projectDir || !values.image) {
    process.stderr.write('Usage: loupe history <project> --image <path> [--json]\n');
    return 2;
  }
  return withProject(projectDir, async (core) => {
    const db = core.requireProject().db;
    // The path may be given relative to an import root, or as a full path under one.
    const given = values.image!.replace(/\\/g, '/');
    const roots = db.prepare('SELECT id, path FROM roots').all() as { id: number; path: string }[];
    const candidates: string[] = [given];
    for (const r of roots) {
      const rel = relative(r.path, resolve(values.image!));
      if (!rel.startsWith('..')) candidates.push(rel.split(sep).join('/'));
    }
    const id = candidates
      .map((p) => db.prepare('SELECT id FROM images WHERE rel_path = ? ORDER BY id LIMIT 1').pluck().get(p) as number | undefined)
      .find((x) => x !== undefined);
    if (id === undefined) throw new LoupeError('NOT_FOUND', `No image at ${values.image} in this project`);
    const history = await core.dispatch('images:history', { id });
    if (values.json) process.stdout.write(JSON.stringify(history, null, 2) + '\n');
    else if (history.length === 0) process.stdout.write('No label changes recorded.\n');
    else {
      for (const h of history) {
        process.stdout.write(`${h.at}  ${h.user.padEnd(12)} ${h.action.padEnd(12)} ${h.oldClass ?? '(none)'} → ${h.newClass ?? '(none)'}\n`);
      }
    }
    return 0;
  });
}
