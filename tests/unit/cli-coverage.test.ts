import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { methods } from '../../shared/contract.ts';
import { cliCoverage } from '../../electron/cli/coverage.ts';

test('every contract method has a CLI command or a stated reason for being UI-only', () => {
  assert.deepEqual(Object.keys(cliCoverage).sort(), [...methods].sort());
});

test('every command named in the coverage table is in `loupe --help`', () => {
  const help = spawnSync(process.execPath, ['bin/loupe.js', '--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0, help.stderr);
  const commands = new Set(
    Object.values(cliCoverage)
      .filter((c): c is { command: string } => 'command' in c)
      .flatMap((c) => [...c.command.matchAll(/loupe (\w+)/g)].map((m) => m[1]!)),
  );
  for (const c of commands) {
    if (c === 'every') continue;
    assert.match(help.stdout, new RegExp(`^  ${c}\\b`, 'm'), `loupe ${c} is missing from --help`);
  }
});
