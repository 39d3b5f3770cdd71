/**
 * Where a run's checkpoints live, runs/<id>/best (the best epoch) and runs/<id>/last (for resume), and how a
 * checkpoint folder is replaced (issue 14). The new folder is written and fsynced as `<kind>.tmp-<pid>`, renamed
 * `<kind>.ready-<pid>` once complete, then swapped in: `<kind>` → `<kind>.old-<pid>`, ready → `<kind>`. A kill
 * between any two steps leaves a complete checkpoint that readers still find (checkpointDir) and that the next
 * open puts back in place (recoverCheckpointFolders). A `.tmp-` folder may be partial and is never read.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fsyncDir, writeFileSynced } from '../project/durable-fs.ts';

export type CheckpointKind = 'best' | 'last';
const KINDS: CheckpointKind[] = ['best', 'last'];

type Stage = 'tmp' | 'ready' | 'old';

/** The steps of a folder swap, for tests that interrupt it between two of them. */
export type SwapStep = 'written' | 'ready' | 'moved-old' | 'swapped';

function hasModel(dir: string): boolean {
  return existsSync(join(dir, 'model.json'));
}

/** The `<kind>.<stage>-*` folders next to `<kind>` (one per process that wrote it). */
function staged(runDir: string, kind: string, stage: Stage): string[] {
  const prefix = `${kind}.${stage}-`;
  let names: string[];
  try {
    names = readdirSync(runDir);
  } catch {
    return [];
  }
  return names.filter((n) => n.startsWith(prefix)).map((n) => join(runDir, n));
}

/**
 * The folder holding a run's checkpoint of that kind. Mid-swap (or after a kill mid-swap) `<kind>` is briefly
 * absent; the complete folder being swapped in (or out) is used instead.
 */
export function checkpointDir(runDir: string, kind: CheckpointKind): string {
  const dir = join(runDir, kind);
  if (hasModel(dir)) return dir;
  for (const stage of ['ready', 'old'] as const) {
    const found = staged(runDir, kind, stage).find(hasModel);
    if (found) return found;
  }
  return dir;
}

export function hasCheckpoint(runDir: string, kind: CheckpointKind): boolean {
  return hasModel(checkpointDir(runDir, kind));
}

/** Replaces the folder `dir` with one holding exactly `files`, durably and without a moment with no checkpoint. */
export function replaceFolder(dir: string, files: Record<string, Buffer | string>, afterStep?: (step: SwapStep) => void): void {
  const parent = dirname(dir);
  const tag = `${basename(dir)}.%s-${process.pid}`;
  const tmp = join(parent, tag.replace('%s', 'tmp'));
  const ready = join(parent, tag.replace('%s', 'ready'));
  const old = join(parent, tag.replace('%s', 'old'));
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  for (const [name, body] of Object.entries(files)) writeFileSynced(join(tmp, name), body);
  fsyncDir(tmp);
  afterStep?.('written');
  rmSync(ready, { recursive: true, force: true });
  renameSync(tmp, ready);
  fsyncDir(parent);
  afterStep?.('ready');
  if (existsSync(dir)) {
    rmSync(old, { recursive: true, force: true });
    renameSync(dir, old);
  }
  afterStep?.('moved-old');
  renameSync(ready, dir);
  fsyncDir(parent);
  afterStep?.('swapped');
  rmSync(old, { recursive: true, force: true });
}

/**
 * Puts a run's checkpoint folders back in order after a crash: a complete `.ready-` folder (the newest checkpoint,
 * written in full before the crash) takes its kind's place, a lone `.old-` folder returns to it, and partial
 * `.tmp-` folders and superseded copies are removed. Only for runs no live process is writing (see run-lease.ts).
 * Returns what it did, for the run's warnings.
 */
export function recoverCheckpointFolders(runDir: string): string[] {
  const done: string[] = [];
  for (const kind of KINDS) {
    const dir = join(runDir, kind);
    const ready = staged(runDir, kind, 'ready').filter(hasModel);
    const old = staged(runDir, kind, 'old').filter(hasModel);
    const promote = ready[0] ?? (!hasModel(dir) ? old[0] : undefined);
    if (promote) {
      const aside = `${dir}.old-recovery`;
      rmSync(aside, { recursive: true, force: true });
      if (existsSync(dir)) renameSync(dir, aside);
      renameSync(promote, dir);
      fsyncDir(runDir);
      done.push(`Restored the ${kind} checkpoint that a crash left mid-write`);
    }
    const leftovers = (['tmp', 'ready', 'old'] as const).flatMap((s) => staged(runDir, kind, s));
    for (const l of leftovers) rmSync(l, { recursive: true, force: true });
    if (leftovers.length) fsyncDir(runDir);
  }
  return done;
}

/** Whether a run folder holds anything recoverCheckpointFolders would act on (cheap: one readdir). */
export function hasCheckpointLeftovers(runDir: string): boolean {
  return KINDS.some((k) => (['tmp', 'ready', 'old'] as const).some((s) => staged(runDir, k, s).length > 0));
}
