/**
 * `fs:list` with a file filter (issue 12: the file picker of the backbone import and the external evaluation), on
 * real folders through the contract's validation: the files asked for are listed after the folders with their
 * sizes, others are not, paging runs over both, links are listed as what they point to, bundles are marked, and a
 * filter that is not a short list of extensions is refused before any listing starts.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LoupeCore } from '../../electron/core/api/loupe-core.ts';
import { invokeMethod } from '../../electron/core/api/wire.ts';
import { MANIFEST } from '../../electron/core/export/bundle-format.ts';
import { INCOMPLETE_MARKER } from '../../electron/core/export/out-dir.ts';
import type { DirListing } from '../../shared/contract.ts';
import { tempDir } from '../helpers/tmp.ts';

let core: LoupeCore;
let models: string;

async function list(payload: Record<string, unknown>): Promise<DirListing> {
  const reply = await invokeMethod(core, 'fs:list', payload);
  assert.ok(reply.ok, JSON.stringify(reply));
  return reply.data as DirListing;
}

const names = (l: DirListing) => l.entries.map((e) => `${e.name}${e.isDir ? '/' : ''}`);

before(() => {
  const root = tempDir('loupe-fs-files-');
  core = new LoupeCore({ face: 'host', configDir: join(root, 'config') });
  models = join(root, 'models');
  mkdirSync(models);
  writeFileSync(join(models, 'resnet18.onnx'), Buffer.alloc(1234));
  writeFileSync(join(models, 'Mobilenet.ONNX'), Buffer.alloc(10));
  writeFileSync(join(models, 'net10.onnx'), 'x');
  writeFileSync(join(models, 'net9.onnx'), 'x');
  writeFileSync(join(models, 'notes.txt'), 'x');
  writeFileSync(join(models, 'scan.png'), 'x');
  writeFileSync(join(models, 'onnx'), 'no extension, only the name');
  writeFileSync(join(models, '.hidden.onnx'), 'x');
  mkdirSync(join(models, 'archive'));
  mkdirSync(join(models, 'folder.onnx'));
  // A finished bundle, an interrupted export, and a folder with a manifest.json that is a folder.
  mkdirSync(join(models, 'exported'));
  writeFileSync(join(models, 'exported', MANIFEST), '{}');
  mkdirSync(join(models, 'half-exported'));
  writeFileSync(join(models, 'half-exported', MANIFEST), '{}');
  writeFileSync(join(models, 'half-exported', INCOMPLETE_MARKER), '');
  mkdirSync(join(models, 'odd', MANIFEST), { recursive: true });
  // Links: to a model, to a folder, to nothing, and a pipe with the extension (opening it would block).
  symlinkSync(join(models, 'resnet18.onnx'), join(models, 'linked.onnx'));
  symlinkSync(join(models, 'archive'), join(models, 'archive-link'));
  symlinkSync(join(models, 'gone.onnx'), join(models, 'broken.onnx'));
  spawnSync('mkfifo', [join(models, 'pipe.onnx')]);
});

test('without a filter only folders are listed, as before', async () => {
  const l = await list({ path: models });
  assert.deepEqual(names(l), ['archive/', 'archive-link/', 'exported/', 'folder.onnx/', 'half-exported/', 'odd/']);
  assert.equal(l.totalFiles, 0);
  assert.equal(l.imageFiles, 1);
  assert.ok(l.entries.every((e) => e.bundle === undefined && e.size === undefined), 'bundles are marked only when asked');
});

test('files with the extensions asked for follow the folders, sorted, with their sizes; others are not listed', async () => {
  const l = await list({ path: models, files: ['.onnx'] });
  assert.deepEqual(names(l), [
    'archive/',
    'archive-link/',
    'exported/',
    'folder.onnx/',
    'half-exported/',
    'odd/',
    'linked.onnx',
    'Mobilenet.ONNX',
    'net9.onnx',
    'net10.onnx',
    'resnet18.onnx',
  ]);
  assert.equal(l.totalFolders, 6);
  assert.equal(l.totalFiles, 5);
  const byName = new Map(l.entries.map((e) => [e.name, e]));
  assert.equal(byName.get('resnet18.onnx')!.size, 1234);
  assert.equal(byName.get('linked.onnx')!.size, 1234, 'a link to a file is listed as the file it points to');
  assert.equal(byName.get('resnet18.onnx')!.path, join(models, 'resnet18.onnx'));
  assert.equal(byName.get('resnet18.onnx')!.isDir, false);
  const hidden = await list({ path: models, files: ['.onnx'], showHidden: true });
  assert.ok(names(hidden).includes('.hidden.onnx'));
  const two = await list({ path: models, files: ['.txt', '.png'] });
  assert.deepEqual(names(two).filter((n) => !n.endsWith('/')), ['notes.txt', 'scan.png']);
});

test('bundle folders are marked when asked for; an interrupted export or an odd manifest is not a bundle', async () => {
  const l = await list({ path: models, files: ['.onnx'], bundles: true });
  assert.deepEqual(l.entries.filter((e) => e.bundle).map((e) => e.name), ['exported']);
  // Only the page's folders are looked into.
  const page = await list({ path: models, bundles: true, offset: 3, limit: 2 });
  assert.deepEqual(names(page), ['folder.onnx/', 'half-exported/']);
  assert.ok(page.entries.every((e) => !e.bundle));
});

test('paging runs over the folders, then the files', async () => {
  const seen: string[] = [];
  for (let offset = 0; offset < 11; offset += 4) {
    const l = await list({ path: models, files: ['.onnx'], offset, limit: 4 });
    assert.equal(l.totalFolders + l.totalFiles, 11);
    seen.push(...names(l));
  }
  assert.deepEqual(seen, names(await list({ path: models, files: ['.onnx'] })));
  const past = await list({ path: models, files: ['.onnx'], offset: 50 });
  assert.deepEqual(past.entries, []);
});

test('many matching files are listed in pages', async () => {
  const many = join(tempDir('loupe-fs-many-'), 'many');
  mkdirSync(many);
  for (let i = 0; i < 3000; i++) writeFileSync(join(many, `m${i}.onnx`), '');
  mkdirSync(join(many, 'sub'));
  const first = await list({ path: many, files: ['.onnx'], limit: 1000 });
  assert.equal(first.entries.length, 1000);
  assert.equal(first.totalFiles, 3000);
  assert.deepEqual(names(first).slice(0, 3), ['sub/', 'm0.onnx', 'm1.onnx']);
  const last = await list({ path: many, files: ['.onnx'], offset: 2500, limit: 1000 });
  assert.equal(last.entries.length, 501);
  assert.equal(last.entries.at(-1)!.name, 'm2999.onnx');
});

test('a filter that is not a short list of short extensions is refused with a validation error', async () => {
  const bad: unknown[] = [
    [],
    ['onnx'],
    ['.'],
    ['.on nx'],
    ['../x'],
    ['.a/b'],
    ['.' + 'x'.repeat(16)],
    Array.from({ length: 11 }, (_, i) => `.e${i}`),
    '.onnx',
    [42],
  ];
  for (const files of bad) {
    const reply = await invokeMethod(core, 'fs:list', { path: models, files });
    assert.equal(reply.ok ? 'ok' : reply.error.code, 'VALIDATION', JSON.stringify(files));
  }
  const notBool = await invokeMethod(core, 'fs:list', { path: models, bundles: 'yes' });
  assert.equal(notBool.ok ? 'ok' : notBool.error.code, 'VALIDATION');
});

test('a file is still not a folder to list, whatever the filter', async () => {
  const reply = await invokeMethod(core, 'fs:list', { path: join(models, 'resnet18.onnx'), files: ['.onnx'] });
  assert.equal(reply.ok ? 'ok' : reply.error.code, 'BAD_INPUT');
});
