/**
 * libuv's thread pool (electron/core/thread-pool.cjs) runs sharp's decodes, reads and hashes: the CLI and the
 * training processes it starts must have it sized for the cores, not libuv's 4, and the size must be the pool's
 * real size, which only holds when it is set before the pool's first use.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { threadPoolSize } from '../../electron/core/thread-pool.cjs';

const ROOT = join(import.meta.dirname, '..', '..');

function loupeDoctor(env: NodeJS.ProcessEnv, json: boolean): string {
  const run = spawnSync(process.execPath, ['bin/loupe.js', 'doctor', ...(json ? ['--json'] : [])], { cwd: ROOT, encoding: 'utf8', env });
  assert.equal(run.status, 0, run.stderr);
  return run.stdout;
}

function doctor(env: NodeJS.ProcessEnv): { cliThreadPool: number; threadPool: number; threads: number; chosen: { name: string } } {
  return JSON.parse(loupeDoctor(env, true)) as { cliThreadPool: number; threadPool: number; threads: number; chosen: { name: string } };
}

test('loupe doctor: the CLI and its training process have a thread pool of cores + 3, or the size the user set', () => {
  const { UV_THREADPOOL_SIZE: _, ...env } = process.env;
  const sized = doctor(env);
  assert.ok(threadPoolSize() > 4, 'more than libuv\'s default on any machine');
  assert.deepEqual([sized.cliThreadPool, sized.threadPool], [threadPoolSize(), threadPoolSize()]);
  const set = doctor({ ...env, UV_THREADPOOL_SIZE: '7' });
  assert.deepEqual([set.cliThreadPool, set.threadPool], [7, 7]);
});

test('loupe doctor says how many threads train: one per core on the wasm and cpu backends (issue 13)', (t) => {
  const report = doctor(process.env);
  // tfjs-node and the GPU use their own threads; here (no libtensorflow, no GPU) training runs on wasm.
  if (!['wasm', 'cpu'].includes(report.chosen.name)) return t.skip(`training runs on ${report.chosen.name} here`);
  const cores = availableParallelism();
  assert.equal(report.threads, cores);
  const line = loupeDoctor(process.env, false).split('\n').find((l) => l.startsWith('Training threads:'));
  assert.equal(line?.split(',')[0], cores > 1 ? `Training threads: up to ${cores}` : 'Training threads: 1');
});

/**
 * A child that sizes the pool the way bin/loupe.js does (a CommonJS entry, before anything else), blocks `busy`
 * pool threads on opening FIFOs nobody writes to, and says whether a stat, which needs one more thread, still
 * answers.
 */
const PROBE = `
const { withThreadPool } = require(${JSON.stringify(join(ROOT, 'electron/core/thread-pool.cjs'))});
process.env.UV_THREADPOOL_SIZE = withThreadPool(process.env).UV_THREADPOOL_SIZE;
const { execFileSync } = require('node:child_process');
const { open, stat } = require('node:fs/promises');
const busy = Number(process.argv[1]);
const patience = Number(process.argv[2]);
const fifos = Array.from({ length: busy }, (_, i) => require('node:path').join(require('node:os').tmpdir(), 'loupe-pool-' + process.pid + '-' + i));
for (const f of fifos) execFileSync('mkfifo', [f]);
const opens = fifos.map((f) => open(f, 'r'));
Promise.race([stat('/').then(() => 'answered'), new Promise((r) => setTimeout(() => r('waiting'), patience).unref())]).then(async (answer) => {
  console.log(answer);
  // Unblock the opens (a writer for each FIFO), then clean up.
  for (const f of fifos) execFileSync('sh', ['-c', 'exec 3>"$1"; exec 3>&-', 'sh', f]);
  for (const h of await Promise.all(opens)) await h.close();
  for (const f of fifos) require('node:fs').rmSync(f);
});
`;

/** `patience`: how long the stat may take; only a free thread can answer it at all. */
function probe(busy: number, patience: number): string {
  const { UV_THREADPOOL_SIZE: _, ...env } = process.env;
  const run = spawnSync(process.execPath, ['-e', PROBE, String(busy), String(patience)], { encoding: 'utf8', env, timeout: 60_000 });
  assert.equal(run.status, 0, run.stderr);
  return run.stdout.trim();
}

test('the thread pool sized by a CommonJS entry really runs that many tasks at once', () => {
  const size = threadPoolSize();
  assert.equal(probe(size - 1, 20_000), 'answered', 'one thread still free');
  assert.equal(probe(size, 500), 'waiting', 'every thread busy');
});
