/**
 * electron-builder.yml checked by electron-builder's own validator (app-builder-lib's validateConfiguration,
 * which applies its scheme.json with ajv), plus the packaging facts Loupe relies on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import sharp from 'sharp';
import { mainOptions, preloadOptions } from '../../scripts/build-electron.js';

const require = createRequire(import.meta.url);
const root = join(import.meta.dirname, '..', '..');
const yaml = require('js-yaml') as { load(text: string): unknown };
const { validateConfiguration } = require('app-builder-lib/out/util/config/config.js') as {
  validateConfiguration(config: unknown, debugLogger: { isEnabled: boolean; add(k: string, v: unknown): void }): Promise<void>;
};
const quietLogger = { isEnabled: false, add: () => {} };

function loadConfig(): Record<string, any> {
  return yaml.load(readFileSync(join(root, 'electron-builder.yml'), 'utf8')) as Record<string, any>;
}

test('electron-builder.yml validates against electron-builder’s own schema', async () => {
  await validateConfiguration(loadConfig(), quietLogger);
});

test('the validator is not a rubber stamp: misspelt or mistyped options are rejected', async () => {
  const config = loadConfig();
  await assert.rejects(validateConfiguration({ ...config, linux: { ...config.linux, tagret: ['AppImage'] } }, quietLogger));
  await assert.rejects(validateConfiguration({ ...config, asarUnpakc: ['x'] }, quietLogger));
  await assert.rejects(validateConfiguration({ ...config, nsis: { oneClick: 'sometimes' } }, quietLogger));
});

test('targets, ids, icons, native modules and extra resources are what Loupe needs', async () => {
  const config = loadConfig();
  assert.equal(config.productName, 'Loupe');
  assert.match(config.appId, /^[a-z]+(\.[a-z0-9-]+)+$/);
  assert.deepEqual(config.linux.target, ['AppImage', 'deb']);
  assert.deepEqual(config.win.target, ['nsis']);
  assert.deepEqual(config.mac.target, ['dmg']);
  for (const native of ['better-sqlite3', 'sharp', '@img', 'onnxruntime-node']) {
    assert.ok(
      config.asarUnpack.some((p: string) => p.includes(`node_modules/${native}/`)),
      `${native} is unpacked from asar`,
    );
  }
  assert.ok(config.extraResources.some((r: { from: string }) => r.from === 'resources/backbones'));
  for (const platform of ['linux', 'win', 'mac']) {
    const icon = join(root, config[platform].icon);
    assert.ok(existsSync(icon), icon);
    const meta = await sharp(icon).metadata();
    assert.equal(meta.format, 'png');
    assert.ok(meta.width! >= 512 && meta.height! >= 512, `${platform} icon is at least 512x512`);
  }
});

test('package.json "main" is the file the build writes, and the package ships the built app', () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { main: string; scripts: Record<string, string> };
  assert.equal(join(root, pkg.main), mainOptions().outfile);
  assert.ok(pkg.scripts['dist']?.includes('electron-builder'));
  const files = loadConfig().files as string[];
  const relative = (p: string) => p.slice(root.length + 1).replaceAll('\\', '/');
  const shipped = (file: string) => files.some((f) => f.endsWith('/**') && file.startsWith(f.slice(0, -2)));
  assert.ok(shipped(relative(mainOptions().outfile)), 'main bundle is packaged');
  assert.ok(shipped(relative(preloadOptions([]).outfile)), 'preload bundle is packaged');
  assert.ok(shipped('dist/renderer/index.html'), 'renderer is packaged');
  assert.ok(shipped('dist/renderer/electron.html'), 'the CSP page Electron loads is packaged');
});
