/**
 * Runs a bench as a user would (`npm run bench:<name> -- --tiny`), its data in a folder that does not exist yet
 * (as on a fresh clone) and its result in a temp folder, then checks the facts every result must carry.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './tmp.ts';

export type BenchResult = Record<string, unknown>;

let work: string | null = null;

export function runTinyBench(name: string, args: string[] = []): BenchResult {
  work ??= tempDir('loupe-bench-test-');
  const results = join(work, 'results');
  const r = spawnSync('npm', ['run', '--silent', `bench:${name}`, '--', '--tiny', ...args], {
    cwd: join(import.meta.dirname, '..', '..'),
    encoding: 'utf8',
    env: { ...process.env, LOUPE_BENCH_RESULTS: results, LOUPE_BENCH_TMP: join(work, 'data') },
    maxBuffer: 64 * 1024 * 1024,
  });
  assert.equal(r.status, 0, `npm run bench:${name} -- --tiny failed:\n${r.stderr.slice(-4000)}\n${r.stdout.slice(-2000)}`);
  const result = JSON.parse(readFileSync(join(results, `${name}.json`), 'utf8')) as BenchResult;
  assert.equal(result['bench'], name);
  assert.equal(result['tiny'], true);
  assert.match(String(result['commit']), /^[0-9a-f]{40}$/);
  assert.ok(!Number.isNaN(Date.parse(String(result['date']))));
  for (const k of ['loadAverageAtStart', 'loadAverageAtEnd']) {
    const load = result[k] as number[];
    assert.ok(Array.isArray(load) && load.length === 3 && load.every((v) => v >= 0), `${name}: ${k}`);
  }
  assert.ok((result['machine'] as { cpus: number }).cpus > 0);
  assert.equal(typeof result['niceness'], 'number');
  return result;
}
