// Prebuilt bundles (electron/core/prebuilt.mjs): used only while every source matches its manifest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { bundleMatchesSources, execArgvWithoutTsx, manifestOf, writePrebuilt } from '../../electron/core/prebuilt.mjs';
import { tempDir } from '../helpers/tmp.ts';

const enc = (text: string) => new TextEncoder().encode(text);

function checkout() {
  const root = tempDir();
  mkdirSync(join(root, 'src'));
  writeFileSync(join(root, 'src', 'a.ts'), 'export const a = 1;\n');
  writeFileSync(join(root, 'src', 'b.ts'), 'export const b = 2;\n');
  const bundle = join(root, 'dist', 'main.js');
  const chunk = join(root, 'dist', 'chunk-ABCD2345.js');
  writePrebuilt(bundle, [{ path: bundle, contents: enc("import('./chunk-ABCD2345.js');\n") }, { path: chunk, contents: enc('export {};\n') }, { path: `${bundle}.map`, contents: enc('{}') }], ['src/b.ts', 'src/a.ts'], root);
  return { root, bundle, chunk };
}

test('a bundle matches while its sources are the ones it was built from', () => {
  const { root, bundle } = checkout();
  assert.equal(manifestOf(bundle), join(root, 'dist', 'main.sources.json'));
  assert.equal(bundleMatchesSources(bundle, root), true);
  // Same length, same mtime granularity: only the content tells.
  writeFileSync(join(root, 'src', 'a.ts'), 'export const a = 7;\n');
  assert.equal(bundleMatchesSources(bundle, root), false);
  writeFileSync(join(root, 'src', 'a.ts'), 'export const a = 1;\n');
  assert.equal(bundleMatchesSources(bundle, root), true);
  rmSync(join(root, 'src', 'b.ts'));
  assert.equal(bundleMatchesSources(bundle, root), false, 'a source gone');
});

test('a bundle whose own files changed, were cut short or are missing does not run', () => {
  const a = checkout();
  writeFileSync(a.bundle, "import('./chunk-ABCD2345.js')");
  assert.equal(bundleMatchesSources(a.bundle, a.root), false, 'entry cut short');
  const b = checkout();
  rmSync(b.chunk);
  assert.equal(bundleMatchesSources(b.bundle, b.root), false, 'chunk missing');
  const c = checkout();
  writeFileSync(c.chunk, 'export {};\nexport const x = 1;\n');
  assert.equal(bundleMatchesSources(c.bundle, c.root), false, 'chunk changed');
  const d = checkout();
  rmSync(`${d.bundle}.map`);
  assert.equal(bundleMatchesSources(d.bundle, d.root), true, 'source maps are not needed to run');
  // Written whole: no temporary file is left beside them.
  assert.deepEqual(readdirSync(dirname(d.bundle)).filter((f) => f.includes('.tmp')), []);
});

test('no bundle, no manifest, or a manifest that is broken or points outside its folders: the sources run', () => {
  const a = checkout();
  rmSync(a.bundle);
  assert.equal(bundleMatchesSources(a.bundle, a.root), false, 'bundle missing');
  const b = checkout();
  rmSync(manifestOf(b.bundle));
  assert.equal(bundleMatchesSources(b.bundle, b.root), false, 'manifest missing');
  const good = JSON.parse(readFileSync(manifestOf(checkout().bundle), 'utf8')) as { files: Record<string, string>; sources: Record<string, string> };
  const bodies = [
    '{',
    '[]',
    'null',
    JSON.stringify({ ...good, bundle: 1 }),
    JSON.stringify({ ...good, sources: {} }),
    JSON.stringify({ ...good, files: {} }),
    JSON.stringify({ ...good, files: { 'chunk-ABCD2345.js': good.files['chunk-ABCD2345.js'] } }),
    JSON.stringify({ ...good, sources: { 'src/a.ts': 5 } }),
  ];
  for (const body of bodies) {
    const c = checkout();
    writeFileSync(manifestOf(c.bundle), body);
    assert.equal(bundleMatchesSources(c.bundle, c.root), false, body);
  }
  // A file outside the checkout is never read, even with its right digest.
  const d = checkout();
  const manifest = JSON.parse(readFileSync(manifestOf(d.bundle), 'utf8')) as Record<string, Record<string, string>>;
  const outside = join(d.root, '..', `loupe-prebuilt-outside-${process.pid}.ts`);
  writeFileSync(outside, 'export {};\n');
  try {
    const right = createHash('sha256').update(readFileSync(outside)).digest('hex');
    for (const path of [`../${basename(outside)}`, outside]) {
      writeFileSync(manifestOf(d.bundle), JSON.stringify({ ...manifest, sources: { ...manifest['sources'], [path]: right } }));
      assert.equal(bundleMatchesSources(d.bundle, d.root), false, path);
      writeFileSync(manifestOf(d.bundle), JSON.stringify({ ...manifest, files: { ...manifest['files'], [`../../${basename(outside)}`]: right } }));
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
