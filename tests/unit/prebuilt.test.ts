// Prebuilt bundles (electron/core/prebuilt.mjs): used only while every source matches its manifest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { bundleMatchesSources, execArgvWithoutTsx, manifestOf, writeSourcesManifest } from '../../electron/core/prebuilt.mjs';
import { tempDir } from '../helpers/tmp.ts';

function checkout() {
  const root = tempDir();
  mkdirSync(join(root, 'src'));
  mkdirSync(join(root, 'dist'));
  writeFileSync(join(root, 'src', 'a.ts'), 'export const a = 1;\n');
  writeFileSync(join(root, 'src', 'b.ts'), 'export const b = 2;\n');
  const bundle = join(root, 'dist', 'thread.cjs');
  writeFileSync(bundle, 'module.exports = 3;\n');
  writeSourcesManifest(bundle, ['src/b.ts', 'src/a.ts'], root);
  return { root, bundle };
}

test('a bundle matches while its sources are the ones it was built from', () => {
  const { root, bundle } = checkout();
  assert.equal(manifestOf(bundle), join(root, 'dist', 'thread.sources.json'));
  assert.equal(bundleMatchesSources(bundle, root), true);
  // Same length, same mtime granularity: only the content tells.
  writeFileSync(join(root, 'src', 'a.ts'), 'export const a = 7;\n');
  assert.equal(bundleMatchesSources(bundle, root), false);
  writeFileSync(join(root, 'src', 'a.ts'), 'export const a = 1;\n');
  assert.equal(bundleMatchesSources(bundle, root), true);
  rmSync(join(root, 'src', 'b.ts'));
  assert.equal(bundleMatchesSources(bundle, root), false, 'a source gone');
});

test('no bundle, no manifest, or a manifest that is broken or points outside the checkout: the sources run', () => {
  const a = checkout();
  rmSync(a.bundle);
  assert.equal(bundleMatchesSources(a.bundle, a.root), false, 'bundle missing');
  const b = checkout();
  rmSync(manifestOf(b.bundle));
  assert.equal(bundleMatchesSources(b.bundle, b.root), false, 'manifest missing');
  for (const body of ['{', '[]', '{"bundle":1,"sources":{}}', '{"bundle":2,"sources":{"src/a.ts":"x"}}', '{"bundle":1,"sources":{"src/a.ts":5}}']) {
    const c = checkout();
    writeFileSync(manifestOf(c.bundle), body);
    assert.equal(bundleMatchesSources(c.bundle, c.root), false, body);
  }
  // A file outside the checkout is never read, even with its right digest.
  const d = checkout();
  const outside = join(d.root, '..', `loupe-prebuilt-outside-${process.pid}.ts`);
  writeFileSync(outside, 'export {};\n');
  try {
    const right = createHash('sha256').update(readFileSync(outside)).digest('hex');
    for (const path of [`../${basename(outside)}`, outside]) {
      writeFileSync(manifestOf(d.bundle), JSON.stringify({ bundle: 1, sources: { [path]: right } }));
      assert.equal(bundleMatchesSources(d.bundle, d.root), false, path);
    }
  } finally {
    rmSync(outside, { force: true });
  }
});

test("a thread started from a bundle keeps the process's Node options but not tsx's loader", () => {
  assert.deepEqual(execArgvWithoutTsx(['--import', 'tsx', '--test']), ['--test']);
  assert.deepEqual(execArgvWithoutTsx(['--import=tsx', '--max-old-space-size=4096']), ['--max-old-space-size=4096']);
  assert.deepEqual(execArgvWithoutTsx(['--require', 'tsx/cjs', '--import', './other.js']), ['--import', './other.js']);
  assert.deepEqual(execArgvWithoutTsx(['--loader=tsx/esm', '--cpu-prof']), ['--cpu-prof']);
  assert.deepEqual(execArgvWithoutTsx(['--import', 'tsxish']), ['--import', 'tsxish']);
  assert.deepEqual(execArgvWithoutTsx([]), []);
});
