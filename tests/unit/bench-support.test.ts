/** bench/support.ts: the rules every bench figure is taken by (one bench at a time, interleaved rounds, percentiles). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { acquireBenchLock, interleave, keptParts, ratioOf, stats } from '../../bench/support.ts';
import { tempDir } from '../helpers/tmp.ts';

test('a bench refuses to start while a live process holds the lock, and releases it when done', () => {
  const lock = join(tempDir(), 'bench.lock');
  // Held by this test's parent (alive as long as the test runs).
  writeFileSync(lock, JSON.stringify({ pid: process.ppid, bench: 'grid', since: '2026-01-01T00:00:00Z' }));
  assert.throws(() => acquireBenchLock('train', lock), /another bench is running \(grid, pid \d+/);
  assert.equal(JSON.parse(readFileSync(lock, 'utf8')).bench, 'grid', 'the holder keeps its lock');

  writeFileSync(lock, '');
  // An empty (or unreadable) lock names no live process: taken over.
  const release = acquireBenchLock('train', lock);
  assert.equal(JSON.parse(readFileSync(lock, 'utf8')).pid, process.pid);
  assert.throws(() => acquireBenchLock('import', lock), /another bench is running \(train/);
  release();
  assert.equal(existsSync(lock), false);
});

test("the lock of a process that has ended is taken over", () => {
  const lock = join(tempDir(), 'bench.lock');
  const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  writeFileSync(lock, JSON.stringify({ pid: Number(gone.stdout), bench: 'infer', since: '2026-01-01T00:00:00Z' }));
  const release = acquireBenchLock('train', lock);
  assert.equal(JSON.parse(readFileSync(lock, 'utf8')).bench, 'train');
  release();
});

test('rounds alternate the order of the sides (A B, B A, …) and keep each side in round order', async () => {
  const order: string[] = [];
  const out = await interleave(4, {
    a: async (r) => (order.push(`a${r}`), r * 10),
    b: async (r) => (order.push(`b${r}`), r),
  });
  assert.deepEqual(order, ['a0', 'b0', 'b1', 'a1', 'a2', 'b2', 'b3', 'a3']);
  assert.deepEqual(out, { a: [0, 10, 20, 30], b: [0, 1, 2, 3] });
});

test('the ratio is the median of per-round ratios, not the ratio of medians, and says when rounds are too few', () => {
  // Per round: 2, 0.5, 1, 4, 1 → median 1; medians of each side would give 3 / 2 = 1.5.
  const r = ratioOf([2, 1, 3, 4, 5], [1, 2, 3, 1, 5]);
  assert.deepEqual(r.perRound, [2, 0.5, 1, 4, 1]);
  assert.equal(r.median, 1);
  assert.equal(r.enoughRounds, true);
  assert.equal(ratioOf([1, 2], [1, 1]).enoughRounds, false);
});

test('a p95 comes only from 20 samples or more', () => {
  assert.equal(stats(Array.from({ length: 19 }, (_, i) => i)).p95, null);
  const s = stats(Array.from({ length: 20 }, (_, i) => i + 1));
  assert.equal(s.p95, 19);
  assert.equal(s.median, 10.5);
  assert.equal(s.max, 20);
});

test('a bench run for some parts keeps the others from the last result, each with the facts of the run that measured it', () => {
  const file = join(tempDir(), 'train.json');
  assert.deepEqual(keptParts(file, 'recipes', ['resnet']), {}, 'no earlier result: nothing to keep');
  // The machine too: a part kept from a run on another host must say which.
  const facts = { date: '2026-12-01T10:00:00Z', commit: 'aaa', dirty: false, machine: { cpus: 2, cpu: 'AMD EPYC' }, loadAverageAtStart: [0.1, 0.2, 0.3], loadAverageAtEnd: [1, 1, 1], niceness: 0 };
  writeFileSync(file, JSON.stringify({ ...facts, recipes: { lenet: { ratio: 0.9 }, resnet: { ratio: 0.2 }, older: { ratio: 0.5, measuredBy: { commit: 'zzz' } } } }));
  const kept = keptParts(file, 'recipes', ['resnet']);
  assert.deepEqual(Object.keys(kept).sort(), ['lenet', 'older'], 'the part run again is not kept');
  assert.deepEqual(kept['lenet'], { measuredBy: facts, ratio: 0.9 });
  assert.deepEqual((kept['older'] as { measuredBy: unknown }).measuredBy, { commit: 'zzz' }, 'a part kept twice keeps its own facts');
  // A result from before machines were recorded: its parts are kept without one.
  const { machine: _, ...older } = facts;
  writeFileSync(file, JSON.stringify({ ...older, recipes: { lenet: { ratio: 0.9 } } }));
  assert.deepEqual(keptParts(file, 'recipes', [])['lenet'], { measuredBy: older, ratio: 0.9 });
  writeFileSync(file, '{ not json');
  assert.deepEqual(keptParts(file, 'recipes', []), {});
});

test("the rounds' folder outlives every round and is gone when the bench process exits", () => {
  const tmp = tempDir();
  // A child bench: writes a round's file, reports the folder, exits (as a bench does after its last round).
  const child = spawnSync(
    process.execPath,
    ['--import', 'tsx', '-e', "const { roundsDir } = await import('./bench/support.ts'); const fs = await import('node:fs'); const d = roundsDir('t'); fs.writeFileSync(d + '/round-1', 'x'); console.log(d, fs.existsSync(d + '/round-1'));"],
    { encoding: 'utf8', env: { ...process.env, LOUPE_BENCH_TMP: tmp } },
  );
  assert.equal(child.status, 0, child.stderr);
  const [dir, existed] = child.stdout.trim().split(' ');
  assert.equal(existed, 'true', 'the round wrote into it while the bench ran');
  assert.ok(dir!.startsWith(tmp), dir);
  assert.equal(existsSync(dir!), false, 'deleted once the process ended');
});
