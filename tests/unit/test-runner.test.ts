/**
 * scripts/test.js refuses to pass a run that tested nothing: an empty tier, a TEST_FILTER matching no file, an
 * unknown tier name. Each case runs the real script in a scratch folder laid out like the repo.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/tmp.ts';

const script = join(import.meta.dirname, '..', '..', 'scripts', 'test.js');

function runIn(cwd: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [script, ...args], { cwd, encoding: 'utf8', env: { ...process.env, TEST_FILTER: '', ...env } });
  return { status: r.status, out: r.stdout + r.stderr };
}

test('a tier with no test files fails the run', () => {
  const cwd = tempDir('loupe-runner-');
  mkdirSync(join(cwd, 'tests', 'unit'), { recursive: true });
  writeFileSync(join(cwd, 'tests', 'unit', 'README.md'), 'not a test');
  const r = runIn(cwd, ['unit']);
  assert.equal(r.status, 1, r.out);
  assert.match(r.out, /unit tier selects no test files/);
});

test('a TEST_FILTER that matches nothing fails the run', () => {
  const cwd = tempDir('loupe-runner-');
  mkdirSync(join(cwd, 'tests', 'unit'), { recursive: true });
  writeFileSync(join(cwd, 'tests', 'unit', 'a.test.ts'), '');
  const r = runIn(cwd, ['unit'], { TEST_FILTER: 'no-such-test' });
  assert.equal(r.status, 1, r.out);
  assert.match(r.out, /TEST_FILTER=no-such-test matches no test file/);
});

test('an unknown tier name is bad usage, not an empty run', () => {
  const cwd = tempDir('loupe-runner-');
  const r = runIn(cwd, ['unti']);
  assert.equal(r.status, 2, r.out);
  assert.match(r.out, /unknown tier unti/);
});
