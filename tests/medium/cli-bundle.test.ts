/**
 * The CLI's bundle (dist/cli/, what bin/loupe.js runs after `npm ci`) runs a user's path as the sources do
 * through tsx: every path our modules build from their own location (package.json for the version, the training
 * process's entry, the report's fonts, the UI that `loupe serve` serves) still resolves, since each module keeps
 * the import.meta.url it has in the source tree. Built here into a folder of its own, inside the checkout so that
 * it finds node_modules as dist/cli does.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildCli } from '../../scripts/build-electron.js';
import { bundleMatchesSources } from '../../electron/core/prebuilt.mjs';
import { tempDir } from '../helpers/tmp.ts';

const root = join(import.meta.dirname, '..', '..');
const outdir = join(root, 'dist', 'test-cli', String(process.pid));
const runner = join(outdir, 'run.mjs');

before(async () => {
  await buildCli(outdir);
  // What bin/loupe.js does with the bundle, minus the choice.
  writeFileSync(runner, "const { main } = await import('./main.js');\nprocess.exitCode = await main(process.argv.slice(2));\n");
});
after(() => rmSync(outdir, { recursive: true, force: true }));

/** The bundle's CLI, or with `fromSource` the sources through tsx (bin/loupe.js with LOUPE_FROM_SOURCE=1). */
function loupe(args: string[], fromSource = false) {
  const r = spawnSync(process.execPath, [fromSource ? join(root, 'bin', 'loupe.js') : runner, ...args], {
    encoding: 'utf8',
    cwd: root,
    timeout: 180_000,
    env: { ...process.env, LOUPE_FROM_SOURCE: fromSource ? '1' : '' },
  });
  assert.equal(r.status, 0, `loupe ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
const lastJson = (out: string) => JSON.parse(out.trim().split('\n').at(-1)!) as Record<string, unknown>;

test('the bundle and its manifest match the sources it was built from', () => {
  assert.equal(bundleMatchesSources(join(outdir, 'main.js')), true);
  const manifest = JSON.parse(readFileSync(join(outdir, 'main.sources.json'), 'utf8')) as { sources: Record<string, string>; files: Record<string, string> };
  assert.ok(Object.keys(manifest.sources).includes('electron/cli/main.ts'));
  assert.ok(Object.keys(manifest.sources).includes('electron/workers/train-worker.ts'));
  assert.ok(Object.keys(manifest.sources).every((s) => !s.startsWith('node_modules/')), 'packages stay outside the bundle');
  const files = Object.keys(manifest.files);
  assert.ok(files.includes('main.js') && files.includes('train-worker.js'));
  assert.ok(files.length > 5, 'one chunk per lazily imported command at least');
  for (const f of files) assert.ok(existsSync(join(outdir, f)), f);
});

test('from the bundle: version, sample, import, info, train (its own process), eval, report (fonts) as from the sources', () => {
  const dir = tempDir();
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  assert.equal(loupe(['--version']).trim(), pkg.version);
  // The sample project's images, imported again into one project from each side.
  loupe(['sample', join(dir, 'sample'), '--per-class', '10', '--json']);
  const images = join(dir, 'sample', 'sample-images');
  const imported = lastJson(loupe(['import', join(dir, 'bundle'), images, '--json']));
  loupe(['import', join(dir, 'source'), images, '--json'], true);
  assert.equal((imported['report'] as { added: number }).added > 0, true);
  // Everything but the project's own name, path and creation time.
  const info = (fromSource: boolean) => {
    const { project: _project, ...rest } = JSON.parse(loupe(['info', join(dir, fromSource ? 'source' : 'bundle'), '--json'], fromSource)) as Record<string, unknown>;
    return rest;
  };
  assert.deepEqual(info(false), info(true));
  // The training process: the CLI bundle's (dist/cli/train-worker.js) or the sources' (train-worker-node.js).
  const train = ['--arch', 'lenet5', '--image-size', '16', '--channels', '1', '--epochs', '1', '--batch', '8', '--seed', '3', '--json'];
  const run = lastJson(loupe(['train', join(dir, 'bundle'), ...train]));
  assert.equal(run['status'], 'finished', String(run['error']));
  const fromSource = lastJson(loupe(['train', join(dir, 'source'), ...train], true));
  assert.equal(fromSource['status'], 'finished', String(fromSource['error']));
  assert.equal(fromSource['trainLoss'], run['trainLoss'], 'the same seed trains to the same loss either way');
  loupe(['eval', join(dir, 'bundle'), '--run', String(run['runId']), '--split', 'test', '--json']);
  const pdf = join(dir, 'report.pdf');
  loupe(['report', join(dir, 'bundle'), '--run', String(run['runId']), '--out', pdf, '--json']);
  assert.equal(readFileSync(pdf).subarray(0, 5).toString(), '%PDF-');
});

test('from the bundle, loupe serve serves the built UI', async () => {
  const child = spawn(process.execPath, [runner, 'serve', '--port', '0'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /http:\/\/127\.0\.0\.1:\d+\/\?token=\S+/.exec(out);
        if (m) resolve(m[0]);
      });
      child.on('exit', (code) => reject(new Error(`loupe serve exited (${code}): ${out}`)));
    });
    const page = await fetch(url);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<title>Loupe<\/title>/);
  } finally {
    child.kill();
  }
});
