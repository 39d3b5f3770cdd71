// Runs the test tiers with Node's test runner (TypeScript through tsx): `npm test [unit|medium|e2e ...]`.
// Tiers run one after another; within a tier files run in sequence, since the machines have 2 cores.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const all = ['unit', 'medium', 'e2e'];
const tiers = process.argv.slice(2).filter((a) => all.includes(a));
const files = [];
function collect(dir) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) collect(p);
    else if (name.endsWith('.test.ts')) files.push(p);
  }
}
for (const tier of tiers.length ? tiers : all) collect(join('tests', tier));
const filter = process.env.TEST_FILTER;
const selected = filter ? files.filter((f) => f.includes(filter)) : files;
const r = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...selected],
  { stdio: 'inherit', env: { ...process.env, LOUPE_TEST: '1' } },
);
process.exit(r.status ?? 1);
