/**
 * What every bench shares, so each figure is taken the same honest way: one bench at a time on the machine (a lock
 * file), the facts a figure needs to be read (date, commit, load average at start and end, niceness), interleaved
 * rounds with the median of per-round ratios, percentiles only from enough samples, `--tiny` runs that write
 * nowhere near the real results, and the folder the bench's own data goes in.
 */
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, getPriority, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { prebuiltEntry } from '../electron/core/prebuilt.mjs';
import { pidAlive } from '../electron/core/training/run-lease.ts';

export const BENCH_DIR = import.meta.dirname;
export const REPO_DIR = join(BENCH_DIR, '..');
/**
 * Data a bench makes for itself: bench/tmp/ (gitignored), created on first use since a fresh clone has none.
 * LOUPE_BENCH_TMP moves it (the benches' test points it at a folder that does not exist yet).
 */
export const BENCH_TMP = process.env['LOUPE_BENCH_TMP'] ?? join(BENCH_DIR, 'tmp');

/** `--tiny`: a few hundred images and one round, for the test that keeps every bench from rotting. */
export const TINY = process.argv.includes('--tiny');

/** The floor for a ratio: fewer rounds than this and the median of per-round ratios means little. */
export const MIN_ROUNDS = 5;
/** A percentile from fewer samples than this is not reported as one. */
export const MIN_PERCENTILE_SAMPLES = 20;

const round2 = (v: number) => Math.round(v * 100) / 100;

/** A sub-folder of bench/tmp/, created with its parents. */
export function benchTmp(...parts: string[]): string {
  const dir = join(BENCH_TMP, ...parts);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * A folder for the files a bench's rounds write (projects, PNGs), deleted only when the process exits. On an ext4
 * file system without a journal (this machine's), a new file skips, one by one, every inode deleted in the last
 * minute (six while its inode table block is unwritten; fs/ext4/ialloc.c, recently_deleted): an import right after
 * deleting the last round's 22,000 thumbnails ran 1.4–1.6× slower. Deleting between rounds would charge that to
 * the next round's writing side only.
 */
export function roundsDir(name: string): string {
  const dir = benchTmp(`${name}-${process.pid}`);
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** n, median and max of a sample; p95 only when there are at least MIN_PERCENTILE_SAMPLES values (null otherwise). */
export function stats(xs: readonly number[]): { n: number; median: number; p95: number | null; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  const p95 = s.length >= MIN_PERCENTILE_SAMPLES ? s[Math.min(s.length - 1, Math.ceil(0.95 * s.length) - 1)]! : null;
  return { n: s.length, median: round2(median(s)), p95: p95 === null ? null : round2(p95), max: round2(s[s.length - 1] ?? Number.NaN) };
}

export const loadNow = (): number[] => loadavg().map(round2);

function gitCommit(): { commit: string; dirty: boolean } {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: REPO_DIR, encoding: 'utf8' }).trim();
    // Whether the code differs from the commit. Results written by earlier benches of the same sitting are not code:
    // counting them marked every bench after the first as dirty.
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no', '--', '.', ':(exclude)bench/results'], { cwd: REPO_DIR, encoding: 'utf8' }).trim() !== '';
    return { commit, dirty };
  } catch {
    // A copy of the sources without git (a tarball): the figure still stands, it just says so.
    return { commit: 'unknown', dirty: false };
  }
}

/** The machine, the code and how busy the machine was from `loadAtStart` (taken with loadNow) to now. */
export function runFacts(loadAtStart: number[]) {
  return {
    date: new Date().toISOString(),
    ...gitCommit(),
    tiny: TINY,
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? '', memGB: Math.round(totalmem() / 2 ** 30), node: process.version },
    // Other work running at the same time shows here and inflates every figure.
    loadAverageAtStart: loadAtStart,
    loadAverageAtEnd: loadNow(),
    // Negative when run under `nice -n -10` to get figures nearer an idle machine.
    niceness: getPriority(),
    // What `node bin/loupe.js` and the threads ran: the bundles built from these sources, or the sources through tsx
    // (electron/core/prebuilt.mjs; a bundle whose sources changed is not used).
    loupeCode: prebuiltEntry('cli/main.js') && prebuiltEntry('electron/gradient-thread.cjs') ? 'bundles of these sources' : 'sources through tsx',
  };
}

/** Machine-wide, so benches of every checkout on the machine take turns. LOUPE_BENCH_LOCK moves it (tests). */
export function lockPath(): string {
  return process.env['LOUPE_BENCH_LOCK'] ?? join(tmpdir(), 'loupe-bench.lock');
}


/**
 * Takes the bench lock for `bench`, or throws naming the bench that holds it. A lock left by a process that no
 * longer exists is taken over. Released by the returned function and, failing that, when this process exits.
 */
export function acquireBenchLock(bench: string, path = lockPath()): () => void {
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let holder: { pid?: unknown; bench?: unknown; since?: unknown } = {};
      try {
        holder = JSON.parse(readFileSync(path, 'utf8')) as typeof holder;
      } catch {
        // Being written right now, or garbage: judged by its pid below (none → stale).
      }
      const pid = typeof holder.pid === 'number' && Number.isInteger(holder.pid) && holder.pid > 0 ? holder.pid : null;
      if (pid !== null && pidAlive(pid)) {
        throw new Error(`another bench is running (${String(holder.bench)}, pid ${pid}, since ${String(holder.since)}; lock ${path}): run benches one at a time`);
      }
      try {
        unlinkSync(path);
      } catch {
        // Another starter removed it first; the next attempt settles who gets it.
      }
      continue;
    }
    writeSync(fd, JSON.stringify({ pid: process.pid, bench, since: new Date().toISOString() }));
    closeSync(fd);
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      try {
        if ((JSON.parse(readFileSync(path, 'utf8')) as { pid?: number }).pid === process.pid) unlinkSync(path);
      } catch {
        // Already gone.
      }
      process.off('exit', release);
    };
    process.on('exit', release);
    return release;
  }
  throw new Error(`could not take the bench lock ${path}`);
}

/** The result file a real (not tiny) run of bench `name` writes. */
export function resultPath(name: string): string {
  return join(BENCH_DIR, 'results', `${name}.json`);
}

/**
 * Where a bench writes its result JSON: bench/results/ for a real run; for a tiny run, LOUPE_BENCH_RESULTS or a new
 * temp folder, so a tiny run never overwrites a real figure.
 */
export function writeResult(name: string, result: object): string {
  const dir = TINY ? (process.env['LOUPE_BENCH_RESULTS'] ?? mkdtempSync(join(tmpdir(), 'loupe-bench-'))) : join(BENCH_DIR, 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  console.error(`wrote ${file}`);
  return file;
}

/**
 * A bench that measures several parts (bench:train's recipes) and was asked for some of them keeps the others'
 * figures from its last real result, each with the facts (date, commit, load) of the run that measured it, so
 * `--recipe resnet` does not erase the LeNet figure. `file` is the result a real run writes (a tiny run keeps nothing).
 */
export function keptParts(file: string, key: string, rerun: readonly string[]): Record<string, unknown> {
  let previous: Record<string, unknown>;
  try {
    previous = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    return {};
  }
  const parts = (previous[key] ?? {}) as Record<string, Record<string, unknown>>;
  // A part kept from an earlier run on another host must say so: the file's machine is this run's.
  const { date, commit, dirty, machine, loadAverageAtStart, loadAverageAtEnd, niceness } = previous;
  const kept: Record<string, unknown> = {};
  for (const [part, figures] of Object.entries(parts)) {
    if (!rerun.includes(part)) kept[part] = { measuredBy: { date, commit, dirty, ...(machine === undefined ? {} : { machine }), loadAverageAtStart, loadAverageAtEnd, niceness }, ...figures };
  }
  return kept;
}

/**
 * Runs `rounds` rounds of every side, alternating the order (A B, B A, …) so neither side always gets the quieter
 * or the warmer moment; returns each side's per-round values in round order.
 */
export async function interleave<K extends string, T>(rounds: number, sides: Record<K, (round: number) => Promise<T>>): Promise<Record<K, T[]>> {
  const keys = Object.keys(sides) as K[];
  const out = Object.fromEntries(keys.map((k) => [k, [] as T[]])) as Record<K, T[]>;
  for (let r = 0; r < rounds; r++) {
    for (const k of r % 2 === 0 ? keys : [...keys].reverse()) out[k][r] = await sides[k](r);
  }
  return out;
}

/** Per-round ratios of two rates and their median: the figure the goals are stated in. */
export function ratioOf(numerator: readonly number[], denominator: readonly number[]): { perRound: number[]; median: number; rounds: number; enoughRounds: boolean } {
  const perRound = numerator.map((v, i) => Math.round((v / denominator[i]!) * 1000) / 1000);
  return { perRound, median: Math.round(median(perRound) * 1000) / 1000, rounds: perRound.length, enoughRounds: perRound.length >= MIN_ROUNDS };
}

/**
 * Takes the lock, runs the bench and reports its failure plainly. Tiny runs take it too: they would spoil a real
 * run's figures as much as any other load.
 */
export async function runBench(name: string, main: (loadAtStart: number[]) => Promise<void>): Promise<void> {
  const release = acquireBenchLock(name);
  const loadAtStart = loadNow();
  try {
    await main(loadAtStart);
  } catch (e) {
    // An uncaught error in a wasm-backed process would be rethrown by the module's handler with its minified source.
    console.error(e instanceof Error ? (e.stack ?? e.message) : e);
    process.exitCode = 1;
  } finally {
    release();
  }
}

export interface TimedRun {
  /** From spawn to exit: the whole command, as a user waits for it. */
  wallSeconds: number;
  stdout: string;
  stderr: string;
  /** Every stdout line that parsed as a JSON object, in order (a pretty-printed object is in stdout whole). */
  lines: Record<string, unknown>[];
}

/** Runs a command to its end, timed; rejects with the tail of its output when it fails. */
export function runTimed(command: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<TimedRun> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(command, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const wallSeconds = (performance.now() - t0) / 1000;
      if (code !== 0) {
        reject(new Error(`${args.slice(0, 3).join(' ')} exited with ${code}:\n${stderr.slice(-3000)}${stdout.slice(-1000)}`));
        return;
      }
      const lines: Record<string, unknown>[] = [];
      for (const line of stdout.split('\n')) {
        if (!line.startsWith('{')) continue;
        try {
          lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          // The first line of a pretty-printed object.
        }
      }
      resolve({ wallSeconds, stdout, stderr, lines });
    });
  });
}
