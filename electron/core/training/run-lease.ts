/**
 * Which process holds a run (issue 14): the app, the host or a CLI command that queued it, then the training
 * process that trains it. Several processes open one project; a run held by a live process is never marked failed
 * by another, nor trained twice. The lease is runs/<id>/lease.json, taken inside an IMMEDIATE transaction on
 * project.db, which serializes takers across processes (SQLite's write lock is the project-wide mutex).
 *
 * A holder is alive when its pid is, and, where the OS tells a process's start time (Linux), when that pid is
 * still the same process: a pid reused after a crash does not keep a dead run "alive". Elsewhere (Windows, macOS)
 * the holder also refreshes its lease every LEASE_REFRESH_MS, and one not refreshed for LEASE_STALE_MS is dead.
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { LoupeError } from '../../../shared/contract.ts';
import { replaceFileDurably } from '../project/durable-fs.ts';
import type { Project } from '../project/project.ts';
import { runDir } from './runs.ts';

const LEASE_FILE = 'lease.json';
export const LEASE_REFRESH_MS = 30_000;
/** Generous against a process whose event loop a long native call holds up (a training batch, a big commit). */
export const LEASE_STALE_MS = 5 * 60_000;

export type LeaseRole = 'queued' | 'training';

export interface RunLease {
  pid: number;
  /** The process's start time as the OS counts it; null where it cannot be read. */
  started: string | null;
  role: LeaseRole;
  at: string;
}

/** A process's start time from /proc (clock ticks since boot, field 22 of /proc/<pid>/stat); null elsewhere. */
export function processStartToken(pid: number): string | null {
  if (process.platform !== 'linux') return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after its closing one.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/** Whether a process with this pid exists (a bench's lock file uses it too). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to another user.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function leaseHolderAlive(lease: RunLease, now = Date.now()): boolean {
  if (!Number.isInteger(lease.pid) || lease.pid <= 0 || !pidAlive(lease.pid)) return false;
  if (lease.started !== null) return processStartToken(lease.pid) === lease.started;
  const at = Date.parse(lease.at);
  return Number.isFinite(at) && now - at < LEASE_STALE_MS;
}

function leaseFile(project: Project, runId: number): string {
  return join(runDir(project, runId), LEASE_FILE);
}

export function readRunLease(project: Project, runId: number): RunLease | null {
  try {
    const l = JSON.parse(readFileSync(leaseFile(project, runId), 'utf8')) as RunLease;
    return typeof l.pid === 'number' ? l : null;
  } catch {
    return null;
  }
}

/** The live process holding a run, other than this one; null when none does. */
export function liveRunHolder(project: Project, runId: number): RunLease | null {
  const l = readRunLease(project, runId);
  return l && l.pid !== process.pid && leaseHolderAlive(l) ? l : null;
}

/** Writes this process's lease; for callers already inside a write transaction that made the run. */
export function writeRunLease(project: Project, runId: number, role: LeaseRole): void {
  mkdirSync(runDir(project, runId), { recursive: true });
  const lease: RunLease = { pid: process.pid, started: processStartToken(process.pid), role, at: new Date().toISOString() };
  replaceFileDurably(leaseFile(project, runId), JSON.stringify(lease));
}

/**
 * Takes a run for this process, or throws CONFLICT naming the live process that holds it. `from` is a process
 * allowed to hand the run over (the supervisor that spawned this training process). `then` runs in the same
 * transaction, so no other process sees the run's new state without its lease.
 */
export function takeRunLease<T>(project: Project, runId: number, role: LeaseRole, opts: { from?: number; then?: () => T } = {}): T | undefined {
  return project.db
    .transaction(() => {
      const holder = liveRunHolder(project, runId);
      if (holder && holder.pid !== opts.from) {
        const what = holder.role === 'training' ? 'is being trained' : 'is queued';
        throw new LoupeError('CONFLICT', `Run ${runId} ${what} by another Loupe process (pid ${holder.pid}); wait for it or stop it there`);
      }
      // First the database change (a throw there leaves no lease behind), then the lease, before the commit.
      const result = opts.then?.();
      writeRunLease(project, runId, role);
      return result;
    })
    .immediate();
}

/** Keeps this process's leases on these runs fresh until the returned function is called. */
export function keepLeasesFresh(project: Project, runIds: () => readonly number[]): () => void {
  // Only where the start time is unknown does a lease's age matter.
  if (processStartToken(process.pid) !== null) return () => {};
  const timer = setInterval(() => {
    for (const id of runIds()) {
      const l = readRunLease(project, id);
      if (l?.pid === process.pid) writeRunLease(project, id, l.role);
    }
  }, LEASE_REFRESH_MS);
  timer.unref();
  return () => clearInterval(timer);
}

/** Gives a run up, if this process still holds it. */
export function releaseRunLease(project: Project, runId: number): void {
  if (readRunLease(project, runId)?.pid === process.pid) rmSync(leaseFile(project, runId), { force: true });
}
